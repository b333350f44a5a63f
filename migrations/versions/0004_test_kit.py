"""the contract-testing kit"s state: admin tokens, the clock, id sequences, idempotency, snapshots

What the admin API under /_mock/ keeps (CONTRACT.md D28 to D33). It lives in the database
rather than in the server process so that every instance on one database, and the engine
process, share one clock, one set of snapshots and one idempotency record per key.

Revision ID: 0004_test_kit
Revises: 0003_sync_config
Create Date: 2026-12-02 07:52:37.590239
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_test_kit"
down_revision: str | None = "0003_sync_config"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in 0001 and 0002: integers are 64-bit (bigint on PostgreSQL), timestamps timestamptz there.
INT64 = sa.Integer().with_variant(sa.BigInteger(), "postgresql")
DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "admin_tokens",
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("created_at", DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_table(
        "id_sequences",
        sa.Column("prefix", sa.String(), nullable=False),
        sa.Column("last_value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("prefix"),
    )
    op.create_table(
        "idempotency_records",
        sa.Column("internal_id", sa.String(), nullable=False),
        sa.Column("route", sa.String(), nullable=False),
        sa.Column("idempotency_key", sa.String(), nullable=False),
        sa.Column("body_hash", sa.String(), nullable=False),
        sa.Column("status_code", INT64, nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("internal_id", "route", "idempotency_key"),
    )
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_records_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "mock_clock",
        sa.Column("clock_id", INT64, nullable=False),
        sa.Column("offset_us", sa.BigInteger(), nullable=False),
        sa.Column("frozen_at", DATETIME, nullable=True),
        sa.Column("updated_at", DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("clock_id"),
    )
    op.create_table(
        "snapshots",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("created_at", DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "snapshot_rows",
        sa.Column("snapshot_name", sa.String(), nullable=False),
        sa.Column("table_name", sa.String(), nullable=False),
        sa.Column("position", INT64, nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["snapshot_name"], ["snapshots.name"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("snapshot_name", "table_name", "position"),
    )


def downgrade() -> None:
    op.drop_table("snapshot_rows")
    op.drop_table("snapshots")
    op.drop_table("mock_clock")
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_records_created_at"))

    op.drop_table("idempotency_records")
    op.drop_table("id_sequences")
    op.drop_table("admin_tokens")
