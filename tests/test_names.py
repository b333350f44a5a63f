"""Names a route can reach (README, "Names"): a name that looks like an id is refused, as is
one no URL path can carry; every other name works on every by-name route, percent-encoded."""

from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import Api, s3_connection_body

Record = dict[str, Any]

ID_PREFIXES = ["int", "usr", "sk", "ns", "bkt", "conn", "sync", "job", "dlq", "obj"]
# Names no path segment can carry.
UNROUTABLE = ["a/bc", "/lead", "..", "."]
# Legal names that need percent-encoding, or look odd.
ODD_NAMES = ["my videos", "50% off?", "a#b&c=d", "déjà vu", "bkt-not-an-id", "BKT_upper", "x.."]


def path_of(name: str) -> str:
    return quote(name, safe="")


def creates(api: Api, kind: str, name: str) -> Any:
    if kind == "bucket":
        body = {"bucket_name": name, "bucket_schema": {"properties": {"v": {"type": "video"}}}}
        return api.post("/v1/buckets", json=body)
    if kind == "namespace":
        return api.post("/v1/namespaces", json={"namespace_name": name})
    return api.post("/v1/organizations/connections", json=s3_connection_body(name))


FIELD = {"bucket": "bucket_name", "namespace": "namespace_name", "connection": "name"}
ROUTE = {
    "bucket": "/v1/buckets",
    "namespace": "/v1/namespaces",
    "connection": "/v1/organizations/connections",
}
ID_KEY = {"bucket": "bucket_id", "namespace": "namespace_id", "connection": "connection_id"}


@pytest.mark.parametrize("kind", ["bucket", "namespace", "connection"])
@pytest.mark.parametrize("prefix", ID_PREFIXES)
def test_a_name_carrying_an_id_prefix_is_refused_naming_the_field(
    api: Api, kind: str, prefix: str
) -> None:
    response = creates(api, kind, f"{prefix}_lookalike")

    assert response.status_code == 422, response.text
    (problem,) = response.json()["error"]["details"]["validation_errors"]
    assert problem["location"] == ["body", FIELD[kind]]
    assert problem["type"] == "name_like_id"


@pytest.mark.parametrize("kind", ["bucket", "namespace", "connection"])
@pytest.mark.parametrize("name", UNROUTABLE)
def test_a_name_no_path_can_carry_is_refused(api: Api, kind: str, name: str) -> None:
    response = creates(api, kind, name)  # a namespace name is 3 characters at least anyway

    assert response.status_code == 422, response.text
    (problem,) = response.json()["error"]["details"]["validation_errors"]
    assert problem["location"] == ["body", FIELD[kind]]


@pytest.mark.parametrize("kind", ["bucket", "namespace", "connection"])
@pytest.mark.parametrize("name", ODD_NAMES)
def test_every_legal_name_is_reachable_by_name_on_get_and_delete(
    api: Api, kind: str, name: str
) -> None:
    created = creates(api, kind, name)
    assert created.status_code == 200, created.text
    record = created.json()
    path = f"{ROUTE[kind]}/{path_of(name)}"

    assert api.ok("GET", path)[ID_KEY[kind]] == record[ID_KEY[kind]]
    assert api.ok("DELETE", path)
    assert api.get(path).status_code == 404
    assert api.get(f"{ROUTE[kind]}/{record[ID_KEY[kind]]}").status_code == 404


@pytest.mark.parametrize("name", ODD_NAMES)
def test_sync_routes_take_the_bucket_by_any_legal_name(api: Api, name: str) -> None:
    bucket = api.make_bucket(name)
    connection = api.make_connection("minio store")
    base = f"/v1/buckets/{path_of(name)}/syncs"
    body = {"connection_id": "minio store", "source_path": "media/in"}
    sync = api.ok("POST", base, json=body)
    one = f"{base}/{sync['sync_config_id']}"

    assert sync["bucket_id"] == bucket["bucket_id"]
    assert sync["connection_id"] == connection["connection_id"]
    assert api.ok("POST", f"{base}/list")["total"] == 1
    assert api.ok("GET", one)["sync_config_id"] == sync["sync_config_id"]  # the hot path
    assert api.ok("PATCH", one, json={"batch_size": 7})["batch_size"] == 7  # the hot path
    assert api.ok("POST", f"{one}/pause")
    assert api.ok("DELETE", one)


def test_a_namespace_with_a_space_is_reached_by_header_and_query(api: Api) -> None:
    api.ok("POST", "/v1/namespaces", json={"namespace_name": "my space"})
    bucket = api.make_bucket("inside", namespace="my space")

    by_query = api.client.get(
        f"/v1/buckets/{bucket['bucket_id']}",
        params={"namespace": "my space"},
        headers={"Authorization": f"Bearer {api.key}"},
    )
    assert by_query.status_code == 200, by_query.text
