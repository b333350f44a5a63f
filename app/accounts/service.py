"""Creating organizations and keys, and finding the organization behind a key."""

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from app import identifiers
from app.clock import utc_now
from app.db.database import Database
from app.namespaces.service import create_default_namespace

DEFAULT_ORGANIZATION = "default"
DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller behind an API key: one user of one organization (CONTRACT.md D7)."""

    internal_id: str
    user_id: str


@dataclass(frozen=True, slots=True)
class Organization:
    internal_id: str
    name: str
    user_id: str


# Of a key, only its ``sk_`` and at most this many characters after it are kept in clear, to tell
# keys apart in a listing: four of a generated key's 32 random characters.
KEY_PREFIX_CHARACTERS = 4


def key_prefix(key: str) -> str:
    """What the database keeps of ``key`` in clear: ``sk_`` and a few characters, never more
    than a quarter of the rest (an operator's own key may be short, or lack ``sk_``)."""
    head = len(identifiers.API_KEY) + 1 if key.startswith(f"{identifiers.API_KEY}_") else 0
    return key[: head + min(KEY_PREFIX_CHARACTERS, (len(key) - head) // 4)]


def hash_key(key: str) -> str:
    """Keys are 32 random bytes, so a plain SHA-256 is as good as a slow hash for storing them."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


# How long an instance sharing a PostgreSQL database with others may keep answering from what
# it remembers of a key: the longest a revocation made elsewhere takes to reach it.
SHARED_KEY_CACHE_SECONDS = 0.5


class PrincipalCache:
    """Remembers which principal a key hash belongs to, for as long as nothing has changed.

    Keys are only ever added or revoked by another process (the ``keys`` commands, a second
    server) or before serving starts. On SQLite, ``data_version`` changes whenever another
    connection commits to the file, so one cheap pragma per request tells whether the
    remembered answers still hold, and a revoked key is refused on the very next request.
    PostgreSQL has no such counter, and looking the key up is a round trip of every request:
    there answers are remembered for ``SHARED_KEY_CACHE_SECONDS`` of real time (not the mock's
    clock, which may stand still), so a key revoked anywhere is refused by every instance
    within that.
    """

    def __init__(self, *, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._version: int | None = None
        self._expires = 0.0
        self._principals: dict[str, Principal] = {}

    def lookup(self, db: Database, key: str) -> Principal | None:
        version = db.data_version()
        if version is None:  # no change counter (PostgreSQL): remembered for a short while
            now = self._now()
            if now >= self._expires:
                self._principals.clear()
                self._expires = now + SHARED_KEY_CACHE_SECONDS
        elif version != self._version:
            self._principals.clear()
            self._version = version
        presented = hash_key(key)
        principal = self._principals.get(presented)
        if principal is None:
            principal = find_principal(db, key)
            if principal is not None:
                self._principals[presented] = principal
        return principal


def find_principal(db: Database, key: str) -> Principal | None:
    """The principal of a live key, or None for an unknown or revoked one."""
    presented = hash_key(key)
    row = db.one(
        "SELECT key_hash, internal_id, user_id FROM api_keys"
        " WHERE key_hash = ? AND revoked_at IS NULL",
        (presented,),
    )
    # The lookup finds the row by hash; comparing in constant time as well means no timing
    # difference can tell a caller how much of a guessed hash matched.
    if row is None or not hmac.compare_digest(row["key_hash"], presented):
        return None
    return Principal(internal_id=row["internal_id"], user_id=row["user_id"])


def find_organization(db: Database, name: str) -> Organization | None:
    row = db.one(
        "SELECT o.internal_id, o.name, u.user_id FROM organizations o"
        " JOIN users u ON u.internal_id = o.internal_id WHERE o.name = ?"
        " ORDER BY u.created_at LIMIT 1",
        (name,),
    )
    if row is None:
        return None
    return Organization(internal_id=row["internal_id"], name=row["name"], user_id=row["user_id"])


def first_organization(db: Database) -> Organization | None:
    name = db.scalar("SELECT name FROM organizations ORDER BY created_at LIMIT 1")
    return None if name is None else find_organization(db, name)


def create_organization(db: Database, *, name: str) -> Organization:
    """A new organization with one user and a namespace named ``default``."""
    with db.transaction():
        return _insert_organization(db, name=name)


def first_or_new_organization(db: Database, *, name: str) -> tuple[Organization, bool]:
    """The first organization, or (when there is none) a new one named ``name``; whether it is
    new. Looked for and created in one transaction, so that instances starting together on
    one database create one."""
    with db.transaction():
        existing = first_organization(db)
        if existing is not None:
            return existing, False
        return _insert_organization(db, name=name), True


def _insert_organization(db: Database, *, name: str) -> Organization:
    now = utc_now()
    org = Organization(
        internal_id=identifiers.new_id(identifiers.ORGANIZATION),
        name=name,
        user_id=identifiers.new_id(identifiers.USER),
    )
    db.insert("organizations", {"internal_id": org.internal_id, "name": name, "created_at": now})
    db.insert(
        "users",
        {
            "user_id": org.user_id,
            "internal_id": org.internal_id,
            "email": f"{name}@mixpeek-mock.local",
            "created_at": now,
        },
    )
    create_default_namespace(db, internal_id=org.internal_id, name=DEFAULT_NAMESPACE)
    return org


def add_key(db: Database, org: Organization, key: str) -> bool:
    """Make ``key`` a live key of ``org``; False when it already was one (nothing changed)."""
    key_hash = hash_key(key)
    with db.transaction():
        row = db.one("SELECT internal_id, revoked_at FROM api_keys WHERE key_hash = ?", (key_hash,))
        if row is not None:
            if row["internal_id"] != org.internal_id:
                raise ValueError("that key already belongs to another organization")
            if row["revoked_at"] is None:
                return False
            db.update("api_keys", {"revoked_at": None}, where="key_hash = ?", params=[key_hash])
            return True
        db.insert(
            "api_keys",
            {
                "key_hash": key_hash,
                "key_prefix": key_prefix(key),
                "user_id": org.user_id,
                "internal_id": org.internal_id,
                "created_at": utc_now(),
            },
        )
    return True


def trim_key_prefixes(db: Database) -> None:
    """Shorten prefixes that older versions kept (eight characters) to ``sk_`` and four."""
    longest = len(identifiers.API_KEY) + 1 + KEY_PREFIX_CHARACTERS
    if db.scalar("SELECT 1 FROM api_keys WHERE length(key_prefix) > ? LIMIT 1", (longest,)):
        with db.transaction():
            db.execute(
                "UPDATE api_keys SET key_prefix = substr(key_prefix, 1, ?)"
                " WHERE length(key_prefix) > ?",
                (longest, longest),
            )


def create_key(db: Database, org: Organization) -> str:
    """A new random key for ``org``. The plaintext exists only in the return value."""
    key = identifiers.new_api_key()
    add_key(db, org, key)
    return key


def revoke_key(db: Database, key: str) -> bool:
    """Revoke a key; False when no live key matches."""
    revoked = db.update(
        "api_keys",
        {"revoked_at": utc_now()},
        where="key_hash = ? AND revoked_at IS NULL",
        params=[hash_key(key)],
    )
    return revoked is not None


@dataclass(frozen=True, slots=True)
class KeyListing:
    """What ``keys list`` shows of a key: never the key, only its clear prefix."""

    key_prefix: str
    organization: str
    created_at: datetime
    revoked_at: datetime | None


def list_keys(db: Database) -> list[KeyListing]:
    """Every key, live or revoked, oldest first."""
    rows = db.all(
        "SELECT k.key_prefix, o.name AS organization_name, k.created_at, k.revoked_at"
        " FROM api_keys k JOIN organizations o ON o.internal_id = k.internal_id"
        " ORDER BY k.created_at, o.name"
    )
    return [
        KeyListing(
            key_prefix=row["key_prefix"],
            organization=row["organization_name"],
            created_at=row["created_at"],
            revoked_at=row["revoked_at"],
        )
        for row in rows
    ]
