"""Building blocks shared by every resource's wire models.

Types here are strict the way the official SDK is strict (CONTRACT.md D5): an integer is a JSON
integer, never ``"300"`` or ``300.0``; a boolean is ``true``/``false``, never ``1``.
"""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict

# Integers are stored in SQLite, whose integers are signed 64-bit: larger ones are a 422.
INT64_MAX = 2**63 - 1

# Free-form JSON objects (metadata and the like) may nest this deep and no deeper: deep enough
# for any real document, shallow enough that encoding one can never exhaust the stack.
MAX_JSON_DEPTH = 32


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest more than ``limit`` levels (iterative: no recursion)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return False


def _check_depth(value: dict[str, Any]) -> dict[str, Any]:
    if nested_deeper_than(value, MAX_JSON_DEPTH):
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


# A JSON object with free-form values.
JsonObject = Annotated[dict[str, Any], AfterValidator(_check_depth)]


def _as_utc(value: datetime) -> datetime:
    """Naive datetimes are read as UTC (CONTRACT.md D3); aware ones are converted to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


class TaskStatusEnum(StrEnum):
    """The vendor's TaskStatusEnum, with the newer API's additions."""

    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    COMPLETED_WITH_ERRORS = "COMPLETED_WITH_ERRORS"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    UNKNOWN = "UNKNOWN"
    SKIPPED = "SKIPPED"
    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    ARCHIVED = "ARCHIVED"
    SUSPENDED = "SUSPENDED"
    QUEUED = "QUEUED"
    INTERRUPTED = "INTERRUPTED"
    DEACTIVATED = "DEACTIVATED"


def _allows_null(schema: dict[str, Any]) -> bool:
    alternatives = schema.get("anyOf", [schema])
    return any(branch.get("type") == "null" for branch in alternatives)


def drop_impossible_defaults(schema: dict[str, Any]) -> None:
    """Drop ``default: null`` from properties that do not accept null (see NeverNull in
    app/syncs/schemas.py): left out, they keep their stored value; null is not theirs to take."""
    for prop in schema.get("properties", {}).values():
        if "default" in prop and prop["default"] is None and not _allows_null(prop):
            del prop["default"]


class RequestModel(BaseModel):
    """A request body: unknown keys are a 422 ``extra_forbidden``, never silently dropped."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=drop_impossible_defaults)


class ResponseModel(BaseModel):
    """A response body. Built from trusted rows, so only the wire shape matters here."""

    model_config = ConfigDict(ser_json_inf_nan="null")


class Pagination(ResponseModel):
    total: int
    page: int
    page_size: int
    total_pages: int
    next_page: str | None = None
    previous_page: str | None = None
    next_cursor: str | None = None
