"""Compact JSON encoding shared by responses and the database's JSON columns."""

import json
from datetime import UTC, datetime
from enum import Enum
from typing import Any


def _encode_other(value: Any) -> Any:
    """Values JSON has no type for: datetimes as RFC 3339 UTC with ``Z``, enums by value."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_encoder = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_encode_other
)


def dump_json(value: Any) -> bytes:
    return _encoder.encode(value).encode("utf-8")


def dump_json_text(value: Any) -> str:
    return _encoder.encode(value)
