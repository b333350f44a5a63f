"""Wire models of namespaces (reference CreateNamespaceRequest / NamespaceModel, D15)."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, StrictBool

from app.limits import (
    MAX_FEATURE_EXTRACTORS,
    MAX_FEATURES,
    MAX_PAYLOAD_INDEXES,
    MAX_VECTOR_CONFIGS,
)
from app.schemas import (
    INT64_MAX,
    JsonObject,
    ListRequestModel,
    Name,
    Pagination,
    RequestModel,
    ResponseModel,
    check_json_value,
    check_resource_name,
)

NamespaceName = Annotated[
    str, Field(strict=True, min_length=3, max_length=64), AfterValidator(check_resource_name)
]


class FeatureExtractor(RequestModel):
    """A feature extractor reference; its other settings are kept as given."""

    model_config = ConfigDict(extra="allow")

    feature_extractor_name: Name
    version: Name


# An extractor's settings beyond the known ones are free-form: bounded as a whole, like any
# free-form value, before they are looked at.
BoundedFeatureExtractor = Annotated[FeatureExtractor, BeforeValidator(check_json_value)]


class PayloadSchemaType(StrEnum):
    KEYWORD = "keyword"
    INTEGER = "integer"
    FLOAT = "float"
    BOOL = "bool"
    GEO = "geo"
    DATETIME = "datetime"
    TEXT = "text"
    UUID = "uuid"


class PayloadIndexConfig(RequestModel):
    field_name: Annotated[str, Field(strict=True, min_length=1, max_length=255)]
    type: PayloadSchemaType
    field_schema: JsonObject | None = None
    is_protected: StrictBool = False


class NamespaceOptions(RequestModel):
    """The newer API's optional namespace settings: accepted, stored as given, echoed back.

    They configure vector infrastructure this server does not have, so nothing acts on them.
    """

    mode: Name | None = None
    namespace_type: Literal["standard", "marketplace"] | None = None
    scope: Literal["org", "system"] | None = None
    features: Annotated[list[Name], Field(max_length=MAX_FEATURES)] | None = None
    vector_configs: Annotated[list[JsonObject], Field(max_length=MAX_VECTOR_CONFIGS)] | None = None
    adaptive_indexing: StrictBool | None = None
    ttl_seconds: Annotated[int, Field(strict=True, ge=60, le=INT64_MAX)] | None = None
    infrastructure: JsonObject | None = None
    trusted_issuers: Annotated[list[JsonObject], Field(max_length=5)] | None = None
    tiering: JsonObject | None = None
    spend_budget: JsonObject | None = None
    cost_cap_override: JsonObject | None = None


NAMESPACE_OPTIONS = tuple(NamespaceOptions.model_fields)


class CreateNamespaceRequest(NamespaceOptions):
    namespace_name: NamespaceName
    description: Annotated[str, Field(strict=True, max_length=1000)] | None = None
    feature_extractors: Annotated[
        list[BoundedFeatureExtractor], Field(max_length=MAX_FEATURE_EXTRACTORS)
    ] = Field(default_factory=list)
    payload_indexes: (
        Annotated[list[PayloadIndexConfig], Field(max_length=MAX_PAYLOAD_INDEXES)] | None
    ) = None
    auto_create_indexes: StrictBool | None = False


class ListNamespacesRequest(ListRequestModel):
    search: Name | None = None
    case_sensitive: StrictBool = False
    filters: JsonObject | None = None
    sort: JsonObject | None = None


class NamespaceModel(ResponseModel):
    object: str = "namespace"
    namespace_id: str
    namespace_name: str
    description: str | None
    feature_extractors: list[dict[str, Any]]
    payload_indexes: list[dict[str, Any]] | None
    auto_create_indexes: bool = False
    mode: str | None = None
    namespace_type: str | None = None
    scope: str | None = None
    features: list[str] | None = None
    vector_configs: list[dict[str, Any]] | None = None
    adaptive_indexing: bool = False
    ttl_seconds: int | None = None
    infrastructure: dict[str, Any] | None = None
    trusted_issuers: list[dict[str, Any]] | None = None
    tiering: dict[str, Any] | None = None
    spend_budget: dict[str, Any] | None = None
    cost_cap_override: dict[str, Any] | None = None
    document_count: int = 0
    bucket_count: int
    namespace_ready: bool = True
    created_at: datetime
    updated_at: datetime


class ListNamespacesResponse(ResponseModel):
    results: list[NamespaceModel]
    pagination: Pagination
    total_count: int


class NamespaceDeletedResponse(ResponseModel):
    success: bool = True
    namespace_id: str


def _with_extractor_id(extractor: dict[str, Any]) -> dict[str, Any]:
    """Clients read an id on each extractor; name and version make one when none was given."""
    if "feature_extractor_id" in extractor:
        return extractor
    name, version = extractor["feature_extractor_name"], extractor["version"]
    return {**extractor, "feature_extractor_id": f"{name}_{version}"}


def namespace_from_row(row: Any, *, bucket_count: int) -> NamespaceModel:
    return NamespaceModel(
        **row["options"],
        namespace_id=row["namespace_id"],
        namespace_name=row["namespace_name"],
        description=row["description"],
        feature_extractors=[_with_extractor_id(item) for item in row["feature_extractors"]],
        payload_indexes=row["payload_indexes"],
        auto_create_indexes=row["auto_create_indexes"],
        bucket_count=bucket_count,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
