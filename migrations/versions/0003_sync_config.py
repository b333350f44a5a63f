"""sync_configurations becomes sync_config

The design this project was asked for keeps sync configurations in a table named
``sync_config``; the rename makes the file match it. Data, indexes and the foreign keys that
point at the table (from ``sync_jobs`` and ``sync_dead_letters``) are all kept.

How, and why not batch mode: ``ALTER TABLE ... RENAME TO`` renames the table in place, on
SQLite and PostgreSQL alike, and both make the other tables' foreign keys follow it (PostgreSQL
holds them by the table's identity; SQLite 3.26 and later rewrites their ``REFERENCES`` clause,
unless ``legacy_alter_table`` is on, which is turned off here). A batch-mode copy (new table,
copy, drop the old) would instead leave ``sync_jobs`` and ``sync_dead_letters`` referring to a
table that no longer exists. The indexes stay on the renamed table under their old names;
they are dropped and made again under names that follow the table (``ix_sync_config_*``, the
names the models give them), since SQLite cannot rename an index.

Revision ID: 0003_sync_config
Revises: 0002_sync_runs
Create Date: 2026-12-03 05:50:00.000000
"""

import sqlite3
from collections.abc import Sequence

from alembic import op

revision: str = "0003_sync_config"
down_revision: str | None = "0002_sync_runs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = "sync_configurations"
NEW = "sync_config"

# The indexes on the table: (suffix, columns). Their names are ix_<table>_<suffix>.
INDEXES = [
    ("bucket_id", ["bucket_id"]),
    ("connection_id", ["connection_id"]),
    ("next_sync_at", ["next_sync_at"]),
    ("bucket_id_created_at", ["bucket_id", "created_at"]),
]


def _rename(old: str, new: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        if sqlite3.sqlite_version_info < (3, 26):
            raise RuntimeError(
                f"SQLite {sqlite3.sqlite_version} cannot rename a table together with the"
                " foreign keys that refer to it: 3.26 or later is needed"
            )
        op.execute("PRAGMA legacy_alter_table = OFF")
    for suffix, _ in INDEXES:
        op.drop_index(f"ix_{old}_{suffix}", table_name=old)
    op.rename_table(old, new)
    for suffix, columns in INDEXES:
        op.create_index(f"ix_{new}_{suffix}", new, columns, unique=False)


def upgrade() -> None:
    _rename(OLD, NEW)


def downgrade() -> None:
    _rename(NEW, OLD)
