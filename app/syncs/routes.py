"""Sync configuration routes, under a bucket of the request's namespace (D8 to D13)."""

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query

from app.dependencies import BucketScope, EngineDep, IdempotencyDep, IfMatchDep
from app.pagination import PageDep
from app.query_params import StrictQueryRoute
from app.responses import ModelResponse, PageResponse, RecordResponse, page_response
from app.syncs import lifecycle, service
from app.syncs.schemas import (
    ListSyncConfigurationsRequest,
    SyncConfigurationModel,
    SyncCreateRequest,
    SyncDeletedResponse,
    SyncListResponse,
    SyncUpdateRequest,
    TriggerSyncResponse,
    UnlockSyncResponse,
)

router = APIRouter(
    prefix="/v1/buckets/{bucket_id}/syncs", tags=["Bucket Syncs"], route_class=StrictQueryRoute
)

SyncConfigId = Annotated[str, Path(description="The sync configuration's id (sync_...).")]


@router.post("", response_model=SyncConfigurationModel, summary="Create Sync Configuration")
async def create_sync(
    request: SyncCreateRequest, scope: BucketScope, once: IdempotencyDep
) -> RecordResponse:
    return RecordResponse(
        service.create_sync(scope.database, scope=scope, fields=request.model_dump(), once=once)
    )


@router.post("/list", response_model=SyncListResponse, summary="List Sync Configurations")
async def list_syncs(
    scope: BucketScope,
    page: PageDep,
    request: Annotated[ListSyncConfigurationsRequest | None, Body()] = None,
) -> PageResponse:
    filters = request or ListSyncConfigurationsRequest()
    bucket_id = scope.bucket_id
    rows, total = service.list_syncs(
        scope.database,
        scope=scope,
        page=page,
        connection_id=filters.connection_id,
        status=filters.status,
        is_active=filters.is_active,
    )
    return await page_response(
        SyncListResponse(
            results=[],
            pagination=page.describe(total, f"/v1/buckets/{bucket_id}/syncs/list"),
            total=total,
        ),
        rows,
        service.sync_from_record,
    )


@router.get(
    "/{sync_config_id}", response_model=SyncConfigurationModel, summary="Get Sync Configuration"
)
async def get_sync(sync_config_id: SyncConfigId, scope: BucketScope) -> RecordResponse:
    record = service.get_sync(
        scope.database, bucket_id=scope.bucket_id, sync_config_id=sync_config_id
    )
    return RecordResponse(service.sync_from_record(record))


@router.patch(
    "/{sync_config_id}",
    response_model=SyncConfigurationModel,
    summary="Update Sync Configuration",
)
async def update_sync(
    sync_config_id: SyncConfigId,
    request: SyncUpdateRequest,
    scope: BucketScope,
    if_match: IfMatchDep,
) -> RecordResponse:
    """Apply exactly the fields sent; ``metadata`` is replaced, not merged."""
    return RecordResponse(
        service.update_sync(
            scope.database,
            bucket_id=scope.bucket_id,
            sync_config_id=sync_config_id,
            changes=request.model_dump(exclude_unset=True),
            user_id=scope.principal.user_id,
            if_match=if_match,
        )
    )


@router.delete(
    "/{sync_config_id}",
    response_model=SyncDeletedResponse,
    summary="Delete Sync Configuration",
)
async def delete_sync(
    sync_config_id: SyncConfigId, scope: BucketScope, if_match: IfMatchDep
) -> ModelResponse:
    service.delete_sync(
        scope.database,
        bucket_id=scope.bucket_id,
        sync_config_id=sync_config_id,
        if_match=if_match,
    )
    return ModelResponse(SyncDeletedResponse(sync_config_id=sync_config_id))


# -- the lifecycle (D18 to D21) ---------------------------------------------------------------


@router.post(
    "/{sync_config_id}/pause",
    response_model=SyncConfigurationModel,
    summary="Pause Sync Configuration",
)
async def pause_sync(sync_config_id: SyncConfigId, scope: BucketScope) -> RecordResponse:
    """Stop scheduling the sync (a run in progress finishes); pausing a paused sync is a no-op."""
    return RecordResponse(
        lifecycle.pause(
            scope.database,
            bucket_id=scope.bucket_id,
            sync_config_id=sync_config_id,
            user_id=scope.principal.user_id,
        )
    )


@router.post(
    "/{sync_config_id}/resume",
    response_model=SyncConfigurationModel,
    summary="Resume Sync Configuration",
)
async def resume_sync(sync_config_id: SyncConfigId, scope: BucketScope) -> RecordResponse:
    """Resume a paused or FAILED sync: due at once, its failure count reset."""
    return RecordResponse(
        lifecycle.resume(scope.database, bucket_id=scope.bucket_id, sync_config_id=sync_config_id)
    )


@router.post(
    "/{sync_config_id}/trigger",
    response_model=TriggerSyncResponse,
    summary="Trigger Sync Configuration",
)
async def trigger_sync(
    sync_config_id: SyncConfigId,
    scope: BucketScope,
    engine: EngineDep,
    full_sync: Annotated[
        bool, Query(description="Read every file, not only those changed since the last run.")
    ] = False,
) -> ModelResponse:
    """Start a run now; while one runs, start nothing and name it (``skipped_already_running``)."""
    settings = engine.config
    triggered = lifecycle.trigger(
        scope.database,
        bucket_id=scope.bucket_id,
        sync_config_id=sync_config_id,
        full_sync=full_sync,
        worker_id=engine.worker_id,
        ttl_seconds=settings.lease_ttl_seconds,
    )
    if triggered.status == "running":
        engine.wake()
    return ModelResponse(
        TriggerSyncResponse(
            sync_config_id=triggered.sync_config_id,
            sync_job_id=triggered.sync_job_id,
            status=triggered.status,
            full_sync=triggered.full_sync,
        )
    )


@router.post(
    "/{sync_config_id}/unlock",
    response_model=UnlockSyncResponse,
    summary="Unlock Sync Configuration",
)
async def unlock_sync(sync_config_id: SyncConfigId, scope: BucketScope) -> ModelResponse:
    """Clear the run lock of a worker that died; its job becomes ``interrupted``."""
    was_locked = lifecycle.unlock(
        scope.database, bucket_id=scope.bucket_id, sync_config_id=sync_config_id
    )
    return ModelResponse(UnlockSyncResponse(sync_config_id=sync_config_id, was_locked=was_locked))
