"""Wire models of dead letters (CONTRACT.md D25), named and shaped as the official SDK's
(``SyncDeadLetterObjectModel``, ``DLQListResponse``, ``ListDLQRequest``,
``BulkRequeueDLQRequest``, ``BulkMarkDLQRequest`` and their responses).

An *error type* in a request matches an entry whose ``error_type`` is that name
(``download_failed``, ``validation_error``) or whose provider code, the part of
``error_message`` before its first ``:``, is that name (``NoSuchKey``, ``AccessDenied``,
``InvalidObjectState``). Names are matched exactly, case included.
"""

from typing import Annotated

from pydantic import Field, StrictBool

from app.limits import MAX_ERROR_TYPES
from app.schemas import ListRequestModel, Name, RequestModel, ResponseModel, UtcDatetime

ERROR_TYPES_DESCRIPTION = (
    "Error types to match: an entry's error_type (download_failed, validation_error) or the"
    " provider code its error_message starts with (NoSuchKey, AccessDenied, ...)."
    f" At most {MAX_ERROR_TYPES} names."
)

ErrorTypes = Annotated[
    list[Name], Field(max_length=MAX_ERROR_TYPES, description=ERROR_TYPES_DESCRIPTION)
]

# What ``disposal_reason`` says of an entry marked permanently failed.
MARKED_PERMANENTLY_FAILED = "marked_permanently_failed"


class ListDLQRequest(ListRequestModel):
    """Filters for listing a sync's dead letters, ANDed; absent ones do not filter."""

    only_max_retries: StrictBool = Field(
        default=False, description="Only entries that exhausted their retries and are unresolved."
    )
    error_types: ErrorTypes | None = None


class BulkRequeueDLQRequest(RequestModel):
    """Which exhausted entries to send back to the retry path: all, or those of these types."""

    error_types: ErrorTypes | None = None


class BulkMarkDLQRequest(RequestModel):
    """Which unresolved entries to mark permanently failed (never retried again)."""

    error_types: Annotated[ErrorTypes, Field(min_length=1)]


class SyncDeadLetterObjectModel(ResponseModel):
    """A source file that a sync could not turn into an object, one per source key."""

    dlq_id: str
    sync_config_id: str
    sync_job_id: str | None
    source_object_id: str
    source_path: str | None
    error_type: str
    error_message: str
    error_stack_trace: str | None = None
    first_seen_at: UtcDatetime
    last_seen_at: UtcDatetime
    last_reattempt_at: UtcDatetime | None = None
    retry_count: Annotated[int, Field(ge=0)]
    max_retries_reached: bool
    requeued_at: UtcDatetime | None
    resolved_at: UtcDatetime | None
    disposal_reason: str | None
    # Not in the SDK's model (a superset): whether bulk-mark-failed retired the entry.
    permanently_failed: bool
    internal_id: str
    namespace_id: str
    bucket_id: str


class DLQListResponse(ResponseModel):
    results: list[SyncDeadLetterObjectModel]
    total: int


class BulkRequeueDLQResponse(ResponseModel):
    requeued: int


class BulkMarkDLQResponse(ResponseModel):
    updated: int
