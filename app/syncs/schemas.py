"""Wire models of sync configurations: what create, PATCH and list accept, and the record.

Field names, types and bounds follow the vendor's 0.81 OpenAPI document; the newer fields and
their bounds follow the official SDK (CONTRACT.md D2, D5).
"""

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StrictBool,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue, SkipJsonSchema
from pydantic_core import PydanticCustomError, core_schema

from app.errors import MSG_EMPTY_UPDATE
from app.limits import (
    MAX_METADATA_FILTERS,
    MAX_NAME_LENGTH,
    MAX_PATH_LENGTH,
    MAX_PATTERNS,
    MAX_REFERENCES,
    MAX_REGEX_LENGTH,
    MAX_REGEX_PATTERNS,
)
from app.schemas import (
    INT64_MAX,
    JsonObject,
    JsonValue,
    ListRequestModel,
    Name,
    Pagination,
    RequestModel,
    ResponseModel,
    TaskStatusEnum,
    UtcDatetime,
    drop_impossible_defaults,
    parse_status,
)
from app.syncs.regexes import check_pattern

MAX_DESCRIPTION_LENGTH = 500
MAX_METADATA_KEYS = 50

PollingInterval = Annotated[int, Field(strict=True, ge=30, le=900)]
BatchSize = Annotated[int, Field(strict=True, ge=1, le=100)]
MaxObjectsPerRun = Annotated[int, Field(strict=True, ge=1, le=INT64_MAX)]
SyncConcurrency = Annotated[int, Field(strict=True, ge=1, le=100)]
NonNegativeInt = Annotated[int, Field(strict=True, ge=0, le=INT64_MAX)]
Description = Annotated[str, Field(strict=True, max_length=MAX_DESCRIPTION_LENGTH)]
Metadata = Annotated[JsonObject, Field(max_length=MAX_METADATA_KEYS)]
PathText = Annotated[str, Field(strict=True, max_length=MAX_PATH_LENGTH)]
Patterns = Annotated[list[PathText], Field(max_length=MAX_PATTERNS)]
MimeTypes = Annotated[list[Name], Field(max_length=MAX_PATTERNS)]
Extensions = Annotated[list[Name], Field(max_length=MAX_PATTERNS)]
References = Annotated[list[Name], Field(max_length=MAX_REFERENCES)]
Regex = Annotated[
    str, Field(strict=True, max_length=MAX_REGEX_LENGTH), AfterValidator(check_pattern)
]
Regexes = Annotated[list[Regex], Field(max_length=MAX_REGEX_PATTERNS)]


class SyncMode(StrEnum):
    INITIAL_ONLY = "initial_only"
    CONTINUOUS = "continuous"


# The vendor's older ``sync_mode`` values (its own examples still send them), and what they mean
# here: still a 422 (D5), but one that says which value to send instead.
FORMER_SYNC_MODES = {"one_time": SyncMode.INITIAL_ONLY, "scheduled": SyncMode.CONTINUOUS}


def _former_sync_mode(value: Any) -> Any:
    meant = FORMER_SYNC_MODES.get(value) if isinstance(value, str) else None
    if meant is not None:
        raise PydanticCustomError(
            "enum",
            f"sync_mode {value!r} is the older API's name: send {meant.value!r} instead"
            " (the values are 'initial_only' and 'continuous')",
        )
    return value


SyncModeInput = Annotated[SyncMode, BeforeValidator(_former_sync_mode)]


class MetadataFilterOperator(StrEnum):
    EQUALS = "equals"
    NOT_EQUALS = "not_equals"
    CONTAINS = "contains"
    NOT_CONTAINS = "not_contains"
    GT = "gt"
    LT = "lt"
    GTE = "gte"
    LTE = "lte"
    EXISTS = "exists"


class MetadataFilter(RequestModel):
    field: Name
    operator: MetadataFilterOperator = MetadataFilterOperator.CONTAINS
    value: JsonValue = None


MetadataFilters = Annotated[list[MetadataFilter], Field(max_length=MAX_METADATA_FILTERS)]


class FileFilters(RequestModel):
    """Which files a sync takes. ``extensions`` is the older form of ``include_patterns``;
    ``patterns`` the older API's regular expressions, kept and applied as such."""

    include_patterns: Patterns | None = None
    exclude_patterns: Patterns | None = None
    patterns: Regexes | None = Field(
        default=None,
        description="Regular expressions (Python syntax), each searched for (re.search) in the"
        " file's path below source_path; a file is taken when one of them is found. At most"
        f" {MAX_REGEX_PATTERNS} of {MAX_REGEX_LENGTH} characters, with a bounded worst case"
        " (README, Limits).",
    )
    min_size_bytes: NonNegativeInt | None = None
    max_size_bytes: NonNegativeInt | None = None
    modified_after: UtcDatetime | None = None
    modified_before: UtcDatetime | None = None
    mime_types: MimeTypes | None = None
    metadata_filters: MetadataFilters | None = None
    extensions: Extensions | SkipJsonSchema[None] = Field(
        default=None,
        exclude=True,
        description="Deprecated: extensions such as '.mp4', stored as include_patterns '*.mp4'.",
    )

    @model_validator(mode="after")
    def _fold_extensions(self) -> "FileFilters":
        if self.extensions:
            patterns = [f"*{ext}" if ext.startswith(".") else f"*.{ext}" for ext in self.extensions]
            patterns = [*(self.include_patterns or []), *patterns]
            if len(patterns) > MAX_PATTERNS:
                raise PydanticCustomError(
                    "too_long",
                    "include_patterns and extensions together hold {count} patterns;"
                    " at most {max_patterns} are allowed",
                    {"count": len(patterns), "max_patterns": MAX_PATTERNS},
                )
            self.include_patterns = patterns
        self.extensions = None
        return self


class IngestFilterAction(StrEnum):
    KEEP = "keep"
    DROP = "drop"
    TAG = "tag"


class IngestFilterOnError(StrEnum):
    KEEP = "keep"
    DROP = "drop"


class IngestFilter(RequestModel):
    retriever_id: Annotated[str, Field(strict=True, min_length=1, max_length=MAX_NAME_LENGTH)]
    retriever_version: Annotated[int, Field(strict=True, ge=1, le=INT64_MAX)] | None = None
    action: IngestFilterAction | None = None
    on_error: IngestFilterOnError | None = None
    timeout_seconds: Annotated[int, Field(strict=True, ge=1, le=300)] = 30


class ReconcileSettings(RequestModel):
    on_delete: StrictBool = True
    on_update: StrictBool = True
    on_filter_drift: StrictBool = True
    re_extract_on_update: StrictBool = True
    re_extract_fields: References | None = None


def reject_null(value: Any) -> Any:
    if value is None:
        raise ValueError("may not be null")
    return value


class NeverNull:
    """Marks an optional field whose value can never be null: it may be left out, but an
    explicit ``null`` is a 422 naming the field (D4), and the schema does not declare it
    nullable (D16). Used as ``Annotated[int | None, NeverNull()] = None``.
    """

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(reject_null, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        alternatives = json_schema.pop("anyOf", None)
        if alternatives is not None:
            (only,) = [branch for branch in alternatives if branch.get("type") != "null"]
            json_schema.update(only)
        return json_schema


class SyncCreateRequest(RequestModel):
    """Create a sync configuration in a bucket (D11 gives the defaults)."""

    connection_id: Name
    source_path: PathText
    sync_mode: SyncModeInput = SyncMode.CONTINUOUS
    description: Description | None = None
    file_filters: FileFilters | None = None
    polling_interval_seconds: PollingInterval = 300
    batch_size: BatchSize = 50
    create_object_on_confirm: StrictBool = True
    skip_duplicates: StrictBool = True
    skip_batch_submission: StrictBool = False
    metadata: Metadata | None = None
    schema_mapping: JsonObject | None = None
    batch_collection_ids: References | None = None
    ingest_filter: IngestFilter | None = None
    reconcile: ReconcileSettings | None = None
    provider_filters: JsonObject | None = None
    max_objects_per_run: Annotated[MaxObjectsPerRun | None, NeverNull()] = None
    sync_concurrency: Annotated[SyncConcurrency | None, NeverNull()] = None
    sync_from: UtcDatetime | None = None


def _at_least_one_property(schema: dict[str, Any]) -> None:
    drop_impossible_defaults(schema)
    schema["minProperties"] = 1


class SyncUpdateRequest(RequestModel):
    """A partial update: exactly the keys present are applied (D4)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_at_least_one_property)

    description: Description | None = None
    metadata: Metadata | None = None
    status: Annotated[TaskStatusEnum | None, NeverNull()] = None
    is_active: Annotated[StrictBool | None, NeverNull()] = None
    polling_interval_seconds: Annotated[PollingInterval | None, NeverNull()] = None
    batch_size: Annotated[BatchSize | None, NeverNull()] = None
    schema_mapping: JsonObject | None = None
    skip_batch_submission: Annotated[StrictBool | None, NeverNull()] = None
    batch_collection_ids: References | None = None
    ingest_filter: IngestFilter | None = None
    max_objects_per_run: Annotated[MaxObjectsPerRun | None, NeverNull()] = None
    sync_concurrency: Annotated[SyncConcurrency | None, NeverNull()] = None
    reconcile: ReconcileSettings | None = None
    provider_filters: JsonObject | None = None

    _parse_status = field_validator("status", mode="before")(parse_status)

    @model_validator(mode="after")
    def _require_a_field(self) -> "SyncUpdateRequest":
        if not self.model_fields_set:
            raise PydanticCustomError("empty_update", MSG_EMPTY_UPDATE)
        return self


class ListSyncConfigurationsRequest(ListRequestModel):
    """Filters for listing syncs, ANDed; absent ones do not filter."""

    connection_id: Name | None = None
    status: TaskStatusEnum | None = None
    is_active: StrictBool | None = None

    _parse_status = field_validator("status", mode="before")(parse_status)


class SyncConfigurationModel(ResponseModel):
    """The full sync configuration record: every field, always (D2)."""

    sync_config_id: str
    bucket_id: str
    connection_id: str
    internal_id: str
    namespace_id: str
    source_path: str
    source_type: str | None
    description: str | None
    file_filters: FileFilters | None
    sync_mode: SyncMode = SyncMode.CONTINUOUS
    polling_interval_seconds: Annotated[int, Field(ge=30, le=900)] = 300
    batch_size: Annotated[int, Field(ge=1, le=100)] = 50
    create_object_on_confirm: bool = True
    skip_duplicates: bool = True
    skip_batch_submission: bool = False
    schema_mapping: dict[str, Any] | None
    batch_collection_ids: list[str] | None
    ingest_filter: IngestFilter | None
    reconcile: ReconcileSettings | None
    provider_filters: dict[str, Any] | None
    max_objects_per_run: int | None
    sync_concurrency: int | None
    sync_from: UtcDatetime | None
    status: TaskStatusEnum = TaskStatusEnum.PENDING
    is_active: bool = True
    paused: bool
    paused_at: UtcDatetime | None
    pause_reason: str | None
    paused_by_user_id: str | None
    locked: bool
    locked_by_worker_id: str | None
    locked_at: UtcDatetime | None
    lock_expires_at: UtcDatetime | None
    pending_full_sync: bool
    sync_run_counter: Annotated[int, Field(ge=0)]
    total_files_discovered: Annotated[int, Field(ge=0)] = 0
    total_files_synced: Annotated[int, Field(ge=0)] = 0
    total_files_failed: Annotated[int, Field(ge=0)] = 0
    total_bytes_synced: Annotated[int, Field(ge=0)] = 0
    created_at: UtcDatetime
    updated_at: UtcDatetime
    last_sync_at: UtcDatetime | None
    next_sync_at: UtcDatetime | None
    created_by_user_id: str
    last_error: Annotated[str, Field(max_length=1000)] | None
    consecutive_failures: Annotated[int, Field(ge=0)] = 0
    metadata: dict[str, Any]


class SyncListResponse(ResponseModel):
    results: list[SyncConfigurationModel]
    pagination: Pagination
    total: int


class SyncDeletedResponse(ResponseModel):
    success: bool = True
    sync_config_id: str


class TriggerSyncResponse(ResponseModel):
    """What ``POST .../trigger`` did (D20): a run started, or one already running named."""

    success: bool = True
    sync_config_id: str
    sync_job_id: str | None
    status: Literal["running", "skipped_already_running"]
    full_sync: bool


class UnlockSyncResponse(ResponseModel):
    success: bool = True
    sync_config_id: str
    was_locked: bool
