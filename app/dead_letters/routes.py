"""Dead-letter routes, under a sync of a bucket of the request's namespace (D25)."""

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path

from app.dependencies import BucketScope
from app.pagination import Page, page_query
from app.query_params import StrictQueryRoute
from app.responses import ModelResponse, PageResponse, page_response

from . import service
from .schemas import (
    BulkMarkDLQRequest,
    BulkMarkDLQResponse,
    BulkRequeueDLQRequest,
    BulkRequeueDLQResponse,
    DLQListResponse,
    ListDLQRequest,
)

router = APIRouter(
    prefix="/v1/buckets/{bucket_id}/syncs/{sync_config_id}/dlq",
    tags=["Bucket Syncs"],
    route_class=StrictQueryRoute,
)

SyncConfigId = Annotated[str, Path(description="The sync configuration's id (sync_...).")]

# The answer has no pagination block and the SDK sends no query, so a page is larger than
# D12's default; ``limit``/``offset`` (or ``page``/``page_size``) reach the rest, and ``total``
# counts every match.
DLQ_DEFAULT_PAGE_SIZE = 100


@router.post("", response_model=DLQListResponse, summary="List Dlq Entries")
async def list_dlq_entries(
    sync_config_id: SyncConfigId,
    scope: BucketScope,
    page: Annotated[Page, Depends(page_query(DLQ_DEFAULT_PAGE_SIZE))],
    request: Annotated[ListDLQRequest | None, Body()] = None,
) -> PageResponse:
    """The sync's dead letters, most recently failed first (resolved ones included)."""
    filters = request or ListDLQRequest()
    rows, total = service.list_dead_letters(
        scope.database,
        bucket_id=scope.bucket_id,
        sync_config_id=sync_config_id,
        page=page,
        only_max_retries=filters.only_max_retries,
        error_types=filters.error_types,
    )
    return await page_response(
        DLQListResponse(results=[], total=total), rows, service.dead_letter_from_record
    )


@router.post("/requeue", response_model=BulkRequeueDLQResponse, summary="Requeue Dlq Entries")
async def requeue_dlq_entries(
    sync_config_id: SyncConfigId,
    scope: BucketScope,
    request: Annotated[BulkRequeueDLQRequest | None, Body()] = None,
) -> ModelResponse:
    """Make exhausted entries retryable again: the sync's next run reads those files."""
    requeued = service.requeue(
        scope.database,
        bucket_id=scope.bucket_id,
        sync_config_id=sync_config_id,
        error_types=(request or BulkRequeueDLQRequest()).error_types,
    )
    return ModelResponse(BulkRequeueDLQResponse(requeued=requeued))


@router.post(
    "/bulk-mark-failed",
    response_model=BulkMarkDLQResponse,
    summary="Bulk Mark Dlq Permanently Failed",
)
async def bulk_mark_dlq_permanently_failed(
    sync_config_id: SyncConfigId, scope: BucketScope, request: BulkMarkDLQRequest
) -> ModelResponse:
    """Retire unresolved entries of these error types: no run or requeue takes them again."""
    updated = service.mark_permanently_failed(
        scope.database,
        bucket_id=scope.bucket_id,
        sync_config_id=sync_config_id,
        error_types=request.error_types,
    )
    return ModelResponse(BulkMarkDLQResponse(updated=updated))
