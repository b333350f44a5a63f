"""Building blocks shared by every resource's wire models.

Types here are strict the way the official SDK is strict (CONTRACT.md D5): an integer is a JSON
integer, never ``"300"`` or ``300.0``; a boolean is ``true``/``false``, never ``1``.
"""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app import identifiers
from app.jsonutil import dump_json
from app.limits import MAX_JSON_DEPTH, MAX_NAME_LENGTH, MAX_OBJECT_KEYS, MAX_VALUE_BYTES

# Integers are stored in SQLite, whose integers are signed 64-bit: larger ones are a 422.
INT64_MAX = 2**63 - 1


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


M = TypeVar("M", bound=BaseModel)

# The validation context of a response built from a stored record (``from_stored``).
STORED_RECORD: dict[str, bool] = {"stored_record": True}


def from_stored(model: type[M], record: Any) -> M:
    """``model`` validated from a record as the database holds it.

    Its free-form values were bounded when they were written, and the record rendered before
    the write committed (app/responses.py), so they are not walked again here: for a record of
    dense values (50 metadata filters holding 10 000 values), that second walk was four fifths
    of what serving the record cost, on every read and every page.
    """
    return model.model_validate(record, context=STORED_RECORD)


def check_json_value(value: Any, info: ValidationInfo) -> Any:
    """Refuse a free-form value nested deeper than ``MAX_JSON_DEPTH`` levels or taking more
    than ``MAX_VALUE_BYTES`` bytes as compact JSON: stored, it could not be served (D6's 500)
    or would bloat every page that holds it.

    Run before any other validation of the value, so that pydantic never walks a value that
    is refused anyway; not run on a stored record (``from_stored``), which was checked when it
    was written.
    """
    if info.context is STORED_RECORD:
        return value
    if nested_deeper_than(value, MAX_JSON_DEPTH):
        raise PydanticCustomError(
            "json_too_deep",
            "JSON nested deeper than {max_depth} levels",
            {"max_depth": MAX_JSON_DEPTH},
        )
    try:
        size = len(dump_json(value))
    except (TypeError, ValueError):
        raise PydanticCustomError("json_type", "Value is not JSON") from None
    if size > MAX_VALUE_BYTES:
        raise PydanticCustomError(
            "json_too_large",
            "JSON value takes {size} bytes; at most {max_bytes} are allowed",
            {"size": size, "max_bytes": MAX_VALUE_BYTES},
        )
    return value


FREEFORM_BOUNDS = (
    f"Free-form JSON: at most {MAX_JSON_DEPTH} levels deep and {MAX_VALUE_BYTES // 1024} KiB"
    " as compact JSON."
)
# Any JSON value, bounded in depth and size: every ``Any`` field of a request model is one.
JsonValue = Annotated[Any, BeforeValidator(check_json_value), Field(description=FREEFORM_BOUNDS)]
# A JSON object with free-form values, bounded the same way.
JsonObject = Annotated[
    dict[str, Any], BeforeValidator(check_json_value), Field(description=FREEFORM_BOUNDS)
]


# Identifiers and names a request refers to: a string of at most ``MAX_NAME_LENGTH`` characters.
Name = Annotated[str, Field(strict=True, max_length=MAX_NAME_LENGTH)]
# A list's ``max_length`` (``Field(max_length=...)``) is checked before its items are: a long
# list of bad items costs one ``too_long`` error, not one per item.


# The prefixes of D10's identifiers, each followed by "_".
ID_PREFIXES = tuple(
    f"{prefix}_"
    for prefix in (
        identifiers.ORGANIZATION,
        identifiers.USER,
        identifiers.API_KEY,
        identifiers.NAMESPACE,
        identifiers.BUCKET,
        identifiers.CONNECTION,
        identifiers.SYNC,
        identifiers.SYNC_JOB,
        identifiers.DEAD_LETTER,
        identifiers.OBJECT,
    )
)


def check_resource_name(value: str) -> str:
    """A name a route can reach: routes take an id or a name (D10), so a name that looks like an
    id (``bkt_...``) could never be reached by name and could answer for another record; a path
    segment can carry neither ``/`` (the path is decoded before it is routed) nor be ``.`` or
    ``..`` (clients resolve those away). Anything else, spaces included, is reachable
    percent-encoded."""
    if value.startswith(ID_PREFIXES):
        prefix = value.split("_", 1)[0]
        raise PydanticCustomError(
            "name_like_id",
            f"A name may not start with {prefix + '_'!r}: that is how identifiers start, and"
            " routes take an id or a name",
        )
    if "/" in value or value in (".", ".."):
        raise PydanticCustomError(
            "name_not_routable",
            "A name may not contain '/' or be '.' or '..': it could not be used in a URL path",
        )
    return value


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


def parse_status(value: Any) -> Any:
    """Status input is case-insensitive, and ``paused`` means SUSPENDED (D5)."""
    if isinstance(value, str):
        value = value.upper()
        return TaskStatusEnum.SUSPENDED.value if value == "PAUSED" else value
    return value


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

    @model_validator(mode="before")
    @classmethod
    def _bounded_keys(cls, data: Any) -> Any:
        """Refuse an object with far more keys than any model has before checking them one by
        one: 100 000 unknown keys would otherwise cost 100 000 errors."""
        if isinstance(data, dict) and len(data) > MAX_OBJECT_KEYS:
            raise PydanticCustomError(
                "too_many_keys",
                "Object has {count} keys; at most {max_keys} are allowed",
                {"count": len(data), "max_keys": MAX_OBJECT_KEYS},
            )
        return data


class ListRequestModel(RequestModel):
    """A list's body: keys it does not define are ignored, not refused.

    The vendor's list schemas do not forbid other keys, and its own documented examples send
    one (``"description": "Find active syncs only"``); a contract-testing target must accept
    what the real service documents. A typo in a filter therefore lists unfiltered, as it would
    against the vendor. Creates and PATCH keep D4's strictness. The key bound stays: a body of
    more than ``MAX_OBJECT_KEYS`` keys is still a 422, decided before any key is looked at.
    """

    model_config = ConfigDict(extra="ignore", json_schema_extra=drop_impossible_defaults)


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
