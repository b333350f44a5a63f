"""The PostgreSQL backend: the ``Database`` interface over psycopg 3, for many server instances
sharing one database (CONTRACT.md D34, D35).

The services keep writing the SQL they write for SQLite (``?`` placeholders, portable
functions). Each statement is translated once, then cached: ``?`` becomes ``%s``, SQLite's
numbered ``?1`` a named ``%(p1)s``, a literal ``%`` is doubled, and the SQLite functions the
services use that PostgreSQL names otherwise (``instr``) are renamed. Values come back as the
SQLite backend decodes them: psycopg reads ``json`` and ``boolean`` columns as Python objects
and bools, and the ``timestamptz`` columns the migrations make as aware datetimes, with their
microseconds, in ``datetime.UTC`` (the session's time zone is UTC). Integers are ``bigint``:
64-bit, as SQLite's are.

PostgreSQL's text cannot hold NUL, which SQLite stores and the API accepts in names and
descriptions (a name with a NUL still finds its resource). So text is escaped as it is sent (by
the connection's dumper) and unescaped as rows are read: U+0001 is doubled and NUL becomes
U+0001 "0". The mapping is one-to-one, so equality, uniqueness and lookups behave as on
SQLite; only SQL that measures or cuts such a text (``length``, ``substr``) sees the escaped
form. U+0001 because JSON text never holds it raw (the encoder escapes control characters), so
JSON sent as a string is untouched.

Transactions serialize every writer, as SQLite's ``BEGIN IMMEDIATE`` does, but across all the
instances: ``BEGIN`` then ``pg_advisory_xact_lock`` on one constant key, released by COMMIT or
ROLLBACK. Under READ COMMITTED each statement after the lock sees every commit made before
it, so a read-modify-write inside ``transaction()`` cannot lose another instance's update. A
lock not granted within ``lock_timeout`` (SQLSTATE 55P03), a serialization failure or a
deadlock is a ``DatabaseBusyError`` (nothing was applied: the request guard may run the request
again); a full disk or exhausted resources (class 53) a ``DatabaseStorageError``.

A connection is one network session and each statement a round trip, so the serving process
never runs statements on its event loop: the request guard hands requests to worker threads,
each with its own connection (``ThreadLocalDatabase`` and app/db/workers.py).
"""

import contextlib
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import Enum
from typing import Any

import psycopg
from psycopg import errors, pq
from psycopg.types.json import Json
from psycopg.types.string import StrDumperUnknown

from app.db.database import (
    BUSY_TIMEOUT_MS,
    POSTGRESQL,
    Database,
    DatabaseBusyError,
    DatabaseStorageError,
    IntegrityError,
    Row,
    Rows,
    _decode,
    _Plan,
)
from app.db.files import DatabaseAccessError
from app.jsonutil import dump_json_text

# The key of the one writer lock (any constant; this one spells "mixpeek" in ASCII).
WRITER_LOCK_KEY = 0x6D69787065656B
# Held (as a session lock) by whoever migrates, so that instances starting together migrate once.
MIGRATION_LOCK_KEY = WRITER_LOCK_KEY + 1

_BEGIN = f"BEGIN; SELECT pg_advisory_xact_lock({WRITER_LOCK_KEY})"

# SQLite functions the services use whose PostgreSQL equivalent has another name.
_RENAMED_FUNCTIONS = {"instr": "strpos"}
_FUNCTION = re.compile(r"\b(" + "|".join(_RENAMED_FUNCTIONS) + r")\s*\(", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\?(\d*)")

_BUSY_ERRORS = (
    errors.LockNotAvailable,  # 55P03: lock_timeout
    errors.SerializationFailure,  # 40001
    errors.DeadlockDetected,  # 40P01
)


def psycopg_url(database_url: str) -> str:
    """The URL as libpq takes it (SQLAlchemy's ``postgresql+psycopg://`` spelled plainly)."""
    return re.sub(r"^postgres(ql)?(\+psycopg)?://", "postgresql://", database_url)


def sqlalchemy_url(database_url: str) -> str:
    """The URL as SQLAlchemy takes it with psycopg 3 (its default driver is psycopg2)."""
    return re.sub(r"^postgres(ql)?(\+psycopg)?://", "postgresql+psycopg://", database_url)


def translate(sql: str) -> tuple[str, bool]:
    """The statement as psycopg takes it, and whether it uses numbered (named) placeholders."""
    parts = sql.split("'")
    numbered = False
    plain = False
    # Even parts are outside string literals; services pass values as parameters, so a literal
    # never holds a placeholder (asserted: a "?" there would be a bug, not a value).
    for index in range(0, len(parts), 2):
        text = parts[index].replace("%", "%%")
        text = _FUNCTION.sub(lambda match: _RENAMED_FUNCTIONS[match[1].lower()] + "(", text)

        def placeholder(match: re.Match[str]) -> str:
            nonlocal numbered, plain
            if match[1]:
                numbered = True
                return f"%(p{match[1]})s"
            plain = True
            return "%s"

        parts[index] = _PLACEHOLDER.sub(placeholder, text)
    for index in range(1, len(parts), 2):
        assert "?" not in parts[index], f"a '?' inside a string literal: {sql!r}"
        parts[index] = parts[index].replace("%", "%%")
    assert not (numbered and plain), f"both ? and ?N placeholders in one statement: {sql!r}"
    return "'".join(parts), numbered


def to_column(value: Any) -> Any:
    """A Python value as this backend's parameters take it."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict | list):
        return Json(value, dumps=dump_json_text)
    return value  # datetimes too: aware, they are timestamptz as they are


_ESCAPE = "\x01"
_ESCAPED = re.compile("\x01([\x010])")


def escape_text(text: str) -> str:
    if "\x00" in text or _ESCAPE in text:
        return text.replace(_ESCAPE, _ESCAPE * 2).replace("\x00", _ESCAPE + "0")
    return text


def unescape_text(text: str) -> str:
    if _ESCAPE in text:
        return _ESCAPED.sub(lambda match: _ESCAPE if match[1] == _ESCAPE else "\x00", text)
    return text


class _EscapingStrDumper(StrDumperUnknown):
    def dump(self, obj: str) -> Any:
        return super().dump(escape_text(obj))


# PostgreSQL's oids of text and varchar: the columns whose values are unescaped when read.
_TEXT_OIDS = frozenset({25, 1043})


def _unescape(value: Any) -> Any:
    return unescape_text(value) if isinstance(value, str) else value


def _typed(exc: psycopg.Error) -> Exception:
    if isinstance(exc, _BUSY_ERRORS):
        return DatabaseBusyError(str(exc))
    if isinstance(exc, psycopg.IntegrityError):
        return IntegrityError(str(exc))
    sqlstate = getattr(exc, "sqlstate", None) or ""
    if sqlstate.startswith("53"):  # insufficient resources: disk full, out of memory, ...
        return DatabaseStorageError(str(exc))
    return exc


def connect(database_url: str, *, lock_wait_seconds: float = BUSY_TIMEOUT_MS / 1000) -> Any:
    """A psycopg connection in autocommit mode (transactions are explicit), on UTC (so that
    timestamptz values read back in ``datetime.UTC``, and text timestamps mean UTC)."""
    conn = psycopg.connect(psycopg_url(database_url), autocommit=True)
    try:
        conn.adapters.register_dumper(str, _EscapingStrDumper)
        # One round trip for the session's settings. synchronous_commit off is SQLite's
        # synchronous = NORMAL here (app/db/database.py): a commit is acknowledged before its WAL
        # reaches the disk, so a crash of this process loses nothing, and only a crash of the
        # PostgreSQL server itself can take the last fraction of a second (never half a
        # transaction). It also shortens the time the one writer lock is held by that flush.
        conn.execute(
            b"SET TIME ZONE 'UTC'; SET synchronous_commit = off;"
            + f" SET lock_timeout = {_lock_timeout_ms(lock_wait_seconds)}".encode()
        )
    except BaseException:
        conn.close()
        raise
    return conn


def _lock_timeout_ms(seconds: float) -> int:
    # PostgreSQL's 0 means "wait forever", SQLite's "do not wait": the shortest wait instead.
    return max(1, int(seconds * 1000))


class PostgresDatabase(Database):
    """One psycopg connection behind the ``Database`` interface."""

    backend = POSTGRESQL

    def __init__(self, conn: psycopg.Connection[Any], database_url: str) -> None:
        self.conn = conn
        self.database_url = database_url
        self._statements: dict[str, tuple[str, bool]] = {}
        self._plans: dict[str, _Plan] = {}

    @classmethod
    def open(cls, database_url: str) -> "PostgresDatabase":
        try:
            return cls(connect(database_url), database_url)
        except psycopg.OperationalError as exc:
            raise DatabaseConnectError(database_url, exc) from exc

    def close(self) -> None:
        self.conn.close()

    def _cursor(self, sql: str, params: Sequence[Any]) -> Any:
        statement = self._statements.get(sql)
        if statement is None:
            statement = self._statements[sql] = translate(sql)
        text, numbered = statement
        values: Any = params
        if numbered:
            values = {f"p{index}": value for index, value in enumerate(params, start=1)}
        try:
            return self.conn.execute(text, values)
        except psycopg.Error as exc:
            raise _typed(exc) from exc

    def _plan(self, sql: str, cursor: Any) -> _Plan:
        """Column names, and the text columns to unescape (a function call per value, several
        times cheaper than psycopg calling a Python loader for each)."""
        plan = self._plans.get(sql)
        if plan is None:
            columns = cursor.description
            decoders = tuple(
                (index, unescape_text)
                for index, column in enumerate(columns)
                if column.type_code in _TEXT_OIDS
            )
            plan = self._plans[sql] = (tuple(column.name for column in columns), decoders)
        return plan

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        cursor = self._cursor(sql, params)
        values = cursor.fetchone()
        return None if values is None else _decode(self._plan(sql, cursor), values)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        cursor = self._cursor(sql, params)
        values = cursor.fetchall()
        return Rows(self._plan(sql, cursor) if values else None, values)

    def column(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return [_unescape(values[0]) for values in self._cursor(sql, params).fetchall()]

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self._cursor(sql, params).fetchone()
        return None if row is None else _unescape(row[0])

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        rowcount: int = self._cursor(sql, params).rowcount
        return rowcount

    stored = staticmethod(to_column)

    def _raw(self, sql: str) -> None:
        """Run statements without parameters (several at once: one round trip)."""
        try:
            self.conn.execute(sql.encode())
        except psycopg.Error as exc:
            raise _typed(exc) from exc

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """``BEGIN`` and the writer lock in one round trip (see the module docstring)."""
        try:
            self._raw(_BEGIN)
        except BaseException:
            # BEGIN succeeded and the lock did not (lock_timeout): end that transaction, or
            # every later statement on this connection would fail.
            self._rollback()
            raise
        try:
            yield self
            self._raw("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self.conn.closed:
            return
        if self.conn.info.transaction_status != pq.TransactionStatus.IDLE:
            # A connection that broke meanwhile was rolled back by the server.
            with contextlib.suppress(psycopg.OperationalError):
                self.conn.execute(b"ROLLBACK")

    def wait_for_locks(self, seconds: float) -> None:
        self._raw(f"SET lock_timeout = {_lock_timeout_ms(seconds)}")

    def check_writable(self) -> None:
        if self.scalar("SHOW transaction_read_only") == "on":
            raise DatabaseConnectError(
                self.database_url, "the server accepts only reads (a standby, or read-only)"
            )

    def data_version(self) -> int | None:
        return None

    def locale_differences(self) -> str | None:
        """Why text may sort or fold case otherwise than on SQLite, or None: SQLite compares
        bytes and lowers ASCII letters only, as PostgreSQL does in the C locale."""
        row = self.one(
            "SELECT datcollate, datctype FROM pg_database WHERE datname = current_database()"
        )
        if row is None:
            return None
        # C.UTF-8 sorts by code point, which is UTF-8's byte order, but folds case in Unicode.
        same = {"datcollate": ("C", "POSIX", "C.UTF-8", "C.utf8"), "datctype": ("C", "POSIX")}
        differs = {
            setting: row[column]
            for setting, column in (("LC_COLLATE", "datcollate"), ("LC_CTYPE", "datctype"))
            if row[column] not in same[column]
        }
        if not differs:
            return None
        shown = ", ".join(f"{setting} {value!r}" for setting, value in differs.items())
        return (
            f"the database's {shown}: lists sorted by text and case-insensitive searches follow"
            " it rather than SQLite's byte order and ASCII-only case (create the database with"
            " TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C' for the same answers)"
        )


class DatabaseConnectError(DatabaseAccessError):
    """The PostgreSQL server could not be reached, or refused this use; one line, no secret."""

    def __init__(self, database_url: str, reason: object) -> None:
        Exception.__init__(
            self,
            f"cannot use the database {redact_url(database_url)}: {' '.join(str(reason).split())}",
        )


def redact_url(database_url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", database_url)


class ThreadLocalDatabase(Database):
    """A ``Database`` whose every call runs on the calling thread's own connection.

    The server keeps one of these in ``app.state.database`` when serving PostgreSQL: each
    request-worker thread (app/db/workers.py) gets its connection on first use, so code that
    looks the database up in the app's state needs no change. A connection that broke (the
    server restarted) is replaced on the next call.
    """

    backend = POSTGRESQL

    def __init__(self, database_url: str, *, lock_wait_seconds: float) -> None:
        self.database_url = database_url
        self.lock_wait_seconds = lock_wait_seconds
        self._local = threading.local()
        self._opened: list[PostgresDatabase] = []
        self._lock = threading.Lock()

    @property
    def current(self) -> PostgresDatabase:
        database: PostgresDatabase | None = getattr(self._local, "database", None)
        if database is None or database.conn.closed:
            database = PostgresDatabase.open(self.database_url)
            database.wait_for_locks(self.lock_wait_seconds)
            self._local.database = database
            with self._lock:
                self._opened.append(database)
        return database

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for database in opened:
            database.close()

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        return self.current.one(sql, params)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        return self.current.rows(sql, params)

    def column(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.current.column(sql, params)

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.current.scalar(sql, params)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.current.execute(sql, params)

    def insert(self, table: str, values: Mapping[str, Any]) -> None:
        self.current.insert(table, values)

    def update(
        self, table: str, values: Mapping[str, Any], *, where: str, params: Sequence[Any]
    ) -> Row | None:
        return self.current.update(table, values, where=where, params=params)

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        with self.current.transaction() as database:
            yield database

    def wait_for_locks(self, seconds: float) -> None:
        self.lock_wait_seconds = seconds
        self.current.wait_for_locks(seconds)

    def check_writable(self) -> None:
        self.current.check_writable()

    def data_version(self) -> int | None:
        return None
