"""What a person finds around the API: ``GET /``, and the interactive docs, offline.

``/docs`` (Swagger UI) and ``/redoc`` load their scripts and styles from this server, never
from a CDN, so that they work on a machine with no internet access (in CI, on a train, in a
container without egress). The files are those the ``fastapi-offline`` package ships (Swagger
UI's bundle and stylesheet, Redoc's standalone bundle, FastAPI's icon); only its files are
used, found without importing it. Every path here is served without a key (D16), and none of
them is an operation of openapi.json.
"""

import importlib.util
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import APIRouter
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from starlette.responses import FileResponse, Response

from app import API_VERSION
from app.headers import API_HEADERS
from app.jsonutil import dump_json

ROOT_PATH = "/"
OPENAPI_PATH = "/openapi.json"
HEALTH_PATH = "/v1/health"
SWAGGER_PATH = "/docs"
SWAGGER_OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
REDOC_PATH = "/redoc"
TITLE = "mixpeek-mock"

# Each asset: its URL, its file in the package, its media type.
ASSETS = {
    "/docs/swagger-ui-bundle.js": ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "/docs/swagger-ui.css": ("swagger-ui.css", "text/css; charset=utf-8"),
    "/docs/favicon.png": ("favicon.png", "image/png"),
    "/redoc/redoc.standalone.js": ("redoc.standalone.js", "text/javascript; charset=utf-8"),
}
# Every path of this module, for the request guard's list of paths served without a key.
PATHS = frozenset({ROOT_PATH, SWAGGER_PATH, SWAGGER_OAUTH2_REDIRECT_PATH, REDOC_PATH, *ASSETS})
# The files change only with the package: let browsers keep them a day, and name the file's
# modification time in each URL so that an upgrade is fetched at once.
ASSET_CACHE_CONTROL = "public, max-age=86400"

_FAVICON = "/docs/favicon.png"


def _assets_folder() -> Path:
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the fastapi-offline package (the docs' assets) is not installed")
    return Path(spec.submodule_search_locations[0]) / "static"


def docs_router() -> APIRouter:
    """The routes of ``/``, ``/docs``, ``/redoc`` and their assets."""
    folder = _assets_folder()
    files = {path: folder / name for path, (name, _) in ASSETS.items()}
    versioned = {path: f"{path}?v={file.stat().st_mtime_ns:x}" for path, file in files.items()}
    router = APIRouter(include_in_schema=False)

    @router.get(ROOT_PATH)
    async def root() -> Response:
        """Where to go from here: the docs, the spec and the health check."""
        body = {
            "name": TITLE,
            "api_version": API_VERSION,
            "docs": SWAGGER_PATH,
            "redoc": REDOC_PATH,
            "openapi": OPENAPI_PATH,
            "health": HEALTH_PATH,
        }
        return _with_api_headers(Response(dump_json(body), media_type="application/json"))

    @router.get(SWAGGER_PATH)
    async def swagger_ui() -> Response:
        return _with_api_headers(
            get_swagger_ui_html(
                openapi_url=OPENAPI_PATH,
                title=f"{TITLE} - Swagger UI",
                swagger_js_url=versioned["/docs/swagger-ui-bundle.js"],
                swagger_css_url=versioned["/docs/swagger-ui.css"],
                swagger_favicon_url=versioned[_FAVICON],
                oauth2_redirect_url=SWAGGER_OAUTH2_REDIRECT_PATH,
                # No badge from the public validator: it would be fetched from the internet.
                swagger_ui_parameters={"validatorUrl": None},
            )
        )

    @router.get(SWAGGER_OAUTH2_REDIRECT_PATH)
    async def swagger_ui_redirect() -> Response:
        return _with_api_headers(get_swagger_ui_oauth2_redirect_html())

    @router.get(REDOC_PATH)
    async def redoc() -> Response:
        return _with_api_headers(
            get_redoc_html(
                openapi_url=OPENAPI_PATH,
                title=f"{TITLE} - ReDoc",
                redoc_js_url=versioned["/redoc/redoc.standalone.js"],
                redoc_favicon_url=versioned[_FAVICON],
                with_google_fonts=False,
            )
        )

    for path, (_, media_type) in ASSETS.items():
        router.add_api_route(path, _asset_endpoint(files[path], media_type), methods=["GET"])
    return router


def _asset_endpoint(file: Path, media_type: str) -> Callable[[], Awaitable[Response]]:
    async def asset() -> Response:
        response = FileResponse(file, media_type=media_type)
        response.headers["cache-control"] = ASSET_CACHE_CONTROL
        response.headers["x-content-type-options"] = "nosniff"
        return response

    asset.__name__ = f"asset_{file.name.replace('.', '_').replace('-', '_')}"
    return asset


def _with_api_headers(response: Response) -> Response:
    response.raw_headers.extend(API_HEADERS)
    return response
