"""The PostgreSQL backend keeps the promises of the Database interface (app/db/postgres.py):
the services' SQL as written for SQLite, the same Python values back, one writer at a time
across connections, and the typed errors the request guard acts on."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from app.db.database import Database, DatabaseBusyError, IntegrityError
from app.db.postgres import PostgresDatabase, bind_literals, escape_text, translate, unescape_text


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


def test_literals_replace_placeholders_outside_string_literals_only() -> None:
    text = translate("SELECT ?2, '$1 and $2', ?1, ?2")
    assert bind_literals(text, [b"'one'", b"2"]) == b"SELECT 2, '$1 and $2', 'one', 2"
    with pytest.raises(psycopg.ProgrammingError):
        bind_literals(text, [b"'one'"])  # too few values
    with pytest.raises(psycopg.ProgrammingError):
        bind_literals(text, [b"'one'", b"2", b"3"])  # too many, as a parameterized one refuses


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
    """A transaction holds the writer lock from its first statement on; another connection's
    transaction waits for it at its own first statement, up to its lock wait, then fails with
    DatabaseBusyError having applied nothing, and its connection stays usable."""
    other = Database.open(database_url)

    def append_to_names(database: Database, mark: str) -> None:
        with database.transaction():
            database.execute("UPDATE organizations SET name = name || ?", (mark,))

    try:
        other.wait_for_locks(0.2)
        with pg.transaction():
            pg.execute("UPDATE organizations SET name = name || '!'")
            with pytest.raises(DatabaseBusyError):
                append_to_names(other, "~")
        append_to_names(other, ".")  # free again once the first committed
        names = other.column("SELECT name FROM organizations")
        assert names  # (the bootstrap's organization, at least)
        assert all(name.endswith("!.") for name in names)
    finally:
        other.close()


def advisory_locks_held(database: Database) -> int:
    """The advisory locks this session holds (the writer lock, in a transaction)."""
    held: int = database.scalar(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
    )
    return held


def test_a_transactions_first_statement_takes_its_values_as_literals(pg: Database) -> None:
    """The first statement goes with BEGIN as literals: the first time as its text, then (once
    prepared) by EXECUTE; both give what a parameterized statement gives."""
    values = [
        "it's\x00 \x01 $1 \\ é",
        2**40,
        {"k": ["v", None]},
        datetime.now(UTC),
        b"\x00\xff",
        None,
        -2,
        1.5,
    ]
    sql = (
        "SELECT ? AS text, ? AS number, ?::json AS doc, ? AS moment, ? AS raw, ? AS nothing,"
        " ?::text AS negative, ? / 2 AS ratio"
    )
    expected = pg.one(sql, [pg.stored(value) for value in values])
    assert expected is not None
    assert expected["text"] == values[0]
    assert (expected["negative"], expected["ratio"]) == ("-2", 0.75)  # a float stays a float
    for _ in range(3):
        with pg.transaction():
            assert pg.one(sql, [pg.stored(value) for value in values]) == expected
            assert advisory_locks_held(pg) == 1


def test_a_transaction_that_ran_nothing_sends_nothing(pg: Database) -> None:
    assert isinstance(pg, PostgresDatabase)
    with pg.transaction():
        assert pg.in_transaction()  # (so a pool would not lend the session as it is)
    assert not pg.in_transaction()
    assert advisory_locks_held(pg) == 0


def test_a_failed_first_statement_rolls_back_and_leaves_the_session_usable(pg: Database) -> None:
    now = datetime.now(UTC)
    pg.insert("organizations", {"internal_id": "int_a", "name": "taken", "created_at": now})
    with pytest.raises(IntegrityError), pg.transaction():
        pg.insert("organizations", {"internal_id": "int_b", "name": "taken", "created_at": now})
    assert isinstance(pg, PostgresDatabase)
    assert not pg.in_transaction()
    assert pg.scalar("SELECT count(*) FROM organizations WHERE name = ?", ("taken",)) == 1


def test_transactions_do_not_nest(pg: Database) -> None:
    """As on SQLite: an inner COMMIT would end the outer transaction, and its writes with it."""
    with pg.transaction():
        with pytest.raises(RuntimeError), pg.transaction():
            pass  # pragma: no cover
        pg.execute("UPDATE organizations SET name = name")
        assert advisory_locks_held(pg) == 1
