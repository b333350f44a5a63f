"""The checks every request passes before routing, in the vendor mock's fixed order.

1. authentication (CONTRACT.md D7: before anything else, even whether the route exists);
2. the body: at most ``max_body_bytes`` (413), JSON when there is one (415), and text that can
   be stored (no unpaired UTF-16 surrogates, which ``\\ud800`` escapes can smuggle in);
3. then FastAPI routes, validates and calls the handler.

It is plain ASGI rather than Starlette's BaseHTTPMiddleware, which would cost a task and two
queues per request on the hot path.
"""

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.accounts.service import Principal, find_principal
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
    error_body,
)

# Paths anyone may read: health, and the spec with its interactive docs (D16).
PUBLIC_PATHS = frozenset(
    {"/v1/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def principal_of(scope: Scope) -> Principal:
    """The principal the guard authenticated for this request."""
    principal: Principal = scope["state"]["principal"]
    return principal


class RequestGuard:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        try:
            if scope["path"] not in PUBLIC_PATHS:
                database: Database = scope["app"].state.database
                scope.setdefault("state", {})["principal"] = _authenticate(database, headers)
            if scope["method"] in _BODY_METHODS:
                receive = await self._checked_body(headers, receive)
        except ApiError as exc:
            await _send_error(send, exc.status, exc.type, exc.message, exc.headers)
            return
        await self.app(scope, receive, send)

    async def _checked_body(self, headers: dict[bytes, bytes], receive: Receive) -> Receive:
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
            _check_storable_text(body)

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay


def _authenticate(database: Database, headers: dict[bytes, bytes]) -> Principal:
    raw = headers.get(b"authorization")
    if raw is None or not raw.strip():
        raise UnauthorizedError(MSG_MISSING_KEY)
    scheme, _, key = raw.decode("latin-1").strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key or " " in key:
        raise UnauthorizedError(MSG_MALFORMED_AUTH)
    principal = find_principal(database, key)
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


def _check_storable_text(body: bytes) -> None:
    """Reject JSON whose strings hold unpaired surrogates: they cannot be stored as UTF-8.

    Only a ``\\uD8xx``..``\\uDFxx`` escape can produce one, so most bodies skip the parse.
    """
    lowered = body.lower()
    if b"\\ud" not in lowered:
        return
    try:
        json.dumps(json.loads(body), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequestError(
            "Request body contains a string with an unpaired UTF-16 surrogate."
        ) from None
    except ValueError:
        return  # not valid JSON: FastAPI answers that with its own 422 / 400
    except RecursionError:
        return  # nested too deep: FastAPI's parser refuses it the same way


async def _send_error(
    send: Send, status: int, type_: str, message: str, headers: dict[str, str]
) -> None:
    body = error_body(status, type_, message)
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in headers.items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
