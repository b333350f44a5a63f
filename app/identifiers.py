"""Resource identifiers (CONTRACT.md D10), random or, with ``MIXPEEK_MOCK_ID_SEED``, repeatable.

With a seed (D32) the n-th id of a prefix is derived from the seed, the prefix and n, and n
comes from the database (``id_sequences``), so that every process writing one database (the
server, its engine process, other instances) draws from one sequence per prefix, and two fresh
servers given the same seed and the same requests answer the same ids. Keys and tokens stay
random whatever the seed: they are credentials.
"""

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.db.database import Database

# Identifier prefixes, one per resource kind.
ORGANIZATION = "int"
USER = "usr"
API_KEY = "sk"
NAMESPACE = "ns"
BUCKET = "bkt"
CONNECTION = "conn"
SYNC = "sync"
SYNC_JOB = "job"
DEAD_LETTER = "dlq"
OBJECT = "obj"
FAULT = "flt"
ADMIN_TOKEN = "mma"  # noqa: S105 (a prefix)

# The seeded id source of this process, when there is one: prefix -> its next id.
_seeded: Callable[[str], str] | None = None


def new_id(prefix: str, nbytes: int = 12) -> str:
    """A fresh identifier: the prefix, an underscore and URL-safe characters (16 for 12 bytes)."""
    if _seeded is not None:
        return _seeded(prefix)
    return random_id(prefix, nbytes)


def random_id(prefix: str, nbytes: int = 12) -> str:
    """A random identifier, whatever the seed."""
    return f"{prefix}_{secrets.token_urlsafe(nbytes)}"


def new_api_key() -> str:
    return random_id(API_KEY, 24)


def seeded_id(seed: str, prefix: str, number: int) -> str:
    """The ``number``-th id of ``prefix`` under ``seed``: as long as a random one."""
    digest = hmac.new(seed.encode(), f"{prefix}:{number}".encode(), hashlib.sha256).digest()
    return f"{prefix}_{base64.urlsafe_b64encode(digest[:12]).decode()}"


def next_number(db: "Database", prefix: str) -> int:
    """Draw the next number of ``prefix``'s sequence (in the caller's transaction, if any)."""
    number: int = db.scalar(
        "INSERT INTO id_sequences (prefix, last_value) VALUES (?, 1)"
        " ON CONFLICT (prefix) DO UPDATE SET last_value = id_sequences.last_value + 1"
        " RETURNING last_value",
        (prefix,),
    )
    return number


def use_seed(seed: str | None, database: Callable[[], "Database"]) -> None:
    """Make this process's ids repeatable under ``seed`` (None: random again).

    Numbers are drawn inside the transaction this thread is in, if any, else through the
    connection ``database`` gives at the moment of drawing.
    """
    global _seeded
    if seed is None:
        _seeded = None
        return

    def draw(prefix: str) -> str:
        from app.db.database import current_transaction

        return seeded_id(seed, prefix, next_number(current_transaction() or database(), prefix))

    _seeded = draw
