"""ETag, If-Match and Idempotency-Key (CONTRACT.md D33).

Every answer carrying one record has a strong ETag that changes when the record does; a PATCH
or DELETE whose If-Match no longer matches is a 412 that changes nothing; a create sent again
with its Idempotency-Key answers the first answer again, byte for byte, and creates nothing.
"""

import importlib
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2
import pytest
from starlette.testclient import TestClient

from app.buckets import service as buckets
from app.db.database import Database
from app.idempotency import IdempotentCreate, ReplayedAnswer
from tests.conftest import ADMIN_HEADERS, API_KEY, Api, s3_connection_body
from tests.s3 import S3Store
from tests.server_process import ServerProcess

STRONG_TAG = re.compile(r'^"[0-9a-f]{32}"$')
KEY = "Idempotency-Key"


def tag(response: Any) -> str:
    value: str = response.headers["etag"]
    assert STRONG_TAG.match(value), value
    return value


def assert_precondition_failed(response: Any) -> None:
    assert response.status_code == 412, response.text
    body = response.json()
    assert body["success"] is False
    assert body["status"] == 412
    assert body["error"]["type"] == "PreconditionFailedError"


def bucket_body(name: str = "videos") -> dict[str, Any]:
    return {"bucket_name": name, "bucket_schema": {"properties": {"video": {"type": "video"}}}}


# -- ETag ------------------------------------------------------------------------------------


def test_a_sync_s_etag_is_stable_on_read_and_changes_with_every_write(
    api: Api, sync: dict[str, Any]
) -> None:
    path = api.sync_path(sync)
    first = api.get(path)
    assert tag(first) == tag(api.get(path))
    assert tag(api.request("HEAD", path)) == tag(first)

    patched = api.patch(path, json={"description": "changed"})
    assert patched.status_code == 200
    assert tag(patched) != tag(first)
    assert tag(api.get(path)) == tag(patched)

    paused = api.post(f"{path}/pause")
    assert tag(paused) not in (tag(first), tag(patched))
    resumed = api.post(f"{path}/resume")
    assert tag(resumed) != tag(paused)
    assert tag(api.get(path)) == tag(resumed)


def test_a_create_answers_the_tag_a_read_of_the_new_record_answers(api: Api) -> None:
    created = api.post("/v1/buckets", json=bucket_body())
    assert tag(created) == tag(api.get(f"/v1/buckets/{created.json()['bucket_id']}"))
    connection = api.post("/v1/organizations/connections", json=s3_connection_body("minio"))
    path = f"/v1/organizations/connections/{connection.json()['connection_id']}"
    assert tag(connection) == tag(api.get(path))
    namespace = api.post("/v1/namespaces", json={"namespace_name": "media"})
    assert tag(namespace) == tag(api.get(f"/v1/namespaces/{namespace.json()['namespace_id']}"))
    sync = api.post(
        f"/v1/buckets/{created.json()['bucket_id']}/syncs",
        json={"connection_id": "minio", "source_path": "media/in"},
    )
    assert tag(sync) == tag(api.get(api.sync_path(sync.json())))


def test_lists_and_action_answers_without_a_record_carry_no_etag(
    api: Api, sync: dict[str, Any]
) -> None:
    path = api.sync_path(sync)
    assert "etag" not in api.post(f"/v1/buckets/{sync['bucket_id']}/syncs/list").headers
    assert "etag" not in api.get("/v1/buckets").headers
    assert "etag" not in api.post(f"{path}/unlock").headers


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_read_naming_the_current_tag_in_if_none_match_is_a_304_without_a_body(
    api: Api, sync: dict[str, Any], method: str
) -> None:
    for path in (api.sync_path(sync), f"/v1/buckets/{sync['bucket_id']}"):
        current = tag(api.get(path))
        for value in (current, f"W/{current}", f'"0000", {current}', "*"):
            response = api.request(method, path, headers={"If-None-Match": value})
            assert response.status_code == 304, (path, value)
            assert response.content == b""
            assert response.headers["etag"] == current
        stale = api.request(method, path, headers={"If-None-Match": '"0000"'})
        assert stale.status_code == 200
        assert tag(stale) == current


def test_if_none_match_changes_no_write(api: Api, sync: dict[str, Any]) -> None:
    path = api.sync_path(sync)
    current = tag(api.get(path))
    response = api.patch(path, json={"batch_size": 9}, headers={"If-None-Match": current})
    assert response.status_code == 200
    assert response.json()["batch_size"] == 9


# -- If-Match on PATCH (the hot path) --------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [{"description": "late"}, {"is_active": False}],
    ids=["plain field", "schedule field"],
)
def test_a_patch_with_a_stale_if_match_is_a_412_and_changes_nothing(
    api: Api, sync: dict[str, Any], body: dict[str, Any]
) -> None:
    path = api.sync_path(sync)
    stale = tag(api.get(path))
    current = api.patch(path, json={"batch_size": 10})
    before = api.get(path)

    assert_precondition_failed(api.patch(path, json=body, headers={"If-Match": stale}))

    after = api.get(path)
    assert after.content == before.content
    assert tag(after) == tag(current)


def test_a_patch_with_the_current_tag_or_star_applies(api: Api, sync: dict[str, Any]) -> None:
    path = api.sync_path(sync)
    current = tag(api.get(path))
    first = api.patch(path, json={"description": "one"}, headers={"If-Match": current})
    assert first.status_code == 200, first.text
    assert first.json()["description"] == "one"

    # One of a list matches; several header lines are one list.
    listed = api.patch(
        path, json={"batch_size": 7}, headers={"If-Match": f'"0000", {tag(first)}, "ffff"'}
    )
    assert listed.status_code == 200, listed.text
    lines = api.client.patch(
        path,
        content=b'{"batch_size": 8}',
        headers=[
            ("Authorization", f"Bearer {API_KEY}"),
            ("X-Namespace", "default"),
            ("Content-Type", "application/json"),
            ("If-Match", '"0000"'),
            ("If-Match", tag(listed)),
        ],
    )
    assert lines.status_code == 200, lines.text

    star = api.patch(path, json={"is_active": False}, headers={"If-Match": "*"})
    assert star.status_code == 200, star.text
    assert star.json()["is_active"] is False


@pytest.mark.parametrize(
    "if_match",
    ["W/{current}", "{unquoted}", "", '"*"', '*, "0000"'],
    ids=["weak", "unquoted", "empty", "quoted star", "star in a list"],
)
def test_only_a_strong_match_applies(api: Api, sync: dict[str, Any], if_match: str) -> None:
    """RFC 9110's strong comparison: a weak tag never matches, not even the current one."""
    path = api.sync_path(sync)
    current = tag(api.get(path))
    value = if_match.format(current=current, unquoted=current.strip('"'))
    assert_precondition_failed(api.patch(path, json={"batch_size": 3}, headers={"If-Match": value}))
    assert api.get(path).json()["batch_size"] == sync["batch_size"]


def test_if_match_on_a_record_that_does_not_exist_is_the_usual_404(
    api: Api, sync: dict[str, Any]
) -> None:
    path = f"/v1/buckets/{sync['bucket_id']}/syncs/sync_missing"
    for method in ("PATCH", "DELETE"):
        response = api.request(method, path, json={"batch_size": 3}, headers={"If-Match": "*"})
        assert response.status_code == 404, (method, response.text)


def test_a_bad_body_is_a_422_whatever_if_match_says(api: Api, sync: dict[str, Any]) -> None:
    response = api.patch(
        api.sync_path(sync), json={"batch_size": 0}, headers={"If-Match": '"stale"'}
    )
    assert response.status_code == 422


# -- If-Match on DELETE ----------------------------------------------------------------------


def _sync_record(api: Api) -> tuple[str, str]:
    sync = api.make_sync(api.make_bucket("deletable"), api.make_connection("deletable"))
    return api.sync_path(sync), api.sync_path(sync)


def _bucket_record(api: Api) -> tuple[str, str]:
    bucket = api.make_bucket("deletable")
    return f"/v1/buckets/{bucket['bucket_id']}", "/v1/buckets/deletable"


def _connection_record(api: Api) -> tuple[str, str]:
    connection = api.make_connection("deletable")
    path = f"/v1/organizations/connections/{connection['connection_id']}"
    return path, "/v1/organizations/connections/deletable"


def _namespace_record(api: Api) -> tuple[str, str]:
    namespace = api.make_namespace("deletable")
    return f"/v1/namespaces/{namespace['namespace_id']}", "/v1/namespaces/deletable"


RECORDS: dict[str, Callable[[Api], tuple[str, str]]] = {
    "sync": _sync_record,
    "bucket": _bucket_record,
    "connection": _connection_record,
    "namespace": _namespace_record,
}


@pytest.mark.parametrize("make", RECORDS.values(), ids=RECORDS.keys())
def test_a_delete_with_a_stale_if_match_is_a_412_and_deletes_nothing(
    api: Api, make: Callable[[Api], tuple[str, str]]
) -> None:
    path, by_name = make(api)
    current = api.get(path)

    for stale in ('"0123456789abcdef0123456789abcdef"', f"W/{tag(current)}"):
        assert_precondition_failed(api.delete(by_name, headers={"If-Match": stale}))
        assert api.get(path).content == current.content

    deleted = api.delete(by_name, headers={"If-Match": tag(current)})
    assert deleted.status_code == 200, deleted.text
    assert api.get(path).status_code == 404


@pytest.mark.parametrize("make", RECORDS.values(), ids=RECORDS.keys())
def test_a_delete_with_if_match_star_deletes_what_exists(
    api: Api, make: Callable[[Api], tuple[str, str]]
) -> None:
    path, _ = make(api)
    assert api.delete(path, headers={"If-Match": "*"}).status_code == 200
    assert api.delete(path, headers={"If-Match": "*"}).status_code == 404


def test_a_namespace_s_tag_covers_its_bucket_count(api: Api) -> None:
    """The namespace's tag covers its bucket_count: a bucket added since the read is a change."""
    namespace = api.make_namespace("watched")
    path = f"/v1/namespaces/{namespace['namespace_id']}"
    read = tag(api.get(path))
    api.make_bucket("added", namespace="watched")
    assert_precondition_failed(api.delete(path, headers={"If-Match": read}))
    assert api.get(path).json()["bucket_count"] == 1


# -- Idempotency-Key -------------------------------------------------------------------------


def _create_namespace(api: Api, key: str | None, name: str = "media") -> Any:
    headers = {KEY: key} if key is not None else {}
    return api.post("/v1/namespaces", json={"namespace_name": name}, headers=headers)


def _create_bucket(api: Api, key: str | None, name: str = "videos") -> Any:
    headers = {KEY: key} if key is not None else {}
    return api.post("/v1/buckets", json=bucket_body(name), headers=headers)


def _create_connection(api: Api, key: str | None, name: str = "minio") -> Any:
    headers = {KEY: key} if key is not None else {}
    return api.post("/v1/organizations/connections", json=s3_connection_body(name), headers=headers)


def _create_sync(api: Api, key: str | None, name: str = "media/in") -> Any:
    if api.get("/v1/organizations/connections/src").status_code == 404:
        api.make_connection("src")
    if api.get("/v1/buckets/target").status_code == 404:
        api.make_bucket("target")
    headers = {KEY: key} if key is not None else {}
    return api.post(
        "/v1/buckets/target/syncs",
        json={"connection_id": "src", "source_path": name},
        headers=headers,
    )


CREATES: dict[str, tuple[Callable[..., Any], str, str]] = {
    "namespace": (_create_namespace, "/v1/namespaces/list", "namespace_id"),
    "bucket": (_create_bucket, "/v1/buckets/list", "bucket_id"),
    "connection": (_create_connection, "/v1/organizations/connections/list", "connection_id"),
    "sync": (_create_sync, "/v1/buckets/target/syncs/list", "sync_config_id"),
}


def _ids(api: Api, list_path: str, id_field: str) -> list[str]:
    return [record[id_field] for record in api.ok("POST", list_path)["results"]]


@pytest.mark.parametrize("create", CREATES.values(), ids=CREATES.keys())
def test_a_create_sent_again_with_its_key_replays_the_first_answer_and_creates_nothing(
    api: Api, create: tuple[Callable[..., Any], str, str]
) -> None:
    make, list_path, id_field = create
    first = make(api, "key-1")
    assert first.status_code == 200, first.text
    assert "idempotent-replayed" not in first.headers
    before = _ids(api, list_path, id_field)

    again = make(api, "key-1")

    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["etag"] == first.headers["etag"]
    assert _ids(api, list_path, id_field) == before


@pytest.mark.parametrize("create", CREATES.values(), ids=CREATES.keys())
def test_the_same_key_with_another_body_is_a_422_naming_the_header(
    api: Api, create: tuple[Callable[..., Any], str, str]
) -> None:
    make, list_path, id_field = create
    assert make(api, "key-2").status_code == 200
    before = _ids(api, list_path, id_field)

    response = make(api, "key-2", "another")

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "ValidationError"
    assert "Idempotency-Key" in error["message"]
    assert error["details"]["validation_errors"][0]["location"] == ["header", KEY]
    assert _ids(api, list_path, id_field) == before


def test_the_same_json_value_written_differently_is_the_same_request(api: Api) -> None:
    first = api.post(
        "/v1/buckets",
        content=b'{"bucket_name": "videos", "bucket_schema": {"properties": {}}}',
        headers={KEY: "k", "Content-Type": "application/json"},
    )
    again = api.post(
        "/v1/buckets",
        content=b'{"bucket_schema":{"properties":{}},\n "bucket_name":"videos"}',
        headers={KEY: "k", "Content-Type": "application/json"},
    )
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"


def test_the_same_body_in_another_namespace_is_another_request(api: Api) -> None:
    """Replaying a record of the first namespace would tell the caller a lie."""
    api.make_namespace("second")
    assert _create_bucket(api, "k").status_code == 200
    elsewhere = api.post(
        "/v1/buckets", json=bucket_body(), headers={KEY: "k", "X-Namespace": "second"}
    )
    assert elsewhere.status_code == 422
    assert api.ok("POST", "/v1/buckets/list", headers={"X-Namespace": "second"})["results"] == []


def test_an_error_answer_is_not_stored_so_the_create_can_be_retried(api: Api) -> None:
    api.make_bucket("target")
    missing = api.post(
        "/v1/buckets/target/syncs",
        json={"connection_id": "src", "source_path": "media/in"},
        headers={KEY: "retry"},
    )
    assert missing.status_code == 404
    api.make_connection("src")

    created = api.post(
        "/v1/buckets/target/syncs",
        json={"connection_id": "src", "source_path": "media/in"},
        headers={KEY: "retry"},
    )
    assert created.status_code == 200, created.text
    assert "idempotent-replayed" not in created.headers


def test_a_conflict_is_not_stored_either(api: Api) -> None:
    existing = api.make_bucket("videos")
    assert _create_bucket(api, "conflict").status_code == 409
    api.delete(f"/v1/buckets/{existing['bucket_id']}")
    created = _create_bucket(api, "conflict")
    assert created.status_code == 200
    assert created.json()["bucket_id"] != existing["bucket_id"]


def test_a_key_belongs_to_its_organization(api: Api, other_org: Api) -> None:
    mine = _create_bucket(api, "shared-key")
    theirs = _create_bucket(other_org, "shared-key")
    assert theirs.status_code == 200
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["bucket_id"] != mine.json()["bucket_id"]
    assert theirs.json()["namespace_id"] != mine.json()["namespace_id"]


def test_a_key_belongs_to_its_route(api: Api) -> None:
    namespace = _create_namespace(api, "one-key")
    bucket = _create_bucket(api, "one-key")
    assert namespace.status_code == bucket.status_code == 200
    assert "idempotent-replayed" not in bucket.headers


def test_a_key_expires_after_24_hours_on_the_server_clock(
    api: Api, client: TestClient, database: Database
) -> None:
    first = _create_bucket(api, "day-old", name="first")
    assert _create_bucket(api, "day-old", name="first").headers["idempotent-replayed"] == "true"
    moved = client.post("/_mock/clock", json={"advance_seconds": 90000}, headers=ADMIN_HEADERS)
    assert moved.status_code == 200, moved.text

    # Expired: another body is no longer a conflict, and the key's record is replaced.
    second = _create_bucket(api, "day-old", name="second")
    assert second.status_code == 200, second.text
    assert "idempotent-replayed" not in second.headers
    assert second.json()["bucket_id"] != first.json()["bucket_id"]
    assert _create_bucket(api, "day-old", name="second").content == second.content
    assert database.scalar("SELECT COUNT(*) FROM idempotency_records") == 1


def test_expired_records_are_pruned_by_later_creates(
    api: Api, client: TestClient, database: Database
) -> None:
    for index in range(3):
        assert _create_bucket(api, f"old-{index}", name=f"old{index}").status_code == 200
    client.post("/_mock/clock", json={"advance_seconds": 90000}, headers=ADMIN_HEADERS)
    assert _create_bucket(api, "new", name="new").status_code == 200
    assert database.column("SELECT idempotency_key FROM idempotency_records") == ["new"]


def test_a_reset_forgets_every_key(api: Api, client: TestClient) -> None:
    first = _create_bucket(api, "before-reset")
    assert client.post("/_mock/reset", headers=ADMIN_HEADERS).status_code == 200
    again = _create_bucket(api, "before-reset")
    assert again.status_code == 200
    assert "idempotent-replayed" not in again.headers
    assert again.json()["bucket_id"] != first.json()["bucket_id"]


@pytest.mark.parametrize(
    "value",
    ["", "x" * 256, "tab\there", "caf\u00e9"],
    ids=["empty", "too long", "control character", "not ascii"],
)
def test_a_malformed_key_is_a_422_naming_the_header_and_creates_nothing(
    api: Api, value: str
) -> None:
    response = api.client.post(
        "/v1/buckets",
        json=bucket_body(),
        headers=[
            (b"Authorization", f"Bearer {API_KEY}".encode()),
            (b"X-Namespace", b"default"),
            (KEY.encode(), value.encode("latin-1")),
        ],
    )
    assert response.status_code == 422, response.text
    assert "Idempotency-Key" in response.json()["error"]["message"]
    assert api.ok("POST", "/v1/buckets/list")["results"] == []


def test_the_longest_and_the_oddest_printable_keys_work(api: Api) -> None:
    for key in ("k" * 255, " ~!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}"):
        first = api.post(
            "/v1/namespaces", json={"namespace_name": f"n{len(key)}"}, headers={KEY: key}
        )
        again = api.post(
            "/v1/namespaces", json={"namespace_name": f"n{len(key)}"}, headers={KEY: key}
        )
        assert first.status_code == 200, first.text
        assert again.headers["idempotent-replayed"] == "true"


def test_two_keys_on_one_request_are_a_422(api: Api) -> None:
    response = api.client.post(
        "/v1/buckets",
        json=bucket_body(),
        headers=[
            ("Authorization", f"Bearer {API_KEY}"),
            ("X-Namespace", "default"),
            (KEY, "one"),
            (KEY, "two"),
        ],
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"]["validation_errors"][0]["location"] == [
        "header",
        KEY,
    ]


def test_of_two_racing_creates_with_one_key_the_second_replays_the_first(
    api: Api, database: Database
) -> None:
    """Both passed the early check (no answer stored yet); the write lock orders them, and the
    second finds the first one's answer in its own transaction."""
    row = database.one("SELECT namespace_id, internal_id FROM namespaces")
    assert row is not None
    namespace_id, internal_id = row["namespace_id"], row["internal_id"]
    once = IdempotentCreate(
        internal_id=internal_id, route="POST /v1/buckets", key="race", fingerprint="f"
    )
    fields = bucket_body()
    first = buckets.create_bucket(
        database, internal_id=internal_id, namespace_id=namespace_id, fields=fields, once=once
    )
    with pytest.raises(ReplayedAnswer) as replayed:
        buckets.create_bucket(
            database, internal_id=internal_id, namespace_id=namespace_id, fields=fields, once=once
        )
    assert replayed.value.body == first
    assert len(api.ok("POST", "/v1/buckets/list")["results"]) == 1


# -- racing requests, through a real server ------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # A long storage deadline: the racing connection tests probe a store from several requests
    # at once, on a machine that may be busy, and a probe that times out is a 400.
    with ServerProcess(
        tmp_path_factory.mktemp("server") / "mock.db",
        env={"MIXPEEK_MOCK_STORAGE_TIMEOUT_SECONDS": "20"},
    ) as process:
        yield process


def _race(server: ServerProcess, path: str, body: dict[str, Any], key: str) -> list[Any]:
    """Send the same create with the same key from several threads at once."""
    headers = {"Authorization": f"Bearer {API_KEY}", "X-Namespace": "default", KEY: key}
    barrier = threading.Barrier(RACERS)

    def send(_: int) -> Any:
        barrier.wait()
        return httpx2.post(f"{server.url}{path}", json=body, headers=headers, timeout=30)

    with ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(send, range(RACERS)))


RACERS = 6


@pytest.mark.e2e
def test_racing_creates_with_one_key_create_once_and_all_answer_the_same(
    server: ServerProcess,
) -> None:
    answers = _race(server, "/v1/buckets", bucket_body("raced"), "race-bucket")
    assert [answer.status_code for answer in answers] == [200] * RACERS
    assert len({answer.content for answer in answers}) == 1
    assert sum("idempotent-replayed" not in answer.headers for answer in answers) == 1


@pytest.mark.e2e
def test_racing_connection_creates_that_probe_their_store_create_once(
    server: ServerProcess, s3: S3Store
) -> None:
    """Each request tests the store (awaiting the network) after the early check found nothing;
    the write transactions then find the first one's answer and replay it."""
    body = s3.connection_body("raced", test_before_save=True)
    answers = _race(server, "/v1/organizations/connections", body, "race-connection")
    assert [answer.status_code for answer in answers] == [200] * RACERS, answers[0].text
    assert len({answer.content for answer in answers}) == 1
    assert sum("idempotent-replayed" not in answer.headers for answer in answers) == 1


# -- the SDK, unmodified ---------------------------------------------------------------------


@pytest.mark.e2e
def test_the_sdk_sends_keys_and_preconditions_through_its_own_headers(
    server: ServerProcess,
) -> None:
    mixpeek = importlib.import_module("mixpeek")
    cfg = mixpeek.Configuration(host=server.url, access_token=API_KEY)
    cfg.api_key["NamespaceHeader"] = "default"
    with mixpeek.ApiClient(cfg) as api_client:
        buckets_api = mixpeek.BucketsApi(api_client)
        request = mixpeek.BucketCreateRequest(
            bucket_name="sdk_idempotent",
            bucket_schema=mixpeek.BucketSchemaInput.from_dict(
                {"properties": {"video": {"type": "video"}}}
            ),
        )
        first = buckets_api.create_bucket_with_http_info(request, _headers={KEY: "sdk-1"})
        again = buckets_api.create_bucket_with_http_info(request, _headers={KEY: "sdk-1"})
        assert again.data.bucket_id == first.data.bucket_id
        # (the SDK hands the headers on as uvicorn sent them: lower case)
        assert again.headers["idempotent-replayed"] == "true"

        read = buckets_api.get_bucket_with_http_info(first.data.bucket_id)
        assert read.headers["etag"] == first.headers["etag"]
        # A 304 through a real HTTP server: no body, and no length for one.
        unchanged = httpx2.get(
            f"{server.url}/v1/buckets/{first.data.bucket_id}",
            headers={
                "Authorization": f"Bearer {API_KEY}",
                "X-Namespace": "default",
                "If-None-Match": read.headers["etag"],
            },
        )
        assert unchanged.status_code == 304
        assert unchanged.content == b""
        assert unchanged.headers["etag"] == read.headers["etag"]
        with pytest.raises(mixpeek.exceptions.ApiException) as failed:
            buckets_api.delete_bucket(first.data.bucket_id, _headers={"If-Match": '"stale"'})
        assert failed.value.status == 412
        buckets_api.delete_bucket(first.data.bucket_id, _headers={"If-Match": read.headers["etag"]})
