"""sync runs: jobs, dead letters, bucket objects

What the engine writes (D18 to D26): a job per run, a dead letter per file that could not be
read, an object per source file; and on each sync its batch count and the real-time watermark
of its last successful run, with an index for the scheduler's "what is due" query.

Revision ID: 0002_sync_runs
Revises: 0001_initial
Create Date: 2026-12-02 04:26:36.367601
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_sync_runs"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Integers are 64-bit, as SQLite's INTEGER is: PostgreSQL's integer is 32-bit, so bigint there
# (app/db/tables.py declares the same).
INT64 = sa.Integer().with_variant(sa.BigInteger(), "postgresql")
# Aware datetimes: timestamptz on PostgreSQL (DATETIME on SQLite, as before).
DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "bucket_objects",
        sa.Column("object_id", sa.String(), nullable=False),
        sa.Column("bucket_id", sa.String(), nullable=False),
        sa.Column("namespace_id", sa.String(), nullable=False),
        sa.Column("internal_id", sa.String(), nullable=False),
        sa.Column("sync_config_id", sa.String(), nullable=False),
        sa.Column("source_bucket", sa.String(), nullable=False),
        sa.Column("source_key", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("blob_property", sa.String(), nullable=False),
        sa.Column("blob_type", sa.String(), nullable=False),
        sa.Column("filename", sa.String(), nullable=False),
        sa.Column("size_bytes", INT64, nullable=False),
        sa.Column("mime_type", sa.String(), nullable=False),
        sa.Column("content_hash", sa.String(), nullable=False),
        sa.Column("source_etag", sa.String(), nullable=True),
        sa.Column("source_last_modified", DATETIME, nullable=True),
        sa.Column("created_at", DATETIME, nullable=False),
        sa.Column("updated_at", DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["bucket_id"], ["buckets.bucket_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("object_id"),
        sa.UniqueConstraint("bucket_id", "sync_config_id", "source_key"),
    )
    with op.batch_alter_table("bucket_objects", schema=None) as batch_op:
        batch_op.create_index(
            "ix_bucket_objects_bucket_id_content_hash", ["bucket_id", "content_hash"], unique=False
        )
        batch_op.create_index(
            "ix_bucket_objects_bucket_id_created_at", ["bucket_id", "created_at"], unique=False
        )

    op.create_table(
        "sync_dead_letters",
        sa.Column("dlq_id", sa.String(), nullable=False),
        sa.Column("sync_config_id", sa.String(), nullable=False),
        sa.Column("sync_job_id", sa.String(), nullable=True),
        sa.Column("bucket_id", sa.String(), nullable=False),
        sa.Column("namespace_id", sa.String(), nullable=False),
        sa.Column("internal_id", sa.String(), nullable=False),
        sa.Column("source_object_id", sa.String(), nullable=False),
        sa.Column("source_path", sa.String(), nullable=False),
        sa.Column("error_type", sa.String(), nullable=False),
        sa.Column("error_message", sa.String(), nullable=False),
        sa.Column("retry_count", INT64, nullable=False),
        sa.Column("max_retries_reached", sa.Boolean(), nullable=False),
        sa.Column("permanently_failed", sa.Boolean(), nullable=False),
        sa.Column("first_seen_at", DATETIME, nullable=False),
        sa.Column("last_seen_at", DATETIME, nullable=False),
        sa.Column("requeued_at", DATETIME, nullable=True),
        sa.Column("resolved_at", DATETIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["sync_config_id"], ["sync_configurations.sync_config_id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("dlq_id"),
        sa.UniqueConstraint("sync_config_id", "source_object_id"),
    )
    op.create_table(
        "sync_jobs",
        sa.Column("sync_job_id", sa.String(), nullable=False),
        sa.Column("sync_config_id", sa.String(), nullable=False),
        sa.Column("bucket_id", sa.String(), nullable=False),
        sa.Column("namespace_id", sa.String(), nullable=False),
        sa.Column("internal_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("trigger", sa.String(), nullable=False),
        sa.Column("phase", sa.String(), nullable=True),
        sa.Column("full_sync", sa.Boolean(), nullable=False),
        sa.Column("worker_id", sa.String(), nullable=False),
        sa.Column("total_files", INT64, nullable=False),
        sa.Column("files_synced", INT64, nullable=False),
        sa.Column("files_verified", INT64, nullable=False),
        sa.Column("files_failed", INT64, nullable=False),
        sa.Column("bytes_synced", INT64, nullable=False),
        sa.Column("batches_created", INT64, nullable=False),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("started_at", DATETIME, nullable=False),
        sa.Column("completed_at", DATETIME, nullable=True),
        sa.Column("updated_at", DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["sync_config_id"], ["sync_configurations.sync_config_id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("sync_job_id"),
    )
    with op.batch_alter_table("sync_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sync_jobs_status"), ["status"], unique=False)
        batch_op.create_index(
            "ix_sync_jobs_sync_config_id_started_at", ["sync_config_id", "started_at"], unique=False
        )

    with op.batch_alter_table("sync_configurations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("batches_created", INT64, server_default="0", nullable=False))
        batch_op.add_column(sa.Column("incremental_watermark", DATETIME, nullable=True))
        batch_op.add_column(sa.Column("resume_after_key", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("resume_started_at", DATETIME, nullable=True))
        batch_op.create_index(
            batch_op.f("ix_sync_configurations_next_sync_at"), ["next_sync_at"], unique=False
        )
        batch_op.create_index(
            "ix_sync_configurations_bucket_id_created_at", ["bucket_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("sync_configurations", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_configurations_bucket_id_created_at")
        batch_op.drop_index(batch_op.f("ix_sync_configurations_next_sync_at"))
        batch_op.drop_column("resume_started_at")
        batch_op.drop_column("resume_after_key")
        batch_op.drop_column("incremental_watermark")
        batch_op.drop_column("batches_created")

    with op.batch_alter_table("sync_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_jobs_sync_config_id_started_at")
        batch_op.drop_index(batch_op.f("ix_sync_jobs_status"))

    op.drop_table("sync_jobs")
    op.drop_table("sync_dead_letters")
    with op.batch_alter_table("bucket_objects", schema=None) as batch_op:
        batch_op.drop_index("ix_bucket_objects_bucket_id_created_at")
        batch_op.drop_index("ix_bucket_objects_bucket_id_content_hash")

    op.drop_table("bucket_objects")
