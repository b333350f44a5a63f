"""Create, read, list and delete sync configurations under a bucket.

CONTRACT.md D1, D2 (the record), D3 (time), D5 (field rules), D9 (scoping), D10 (identifiers),
D11 (create and its defaults), D12 (list) and D13 (delete).
"""

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import Api

Record = dict[str, Any]

# The 26 fields of the seed's response schema.
SEED_FIELDS = {
    "sync_config_id",
    "bucket_id",
    "connection_id",
    "internal_id",
    "namespace_id",
    "source_path",
    "file_filters",
    "sync_mode",
    "polling_interval_seconds",
    "batch_size",
    "create_object_on_confirm",
    "skip_duplicates",
    "status",
    "is_active",
    "total_files_discovered",
    "total_files_synced",
    "total_files_failed",
    "total_bytes_synced",
    "created_at",
    "updated_at",
    "last_sync_at",
    "next_sync_at",
    "created_by_user_id",
    "last_error",
    "consecutive_failures",
    "metadata",
}
# What clients of the newer API read, and every field create or PATCH accepts (D2, D5).
NEWER_FIELDS = {
    "locked",
    "description",
    "paused",
    "paused_at",
    "pause_reason",
    "paused_by_user_id",
    "locked_by_worker_id",
    "locked_at",
    "lock_expires_at",
    "pending_full_sync",
    "sync_run_counter",
    "source_type",
    "schema_mapping",
    "skip_batch_submission",
    "batch_collection_ids",
    "ingest_filter",
    "max_objects_per_run",
    "sync_concurrency",
    "reconcile",
    "provider_filters",
    "sync_from",
}
assert len(SEED_FIELDS) == 26

# A new sync with nothing but a connection and a path: every field's value (D11) or JSON type.
DEFAULTS: Record = {
    "source_path": "media/in",
    "source_type": "s3",
    "description": None,
    "file_filters": None,
    "sync_mode": "continuous",
    "polling_interval_seconds": 300,
    "batch_size": 50,
    "create_object_on_confirm": True,
    "skip_duplicates": True,
    "skip_batch_submission": False,
    "schema_mapping": None,
    "batch_collection_ids": None,
    "ingest_filter": None,
    "reconcile": None,
    "provider_filters": None,
    "max_objects_per_run": None,
    "sync_concurrency": None,
    "sync_from": None,
    "status": "PENDING",
    "is_active": True,
    "paused": False,
    "paused_at": None,
    "pause_reason": None,
    "paused_by_user_id": None,
    "locked": False,
    "locked_by_worker_id": None,
    "locked_at": None,
    "lock_expires_at": None,
    "pending_full_sync": False,
    "sync_run_counter": 0,
    "total_files_discovered": 0,
    "total_files_synced": 0,
    "total_files_failed": 0,
    "total_bytes_synced": 0,
    "last_sync_at": None,
    "last_error": None,
    "consecutive_failures": 0,
    "metadata": {},
}
ID_PREFIXES = {
    "sync_config_id": "sync_",
    "bucket_id": "bkt_",
    "connection_id": "conn_",
    "internal_id": "int_",
    "namespace_id": "ns_",
    "created_by_user_id": "usr_",
}
URL_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")

FILE_FILTERS: Record = {
    "include_patterns": ["*.mp4", "videos/*.mov"],
    "exclude_patterns": ["*/drafts/*"],
    "min_size_bytes": 1024,
    "max_size_bytes": 10_000_000,
    "modified_after": "2026-01-01T00:00:00Z",
    "modified_before": "2026-06-30T12:30:00Z",
    "mime_types": ["video/mp4"],
    "metadata_filters": [{"field": "camera", "operator": "equals", "value": "A"}],
}

# Every optional field a create accepts, each set to a value other than its default.
FULL_CREATE: Record = {
    "sync_mode": "initial_only",
    "description": "Daily video ingestion from the production bucket",
    "file_filters": FILE_FILTERS,
    "polling_interval_seconds": 600,
    "batch_size": 25,
    "create_object_on_confirm": False,
    "skip_duplicates": False,
    "skip_batch_submission": True,
    "metadata": {"environment": "production", "owner": "data-team"},
    "schema_mapping": {
        "mappings": {
            "content": {"target_type": "blob", "source": {"type": "file"}, "blob_type": "video"}
        }
    },
    "batch_collection_ids": ["col_faces"],
    "ingest_filter": {
        "retriever_id": "ret_brand_safety",
        "retriever_version": 1,
        "action": "tag",
        "on_error": "drop",
        "timeout_seconds": 30,
    },
    "reconcile": {
        "on_delete": False,
        "on_update": False,
        "on_filter_drift": True,
        "re_extract_on_update": True,
        "re_extract_fields": None,
    },
    "provider_filters": {"collection_ids": ["c1"]},
    "max_objects_per_run": 1000,
    "sync_concurrency": 8,
    "sync_from": "2026-02-01T00:00:00Z",
}


# --- helpers -------------------------------------------------------------------------------


def syncs_path(bucket: Record | str) -> str:
    identifier = bucket if isinstance(bucket, str) else bucket["bucket_id"]
    return f"/v1/buckets/{identifier}/syncs"


def create(api: Api, bucket: Record | str, connection: Record, **fields: Any) -> Any:
    body = {"connection_id": connection["connection_id"], "source_path": "media/in", **fields}
    return api.post(syncs_path(bucket), json=body)


def list_ids(api: Api, bucket: Record | str, **kwargs: Any) -> list[str]:
    body = api.ok("POST", f"{syncs_path(bucket)}/list", **kwargs)
    return [record["sync_config_id"] for record in body["results"]]


def json_type(value: Any) -> str:
    """The JSON type of a decoded value (a bool is not a number here)."""
    for python_type, name in ((bool, "boolean"), (int, "integer"), (float, "number")):
        if type(value) is python_type:
            return name
    names = {str: "string", dict: "object", list: "array", type(None): "null"}
    return names[type(value)]


def parse_time(value: str) -> datetime:
    assert RFC3339_UTC.match(value), f"not RFC 3339 UTC with Z: {value!r}"
    return datetime.fromisoformat(value)


def not_found_body(response: Any, identifier: str) -> Record:
    """A 404's body with the identifier it names blanked, to compare two 404s."""
    assert response.status_code == 404, response.text
    body: Record = response.json()
    assert body["success"] is False
    assert body["status"] == 404
    assert body["error"]["type"] == "NotFoundError"
    body["error"]["message"] = body["error"]["message"].replace(identifier, "<id>")
    return body


def assert_validation_error(response: Any, *location: str) -> None:
    """A D6 422 envelope whose one problem sits at ``location``."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["success"] is False
    assert body["status"] == 422
    assert body["error"]["type"] == "ValidationError"
    problems = body["error"]["details"]["validation_errors"]
    assert [problem["location"] for problem in problems] == [list(location)], problems


@pytest.fixture
def bucket(api: Api) -> Record:
    return api.make_bucket("videos")


@pytest.fixture
def connection(api: Api) -> Record:
    return api.make_connection("minio")


# --- create --------------------------------------------------------------------------------


def test_create_answers_200_with_every_field_of_the_record(
    api: Api, bucket: Record, connection: Record
) -> None:
    response = create(api, bucket, connection)

    assert response.status_code == 200, response.text
    record = response.json()
    assert record.keys() >= SEED_FIELDS | NEWER_FIELDS


def test_a_new_sync_has_the_documented_defaults_in_exact_json_types(
    api: Api, bucket: Record, connection: Record
) -> None:
    record = create(api, bucket, connection).json()

    assert {field: record[field] for field in DEFAULTS} == DEFAULTS
    for field, value in DEFAULTS.items():
        assert json_type(record[field]) == json_type(value), field
    # Active, so due at once (D18): with the scheduler on, its first run starts within seconds.
    assert record["next_sync_at"] == record["created_at"]


def test_a_new_sync_names_its_bucket_connection_namespace_and_creator(
    api: Api, bucket: Record, connection: Record
) -> None:
    record = create(api, bucket, connection).json()

    assert record["bucket_id"] == bucket["bucket_id"]
    assert record["connection_id"] == connection["connection_id"]
    assert record["namespace_id"] == bucket["namespace_id"]
    for field, prefix in ID_PREFIXES.items():
        assert record[field].startswith(prefix), field
        assert URL_SAFE.match(record[field].removeprefix(prefix)), field
    created = parse_time(record["created_at"])
    assert record["updated_at"] == record["created_at"]
    assert abs((datetime.now(UTC) - created).total_seconds()) < 60


def test_each_sync_gets_its_own_id(api: Api, bucket: Record, connection: Record) -> None:
    ids = {create(api, bucket, connection).json()["sync_config_id"] for _ in range(5)}

    assert len(ids) == 5


def test_get_shows_the_record_create_returned(api: Api, bucket: Record, connection: Record) -> None:
    created = create(api, bucket, connection, **FULL_CREATE).json()

    assert api.ok("GET", api.sync_path(created)) == created


def test_create_stores_every_field_it_accepts(api: Api, bucket: Record, connection: Record) -> None:
    response = create(api, bucket, connection, **FULL_CREATE)

    assert response.status_code == 200, response.text
    record = response.json()
    for field, value in FULL_CREATE.items():
        if isinstance(value, dict):
            assert {key: record[field].get(key) for key in value} == value, field
        else:
            assert record[field] == value, field


def test_create_with_the_fields_the_official_sdk_always_sends(
    api: Api, bucket: Record, connection: Record
) -> None:
    sdk_fields = {
        "polling_interval_seconds": 900,
        "batch_size": 1,
        "skip_duplicates": False,
        "skip_batch_submission": True,
    }

    response = create(api, bucket, connection, **sdk_fields)

    assert response.status_code == 200, response.text
    assert {field: response.json()[field] for field in sdk_fields} == sdk_fields


@pytest.mark.parametrize(
    "sent", ["2026-03-01T12:00:00Z", "2026-03-01T14:00:00+02:00", "2026-03-01T12:00:00"]
)
def test_times_are_read_with_any_offset_and_written_in_utc(
    api: Api, bucket: Record, connection: Record, sent: str
) -> None:
    record = create(api, bucket, connection, sync_from=sent).json()

    assert parse_time(record["sync_from"]) == datetime(2026, 3, 1, 12, tzinfo=UTC)


# --- file filters --------------------------------------------------------------------------


def test_file_filters_are_stored_with_their_keys(
    api: Api, bucket: Record, connection: Record
) -> None:
    created = create(api, bucket, connection, file_filters=FILE_FILTERS).json()

    stored = api.ok("GET", api.sync_path(created))["file_filters"]
    assert {key: stored[key] for key in FILE_FILTERS} == FILE_FILTERS


def test_the_older_extensions_form_is_stored_as_include_patterns(
    api: Api, bucket: Record, connection: Record
) -> None:
    created = create(api, bucket, connection, file_filters={"extensions": [".mp4"]}).json()

    stored = api.ok("GET", api.sync_path(created))["file_filters"]
    assert stored["include_patterns"] == ["*.mp4"]
    assert "extensions" not in stored


def test_the_vendors_regex_patterns_example_is_accepted_and_stored(
    api: Api, bucket: Record, connection: Record
) -> None:
    example = {"max_size_bytes": 10485760, "patterns": [".*-processed\\.jpg$"]}  # verbatim
    created = create(api, bucket, connection, file_filters=example).json()

    stored = api.ok("GET", api.sync_path(created))["file_filters"]
    assert {key: stored[key] for key in example} == example


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("[a-z", "not a regular expression"),
        ("(a+)+$", "repeat inside a repeat"),
        ("(a|aa)*b", "alternation inside a repeat"),
        ("(a)\\1", "backreferences"),
        (".*.*x", "unbounded repeats"),
        ("x" * 257, "at most 256"),
    ],
    ids=["bad-syntax", "nested", "alternation", "backreference", "two-stars", "long"],
)
def test_a_regex_pattern_that_is_bad_or_may_be_slow_is_refused_naming_the_item(
    api: Api, bucket: Record, connection: Record, pattern: str, why: str
) -> None:
    response = create(api, bucket, connection, file_filters={"patterns": ["ok$", pattern]})

    assert_validation_error(response, "body", "file_filters", "patterns", "1")
    (problem,) = response.json()["error"]["details"]["validation_errors"]
    assert why in problem["message"]
    assert list_ids(api, bucket) == []


def test_regex_patterns_are_bounded_in_number(api: Api, bucket: Record, connection: Record) -> None:
    response = create(api, bucket, connection, file_filters={"patterns": ["a$"] * 11})

    assert_validation_error(response, "body", "file_filters", "patterns")


@pytest.mark.parametrize("key", ["suffixes", "extension", "include", "max_files"])
def test_any_other_file_filters_key_is_refused(
    api: Api, bucket: Record, connection: Record, key: str
) -> None:
    response = create(api, bucket, connection, file_filters={key: [".mp4"]})

    assert_validation_error(response, "body", "file_filters", key)
    assert list_ids(api, bucket) == []


# --- what create refuses -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sync_mode", "one_time"),
        ("sync_mode", "scheduled"),
        ("sync_mode", "CONTINUOUS"),
        ("polling_interval_seconds", 29),
        ("polling_interval_seconds", 901),
        ("polling_interval_seconds", "300"),
        ("batch_size", 0),
        ("batch_size", 101),
        ("batch_size", 50.0),
        ("skip_duplicates", 1),
        ("create_object_on_confirm", "true"),
        ("description", "d" * 501),
        ("metadata", {f"key{i}": i for i in range(51)}),
        ("max_objects_per_run", 0),
        ("sync_concurrency", 101),
        ("sync_concurrency", "8"),
        ("source_type", "s3"),
        ("sync_config_id", "sync_mine"),
    ],
    ids=lambda value: (
        f"{len(value)}-long" if isinstance(value, str | dict) and len(value) > 30 else None
    ),
)
def test_create_refuses_a_bad_field_and_creates_nothing(
    api: Api, bucket: Record, connection: Record, field: str, value: Any
) -> None:
    response = create(api, bucket, connection, **{field: value})

    assert_validation_error(response, "body", field)
    assert list_ids(api, bucket) == []


@pytest.mark.parametrize("missing", ["connection_id", "source_path"])
def test_create_needs_a_connection_and_a_source_path(
    api: Api, bucket: Record, connection: Record, missing: str
) -> None:
    body = {"connection_id": connection["connection_id"], "source_path": "media/in"}
    del body[missing]

    response = api.post(syncs_path(bucket), json=body)

    assert_validation_error(response, "body", missing)


def test_sync_mode_initial_only_is_accepted(api: Api, bucket: Record, connection: Record) -> None:
    response = create(api, bucket, connection, sync_mode="initial_only")

    assert response.status_code == 200, response.text
    assert response.json()["sync_mode"] == "initial_only"


def test_a_connection_of_another_organization_is_not_found(
    api: Api, other_org: Api, bucket: Record
) -> None:
    theirs = other_org.make_connection("theirs")

    response = create(api, bucket, theirs)
    unknown = create(api, bucket, {"connection_id": "conn_neverexisted"})

    assert not_found_body(response, theirs["connection_id"]) == not_found_body(
        unknown, "conn_neverexisted"
    )
    assert list_ids(api, bucket) == []


def test_a_bucket_of_another_namespace_is_not_found(api: Api, connection: Record) -> None:
    api.make_namespace("staging")
    elsewhere = api.make_bucket("archive", namespace="staging")

    by_id = create(api, elsewhere, connection)
    by_name = create(api, "archive", connection)
    unknown = create(api, "bkt_neverexisted", connection)

    expected = not_found_body(unknown, "bkt_neverexisted")
    assert not_found_body(by_id, elsewhere["bucket_id"]) == expected
    assert not_found_body(by_name, "archive") == expected
    listed = api.ok("POST", f"{syncs_path(elsewhere)}/list", headers={"X-Namespace": "staging"})
    assert listed["results"] == []


def test_a_bucket_of_another_organization_is_not_found(
    api: Api, other_org: Api, connection: Record
) -> None:
    theirs = other_org.make_bucket("theirs")

    response = create(api, theirs, connection)

    assert not_found_body(response, theirs["bucket_id"]) == not_found_body(
        create(api, "bkt_neverexisted", connection), "bkt_neverexisted"
    )


# --- the bucket by name --------------------------------------------------------------------


def test_sync_routes_take_the_bucket_name_as_well_as_its_id(
    api: Api, bucket: Record, connection: Record
) -> None:
    created = create(api, "videos", connection)
    assert created.status_code == 200, created.text
    record = created.json()
    by_name = f"/v1/buckets/videos/syncs/{record['sync_config_id']}"

    assert record["bucket_id"] == bucket["bucket_id"]
    assert api.ok("GET", by_name) == record
    assert list_ids(api, "videos") == [record["sync_config_id"]]
    patched = api.ok("PATCH", by_name, json={"batch_size": 5})
    assert patched == api.ok("GET", api.sync_path(record))
    assert api.ok("DELETE", by_name) == {
        "success": True,
        "sync_config_id": record["sync_config_id"],
    }
    assert api.get(api.sync_path(record)).status_code == 404


# --- list ----------------------------------------------------------------------------------


@pytest.fixture
def fleet(api: Api, bucket: Record, connection: Record) -> dict[str, Record]:
    """Four syncs over two connections, oldest first, and a sync in another bucket.

    s1: minio, PENDING, active      s2: minio, SUSPENDED, active
    s3: backup, PENDING, inactive   s4: backup, SUSPENDED, inactive
    """
    backup = api.make_connection("backup")
    records = {
        "s1": api.make_sync(bucket, connection),
        "s2": api.make_sync(bucket, connection),
        "s3": api.make_sync(bucket, backup),
        "s4": api.make_sync(bucket, backup),
    }
    api.ok("PATCH", api.sync_path(records["s2"]), json={"status": "SUSPENDED"})
    api.ok("PATCH", api.sync_path(records["s3"]), json={"is_active": False})
    api.ok("PATCH", api.sync_path(records["s4"]), json={"status": "SUSPENDED", "is_active": False})
    api.make_sync(api.make_bucket("elsewhere"), connection)
    return {**records, "minio": connection, "backup": backup}


def fleet_ids(fleet: dict[str, Record], names: list[str]) -> list[str]:
    return [fleet[name]["sync_config_id"] for name in names]


@pytest.mark.parametrize(
    "request_body",
    [
        pytest.param({}, id="no-body"),
        pytest.param(
            {"headers": {"Content-Type": "application/json"}, "content": b""},
            id="json-content-type-and-empty-body",
        ),
        pytest.param({"json": {}}, id="empty-object"),
        pytest.param(
            {"json": {"connection_id": None, "status": None, "is_active": None}},
            id="null-filters",
        ),
    ],
)
def test_list_without_filters_shows_the_buckets_syncs_newest_first(
    api: Api, bucket: Record, fleet: dict[str, Record], request_body: Record
) -> None:
    response = api.post(f"{syncs_path(bucket)}/list", **request_body)

    assert response.status_code == 200, response.text
    body = response.json()
    assert [record["sync_config_id"] for record in body["results"]] == fleet_ids(
        fleet, ["s4", "s3", "s2", "s1"]
    )
    assert body["total"] == 4
    assert body["pagination"]["total"] == 4


def test_listed_records_are_the_records_get_shows(
    api: Api, bucket: Record, fleet: dict[str, Record]
) -> None:
    listed = api.ok("POST", f"{syncs_path(bucket)}/list")["results"]

    assert listed == [api.ok("GET", api.sync_path(record)) for record in listed]


@pytest.mark.parametrize("by", ["name", "connection_id"])
def test_the_connection_filter_takes_a_name_as_create_does(
    api: Api, bucket: Record, fleet: dict[str, Record], by: str
) -> None:
    backup = fleet["backup"]
    body = api.ok("POST", f"{syncs_path(bucket)}/list", json={"connection_id": backup[by]})

    assert [record["sync_config_id"] for record in body["results"]] == fleet_ids(
        fleet, ["s4", "s3"]
    )


def test_a_connection_filter_naming_what_is_not_yours_lists_nothing(
    api: Api, other_org: Api, bucket: Record, fleet: dict[str, Record]
) -> None:
    theirs = other_org.make_connection("theirs")
    path = f"{syncs_path(bucket)}/list"
    for identifier in ("no-such-connection", "theirs", theirs["connection_id"], "conn_nope"):
        body = api.ok("POST", path, json={"connection_id": identifier})
        assert (body["results"], body["total"]) == ([], 0), identifier


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"connection_id": "minio"}, ["s2", "s1"]),
        ({"connection_id": "backup"}, ["s4", "s3"]),
        ({"status": "SUSPENDED"}, ["s4", "s2"]),
        ({"status": "suspended"}, ["s4", "s2"]),
        ({"status": "PENDING"}, ["s3", "s1"]),
        ({"status": "FAILED"}, []),
        ({"is_active": True}, ["s2", "s1"]),
        ({"is_active": False}, ["s4", "s3"]),
        ({"connection_id": "backup", "status": "SUSPENDED"}, ["s4"]),
        ({"connection_id": "minio", "is_active": False}, []),
        ({"status": "PENDING", "is_active": True}, ["s1"]),
        ({"connection_id": "backup", "status": "PENDING", "is_active": False}, ["s3"]),
    ],
)
def test_list_filters_are_anded(
    api: Api,
    bucket: Record,
    fleet: dict[str, Record],
    filters: Record,
    expected: list[str],
) -> None:
    if "connection_id" in filters:
        filters = {**filters, "connection_id": fleet[filters["connection_id"]]["connection_id"]}

    body = api.ok("POST", f"{syncs_path(bucket)}/list", json=filters)

    assert [record["sync_config_id"] for record in body["results"]] == fleet_ids(fleet, expected)
    assert body["total"] == len(expected)


def test_an_unknown_list_key_is_ignored_as_the_vendor_does(
    api: Api, bucket: Record, connection: Record
) -> None:
    # The vendor's list schemas do not forbid other keys, and its examples send "description"
    # (README, "List bodies"); a key that is defined is still checked.
    sync = api.make_sync(bucket, connection)
    body = api.ok("POST", f"{syncs_path(bucket)}/list", json={"connection": "conn_x"})

    assert [record["sync_config_id"] for record in body["results"]] == [sync["sync_config_id"]]


@pytest.fixture
def five(api: Api, bucket: Record, connection: Record) -> list[str]:
    """Five syncs' ids, newest first."""
    ids = [api.make_sync(bucket, connection)["sync_config_id"] for _ in range(5)]
    return ids[::-1]


@pytest.mark.parametrize(
    ("query", "window", "page", "page_size", "total_pages", "has_next", "has_previous"),
    [
        ({"limit": 2}, (0, 2), 1, 2, 3, True, False),
        ({"limit": 2, "offset": 2}, (2, 4), 2, 2, 3, True, True),
        ({"limit": 2, "offset": 4}, (4, 5), 3, 2, 3, False, True),
        ({"page": 1, "page_size": 2}, (0, 2), 1, 2, 3, True, False),
        ({"page": 3, "page_size": 2}, (4, 5), 3, 2, 3, False, True),
        ({"page": 2, "page_size": 3}, (3, 5), 2, 3, 2, False, True),
        ({"limit": 1000}, (0, 5), 1, 1000, 1, False, False),
        ({"limit": 5, "include_total": "false"}, (0, 5), 1, 5, 1, False, False),
    ],
)
def test_list_pages(
    api: Api,
    bucket: Record,
    five: list[str],
    query: Record,
    window: tuple[int, int],
    page: int,
    page_size: int,
    total_pages: int,
    has_next: bool,
    has_previous: bool,
) -> None:
    body = api.ok("POST", f"{syncs_path(bucket)}/list", params=query)

    assert [record["sync_config_id"] for record in body["results"]] == five[slice(*window)]
    assert body["total"] == 5
    pagination = body["pagination"]
    assert pagination == {
        "total": 5,
        "page": page,
        "page_size": page_size,
        "total_pages": total_pages,
        "next_page": pagination["next_page"],
        "previous_page": pagination["previous_page"],
        "next_cursor": pagination["next_cursor"],
    }
    for field in ("total", "page", "page_size", "total_pages"):
        assert json_type(pagination[field]) == "integer", field
    assert isinstance(pagination["next_page"], str) is has_next
    assert isinstance(pagination["previous_page"], str) is has_previous
    assert pagination["next_cursor"] is None or isinstance(pagination["next_cursor"], str)


def test_following_next_page_walks_every_sync_once(
    api: Api, bucket: Record, five: list[str]
) -> None:
    seen: list[str] = []
    body = api.ok("POST", f"{syncs_path(bucket)}/list", params={"page_size": 2})
    while True:
        seen += [record["sync_config_id"] for record in body["results"]]
        if body["pagination"]["next_page"] is None:
            break
        body = api.ok("POST", body["pagination"]["next_page"])

    assert seen == five


@pytest.mark.parametrize("offset", [1, 3])
def test_an_offset_off_a_page_boundary_is_followed_from_the_real_offset_both_ways(
    api: Api, bucket: Record, five: list[str], offset: int
) -> None:
    path = f"{syncs_path(bucket)}/list"
    first = api.ok("POST", path, params={"limit": 2, "offset": offset})
    seen = [record["sync_config_id"] for record in first["results"]]
    body = first
    while body["pagination"]["next_page"] is not None:
        body = api.ok("POST", body["pagination"]["next_page"])
        seen += [record["sync_config_id"] for record in body["results"]]
    assert seen == five[offset:]  # no row repeated, none skipped

    before = api.ok("POST", first["pagination"]["previous_page"])
    expected = five[max(offset - 2, 0) : offset]
    assert [record["sync_config_id"] for record in before["results"]][: len(expected)] == expected
    assert first["pagination"]["page"] == offset // 2 + 1


def test_past_the_end_the_previous_page_is_the_last_that_holds_rows(
    api: Api, bucket: Record, five: list[str]
) -> None:
    path = f"{syncs_path(bucket)}/list"
    body = api.ok("POST", path, params={"limit": 2, "offset": 9})

    assert body["results"] == []
    last = api.ok("POST", body["pagination"]["previous_page"])
    assert [record["sync_config_id"] for record in last["results"]] == five[4:]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/list"),
        ("GET", "/{sync}"),
        ("PATCH", "/{sync}"),
        ("POST", "/{sync}/pause"),
        ("POST", "/{sync}/jobs"),
        ("POST", "/{sync}/dlq"),
        ("GET", "/{sync}/metrics"),
    ],
)
def test_an_unknown_query_parameter_is_refused_on_every_route(
    api: Api, bucket: Record, connection: Record, method: str, path: str
) -> None:
    sync = api.make_sync(bucket, connection)
    url = syncs_path(bucket) + path.format(sync=sync["sync_config_id"])
    body = {"batch_size": 9} if method == "PATCH" else None

    response = api.request(method, url, params={"limt": "5"}, json=body)

    assert_validation_error(response, "query", "limt")
    assert api.request(method, url, params={"namespace": "default"}, json=body).status_code == 200
    assert api.ok("GET", api.sync_path(sync))["batch_size"] == (9 if method == "PATCH" else 50)


def test_an_offset_past_the_end_lists_nothing(api: Api, bucket: Record, five: list[str]) -> None:
    body = api.ok("POST", f"{syncs_path(bucket)}/list", params={"offset": 10})

    assert body["results"] == []
    assert body["total"] == 5
    assert body["pagination"]["next_page"] is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("limit", 0),
        ("limit", 1001),
        ("limit", -1),
        ("offset", -1),
        ("offset", 10001),
        ("page", 0),
        ("page_size", 0),
        ("page_size", 1001),
        ("limit", "ten"),
    ],
)
def test_list_refuses_a_query_out_of_bounds(
    api: Api, bucket: Record, name: str, value: Any
) -> None:
    response = api.post(f"{syncs_path(bucket)}/list", params={name: value})

    assert_validation_error(response, "query", name)


def test_an_empty_bucket_lists_nothing(api: Api, bucket: Record) -> None:
    body = api.ok("POST", f"{syncs_path(bucket)}/list")

    assert body["results"] == []
    assert body["total"] == 0
    assert body["pagination"]["total"] == 0


# --- delete --------------------------------------------------------------------------------


def test_delete_answers_200_with_the_id(api: Api, sync: Record) -> None:
    response = api.delete(api.sync_path(sync))

    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "sync_config_id": sync["sync_config_id"]}


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [("GET", {}), ("PATCH", {"json": {"batch_size": 10}}), ("DELETE", {})],
)
def test_a_deleted_sync_is_not_found_like_one_that_never_existed(
    api: Api, sync: Record, method: str, kwargs: Record
) -> None:
    api.ok("DELETE", api.sync_path(sync))
    never = {**sync, "sync_config_id": "sync_neverexisted"}

    deleted = api.request(method, api.sync_path(sync), **kwargs)
    unknown = api.request(method, api.sync_path(never), **kwargs)

    assert not_found_body(deleted, sync["sync_config_id"]) == not_found_body(
        unknown, "sync_neverexisted"
    )


def test_delete_leaves_the_other_syncs_untouched(
    api: Api, bucket: Record, fleet: dict[str, Record]
) -> None:
    others = [api.ok("GET", api.sync_path(fleet[name])) for name in ("s1", "s3", "s4")]

    api.ok("DELETE", api.sync_path(fleet["s2"]))

    assert [api.ok("GET", api.sync_path(record)) for record in others] == others
    assert list_ids(api, bucket) == fleet_ids(fleet, ["s4", "s3", "s1"])


# --- scoping -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [("GET", {}), ("PATCH", {"json": {"batch_size": 10}}), ("DELETE", {})],
)
def test_a_sync_is_not_found_under_another_bucket(
    api: Api, sync: Record, method: str, kwargs: Record
) -> None:
    other = api.make_bucket("other")
    moved = {**sync, "bucket_id": other["bucket_id"]}
    never = {**moved, "sync_config_id": "sync_neverexisted"}

    response = api.request(method, api.sync_path(moved), **kwargs)

    assert not_found_body(response, sync["sync_config_id"]) == not_found_body(
        api.request(method, api.sync_path(never), **kwargs), "sync_neverexisted"
    )
    assert api.ok("GET", api.sync_path(sync)) == sync


@pytest.mark.parametrize(
    ("former", "meant"), [("one_time", "initial_only"), ("scheduled", "continuous")]
)
def test_the_older_sync_modes_are_refused_with_the_value_meant(
    api: Api, bucket: Record, connection: Record, former: str, meant: str
) -> None:
    response = create(api, bucket, connection, sync_mode=former)

    assert_validation_error(response, "body", "sync_mode")
    (problem,) = response.json()["error"]["details"]["validation_errors"]
    assert f"{former!r} is the older API's name: send {meant!r} instead" in problem["message"]
    assert list_ids(api, bucket) == []
