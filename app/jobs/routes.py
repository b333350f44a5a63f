"""Sync job and metrics routes, under a sync of a bucket of the request's namespace (D23, D24)."""

from typing import Annotated

from fastapi import APIRouter, Body, Path

from app.clock import utc_now
from app.dependencies import BucketScope
from app.pagination import PageDep
from app.query_params import StrictQueryRoute
from app.responses import ModelResponse, PageResponse, page_response

from . import service
from .schemas import ListSyncJobsRequest, SyncJobListResponse, SyncJobModel, SyncMetricsResponse

router = APIRouter(
    prefix="/v1/buckets/{bucket_id}/syncs/{sync_config_id}",
    tags=["Bucket Syncs"],
    route_class=StrictQueryRoute,
)

SyncConfigId = Annotated[str, Path(description="The sync configuration's id (sync_...).")]
SyncJobId = Annotated[str, Path(description="The sync job's id (job_...).")]


@router.post("/jobs", response_model=SyncJobListResponse, summary="List Sync Jobs")
async def list_sync_jobs(
    sync_config_id: SyncConfigId,
    scope: BucketScope,
    page: PageDep,
    request: Annotated[ListSyncJobsRequest | None, Body()] = None,
) -> PageResponse:
    """The sync's runs, newest first; an optional ``status`` filter."""
    filters = request or ListSyncJobsRequest()
    bucket_id = scope.bucket_id
    rows, total = service.list_jobs(
        scope.database,
        bucket_id=bucket_id,
        sync_config_id=sync_config_id,
        page=page,
        status=filters.status,
    )
    now = utc_now()
    return await page_response(
        SyncJobListResponse(
            results=[],
            pagination=page.describe(total, f"/v1/buckets/{bucket_id}/syncs/{sync_config_id}/jobs"),
            total=total,
        ),
        rows,
        lambda row: service.job_from_record(row, now=now),
    )


@router.get("/jobs/{sync_job_id}", response_model=SyncJobModel, summary="Get Sync Job")
async def get_sync_job(
    sync_config_id: SyncConfigId, sync_job_id: SyncJobId, scope: BucketScope
) -> ModelResponse:
    job = service.get_job(
        scope.database,
        bucket_id=scope.bucket_id,
        sync_config_id=sync_config_id,
        sync_job_id=sync_job_id,
    )
    return ModelResponse(service.job_from_record(job, now=utc_now()))


@router.get("/metrics", response_model=SyncMetricsResponse, summary="Get Sync Metrics")
async def get_sync_metrics(sync_config_id: SyncConfigId, scope: BucketScope) -> ModelResponse:
    """Counters, staleness, health, the dead-letter backlog and the last run, in one answer."""
    return ModelResponse(
        service.get_metrics(
            scope.database, bucket_id=scope.bucket_id, sync_config_id=sync_config_id
        )
    )
