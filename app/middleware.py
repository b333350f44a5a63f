"""The checks every request passes before routing, in the vendor mock's fixed order.

0. a request from a browser page of another origin (an ``Origin`` header): its CORS preflight
   is answered here and now, since a browser sends no credentials with one; any other answer
   to it gets the CORS headers (app/cors.py). A request without ``Origin`` skips this;
1. authentication (CONTRACT.md D7: before anything else, even whether the route exists): an
   API key under ``/v1``, the admin token under ``/_mock/`` (D28);
2. the body: at most ``max_body_bytes`` (413), received whole (a client that goes away before
   the last byte gets nothing processed), JSON when there is one (415), and UTF-8 JSON that can
   be stored and sent back as it came (see ``parse_json_body``). The guard is the only judge of
   a body: it parses it once, answers what does not parse, and leaves the parsed value in the
   request's state, so that FastAPI only ever sees bodies the guard accepted;
3. the fault rules of D31 (app/admin/faults.py), for a request to ``/v1``: after the checks
   above, so that a rule never hides a 401 or a 413; before any routing, so that one path
   serves every route. A rule may delay the request, answer it, or drop its connection;
4. then FastAPI routes, validates and calls the handler. A handler that meets another
   connection's database lock (``DatabaseBusyError``) is run again, after a short asynchronous
   sleep, until ``lock_wait_seconds`` have passed; then the answer is a 503 with
   ``Retry-After``. The guard can do that because it holds the whole body, and because a busy
   error only ever comes from a statement that applied nothing (see app/db/database.py). On
   PostgreSQL the statement itself waits for the lock, up to the same time (app/db/postgres.py).
   A full disk, or a lost connection to PostgreSQL, is a 503 with ``Retry-After`` too.

A ``HEAD`` request is answered as its ``GET`` would be (every GET route takes HEAD too, see
app/main.py), and the guard drops the body, whatever server runs the app. A GET or HEAD with
``If-None-Match`` gets a 304 when it names the answer's ETag (app/etags.py, D33).

It is plain ASGI rather than Starlette's BaseHTTPMiddleware, which would cost a task and two
queues per request on the hot path.
"""

import asyncio
import codecs
import json
import math
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import docs
from app.accounts.service import Principal, PrincipalCache
from app.admin.faults import FaultBook
from app.admin.journal import RAW_BODY, is_journaled
from app.admin.tokens import AdminTokens, is_admin_path
from app.cors import CorsPolicy
from app.db.database import (
    Database,
    DatabaseBusyError,
    DatabaseStorageError,
    DatabaseUnavailableError,
    DatabaseUnreachableError,
)
from app.errors import (
    MSG_INVALID_ADMIN_TOKEN,
    MSG_INVALID_KEY,
    MSG_MALFORMED_AUTH,
    MSG_MISSING_ADMIN_TOKEN,
    MSG_MISSING_KEY,
    ApiError,
    BadRequestError,
    ForbiddenError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
    ValidationError,
    error_body,
    validation_error,
)
from app.etags import not_modified
from app.headers import API_HEADERS
from app.limits import MAX_BODY_SEPARATORS

# Paths anyone may read: health, the spec, its interactive docs and what they load, and the
# root that points to them (D16).
PUBLIC_PATHS = frozenset({docs.HEALTH_PATH, docs.OPENAPI_PATH, *docs.PATHS})
# Where the guard leaves the body it parsed, in the request's state (absent: no body).
PARSED_BODY = "parsed_json_body"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_READ_METHODS = frozenset({"GET", "HEAD"})

# Retrying a request that met another connection's lock: the first pause, and the longest.
RETRY_FIRST_DELAY_S = 0.005
RETRY_MAX_DELAY_S = 0.05
DEFAULT_LOCK_WAIT_S = 2.5

MSG_BUSY = "The database is busy with another writer; nothing was changed. Retry shortly."
MSG_STORAGE = "The database could not store the change (disk full?); nothing was changed."
MSG_UNREACHABLE = (
    "The connection to the database was lost; a change this request made may not have been"
    " applied. Retry shortly."
)
MSG_BOM = "Request body starts with a byte-order mark: send UTF-8 JSON without one."
MSG_NOT_UTF8 = "Request body is not valid UTF-8."
MSG_WIDE_ENCODING = "Request body is not UTF-8 (it looks like UTF-16 or UTF-32)."


def principal_of(scope: Scope) -> Principal:
    """The principal the guard authenticated for this request."""
    principal: Principal = scope["state"]["principal"]
    return principal


class _ClientGoneError(Exception):
    """The client disconnected before its request had fully arrived."""


class RequestGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        lock_wait_seconds: float = DEFAULT_LOCK_WAIT_S,
        cors: CorsPolicy | None = None,
        admin_tokens: AdminTokens | None = None,
        faults: FaultBook | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.lock_wait_seconds = lock_wait_seconds
        self.cors = cors or CorsPolicy("")
        self.principals = PrincipalCache()
        self.admin_tokens = admin_tokens or AdminTokens(None)
        self.faults = faults or FaultBook()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        origin = headers.get(b"origin")
        if origin is not None:
            if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
                await self._preflight(origin, headers, send)
                return
            send = self.cors.wrap(send, origin)
        if scope["method"] == "HEAD":
            send = _without_body(send)
        if b"if-none-match" in headers and scope["method"] in _READ_METHODS:
            send = not_modified(scope, send)
        body: bytes | None = None
        try:
            path = scope["path"]
            if path not in PUBLIC_PATHS:
                database: Database = scope["app"].state.database
                if is_admin_path(path):
                    _authenticate_admin(database, self.admin_tokens, headers)
                else:
                    scope.setdefault("state", {})["principal"] = _authenticate(
                        database, self.principals, headers
                    )
            if scope["method"] in _BODY_METHODS:
                body = await self._read_body(scope, headers, receive)
            if self.faults.rules and is_journaled(path):
                await self.faults.apply(scope, headers, scope["app"].state.database)
        except ApiError as exc:
            await _send_error(send, exc)
            return
        except _ClientGoneError:
            return  # nobody to answer, and nothing was done
        except DatabaseUnavailableError as exc:
            # Busy included: reads do not wait for locks, and this is rare enough not to retry.
            await _send_error(send, _unavailable(exc))
            return
        await self._run(scope, receive, send, body)

    async def _preflight(self, origin: bytes, headers: dict[bytes, bytes], send: Send) -> None:
        cors_headers = self.cors.preflight_headers(
            origin, headers.get(b"access-control-request-headers")
        )
        if cors_headers is None:
            await _send_error(send, ForbiddenError(self.cors.refusal(origin)))
            return
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [*cors_headers, *API_HEADERS],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    async def _read_body(
        self, scope: Scope, headers: dict[bytes, bytes], receive: Receive
    ) -> bytes:
        """Read the whole body within the limit, and check and parse it."""
        scope.setdefault("state", {})
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise _too_large(self.max_body_bytes)
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGoneError
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _too_large(self.max_body_bytes)
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body:
            scope["state"][RAW_BODY] = body  # for the journal (app/admin/journal.py)
            _check_content_type(headers.get(b"content-type"))
            scope["state"][PARSED_BODY] = parse_json_body(body)
        return body

    async def _run(self, scope: Scope, receive: Receive, send: Send, body: bytes | None) -> None:
        """Run the app; again, after a pause, while it meets another connection's lock."""
        attempt_scope = scope
        delay = RETRY_FIRST_DELAY_S
        # From the first attempt: on PostgreSQL the attempt itself waits for the lock (up to
        # lock_timeout, the same number), so a busy answer there already used the time.
        deadline = asyncio.get_running_loop().time() + self.lock_wait_seconds
        while True:
            started = False

            async def send_tracked(message: Message) -> None:
                nonlocal started
                started = True
                await send(message)

            try:
                await self.app(
                    attempt_scope, receive if body is None else _replay(body, receive), send_tracked
                )
                return
            except DatabaseBusyError:
                if started:
                    raise
                now = asyncio.get_running_loop().time()
                if now + delay > deadline:
                    await _send_error(send, _busy())
                    return
            except DatabaseUnavailableError as exc:
                if started:
                    raise
                await _send_error(send, _unavailable(exc))
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_DELAY_S)
            # A fresh copy for each run: routing writes into the scope (the state is shared).
            attempt_scope = dict(scope)


def _busy() -> ServiceUnavailableError:
    return ServiceUnavailableError(MSG_BUSY, headers={"Retry-After": "1"})


def _unavailable(exc: DatabaseUnavailableError) -> ServiceUnavailableError:
    """The 503 for a full disk, a lost connection to the database, or a busy one."""
    if isinstance(exc, DatabaseStorageError):
        return ServiceUnavailableError(MSG_STORAGE, headers={"Retry-After": "1"})
    if isinstance(exc, DatabaseUnreachableError):
        return ServiceUnavailableError(MSG_UNREACHABLE, headers={"Retry-After": "1"})
    return _busy()


def _without_body(send: Send) -> Send:
    """``send`` for a HEAD request: the GET's status and headers, no body."""

    async def send_headers_only(message: Message) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            message = {**message, "body": b""}
        await send(message)

    return send_headers_only


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands on the body the guard read, then the real one's messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _bearer_token(headers: dict[bytes, bytes], *, missing: str) -> str:
    """The token of ``Authorization: Bearer <token>``; 401 with ``missing`` when there is none."""
    raw = headers.get(b"authorization")
    if raw is None or not raw.strip():
        raise UnauthorizedError(missing)
    scheme, _, token = raw.decode("latin-1").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise UnauthorizedError(MSG_MALFORMED_AUTH)
    return token


def _authenticate(
    database: Database, principals: PrincipalCache, headers: dict[bytes, bytes]
) -> Principal:
    principal = principals.lookup(database, _bearer_token(headers, missing=MSG_MISSING_KEY))
    if principal is None:
        raise UnauthorizedError(MSG_INVALID_KEY)
    return principal


def _authenticate_admin(
    database: Database, tokens: AdminTokens, headers: dict[bytes, bytes]
) -> None:
    """The admin API (D28) opens to the admin token alone: an API key is refused like any
    wrong token."""
    token = _bearer_token(headers, missing=MSG_MISSING_ADMIN_TOKEN)
    if not tokens.accepts(database, token):
        raise UnauthorizedError(MSG_INVALID_ADMIN_TOKEN)


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


def parse_json_body(body: bytes) -> Any:
    """Parse a request body as UTF-8 JSON, refusing what could not be stored or sent back as it
    came. This is the one place a body is parsed; each refusal is a 4xx envelope:

    - a byte-order mark, UTF-16 or UTF-32, or bytes that are not UTF-8 (RFC 8259): 400;
    - malformed JSON: the 422 ``json_invalid`` FastAPI would give;
    - ``NaN``, ``Infinity`` and numbers too large for a float (Python's parser takes them): 422;
    - strings holding an unpaired UTF-16 surrogate, which a ``\\ud800`` escape can produce: 400;
    - nesting too deep to parse at all: 400 (shallower free-form JSON has its own limit);
    - more JSON values than any acceptable body holds: 422 before parsing (app/limits.py).
    """
    if body.startswith(codecs.BOM_UTF8):
        raise BadRequestError(MSG_BOM)
    if body.count(b",") + body.count(b":") > MAX_BODY_SEPARATORS:
        message = (
            f"Request body holds more than {MAX_BODY_SEPARATORS} JSON values; no request the"
            " server accepts holds that many."
        )
        raise ValidationError(
            message,
            details={
                "validation_errors": [
                    {"type": "too_many_values", "location": ["body"], "message": message}
                ]
            },
        )
    if b"\x00" in body[:4]:  # JSON text starts with ASCII: a NUL there is a wider encoding
        raise BadRequestError(MSG_WIDE_ENCODING)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequestError(MSG_NOT_UTF8) from None
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
    except json.JSONDecodeError as exc:
        raise validation_error(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", exc.pos),
                    "msg": "JSON decode error",
                    "ctx": {"error": exc.msg},
                }
            ]
        ) from None
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
        *API_HEADERS,
        *((name.lower().encode(), value.encode()) for name, value in exc.headers.items()),
    ]
    await send({"type": "http.response.start", "status": exc.status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
