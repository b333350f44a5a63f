"""The migrations build exactly the schema the models describe, and come apart again."""

import sqlite3
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory

from app.db.migrate import SCHEMA_REVISION, alembic_config, current_revision, upgrade_to_head

TABLES = {
    "organizations",
    "users",
    "api_keys",
    "namespaces",
    "buckets",
    "storage_connections",
    "sync_configurations",
    "sync_jobs",
    "sync_dead_letters",
    "bucket_objects",
}


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows} - {"alembic_version"}


def test_upgrade_check_and_downgrade_an_empty_database(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    config = alembic_config(f"sqlite:///{path}")

    command.upgrade(config, "head")
    assert _tables(path) == TABLES
    # Raises if the models and the migrations differ in any table, column, type or index.
    command.check(config)

    command.downgrade(config, "base")
    assert _tables(path) == set()


def test_schema_revision_is_the_head_of_the_migrations(tmp_path: Path) -> None:
    """Startup skips Alembic when the database is at SCHEMA_REVISION: it must be the head."""
    script = ScriptDirectory.from_config(alembic_config(f"sqlite:///{tmp_path / 'x.db'}"))
    assert script.get_current_head() == SCHEMA_REVISION


def test_startup_migrates_once_and_then_only_reads_the_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'start.db'}"
    conn = sqlite3.connect(tmp_path / "start.db")
    try:
        assert current_revision(conn) is None
        assert upgrade_to_head(conn, url) is True
        assert current_revision(conn) == SCHEMA_REVISION
        assert upgrade_to_head(conn, url) is False
    finally:
        conn.close()
