"""What a user expects around the API: CORS for browser pages, docs that work offline, a root
that says where to go, and HEAD wherever GET works.
"""

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from pydantic import ValidationError as PydanticValidationError
from starlette.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.conftest import API_KEY, Api, server_settings
from tests.server_process import ServerProcess
from tests.test_errors import assert_envelope

ALLOWED_HEADERS = {"authorization", "x-namespace", "content-type", "idempotency-key", "if-match"}
EXPOSED_HEADERS = {"etag", "idempotent-replayed", "retry-after", "x-request-id"}
# Answers differ in these whatever the method (the date, a crash's request id).
VOLATILE = {"date", "x-request-id"}


def _listed(value: str) -> set[str]:
    return {part.strip().lower() for part in value.split(",") if part.strip()}


def preflight(client: TestClient, path: str, origin: str, method: str = "PATCH") -> Any:
    """What a browser sends before a cross-origin request: no key, no namespace."""
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type, x-namespace",
        },
    )


def cors_headers(response: Any) -> dict[str, str]:
    return {
        name: value
        for name, value in response.headers.items()
        if name.startswith("access-control-")
    }


@contextlib.contextmanager
def app_allowing(settings: Settings, origins: str) -> Iterator[TestClient]:
    """A client of an app built with ``MIXPEEK_MOCK_CORS_ORIGINS=origins``."""
    changed = Settings(**{**settings.model_dump(), "cors_origins": origins})
    with TestClient(create_app(changed), raise_server_exceptions=False) as client:
        yield client


# --- CORS: preflight ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    ["http://localhost:5173", "http://localhost:3000", "http://127.0.0.1:8080", "http://localhost"],
)
def test_a_preflight_from_a_local_page_is_allowed_without_a_key(
    api: Api, sync: dict[str, Any], origin: str
) -> None:
    response = preflight(api.client, api.sync_path(sync), origin)
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == origin
    assert {"GET", "HEAD", "POST", "PATCH", "DELETE"} <= {
        method.upper() for method in _listed(response.headers["access-control-allow-methods"])
    }
    assert _listed(response.headers["access-control-allow-headers"]) >= ALLOWED_HEADERS
    assert int(response.headers["access-control-max-age"]) > 0
    assert "origin" in _listed(response.headers["vary"])


def test_a_preflight_allows_the_headers_a_client_library_adds(api: Api) -> None:
    response = api.client.options(
        "/v1/buckets",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "X-Client-Version, authorization",
        },
    )
    assert response.status_code == 204
    allowed = _listed(response.headers["access-control-allow-headers"])
    assert {"x-client-version", "authorization"} <= allowed


@pytest.mark.parametrize(
    "origin",
    ["https://example.com", "http://localhost.example.com:3000", "https://localhost:3000", "null"],
)
def test_a_preflight_from_another_origin_is_403_without_cors_headers(api: Api, origin: str) -> None:
    response = preflight(api.client, "/v1/buckets", origin, method="POST")
    body = assert_envelope(response, 403, "ForbiddenError")
    assert "MIXPEEK_MOCK_CORS_ORIGINS" in body["error"]["message"]
    assert cors_headers(response) == {}


def test_a_preflight_changes_nothing_and_a_plain_options_still_needs_a_key(api: Api) -> None:
    response = api.client.options("/v1/namespaces")  # no Origin: not a preflight
    assert_envelope(response, 401, "UnauthorizedError")


# --- CORS: answers -----------------------------------------------------------------------------


def assert_cors_for(response: Any, origin: str) -> None:
    assert response.headers["access-control-allow-origin"] == origin
    assert "origin" in _listed(response.headers["vary"])
    assert _listed(response.headers["access-control-expose-headers"]) >= EXPOSED_HEADERS


def test_answers_to_a_local_page_carry_cors_headers_on_the_hot_path_too(
    api: Api, sync: dict[str, Any]
) -> None:
    origin = "http://localhost:5173"
    read = api.get(api.sync_path(sync), headers={"Origin": origin})
    assert read.status_code == 200
    assert_cors_for(read, origin)
    patched = api.patch(api.sync_path(sync), json={"batch_size": 7}, headers={"Origin": origin})
    assert patched.status_code == 200
    assert patched.json()["batch_size"] == 7
    assert_cors_for(patched, origin)
    listed = api.post(f"/v1/buckets/{sync['bucket_id']}/syncs/list", headers={"Origin": origin})
    assert listed.status_code == 200
    assert_cors_for(listed, origin)


@pytest.mark.parametrize(
    ("request_kwargs", "status", "type_"),
    [
        ({"method": "GET", "url": "/v1/buckets", "headers": {}}, 401, "UnauthorizedError"),
        (
            {"method": "GET", "url": "/v1/buckets", "headers": {"Authorization": "Bearer nope"}},
            401,
            "UnauthorizedError",
        ),
        (
            {
                "method": "POST",
                "url": "/v1/namespaces",
                "headers": {"Authorization": f"Bearer {API_KEY}", "Content-Type": "text/plain"},
                "content": b"x",
            },
            415,
            "UnsupportedMediaTypeError",
        ),
        (
            {
                "method": "GET",
                "url": "/v1/nowhere",
                "headers": {"Authorization": f"Bearer {API_KEY}"},
            },
            404,
            "NotFoundError",
        ),
        (
            {
                "method": "POST",
                "url": "/v1/namespaces",
                "headers": {"Authorization": f"Bearer {API_KEY}"},
                "json": {"namespace_name": 5},
            },
            422,
            "ValidationError",
        ),
    ],
)
def test_errors_to_a_local_page_carry_cors_headers_so_it_can_read_them(
    client: TestClient, request_kwargs: dict[str, Any], status: int, type_: str
) -> None:
    origin = "http://127.0.0.1:4200"
    kwargs = {**request_kwargs, "headers": {**request_kwargs["headers"], "Origin": origin}}
    response = client.request(**kwargs)
    assert_envelope(response, status, type_)
    assert_cors_for(response, origin)


def test_answers_to_another_origin_carry_no_cors_headers_and_are_otherwise_the_same(
    api: Api, sync: dict[str, Any]
) -> None:
    plain = api.get(api.sync_path(sync))
    foreign = api.get(api.sync_path(sync), headers={"Origin": "https://example.com"})
    assert foreign.status_code == plain.status_code == 200
    assert foreign.content == plain.content
    assert cors_headers(foreign) == {}
    assert "vary" not in foreign.headers
    assert cors_headers(plain) == {}
    assert "vary" not in plain.headers


@pytest.mark.parametrize(
    ("origins", "allowed", "refused"),
    [
        ("*", ["https://example.com", "http://localhost:1"], []),
        (
            "https://app.example.com, http://localhost:3000/",
            ["https://app.example.com", "http://localhost:3000"],
            ["http://localhost:3001", "https://app.example.com:8443", "http://127.0.0.1:3000"],
        ),
        ("", [], ["http://localhost:3000", "http://127.0.0.1:8000"]),
    ],
)
def test_the_allowed_origins_come_from_the_setting(
    settings: Settings, origins: str, allowed: list[str], refused: list[str]
) -> None:
    with app_allowing(settings, origins) as client:
        for origin in allowed:
            response = preflight(client, "/v1/buckets", origin, method="POST")
            assert response.status_code == 204, origin
            assert response.headers["access-control-allow-origin"] == origin
        for origin in refused:
            assert preflight(client, "/v1/buckets", origin).status_code == 403, origin
            answer = client.get("/v1/health", headers={"Origin": origin})
            assert cors_headers(answer) == {}, origin


@pytest.mark.parametrize(
    "origins",
    ["localhost:3000", "http://localhost:3000/app", "http://", "https://*.example.com"],
)
def test_a_malformed_origin_setting_is_refused(origins: str) -> None:
    with pytest.raises(PydanticValidationError, match="not an origin"):
        server_settings("sqlite:///unused.db", cors_origins=origins)


# --- the docs, offline -------------------------------------------------------------------------

ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


def referenced_urls(html: str) -> list[str]:
    """Every URL an HTML page loads: src and href attributes, and the spec it is given."""
    urls = re.findall(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']""", html)
    urls += re.findall(r"""\burl:\s*'([^']+)'""", html)
    return urls


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_load_only_from_this_server_and_need_no_key(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "http://" not in html
    assert "https://" not in html  # no CDN, no web font, no validator badge
    urls = referenced_urls(html)
    assert "/openapi.json" in urls
    scripts = [url for url in urls if url.split("?")[0].endswith(".js")]
    assert scripts, html
    for url in urls:
        assert url.startswith("/"), url
        assert not url.startswith("//"), url
        asset = client.get(url)  # no key
        assert asset.status_code == 200, url
        suffix = Path(url.split("?")[0]).suffix
        expected = ASSET_TYPES.get(suffix, "application/json")
        assert asset.headers["content-type"].split(";")[0] == expected, url
        assert len(asset.content) > 1000, url
    bundle = client.get(scripts[0]).text
    assert ("SwaggerUIBundle" if page == "/docs" else "Redoc") in bundle


def test_the_swagger_oauth2_redirect_page_needs_no_key(client: TestClient) -> None:
    response = client.get("/docs/oauth2-redirect")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


# --- the root ----------------------------------------------------------------------------------


def test_the_root_points_to_the_docs_and_the_spec_without_a_key(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["docs"] == "/docs"
    assert body["openapi"] == "/openapi.json"
    for key in ("docs", "redoc", "openapi", "health"):
        assert client.get(body[key]).status_code == 200, key


def test_the_root_and_the_docs_are_not_operations_of_the_spec(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    assert not {"/", "/docs", "/redoc"} & set(paths)


# --- HEAD --------------------------------------------------------------------------------------


def same_answer(api: Api, path: str, **kwargs: Any) -> Any:
    """HEAD ``path`` and GET it; assert HEAD has GET's status and headers, and no body."""
    got = api.get(path, **kwargs)
    head = api.request("HEAD", path, **kwargs)
    assert head.status_code == got.status_code, path
    assert head.content == b"", path

    def shown(response: Any) -> dict[str, str]:
        return {k: v for k, v in response.headers.items() if k not in VOLATILE}

    assert shown(head) == shown(got), path
    return got


def test_head_answers_as_get_on_every_kind_of_route(api: Api, sync: dict[str, Any]) -> None:
    bucket = f"/v1/buckets/{sync['bucket_id']}"
    paths = [
        api.sync_path(sync),  # the hot path's read
        f"{api.sync_path(sync)}/metrics",
        bucket,
        "/v1/buckets",
        "/v1/namespaces/default",
        "/v1/health",
        "/",
        "/docs",
        "/redoc",
        "/openapi.json",
        "/docs/swagger-ui.css",
    ]
    for path in paths:
        assert same_answer(api, path).status_code == 200, path
    assert same_answer(api, api.sync_path(sync), headers={"Origin": "http://localhost:3000"})


def test_head_answers_as_get_for_errors(api: Api, sync: dict[str, Any]) -> None:
    missing = f"/v1/buckets/{sync['bucket_id']}/syncs/sync_missing"
    assert same_answer(api, missing).status_code == 404
    assert same_answer(api, "/v1/buckets", headers={"Authorization": "Bearer x"}).status_code == 401
    head = api.request("HEAD", "/v1/no-such-route")
    assert head.status_code == 404
    assert head.content == b""
    assert head.headers["content-type"] == "application/json"


def test_head_where_get_is_not_allowed_is_405_naming_the_methods(
    api: Api, sync: dict[str, Any]
) -> None:
    response = api.request("HEAD", f"{api.sync_path(sync)}/pause")
    assert response.status_code == 405
    assert response.content == b""
    assert _listed(response.headers["allow"]) == {"post"}


def test_a_405_lists_head_wherever_get_is_allowed(api: Api, sync: dict[str, Any]) -> None:
    for path in (api.sync_path(sync), "/v1/buckets", "/openapi.json", "/docs", "/"):
        response = api.request("PUT", path, json={})
        assert_envelope(response, 405, "MethodNotAllowedError")
        assert {"get", "head"} <= _listed(response.headers["allow"]), path


def test_the_spec_lists_get_and_says_head_works_too(app: FastAPI) -> None:
    spec = app.openapi()
    assert all("head" not in operations for operations in spec["paths"].values())
    assert "HEAD" in spec["info"]["description"]


@pytest.mark.e2e
def test_head_on_a_real_server_sends_headers_only(tmp_path: Path) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}", "X-Namespace": "default"}
    with (
        ServerProcess(tmp_path / "mock.db") as server,
        httpx2.Client(base_url=server.url) as http,
    ):
        for path in ("/v1/namespaces/default", "/v1/buckets", "/", "/docs", "/v1/nowhere"):
            got = http.get(path, headers=headers)
            head = http.head(path, headers=headers)
            assert head.status_code == got.status_code, path
            assert head.content == b"", path
            if got.status_code == 200:
                assert head.headers["content-length"] == got.headers["content-length"], path
        # A browser's preflight: no key; the answer lets the page send one.
        response = http.options(
            "/v1/buckets",
            headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "GET"},
        )
        assert response.status_code == 204
        assert response.headers["access-control-allow-origin"] == "http://localhost:5173"
        assert "authorization" in _listed(response.headers["access-control-allow-headers"])
