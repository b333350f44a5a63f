"""Alembic's entry point: migrate the database named by the config or the environment."""

import contextlib
import os

from alembic import context
from sqlalchemy import create_engine, event
from sqlmodel import SQLModel

import app.db.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from app.db.database import POSTGRESQL, DatabaseUrlError, backend_of, sqlite_path
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
    url = database_url()
    if backend_of(url) == POSTGRESQL:
        from app.db.postgres import sqlalchemy_url

        url = sqlalchemy_url(url)
    context.configure(url=url, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_postgresql(url: str) -> None:
    """PostgreSQL: transactional DDL, under a lock that makes instances starting together
    migrate one after the other (the second then finds the database at head)."""
    from sqlalchemy.pool import NullPool

    from app.db.postgres import MIGRATION_LOCK_KEY, sqlalchemy_url

    engine = create_engine(sqlalchemy_url(url), poolclass=NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata, transactional_ddl=True
        )
        with context.begin_transaction():
            # Taken before Alembic reads the revision, held until this transaction ends.
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
            context.run_migrations()
    engine.dispose()


def run_migrations_online() -> None:
    url = database_url()
    if backend_of(url) == POSTGRESQL:
        run_migrations_postgresql(url)
        return
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
