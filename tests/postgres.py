"""The PostgreSQL server the tests' ``[postgresql]`` half runs on (see tests/conftest.py).

Each test gets a database of its own, ``mm_<random>``, made by ``CREATE DATABASE`` (from a
migrated template) and dropped afterwards, so tests on one server never see each other's rows.
"""

import os
import secrets
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
