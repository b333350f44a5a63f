"""Wire models of bucket objects (CONTRACT.md D26), shaped as the SDK's ``ObjectResponse``,
``BlobModel`` and ``ListObjectsResponse`` read them.

Every field of a record is always present, except where a list's ``select`` leaves it out: so
only ``object_id`` and ``bucket_id`` are required in the schema.
"""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, field_validator

from app.limits import MAX_PATTERNS
from app.schemas import (
    JsonObject,
    Name,
    Pagination,
    RequestModel,
    ResponseModel,
    TaskStatusEnum,
    UtcDatetime,
)

MSG_NO_PRESIGNED_URLS = (
    "mixpeek-mock stores no file contents, so it cannot presign download URLs;"
    " read the file from its source_bucket and source_key"
)


class BlobDetails(ResponseModel):
    """What reading the file told: its base name, size, type and SHA-256."""

    filename: str
    size_bytes: int
    mime_type: str
    hash: str = Field(description='"sha256:<hex>" of the file\'s bytes.')


class BlobProperties(ResponseModel):
    """Where the file came from."""

    source_bucket: str
    source_key: str


class BlobModel(ResponseModel):
    """The object's one blob: the synced file (its contents are not stored)."""

    property: str = Field(description="The bucket schema property the file fills.")
    type: str = Field(description="The schema's type for that property, else the MIME type's.")
    details: BlobDetails
    properties: BlobProperties


class SourceDetails(ResponseModel):
    type: Literal["bucket"] = "bucket"
    source_id: str = Field(description="The sync configuration that made the object.")


class ObjectResponse(ResponseModel):
    """A bucket object. Only ``object_id`` and ``bucket_id`` are required because a list's
    ``select`` may leave the others out; otherwise every field is present."""

    object_id: str
    bucket_id: str
    key_prefix: str | None = Field(
        default=None, description="The folder of the source key; null at the bucket's root."
    )
    blobs: list[BlobModel] = Field(default_factory=list)
    source_details: list[SourceDetails] = Field(default_factory=list)
    status: TaskStatusEnum = TaskStatusEnum.PENDING
    error: str | None = None
    created_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None
    document_count: int | None = Field(
        default=None,
        description="Documents collections made of the object: 0 on GET (this server runs no"
        " collections), null on lists and with include_document_count=false.",
    )


class ObjectListStats(ResponseModel):
    """Counts over the returned page, not the whole bucket (``pagination.total`` is that)."""

    total_objects: int
    total_blobs: int
    avg_blobs_per_object: float
    objects_by_status: dict[str, int]


class ListObjectsResponse(ResponseModel):
    results: list[ObjectResponse]
    pagination: Pagination
    stats: ObjectListStats


class ObjectDeletedResponse(ResponseModel):
    success: bool = True
    object_id: str


class SortDirection(StrEnum):
    ASC = "asc"
    DESC = "desc"


class SortOption(RequestModel):
    field: Name = Field(description="A record field, dotted for blob fields.")
    direction: SortDirection = SortDirection.ASC


class ListObjectsRequest(RequestModel):
    """Filters, order and field selection for a list; absent keys do not filter."""

    filters: JsonObject | None = Field(
        default=None,
        description="A logical tree: {AND|OR|NOT: [conditions or trees], case_sensitive},"
        " conditions {field, operator, value}, or {field: value} for equality. Fields and"
        " operators outside those documented in the README are a 422.",
    )
    sort: SortOption | None = Field(
        default=None, description="One field and direction; without it, newest first."
    )
    search: Name | None = Field(
        default=None, description="Case-insensitive text the object's source key contains."
    )
    select: Annotated[list[Name], Field(max_length=MAX_PATTERNS)] | None = Field(
        default=None,
        description="Fields to return (dotted for nested ones); object_id and bucket_id always.",
    )
    return_presigned_urls: StrictBool = Field(
        default=False, description="Only false: no file contents are stored to presign."
    )

    @field_validator("return_presigned_urls")
    @classmethod
    def _no_presigned_urls(cls, value: bool) -> bool:
        if value:
            raise ValueError(MSG_NO_PRESIGNED_URLS)
        return value


def object_from_row(row: Any, *, document_count: int | None = None) -> ObjectResponse:
    """The public record of a ``bucket_objects`` row."""
    key: str = row["source_key"]
    folder = key.rsplit("/", 1)[0] if "/" in key else None
    created_at: datetime = row["created_at"]
    return ObjectResponse(
        object_id=row["object_id"],
        bucket_id=row["bucket_id"],
        key_prefix=folder,
        blobs=[
            BlobModel(
                property=row["blob_property"],
                type=row["blob_type"],
                details=BlobDetails(
                    filename=row["filename"],
                    size_bytes=row["size_bytes"],
                    mime_type=row["mime_type"],
                    hash=row["content_hash"],
                ),
                properties=BlobProperties(source_bucket=row["source_bucket"], source_key=key),
            )
        ],
        source_details=[SourceDetails(source_id=row["sync_config_id"])],
        status=row["status"],
        error=None,
        created_at=created_at,
        updated_at=row["updated_at"],
        document_count=document_count,
    )


def page_stats(results: list[ObjectResponse]) -> ObjectListStats:
    by_status: dict[str, int] = {}
    for result in results:
        by_status[result.status.value] = by_status.get(result.status.value, 0) + 1
    blobs = sum(len(result.blobs) for result in results)
    return ObjectListStats(
        total_objects=len(results),
        total_blobs=blobs,
        avg_blobs_per_object=blobs / len(results) if results else 0.0,
        objects_by_status=by_status,
    )


def selected(record: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """``record`` (as JSON) with only the given dotted paths, and always its ids."""
    out: dict[str, Any] = {"object_id": record["object_id"], "bucket_id": record["bucket_id"]}
    for path in paths:
        _copy_path(record, out, path.split("."))
    return out


def _copy_path(source: Any, target: dict[str, Any], parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if not isinstance(source, dict) or head not in source:
        return
    value = source[head]
    if not rest or value is None:
        target[head] = value
    elif isinstance(value, list):
        existing = target.setdefault(head, [{} for _ in value])
        for item, into in zip(value, existing, strict=True):
            _copy_path(item, into, rest)
    elif isinstance(value, dict):
        _copy_path(value, target.setdefault(head, {}), rest)
