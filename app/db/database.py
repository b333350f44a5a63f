"""The one SQLite connection the server talks through, and the transactions on it.

Why plain ``sqlite3`` rather than an ORM session per request: the request path is a handful of
indexed single-row statements, and a session per request costs several times the work of the
statements themselves (the benchmark in ``bench/`` puts a naive SQLModel server at a seventh of
the target). The server runs its handlers on the event loop and never awaits inside a
transaction, so one connection serves every request, each transaction runs to its end before
the next begins, and a read-modify-write can never interleave with another in this process.
``BEGIN IMMEDIATE`` plus SQLite's busy timeout cover the other processes that may write the same
file (``mixpeek-mock keys create`` while a server runs).
"""

import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from app.db.files import create_private_file
from app.jsonutil import dump_json_text

BUSY_TIMEOUT_MS = 5000

# A row as the services see it: column name to decoded value.
Row = dict[str, Any]


def _read_datetime(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# Columns decode by their declared type, so the schema in tables.py alone decides how a value
# reads back: JSON text becomes Python objects, BOOLEAN integers become bools, DATETIME text
# becomes aware UTC datetimes. (Done here rather than with sqlite3's PARSE_DECLTYPES, which
# looks the type up again for every column of every row and doubled the cost of a read.)
_DECODERS: dict[str, Callable[[Any], Any]] = {
    "JSON": json.loads,
    "BOOLEAN": bool,
    "DATETIME": _read_datetime,
}

# How to decode one statement's rows: its column names, and (index, decoder) for the columns
# whose declared type needs one.
_Plan = tuple[tuple[str, ...], tuple[tuple[int, Callable[[Any], Any]], ...]]


def to_column(value: Any) -> Any:
    """A Python value as SQLite stores it in these tables."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict | list):
        return dump_json_text(value)
    if isinstance(value, datetime):
        # SQLAlchemy's own format for SQLite, "YYYY-MM-DD HH:MM:SS.ffffff" in UTC: it sorts as
        # time does and reads back through the models in tables.py.
        return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]
    return value


def learn_schema(conn: sqlite3.Connection) -> dict[str, str]:
    """Every column name of the schema with its declared type (JSON, BOOLEAN, DATETIME, ...)."""
    types: dict[str, str] = {}
    tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    for (table,) in tables:
        for column in conn.execute(f'PRAGMA table_info("{table}")').fetchall():
            name, kind = column[1], column[2].upper()
            if types.setdefault(name, kind) != kind:
                raise RuntimeError(f"column {name!r} is declared both {types[name]} and {kind}")
    return types


class DatabaseUrlError(ValueError):
    pass


def sqlite_path(database_url: str) -> str:
    """The file path of a ``sqlite:///relative`` or ``sqlite:////absolute`` URL."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix):
        raise DatabaseUrlError(
            f"Unsupported database URL {database_url!r}: only sqlite:///PATH is supported."
        )
    path = database_url[len(prefix) :].split("?", 1)[0]
    if not path or path == ":memory:":
        raise DatabaseUrlError("An in-memory database cannot be shared: give a file path.")
    return path


def connect(database_url: str) -> sqlite3.Connection:
    """Open the database file with the settings every connection here must have."""
    path = sqlite_path(database_url)
    create_private_file(path)
    conn = sqlite3.connect(
        path,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,  # autocommit; transactions are explicit (see Database.transaction)
        check_same_thread=False,
        cached_statements=256,
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    # In WAL mode, NORMAL loses no committed transaction when the process dies (SIGKILL
    # included); only a power cut can take the last few. FULL would fsync every commit.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


class Database:
    """A thin wrapper over one connection: queries, and transactions that hold the write lock."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._column_types: dict[str, str] | None = None
        self._plans: dict[str, _Plan] = {}

    @classmethod
    def open(cls, database_url: str) -> "Database":
        return cls(connect(database_url))

    def close(self) -> None:
        self.conn.close()

    def _column_type(self, name: str) -> str:
        """The declared type of a column name. Names mean one thing across the schema (a
        ``created_at`` is a DATETIME wherever it stands), which ``learn_schema`` checks."""
        if self._column_types is None:
            self._column_types = learn_schema(self.conn)
        return self._column_types.get(name, "")

    def _plan(self, sql: str, cursor: sqlite3.Cursor) -> _Plan:
        plan = self._plans.get(sql)
        if plan is None:
            names = tuple(column[0] for column in cursor.description)
            decoders = tuple(
                (index, _DECODERS[kind])
                for index, name in enumerate(names)
                if (kind := self._column_type(name)) in _DECODERS
            )
            plan = self._plans[sql] = (names, decoders)
        return plan

    @staticmethod
    def _decode(plan: _Plan, values: tuple[Any, ...]) -> Row:
        names, decoders = plan
        row = dict(zip(names, values, strict=True))
        for index, decode in decoders:
            value = values[index]
            if value is not None:
                row[names[index]] = decode(value)
        return row

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        cursor = self.conn.execute(sql, params)
        values = cursor.fetchone()
        return None if values is None else self._decode(self._plan(sql, cursor), values)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cursor = self.conn.execute(sql, params)
        rows = cursor.fetchall()
        if not rows:
            return []
        plan = self._plan(sql, cursor)
        return [self._decode(plan, values) for values in rows]

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        return self.conn.execute(sql, params).rowcount

    def insert(self, table: str, values: Mapping[str, Any]) -> None:
        """Insert one row. Table and column names come from code, never from a request."""
        columns = ", ".join(f'"{name}"' for name in values)
        marks = ", ".join("?" for _ in values)
        self.conn.execute(
            f'INSERT INTO "{table}" ({columns}) VALUES ({marks})',
            [to_column(value) for value in values.values()],
        )

    def update(
        self, table: str, values: Mapping[str, Any], *, where: str, params: Sequence[Any]
    ) -> Row | None:
        """Set ``values`` on the row matching ``where``; that row as it now is, or None.

        ``where`` must select at most one row. Names come from code, never from a request.
        """
        assignments = ", ".join(f'"{name}" = ?' for name in values)
        return self.one(
            f'UPDATE "{table}" SET {assignments} WHERE {where} RETURNING *',
            [*(to_column(value) for value in values.values()), *params],
        )

    @contextmanager
    def transaction(self) -> Iterator["Database"]:
        """A write transaction: everything inside commits together or not at all.

        ``BEGIN IMMEDIATE`` takes the write lock up front, so the reads inside see the state
        the writes will be applied to (no lost updates between processes).
        """
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
