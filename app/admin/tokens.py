"""The admin token (D28): ``MIXPEEK_MOCK_ADMIN_TOKEN``, or one generated at the first start.

A generated token is printed once and stored only as its SHA-256, like an API key (D17); every
instance on the database accepts it. The configured token is compared in memory and never
stored, printed or logged.
"""

import hashlib
import hmac

from app import identifiers
from app.clock import utc_now
from app.db.database import Database

ADMIN_PATH_PREFIX = "/_mock"


def is_admin_path(path: str) -> bool:
    return path == ADMIN_PATH_PREFIX or path.startswith(ADMIN_PATH_PREFIX + "/")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def ensure_admin_token(db: Database, configured: str | None) -> str | None:
    """A token generated now, when none is configured and none was ever generated; else None."""
    if configured is not None or db.scalar("SELECT 1 FROM admin_tokens LIMIT 1"):
        return None
    token = identifiers.random_id(identifiers.ADMIN_TOKEN, 24)
    with db.transaction():
        if db.scalar("SELECT 1 FROM admin_tokens LIMIT 1"):
            return None  # another process generated one a moment ago
        db.insert("admin_tokens", {"token_hash": hash_token(token), "created_at": utc_now()})
    return token


class AdminTokens:
    """Which bearer tokens open ``/_mock/``: the configured one, else the generated ones."""

    def __init__(self, configured: str | None) -> None:
        self._configured_hash = None if configured is None else hash_token(configured)

    def accepts(self, db: Database, token: str) -> bool:
        presented = hash_token(token)
        if self._configured_hash is not None:
            return hmac.compare_digest(self._configured_hash, presented)
        stored = db.scalar("SELECT token_hash FROM admin_tokens WHERE token_hash = ?", (presented,))
        return stored is not None and hmac.compare_digest(stored, presented)
