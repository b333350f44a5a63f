"""The request journal (CONTRACT.md D30): what a test suite reads to verify what its code sent."""

import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.admin.globs import glob_matches
from app.admin.journal import BODY_LIMIT_BYTES
from app.db.database import Database
from app.main import create_app
from app.settings import Settings
from tests.conftest import ADMIN_HEADERS, ADMIN_TOKEN, API_KEY, Api, s3_connection_body


def admin(client: TestClient, method: str, path: str, **kwargs: Any) -> Any:
    return client.request(method, f"/_mock{path}", headers=ADMIN_HEADERS, **kwargs)


def journal(client: TestClient, **params: Any) -> dict[str, Any]:
    response = admin(client, "GET", "/requests", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def count(client: TestClient, **filters: Any) -> int:
    response = admin(client, "POST", "/requests/count", json=filters)
    assert response.status_code == 200, response.text
    return int(response.json()["count"])


def test_every_request_to_v1_is_recorded_newest_first_with_what_was_sent_and_answered(
    api: Api, client: TestClient
) -> None:
    bucket = api.make_bucket("videos")
    api.get("/v1/buckets/videos", params={"namespace": "default"})
    client.get("/v1/buckets")  # refused by the guard: recorded too
    client.get("/v1/health")
    client.get("/openapi.json")
    admin(client, "GET", "/clock")

    page = journal(client)
    assert page["total"] == 3
    refused, read, created = page["results"]
    assert (refused["method"], refused["path"], refused["status"]) == ("GET", "/v1/buckets", 401)
    assert refused["organization_id"] is None
    assert refused["namespace_id"] is None
    assert refused["response_body"]["error"]["type"] == "UnauthorizedError"
    assert read["query"] == "namespace=default"
    assert read["response_body"]["bucket_id"] == bucket["bucket_id"]
    assert read["namespace_id"] == bucket["namespace_id"]
    assert created["method"] == "POST"
    assert created["status"] == 200
    assert created["request_body"]["bucket_name"] == "videos"
    assert created["headers"]["x-namespace"] == "default"
    assert created["organization_id"].startswith("int_")
    assert created["time"].endswith("Z")
    assert created["duration_ms"] >= 0
    assert len({entry["id"] for entry in page["results"]}) == 3


def test_keys_tokens_and_every_credential_field_are_masked(api: Api, client: TestClient) -> None:
    body = s3_connection_body("minio")
    body["provider_config"]["credentials"]["nested"] = {"private": "deep-secret-value"}
    api.post("/v1/organizations/connections", json=body)
    # A key and the admin token where they do not belong: in a body, a query, a header.
    api.post(
        "/v1/buckets",
        params={"note": API_KEY},
        json={"bucket_name": "b1", "bucket_schema": {}, "metadata": {"k": API_KEY}},
    )
    client.get("/v1/buckets", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    client.get("/v1/buckets", headers={"Authorization": f"Bearer {API_KEY}", "X-Api-Key": "x1"})

    text = admin(client, "GET", "/requests").text
    for secret in (API_KEY, ADMIN_TOKEN, "minioadmin", "deep-secret-value", "x1"):
        assert secret not in text
    connection = journal(client, path="/v1/organizations/connections")["results"][0]
    credentials = connection["request_body"]["provider_config"]["credentials"]
    assert credentials == {
        "type": "access_key",
        "access_key_id": "***",
        "secret_access_key": "***",
        "nested": "***",
    }
    assert connection["headers"]["authorization"] == "Bearer ***"
    # What holds no secret is shown as sent.
    assert connection["request_body"]["provider_config"]["endpoint_url"] == "http://127.0.0.1:9000"


def test_filters_by_method_path_glob_status_and_namespace_by_id_or_name(
    api: Api, client: TestClient
) -> None:
    other = api.make_namespace("other")
    sync = api.make_sync(api.make_bucket("videos"), api.make_connection())
    api.patch(api.sync_path(sync), json={"description": "x"})
    api.get(api.sync_path(sync))
    api.get("/v1/buckets/videos", headers={"X-Namespace": "other"})  # 404 in "other"
    sync_glob = "/v1/buckets/*/syncs/*"

    assert count(client, method="patch") == 1
    assert count(client, path=sync_glob) == 2
    assert count(client, path="/v1/buckets/*") == 1  # '*' stays within one segment
    assert count(client, path="/v1/**/syncs/*") == 2  # '**' crosses them
    assert count(client, path="/v1/**") == count(client)
    assert count(client, status=404) == 1
    assert count(client, namespace="other") == 1
    assert count(client, namespace=other["namespace_id"]) == 1
    assert count(client, namespace="default") == count(client, namespace=sync["namespace_id"]) == 4
    assert count(client, namespace="nowhere") == 0
    assert count(client, method="GET", path=sync_glob, status=200) == 1
    # The read takes the same filters, as query parameters.
    page = journal(client, method="GET", path=sync_glob, namespace="default")
    assert [entry["method"] for entry in page["results"]] == ["GET"]


def test_limit_bounds_the_page_and_total_counts_every_match(api: Api, client: TestClient) -> None:
    for _ in range(5):
        api.get("/v1/namespaces/nothing")
    page = journal(client, limit=2)
    assert page["total"] == 5
    assert len(page["results"]) == 2
    assert page["results"][0]["id"] != page["results"][1]["id"]


def test_since_is_inclusive_on_the_servers_clock(api: Api, client: TestClient) -> None:
    admin(client, "POST", "/clock", json={"freeze": True, "set": "2030-01-01T00:00:00Z"})
    api.get("/v1/namespaces/a")
    admin(client, "POST", "/clock", json={"advance_seconds": 60})
    api.get("/v1/namespaces/b")

    first, second = reversed(journal(client)["results"])
    assert first["time"] == "2030-01-01T00:00:00Z"
    assert count(client, since="2030-01-01T00:00:00Z") == 2
    assert count(client, since="2030-01-01T00:01:00Z") == 1
    assert count(client, since="2030-01-01T01:01:00+01:00") == 1
    assert journal(client, since="2030-01-01T00:00:01Z")["results"][0]["id"] == second["id"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"method": "FETCH"}, "method"),
        ({"status": "abc"}, "status"),
        ({"status": 99}, "status"),
        ({"since": "yesterday"}, "since"),
        ({"since": "1"}, "since"),
        ({"since": 1700000000}, "since"),
        ({"since": "2030-01-01T00:00:00"}, "since"),  # no offset: ambiguous
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"path": "x" * 2000}, "path"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_malformed_filters_are_a_422_naming_the_field(
    client: TestClient, params: dict[str, Any], field: str
) -> None:
    for response in (
        admin(client, "GET", "/requests", params=params),
        admin(client, "POST", "/requests/count", json=params),
    ):
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["type"] == "ValidationError"
        assert [item["location"][-1] for item in error["details"]["validation_errors"]] == [field]


@pytest.mark.parametrize(
    "glob",
    [
        "/v1/" + "**a" * 300 + "X",
        "/v1/" + "*a" * 500 + "X",
        "**/" * 341,
        "/v1" + "/**/a" * 200 + "X",
    ],
)
def test_a_glob_full_of_wildcards_is_matched_in_bounded_time(
    api: Api, client: TestClient, glob: str
) -> None:
    """A backtracking regex took minutes (exponential in the wildcards) for ``**a`` ten
    times against a path of 200 ``a``: the journal's filter, and a fault rule on every /v1
    request, held the event loop that long."""
    for path in ("a" * 2000, "a/" * 1000):
        for _ in range(10):
            api.get(f"/v1/buckets/{path}")
    started = time.perf_counter()
    counted = count(client, path=glob)
    page = journal(client, path=glob, limit=1)
    assert time.perf_counter() - started < 5
    assert counted == page["total"]
    assert counted in (0, 10, 20)


@pytest.mark.parametrize(
    ("glob", "path", "matches"),
    [
        ("/v1/**/syncs", "/v1/syncs", True),
        ("/v1/**/syncs", "/v1/buckets/b/syncs", True),
        ("/v1/**/syncs", "/v1//syncs", True),
        ("/v1/**/syncs", "/v1/buckets/syncsx", False),
        ("/v1/*/syncs", "/v1/b/c/syncs", False),
        ("/v1/*", "/v1/", True),
        ("/v1/b*s", "/v1/buckets", True),
        ("/v1/b*s", "/v1/b/s", False),
        ("/v1/b**s", "/v1/b/s", True),
        ("/v1/****", "/v1/a/b", True),
        ("/v1/.*", "/v1/ab", False),
        ("/v1/[ab]", "/v1/a", False),
        ("/v1/[ab]", "/v1/[ab]", True),
        ("/v1/**", "/v1", False),
    ],
)
def test_glob_semantics(glob: str, path: str, matches: bool) -> None:
    assert glob_matches(glob, path) is matches


def test_delete_clears_the_journal_and_a_reset_does_too(api: Api, client: TestClient) -> None:
    api.get("/v1/namespaces/a")
    assert admin(client, "DELETE", "/requests").json() == {"success": True}
    assert journal(client) == {"results": [], "total": 0}
    api.get("/v1/namespaces/a")
    admin(client, "POST", "/reset")
    assert count(client) == 0


def test_the_journal_keeps_the_last_n_requests(settings: Settings) -> None:
    small = settings.model_copy(update={"journal_size": 3})
    with TestClient(create_app(small)) as client:
        api = Api(client, API_KEY)
        for name in "abcde":
            api.get(f"/v1/namespaces/{name}")
        paths = [entry["path"] for entry in journal(client)["results"]]
        assert paths == ["/v1/namespaces/e", "/v1/namespaces/d", "/v1/namespaces/c"]


def test_a_journal_size_of_zero_records_nothing(settings: Settings) -> None:
    off = settings.model_copy(update={"journal_size": 0})
    with TestClient(create_app(off)) as client:
        Api(client, API_KEY).get("/v1/namespaces/a")
        assert journal(client) == {"results": [], "total": 0}


def test_long_bodies_are_cut_said_so_and_still_masked(api: Api, client: TestClient) -> None:
    body = s3_connection_body("big")
    body["provider_config"]["credentials"]["secret_access_key"] = "long-secret-value"
    body["provider_config"]["padding"] = "p" * (2 * BODY_LIMIT_BYTES)
    api.post("/v1/organizations/connections", json=body)  # 422: padding is no S3 field
    # A page of many namespaces: a long response.
    for index in range(40):
        api.make_namespace(f"namespace-with-a-long-name-{index:03d}")
    api.post("/v1/namespaces/list", json={}, params={"page_size": 100})

    entries = journal(client)["results"]
    listed = entries[0]
    assert listed["response_body_truncated"] is True
    assert isinstance(listed["response_body"], str)
    assert len(listed["response_body"].encode()) <= BODY_LIMIT_BYTES
    sent = entries[-1]
    assert sent["request_body_truncated"] is True
    assert "long-secret-value" not in sent["request_body"]
    assert len(sent["request_body"].encode()) <= BODY_LIMIT_BYTES
    assert "long-secret-value" not in admin(client, "GET", "/requests").text


def test_a_body_that_is_not_json_is_shown_as_text(client: TestClient) -> None:
    client.post(
        "/v1/buckets",
        content=b"bucket_name=x&key=sk_live_abcdefgh",
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "text/plain"},
    )
    entry = journal(client)["results"][0]
    assert entry["status"] == 415
    assert entry["request_body"] == "bucket_name=x&key=sk_***"


def test_the_journal_is_behind_the_admin_token(api: Api, client: TestClient) -> None:
    for method, path in [("GET", "/requests"), ("POST", "/requests/count")]:
        response = client.request(method, f"/_mock{path}", headers=api.headers())
        assert response.status_code == 401


def test_the_namespace_a_request_named_is_recorded_even_when_its_bucket_is_missing(
    api: Api, client: TestClient, database: Database
) -> None:
    api.get("/v1/buckets/nothing")
    entry = journal(client)["results"][0]
    assert entry["status"] == 404
    default_id = database.scalar(
        "SELECT namespace_id FROM namespaces WHERE namespace_name = 'default'"
    )
    assert entry["namespace_id"] == default_id


def test_entries_read_as_json(api: Api, client: TestClient, tmp_path: Path) -> None:
    api.get("/v1/namespaces/a")
    (tmp_path / "journal.json").write_text(admin(client, "GET", "/requests").text)
    entry = json.loads((tmp_path / "journal.json").read_text())["results"][0]
    assert set(entry) >= {
        "id",
        "time",
        "method",
        "path",
        "query",
        "status",
        "duration_ms",
        "organization_id",
        "namespace_id",
        "request_body",
        "response_body",
    }
