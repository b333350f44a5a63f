"""initial schema

Revision ID: 0001_initial
Revises:
Create Date: 2026-12-01 04:03:54.329029
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Integers are 64-bit, as SQLite's INTEGER is: PostgreSQL's integer is 32-bit, so bigint there
# (app/db/tables.py declares the same).
INT64 = sa.Integer().with_variant(sa.BigInteger(), "postgresql")
# Aware datetimes: timestamptz on PostgreSQL (DATETIME on SQLite, as before).
DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:

    op.create_table(
        "organizations",
        sa.Column("internal_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("created_at", DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("internal_id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "namespaces",
        sa.Column("namespace_id", sa.String(), nullable=False),
        sa.Column("internal_id", sa.String(), nullable=False),
        sa.Column("namespace_name", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=True),
        sa.Column("feature_extractors", sa.JSON(), nullable=False),
        sa.Column("payload_indexes", sa.JSON(), nullable=True),
        sa.Column("auto_create_indexes", sa.Boolean(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("created_at", DATETIME, nullable=False),
        sa.Column("updated_at", DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["internal_id"], ["organizations.internal_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("namespace_id"),
        sa.UniqueConstraint("internal_id", "namespace_name"),
    )
    with op.batch_alter_table("namespaces", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_namespaces_internal_id"), ["internal_id"], unique=False
        )

    op.create_table(
        "storage_connections",
        sa.Column("connection_id", sa.String(), nullable=False),
        sa.Column("internal_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=True),
        sa.Column("provider_type", sa.String(), nullable=False),
        sa.Column("provider_config", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("write_enabled", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("consecutive_failures", INT64, nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("last_used_at", DATETIME, nullable=True),
        sa.Column("created_by_user_id", sa.String(), nullable=False),
        sa.Column("created_at", DATETIME, nullable=False),
        sa.Column("updated_at", DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["internal_id"], ["organizations.internal_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("connection_id"),
        sa.UniqueConstraint("internal_id", "name"),
    )
    with op.batch_alter_table("storage_connections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_storage_connections_internal_id"), ["internal_id"], unique=False
        )

    op.create_table(
        "users",
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("internal_id", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("created_at", DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["internal_id"], ["organizations.internal_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_internal_id"), ["internal_id"], unique=False)

    op.create_table(
        "api_keys",
        sa.Column("key_hash", sa.String(), nullable=False),
        sa.Column("key_prefix", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("internal_id", sa.String(), nullable=False),
        sa.Column("created_at", DATETIME, nullable=False),
        sa.Column("revoked_at", DATETIME, nullable=True),
        sa.ForeignKeyConstraint(["internal_id"], ["organizations.internal_id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.user_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key_hash"),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_internal_id"), ["internal_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_api_keys_user_id"), ["user_id"], unique=False)

    op.create_table(
        "buckets",
        sa.Column("bucket_id", sa.String(), nullable=False),
        sa.Column("namespace_id", sa.String(), nullable=False),
        sa.Column("internal_id", sa.String(), nullable=False),
        sa.Column("bucket_name", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=True),
        sa.Column("bucket_schema", sa.JSON(), nullable=False),
        sa.Column("unique_key", sa.JSON(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("created_at", DATETIME, nullable=False),
        sa.Column("updated_at", DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["namespace_id"], ["namespaces.namespace_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("bucket_id"),
        sa.UniqueConstraint("namespace_id", "bucket_name"),
    )
    with op.batch_alter_table("buckets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_buckets_internal_id"), ["internal_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_buckets_namespace_id"), ["namespace_id"], unique=False)

    op.create_table(
        "sync_configurations",
        sa.Column("sync_config_id", sa.String(), nullable=False),
        sa.Column("bucket_id", sa.String(), nullable=False),
        sa.Column("connection_id", sa.String(), nullable=False),
        sa.Column("namespace_id", sa.String(), nullable=False),
        sa.Column("internal_id", sa.String(), nullable=False),
        sa.Column("source_path", sa.String(), nullable=False),
        sa.Column("source_type", sa.String(), nullable=True),
        sa.Column("description", sa.String(), nullable=True),
        sa.Column("file_filters", sa.JSON(), nullable=True),
        sa.Column("schema_mapping", sa.JSON(), nullable=True),
        sa.Column("provider_filters", sa.JSON(), nullable=True),
        sa.Column("ingest_filter", sa.JSON(), nullable=True),
        sa.Column("reconcile", sa.JSON(), nullable=True),
        sa.Column("batch_collection_ids", sa.JSON(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("sync_mode", sa.String(), nullable=False),
        sa.Column("polling_interval_seconds", INT64, nullable=False),
        sa.Column("batch_size", INT64, nullable=False),
        sa.Column("create_object_on_confirm", sa.Boolean(), nullable=False),
        sa.Column("skip_duplicates", sa.Boolean(), nullable=False),
        sa.Column("skip_batch_submission", sa.Boolean(), nullable=False),
        sa.Column("max_objects_per_run", INT64, nullable=True),
        sa.Column("sync_concurrency", INT64, nullable=True),
        sa.Column("sync_from", DATETIME, nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("paused_at", DATETIME, nullable=True),
        sa.Column("pause_reason", sa.String(), nullable=True),
        sa.Column("paused_by_user_id", sa.String(), nullable=True),
        sa.Column("locked_by_worker_id", sa.String(), nullable=True),
        sa.Column("locked_at", DATETIME, nullable=True),
        sa.Column("lock_expires_at", DATETIME, nullable=True),
        sa.Column("pending_full_sync", sa.Boolean(), nullable=False),
        sa.Column("sync_run_counter", INT64, nullable=False),
        sa.Column("total_files_discovered", INT64, nullable=False),
        sa.Column("total_files_synced", INT64, nullable=False),
        sa.Column("total_files_failed", INT64, nullable=False),
        sa.Column("total_bytes_synced", INT64, nullable=False),
        sa.Column("consecutive_failures", INT64, nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("last_sync_at", DATETIME, nullable=True),
        sa.Column("next_sync_at", DATETIME, nullable=True),
        sa.Column("created_by_user_id", sa.String(), nullable=False),
        sa.Column("created_at", DATETIME, nullable=False),
        sa.Column("updated_at", DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["bucket_id"], ["buckets.bucket_id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["storage_connections.connection_id"], ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("sync_config_id"),
    )
    with op.batch_alter_table("sync_configurations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sync_configurations_bucket_id"), ["bucket_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sync_configurations_connection_id"), ["connection_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("sync_configurations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_configurations_connection_id"))
        batch_op.drop_index(batch_op.f("ix_sync_configurations_bucket_id"))

    op.drop_table("sync_configurations")
    with op.batch_alter_table("buckets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_buckets_namespace_id"))
        batch_op.drop_index(batch_op.f("ix_buckets_internal_id"))

    op.drop_table("buckets")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_user_id"))
        batch_op.drop_index(batch_op.f("ix_api_keys_internal_id"))

    op.drop_table("api_keys")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_internal_id"))

    op.drop_table("users")
    with op.batch_alter_table("storage_connections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_storage_connections_internal_id"))

    op.drop_table("storage_connections")
    with op.batch_alter_table("namespaces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_namespaces_internal_id"))

    op.drop_table("namespaces")
    op.drop_table("organizations")
