"""Bring a database to the schema this code expects.

Alembic (and SQLAlchemy under it) takes a noticeable part of a second to import, and a server
should answer its first request well within a second of starting. So startup first asks the
database which revision it is at, with plain sqlite3, and then:

- at head (a restart): nothing more;
- empty (a first start): the schema at head is created from the committed snapshot of what
  the migrations produce, in one transaction, in this process (app/db/schema.py);
- anything else (an older revision): Alembic applies the missing migrations, in a
  short-lived child process (``python -m app.db.migrate URL``): loaded into the server, Alembic,
  SQLAlchemy and the models kept ~30 MB of its memory for its whole life. The server starts the
  child first and imports its own modules while the child migrates (``start_upgrade``, then
  ``finish_upgrade``).

On PostgreSQL there is no snapshot (see app/db/schema.py for why): a database below head, a
new one included, goes through Alembic in the same child, and migrations/env.py holds a
transaction-level advisory lock while Alembic reads the revision and migrates, so instances
that start together migrate once (the others then find the database at head).
"""

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from app.db.database import SQLITE, Database, SQLiteDatabase, backend_of
from app.db.schema import create_schema

if TYPE_CHECKING:
    from alembic.config import Config

# The newest revision in migrations/versions. A test checks that it matches Alembic's head, so
# a new migration cannot be added without updating it.
SCHEMA_REVISION = "0004_test_kit"

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def migrations_dir() -> Path:
    """The migrations: shipped inside the package when installed, at the top of a checkout."""
    for candidate in (_PACKAGE_DIR / "migrations", _PACKAGE_DIR.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("the migrations folder is missing from this installation")


def current_revision(database: Database | sqlite3.Connection) -> str | None:
    """The revision the database is at; None for a new, empty one."""
    if isinstance(database, SQLiteDatabase):
        database = database.conn
    if isinstance(database, sqlite3.Connection):
        try:
            row = database.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError:  # no alembic_version table: a new, empty database
            return None
        return None if row is None else str(row[0])
    if not database.scalar("SELECT to_regclass('alembic_version') IS NOT NULL"):
        return None
    version = database.scalar("SELECT version_num FROM alembic_version")
    return None if version is None else str(version)


def alembic_config(database_url: str) -> "Config":
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    # The config file's syntax reads "%" as the start of an interpolation (a password's %40).
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


class MigrationError(Exception):
    """The migrations could not be applied; the message is the child's last line of error."""


def start_upgrade(
    database: Database | sqlite3.Connection, database_url: str
) -> "subprocess.Popen[str] | None":
    """Bring the database to head: at once when it is there or (SQLite) empty (None), else by
    starting the missing migrations in a child process (wait for it with ``finish_upgrade``)."""
    if isinstance(database, sqlite3.Connection):
        database = SQLiteDatabase(database, database_url)
    revision = current_revision(database)
    if revision == SCHEMA_REVISION:
        return None
    if isinstance(database, SQLiteDatabase) and backend_of(database_url) == SQLITE:
        conn = database.conn
        if revision is None:
            try:
                if create_schema(conn):
                    return None
            except sqlite3.Error as exc:  # rolled back: nothing was made
                raise MigrationError(f"creating the database's schema failed: {exc}") from exc
        # Not empty: migrate, unless another process has just made this new file's schema.
        if current_revision(conn) == SCHEMA_REVISION:
            return None
    return subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "app.db.migrate", database_url],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # Its own process group: Ctrl-C at a terminal reaches the server alone, which stops
        # the child itself (finish_upgrade) and says so once.
        process_group=0,
    )


def finish_upgrade(
    child: "subprocess.Popen[str] | None", *, interrupted: Callable[[], None] = lambda: None
) -> None:
    """Wait for ``start_upgrade``'s child; ``MigrationError`` when it failed.

    ``interrupted`` is called while waiting and may raise (a signal asked the server to stop):
    the child is then stopped too, and SQLite rolls back what it had begun.
    """
    if child is None:
        return
    try:
        while True:
            try:
                _, errors = child.communicate(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                interrupted()
    except BaseException:
        child.terminate()
        child.wait()
        raise
    if child.returncode != 0:
        lines = [line.strip() for line in errors.splitlines() if line.strip()]
        raise MigrationError(
            f"migrating the database failed: {lines[-1] if lines else f'exit {child.returncode}'}"
        )


def upgrade_to_head(database: Database | sqlite3.Connection, database_url: str) -> bool:
    """Bring the database to head (see ``start_upgrade``); True when something was applied."""
    before = current_revision(database)
    finish_upgrade(start_upgrade(database, database_url))
    return before != SCHEMA_REVISION


def _upgrade_here(database_url: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(database_url), "head")


if __name__ == "__main__":
    _upgrade_here(sys.argv[1])
