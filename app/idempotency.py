"""Idempotent creates: ``Idempotency-Key`` on every POST that creates a record (D33).

A client that sends a create again (a timeout, a dropped connection, a 503 it retried) with the
same key gets the first answer again, byte for byte, with ``Idempotent-Replayed: true``, rather
than a second record or a 409. The rules:

- a key belongs to the organization and the route (method and path template): another
  organization's key, or the same key on another create route, is another key;
- within ``WINDOW`` (24 h on the server's clock, D32) of the first answer, the same request is
  replayed and a different one with that key is a 422 naming the header. "The same request" is
  the same JSON value as body (key order and spacing aside), on the same path, in the same
  namespace as sent: a key reused to create the same body in another bucket or namespace would
  otherwise answer a record of the first one;
- only a 200 is stored, so a create that failed (409, 404, a 400 from a connection test) can be
  retried with its key; older records are ignored, replaced when the key comes again, and pruned
  a bounded batch at a time by later creates.

One mechanism for every create route: the dependency ``get_idempotent_create``
(app/dependencies.py) checks the key and replays at once when it can, before any other work (a
connection's probe of its store); the create service calls ``claim`` again first thing inside its
write transaction and ``remember`` with the rendered record before it commits. So the record and
its answer commit together or not at all, and of two requests racing with one key, the one that
writes second finds the first one's answer under the write lock and replays it. Answering a
replay from the service is an exception (``ReplayedAnswer``), rendered by its handler, so that the
services keep returning the bytes of what they created.

The SQL is standard (``ON CONFLICT ... DO UPDATE ... WHERE``, row values in ``IN``), for SQLite
and PostgreSQL alike. On PostgreSQL two instances may both find no record; the second upsert then
changes nothing (a fresh record is never overwritten), and ``remember`` replays the first answer
and rolls its own create back.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from app.clock import utc_now
from app.db.database import Database, to_column
from app.errors import ValidationError
from app.etags import etag_of
from app.headers import API_HEADERS

HEADER = "Idempotency-Key"
# Printable ASCII (space to tilde), 1 to 255 characters: what any HTTP client can send as is.
KEY_PATTERN = r"^[\x20-\x7e]+$"
MAX_KEY_LENGTH = 255
WINDOW = timedelta(hours=24)
# Expired records deleted by one create, at most: the cost of pruning stays bounded per request.
PRUNE_BATCH = 100

REPLAYED_HEADER = (b"idempotent-replayed", b"true")
MSG_KEY_REUSED = (
    "Idempotency-Key was already used on this route in the last 24 hours with another request"
    " (body, path or namespace): send a new key for a new request."
)
MSG_KEY_REPEATED = "Send one Idempotency-Key header, not several."


@dataclass(frozen=True, slots=True)
class IdempotentCreate:
    """A create sent with a key: whose it is, on which route, and what was asked."""

    internal_id: str
    route: str
    key: str
    fingerprint: str


class ReplayedAnswer(Exception):  # noqa: N818 (an answer, not an error)
    """The stored answer to an earlier request with the same key and body."""

    def __init__(self, status_code: int, body: bytes) -> None:
        super().__init__("replayed")
        self.status_code = status_code
        self.body = body

    def response(self) -> Response:
        response = Response(self.body, status_code=self.status_code, media_type="application/json")
        # Every create answers one record, so its replay carries the record's tag as it did.
        response.raw_headers.extend(((b"etag", etag_of(self.body)), REPLAYED_HEADER, *API_HEADERS))
        return response


def key_error(message: str, error_type: str) -> ValidationError:
    """A 422 naming the header."""
    return ValidationError(
        message,
        details={
            "validation_errors": [
                {"type": error_type, "location": ["header", HEADER], "message": message}
            ]
        },
    )


def fingerprint(*, body: Any, path: str, namespace: str | None) -> str:
    """What makes two requests with one key the same request: the body as a JSON value, the
    path and the namespace as sent (SHA-256 of them in a canonical form)."""
    canonical = json.dumps(
        {"body": body, "path": path, "namespace": namespace},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def claim(db: Database, once: IdempotentCreate | None) -> None:
    """Go on when the key is new (or its record expired); else replay the stored answer
    (``ReplayedAnswer``), or a 422 when the key came with another request."""
    if once is None:
        return
    row = db.one(
        "SELECT body_hash, status_code, response, created_at FROM idempotency_records"
        " WHERE internal_id = ? AND route = ? AND idempotency_key = ?",
        (once.internal_id, once.route, once.key),
    )
    if row is None or row["created_at"] <= utc_now() - WINDOW:
        return
    if row["body_hash"] != once.fingerprint:
        raise key_error(MSG_KEY_REUSED, "idempotency_key_reused")
    raise ReplayedAnswer(row["status_code"], row["response"]["body"].encode("utf-8"))


def remember(db: Database, once: IdempotentCreate | None, body: bytes) -> None:
    """Store the answer to a create with a key, in the create's transaction (before it
    commits); prune a bounded batch of expired records."""
    if once is None:
        return
    now = utc_now()
    cutoff = to_column(now - WINDOW)
    stored = db.execute(
        "INSERT INTO idempotency_records"
        " (internal_id, route, idempotency_key, body_hash, status_code, response, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (internal_id, route, idempotency_key) DO UPDATE SET"
        " body_hash = excluded.body_hash, status_code = excluded.status_code,"
        " response = excluded.response, created_at = excluded.created_at"
        " WHERE idempotency_records.created_at <= ?",
        (
            once.internal_id,
            once.route,
            once.key,
            once.fingerprint,
            200,
            to_column({"body": body.decode("utf-8")}),
            to_column(now),
            cutoff,
        ),
    )
    if not stored:
        # Another instance answered this key since ``claim`` (PostgreSQL): answer as it did.
        claim(db, once)
        raise RuntimeError("an idempotency record was neither stored nor found")
    db.execute(
        "DELETE FROM idempotency_records"
        " WHERE (internal_id, route, idempotency_key) IN ("
        "  SELECT internal_id, route, idempotency_key FROM idempotency_records"
        "  WHERE created_at <= ? ORDER BY created_at LIMIT ?)",
        (cutoff, PRUNE_BATCH),
    )


async def _answer_replay(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ReplayedAnswer)
    return exc.response()


def install_replays(app: FastAPI) -> None:
    app.add_exception_handler(ReplayedAnswer, _answer_replay)
