"""Wire models of buckets (reference BucketCreateRequest / BucketResponse, D15)."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, StrictBool, StrictStr

from app.limits import MAX_UNIQUE_KEY_FIELDS
from app.pagination import MAX_OFFSET, MAX_PAGE_SIZE
from app.schemas import (
    FREEFORM_BOUNDS,
    JsonObject,
    JsonValue,
    ListRequestModel,
    Name,
    Pagination,
    RequestModel,
    ResponseModel,
    TaskStatusEnum,
    check_json_value,
    check_resource_name,
)

BucketName = Annotated[
    str, Field(strict=True, min_length=1, max_length=255), AfterValidator(check_resource_name)
]


class BucketSchemaFieldType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    OBJECT = "object"
    ARRAY = "array"
    DATE = "date"
    DATETIME = "datetime"
    JSON = "json"
    FILE = "file"
    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    PDF = "pdf"
    DOCUMENT = "document"
    SPREADSHEET = "spreadsheet"
    PRESENTATION = "presentation"
    DENSE_VECTOR = "dense_vector"
    SPARSE_VECTOR = "sparse_vector"
    INT8_VECTOR = "int8_vector"
    AUTOMATIC = "automatic"
    EXCEL = "excel"  # the newer API's


class BucketSchemaField(RequestModel):
    """One field of a bucket schema; settings beyond the known ones are kept as given."""

    model_config = ConfigDict(extra="allow")

    type: BucketSchemaFieldType
    required: StrictBool | None = False
    description: StrictStr | None = None
    default: JsonValue = None
    enum: list[JsonValue] | None = None
    examples: list[JsonValue] | None = None
    items: "BucketSchemaField | None" = None
    properties: "dict[str, BucketSchemaField] | None" = None


class BucketSchema(RequestModel):
    model_config = ConfigDict(extra="allow")

    properties: dict[str, BucketSchemaField]


class UniqueKeyConfig(RequestModel):
    fields: Annotated[list[Name], Field(min_length=1, max_length=MAX_UNIQUE_KEY_FIELDS)]
    default_policy: Literal["insert", "update", "upsert"] | None = None


class BucketOptions(RequestModel):
    """The newer API's optional bucket settings: accepted, stored as given, echoed back."""

    storage_class: Literal["standard", "nearline", "coldline", "archive"] | None = None
    destination: JsonObject | None = None
    ingest_filter: JsonObject | None = None
    source_adapter: JsonObject | None = None


BUCKET_OPTIONS = tuple(BucketOptions.model_fields)


class BucketCreateRequest(BucketOptions):
    bucket_name: BucketName
    description: Annotated[str, Field(strict=True, max_length=1000)] | None = None
    # Free-form below its known keys, and recursive: bounded as a whole, like any free-form
    # value, before pydantic walks it.
    bucket_schema: Annotated[
        BucketSchema, BeforeValidator(check_json_value), Field(description=FREEFORM_BOUNDS)
    ]
    unique_key: UniqueKeyConfig | None = None
    metadata: JsonObject | None = None


class BucketFilterField(StrEnum):
    BUCKET_ID = "bucket_id"
    BUCKET_NAME = "bucket_name"


class BucketSortField(StrEnum):
    BUCKET_NAME = "bucket_name"
    BUCKET_ID = "bucket_id"
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"


class BucketSort(RequestModel):
    """One sort key; anything else in it is a 422, never ignored."""

    field: BucketSortField
    direction: Literal["asc", "desc"] = "asc"


class ListBucketsRequest(ListRequestModel):
    """The vendor's list request: applied, or a 422 for what is not supported; never ignored."""

    search: Name | None = None
    case_sensitive: StrictBool = False
    filters: dict[BucketFilterField, Name] | None = Field(
        default=None,
        max_length=len(BucketFilterField),
        description="Equality on bucket_id or bucket_name (the SDK's documented fields), ANDed;"
        " text compared ignoring case unless case_sensitive. Any other field is a 422.",
    )
    sort: BucketSort | None = None
    sorts: Annotated[list[BucketSort], Field(max_length=len(BucketSortField))] | None = Field(
        default=None, description="Sort keys in order; take precedence over sort."
    )
    page: Annotated[int, Field(strict=True, ge=1, le=MAX_OFFSET + 1)] | None = None
    page_size: Annotated[int, Field(strict=True, ge=1, le=MAX_PAGE_SIZE)] | None = None
    # The query's bounds (app/pagination.py); the reference's body limit is at most 100, the
    # SDK's at most 1000, as the query's is.
    limit: Annotated[int, Field(strict=True, ge=1, le=MAX_PAGE_SIZE)] | None = None
    offset: Annotated[int, Field(strict=True, ge=0, le=MAX_OFFSET)] | None = None


class BucketResponse(ResponseModel):
    object: str = "bucket"
    bucket_id: str
    bucket_name: str
    namespace_id: str
    description: str | None
    bucket_schema: dict[str, Any] | None
    unique_key: dict[str, Any] | None
    metadata: dict[str, Any]
    status: TaskStatusEnum = TaskStatusEnum.ACTIVE
    is_locked: bool = False
    object_count: int = 0
    failed_object_count: int = 0
    total_size_bytes: int = 0
    created_at: datetime
    updated_at: datetime
    last_upload_at: datetime | None = None
    storage_class: str | None = None
    destination: dict[str, Any] | None = None
    ingest_filter: dict[str, Any] | None = None
    source_adapter: dict[str, Any] | None = None


class ListBucketsResponse(ResponseModel):
    results: list[BucketResponse]
    pagination: Pagination
    total_count: int


class BucketDeletedResponse(ResponseModel):
    success: bool = True
    bucket_id: str


def bucket_from_row(row: Any) -> BucketResponse:
    return BucketResponse(
        **row["options"],
        bucket_id=row["bucket_id"],
        bucket_name=row["bucket_name"],
        namespace_id=row["namespace_id"],
        description=row["description"],
        bucket_schema=row["bucket_schema"],
        unique_key=row["unique_key"],
        metadata=row["metadata"],
        status=row["status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
