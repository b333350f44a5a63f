"""Wire models of the admin API (CONTRACT.md D29 to D32)."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, model_validator

from app.admin.globs import MAX_GLOB_LENGTH
from app.limits import MAX_NAME_LENGTH
from app.schemas import INT64_MAX, JsonObject, RequestModel, ResponseModel

# Snapshot names go into URL paths: a plain, short word.
SnapshotName = Annotated[
    str,
    Field(
        strict=True,
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Letters, digits, '.', '_' and '-', starting with a letter or digit.",
    ),
]

# The clock may be set anywhere a timestamp can be stored and moved from: within these years.
EARLIEST_CLOCK = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_CLOCK = datetime(9000, 1, 1, tzinfo=UTC)
# Ten years: far beyond any schedule, and no date can overflow from a frozen clock moved by it.
MAX_ADVANCE_SECONDS = 10 * 365 * 24 * 3600


def _rfc3339_text(value: Any) -> Any:
    """An instant is RFC 3339 text: not a number pydantic would read as Unix time."""
    if not isinstance(value, str):
        raise ValueError("an instant is RFC 3339 text, e.g. 2030-01-01T00:00:00Z")
    if value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError("an instant is RFC 3339 text, not a number of seconds")
    return value


# An instant as the admin API takes it: RFC 3339 text with its offset.
Instant = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]


def _within_clock_range(value: datetime) -> datetime:
    value = value.astimezone(UTC)
    if not EARLIEST_CLOCK <= value < LATEST_CLOCK:
        raise ValueError("the clock can be set between 1970 and 9000 only")
    return value


class SuccessResponse(ResponseModel):
    success: Literal[True] = True


class SnapshotCreateRequest(RequestModel):
    name: SnapshotName


class SnapshotModel(ResponseModel):
    name: str
    created_at: datetime


class SnapshotListResponse(ResponseModel):
    results: list[SnapshotModel]


class SnapshotRestoreResponse(ResponseModel):
    success: Literal[True] = True
    name: str


class ClockRequest(RequestModel):
    """Any of the three, applied in this order; none at all reads the clock."""

    freeze: bool | None = Field(
        default=None,
        strict=True,
        description="true stops the clock where it is; false lets it run on from there",
    )
    set: Annotated[Instant, AfterValidator(_within_clock_range)] | None = Field(
        default=None, description="jump to this instant (RFC 3339, with its offset)"
    )
    advance_seconds: float | None = Field(
        default=None,
        strict=True,
        ge=0,
        le=MAX_ADVANCE_SECONDS,
        allow_inf_nan=False,
        description="move forward by this many seconds; syncs this makes due run",
    )


class ClockResponse(ResponseModel):
    now: datetime
    frozen: bool


# --- The journal (D30) ---------------------------------------------------------------------

# A page of the journal holds at most this many entries (the default: DEFAULT_JOURNAL_LIMIT).
MAX_JOURNAL_LIMIT = 1000
DEFAULT_JOURNAL_LIMIT = 100
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _http_method(value: str) -> str:
    upper = value.upper()
    if upper not in HTTP_METHODS:
        raise ValueError(f"must be one of {', '.join(HTTP_METHODS)}")
    return upper


def _v1_glob(value: str) -> str:
    # A rule applies to the vendor's API alone: a glob that does not start with /v1/ could
    # match /_mock/ (the admin API a test needs to undo the rule) or nothing at all.
    if value != "/v1" and not value.startswith("/v1/"):
        raise ValueError("must start with '/v1/': fault rules apply to the API under /v1 only")
    return value


HttpMethod = Annotated[
    str,
    Field(strict=True, max_length=10, description="an HTTP method, any case"),
    AfterValidator(_http_method),
]
PathGlob = Annotated[
    str,
    Field(
        strict=True,
        min_length=1,
        max_length=MAX_GLOB_LENGTH,
        description="a glob of the decoded path: '*' within a segment, '**' across segments",
    ),
]
NamespaceIdentifier = Annotated[
    str,
    Field(strict=True, min_length=1, max_length=MAX_NAME_LENGTH, description="an id or name"),
]
StatusCode = Annotated[int, Field(strict=True, ge=100, le=599)]
JournalLimit = Annotated[int, Field(ge=1, le=MAX_JOURNAL_LIMIT)]


class JournalFilters(RequestModel):
    """Which journal entries: every given filter must match (none: every entry)."""

    method: HttpMethod | None = None
    path: PathGlob | None = None
    status: StatusCode | None = None
    namespace: NamespaceIdentifier | None = Field(
        default=None, description="the namespace's id or name"
    )
    since: Instant | None = Field(
        default=None, description="entries at or after this instant (RFC 3339, server clock)"
    )


class JournalEntry(ResponseModel):
    id: str
    time: datetime
    method: str
    path: str
    query: str = Field(description="the raw query string")
    status: int | None = Field(description="null: the connection was dropped by a fault rule")
    duration_ms: float
    organization_id: str | None
    namespace_id: str | None
    headers: dict[str, str] = Field(description="request headers, credentials masked")
    request_body: Any = Field(description="JSON when it was JSON, else text; secrets masked")
    request_body_truncated: bool
    response_body: Any
    response_body_truncated: bool


class JournalPage(ResponseModel):
    results: list[JournalEntry]
    total: int = Field(description="every entry that matches, beyond the limit too")


class JournalCount(ResponseModel):
    count: int


# --- Fault rules (D31) ---------------------------------------------------------------------

MAX_FAULT_RULES = 100
MAX_DELAY_MS = 60_000
MAX_RETRY_AFTER_SECONDS = 3600
MSG_NO_EFFECT = "A rule needs at least one effect: status, delay_ms or drop."


class FaultCreateRequest(RequestModel):
    method: HttpMethod | None = Field(default=None, description="absent: every method")
    path: Annotated[PathGlob, AfterValidator(_v1_glob)] | None = Field(
        default=None, description="a glob starting with /v1/; absent: every /v1 path"
    )
    namespace: NamespaceIdentifier | None = Field(
        default=None, description="requests that name this namespace (id or name) only"
    )
    status: int | None = Field(default=None, strict=True, ge=400, le=599)
    retry_after: int | None = Field(
        default=None,
        strict=True,
        ge=0,
        le=MAX_RETRY_AFTER_SECONDS,
        description="seconds: the Retry-After header and details.retry_after_seconds",
    )
    error_type: str | None = Field(
        default=None,
        strict=True,
        max_length=100,
        pattern=r"^[A-Za-z][A-Za-z0-9_]*$",
        description="default: the type D6 gives the status (429: TooManyRequestsError)",
    )
    message: str | None = Field(default=None, strict=True, min_length=1, max_length=1000)
    details: JsonObject | None = None
    delay_ms: int | None = Field(default=None, strict=True, ge=0, le=MAX_DELAY_MS)
    drop: bool = Field(default=False, strict=True, description="close the connection unanswered")
    times: int | None = Field(
        default=None, strict=True, ge=1, le=INT64_MAX, description="fire at most this often"
    )
    after: int = Field(
        default=0, strict=True, ge=0, le=INT64_MAX, description="let this many matches pass first"
    )
    probability: float | None = Field(default=None, strict=True, ge=0, le=1, allow_inf_nan=False)
    seed: int | None = Field(
        default=None, strict=True, ge=-INT64_MAX, le=INT64_MAX, description="makes it repeatable"
    )

    @model_validator(mode="after")
    def _one_effect(self) -> "FaultCreateRequest":
        if self.status is None and self.delay_ms is None and not self.drop:
            raise ValueError(MSG_NO_EFFECT)
        if self.drop and self.status is not None:
            raise ValueError("A rule either answers a status or drops the connection, not both.")
        if self.status is None and (
            self.retry_after is not None
            or self.error_type is not None
            or self.message is not None
            or self.details is not None
        ):
            raise ValueError("retry_after, error_type, message and details need a status.")
        return self


class FaultModel(ResponseModel):
    fault_id: str
    method: str | None
    path: str | None
    namespace: str | None
    status: int | None
    retry_after: int | None
    error_type: str | None
    message: str | None
    details: dict[str, Any] | None
    delay_ms: int | None
    drop: bool
    times: int | None
    after: int
    probability: float | None
    seed: int | None
    created_at: datetime
    matched: int = Field(description="requests that matched, the ones let pass included")
    fired: int = Field(description="requests the rule answered, dropped or delayed")


class FaultListResponse(ResponseModel):
    results: list[FaultModel]


class FaultDeleteResponse(ResponseModel):
    success: Literal[True] = True
    fault_id: str


class FaultClearResponse(ResponseModel):
    success: Literal[True] = True
    deleted: int
