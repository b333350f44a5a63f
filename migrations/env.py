"""Alembic's entry point: migrate the database named by the config or the environment."""

import contextlib
import os

from alembic import context
from sqlalchemy import create_engine, event
from sqlmodel import SQLModel

import app.db.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from app.db.database import DatabaseUrlError, sqlite_path
from app.db.files import create_private_file
from app.settings import DEFAULT_DATABASE_URL

config = context.config
target_metadata = SQLModel.metadata


def database_url() -> str:
    return (
        config.get_main_option("sqlalchemy.url")
        or os.environ.get("MIXPEEK_MOCK_DATABASE_URL")
        or DEFAULT_DATABASE_URL
    )


def run_migrations_offline() -> None:
    context.configure(url=database_url(), target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = database_url()
    # Run on its own (``alembic upgrade head``), Alembic may be the one creating the file:
    # owner-only, as the server creates it (app/db/files.py).
    with contextlib.suppress(DatabaseUrlError):  # not a SQLite file (in memory, another engine)
        create_private_file(sqlite_path(url))
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # Python's sqlite3 commits before DDL on its own, so a migration stopped halfway (a
        # Ctrl-C during start-up) would leave half of it applied: let SQLAlchemy's BEGIN below
        # be the only transaction control instead (SQLAlchemy's recipe for pysqlite).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA busy_timeout = 5000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):  # type: ignore[no-untyped-def]
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    with engine.connect() as connection:
        # SQLite cannot ALTER most things in place: batch mode rebuilds tables when needed.
        # SQLite's DDL is transactional: the whole upgrade, revision included, commits at once
        # or not at all.
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,
            transactional_ddl=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
