"""Namespace routes: organization-scoped, Bearer only (D8)."""

from typing import Annotated

from fastapi import APIRouter, Body, Path

from app.db.database import Row
from app.dependencies import CurrentPrincipal, DatabaseDep
from app.namespaces import service
from app.namespaces.schemas import (
    CreateNamespaceRequest,
    ListNamespacesRequest,
    ListNamespacesResponse,
    NamespaceDeletedResponse,
    NamespaceModel,
    namespace_from_row,
)
from app.pagination import PageDep
from app.responses import ModelResponse

router = APIRouter(prefix="/v1/namespaces", tags=["Namespaces"])

NamespaceIdentifier = Annotated[str, Path(description="Either the namespace name or namespace ID")]


def _public(database: DatabaseDep, row: Row) -> NamespaceModel:
    return namespace_from_row(row, bucket_count=service.bucket_count(database, row["namespace_id"]))


@router.post("", response_model=NamespaceModel, summary="Create Namespace")
async def create_namespace(
    request: CreateNamespaceRequest, database: DatabaseDep, principal: CurrentPrincipal
) -> ModelResponse:
    row = service.create_namespace(
        database, internal_id=principal.internal_id, fields=request.model_dump(mode="json")
    )
    return ModelResponse(_public(database, row))


async def _list(
    database: DatabaseDep,
    principal: CurrentPrincipal,
    page: PageDep,
    request: ListNamespacesRequest,
) -> ModelResponse:
    rows, total = service.list_namespaces(
        database,
        internal_id=principal.internal_id,
        page=page,
        search=request.search,
        case_sensitive=request.case_sensitive,
    )
    return ModelResponse(
        ListNamespacesResponse(
            results=[_public(database, row) for row in rows],
            pagination=page.describe(total, "/v1/namespaces"),
            total_count=total,
        )
    )


@router.get("", response_model=ListNamespacesResponse, summary="List Namespaces")
async def list_namespaces_get(
    database: DatabaseDep, principal: CurrentPrincipal, page: PageDep
) -> ModelResponse:
    return await _list(database, principal, page, ListNamespacesRequest())


@router.post("/list", response_model=ListNamespacesResponse, summary="List Namespaces")
async def list_namespaces(
    database: DatabaseDep,
    principal: CurrentPrincipal,
    page: PageDep,
    request: Annotated[ListNamespacesRequest | None, Body()] = None,
) -> ModelResponse:
    return await _list(database, principal, page, request or ListNamespacesRequest())


@router.get("/{namespace_identifier}", response_model=NamespaceModel, summary="Get Namespace")
async def get_namespace(
    namespace_identifier: NamespaceIdentifier,
    database: DatabaseDep,
    principal: CurrentPrincipal,
) -> ModelResponse:
    row = service.resolve_namespace(
        database, internal_id=principal.internal_id, identifier=namespace_identifier
    )
    return ModelResponse(_public(database, row))


@router.delete(
    "/{namespace_identifier}", response_model=NamespaceDeletedResponse, summary="Delete Namespace"
)
async def delete_namespace(
    namespace_identifier: NamespaceIdentifier,
    database: DatabaseDep,
    principal: CurrentPrincipal,
) -> ModelResponse:
    namespace_id = service.delete_namespace(
        database, internal_id=principal.internal_id, identifier=namespace_identifier
    )
    return ModelResponse(NamespaceDeletedResponse(namespace_id=namespace_id))
