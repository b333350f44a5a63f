"""The request journal (CONTRACT.md D30): the last N requests to ``/v1``, in this process.

``RequestRecorder`` is the outermost middleware, so it sees every request to ``/v1``, those
the guard refuses (401, 413, 415...) and those a fault rule answers or drops included; not
``/v1/health`` (container health checks poll it every few seconds and would push the requests
of the code under test out of the journal), the admin API, the spec or the docs.

Recording must cost the hot path next to nothing, so an entry keeps references, never copies:
the request's header list, the body bytes the guard read (app/middleware.py leaves them in the
request's state), the response body chunks as they were sent. A body is kept up to
``BODY_LIMIT_BYTES``; past that only its first bytes are kept and the entry says it was cut,
so the journal holds at most ``size * 2 * BODY_LIMIT_BYTES`` of bodies. Parsing and masking
happen when an entry is read through the admin API (``render``), which is the only way out:
nothing leaves unmasked (app/admin/masking.py).

Per process and in memory: instances behind a load balancer each have their own.
"""

import json
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import docs
from app.admin.globs import glob_matches
from app.admin.masking import masked_headers, masked_json, masked_string, masked_text
from app.clock import utc_now
from app.errors import DropConnection
from app.jsonutil import dump_json_text
from app.scopes import NAMESPACE_ID

# Each body is kept up to this many bytes; a longer one is cut, and the entry says so.
BODY_LIMIT_BYTES = 16 * 1024
JOURNALED_PREFIX = "/v1/"
# Where the guard leaves the raw request body in the request's state (app/scopes.py leaves
# the resolved namespace's id there too, under NAMESPACE_ID).
RAW_BODY = "raw_body"


def is_journaled(path: str) -> bool:
    """Requests to the vendor's API, but health checks (see the module docstring)."""
    return path.startswith(JOURNALED_PREFIX) and path != docs.HEALTH_PATH


class Entry(NamedTuple):
    """A tuple of atoms (strings, bytes, numbers, a datetime, a tuple of header pairs), which
    the garbage collector stops tracking: a thousand entries must not make its collections
    longer on the hot path."""

    number: int
    time: datetime
    method: str
    path: str
    query: bytes
    status: int | None  # None: the connection was dropped (D31), no answer at all
    duration_ms: float
    organization_id: str | None
    namespace_id: str | None
    headers: tuple[tuple[bytes, bytes], ...]
    request_body: bytes | str  # str: already masked and cut (see ``_kept_request_body``)
    request_size: int
    response_body: bytes
    response_size: int


@dataclass(frozen=True, slots=True)
class Filters:
    method: str | None = None
    path: str | None = None
    status: int | None = None
    namespace_ids: frozenset[str] | None = None  # the namespace filter, resolved to ids
    since: datetime | None = None

    def matches(self, entry: Entry) -> bool:
        return (
            (self.method is None or entry.method == self.method)
            and (self.status is None or entry.status == self.status)
            and (self.since is None or entry.time >= self.since)
            and (self.namespace_ids is None or entry.namespace_id in self.namespace_ids)
            and (self.path is None or glob_matches(self.path, entry.path))
        )


class Journal:
    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: deque[Entry] = deque(maxlen=max(size, 1))
        self._numbers = 0

    def next_number(self) -> int:
        self._numbers += 1
        return self._numbers

    def append(self, entry: Entry) -> None:
        self._entries.append(entry)

    def clear(self) -> None:
        self._entries.clear()
        self._numbers = 0

    def newest_first(self, filters: Filters) -> Iterator[Entry]:
        return (entry for entry in reversed(list(self._entries)) if filters.matches(entry))

    def count(self, filters: Filters) -> int:
        return sum(1 for _ in self.newest_first(filters))

    def find(self, filters: Filters, limit: int) -> tuple[list[Entry], int]:
        """The ``limit`` newest matches, and how many there are in all."""
        found: list[Entry] = []
        total = 0
        for entry in self.newest_first(filters):
            if total < limit:
                found.append(entry)
            total += 1
        return found, total


class RequestRecorder:
    """Adds an entry to the journal for every request to ``/v1`` (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, journal: Journal) -> None:
        self.app = app
        self.journal = journal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_journaled(scope["path"]):
            await self.app(scope, receive, send)
            return
        at = utc_now()
        started = time.perf_counter()
        status: int | None = None
        chunks: list[bytes] = []
        kept = 0
        size = 0

        async def send_recorded(message: Message) -> None:
            nonlocal status, kept, size
            if message["type"] == "http.response.start":
                status = message["status"]
            else:
                chunk = message.get("body", b"")
                size += len(chunk)
                if chunk and kept < BODY_LIMIT_BYTES:
                    chunks.append(chunk)  # a reference, cut only when read
                    kept += len(chunk)
            await send(message)

        try:
            await self.app(scope, receive, send_recorded)
        except DropConnection:
            status = None
            raise
        finally:
            response_body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            if len(response_body) > BODY_LIMIT_BYTES:
                response_body = response_body[:BODY_LIMIT_BYTES]  # never keep a whole page
            state = scope.get("state") or {}
            principal = state.get("principal")
            body = state.get(RAW_BODY, b"")
            self.journal.append(
                Entry(
                    number=self.journal.next_number(),
                    time=at,
                    method=scope["method"],
                    path=scope["path"],
                    query=scope.get("query_string", b""),
                    status=status,
                    duration_ms=(time.perf_counter() - started) * 1000,
                    organization_id=None if principal is None else principal.internal_id,
                    namespace_id=state.get(NAMESPACE_ID),
                    headers=tuple(scope["headers"]),
                    request_body=_kept_request_body(body, state),
                    request_size=len(body),
                    response_body=response_body,
                    response_size=size,
                )
            )


def _kept_request_body(body: bytes, state: dict[str, Any]) -> bytes | str:
    """The request body by reference; when it is too long to keep whole, its first bytes. A
    cut JSON body cannot be parsed to mask it on read, so it is masked now, from the value the
    guard parsed (long bodies are rare, and this is their only extra cost)."""
    if len(body) <= BODY_LIMIT_BYTES:
        return body
    from app.middleware import PARSED_BODY

    if PARSED_BODY in state:
        return dump_json_text(masked_json(state[PARSED_BODY]))[:BODY_LIMIT_BYTES]
    return body[:BODY_LIMIT_BYTES]


def _shown_body(body: bytes | str, size: int) -> tuple[Any, bool]:
    """A body as the journal shows it: its JSON value, else its text (masked); whether cut."""
    if isinstance(body, str):  # cut and masked when recorded
        return masked_text(body), True
    if not body:
        return None, False
    if size > len(body):
        return masked_text(body[:BODY_LIMIT_BYTES].decode("utf-8", "replace")), True
    try:
        return masked_json(json.loads(body)), False
    except ValueError:
        return masked_text(body.decode("utf-8", "replace")), False


def render(entry: Entry) -> dict[str, Any]:
    """An entry as ``GET /_mock/requests`` shows it, every secret masked."""
    request_body, request_cut = _shown_body(entry.request_body, entry.request_size)
    response_body, response_cut = _shown_body(entry.response_body, entry.response_size)
    return {
        "id": f"req_{entry.number}",
        "time": entry.time,
        "method": entry.method,
        "path": entry.path,
        "query": masked_string(entry.query.decode("latin-1")),
        "status": entry.status,
        "duration_ms": round(entry.duration_ms, 3),
        "organization_id": entry.organization_id,
        "namespace_id": entry.namespace_id,
        "headers": masked_headers(entry.headers),
        "request_body": request_body,
        "request_body_truncated": request_cut,
        "response_body": response_body,
        "response_body_truncated": response_cut,
    }


def render_all(entries: Iterable[Entry]) -> list[dict[str, Any]]:
    return [render(entry) for entry in entries]
