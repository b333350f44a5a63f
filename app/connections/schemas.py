"""Wire models of storage connections (reference StorageConnection*, D14, D15)."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StrictBool, StrictStr, field_validator

from app.schemas import (
    JsonObject,
    ListRequestModel,
    Pagination,
    RequestModel,
    ResponseModel,
    TaskStatusEnum,
    check_resource_name,
    parse_status,
)

ConnectionName = Annotated[
    str, Field(strict=True, min_length=1, max_length=100), AfterValidator(check_resource_name)
]


class StorageProvider(StrEnum):
    """The vendor's provider types (the newer API's list, a superset of the 0.81 one)."""

    GOOGLE_DRIVE = "google_drive"
    S3 = "s3"
    SNOWFLAKE = "snowflake"
    SHAREPOINT = "sharepoint"
    TIGRIS = "tigris"
    POSTGRESQL = "postgresql"
    INSTAGRAM = "instagram"
    TIKTOK = "tiktok"
    RSS = "rss"
    HTTP_API = "http_api"
    BOX = "box"
    BRIGHTDATA = "brightdata"
    BACKBLAZE = "backblaze"
    MUX = "mux"
    EMAIL = "email"
    SUPABASE = "supabase"
    ICONIK = "iconik"
    GCS = "gcs"
    AZURE_BLOB = "azure_blob"
    RTSP = "rtsp"


NonEmpty = Annotated[str, Field(strict=True, min_length=1)]


class S3AccessKeyCredentials(RequestModel):
    # Looser than 0.81's 16/40-character minimums, so that MinIO's "minioadmin" works (D15).
    type: Literal["access_key"] = "access_key"
    access_key_id: Annotated[str, Field(strict=True, min_length=1, max_length=128)]
    secret_access_key: NonEmpty
    session_token: StrictStr | None = None


class S3RoleCredentials(RequestModel):
    type: Literal["iam_role"] = "iam_role"
    role_arn: Annotated[str, Field(strict=True, pattern=r"^arn:aws:iam::\d{12}:role/[\w+=,.@-]+$")]
    external_id: Annotated[str, Field(strict=True, min_length=8, max_length=128)]


def _check_endpoint_url(url: str) -> str:
    """An ``http``/``https`` URL with a host and no credentials in it (they belong in
    ``credentials``, and a URL is echoed in errors and logs). Messages never repeat the URL."""
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in url):
        raise ValueError("endpoint_url may not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:
        raise ValueError("endpoint_url is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("endpoint_url must be an http:// or https:// URL")
    if "@" in parts.netloc:
        raise ValueError(
            "endpoint_url may not carry a user name or password: put them in credentials"
        )
    if not parts.hostname:
        raise ValueError("endpoint_url must name a host")
    return url


EndpointUrl = Annotated[
    str, Field(strict=True, max_length=2048), AfterValidator(_check_endpoint_url)
]


class S3Config(RequestModel):
    """S3 and S3-compatible stores: ``endpoint_url`` points at MinIO or another emulator."""

    provider_type: Literal["s3"] = "s3"
    credentials: Annotated[S3AccessKeyCredentials | S3RoleCredentials, Field(discriminator="type")]
    region: StrictStr = "us-east-1"
    endpoint_url: EndpointUrl | None = None
    use_ssl: StrictBool = True
    verify_ssl: StrictBool = True


class GoogleDriveServiceAccountCredentials(RequestModel):
    type: Literal["service_account"] = "service_account"
    project_id: StrictStr
    private_key_id: StrictStr
    private_key: StrictStr
    client_email: StrictStr
    client_id: StrictStr


class GoogleDriveOAuthCredentials(RequestModel):
    type: Literal["oauth"] = "oauth"
    client_id: StrictStr
    client_secret: StrictStr
    refresh_token: StrictStr


class GoogleDriveConfig(RequestModel):
    provider_type: Literal["google_drive"] = "google_drive"
    credentials: Annotated[
        GoogleDriveServiceAccountCredentials | GoogleDriveOAuthCredentials,
        Field(discriminator="type"),
    ]
    shared_drive_id: StrictStr | None = None
    impersonate_user: StrictStr | None = None


# Providers whose configuration is checked field by field; the others are stored as given.
CONFIG_MODELS: dict[StorageProvider, type[RequestModel]] = {
    StorageProvider.S3: S3Config,
    StorageProvider.GOOGLE_DRIVE: GoogleDriveConfig,
}


class StorageConnectionCreateRequest(RequestModel):
    name: ConnectionName
    provider_type: StorageProvider
    provider_config: JsonObject
    description: Annotated[str, Field(strict=True, max_length=500)] | None = None
    metadata: JsonObject | None = None
    write_enabled: StrictBool = False
    test_before_save: StrictBool = True


class ListStorageConnectionsRequest(ListRequestModel):
    provider_type: StorageProvider | None = None
    status: TaskStatusEnum | None = None
    is_active: StrictBool | None = None

    # The vendor's own example filters on "failed": read case-insensitively, as a sync's is.
    _parse_status = field_validator("status", mode="before")(parse_status)


class StorageConnectionModel(ResponseModel):
    connection_id: str
    internal_id: str
    name: str
    description: str | None
    provider_type: StorageProvider
    # Credentials are reduced to their ``type`` (D14).
    provider_config: dict[str, Any]
    write_enabled: bool = False
    status: TaskStatusEnum = TaskStatusEnum.ACTIVE
    is_active: bool = True
    consecutive_failures: int = 0
    last_error: str | None = None
    last_used_at: datetime | None = None
    created_by_user_id: str
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class StorageConnectionListResponse(ResponseModel):
    results: list[StorageConnectionModel]
    pagination: Pagination
    total: Annotated[int, Field(ge=0)]


class StorageConnectionDeletedResponse(ResponseModel):
    """The reference types this answer as a map of strings."""

    connection_id: str
    status: str = "deleted"
