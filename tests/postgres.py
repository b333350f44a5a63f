"""The PostgreSQL server the tests' ``[postgresql]`` half runs on (see tests/conftest.py).

Databases are named ``mm_<random>`` and dropped afterwards. A test that needs a migrated,
bootstrapped database of its own gets one that no other test is using and that holds exactly
the rows of the session's template: each xdist worker keeps one such database and, before every
test, ends its sessions and puts the template's rows back (``ReusedDatabase``). That is a tenth
of the time of ``CREATE DATABASE`` from the template, which copies the whole catalog each time
and was most of the suite's time on PostgreSQL.
"""

import os
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

ENVIRONMENT_VARIABLE = "MIXPEEK_MOCK_TEST_POSTGRES_URL"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
CONNECT_TIMEOUT_S = 3


def postgres_server_missing() -> str:
    return (
        f"no PostgreSQL server: none at {DEFAULT_URL}, and {ENVIRONMENT_VARIABLE} is not set"
        " (set it to run the PostgreSQL half; it then fails when the server cannot be reached)"
    )


class PostgresServer:
    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url

    @classmethod
    def from_environment(cls) -> "PostgresServer | None":
        """The server ``MIXPEEK_MOCK_TEST_POSTGRES_URL`` names (failing the tests when it does
        not answer), else the local default when it answers, else None."""
        configured = os.environ.get(ENVIRONMENT_VARIABLE)
        server = cls(configured or DEFAULT_URL)
        try:
            with server.connect():
                pass
        except psycopg.OperationalError as exc:
            if configured:
                pytest.fail(f"{ENVIRONMENT_VARIABLE} cannot be reached: {exc}", pytrace=False)
            return None
        return server

    def connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.admin_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)

    def url(self, name: str) -> str:
        """The URL of the database ``name`` on this server."""
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path=f"/{name}"))

    def create_database(self, *, template: str | None = None) -> str:
        """A new database: a copy of ``template``, or empty in the C locale, where text sorts
        and folds case as on SQLite (whatever the server's default)."""
        name = f"mm_{secrets.token_hex(6)}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        else:
            statement += sql.SQL(" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'")
        with self.connect() as conn:
            conn.execute(statement)
        return name

    def drop_database(self, name: str) -> None:
        # FORCE: a server a test started and killed may leave a session behind for a moment.
        statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        with self.connect() as conn:
            conn.execute(statement)


@dataclass
class ReusedDatabase:
    """One database a worker's tests take turns on, reset to the template's rows for each."""

    server: PostgresServer
    template: str
    name: str = ""
    # What the template holds: each table's rows (COPY's text) and each sequence's position.
    _tables: dict[str, bytes] = field(default_factory=dict)
    _sequences: dict[str, tuple[int, bool]] = field(default_factory=dict)
    _revision: str = ""

    def __post_init__(self) -> None:
        with psycopg.connect(self.server.url(self.template), autocommit=True) as conn:
            self._revision = _revision(conn)
            for table in _tables(conn):
                with conn.cursor().copy(
                    sql.SQL("COPY {} TO STDOUT").format(sql.Identifier(table))
                ) as copy:
                    self._tables[table] = b"".join(bytes(chunk) for chunk in copy)
            for name in _sequences(conn):
                row = conn.execute(
                    sql.SQL("SELECT last_value, is_called FROM {}").format(sql.Identifier(name))
                ).fetchone()
                assert row is not None
                self._sequences[name] = (int(row[0]), bool(row[1]))

    def fresh(self) -> str:
        """The database's URL, holding the template's rows and nothing else, no session open;
        made again from the template when a test changed more than rows (its schema)."""
        if not self.name:
            self.name = self.server.create_database(template=self.template)
            return self.server.url(self.name)
        with self.server.connect() as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.name,),
            )
        url = self.server.url(self.name)
        with psycopg.connect(url, autocommit=True) as conn:
            if _revision(conn) != self._revision or set(_tables(conn)) != set(self._tables):
                conn.close()
                self.server.drop_database(self.name)
                self.name = ""
                return self.fresh()
            conn.execute("SET lock_timeout = '10s'")
            with conn.transaction():
                conn.execute(
                    sql.SQL("TRUNCATE {}").format(
                        sql.SQL(", ").join(sql.Identifier(table) for table in self._tables)
                    )
                )
                for table, rows in self._tables.items():
                    if rows:
                        with conn.cursor().copy(
                            sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(table))
                        ) as copy:
                            copy.write(rows)
                for name, (value, called) in self._sequences.items():
                    conn.execute("SELECT setval(%s, %s, %s)", (name, value, called))
        return url

    def drop(self) -> None:
        if self.name:
            self.server.drop_database(self.name)


def _revision(conn: psycopg.Connection[tuple[object, ...]]) -> str:
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return "" if row is None else str(row[0])


def _tables(conn: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    """The tables whose rows a test may change (all but Alembic's), each after the tables its
    foreign keys name, so that rows can be loaded in this order."""
    names = [
        str(name)
        for (name,) in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema ="
            " current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'alembic_version'"
            " ORDER BY table_name"
        ).fetchall()
    ]
    parents: dict[str, set[str]] = {name: set() for name in names}
    for child, parent in conn.execute(
        "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint"
        " WHERE contype = 'f' AND conrelid <> confrelid"
    ).fetchall():
        if str(child) in parents:
            parents[str(child)].add(str(parent))
    ordered: list[str] = []
    while parents:
        ready = sorted(name for name, needs in parents.items() if not needs - set(ordered))
        assert ready, f"foreign keys in a cycle: {parents}"
        ordered.extend(ready)
        for name in ready:
            del parents[name]
    return ordered


def _sequences(conn: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    return [
        str(name)
        for (name,) in conn.execute(
            "SELECT sequence_name FROM information_schema.sequences"
            " WHERE sequence_schema = current_schema()"
        ).fetchall()
    ]
