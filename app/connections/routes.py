"""Storage connection routes: organization-scoped, Bearer only (D8); credentials never return."""

from typing import Annotated

from fastapi import APIRouter, Body, Path

from app.connections import service
from app.connections.schemas import (
    ListStorageConnectionsRequest,
    StorageConnectionCreateRequest,
    StorageConnectionDeletedResponse,
    StorageConnectionListResponse,
    StorageConnectionModel,
)
from app.dependencies import CallerDep, IdempotencyDep, IfMatchDep, ProbesDep
from app.errors import BadRequestError
from app.pagination import Page, PageDep
from app.query_params import StrictQueryRoute
from app.responses import ModelResponse, PageResponse, RecordResponse, page_response
from app.scopes import Caller

router = APIRouter(
    prefix="/v1/organizations/connections",
    tags=["Storage Connections"],
    route_class=StrictQueryRoute,
)

ConnectionIdentifier = Annotated[str, Path(description="The connection's id (conn_...) or name.")]


@router.post("", response_model=StorageConnectionModel, summary="Create Storage Connection")
async def create_connection(
    request: StorageConnectionCreateRequest,
    caller: CallerDep,
    probes: ProbesDep,
    once: IdempotencyDep,
) -> RecordResponse:
    config = service.validate_config(request.provider_type, request.provider_config)
    if request.test_before_save:
        # In the probes' own threads: the probe waits on the network, and no transaction is open.
        reason = await probes.probe(request.provider_type, config)
        if reason is not None:
            raise BadRequestError(
                f"Connection test failed: {reason}", code="connection_test_failed"
            )
    fields = request.model_dump(mode="json", exclude={"test_before_save"})
    fields["provider_config"] = config
    return RecordResponse(
        service.create_connection(
            caller.database,
            internal_id=caller.principal.internal_id,
            user_id=caller.principal.user_id,
            fields=fields,
            once=once,
        )
    )


async def _list(
    caller: Caller,
    page: Page,
    request: ListStorageConnectionsRequest,
) -> PageResponse:
    rows, total = service.list_connections(
        caller.database,
        internal_id=caller.principal.internal_id,
        page=page,
        provider_type=request.provider_type,
        status=request.status,
        is_active=request.is_active,
    )
    return await page_response(
        StorageConnectionListResponse(
            results=[],
            pagination=page.describe(total, "/v1/organizations/connections"),
            total=total,
        ),
        rows,
        service.connection_from_row,
    )


@router.get("", response_model=StorageConnectionListResponse, summary="List Storage Connections")
async def list_connections_get(caller: CallerDep, page: PageDep) -> PageResponse:
    return await _list(caller, page, ListStorageConnectionsRequest())


@router.post(
    "/list", response_model=StorageConnectionListResponse, summary="List Storage Connections"
)
async def list_connections(
    caller: CallerDep,
    page: PageDep,
    request: Annotated[ListStorageConnectionsRequest | None, Body()] = None,
) -> PageResponse:
    return await _list(caller, page, request or ListStorageConnectionsRequest())


@router.get(
    "/{connection_identifier}",
    response_model=StorageConnectionModel,
    summary="Get Storage Connection",
)
async def get_connection(
    connection_identifier: ConnectionIdentifier,
    caller: CallerDep,
) -> RecordResponse:
    row = service.resolve_connection(
        caller.database, internal_id=caller.principal.internal_id, identifier=connection_identifier
    )
    return RecordResponse(service.connection_from_row(row))


@router.delete(
    "/{connection_identifier}",
    response_model=StorageConnectionDeletedResponse,
    summary="Delete Storage Connection",
)
async def delete_connection(
    connection_identifier: ConnectionIdentifier,
    caller: CallerDep,
    if_match: IfMatchDep,
) -> ModelResponse:
    connection_id = service.delete_connection(
        caller.database,
        internal_id=caller.principal.internal_id,
        identifier=connection_identifier,
        if_match=if_match,
    )
    return ModelResponse(StorageConnectionDeletedResponse(connection_id=connection_id))
