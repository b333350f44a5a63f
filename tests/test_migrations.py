"""The migrations build exactly the schema the models describe, and come apart again."""

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.operations import Operations
from alembic.script import ScriptDirectory
from starlette.testclient import TestClient

from app.db.migrate import (
    SCHEMA_REVISION,
    MigrationError,
    alembic_config,
    current_revision,
    start_upgrade,
    upgrade_to_head,
)
from app.db.schema import SCHEMA_FILE, create_schema, render_schema
from app.main import create_app
from app.settings import Settings
from tests.conftest import API_KEY, Api
from tests.s3 import S3Store
from tests.sync_runs import SourceSync


@pytest.fixture
def backend() -> str:
    """SQLite: these read the file itself (PostgreSQL's are in test_postgres_migrations.py)."""
    return "sqlite"


# The revision before sync_configurations became sync_config.
BEFORE_0003 = "0002_sync_runs"

TABLES = {
    "organizations",
    "users",
    "api_keys",
    "namespaces",
    "buckets",
    "storage_connections",
    "sync_config",
    "sync_jobs",
    "sync_dead_letters",
    "bucket_objects",
}
TEST_KIT_TABLES = {
    "admin_tokens",
    "mock_clock",
    "id_sequences",
    "idempotency_records",
    "snapshots",
    "snapshot_rows",
}
TABLES |= TEST_KIT_TABLES


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


def test_a_database_below_head_is_migrated_by_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0001_initial")
    conn = sqlite3.connect(tmp_path / "old.db")
    try:
        assert upgrade_to_head(conn, url) is True
        assert current_revision(conn) == SCHEMA_REVISION
    finally:
        conn.close()
    assert _tables(tmp_path / "old.db") == TABLES
    command.check(alembic_config(url))


def test_a_migration_that_fails_halfway_leaves_the_database_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole upgrade is one transaction (migrations/env.py): a failure, or a Ctrl-C that
    stops the migration child, never leaves a half-renamed table behind a stale revision."""
    path = tmp_path / "half.db"
    config = alembic_config(f"sqlite:///{path}")
    command.upgrade(config, BEFORE_0003)
    before = _catalog(path)
    create_index = Operations.create_index

    calls: list[Any] = []

    def fail_on_the_second(self: Operations, *args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        if len(calls) == 2:  # 0003 has dropped the indexes, renamed the table, made one index
            raise RuntimeError("stopped halfway")
        return create_index(self, *args, **kwargs)

    monkeypatch.setattr(Operations, "create_index", fail_on_the_second)
    with pytest.raises(RuntimeError, match="stopped halfway"):
        command.upgrade(config, "head")
    assert _catalog(path) == before

    monkeypatch.undo()
    command.upgrade(config, "head")
    assert _catalog(path)[1] == [(SCHEMA_REVISION,)]


# --- the schema snapshot a new database is made from (app/db/schema.py) ----------------------


def _catalog(path: Path) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """What SQLite holds of a database's schema (its SQL with whitespace normalized), and the
    revision rows."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        versions = conn.execute("SELECT * FROM alembic_version").fetchall()
    return [(kind, name, table, " ".join(sql.split())) for kind, name, table, sql in rows], versions


def test_the_committed_schema_snapshot_is_what_the_migrations_produce() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render_schema(), (
        f"{SCHEMA_FILE.name} differs from the migrations: run `make schema`"
    )


def test_a_new_database_made_from_the_snapshot_is_the_one_alembic_makes(tmp_path: Path) -> None:
    migrated = tmp_path / "alembic.db"
    command.upgrade(alembic_config(f"sqlite:///{migrated}"), "head")

    made = tmp_path / "snapshot.db"
    conn = sqlite3.connect(made, isolation_level=None)
    try:
        assert create_schema(conn) is True
        assert create_schema(conn) is False  # not empty any more: left alone
    finally:
        conn.close()

    assert _catalog(made) == _catalog(migrated)
    assert _catalog(made)[1] == [(SCHEMA_REVISION,)]
    command.check(alembic_config(f"sqlite:///{made}"))  # the models agree with it too


def test_a_schema_that_cannot_be_made_is_a_migration_error(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    path.touch()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    try:
        with pytest.raises(MigrationError, match="creating the database's schema failed"):
            start_upgrade(conn, f"sqlite:///{path}")
        assert not conn.in_transaction
    finally:
        conn.close()
    assert _tables(path) == set()


def test_a_first_start_makes_the_schema_without_alembic_or_a_child_process(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    code = (
        "import sys\n"
        "from app.db.database import Database\n"
        "from app.db.migrate import start_upgrade\n"
        f"database = Database.open({url!r})\n"
        f"assert start_upgrade(database.conn, {url!r}) is None\n"  # no child process
        "print(sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('alembic', 'sqlalchemy', 'sqlmodel')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert _tables(tmp_path / "new.db") == TABLES
    assert _catalog(tmp_path / "new.db")[1] == [(SCHEMA_REVISION,)]


# --- 0003: sync_configurations becomes sync_config, with its data ------------------------------


def _contents(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, by table, in a fixed order."""
    with sqlite3.connect(path) as conn:
        names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            name: conn.execute(f'SELECT * FROM "{name}" ORDER BY 1').fetchall() for name in names
        }


def _references(path: Path) -> dict[str, set[str]]:
    """What the foreign keys of the tables that hang off a sync point at; and any violation."""
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        return {
            table: {row[2] for row in conn.execute(f"PRAGMA foreign_key_list({table})")}
            for table in ("sync_jobs", "sync_dead_letters")
        }


def _indexes(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql NOT NULL")
        return {name for (name,) in rows}


def _what_the_api_shows(settings: Settings, source: SourceSync) -> dict[str, Any]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        api = Api(client, API_KEY)
        bucket = source.sync["bucket_id"]
        return {
            "sync": api.ok("GET", source.path),
            "syncs": api.ok("POST", f"/v1/buckets/{bucket}/syncs/list", json={}),
            "jobs": api.ok("POST", f"{source.path}/jobs", json={}),
            "dlq": api.ok("POST", f"{source.path}/dlq", json={}),
            "objects": api.ok("POST", f"/v1/buckets/{bucket}/objects/list", json={}),
        }


def test_a_database_with_syncs_jobs_and_dead_letters_keeps_them_through_0003_and_back(
    settings: Settings, s3: S3Store
) -> None:
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    config = alembic_config(settings.database_url)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        source = SourceSync.create(Api(client, API_KEY), s3, {"a.txt": b"alpha"})
        source.put("cold.txt", b"frozen", StorageClass="GLACIER")  # unreadable: a dead letter
        source.run()
    shown = _what_the_api_shows(settings, source)
    assert shown["jobs"]["total"] == 1
    assert shown["dlq"]["total"] == 1
    assert len(shown["objects"]["results"]) == 1

    original = _contents(path)
    assert original.pop("alembic_version") == [(SCHEMA_REVISION,)]
    # The test kit's tables (0004) are empty here, and are not there at 0002.
    for table in TEST_KIT_TABLES:
        assert original.pop(table) == []
    assert len(original["sync_config"]) == len(original["bucket_objects"]) == 1
    assert len(original["sync_jobs"]) == len(original["sync_dead_letters"]) == 1

    # Down to 0002: a database as 0002 left it, holding a sync, its job, its dead letter and
    # its object, every row kept.
    command.downgrade(config, BEFORE_0003)
    at_0002 = _contents(path)
    assert at_0002.pop("alembic_version") == [(BEFORE_0003,)]
    assert at_0002.pop("sync_configurations") == original["sync_config"]
    assert at_0002 == {k: v for k, v in original.items() if k != "sync_config"}
    assert _references(path) == {
        "sync_jobs": {"sync_configurations"},
        "sync_dead_letters": {"sync_configurations"},
    }
    assert {name for name in _indexes(path) if "sync_config" in name} == {
        "ix_sync_configurations_bucket_id",
        "ix_sync_configurations_connection_id",
        "ix_sync_configurations_next_sync_at",
        "ix_sync_configurations_bucket_id_created_at",
        "ix_sync_jobs_sync_config_id_started_at",
    }

    # And up again: every row where it was.
    command.upgrade(config, "head")
    at_head = _contents(path)
    assert at_head.pop("alembic_version") == [(SCHEMA_REVISION,)]
    assert all(at_head.pop(table) == [] for table in TEST_KIT_TABLES)
    assert at_head == original
    assert _references(path) == {"sync_jobs": {"sync_config"}, "sync_dead_letters": {"sync_config"}}
    assert {name for name in _indexes(path) if "sync_config" in name} == {
        "ix_sync_config_bucket_id",
        "ix_sync_config_connection_id",
        "ix_sync_config_next_sync_at",
        "ix_sync_config_bucket_id_created_at",
        "ix_sync_jobs_sync_config_id_started_at",
    }
    command.check(config)
    assert _what_the_api_shows(settings, source) == shown

    # Deleting the sync still takes its jobs and dead letters with it (ON DELETE CASCADE
    # follows the renamed table).
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert Api(client, API_KEY).delete(source.path).status_code == 200
    after_delete = _contents(path)
    assert after_delete["sync_config"] == after_delete["sync_jobs"] == []
    assert after_delete["sync_dead_letters"] == []
