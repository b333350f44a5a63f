"""The OpenAPI document the server publishes, and the command that writes ``openapi.json``.

FastAPI derives paths and schemas from the routes; this adds what it cannot see (D16): the
bearer scheme, every error status an operation can answer, each with the D6 envelope, and the
headers of D33: ``ETag`` on the answers of routes that return a ``RecordResponse``,
``Idempotent-Replayed`` on those of routes that take ``Idempotency-Key``, 412 wherever
``If-Match`` is taken (both request headers are declared by the routes' dependencies), and
``If-None-Match`` with its 304 on the reads of those routes (answered by the request guard,
so no route declares it).

    python -m app.openapi > openapi.json
"""

import copy
import json
import sys
from collections.abc import Iterable
from typing import Any, get_type_hints

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from app.errors import ErrorResponse
from app.middleware import PUBLIC_PATHS
from app.responses import RecordResponse
from app.schemas import INT64_MAX

BEARER_SCHEME = "HTTPBearer"

_ERROR_DESCRIPTIONS = {
    400: "Bad request: a missing namespace, an unreadable body, or a refused operation.",
    401: "Missing, malformed, unknown or revoked API key.",
    404: "No such resource in the caller's scope, or no such route.",
    405: "Method not allowed on this path.",
    409: "A resource with that name already exists.",
    412: "If-Match does not match the record's current ETag; nothing was changed.",
    413: "Request body larger than the limit.",
    415: "Request body is not JSON.",
    422: "Validation failed: details.validation_errors lists each problem.",
    500: "Internal error: the X-Request-ID header identifies it in the server log.",
    503: (
        "Unavailable for now (the database is locked by another writer or refused the write, "
        "or every connection is busy): retry after the Retry-After header's seconds."
    ),
}


# POSTs that read or act on what exists, and so never answer 409.
_NEVER_CONFLICTING = (
    "/list",
    "/jobs",
    "/dlq",
    "/dlq/requeue",
    "/dlq/bulk-mark-failed",
    "/pause",
    "/resume",
    "/trigger",
    "/unlock",
)


_ETAG_HEADER = {
    "description": "The record's strong entity tag (a hash of this body), for If-Match.",
    "required": True,
    "schema": {"type": "string"},
}
_REPLAYED_HEADER = {
    "description": "`true` when this is the stored answer to an earlier request with the same"
    " Idempotency-Key (nothing was created this time).",
    "schema": {"type": "string", "enum": ["true"]},
}


_IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "When one of these tags (or `*`) is the record's current ETag (weak"
    " comparison), the answer is 304 with no body.",
    "schema": {"type": "string"},
}
_NOT_MODIFIED = {
    "description": "Not modified: If-None-Match names the record's current ETag. No body.",
    "headers": {"ETag": _ETAG_HEADER},
}


def _takes_header(operation: dict[str, Any], name: str) -> bool:
    return any(
        parameter["in"] == "header" and parameter["name"] == name
        for parameter in operation.get("parameters", ())
    )


def _record_operations(routes: Iterable[BaseRoute]) -> set[tuple[str, str]]:
    """(path, method) of the operations that answer one record, with its ETag."""
    return {
        (route.path, method.lower())
        for route in routes
        if isinstance(route, APIRoute)
        and get_type_hints(route.endpoint).get("return") is RecordResponse
        for method in route.methods or ()
    }


def _error_statuses(path: str, method: str, operation: dict[str, Any]) -> list[int]:
    statuses = [400, 404, 405, 422, 500, 503]
    if _takes_header(operation, "If-Match"):
        statuses.append(412)
    if path not in PUBLIC_PATHS:
        statuses.append(401)
    if method in ("post", "put", "patch", "delete"):
        statuses += [413, 415]
    if method == "post" and not path.endswith(_NEVER_CONFLICTING):
        statuses.append(409)
    return sorted(statuses)


# HEAD is answered wherever GET is; like FastAPI, the spec lists only the GET (a HEAD operation
# beside each would double the GETs for every generator and fuzzer, and say nothing new).
HEAD_NOTE = (
    "Every GET operation also answers HEAD (RFC 9110): the same status and headers, no body."
    " Browser pages of the origins in MIXPEEK_MOCK_CORS_ORIGINS may call the API (CORS)."
)


def _documented(routes: Iterable[BaseRoute]) -> list[BaseRoute]:
    """The routes as the spec shows them: without the HEAD that every GET route takes."""
    shown: list[BaseRoute] = []
    for route in routes:
        methods = getattr(route, "methods", None) or set()
        if isinstance(route, APIRoute) and {"GET", "HEAD"} <= methods:
            route = copy.copy(route)
            route.methods = methods - {"HEAD"}
        shown.append(route)
    return shown


def build_openapi(app: FastAPI) -> dict[str, Any]:
    spec = get_openapi(
        title=app.title,
        version=app.version,
        description=f"{app.description}\n\n{HEAD_NOTE}",
        routes=_documented(app.routes),
        separate_input_output_schemas=False,
    )
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    error_schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error_schema.pop("$defs", {}))
    schemas["ErrorResponse"] = error_schema
    for model in getattr(app.state, "openapi_models", ()):
        model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in model_schema.pop("$defs", {}).items():
            schemas.setdefault(name, definition)
        schemas[model.__name__] = model_schema
    spec["components"]["securitySchemes"] = {
        BEARER_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "Authorization: Bearer <API key>",
        }
    }
    error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
    records = _record_operations(app.routes)
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if path not in PUBLIC_PATHS:
                operation["security"] = [{BEARER_SCHEME: []}]
            responses = operation["responses"]
            headers: dict[str, Any] = {}
            if (path, method) in records:
                headers["ETag"] = _ETAG_HEADER
                if method == "get":
                    operation.setdefault("parameters", []).append(_IF_NONE_MATCH)
                    responses["304"] = _NOT_MODIFIED
            if _takes_header(operation, "Idempotency-Key"):
                headers["Idempotent-Replayed"] = _REPLAYED_HEADER
            if headers:
                responses["200"]["headers"] = headers
            for status in _error_statuses(path, method, operation):
                responses[str(status)] = {
                    "description": _ERROR_DESCRIPTIONS[status],
                    "content": error_content,
                }
    _integral_bounds(spec)
    return spec


def _integral_bounds(node: Any) -> None:
    """Write integer bounds as integers. FastAPI's OpenAPI models hold them as floats, which
    turns 2**63 - 1 into 2**63 (and 30 into 30.0)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("minimum", "maximum") and isinstance(value, float) and value.is_integer():
                node[key] = INT64_MAX if value >= INT64_MAX else int(value)
            else:
                _integral_bounds(value)
    elif isinstance(node, list):
        for item in node:
            _integral_bounds(item)


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def main() -> None:
    from app.main import create_app

    json.dump(create_app().openapi(), sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
