"""Wire models of sync jobs and sync metrics (CONTRACT.md D23, D24).

Names, fields and bounds are the official SDK's (``SyncJobModel``, ``SyncJobListResponse``,
``ListSyncJobsRequest``, ``SyncMetricsResponse``): every answer must parse through them.
Fields the server has nothing for (``resumed_via``, ``current_cursor``) are always emitted,
as null, so that the shape never depends on the run.
"""

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, field_validator

from app.schemas import ListRequestModel, Pagination, ResponseModel, UtcDatetime

MAX_JOB_ERROR_LENGTH = 1000

NonNegative = Annotated[int, Field(ge=0)]


class SyncJobStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    SKIPPED = "skipped"


class SyncJobTrigger(StrEnum):
    SCHEDULED = "scheduled"
    MANUAL = "manual"
    RESUME = "resume"


def _lowercase(value: Any) -> Any:
    """Job statuses are lowercase on the wire; input is read case-insensitively, like a
    sync's status (D5)."""
    return value.lower() if isinstance(value, str) else value


class ListSyncJobsRequest(ListRequestModel):
    """Filters for listing a sync's jobs; an absent one does not filter."""

    status: SyncJobStatus | None = None

    _parse_status = field_validator("status", mode="before")(_lowercase)


class SyncJobModel(ResponseModel):
    """One run of a sync: what it was asked to do, how far it got, how it ended (D23)."""

    sync_job_id: str
    sync_config_id: str
    internal_id: str
    namespace_id: str
    bucket_id: str
    status: SyncJobStatus
    trigger: SyncJobTrigger
    phase: str | None
    total_files: NonNegative
    files_synced: NonNegative
    files_failed: NonNegative
    files_verified: NonNegative
    started_at: UtcDatetime
    completed_at: UtcDatetime | None
    updated_at: UtcDatetime
    error: Annotated[str, Field(max_length=MAX_JOB_ERROR_LENGTH)] | None
    resumed_via: str | None = None
    metadata: dict[str, Any]
    progress_percent: Annotated[float, Field(ge=0, le=100)]
    throughput_files_per_min: Annotated[float, Field(ge=0)]
    lag_seconds: NonNegative | None
    current_cursor: str | None = None
    progress: dict[str, Any]


class SyncJobListResponse(ResponseModel):
    results: list[SyncJobModel]
    pagination: Pagination
    total: int


class SyncMetricsResponse(ResponseModel):
    """A sync's counters, health and backlog in one answer (D24)."""

    sync_config_id: str
    status: str
    is_active: bool
    paused: bool
    total_files_discovered: NonNegative
    total_files_synced: NonNegative
    total_files_failed: NonNegative
    total_bytes_synced: NonNegative
    batches_created: NonNegative
    sync_run_counter: NonNegative
    consecutive_failures: NonNegative
    last_error: str | None
    last_sync_at: UtcDatetime | None
    next_sync_at: UtcDatetime | None
    seconds_since_last_sync: NonNegative | None
    is_stale: bool
    intervals_since_last_sync: Annotated[float, Field(ge=0)] | None
    stale_after_seconds: int
    failure_rate: Annotated[float, Field(ge=0, le=1)]
    healthy: bool
    dlq_total: NonNegative
    dlq_by_error: dict[str, int]
    running_job: bool
    stalled: bool
    stalled_reason: str | None
    last_job: dict[str, Any] | None
