"""The database schema, as SQLModel tables.

These classes are the single description of the schema: Alembic's migrations are written
against them and ``alembic check`` (run by the test suite) fails when the two drift apart.
The request path does not go through the ORM (see ``app/db/database.py`` for why); it reads and
writes these same tables with plain SQL, storing timestamps and JSON in the formats SQLAlchemy
itself uses, so that the rows read back through these models unchanged.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
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
    __tablename__ = "sync_config"
    # A bucket's syncs, newest first (the list's order), without sorting whole rows.
    __table_args__ = (Index("ix_sync_config_bucket_id_created_at", "bucket_id", "created_at"),)

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
    batches_created: int = Field(sa_column_kwargs={"server_default": "0"})
    # Real time (never the mock clock) at which the last successful run started: an incremental
    # run reads only files modified since then, less a second (D20).
    incremental_watermark: datetime | None = None
    # A run that ``max_objects_per_run`` cut short leaves where the next run continues (the last
    # key it took) and when the chain of runs began (real time): the watermark moves to that
    # instant only when a run reaches the end of the listing.
    resume_after_key: str | None = None
    resume_started_at: datetime | None = None
    total_files_discovered: int
    total_files_synced: int
    total_files_failed: int
    total_bytes_synced: int
    consecutive_failures: int
    last_error: str | None = None
    last_sync_at: datetime | None = None
    next_sync_at: datetime | None = Field(default=None, index=True)
    created_by_user_id: str
    created_at: datetime
    updated_at: datetime


class SyncJob(SQLModel, table=True):
    """One run of a sync (D23). Its progress counters are written in batches as it goes."""

    __tablename__ = "sync_jobs"
    __table_args__ = (
        Index("ix_sync_jobs_sync_config_id_started_at", "sync_config_id", "started_at"),
    )

    sync_job_id: str = Field(primary_key=True)
    sync_config_id: str = _owner("sync_config.sync_config_id", index=False)
    bucket_id: str
    namespace_id: str
    internal_id: str
    # running, completed, failed, interrupted, skipped
    status: str = Field(index=True)
    # manual, scheduled, resume
    trigger: str
    phase: str | None = None
    full_sync: bool
    # The worker (a server's engine, or a CLI run) that held the sync's lease for this job.
    worker_id: str
    total_files: int
    files_synced: int
    files_verified: int
    files_failed: int
    bytes_synced: int
    batches_created: int
    error: str | None = None
    started_at: datetime
    completed_at: datetime | None = None
    updated_at: datetime


class SyncDeadLetter(SQLModel, table=True):
    """A source file a sync could not turn into an object after its retries (D25)."""

    __tablename__ = "sync_dead_letters"
    __table_args__ = (UniqueConstraint("sync_config_id", "source_object_id"),)

    dlq_id: str = Field(primary_key=True)
    sync_config_id: str = _owner("sync_config.sync_config_id", index=False)
    sync_job_id: str | None = None
    bucket_id: str
    namespace_id: str
    internal_id: str
    # The source key, and ``bucket/key`` as ``source_path``.
    source_object_id: str
    source_path: str
    # download_failed or validation_error
    error_type: str
    error_message: str
    retry_count: int
    max_retries_reached: bool
    # Marked failed for good (bulk-mark-failed): never retried again.
    permanently_failed: bool
    first_seen_at: datetime
    last_seen_at: datetime
    requeued_at: datetime | None = None
    resolved_at: datetime | None = None


class BucketObject(SQLModel, table=True):
    """An object a sync made from one source file (D26). File contents are not stored.

    A source key never has two objects in a bucket for one sync: a changed file updates its
    object. Objects outlive the sync that made them (``sync_config_id`` is history, not a key).
    """

    __tablename__ = "bucket_objects"
    __table_args__ = (
        UniqueConstraint("bucket_id", "sync_config_id", "source_key"),
        Index("ix_bucket_objects_bucket_id_content_hash", "bucket_id", "content_hash"),
        Index("ix_bucket_objects_bucket_id_created_at", "bucket_id", "created_at"),
    )

    object_id: str = Field(primary_key=True)
    bucket_id: str = _owner("buckets.bucket_id", index=False)
    namespace_id: str
    internal_id: str
    sync_config_id: str
    source_bucket: str
    source_key: str
    status: str
    blob_property: str
    blob_type: str
    filename: str
    size_bytes: int
    mime_type: str
    # "sha256:<hex>", indexed with the bucket for skip_duplicates.
    content_hash: str
    # What the source said of the file when it was read: unchanged files need no second read.
    source_etag: str | None = None
    source_last_modified: datetime | None = None
    created_at: datetime
    updated_at: datetime


# The contract-testing kit's state (CONTRACT.md D28 to D33). It lives in the database, not in
# a process, so that every instance on one database shares it and the engine process sees it.


class AdminToken(SQLModel, table=True):
    """A generated admin token of ``/_mock/`` (D28), kept only as its SHA-256."""

    __tablename__ = "admin_tokens"

    token_hash: str = Field(primary_key=True)
    created_at: datetime


class MockClock(SQLModel, table=True):
    """The server's clock (D32): one row, absent while the clock runs in real time.

    Frozen, it reads ``frozen_at``; running, real time plus ``offset_us`` microseconds.
    """

    __tablename__ = "mock_clock"

    clock_id: int = Field(primary_key=True)
    offset_us: int = Field(sa_type=BigInteger)
    frozen_at: datetime | None = None
    updated_at: datetime


class IdSequence(SQLModel, table=True):
    """The last number drawn for a prefix, while ``MIXPEEK_MOCK_ID_SEED`` makes ids (D32)."""

    __tablename__ = "id_sequences"

    prefix: str = Field(primary_key=True)
    last_value: int = Field(sa_type=BigInteger)


class IdempotencyRecord(SQLModel, table=True):
    """The first 200 answer of a create sent with an ``Idempotency-Key`` (D33)."""

    __tablename__ = "idempotency_records"

    internal_id: str = Field(primary_key=True)
    route: str = Field(primary_key=True)
    idempotency_key: str = Field(primary_key=True)
    # SHA-256 of the request's JSON body, in a canonical form.
    body_hash: str
    status_code: int
    response: Any = _json(nullable=False)
    created_at: datetime = Field(index=True)


class Snapshot(SQLModel, table=True):
    """A named copy of the whole state (D29); its rows are in ``snapshot_rows``."""

    __tablename__ = "snapshots"

    name: str = Field(primary_key=True)
    created_at: datetime


class SnapshotRow(SQLModel, table=True):
    """One row of one table as a snapshot saved it: column name to value, as JSON."""

    __tablename__ = "snapshot_rows"

    snapshot_name: str = Field(
        sa_column=Column(String, ForeignKey("snapshots.name", ondelete="CASCADE"), primary_key=True)
    )
    table_name: str = Field(primary_key=True)
    position: int = Field(primary_key=True)
    data: Any = _json(nullable=False)


# Every integer column holds a signed 64-bit value (counters, sizes, limits up to 2**63 - 1), as
# SQLite's INTEGER does; PostgreSQL's integer is 32-bit, so there they are bigint. Set here for
# every table at once, so that a new table cannot forget it (its migration must say the same,
# or ``alembic check`` on PostgreSQL fails).
INT64 = Integer().with_variant(BigInteger(), "postgresql")
for _table in SQLModel.metadata.tables.values():
    for _column in _table.columns:
        if type(_column.type) is Integer:
            _column.type = INT64
