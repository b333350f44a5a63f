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
EXPOSED_HEADERS = {"etag", "retry-after", "x-request-id"}
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


