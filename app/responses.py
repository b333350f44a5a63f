"""Sending response models (with the headers of app/headers.py on each).

Handlers return ``ModelResponse(model)`` rather than the model itself: the model is already
valid, so this skips FastAPI's second validation pass and serializes once, in pydantic's Rust
core. The route's ``response_model`` still documents the shape in openapi.json.

A write renders its record with ``render_record`` inside its transaction, and the handler sends
those bytes: a record that cannot be served (or that is larger than a record may be) raises
there, the transaction rolls back, and nothing is stored that a later read would fail on.

A route that answers one namespace, bucket, storage connection or sync configuration sends
``RecordResponse``, which adds the body's strong ``ETag`` (app/etags.py, D33).

A list route sends its page with ``page_response``, which renders the records a few
milliseconds at a time and lets the event loop serve other requests in between. Why: a page
may hold 1000 records of 32 KiB, and a record of dense JSON (~9 700 small values) costs ~1.5 ms
to decode, validate and encode, so the largest page is well over a second of CPU work; done in
one go on the event loop, every other tenant's request waited for all of it (``/v1/health``
answered once in 5 s while one client listed such pages in a loop, bench/isolation.py; the
page took ~11 s and 800 MB then). Now the page's keys are chosen in one statement (the window
the D12 counts describe), its rows read by key in batches as it renders (``PageRows`` in
app/pagination.py), one record decoded at a time, and the answer sent in pieces
(``PageResponse``). Rendering pauses every ``PAGE_SLICE_SECONDS``, between two records, never
inside a transaction: handlers do not await inside one, so the shared connection is free
whenever the loop runs another request, and no read stays open across a pause.

Not chosen: a worker thread with a second, read-only connection (pydantic and ``json.loads``
hold the GIL, so the loop would still wait a switch interval at each of a request's I/O steps,
and each database backend would need a reader pool); a cap on a page's bytes (a cut page is a
window that D12's ``page``/``page_size`` arithmetic cannot describe); smaller record limits
(the vendor's own fields need the room; the cost per page is now bounded by the slices).
"""

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from pydantic import BaseModel
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.errors import validation_error
from app.etags import etag_of
from app.headers import API_HEADERS
from app.limits import MAX_RECORD_BYTES

# How long a page renders before it lets the event loop run other requests: how long another
# request waits for a page at each step it takes on the loop, plus one record (~2 ms at most
# for a record of 32 KiB of dense JSON) and one batch of PageRows.
PAGE_SLICE_SECONDS = 0.005
# A page is sent in pieces of about this size (each joined from its records' JSON).
PAGE_PIECE_BYTES = 1024 * 1024

_R = TypeVar("_R")


class ModelResponse(Response):
    media_type = "application/json"

    def __init__(self, model: BaseModel | bytes, status_code: int = 200) -> None:
        """``model`` is a response model, or the JSON ``render_record`` made of one."""
        if isinstance(model, BaseModel):
            model = model.__pydantic_serializer__.to_json(model)
        super().__init__(model, status_code=status_code)
        self.raw_headers.extend(API_HEADERS)


class RecordResponse(ModelResponse):
    """One record, with its ``ETag``: the hash of exactly these bytes (app/etags.py)."""

    def __init__(self, model: BaseModel | bytes, status_code: int = 200) -> None:
        body = model if isinstance(model, bytes) else record_json(model)
        super().__init__(body, status_code=status_code)
        self.raw_headers.append((b"etag", etag_of(body)))


def record_json(model: BaseModel) -> bytes:
    """A record's JSON exactly as an answer sends it (what its ETag is the hash of)."""
    return model.__pydantic_serializer__.to_json(model)


def render_record(model: BaseModel) -> bytes:
    """The record's JSON as it will be sent; a 422 when it is over ``MAX_RECORD_BYTES``."""
    body = model.__pydantic_serializer__.to_json(model)
    if len(body) > MAX_RECORD_BYTES:
        raise validation_error(
            [
                {
                    "type": "record_too_large",
                    "loc": ("body",),
                    "msg": f"The record would take {len(body)} bytes as JSON; at most"
                    f" {MAX_RECORD_BYTES} are allowed",
                }
            ]
        )
    return body


class PageResponse(Response):
    """A list's JSON, sent in the pieces ``page_response`` made of it: never joined into one
    buffer (32 MB for the largest page, ~30 ms of the event loop just to copy), and sent with
    the transport's flow control between pieces."""

    media_type = "application/json"

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces
        super().__init__(headers={"content-length": str(sum(map(len, pieces)))})
        self.raw_headers.extend(API_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        *pieces, last = self.pieces
        for piece in pieces:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": last})


async def page_response(
    envelope: BaseModel, records: Iterable[_R], public: Callable[[_R], BaseModel]
) -> PageResponse:
    """A list's answer: ``envelope`` (the list model with empty ``results``, its first field)
    with ``public(record)`` for each record as its results, rendered cooperatively (see the
    module docstring). ``public`` may read the database (single statements, no transaction).
    """
    head, tail = _split_envelope(envelope.__pydantic_serializer__.to_json(envelope))
    pieces: list[bytes] = []
    parts: list[bytes] = [head]
    size = 0
    separator = b""
    clock = time.perf_counter
    deadline = clock() + PAGE_SLICE_SECONDS
    for record in records:
        model = public(record)
        part = model.__pydantic_serializer__.to_json(model)
        parts += (separator, part)
        separator = b","
        size += len(part)
        if size >= PAGE_PIECE_BYTES:
            pieces.append(b"".join(parts))
            parts, size = [], 0
        if clock() >= deadline:
            await asyncio.sleep(0)
            deadline = clock() + PAGE_SLICE_SECONDS
    parts.append(tail)
    pieces.append(b"".join(parts))
    return PageResponse(pieces)


_EMPTY_RESULTS = b'{"results":[]'


def _split_envelope(body: bytes) -> tuple[bytes, bytes]:
    """``{"results":[`` and ``],...}``: where the records go in the envelope's JSON."""
    if not body.startswith(_EMPTY_RESULTS):
        raise ValueError("a list envelope must have empty results as its first field")
    cut = len(_EMPTY_RESULTS) - 1
    return body[:cut], body[cut:]
