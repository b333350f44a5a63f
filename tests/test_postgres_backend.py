"""The PostgreSQL backend keeps the promises of the Database interface (app/db/postgres.py):
the services' SQL as written for SQLite, the same Python values back, one writer at a time
across connections, and the typed errors the request guard acts on."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from app.db.database import Database, DatabaseBusyError, IntegrityError
from app.db.postgres import escape_text, translate, unescape_text


def test_placeholders_and_functions_are_translated_once() -> None:
    assert translate("SELECT * FROM t WHERE a = ? AND b LIKE '100%' AND c = ?") == (
        b"SELECT * FROM t WHERE a = $1 AND b LIKE '100%' AND c = $2"
    )
    assert translate("SELECT ?2, ?1, ?2") == b"SELECT $2, $1, $2"
    assert translate("SELECT instr(lower(name), lower(?)) > 0") == (
        b"SELECT strpos(lower(name), lower($1)) > 0"
    )
    with pytest.raises(AssertionError):
        translate("SELECT 'why?' FROM t")
    with pytest.raises(AssertionError):
        translate("SELECT ?, ?1")


@pytest.mark.parametrize(
    "text", ["", "plain", "a\x00b", "\x01", "\x010", "\x00\x01\x00", "é\x01\x01"]
)
def test_text_escaping_is_one_to_one(text: str) -> None:
    escaped = escape_text(text)
    assert "\x00" not in escaped
    assert unescape_text(escaped) == text


@pytest.fixture
def backend() -> str:
    return "postgresql"  # (this module is about PostgreSQL's own behaviour)


@pytest.fixture
def pg(database_url: str) -> Iterator[Database]:
    database = Database.open(database_url)
    yield database
    database.close()


def test_values_come_back_as_on_sqlite(pg: Database, database_url: str) -> None:
    moment = datetime(2099, 12, 2, 7, 58, 16, 36642, tzinfo=UTC)  # after the bootstrap's
    with pg.transaction():
        pg.insert(
            "organizations",
            {"internal_id": "int_x\x00y", "name": "na\x00me", "created_at": moment},
        )
    row = pg.one("SELECT * FROM organizations WHERE name = ?", ("na\x00me",))

    assert row is not None
    assert row["internal_id"] == "int_x\x00y"
    assert row["created_at"] == moment
    assert row["created_at"].tzinfo is UTC
    later = pg.column(
        "SELECT name FROM organizations WHERE created_at > ?", (moment - timedelta(microseconds=1),)
    )
    assert later == ["na\x00me"]


def test_a_constraint_broken_is_an_integrity_error(pg: Database) -> None:
    now = datetime.now(UTC)
    pg.insert("organizations", {"internal_id": "int_1", "name": "twice", "created_at": now})
    with pytest.raises(IntegrityError):
        pg.insert("organizations", {"internal_id": "int_2", "name": "twice", "created_at": now})


def test_one_writer_at_a_time_across_connections(pg: Database, database_url: str) -> None:
    """A transaction holds the writer lock; another connection's transaction waits for it up to
    its lock wait, then fails with DatabaseBusyError having done nothing."""
    other = Database.open(database_url)
    try:
        other.wait_for_locks(0.2)
        with pg.transaction():
            pg.execute("UPDATE organizations SET name = name")
            with pytest.raises(DatabaseBusyError), other.transaction():
                pytest.fail("the second writer got the lock")
        with other.transaction():  # free again once the first committed
            assert other.scalar("SELECT 1") == 1
    finally:
        other.close()
