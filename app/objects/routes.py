"""Bucket object routes (D26): list, read and delete what syncs made.

Only these four of the vendor's object operations are served; creating, batch-creating,
updating, aggregating and bulk-deleting objects answer 404 or 405 (README, "Bucket objects").
"""

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query
from starlette.responses import Response

from app.dependencies import BucketIdentifierScope
from app.errors import validation_error
from app.jsonutil import dump_json
from app.objects import query, service
from app.objects.schemas import (
    MSG_NO_PRESIGNED_URLS,
    ListObjectsRequest,
    ListObjectsResponse,
    ObjectDeletedResponse,
    ObjectResponse,
    object_from_row,
    page_stats,
    selected,
)
from app.pagination import Page, PageDep
from app.query_params import StrictQueryRoute
from app.responses import ModelResponse
from app.scopes import InBucket

router = APIRouter(
    prefix="/v1/buckets/{bucket_identifier}/objects",
    tags=["Bucket Objects"],
    route_class=StrictQueryRoute,
)

ObjectIdentifier = Annotated[str, Path(description="The object's id (obj_...).")]
MSG_NO_CURSORS = (
    "mixpeek-mock pages with page/page_size or limit/offset and issues no cursors"
    " (pagination.next_cursor is always null)"
)
Cursor = Annotated[str | None, Query(description=f"Refused: {MSG_NO_CURSORS}.")]
PresignedUrls = Annotated[bool, Query(description=f"Only false: {MSG_NO_PRESIGNED_URLS}.")]


def _refuse_cursors(**given: str | None) -> None:
    for name, value in given.items():
        if value is not None:
            raise validation_error(
                [{"type": "value_error", "loc": ("query", name), "msg": MSG_NO_CURSORS}]
            )


def _refuse_presigned_urls(return_presigned_urls: bool) -> None:
    if return_presigned_urls:
        raise validation_error(
            [
                {
                    "type": "value_error",
                    "loc": ("query", "return_presigned_urls"),
                    "msg": MSG_NO_PRESIGNED_URLS,
                }
            ]
        )


def _list(scope: InBucket, page: Page, request: ListObjectsRequest) -> Response:
    query.check_select(request.select)
    rows, total = service.list_objects(
        scope.database,
        bucket_id=scope.bucket_id,
        page=page,
        filters=request.filters,
        search=request.search,
        sort_field=request.sort.field if request.sort else None,
        sort_direction=request.sort.direction if request.sort else "asc",
    )
    # Rendered at once, unlike other lists (app/responses.py): an object's record has no
    # free-form part and takes well under a kilobyte, so the largest page is a few hundred KB;
    # and the page's ``stats`` need every record of it.
    results = [object_from_row(row) for row in rows]
    answer = ListObjectsResponse(
        results=results,
        pagination=page.describe(total, f"/v1/buckets/{scope.bucket_id}/objects"),
        stats=page_stats(results),
    )
    if request.select is None:
        return ModelResponse(answer)
    body = answer.model_dump(mode="json")
    body["results"] = [selected(record, request.select) for record in body["results"]]
    return ModelResponse(dump_json(body))


@router.get("", response_model=ListObjectsResponse, summary="List Objects")
async def list_objects_get(
    scope: BucketIdentifierScope,
    page: PageDep,
    cursor: Cursor = None,
    next_cursor: Cursor = None,
    after: Cursor = None,
) -> Response:
    """The bucket's objects, newest first (D12 pagination)."""
    _refuse_cursors(cursor=cursor, next_cursor=next_cursor, after=after)
    return _list(scope, page, ListObjectsRequest())


@router.post("/list", response_model=ListObjectsResponse, summary="List Objects")
async def list_objects(
    scope: BucketIdentifierScope,
    page: PageDep,
    cursor: Cursor = None,
    next_cursor: Cursor = None,
    after: Cursor = None,
    request: Annotated[ListObjectsRequest | None, Body()] = None,
) -> Response:
    """The bucket's objects matching the body's filters and search, newest first unless the
    body sorts them; an empty or absent body filters nothing."""
    _refuse_cursors(cursor=cursor, next_cursor=next_cursor, after=after)
    return _list(scope, page, request or ListObjectsRequest())


@router.get("/{object_identifier}", response_model=ObjectResponse, summary="Get Object")
async def get_object(
    object_identifier: ObjectIdentifier,
    scope: BucketIdentifierScope,
    return_presigned_urls: PresignedUrls = False,
    include_document_count: Annotated[
        bool, Query(description="0 when true (no collections run here); null when false.")
    ] = True,
) -> ModelResponse:
    _refuse_presigned_urls(return_presigned_urls)
    row = service.get_object(scope.database, bucket_id=scope.bucket_id, object_id=object_identifier)
    return ModelResponse(object_from_row(row, document_count=0 if include_document_count else None))


@router.delete(
    "/{object_identifier}", response_model=ObjectDeletedResponse, summary="Delete Object"
)
async def delete_object(
    object_identifier: ObjectIdentifier, scope: BucketIdentifierScope
) -> ModelResponse:
    """Delete the object for good (its source file is untouched; see the README on what a
    later run does with it)."""
    service.delete_object(scope.database, bucket_id=scope.bucket_id, object_id=object_identifier)
    return ModelResponse(ObjectDeletedResponse(object_id=object_identifier))
