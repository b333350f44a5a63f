"""The checks every request passes before routing, in the vendor mock's fixed order.

1. authentication (CONTRACT.md D7: before anything else, even whether the route exists);
2. the body: at most ``max_body_bytes`` (413), JSON when there is one (415), and JSON that can
   be stored and sent back as it came (see ``_check_storable_json``);
3. then FastAPI routes, validates and calls the handler.

It is plain ASGI rather than Starlette's BaseHTTPMiddleware, which would cost a task and two
queues per request on the hot path.
"""

import json
import math
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.accounts.service import Principal, PrincipalCache
from app.db.database import Database
from app.errors import (
    MSG_INVALID_KEY,
    MSG_MALFORMED_AUTH,
    MSG_MISSING_KEY,
    ApiError,
    BadRequestError,
    PayloadTooLargeError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
    ValidationError,
    error_body,
)

# Paths anyone may read: health, and the spec with its interactive docs (D16).
PUBLIC_PATHS = frozenset(
    {"/v1/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)
# Where the guard leaves the body it parsed, in the request's state, for app.hotpath.
PARSED_BODY = "parsed_json_body"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def principal_of(scope: Scope) -> Principal:
    """The principal the guard authenticated for this request."""
    principal: Principal = scope["state"]["principal"]
    return principal


class RequestGuard:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.principals = PrincipalCache()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        try:
            if scope["path"] not in PUBLIC_PATHS:
                database: Database = scope["app"].state.database
                scope.setdefault("state", {})["principal"] = _authenticate(
                    database, self.principals, headers
                )
            if scope["method"] in _BODY_METHODS:
                receive = await self._checked_body(scope, headers, receive)
        except ApiError as exc:
            await _send_error(send, exc)
            return
        await self.app(scope, receive, send)

    async def _checked_body(
        self, scope: Scope, headers: dict[bytes, bytes], receive: Receive
    ) -> Receive:
        """Read the whole body within the limit, check it, and hand it on unchanged."""
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise _too_large(self.max_body_bytes)
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _too_large(self.max_body_bytes)
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body:
            _check_content_type(headers.get(b"content-type"))
            parsed = _check_storable_json(body)
            if parsed is not None:
                scope.setdefault("state", {})[PARSED_BODY] = parsed

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay


def _authenticate(
    database: Database, principals: PrincipalCache, headers: dict[bytes, bytes]
) -> Principal:
    raw = headers.get(b"authorization")
    if raw is None or not raw.strip():
        raise UnauthorizedError(MSG_MISSING_KEY)
    scheme, _, key = raw.decode("latin-1").strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key or " " in key:
        raise UnauthorizedError(MSG_MALFORMED_AUTH)
    principal = principals.lookup(database, key)
    if principal is None:
        raise UnauthorizedError(MSG_INVALID_KEY)
    return principal


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"Request body is larger than {limit} bytes.")


def _check_content_type(raw: bytes | None) -> None:
    media_type = (raw or b"").split(b";", 1)[0].strip().lower()
    if media_type == b"application/json" or (
        media_type.startswith(b"application/") and media_type.endswith(b"+json")
    ):
        return
    shown = media_type.decode("latin-1") or "none"
    raise UnsupportedMediaTypeError(
        f"Unsupported Content-Type {shown!r}: request bodies must be application/json."
    )


def _reject_constant(name: str) -> Any:
    raise _NotStorableError(f"JSON has no {name}: numbers must be finite.")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NotStorableError(f"The number {text[:40]} is too large to store.")
    return value


class _NotStorableError(ValueError):
    pass


def _check_storable_json(body: bytes) -> Any:
    """Refuse what parses as JSON but could not be stored or sent back as it came.

    - text that is not UTF-8 (RFC 8259), including raw surrogate bytes: 400;
    - ``NaN``, ``Infinity`` and numbers too large for a float (Python's parser takes them): 422;
    - strings holding an unpaired UTF-16 surrogate, which a ``\\ud800`` escape can produce: 400;
    - nesting too deep to parse at all: 400 (shallower free-form JSON has its own limit).
    Malformed JSON passes through, for FastAPI to answer with its own 422.
    Returns the parsed body (None when it is malformed), so that it need not be parsed again.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequestError("Request body is not valid UTF-8.") from None
    try:
        parsed = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except _NotStorableError as exc:
        raise ValidationError(
            str(exc),
            details={
                "validation_errors": [
                    {"type": "finite_number", "location": ["body"], "message": str(exc)}
                ]
            },
        ) from None
    except RecursionError:
        raise BadRequestError("Request body is nested too deeply to parse.") from None
    except json.JSONDecodeError:
        return None
    except ValueError as exc:  # e.g. an integer literal longer than Python will convert
        raise BadRequestError(f"Request body could not be parsed: {exc}") from None
    if "\\ud" in text.lower():
        try:
            json.dumps(parsed, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequestError(
                "Request body contains a string with an unpaired UTF-16 surrogate."
            ) from None
    return parsed


async def _send_error(send: Send, exc: ApiError) -> None:
    body = error_body(exc.status, exc.type, exc.message, code=exc.code, details=exc.details)
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in exc.headers.items()),
    ]
    await send({"type": "http.response.start", "status": exc.status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
