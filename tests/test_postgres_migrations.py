"""The migrations on PostgreSQL: the same revisions build the schema the models describe, come
apart again, and run once when several instances start together (CONTRACT.md D34, D35)."""

import subprocess
import sys
from collections.abc import Iterator

import pytest
from alembic import command

from app.db.database import Database
from app.db.migrate import SCHEMA_REVISION, alembic_config, current_revision, upgrade_to_head
from tests.postgres import PostgresServer, postgres_server_missing
from tests.test_migrations import TABLES


@pytest.fixture
def empty_url(postgres_server: PostgresServer | None) -> Iterator[str]:
    if postgres_server is None:
        pytest.skip(postgres_server_missing())
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


def _tables(url: str) -> set[str]:
    database = Database.open(url)
    try:
        names = database.column(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    finally:
        database.close()
    return set(names) - {"alembic_version"}


def _column_types(url: str) -> dict[str, str]:
    database = Database.open(url)
    try:
        rows = database.all(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ?",
            ("sync_jobs",),
        )
    finally:
        database.close()
    return {row["column_name"]: row["data_type"] for row in rows}


def test_upgrade_check_and_downgrade_an_empty_database(empty_url: str) -> None:
    config = alembic_config(empty_url)

    command.upgrade(config, "head")
    assert _tables(empty_url) == TABLES
    # Raises if the models and the migrations differ in any table, column, type or index.
    command.check(config)

    command.downgrade(config, "base")
    assert _tables(empty_url) == set()


def test_integers_are_64_bit_and_times_carry_their_zone(empty_url: str) -> None:
    command.upgrade(alembic_config(empty_url), "head")

    types = _column_types(empty_url)
    assert types["bytes_synced"] == "bigint"
    assert types["started_at"] == "timestamp with time zone"
    assert types["full_sync"] == "boolean"


def test_startup_migrates_once_and_then_only_reads_the_revision(empty_url: str) -> None:
    database = Database.open(empty_url)
    try:
        assert current_revision(database) is None
        assert upgrade_to_head(database, empty_url) is True
        assert current_revision(database) == SCHEMA_REVISION
        assert upgrade_to_head(database, empty_url) is False
    finally:
        database.close()
    command.check(alembic_config(empty_url))


def test_a_database_below_head_is_migrated_by_alembic(empty_url: str) -> None:
    command.upgrade(alembic_config(empty_url), "0001_initial")
    database = Database.open(empty_url)
    try:
        assert upgrade_to_head(database, empty_url) is True
        assert current_revision(database) == SCHEMA_REVISION
    finally:
        database.close()
    assert _tables(empty_url) == TABLES


def test_instances_starting_together_migrate_once(empty_url: str) -> None:
    """Each migrates in a child under an advisory lock (migrations/env.py): the first applies
    the revisions, the others then find the database at head and apply nothing."""
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "app.db.migrate", empty_url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    errors = [child.communicate(timeout=60)[1] for child in children]

    assert [child.returncode for child in children] == [0] * 4, errors
    database = Database.open(empty_url)
    try:
        assert current_revision(database) == SCHEMA_REVISION
        assert database.column("SELECT version_num FROM alembic_version") == [SCHEMA_REVISION]
    finally:
        database.close()
    command.check(alembic_config(empty_url))
