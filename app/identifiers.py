"""Resource identifiers (CONTRACT.md D10)."""

import secrets

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


def new_id(prefix: str, nbytes: int = 12) -> str:
    """A fresh identifier: the prefix, an underscore and URL-safe random characters."""
    return f"{prefix}_{secrets.token_urlsafe(nbytes)}"


def new_api_key() -> str:
    return new_id(API_KEY, 24)
