"""Wire models of the admin API (CONTRACT.md D29, D32)."""

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, Field

from app.schemas import RequestModel, ResponseModel

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
    set: Annotated[AwareDatetime, AfterValidator(_within_clock_range)] | None = Field(
        default=None, description="jump to this instant (RFC 3339, with its offset)"
    )
    advance_seconds: float | None = Field(
        default=None,
        ge=0,
        le=MAX_ADVANCE_SECONDS,
        allow_inf_nan=False,
        description="move forward by this many seconds; syncs this makes due run",
    )


class ClockResponse(ResponseModel):
    now: datetime
    frozen: bool
