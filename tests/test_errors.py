"""One error envelope for every non-2xx answer (CONTRACT.md D6, D16).

    {"success": false, "status": N,
     "error": {"type": "...", "message": "...", "code": "..." | null, "details": {...} | null}}

Routing errors, unreadable bodies and crashes answer in it too, always as application/json.
"""

import logging
import re
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from app.errors import MSG_INTERNAL
from app.main import create_app
from app.settings import Settings
from tests.conftest import API_KEY, Api

MAX_BODY = 1024 * 1024


def assert_envelope(response: Any, status: int, type_: str) -> dict[str, Any]:
    """The answer is the D6 envelope with this status and type; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"success", "status", "error"}
    assert body["success"] is False
    assert body["status"] == status
    error = body["error"]
    assert set(error) == {"type", "message", "code", "details"}
    assert error["type"] == type_
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["code"] is None or isinstance(error["code"], str)
    assert error["details"] is None or isinstance(error["details"], dict)
    return body


# --- routing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/v1/no-such-thing", "/v2/buckets", "/index.html", "/v1/buckets/videos/syncs/s/runs"]
)
def test_an_unknown_route_is_404(api: Api, path: str) -> None:
    assert_envelope(api.get(path), 404, "NotFoundError")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/v1/buckets/{bucket_id}/syncs/{sync_config_id}"),
        ("POST", "/v1/buckets/{bucket_id}/syncs/{sync_config_id}"),
        ("PATCH", "/v1/buckets/{bucket_id}"),
        ("PUT", "/v1/namespaces"),
        ("DELETE", "/v1/organizations/connections"),
    ],
)
def test_a_method_a_route_does_not_take_is_405(
    api: Api, sync: dict[str, Any], method: str, path: str
) -> None:
    response = api.request(method, path.format(**sync), json={"batch_size": 10})
    assert_envelope(response, 405, "MethodNotAllowedError")


def test_a_405_says_which_methods_the_route_takes(api: Api, sync: dict[str, Any]) -> None:
    response = api.request("PUT", api.sync_path(sync), json={"batch_size": 10})
    assert_envelope(response, 405, "MethodNotAllowedError")
    allowed = {method.strip() for method in response.headers["allow"].split(",")}
    assert {"GET", "HEAD", "PATCH", "DELETE"} <= allowed
    assert "PUT" not in allowed


def test_a_put_does_not_change_the_sync(api: Api, sync: dict[str, Any]) -> None:
    api.request("PUT", api.sync_path(sync), json={"batch_size": 10})
    assert api.ok("GET", api.sync_path(sync)) == sync


# --- unreadable bodies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "content", [b"{not json", b'{"namespace_name": "abc",}', b'{"namespace_name": ', b"\xff\xfe"]
)
def test_malformed_json_is_a_4xx_in_the_envelope(api: Api, content: bytes) -> None:
    response = api.post(
        "/v1/namespaces", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code in (400, 422), response.text
    type_ = "BadRequestError" if response.status_code == 400 else "ValidationError"
    assert_envelope(response, response.status_code, type_)
    assert api.ok("GET", "/v1/namespaces")["total_count"] == 1  # only "default"


def test_malformed_json_in_a_patch_changes_nothing(api: Api, sync: dict[str, Any]) -> None:
    response = api.patch(
        api.sync_path(sync),
        content=b'{"batch_size": 10',
        headers={"Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500
    assert api.ok("GET", api.sync_path(sync)) == sync


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        None,
    ],
)
def test_a_body_that_is_not_json_is_415(api: Api, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    if content_type is None:
        # A body with no Content-Type at all: there is nothing saying it is JSON.
        response = api.client.post(
            "/v1/namespaces",
            content=b'{"namespace_name": "media"}',
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
    else:
        response = api.post(
            "/v1/namespaces", content=b'{"namespace_name": "media"}', headers=headers
        )
    assert_envelope(response, 415, "UnsupportedMediaTypeError")
    assert api.get("/v1/namespaces/media").status_code == 404


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON"]
)
def test_json_content_types_are_accepted(api: Api, content_type: str) -> None:
    response = api.post(
        "/v1/namespaces",
        content=b'{"namespace_name": "media"}',
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 200, response.text


def test_a_body_over_one_mebibyte_is_413(api: Api) -> None:
    body = b'{"namespace_name": "media", "description": "' + b"x" * MAX_BODY + b'"}'
    response = api.post(
        "/v1/namespaces", content=body, headers={"Content-Type": "application/json"}
    )
    assert_envelope(response, 413, "PayloadTooLargeError")
    assert api.get("/v1/namespaces/media").status_code == 404


def test_a_chunked_body_over_one_mebibyte_is_413(api: Api, sync: dict[str, Any]) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"metadata": {"blob": "'
        for _ in range(17):
            yield b"x" * 65536
        yield b'"}}'

    response = api.patch(
        api.sync_path(sync), content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in {name.lower() for name in response.request.headers}
    assert_envelope(response, 413, "PayloadTooLargeError")
    assert api.ok("GET", api.sync_path(sync)) == sync


def test_a_body_of_exactly_one_mebibyte_is_accepted(api: Api) -> None:
    start = b'{"namespace_name": "media"'
    body = start + b" " * (MAX_BODY - len(start) - 1) + b"}"
    assert len(body) == MAX_BODY
    response = api.post(
        "/v1/namespaces", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "content", [b"[]", b'[{"namespace_name": "media"}]', b'"media"', b"42", b"null", b"true"]
)
def test_a_body_that_is_not_an_object_is_422(api: Api, content: bytes) -> None:
    response = api.post(
        "/v1/namespaces", content=content, headers={"Content-Type": "application/json"}
    )
    body = assert_envelope(response, 422, "ValidationError")
    assert body["error"]["details"]["validation_errors"]


@pytest.mark.parametrize("content", [b"[]", b'"x"', b"7", b"null"])
def test_a_patch_that_is_not_an_object_is_422_and_changes_nothing(
    api: Api, sync: dict[str, Any], content: bytes
) -> None:
    response = api.patch(
        api.sync_path(sync), content=content, headers={"Content-Type": "application/json"}
    )
    assert_envelope(response, 422, "ValidationError")
    assert api.ok("GET", api.sync_path(sync)) == sync


@pytest.mark.parametrize("content", [b"[]", b'"x"', b"7", b"null"])
def test_a_bucket_create_that_is_not_an_object_is_422(api: Api, content: bytes) -> None:
    response = api.post(
        "/v1/buckets", content=content, headers={"Content-Type": "application/json"}
    )
    assert_envelope(response, 422, "ValidationError")


def test_a_422_lists_each_problem_with_its_location(api: Api, sync: dict[str, Any]) -> None:
    response = api.patch(
        api.sync_path(sync), json={"batch_size": 0, "polling_interval_seconds": "soon"}
    )
    body = assert_envelope(response, 422, "ValidationError")
    problems = body["error"]["details"]["validation_errors"]
    assert {tuple(problem["location"]) for problem in problems} == {
        ("body", "batch_size"),
        ("body", "polling_interval_seconds"),
    }
    for problem in problems:
        assert set(problem) == {"type", "location", "message"}
        assert isinstance(problem["type"], str)
        assert isinstance(problem["message"], str)


def test_a_422_does_not_echo_what_was_sent(api: Api) -> None:
    # The offending input may be a credential; the error names the field, not the value.
    secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
    response = api.post(
        "/v1/organizations/connections",
        json={
            "name": "leaky",
            "provider_type": "s3",
            "provider_config": {"credentials": {"type": "access_key", "access_key_id": secret}},
            "test_before_save": False,
        },
    )
    assert_envelope(response, 422, "ValidationError")
    assert secret not in response.text


# --- conflicts -----------------------------------------------------------------------------


def test_a_duplicate_namespace_name_is_409(api: Api) -> None:
    api.make_namespace("media")
    assert_envelope(
        api.post("/v1/namespaces", json={"namespace_name": "media"}), 409, "AlreadyExistsError"
    )


def test_a_duplicate_bucket_name_is_409(api: Api) -> None:
    api.make_bucket("videos")
    response = api.post(
        "/v1/buckets", json={"bucket_name": "videos", "bucket_schema": {"properties": {}}}
    )
    assert_envelope(response, 409, "AlreadyExistsError")


def test_a_duplicate_connection_name_is_409(api: Api) -> None:
    api.make_connection("minio")
    response = api.post(
        "/v1/organizations/connections",
        json={
            "name": "minio",
            "provider_type": "s3",
            "provider_config": {
                "credentials": {
                    "type": "access_key",
                    "access_key_id": "other",
                    "secret_access_key": "other",
                },
            },
            "test_before_save": False,
        },
    )
    assert_envelope(response, 409, "AlreadyExistsError")


# --- crashes -------------------------------------------------------------------------------

SECRET_SQL = "SELECT key_hash FROM api_keys WHERE secret = 'do-not-show'"


@pytest.fixture
def crashing_app(settings: Settings, app: FastAPI) -> FastAPI:
    """The real app with two test-only routes that fail the way bugs do.

    It shares the test's database, which the ``app`` fixture has prepared.
    """
    crashing = create_app(settings)

    @crashing.get("/v1/test-only/crash")
    async def crash() -> None:
        raise RuntimeError("boom: internal detail the client must not see")

    @crashing.get("/v1/test-only/sql-crash")
    async def sql_crash() -> None:
        raise sqlite3.OperationalError(f"near 'FROM': syntax error in {SECRET_SQL}")

    return crashing


@pytest.fixture
def crashing_client(crashing_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(crashing_app, raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize(
    ("path", "hidden"),
    [
        ("/v1/test-only/crash", "boom: internal detail"),
        ("/v1/test-only/sql-crash", SECRET_SQL),
    ],
)
def test_a_crash_is_a_500_in_the_envelope_with_a_request_id(
    crashing_client: TestClient, caplog: pytest.LogCaptureFixture, path: str, hidden: str
) -> None:
    caplog.set_level(logging.ERROR)
    response = crashing_client.get(path, headers={"Authorization": f"Bearer {API_KEY}"})

    body = assert_envelope(response, 500, "InternalServerError")
    assert body["error"]["message"] == MSG_INTERNAL
    for leak in (hidden, "Traceback", 'File "', "RuntimeError", "OperationalError", "SELECT"):
        assert leak not in response.text

    request_id = response.headers["x-request-id"]
    assert re.fullmatch(r"[\w-]{8,}", request_id)
    # The log has the id, and the traceback to go with it.
    logged = [record for record in caplog.records if request_id in record.getMessage()]
    assert logged
    assert any(record.exc_info for record in logged)


def test_each_crash_gets_its_own_request_id(crashing_client: TestClient) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    ids = {
        crashing_client.get("/v1/test-only/crash", headers=headers).headers["x-request-id"]
        for _ in range(3)
    }
    assert len(ids) == 3


def test_the_server_keeps_serving_after_a_crash(crashing_client: TestClient) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}", "X-Namespace": "default"}
    assert crashing_client.get("/v1/test-only/crash", headers=headers).status_code == 500
    assert crashing_client.get("/v1/buckets", headers=headers).status_code == 200
