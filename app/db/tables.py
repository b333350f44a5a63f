"""The database schema, as SQLModel tables.

These classes are the single description of the schema: Alembic's migrations are written
against them and ``alembic check`` (run by the test suite) fails when the two drift apart.
The request path does not go through the ORM (see ``app/db/database.py`` for why); it reads and
writes these same tables with plain SQL, storing timestamps and JSON in the formats SQLAlchemy
itself uses, so that the rows read back through these models unchanged.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, String, UniqueConstraint
from sqlmodel import Field, SQLModel


def _json(*, nullable: bool) -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=nullable))


def _owner(target: str, *, ondelete: str = "CASCADE", index: bool = True) -> Any:
    """A required foreign key column (SQLModel's ``foreign_key=`` cannot set ON DELETE)."""
    return Field(
        sa_column=Column(String, ForeignKey(target, ondelete=ondelete), nullable=False, index=index)
    )


class Organization(SQLModel, table=True):
    __tablename__ = "organizations"

    internal_id: str = Field(primary_key=True)
    name: str = Field(unique=True)
    created_at: datetime


class User(SQLModel, table=True):
    __tablename__ = "users"

    user_id: str = Field(primary_key=True)
    internal_id: str = _owner("organizations.internal_id")
    email: str
    created_at: datetime


class ApiKey(SQLModel, table=True):
    """An API key, kept only as the SHA-256 of the key (keys are long random strings)."""

    __tablename__ = "api_keys"

    key_hash: str = Field(primary_key=True)
    # The first characters of the key, enough to tell keys apart in a listing.
    key_prefix: str
    user_id: str = _owner("users.user_id")
    internal_id: str = _owner("organizations.internal_id")
    created_at: datetime
    revoked_at: datetime | None = None


class Namespace(SQLModel, table=True):
    __tablename__ = "namespaces"
    __table_args__ = (UniqueConstraint("internal_id", "namespace_name"),)

    namespace_id: str = Field(primary_key=True)
    internal_id: str = _owner("organizations.internal_id")
    namespace_name: str
    description: str | None = None
    feature_extractors: Any = _json(nullable=False)
    payload_indexes: Any = _json(nullable=True)
    auto_create_indexes: bool
    # The newer API's optional settings (mode, features, ...), kept as given and echoed back.
    options: Any = _json(nullable=False)
    created_at: datetime
    updated_at: datetime


class Bucket(SQLModel, table=True):
    __tablename__ = "buckets"
    __table_args__ = (UniqueConstraint("namespace_id", "bucket_name"),)

    bucket_id: str = Field(primary_key=True)
    namespace_id: str = _owner("namespaces.namespace_id")
    internal_id: str = Field(index=True)
    bucket_name: str
    description: str | None = None
    bucket_schema: Any = _json(nullable=False)
    unique_key: Any = _json(nullable=True)
    metadata_: Any = Field(default=None, sa_column=Column("metadata", JSON, nullable=False))
    status: str
    # The newer API's optional settings (storage_class, destination, ...), kept and echoed.
    options: Any = _json(nullable=False)
    created_at: datetime
    updated_at: datetime


class StorageConnection(SQLModel, table=True):
    __tablename__ = "storage_connections"
    __table_args__ = (UniqueConstraint("internal_id", "name"),)

    connection_id: str = Field(primary_key=True)
    internal_id: str = _owner("organizations.internal_id")
    name: str
    description: str | None = None
    provider_type: str
    # Holds the credentials; never returned as stored (see app/connections/service.py).
    provider_config: Any = _json(nullable=False)
    metadata_: Any = Field(default=None, sa_column=Column("metadata", JSON, nullable=False))
    write_enabled: bool
    status: str
    is_active: bool
    consecutive_failures: int
    last_error: str | None = None
    last_used_at: datetime | None = None
    created_by_user_id: str
    created_at: datetime
    updated_at: datetime


class SyncConfiguration(SQLModel, table=True):
    __tablename__ = "sync_configurations"

    sync_config_id: str = Field(primary_key=True)
    bucket_id: str = _owner("buckets.bucket_id")
    # A connection in use by a sync cannot be deleted (RESTRICT): see app/connections/service.py.
    connection_id: str = _owner("storage_connections.connection_id", ondelete="RESTRICT")
    namespace_id: str
    internal_id: str
    source_path: str
    source_type: str | None = None
    description: str | None = None
    file_filters: Any = _json(nullable=True)
    schema_mapping: Any = _json(nullable=True)
    provider_filters: Any = _json(nullable=True)
    ingest_filter: Any = _json(nullable=True)
    reconcile: Any = _json(nullable=True)
    batch_collection_ids: Any = _json(nullable=True)
    metadata_: Any = Field(default=None, sa_column=Column("metadata", JSON, nullable=False))
    sync_mode: str
    polling_interval_seconds: int
    batch_size: int
    create_object_on_confirm: bool
    skip_duplicates: bool
    skip_batch_submission: bool
    max_objects_per_run: int | None = None
    sync_concurrency: int | None = None
    sync_from: datetime | None = None
    status: str
    is_active: bool
    paused: bool
    paused_at: datetime | None = None
    pause_reason: str | None = None
    paused_by_user_id: str | None = None
    locked_by_worker_id: str | None = None
    locked_at: datetime | None = None
    lock_expires_at: datetime | None = None
    pending_full_sync: bool
    sync_run_counter: int
    total_files_discovered: int
    total_files_synced: int
    total_files_failed: int
    total_bytes_synced: int
    consecutive_failures: int
    last_error: str | None = None
    last_sync_at: datetime | None = None
    next_sync_at: datetime | None = None
    created_by_user_id: str
    created_at: datetime
    updated_at: datetime
