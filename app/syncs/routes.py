"""Sync configuration routes, under a bucket of the request's namespace (D8 to D13)."""

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path

from app.buckets.service import resolve_bucket
from app.db.database import Row
from app.dependencies import CurrentNamespace, CurrentPrincipal, DatabaseDep
from app.pagination import PageDep
from app.responses import ModelResponse
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


def get_bucket(
    bucket_id: Annotated[str, Path(description="The bucket's id (bkt_...) or name.")],
    database: DatabaseDep,
    namespace: CurrentNamespace,
) -> Row:
    return resolve_bucket(database, namespace_id=namespace["namespace_id"], identifier=bucket_id)


CurrentBucket = Annotated[Row, Depends(get_bucket)]


@router.post("", response_model=SyncConfigurationModel, summary="Create Sync Configuration")
async def create_sync(
    request: SyncCreateRequest,
    database: DatabaseDep,
    principal: CurrentPrincipal,
    bucket: CurrentBucket,
) -> ModelResponse:
    record = service.create_sync(
        database, bucket=bucket, user_id=principal.user_id, fields=request.model_dump()
    )
    return ModelResponse(service.sync_from_record(record))


@router.post("/list", response_model=SyncListResponse, summary="List Sync Configurations")
async def list_syncs(
    database: DatabaseDep,
    bucket: CurrentBucket,
    page: PageDep,
    request: Annotated[ListSyncConfigurationsRequest | None, Body()] = None,
) -> ModelResponse:
    filters = request or ListSyncConfigurationsRequest()
    rows, total = service.list_syncs(
        database,
        bucket_id=bucket["bucket_id"],
        page=page,
        connection_id=filters.connection_id,
        status=filters.status,
        is_active=filters.is_active,
    )
    return ModelResponse(
        SyncListResponse(
            results=[service.sync_from_record(dict(row)) for row in rows],
            pagination=page.describe(total, f"/v1/buckets/{bucket['bucket_id']}/syncs/list"),
            total=total,
        )
    )


@router.get(
    "/{sync_config_id}", response_model=SyncConfigurationModel, summary="Get Sync Configuration"
)
async def get_sync(
    sync_config_id: SyncConfigId, database: DatabaseDep, bucket: CurrentBucket
) -> ModelResponse:
    record = service.get_sync(
        database, bucket_id=bucket["bucket_id"], sync_config_id=sync_config_id
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
    database: DatabaseDep,
    bucket: CurrentBucket,
) -> ModelResponse:
    """Apply exactly the fields sent; ``metadata`` is replaced, not merged."""
    record = service.update_sync(
        database,
        bucket_id=bucket["bucket_id"],
        sync_config_id=sync_config_id,
        changes=request.model_dump(exclude_unset=True),
    )
    return ModelResponse(service.sync_from_record(record))


@router.delete(
    "/{sync_config_id}",
    response_model=SyncDeletedResponse,
    summary="Delete Sync Configuration",
)
async def delete_sync(
    sync_config_id: SyncConfigId, database: DatabaseDep, bucket: CurrentBucket
) -> ModelResponse:
    service.delete_sync(database, bucket_id=bucket["bucket_id"], sync_config_id=sync_config_id)
    return ModelResponse(SyncDeletedResponse(sync_config_id=sync_config_id))
