"""PATCH /v1/buckets/{bucket_id}/syncs/{sync_config_id}: exactly the keys sent, nothing else.

CONTRACT.md D3 (time), D4 (what PATCH applies), D5 (field rules) and D6 (the 422 envelope).
Every test reads the whole record back and compares it, field by field, with the record before.
"""

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from app.errors import MSG_EMPTY_UPDATE
from tests.conftest import Api

Record = dict[str, Any]

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")
TIMESTAMP_FIELDS = (
    "created_at",
    "updated_at",
    "last_sync_at",
    "next_sync_at",
    "paused_at",
    "locked_at",
    "lock_expires_at",
    "sync_from",
)

# The 16 statuses a sync may take: the seed's 13 and the newer API's QUEUED, INTERRUPTED and
# DEACTIVATED.
ALL_STATUSES = (
    "PENDING",
    "IN_PROGRESS",
    "PROCESSING",
    "COMPLETED",
    "COMPLETED_WITH_ERRORS",
    "FAILED",
    "CANCELED",
    "UNKNOWN",
    "SKIPPED",
    "DRAFT",
    "ACTIVE",
    "ARCHIVED",
    "SUSPENDED",
    "QUEUED",
    "INTERRUPTED",
    "DEACTIVATED",
)

SCHEMA_MAPPING = {
    "mappings": {
        "content": {"target_type": "blob", "source": {"type": "file"}, "blob_type": "video"},
        "category": {"target_type": "field", "source": {"type": "tag", "key": "category"}},
    }
}
INGEST_FILTER = {
    "retriever_id": "ret_brand_safety",
    "retriever_version": 2,
    "action": "drop",
    "on_error": "keep",
    "timeout_seconds": 60,
}
RECONCILE = {
    "on_delete": False,
    "on_update": True,
    "on_filter_drift": False,
    "re_extract_on_update": False,
    "re_extract_fields": ["title"],
}

# One value per field PATCH accepts, each different from the default a new sync has, and
# stored exactly as sent.
ONE_FIELD_CHANGES: list[tuple[str, Any]] = [
    ("description", "Daily video ingestion from the production bucket"),
    ("metadata", {"environment": "production", "project": "video-pipeline"}),
    ("status", "ACTIVE"),
    ("is_active", False),
    ("polling_interval_seconds", 60),
    ("batch_size", 10),
    ("schema_mapping", SCHEMA_MAPPING),
    ("skip_batch_submission", True),
    ("batch_collection_ids", ["col_faces", "col_scenes"]),
    ("ingest_filter", INGEST_FILTER),
    ("max_objects_per_run", 500),
    ("sync_concurrency", 4),
    ("reconcile", RECONCILE),
    ("provider_filters", {"collection_ids": ["c1", "c2"]}),
]

# Fields whose stored value can never be null: sending null is a 422.
NOT_NULLABLE = (
    "status",
    "is_active",
    "polling_interval_seconds",
    "batch_size",
    "skip_batch_submission",
    "max_objects_per_run",
    "sync_concurrency",
)

# Fields that may hold null: sending null clears them.
CLEARABLE: list[tuple[str, Any]] = [
    ("description", "to be cleared"),
    ("schema_mapping", SCHEMA_MAPPING),
    ("batch_collection_ids", ["col_faces"]),
    ("ingest_filter", INGEST_FILTER),
    ("reconcile", RECONCILE),
    ("provider_filters", {"shared_drive_id": "drive-1"}),
]

# Keys of the record that PATCH does not define: sending one is an extra_forbidden 422.
READ_ONLY_KEYS: list[tuple[str, Any]] = [
    ("sync_config_id", "sync_other"),
    ("bucket_id", "bkt_other"),
    ("connection_id", "conn_other"),
    ("internal_id", "int_other"),
    ("namespace_id", "ns_other"),
    ("source_path", "elsewhere/"),
    ("sync_mode", "initial_only"),
    ("file_filters", {"include_patterns": ["*.mov"]}),
    ("total_files_synced", 99),
    ("total_files_discovered", 99),
    ("consecutive_failures", 3),
    ("created_at", "2020-01-01T00:00:00Z"),
    ("updated_at", "2020-01-01T00:00:00Z"),
    ("created_by_user_id", "usr_other"),
    ("locked", True),
    ("paused", True),
]

TYPOS = ("batchsize", "polling_interval", "Status", "meta_data", "isActive")


# --- helpers -------------------------------------------------------------------------------


def read(api: Api, sync: Record) -> Record:
    """The record as a later GET shows it."""
    return api.ok("GET", api.sync_path(sync))


def parse_time(value: str) -> datetime:
    assert RFC3339_UTC.match(value), f"not RFC 3339 UTC with Z: {value!r}"
    return datetime.fromisoformat(value)


def changed_keys(before: Record, after: Record) -> set[str]:
    missing = object()
    return {
        key
        for key in before.keys() | after.keys()
        if before.get(key, missing) != after.get(key, missing)
    }


class _AnyTime:
    """Stands for "some timestamp" where D19 sets one to the time of the change."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and parse_time(other) is not None

    def __repr__(self) -> str:
        return "<any time>"


ANY_TIME: Any = _AnyTime()


def schedule_effects(before: Record, expected: Record) -> Record:
    """What a PATCH of ``status`` or ``is_active`` also changes (D19): SUSPENDED pauses,
    another status unpauses, and only an active, unpaused sync that is neither FAILED, COMPLETED
    nor SUSPENDED has a ``next_sync_at`` (the one it had, or the time of the change)."""
    if "status" not in expected and "is_active" not in expected:
        return {}
    effects: Record = {}
    status = expected.get("status", before["status"])
    paused = before["paused"]
    if status == "SUSPENDED" and not paused:
        paused = True
        effects.update(paused=True, paused_at=ANY_TIME, paused_by_user_id=ANY_USER)
    elif "status" in expected and status != "SUSPENDED" and paused:
        paused = False
        effects.update(paused=False, paused_at=None, paused_by_user_id=None, pause_reason=None)
    active = expected.get("is_active", before["is_active"])
    if not active or paused or status in ("FAILED", "COMPLETED", "SUSPENDED"):
        effects["next_sync_at"] = None
    else:
        effects["next_sync_at"] = before["next_sync_at"] or ANY_TIME
    return effects


class _AnyUser:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and other.startswith("usr_")


ANY_USER: Any = _AnyUser()


def assert_applied(before: Record, after: Record, expected: Record) -> None:
    """``after`` is ``before`` with exactly ``expected`` applied (and what D19 derives from a
    change of status or activity) and a later ``updated_at``."""
    expected = {**expected, **schedule_effects(before, expected)}
    assert expected == {key: after.get(key) for key in expected}
    should_change = {key for key, value in expected.items() if value != before.get(key)}
    assert changed_keys(before, after) == should_change | {"updated_at"}
    assert parse_time(after["updated_at"]) > parse_time(before["updated_at"])
    assert after["created_at"] == before["created_at"]


def assert_unchanged(api: Api, before: Record) -> None:
    after = read(api, before)
    assert changed_keys(before, after) == set()


def assert_validation_error(response: Any, *, field: str, type_: str | None = None) -> None:
    """A D6 envelope for a 422 whose one problem is ``field`` of the body."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert body.keys() == {"success", "status", "error"}
    assert body["success"] is False
    assert body["status"] == 422
    error = body["error"]
    assert error.keys() == {"type", "message", "code", "details"}
    assert error["type"] == "ValidationError"
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["code"] is None or isinstance(error["code"], str)
    problems = error["details"]["validation_errors"]
    for problem in problems:
        assert problem.keys() == {"type", "location", "message"}
        assert isinstance(problem["type"], str)
        assert isinstance(problem["message"], str)
    assert [problem["location"] for problem in problems] == [["body", field]], problems
    if type_ is not None:
        assert problems[0]["type"] == type_


def short_id(value: Any) -> str | None:
    """Test ids for long values: their size, not their text."""
    if isinstance(value, str) and len(value) > 30:
        return f"{len(value)}-chars"
    if isinstance(value, dict) and len(value) > 3:
        return f"{len(value)}-keys"
    return None


@pytest.fixture
def before(api: Api, sync: Record) -> Record:
    """The default sync as GET shows it before the test's PATCH."""
    return read(api, sync)


# --- what a successful PATCH changes -------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), ONE_FIELD_CHANGES)
def test_a_field_sent_alone_changes_only_that_field(
    api: Api, before: Record, field: str, value: Any
) -> None:
    response = api.patch(api.sync_path(before), json={field: value})

    assert response.status_code == 200, response.text
    after = read(api, before)
    assert response.json() == after
    assert_applied(before, after, {field: value})


def test_several_fields_sent_together_change_exactly_those(api: Api, before: Record) -> None:
    changes = {"description": "Pause sync temporarily", "is_active": False, "batch_size": 100}

    response = api.patch(api.sync_path(before), json=changes)

    assert response.status_code == 200, response.text
    assert_applied(before, read(api, before), changes)


def test_the_patch_response_is_the_full_record_a_later_get_shows(api: Api, before: Record) -> None:
    response = api.patch(api.sync_path(before), json={"polling_interval_seconds": 120})

    assert response.status_code == 200, response.text
    assert response.json() == read(api, before)
    assert response.json().keys() == before.keys()


@pytest.mark.parametrize("field", ["metadata", "provider_filters"])
def test_objects_are_replaced_not_merged(api: Api, before: Record, field: str) -> None:
    path = api.sync_path(before)
    api.ok("PATCH", path, json={field: {"a": 1, "b": {"nested": True}}})
    middle = read(api, before)

    response = api.patch(path, json={field: {"c": "three"}})

    assert response.status_code == 200, response.text
    after = read(api, before)
    assert after[field] == {"c": "three"}
    assert_applied(middle, after, {field: {"c": "three"}})


def test_metadata_null_clears_it_to_an_empty_object(api: Api, before: Record) -> None:
    path = api.sync_path(before)
    api.ok("PATCH", path, json={"metadata": {"owner": "data-team"}})
    middle = read(api, before)

    response = api.patch(path, json={"metadata": None})

    assert response.status_code == 200, response.text
    assert_applied(middle, read(api, before), {"metadata": {}})


@pytest.mark.parametrize(("field", "value"), CLEARABLE)
def test_null_clears_a_nullable_field(api: Api, before: Record, field: str, value: Any) -> None:
    path = api.sync_path(before)
    api.ok("PATCH", path, json={field: value})
    middle = read(api, before)
    assert middle[field] == value

    response = api.patch(path, json={field: None})

    assert response.status_code == 200, response.text
    assert_applied(middle, read(api, before), {field: None})


# --- what a PATCH refuses, changing nothing -----------------------------------------------


@pytest.mark.parametrize("field", NOT_NULLABLE)
def test_null_for_a_field_that_cannot_be_null_is_refused(
    api: Api, before: Record, field: str
) -> None:
    response = api.patch(api.sync_path(before), json={field: None})

    assert_validation_error(response, field=field)
    assert_unchanged(api, before)


def test_an_empty_body_is_refused(api: Api, before: Record) -> None:
    response = api.patch(api.sync_path(before), json={})

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "ValidationError"
    assert [problem["message"] for problem in error["details"]["validation_errors"]] == [
        MSG_EMPTY_UPDATE
    ]
    assert_unchanged(api, before)


@pytest.mark.parametrize("key", TYPOS)
def test_an_unknown_key_is_refused_by_name(api: Api, before: Record, key: str) -> None:
    response = api.patch(api.sync_path(before), json={key: 10})

    assert_validation_error(response, field=key, type_="extra_forbidden")
    assert_unchanged(api, before)


@pytest.mark.parametrize(("key", "value"), READ_ONLY_KEYS)
def test_a_read_only_key_is_refused_by_name(api: Api, before: Record, key: str, value: Any) -> None:
    response = api.patch(api.sync_path(before), json={key: value})

    assert_validation_error(response, field=key, type_="extra_forbidden")
    assert_unchanged(api, before)


@pytest.mark.parametrize("key", ["batchsize", "total_files_synced", "sync_config_id", "locked"])
def test_an_unknown_key_beside_a_valid_field_applies_nothing(
    api: Api, before: Record, key: str
) -> None:
    body = {"description": "should not be stored", "batch_size": 20, key: 1}

    response = api.patch(api.sync_path(before), json=body)

    assert_validation_error(response, field=key, type_="extra_forbidden")
    assert_unchanged(api, before)


@pytest.mark.parametrize(
    ("field", "value", "accepted"),
    [
        ("polling_interval_seconds", 29, False),
        ("polling_interval_seconds", 30, True),
        ("polling_interval_seconds", 900, True),
        ("polling_interval_seconds", 901, False),
        ("polling_interval_seconds", 86400, False),
        ("batch_size", 0, False),
        ("batch_size", 1, True),
        ("batch_size", 100, True),
        ("batch_size", 101, False),
        ("max_objects_per_run", 0, False),
        ("max_objects_per_run", 1, True),
        ("sync_concurrency", 0, False),
        ("sync_concurrency", 1, True),
        ("sync_concurrency", 100, True),
        ("sync_concurrency", 101, False),
        ("description", "d" * 500, True),
        ("description", "d" * 501, False),
        ("metadata", {f"key{i}": i for i in range(50)}, True),
        ("metadata", {f"key{i}": i for i in range(51)}, False),
    ],
    ids=short_id,
)
def test_bounds(api: Api, before: Record, field: str, value: Any, accepted: bool) -> None:
    response = api.patch(api.sync_path(before), json={field: value})

    if accepted:
        assert response.status_code == 200, response.text
        assert_applied(before, read(api, before), {field: value})
    else:
        assert_validation_error(response, field=field)
        assert_unchanged(api, before)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("polling_interval_seconds", "300"),
        ("polling_interval_seconds", 300.0),
        ("polling_interval_seconds", 60.5),
        ("batch_size", "10"),
        ("batch_size", 10.0),
        ("max_objects_per_run", "500"),
        ("sync_concurrency", 4.0),
        ("is_active", 1),
        ("is_active", 0),
        ("is_active", "true"),
        ("is_active", "false"),
        ("skip_batch_submission", 1),
        ("skip_batch_submission", "true"),
        ("description", 42),
        ("metadata", ["not", "an", "object"]),
        ("metadata", "{}"),
        ("status", 1),
    ],
)
def test_types_are_strict(api: Api, before: Record, field: str, value: Any) -> None:
    response = api.patch(api.sync_path(before), json={field: value})

    assert_validation_error(response, field=field)
    assert_unchanged(api, before)


@pytest.mark.parametrize(
    "body",
    [
        {"description": "new", "batch_size": 0, "is_active": False},
        {"metadata": {"a": 1}, "polling_interval_seconds": "60"},
        {"status": "ACTIVE", "is_active": None},
        {"description": "x" * 501, "status": "FAILED", "sync_concurrency": 8},
        {"batch_collection_ids": ["col_1"], "status": "RUNNING"},
    ],
)
def test_one_bad_field_among_good_ones_changes_nothing(
    api: Api, before: Record, body: Record
) -> None:
    response = api.patch(api.sync_path(before), json=body)

    assert response.status_code == 422, response.text
    assert_unchanged(api, before)


# --- status ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("pending", "PENDING"),
        ("completed", "COMPLETED"),
        ("Processing", "PROCESSING"),
        ("in_progress", "IN_PROGRESS"),
        ("suspended", "SUSPENDED"),
        ("paused", "SUSPENDED"),
        ("PAUSED", "SUSPENDED"),
        ("Paused", "SUSPENDED"),
        *((status, status) for status in ALL_STATUSES),
    ],
)
def test_status_is_case_insensitive_and_stored_uppercase(
    api: Api, before: Record, sent: str, stored: str
) -> None:
    path = api.sync_path(before)
    # Start from a status other than the one expected, so that the PATCH visibly changes it.
    api.ok("PATCH", path, json={"status": "FAILED" if stored != "FAILED" else "ACTIVE"})
    middle = read(api, before)

    response = api.patch(path, json={"status": sent})

    assert response.status_code == 200, response.text
    assert response.json()["status"] == stored
    assert_applied(middle, read(api, before), {"status": stored})


def test_paused_is_never_emitted(api: Api, before: Record) -> None:
    path = api.sync_path(before)
    api.ok("PATCH", path, json={"status": "paused"})

    listed = api.ok("POST", f"/v1/buckets/{before['bucket_id']}/syncs/list")

    assert read(api, before)["status"] == "SUSPENDED"
    assert [record["status"] for record in listed["results"]] == ["SUSPENDED"]


@pytest.mark.parametrize("status", ["RUNNING", "paused_by_user", "", "COMPLETE", "pending "])
def test_an_unknown_status_is_refused(api: Api, before: Record, status: str) -> None:
    response = api.patch(api.sync_path(before), json={"status": status})

    assert_validation_error(response, field="status")
    assert_unchanged(api, before)


# --- time ------------------------------------------------------------------------------


def test_updated_at_strictly_increases_and_created_at_never_changes(
    api: Api, before: Record
) -> None:
    path = api.sync_path(before)
    records = [before]
    for size in (11, 12, 13, 14, 15, 16):
        records.append(api.ok("PATCH", path, json={"batch_size": size}))

    updated = [parse_time(record["updated_at"]) for record in records]
    assert updated == sorted(updated)
    assert len(set(updated)) == len(updated)
    assert {record["created_at"] for record in records} == {before["created_at"]}
    assert read(api, before)["updated_at"] == records[-1]["updated_at"]


def test_a_refused_patch_does_not_touch_updated_at(api: Api, before: Record) -> None:
    path = api.sync_path(before)
    for body in ({}, {"batch_size": 0}, {"typo": 1}, {"status": None}):
        assert api.patch(path, json=body).status_code == 422

    assert read(api, before)["updated_at"] == before["updated_at"]


def test_timestamps_are_rfc3339_utc_with_z(api: Api, before: Record) -> None:
    after = api.ok("PATCH", api.sync_path(before), json={"description": "now"})

    for record in (before, after, read(api, before)):
        for field in TIMESTAMP_FIELDS:
            if record[field] is not None:
                parse_time(record[field])
        assert record["created_at"] is not None
        assert record["updated_at"] is not None


def test_updated_at_still_increases_when_the_clock_has_not_moved_past_it(
    api: Api, sync: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clock stepped back (or two writes in one microsecond) takes the locked path."""
    import app.syncs.service

    monkeypatch.setattr(app.syncs.service, "utc_now", lambda: datetime(2000, 1, 1, tzinfo=UTC))
    first = api.ok("PATCH", api.sync_path(sync), json={"batch_size": 7})
    second = api.ok("PATCH", api.sync_path(sync), json={"batch_size": 8})

    times = [datetime.fromisoformat(r["updated_at"]) for r in (sync, first, second)]
    assert times[0] < times[1] < times[2]
    assert second == api.ok("GET", api.sync_path(sync))
    assert second["batch_size"] == 8
