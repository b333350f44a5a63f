"""Bring a database to the schema this code expects, with Alembic.

Alembic (and SQLAlchemy under it) takes a noticeable part of a second to import, and a server
should answer its first request well within a second of starting. So startup first asks the
database which revision it is at, with plain sqlite3, and loads Alembic only when there is
something to apply.
"""

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config

# The newest revision in migrations/versions. A test checks that it matches Alembic's head, so
# a new migration cannot be added without updating it.
SCHEMA_REVISION = "0002_sync_runs"

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def migrations_dir() -> Path:
    """The migrations: shipped inside the package when installed, at the top of a checkout."""
    for candidate in (_PACKAGE_DIR / "migrations", _PACKAGE_DIR.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("the migrations folder is missing from this installation")


def current_revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:  # no alembic_version table: a new, empty database
        return None
    return None if row is None else str(row[0])


def alembic_config(database_url: str) -> "Config":
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", database_url)
    return config


def upgrade_to_head(conn: sqlite3.Connection, database_url: str) -> bool:
    """Apply any missing migrations; True when something was applied."""
    if current_revision(conn) == SCHEMA_REVISION:
        return False
    from alembic import command

    command.upgrade(alembic_config(database_url), "head")
    return True
