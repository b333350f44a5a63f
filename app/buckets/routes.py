"""Bucket routes: Bearer + namespace (D8); ``{bucket_identifier}`` is an id or a name (D10)."""

from typing import Annotated

from fastapi import APIRouter, Body, Path

from app.buckets import service
from app.buckets.schemas import (
    BucketCreateRequest,
    BucketDeletedResponse,
    BucketResponse,
    ListBucketsRequest,
    ListBucketsResponse,
    bucket_from_row,
)
from app.dependencies import IdempotencyDep, IfMatchDep, NamespaceScope
from app.pagination import Page, PageDep, checked_page
from app.query_params import StrictQueryRoute
from app.responses import ModelResponse, PageResponse, RecordResponse, page_response
from app.scopes import InNamespace

router = APIRouter(prefix="/v1/buckets", tags=["Buckets"], route_class=StrictQueryRoute)

BucketIdentifier = Annotated[str, Path(description="The bucket's id (bkt_...) or name.")]


@router.post("", response_model=BucketResponse, summary="Create Bucket")
async def create_bucket(
    request: BucketCreateRequest, scope: NamespaceScope, once: IdempotencyDep
) -> RecordResponse:
    return RecordResponse(
        service.create_bucket(
            scope.database,
            internal_id=scope.principal.internal_id,
            namespace_id=scope.namespace_id,
            fields=request.model_dump(mode="json", exclude_none=True),
            once=once,
        )
    )


async def _list(scope: InNamespace, page: Page, request: ListBucketsRequest) -> PageResponse:
    rows, total = service.list_buckets(
        scope.database,
        namespace_id=scope.namespace_id,
        page=page,
        search=request.search,
        case_sensitive=request.case_sensitive,
        filters={field.value: value for field, value in (request.filters or {}).items()},
        sorts=[
            (sort.field.value, sort.direction)
            for sort in (request.sorts or ([request.sort] if request.sort else []))
        ],
    )
    return await page_response(
        ListBucketsResponse(
            results=[], pagination=page.describe(total, "/v1/buckets"), total_count=total
        ),
        rows,
        bucket_from_row,
    )


@router.get("", response_model=ListBucketsResponse, summary="List Buckets")
async def list_buckets_get(scope: NamespaceScope, page: PageDep) -> PageResponse:
    return await _list(scope, page, ListBucketsRequest())


@router.post("/list", response_model=ListBucketsResponse, summary="List Buckets")
async def list_buckets(
    scope: NamespaceScope,
    page: PageDep,
    request: Annotated[ListBucketsRequest | None, Body()] = None,
) -> PageResponse:
    request = request or ListBucketsRequest()
    # The reference API takes limit/offset in the body too (the SDK also page/page_size: limit
    # wins over page_size, offset over page); there they win over the query.
    limit = request.limit or request.page_size
    offset = request.offset
    if offset is None and request.page is not None:
        offset = (request.page - 1) * (limit or page.limit)
    if limit is not None or offset is not None:
        page = checked_page(
            offset=page.offset if offset is None else offset,
            limit=page.limit if limit is None else limit,
            source=(
                "body",
                "offset" if request.offset is not None or request.page is None else "page",
            ),
        )
    return await _list(scope, page, request)


@router.get("/{bucket_identifier}", response_model=BucketResponse, summary="Get Bucket")
async def get_bucket(bucket_identifier: BucketIdentifier, scope: NamespaceScope) -> RecordResponse:
    row = service.resolve_bucket(
        scope.database, namespace_id=scope.namespace_id, identifier=bucket_identifier
    )
    return RecordResponse(bucket_from_row(row))


@router.delete(
    "/{bucket_identifier}", response_model=BucketDeletedResponse, summary="Delete Bucket"
)
async def delete_bucket(
    bucket_identifier: BucketIdentifier, scope: NamespaceScope, if_match: IfMatchDep
) -> ModelResponse:
    bucket_id = service.delete_bucket(
        scope.database,
        namespace_id=scope.namespace_id,
        identifier=bucket_identifier,
        if_match=if_match,
    )
    return ModelResponse(BucketDeletedResponse(bucket_id=bucket_id))
