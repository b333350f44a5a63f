"""A direct route for the requests clients make most: reading and PATCHing one sync.

FastAPI's generic machinery (nested route matching, dependency and parameter solving, body
handling) costs several times the work these two requests do themselves, and the benchmark's
throughput target is out of reach through it. So they are dispatched here, with the same
checks in the same order, by calling the very pieces FastAPI would call:

- the request guard has already authenticated the caller, and read, checked and parsed the
  body (app.middleware): it answers every body that does not parse, so none is parsed here;
- ``in_bucket`` resolves namespace and bucket exactly as the route dependency does;
- the body is validated by the same ``SyncUpdateRequest``, and its errors become the same 422;
- the handlers are the route functions of ``app.syncs.routes`` themselves; PATCH's is handed
  the ``If-Match`` lines by the same ``if_match_of`` as its dependency (D33).

FastAPI still serves every other request (other methods on this path included) and still
documents these two operations in openapi.json; the test suites run through this path, since it
is the path every client takes.
"""

import re
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError as PydanticValidationError
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import ApiError, api_error_response, validation_error
from app.etags import if_match_of
from app.middleware import PARSED_BODY, principal_of
from app.query_params import check_query
from app.scopes import in_bucket
from app.syncs import routes
from app.syncs.schemas import SyncUpdateRequest

# Starlette matches "{name}" path parameters as "[^/]+" on the decoded path; so does this.
SYNC_PATH = re.compile(r"^/v1/buckets/(?P<bucket>[^/]+)/syncs/(?P<sync>[^/]+)$")
METHODS = frozenset({"GET", "PATCH"})

# What FastAPI answers for a required body that is absent (or JSON null).
_MISSING_BODY = {"type": "missing", "loc": ("body",), "msg": "Field required"}


class SyncHotPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = None
        if scope["type"] == "http" and scope["method"] in METHODS:
            match = SYNC_PATH.match(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        try:
            response = await self._handle(scope, receive, match["bucket"], match["sync"])
        except ApiError as exc:
            response = api_error_response(exc)
        await response(scope, receive, send)

    async def _handle(
        self, scope: Scope, receive: Receive, bucket_identifier: str, sync_config_id: str
    ) -> Response:
        # Both routes declare no query parameter: only ``namespace`` (app/query_params.py).
        check_query(scope.get("query_string", b""), frozenset())
        bucket = in_bucket(
            scope["app"].state.database,
            principal_of(scope),
            _namespace_header(scope),
            _namespace_query(scope),
            bucket_identifier,
            state=scope["state"],
        )
        if scope["method"] == "GET":
            return await routes.get_sync(sync_config_id, bucket)
        parsed = scope["state"].get(PARSED_BODY)  # None: no body, or JSON null
        return await routes.update_sync(
            sync_config_id, _update_request(parsed), bucket, if_match_of(scope)
        )


def _namespace_header(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-namespace":
            decoded: str = value.decode("latin-1")
            return decoded
    return None


def _namespace_query(scope: Scope) -> str | None:
    query_string: bytes = scope.get("query_string", b"")
    if not query_string:
        return None
    values = [
        value
        for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
        if name == "namespace"
    ]
    return values[-1] if values else None  # the last one wins, as in FastAPI


def _update_request(parsed: Any) -> SyncUpdateRequest:
    """Validate a PATCH body; any problem is the 422 FastAPI would give."""
    if parsed is None:
        raise validation_error([_MISSING_BODY])
    try:
        return SyncUpdateRequest.model_validate(parsed)
    except PydanticValidationError as exc:
        raise validation_error(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        ) from None
