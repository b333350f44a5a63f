"""Namespace routes: organization-scoped, Bearer only (D8)."""

from typing import Annotated

from fastapi import APIRouter, Body, Path

from app.db.database import Database, Row
from app.dependencies import CallerDep, IdempotencyDep, IfMatchDep
from app.namespaces import service
from app.namespaces.schemas import (
    CreateNamespaceRequest,
    ListNamespacesRequest,
    ListNamespacesResponse,
    NamespaceDeletedResponse,
    NamespaceModel,
)
from app.pagination import PageDep
from app.query_params import StrictQueryRoute
from app.responses import ModelResponse, PageResponse, RecordResponse, page_response
from app.scopes import Caller

router = APIRouter(prefix="/v1/namespaces", tags=["Namespaces"], route_class=StrictQueryRoute)

NamespaceIdentifier = Annotated[str, Path(description="Either the namespace name or namespace ID")]


def _public(database: Database, row: Row) -> NamespaceModel:
    return service.public_namespace(database, row)


@router.post("", response_model=NamespaceModel, summary="Create Namespace")
async def create_namespace(
    request: CreateNamespaceRequest, caller: CallerDep, once: IdempotencyDep
) -> RecordResponse:
    return RecordResponse(
        service.create_namespace(
            caller.database,
            internal_id=caller.principal.internal_id,
            fields=request.model_dump(mode="json"),
            once=once,
        )
    )


async def _list(
    caller: Caller,
    page: PageDep,
    request: ListNamespacesRequest,
) -> PageResponse:
    rows, total = service.list_namespaces(
        caller.database,
        internal_id=caller.principal.internal_id,
        page=page,
        search=request.search,
        case_sensitive=request.case_sensitive,
    )
    return await page_response(
        ListNamespacesResponse(
            results=[], pagination=page.describe(total, "/v1/namespaces"), total_count=total
        ),
        rows,
        lambda row: _public(caller.database, row),
    )


@router.get("", response_model=ListNamespacesResponse, summary="List Namespaces")
async def list_namespaces_get(caller: CallerDep, page: PageDep) -> PageResponse:
    return await _list(caller, page, ListNamespacesRequest())


@router.post("/list", response_model=ListNamespacesResponse, summary="List Namespaces")
async def list_namespaces(
    caller: CallerDep,
    page: PageDep,
    request: Annotated[ListNamespacesRequest | None, Body()] = None,
) -> PageResponse:
    return await _list(caller, page, request or ListNamespacesRequest())


@router.get("/{namespace_identifier}", response_model=NamespaceModel, summary="Get Namespace")
async def get_namespace(
    namespace_identifier: NamespaceIdentifier,
    caller: CallerDep,
) -> RecordResponse:
    row = service.resolve_namespace(
        caller.database, internal_id=caller.principal.internal_id, identifier=namespace_identifier
    )
    return RecordResponse(_public(caller.database, row))


@router.delete(
    "/{namespace_identifier}", response_model=NamespaceDeletedResponse, summary="Delete Namespace"
)
async def delete_namespace(
    namespace_identifier: NamespaceIdentifier,
    caller: CallerDep,
    if_match: IfMatchDep,
) -> ModelResponse:
    namespace_id = service.delete_namespace(
        caller.database,
        internal_id=caller.principal.internal_id,
        identifier=namespace_identifier,
        if_match=if_match,
    )
    return ModelResponse(NamespaceDeletedResponse(namespace_id=namespace_id))
