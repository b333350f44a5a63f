"""List bodies accept what the vendor documents (README, "List bodies"): keys a list schema
does not define are ignored, not refused, and the vendor's own examples work verbatim; the
bound on keys stays.
"""

import json
import time
from typing import Any

import pytest

from tests.conftest import Api

Record = dict[str, Any]

# The vendor's documented examples (reference/mixpeek-api-0.81-slice.openapi.json), verbatim.
SYNC_LIST_EXAMPLES = [
    {"description": "List all configurations (no filters)"},
    {"description": "Find active syncs only", "is_active": True},
    {
        "connection_id": "conn_s3_prod",
        "description": "Find failed syncs for a specific connection",
        "status": "failed",
    },
    {"description": "Find paused syncs", "is_active": False},
]
CONNECTION_LIST_EXAMPLES = [
    {
        "description": "List active Google Drive connections",
        "is_active": True,
        "provider_type": "google_drive",
    },
    {"description": "Find failed connections", "status": "failed"},
    {"description": "List all connections (no filters)"},
]
NAMESPACE_LIST_EXAMPLE = {"description": "test", "search": "default"}


@pytest.fixture
def sync(api: Api) -> Record:
    return api.make_sync(api.make_bucket(), api.make_connection())


def list_paths(sync: Record) -> list[str]:
    bucket = f"/v1/buckets/{sync['bucket_id']}"
    one = f"{bucket}/syncs/{sync['sync_config_id']}"
    return [
        f"{bucket}/syncs/list",
        "/v1/buckets/list",
        "/v1/namespaces/list",
        "/v1/organizations/connections/list",
        f"{one}/jobs",
        f"{one}/dlq",
    ]


@pytest.mark.parametrize("example", SYNC_LIST_EXAMPLES)
def test_the_vendors_sync_list_examples_are_accepted(
    api: Api, sync: Record, example: Record
) -> None:
    body = api.ok("POST", f"/v1/buckets/{sync['bucket_id']}/syncs/list", json=example)

    expected = example.get("is_active", True) and "status" not in example
    assert [s["sync_config_id"] for s in body["results"]] == (
        [sync["sync_config_id"]] if expected else []
    )


@pytest.mark.parametrize("example", CONNECTION_LIST_EXAMPLES)
def test_the_vendors_connection_list_examples_are_accepted(
    api: Api, sync: Record, example: Record
) -> None:
    body = api.ok("POST", "/v1/organizations/connections/list", json=example)

    assert body["total"] == (1 if len(example) == 1 else 0)


def test_every_list_body_ignores_keys_it_does_not_define(api: Api, sync: Record) -> None:
    for path in list_paths(sync):
        plain = api.ok("POST", path, json={})
        extra = api.ok("POST", path, json={"description": "what this asks", "x-trace": [1, {}]})
        assert extra == plain, path
    assert api.ok("POST", "/v1/namespaces/list", json=NAMESPACE_LIST_EXAMPLE)["total_count"] == 1


def test_a_defined_key_is_still_checked(api: Api, sync: Record) -> None:
    path = f"/v1/buckets/{sync['bucket_id']}/syncs/list"
    response = api.post(path, json={"description": "x", "is_active": "yes"})

    assert response.status_code == 422, response.text
    (problem,) = response.json()["error"]["details"]["validation_errors"]
    assert problem["location"] == ["body", "is_active"]


@pytest.mark.parametrize("count", [257, 60_000])
def test_a_list_body_with_too_many_keys_is_refused_cheaply(
    api: Api, sync: Record, count: int
) -> None:
    body = json.dumps({f"k{i}": 0 for i in range(count)})
    for path in list_paths(sync):
        started = time.perf_counter()
        response = api.post(path, content=body, headers={"Content-Type": "application/json"})
        elapsed = time.perf_counter() - started
        assert response.status_code in (413, 422), (path, response.text[:200])
        assert len(response.content) < 4096
        assert elapsed < 1.0, (path, elapsed)


@pytest.mark.parametrize(
    "path",
    ["/v1/buckets", "/v1/namespaces", "/v1/organizations/connections", "/v1/health"],
)
def test_unknown_query_parameters_are_refused_on_the_other_routes(api: Api, path: str) -> None:
    response = api.get(path, params={"pagesize": 5})

    assert response.status_code == 422, response.text
    (problem,) = response.json()["error"]["details"]["validation_errors"]
    assert problem["location"] == ["query", "pagesize"]


def test_the_bucket_list_body_has_the_query_bounds(api: Api) -> None:
    for index in range(3):
        api.make_bucket(f"b{index}")
    body = api.ok("POST", "/v1/buckets/list", json={"limit": 1000, "offset": 1})
    assert len(body["results"]) == 2
    for bad in ({"limit": 1001}, {"offset": 10_001}, {"limit": 0}):
        assert api.post("/v1/buckets/list", json=bad).status_code == 422, bad


@pytest.fixture
def buckets(api: Api) -> list[Record]:
    """Three buckets, oldest first."""
    return [api.make_bucket(name) for name in ("beta", "Alpha", "gamma")]


def names_of(body: Record) -> list[str]:
    return [bucket["bucket_name"] for bucket in body["results"]]


@pytest.mark.parametrize(
    ("request_body", "expected"),
    [
        ({"filters": {"bucket_name": "alpha"}}, ["Alpha"]),
        ({"filters": {"bucket_name": "alpha"}, "case_sensitive": True}, []),
        ({"sort": {"field": "bucket_name", "direction": "asc"}}, ["Alpha", "beta", "gamma"]),
        ({"sort": {"field": "bucket_name", "direction": "desc"}}, ["gamma", "beta", "Alpha"]),
        ({"sort": {"field": "created_at"}}, ["beta", "Alpha", "gamma"]),
        (
            {"sorts": [{"field": "bucket_name"}], "sort": {"field": "created_at"}},
            ["Alpha", "beta", "gamma"],
        ),
        ({"page": 2, "page_size": 2, "sort": {"field": "created_at"}}, ["gamma"]),
    ],
)
def test_bucket_list_filters_and_sort_are_applied(
    api: Api, buckets: list[Record], request_body: Record, expected: list[str]
) -> None:
    assert names_of(api.ok("POST", "/v1/buckets/list", json=request_body)) == expected


def test_a_bucket_filter_by_id(api: Api, buckets: list[Record]) -> None:
    body = api.ok(
        "POST", "/v1/buckets/list", json={"filters": {"bucket_id": buckets[2]["bucket_id"]}}
    )
    assert names_of(body) == ["gamma"]


@pytest.mark.parametrize(
    "request_body",
    [
        {"filters": {"description": "x"}},
        {"filters": {"bucket_name": {"$regex": "^a"}}},
        {"sort": {"field": "object_count"}},
        {"sort": {"field": "bucket_name", "direction": "up"}},
        {"sort": {"field": "bucket_name", "nulls": "last"}},
        {"sorts": [{"field": "size"}]},
    ],
)
def test_bucket_list_filters_and_sort_it_cannot_apply_are_a_422(
    api: Api, buckets: list[Record], request_body: Record
) -> None:
    response = api.post("/v1/buckets/list", json=request_body)

    assert response.status_code == 422, response.text
    (problem, *_) = response.json()["error"]["details"]["validation_errors"]
    assert problem["location"][:2] == ["body", next(iter(request_body))]
