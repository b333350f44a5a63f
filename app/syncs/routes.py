"""Sync configuration routes, under a bucket of the request's namespace (D8 to D13)."""

from typing import Annotated

from fastapi import APIRouter, Body, Path

from app.dependencies import BucketScope
from app.pagination import PageDep
from app.responses import ModelResponse, PageResponse, page_response
from app.syncs import service
from app.syncs.schemas import (
    ListSyncConfigurationsRequest,
    SyncConfigurationModel,
    SyncCreateRequest,
    SyncDeletedResponse,
    SyncListResponse,
    SyncUpdateRequest,
)

router = APIRouter(prefix="/v1/buckets/{bucket_id}/syncs", tags=["Bucket Syncs"])

SyncConfigId = Annotated[str, Path(description="The sync configuration's id (sync_...).")]


@router.post("", response_model=SyncConfigurationModel, summary="Create Sync Configuration")
async def create_sync(request: SyncCreateRequest, scope: BucketScope) -> ModelResponse:
    return ModelResponse(
        service.create_sync(scope.database, scope=scope, fields=request.model_dump())
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
        bucket_id=bucket_id,
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
async def get_sync(sync_config_id: SyncConfigId, scope: BucketScope) -> ModelResponse:
    record = service.get_sync(
        scope.database, bucket_id=scope.bucket_id, sync_config_id=sync_config_id
    )
    return ModelResponse(service.sync_from_record(record))


@router.patch(
    "/{sync_config_id}",
    response_model=SyncConfigurationModel,
    summary="Update Sync Configuration",
)
async def update_sync(
    sync_config_id: SyncConfigId,
    request: SyncUpdateRequest,
    scope: BucketScope,
) -> ModelResponse:
    """Apply exactly the fields sent; ``metadata`` is replaced, not merged."""
    return ModelResponse(
        service.update_sync(
            scope.database,
            bucket_id=scope.bucket_id,
            sync_config_id=sync_config_id,
            changes=request.model_dump(exclude_unset=True),
        )
    )


@router.delete(
    "/{sync_config_id}",
    response_model=SyncDeletedResponse,
    summary="Delete Sync Configuration",
)
async def delete_sync(sync_config_id: SyncConfigId, scope: BucketScope) -> ModelResponse:
    service.delete_sync(scope.database, bucket_id=scope.bucket_id, sync_config_id=sync_config_id)
    return ModelResponse(SyncDeletedResponse(sync_config_id=sync_config_id))
