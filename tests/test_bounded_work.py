"""Bounded work per request, and nothing stored that cannot be served (issue 7).

Each test reproduces what one key holder could do to every tenant before the limits of
``app/limits.py`` (README.md, "Limits"):

- a ~1 MiB body of 520 000 invalid list items took 11.5 s, 828 MB and answered 63 MB;
- a bucket schema nested 127 levels, or a metadata filter value of 300 nested arrays, was
  stored, answered 500, and from then on every list of its namespace answered 500;
- records of any size could be stored, so a page of them could take seconds and megabytes;
- a page of 1000 of the largest records was seconds of work on the event loop, during which
  every other tenant's request waited (``/v1/health`` answered once in 5 s while one client
  listed such pages in a loop);
- ``?page=10001&page_size=1000`` reached rows that ``?offset=10001`` is refused.

Timings are generous bounds (a second where the fixed server takes milliseconds), never
micro-benchmarks: the machine may be busy.
"""

import contextlib
import json
import sqlite3
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.conftest import API_KEY, Api, s3_connection_body
from tests.server_process import ServerProcess

MAX_REPORTED_ERRORS = 20
MAX_VALUE_BYTES = 16 * 1024
MAX_RECORD_BYTES = 32 * 1024
MAX_JSON_DEPTH = 32
# What a 422 may take, whatever the request held.
SMALL_ANSWER = 20_000
# A request the server refuses answers within this; it took 11.5 s before.
FAST = 1.0


def nested_arrays(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def nested_schema(depth: int) -> dict[str, Any]:
    """A bucket schema whose properties nest ``depth`` levels of objects."""
    field: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        field = {"type": "object", "properties": {"child": field}}
    return {"properties": {"root": field}}


def send_raw(api: Api, method: str, path: str, body: bytes) -> Any:
    return api.request(method, path, content=body, headers={"Content-Type": "application/json"})


def assert_small_422(response: Any, elapsed: float) -> dict[str, Any]:
    assert response.status_code == 422, response.text[:500]
    assert len(response.content) < SMALL_ANSWER, len(response.content)
    assert elapsed < FAST, elapsed
    error: dict[str, Any] = response.json()["error"]
    assert error["type"] == "ValidationError"
    assert len(error["details"]["validation_errors"]) <= MAX_REPORTED_ERRORS
    return error


# --- a 422 costs milliseconds -------------------------------------------------------------------

# (route, the JSON text before and after the list of 520 000 invalid items)
HUGE_LISTS = {
    "sync batch_collection_ids": (
        "POST",
        "/v1/buckets/{bucket}/syncs",
        '{"connection_id": "{connection}", "source_path": "in", "batch_collection_ids": [',
        "]}",
    ),
    "sync file_filters.include_patterns": (
        "POST",
        "/v1/buckets/{bucket}/syncs",
        '{"connection_id": "{connection}", "source_path": "in",'
        ' "file_filters": {"include_patterns": [',
        "]}}",
    ),
    "sync file_filters.metadata_filters": (
        "POST",
        "/v1/buckets/{bucket}/syncs",
        '{"connection_id": "{connection}", "source_path": "in",'
        ' "file_filters": {"metadata_filters": [',
        "]}}",
    ),
    "sync PATCH batch_collection_ids": ("PATCH", "{sync}", '{"batch_collection_ids": [', "]}"),
    "sync PATCH reconcile.re_extract_fields": (
        "PATCH",
        "{sync}",
        '{"reconcile": {"re_extract_fields": [',
        "]}}",
    ),
    "namespace features": (
        "POST",
        "/v1/namespaces",
        '{"namespace_name": "ns1", "features": [',
        "]}",
    ),
    "namespace feature_extractors": (
        "POST",
        "/v1/namespaces",
        '{"namespace_name": "ns1", "feature_extractors": [',
        "]}",
    ),
    "bucket unique_key.fields": (
        "POST",
        "/v1/buckets",
        '{"bucket_name": "b1", "bucket_schema": {"properties": {}}, "unique_key": {"fields": [',
        "]}}",
    ),
}


@pytest.mark.parametrize(
    ("items", "refusal"),
    [
        # More values than any acceptable body holds: refused before it is parsed.
        (520_000, "too_many_values"),
        # Just under that: parsed, and refused by the list's bound before its items are read.
        (60_000, "too_long"),
    ],
)
@pytest.mark.parametrize("case", HUGE_LISTS)
def test_a_million_bytes_of_invalid_list_items_is_refused_fast_and_small(
    api: Api, sync: dict[str, Any], case: str, items: int, refusal: str
) -> None:
    method, path, head, tail = HUGE_LISTS[case]
    path = path.format(bucket=sync["bucket_id"], sync=api.sync_path(sync))
    head = head.replace("{connection}", sync["connection_id"])
    body = (head + ",".join(["1"] * items) + tail).encode()
    assert len(body) < 1024 * 1024  # within the body limit: this is the validator's work

    started = time.perf_counter()
    response = send_raw(api, method, path, body)
    error = assert_small_422(response, time.perf_counter() - started)

    assert error["details"]["validation_errors"][0]["type"] == refusal
    assert api.get(api.sync_path(sync)).json() == sync  # the PATCH changed nothing


def test_a_body_of_thirty_thousand_unknown_keys_is_refused_fast_and_small(
    api: Api, sync: dict[str, Any]
) -> None:
    body = json.dumps({f"k{i}": 0 for i in range(30_000)}).encode()

    started = time.perf_counter()
    response = send_raw(api, "PATCH", api.sync_path(sync), body)
    error = assert_small_422(response, time.perf_counter() - started)

    assert error["details"]["validation_errors"][0]["type"] == "too_many_keys"


def test_a_422_lists_the_first_20_problems_and_counts_the_rest(
    api: Api, sync: dict[str, Any]
) -> None:
    # 50 filters (the most allowed), each missing `field` and carrying an unknown key: 100.
    filters = [{"unknown": 1} for _ in range(50)]
    response = api.post(
        f"/v1/buckets/{sync['bucket_id']}/syncs",
        json={
            "connection_id": sync["connection_id"],
            "source_path": "in",
            "file_filters": {"metadata_filters": filters},
        },
    )

    assert response.status_code == 422
    error = response.json()["error"]
    problems = error["details"]["validation_errors"]
    assert len(problems) == 20
    assert error["details"]["omitted_errors"] == 80
    assert problems[0]["location"] == ["body", "file_filters", "metadata_filters", "0", "field"]
    assert error["message"].startswith("Request validation failed: file_filters.metadata_filters")
    assert error["message"].endswith("(and 80 more problems)")


def test_a_422_cuts_long_keys_and_messages(api: Api, sync: dict[str, Any]) -> None:
    long_key = "k" * 5_000
    response = api.patch(api.sync_path(sync), json={long_key: 1, "x" + long_key: 2})

    assert response.status_code == 422
    error = response.json()["error"]
    assert len(error["message"]) <= 300
    for problem in error["details"]["validation_errors"]:
        assert all(len(part) <= 100 for part in problem["location"])
        assert len(problem["message"]) <= 300
    assert len(response.content) < 2_000


# --- nothing stored that cannot be served -------------------------------------------------------


def test_a_bucket_schema_nested_127_levels_is_refused_and_the_lists_still_answer(
    api: Api,
) -> None:
    response = api.post(
        "/v1/buckets", json={"bucket_name": "deep", "bucket_schema": nested_schema(127)}
    )

    assert response.status_code == 422, response.text[:500]
    problem = response.json()["error"]["details"]["validation_errors"][0]
    assert problem["type"] == "json_too_deep"
    assert problem["location"] == ["body", "bucket_schema"]
    listed = api.get("/v1/buckets")
    assert listed.status_code == 200
    assert listed.json()["total_count"] == 0
    assert api.get("/v1/buckets/deep").status_code == 404


def test_a_bucket_schema_within_the_depth_limit_round_trips(api: Api) -> None:
    # Each schema level is two JSON levels (an object field and its properties).
    schema = nested_schema(14)
    bucket = api.ok("POST", "/v1/buckets", json={"bucket_name": "deep", "bucket_schema": schema})

    assert bucket["bucket_schema"]["properties"]["root"]["properties"]["child"]["type"] == "object"
    assert api.get("/v1/buckets").status_code == 200


def test_a_metadata_filter_value_of_300_nested_arrays_is_refused_and_the_list_still_answers(
    api: Api, sync: dict[str, Any]
) -> None:
    syncs = f"/v1/buckets/{sync['bucket_id']}/syncs"
    response = api.post(
        syncs,
        json={
            "connection_id": sync["connection_id"],
            "source_path": "in",
            "file_filters": {"metadata_filters": [{"field": "f", "value": nested_arrays(300)}]},
        },
    )

    assert response.status_code == 422, response.text[:500]
    problem = response.json()["error"]["details"]["validation_errors"][0]
    assert problem["type"] == "json_too_deep"
    assert problem["location"] == ["body", "file_filters", "metadata_filters", "0", "value"]
    listed = api.post(f"{syncs}/list")
    assert listed.status_code == 200
    assert [item["sync_config_id"] for item in listed.json()["results"]] == [sync["sync_config_id"]]


# Every free-form value a request may carry: (route, field path, the body around it).
FREEFORM = {
    "sync metadata": ("POST", "syncs", ("metadata",)),
    "sync schema_mapping": ("POST", "syncs", ("schema_mapping",)),
    "sync provider_filters": ("POST", "syncs", ("provider_filters",)),
    "sync PATCH metadata": ("PATCH", "sync", ("metadata",)),
    "sync PATCH provider_filters": ("PATCH", "sync", ("provider_filters",)),
    "bucket metadata": ("POST", "buckets", ("metadata",)),
    "bucket destination": ("POST", "buckets", ("destination",)),
    "bucket schema field default": (
        "POST",
        "buckets",
        ("bucket_schema", "properties", "f", "default"),
    ),
    "bucket schema": ("POST", "buckets", ("bucket_schema", "properties", "f", "settings")),
    "namespace infrastructure": ("POST", "namespaces", ("infrastructure",)),
    "namespace feature extractor settings": (
        "POST",
        "namespaces",
        ("feature_extractors", 0, "params"),
    ),
    "connection provider_config": ("POST", "connections", ("provider_config", "extra")),
    "connection metadata": ("POST", "connections", ("metadata",)),
}


def _body_for(kind: str, sync: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    if kind == "syncs":
        path = f"/v1/buckets/{sync['bucket_id']}/syncs"
        return "POST", path, {"connection_id": sync["connection_id"], "source_path": "in"}
    if kind == "sync":
        return "PATCH", f"/v1/buckets/{sync['bucket_id']}/syncs/{sync['sync_config_id']}", {}
    if kind == "buckets":
        schema = {"properties": {"f": {"type": "json"}}}
        return "POST", "/v1/buckets", {"bucket_name": "b1", "bucket_schema": schema}
    if kind == "namespaces":
        extractor = {"feature_extractor_name": "text", "version": "v1"}
        return (
            "POST",
            "/v1/namespaces",
            {"namespace_name": "ns1", "feature_extractors": [extractor]},
        )
    return (
        "POST",
        "/v1/organizations/connections",
        {
            "name": "c1",
            "provider_type": "snowflake",
            "provider_config": {"account": "a"},
            "test_before_save": False,
        },
    )


def _place(body: dict[str, Any], where: tuple[Any, ...], value: Any) -> dict[str, Any]:
    target: Any = body
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    return body


@pytest.mark.parametrize("case", FREEFORM)
@pytest.mark.parametrize(
    ("label", "value", "error_type"),
    [
        ("nested 40 levels", {"a": nested_arrays(40)}, "json_too_deep"),
        ("over 16 KiB", {"text": "x" * MAX_VALUE_BYTES}, "json_too_large"),
    ],
)
def test_every_free_form_value_is_bounded(
    api: Api, sync: dict[str, Any], case: str, label: str, value: Any, error_type: str
) -> None:
    _, kind, where = FREEFORM[case]
    method, path, body = _body_for(kind, sync)
    before = {
        "syncs": api.post(f"/v1/buckets/{sync['bucket_id']}/syncs/list").json()["results"],
        "buckets": api.get("/v1/buckets").json()["results"],
        "namespaces": api.get("/v1/namespaces").json()["results"],
        "connections": api.get("/v1/organizations/connections").json()["results"],
    }

    response = api.request(method, path, json=_place(body, where, value))

    assert response.status_code == 422, response.text[:500]
    problems = response.json()["error"]["details"]["validation_errors"]
    assert error_type in {problem["type"] for problem in problems}
    assert before == {
        "syncs": api.post(f"/v1/buckets/{sync['bucket_id']}/syncs/list").json()["results"],
        "buckets": api.get("/v1/buckets").json()["results"],
        "namespaces": api.get("/v1/namespaces").json()["results"],
        "connections": api.get("/v1/organizations/connections").json()["results"],
    }


# --- records at the limits ----------------------------------------------------------------------


def _value_of(size: int) -> dict[str, str]:
    """A JSON object taking exactly ``size`` bytes as compact JSON."""
    return {"v": "x" * (size - len('{"v":""}'))}


def test_a_value_at_the_limit_round_trips(api: Api, sync: dict[str, Any]) -> None:
    value = _value_of(MAX_VALUE_BYTES)

    patched = api.ok("PATCH", api.sync_path(sync), json={"metadata": value})

    assert patched["metadata"] == value
    assert api.ok("GET", api.sync_path(sync))["metadata"] == value


def _limits_body(sync: dict[str, Any]) -> dict[str, Any]:
    """A sync with each list at its largest (short items, so the record fits)."""
    return {
        "connection_id": sync["connection_id"],
        "source_path": "s" * 2048,
        "description": "d" * 500,
        "batch_collection_ids": [f"col_{i}" for i in range(100)],
        "file_filters": {
            "include_patterns": [f"*.{i}" for i in range(100)],
            "exclude_patterns": [f"tmp/{i}" for i in range(100)],
            "mime_types": [f"video/{i}" for i in range(100)],
            "metadata_filters": [{"field": f"f{i}", "value": i} for i in range(50)],
        },
        "reconcile": {"re_extract_fields": [f"f{i}" for i in range(100)]},
        "metadata": {f"k{i}": i for i in range(50)},
    }


def test_a_sync_with_every_list_at_its_limit_round_trips(api: Api, sync: dict[str, Any]) -> None:
    created = api.ok("POST", f"/v1/buckets/{sync['bucket_id']}/syncs", json=_limits_body(sync))

    assert len(created["file_filters"]["metadata_filters"]) == 50
    assert api.ok("GET", api.sync_path(created)) == created


@pytest.mark.parametrize(
    ("where", "items"),
    [
        (("batch_collection_ids",), 101),
        (("file_filters", "include_patterns"), 101),
        (("file_filters", "exclude_patterns"), 101),
        (("file_filters", "mime_types"), 101),
        (("file_filters", "metadata_filters"), 51),
        (("reconcile", "re_extract_fields"), 101),
    ],
)
def test_one_item_past_a_list_limit_is_a_422_naming_the_list(
    api: Api, sync: dict[str, Any], where: tuple[str, ...], items: int
) -> None:
    body = _limits_body(sync)
    item = {"field": "f"} if where[-1] == "metadata_filters" else "x"
    response = api.post(
        f"/v1/buckets/{sync['bucket_id']}/syncs", json=_place(body, where, [item] * items)
    )

    assert response.status_code == 422
    problem = response.json()["error"]["details"]["validation_errors"][0]
    assert problem["type"] == "too_long"
    assert problem["location"] == ["body", *where]


def test_a_record_over_32_kib_is_refused_and_nothing_is_stored(
    api: Api, sync: dict[str, Any]
) -> None:
    syncs = f"/v1/buckets/{sync['bucket_id']}/syncs"
    # Three values each within the 16 KiB limit; together over the record's 32 KiB.
    big = _value_of(MAX_VALUE_BYTES - 100)
    body = {
        "connection_id": sync["connection_id"],
        "source_path": "in",
        "metadata": big,
        "schema_mapping": big,
        "provider_filters": big,
    }

    response = api.post(syncs, json=body)

    assert response.status_code == 422
    problem = response.json()["error"]["details"]["validation_errors"][0]
    assert problem["type"] == "record_too_large"
    assert api.post(f"{syncs}/list").json()["total"] == 1


def test_a_patch_taking_a_record_over_32_kib_changes_nothing(
    api: Api, sync: dict[str, Any]
) -> None:
    big = _value_of(MAX_VALUE_BYTES - 100)
    api.ok("PATCH", api.sync_path(sync), json={"metadata": big})
    before = api.ok("GET", api.sync_path(sync))

    response = api.patch(api.sync_path(sync), json={"schema_mapping": big, "provider_filters": big})

    assert response.status_code == 422
    assert response.json()["error"]["details"]["validation_errors"][0]["type"] == (
        "record_too_large"
    )
    assert api.ok("GET", api.sync_path(sync)) == before  # updated_at included


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/buckets", {"bucket_name": "b1", "bucket_schema": {"properties": {}}}),
        ("/v1/namespaces", {"namespace_name": "ns1"}),
    ],
)
def test_a_bucket_or_namespace_over_32_kib_is_refused_and_nothing_is_stored(
    api: Api, path: str, body: dict[str, Any]
) -> None:
    big = _value_of(MAX_VALUE_BYTES - 100)
    extra = (
        {"metadata": big, "destination": big, "source_adapter": big}
        if path == "/v1/buckets"
        else {"infrastructure": big, "tiering": big, "spend_budget": big}
    )
    before = api.get(path).json()["results"]

    response = api.post(path, json={**body, **extra})

    assert response.status_code == 422
    assert response.json()["error"]["details"]["validation_errors"][0]["type"] == (
        "record_too_large"
    )
    assert api.get(path).json()["results"] == before


def test_a_page_of_1000_of_the_largest_records_stays_under_33_mib(
    api: Api, sync: dict[str, Any]
) -> None:
    syncs = f"/v1/buckets/{sync['bucket_id']}/syncs"
    # Fill a record to within a few bytes of the limit: 16 KiB of metadata, and as much
    # schema_mapping as is left (it replaces a `null`).
    metadata = _value_of(MAX_VALUE_BYTES)
    probe = api.ok("PATCH", api.sync_path(sync), json={"metadata": metadata})
    left = MAX_RECORD_BYTES - len(json.dumps(probe, separators=(",", ":"))) + len("null")
    body = {
        "connection_id": sync["connection_id"],
        "source_path": "in",
        "metadata": metadata,
        "schema_mapping": _value_of(left - 20),
    }
    first = api.ok("POST", syncs, json=body)
    assert (
        MAX_RECORD_BYTES - 100 < len(json.dumps(first, separators=(",", ":"))) <= (MAX_RECORD_BYTES)
    )
    for _ in range(998):
        api.ok("POST", syncs, json=body)

    started = time.perf_counter()
    page = api.post(f"{syncs}/list", params={"page_size": 1000})
    elapsed = time.perf_counter() - started

    assert page.status_code == 200
    assert len(page.json()["results"]) == 1000
    assert len(page.content) < 33 * 1024 * 1024
    assert elapsed < 5, elapsed


def _densest_sync(connection_id: str, values: int, index: int) -> dict[str, Any]:
    """A sync whose 50 metadata filters hold ``values`` empty arrays in all: the densest JSON a
    record may hold, the costliest to decode, check and encode per byte."""
    share, extra = divmod(values, 50)
    return {
        "connection_id": connection_id,
        "source_path": f"dense/{index:04d}",
        "file_filters": {
            "metadata_filters": [
                {"field": "k", "value": [[]] * (share + (number < extra))} for number in range(50)
            ]
        },
    }


def _seed_the_largest_page(http: httpx2.Client, database: Path) -> str:
    """1000 syncs in one bucket, each as dense and as near 32 KiB as the server accepts; the
    path that lists them.

    The first is created through the API (the server decides what it accepts); the others are
    copies of it under new ids, written into the database file: 1000 creates of such records
    over HTTP would take most of a minute.
    """
    headers = {"X-Namespace": "default"}
    bucket = http.post(
        "/v1/buckets",
        json={"bucket_name": "dense", "bucket_schema": {"properties": {}}},
        headers=headers,
    )
    bucket_id = bucket.json()["bucket_id"]
    connection = http.post("/v1/organizations/connections", json=s3_connection_body("dense"))
    connection_id = connection.json()["connection_id"]
    syncs = f"/v1/buckets/{bucket_id}/syncs"
    low, high = 0, MAX_RECORD_BYTES // 3  # each empty array takes three bytes, "[],"
    while low < high:
        middle = (low + high + 1) // 2
        response = http.post(syncs, json=_densest_sync(connection_id, middle, 0), headers=headers)
        if response.status_code == 200:
            low = middle
            http.delete(f"{syncs}/{response.json()['sync_config_id']}", headers=headers)
        else:
            assert response.status_code == 422, response.text[:300]
            high = middle - 1
    first = http.post(syncs, json=_densest_sync(connection_id, low, 0), headers=headers)
    assert MAX_RECORD_BYTES - 3 <= len(first.content) <= MAX_RECORD_BYTES
    with contextlib.closing(sqlite3.connect(database, isolation_level=None)) as db:
        row = db.execute(
            "SELECT * FROM sync_config WHERE sync_config_id = ?",
            (first.json()["sync_config_id"],),
        )
        names = [column[0] for column in row.description]
        values = row.fetchone()
        marks = ", ".join("?" for _ in names)
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            f"INSERT INTO sync_config ({', '.join(names)}) VALUES ({marks})",
            [(f"sync_copy{index:04d}", *values[1:]) for index in range(1, 1000)],
        )
        db.execute("COMMIT")
    return f"{syncs}/list"


def test_health_answers_promptly_while_a_page_of_the_largest_records_is_served(
    tmp_path: Path,
) -> None:
    """One client lists 1000 of the largest records a page in a loop; another's health checks
    keep answering in milliseconds, not after the page (seconds of work) is done."""
    with ServerProcess(tmp_path / "mock.db") as server:
        auth = {"Authorization": f"Bearer {API_KEY}"}
        with httpx2.Client(base_url=server.url, headers=auth, timeout=60) as http:
            list_path = _seed_the_largest_page(http, server.database_path)

        pages: list[tuple[int, int, float]] = []
        stop = threading.Event()

        def list_pages() -> None:
            headers = {**auth, "X-Namespace": "default"}
            with httpx2.Client(base_url=server.url, headers=headers, timeout=60) as lister:
                while not stop.is_set():
                    started = time.perf_counter()
                    page = lister.post(list_path, params={"page_size": 1000})
                    # Counted, not parsed: parsing 32 MB here would hold this process's GIL
                    # and delay the health timings below.
                    count = page.content.count(b'"sync_config_id":')
                    pages.append((page.status_code, count, time.perf_counter() - started))

        lister = threading.Thread(target=list_pages, daemon=True)
        lister.start()
        waits: list[float] = []
        try:
            with httpx2.Client(base_url=server.url, timeout=60) as health:
                deadline = time.monotonic() + 60
                while len(pages) < 2 and time.monotonic() < deadline:
                    started = time.perf_counter()
                    assert health.get("/v1/health").status_code == 200
                    waits.append(time.perf_counter() - started)
                    time.sleep(0.005)
        finally:
            stop.set()
            lister.join(60)

    assert pages[:2] == [(200, 1000, pages[0][2]), (200, 1000, pages[1][2])], pages
    p99 = statistics.quantiles(waits, n=100, method="inclusive")[98]
    # The page takes ~1.7 s here, and health waited for all of it (~11 s before the pages were
    # served cooperatively); now milliseconds (bench/isolation.py holds it to 50 ms on a quiet
    # machine; this bound leaves room for a test run that keeps both cores busy).
    assert p99 < 0.25, (p99, max(waits), pages)
    assert len(waits) >= 50, (len(waits), pages)


# --- pagination -----------------------------------------------------------------------------------

LIST_ROUTES = [
    ("GET", "/v1/buckets"),
    ("POST", "/v1/buckets/list"),
    ("GET", "/v1/namespaces"),
    ("GET", "/v1/organizations/connections"),
    ("POST", "/v1/buckets/{bucket}/syncs/list"),
]


@pytest.mark.parametrize(("method", "path"), LIST_ROUTES)
def test_page_times_page_size_obeys_the_offset_bound(
    api: Api, sync: dict[str, Any], method: str, path: str
) -> None:
    path = path.format(bucket=sync["bucket_id"])

    refused = api.request(method, path, params={"page": 10_001, "page_size": 1000})
    just_past = api.request(method, path, params={"page": 12, "page_size": 1000})
    last = api.request(method, path, params={"page": 11, "page_size": 1000})
    one_by_one = api.request(method, path, params={"page": 10_001, "page_size": 1})

    for response in (refused, just_past):
        assert response.status_code == 422, response.text
        problem = response.json()["error"]["details"]["validation_errors"][0]
        assert problem["location"] == ["query", "page"]
    for response in (last, one_by_one):
        assert response.status_code == 200, response.text
        assert response.json()["results"] == []


def test_the_bucket_list_body_obeys_the_offset_bound(api: Api) -> None:
    assert api.post("/v1/buckets/list", json={"offset": 10_001}).status_code == 422
    assert api.post("/v1/buckets/list", json={"offset": 10_000}).status_code == 200
    # The body's limit with the query's page: the page still may not start past row 10 000.
    response = api.post(
        "/v1/buckets/list", params={"page": 10_001, "page_size": 2}, json={"limit": 1}
    )
    assert response.status_code == 422
