"""The one SQLite connection the server talks through, and the transactions on it.

Why plain ``sqlite3`` rather than an ORM session per request: the request path is a handful of
indexed single-row statements, and a session per request costs several times the work of the
statements themselves (the benchmark in ``bench/`` puts a naive SQLModel server at a seventh of
the target). The server runs its handlers on the event loop and never awaits inside a
transaction, so one connection serves every request, each transaction runs to its end before
the next begins, and a read-modify-write can never interleave with another in this process.
``BEGIN IMMEDIATE`` takes the write lock that other processes writing the same file
(``mixpeek-mock keys create`` while a server runs, a second server on one volume) contend for.

Waiting for that lock must not happen here: SQLite's busy handler sleeps in the calling thread,
which for the server is the event loop, so one held lock would stall every request. The serving
connection therefore fails at once (``wait_for_locks(0)``) with a typed ``DatabaseBusyError``,
and the request guard (app/middleware.py) retries the whole request after an asynchronous
sleep. That is safe because a busy error can only come from a statement that applied nothing:
``BEGIN IMMEDIATE`` (before anything was written), a read, or a single autocommit statement;
once ``BEGIN IMMEDIATE`` holds the lock, nothing inside the transaction can be busy (WAL mode),
and if COMMIT ever were, it is rolled back before the error leaves ``transaction()``. Keep it
so: never write outside ``transaction()`` after something else was written in the same request.
Other connections (the CLI, the checkpointer) keep SQLite's own wait, off the event loop.

``Database`` is the interface the services use; ``SQLiteDatabase`` here is the default backend
and ``PostgresDatabase`` (app/db/postgres.py) the other, picked by the URL's scheme
(``Database.open``). Services write portable SQL with ``?`` placeholders; each backend keeps
what is its own (PRAGMAs, locking, value formats) behind these methods.
"""

import json
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from enum import Enum
from typing import Any, ClassVar

from app.db.files import create_private_file, refused
from app.jsonutil import dump_json_text

BUSY_TIMEOUT_MS = 5000

# SQLite's primary result codes (the low byte of an extended code) that mean "another
# connection holds a lock", and "the disk refused the write".
_SQLITE_BUSY_CODES = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED
_SQLITE_STORAGE_CODES = frozenset({10, 13})  # SQLITE_IOERR, SQLITE_FULL


class DatabaseUnavailableError(Exception):
    """The database could not run a statement now; nothing the statement did was applied.

    Not an ``ApiError``: the route machinery lets it pass, and the request guard decides what
    the client is told (app/middleware.py).
    """


class DatabaseBusyError(DatabaseUnavailableError):
    """Another connection holds the lock this statement needs (SQLite's SQLITE_BUSY, or
    PostgreSQL's lock_timeout): the request may be run again."""


class DatabaseStorageError(DatabaseUnavailableError):
    """The disk refused a write (full, a file size limit, an I/O error); rolled back."""


class DatabaseUnreachableError(DatabaseUnavailableError):
    """The connection to the database server broke (it restarted, the network dropped); the
    next statement opens another. What the broken statement did is unknown to this side only
    if it was a COMMIT; anything earlier in its transaction was rolled back by the server."""


class IntegrityError(Exception):
    """A statement broke a constraint (a unique name taken, a missing parent): nothing of it
    was applied. The same class whatever the backend, so services catch one thing."""


def _typed(exc: sqlite3.Error) -> Exception:
    """The typed error for an SQLite error that is about locks or storage, else ``exc``."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return exc
    if code & 0xFF in _SQLITE_BUSY_CODES:
        return DatabaseBusyError(str(exc))
    if code & 0xFF in _SQLITE_STORAGE_CODES:
        return DatabaseStorageError(str(exc))
    return exc


# The database whose transaction this thread is inside, if any (``current_transaction``).
_this_thread = threading.local()


def current_transaction() -> "Database | None":
    """The database whose ``transaction()`` this thread is running inside, or None.

    What draws on the database in the middle of someone else's work (the seeded id sequence
    of app/identifiers.py) must use that transaction's connection: another connection would
    wait for the very lock this one holds.
    """
    database: Database | None = getattr(_this_thread, "database", None)
    return database


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


SQLITE = "sqlite"
POSTGRESQL = "postgresql"
_POSTGRES_PREFIXES = ("postgresql://", "postgres://", "postgresql+psycopg://")


def backend_of(database_url: str) -> str:
    """``"sqlite"`` or ``"postgresql"``: which backend serves ``database_url``."""
    if database_url.startswith(_POSTGRES_PREFIXES):
        return POSTGRESQL
    if database_url.startswith("sqlite:///"):
        return SQLITE
    raise DatabaseUrlError(
        f"Unsupported database URL {database_url!r}: use sqlite:///PATH or"
        " postgresql://user@host:port/database."
    )


def sqlite_path(database_url: str) -> str:
    """The file path of a ``sqlite:///relative`` or ``sqlite:////absolute`` URL."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix):
        raise DatabaseUrlError(
            f"Unsupported database URL {database_url!r}: not an SQLite file (sqlite:///PATH)."
        )
    path = database_url[len(prefix) :].split("?", 1)[0]
    if not path or path == ":memory:":
        raise DatabaseUrlError("An in-memory database cannot be shared: give a file path.")
    return path


def connect(database_url: str) -> sqlite3.Connection:
    """Open the database file with the settings every connection here must have."""
    path = sqlite_path(database_url)
    create_private_file(path)
    conn = None
    try:
        conn = sqlite3.connect(
            path,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,  # autocommit; transactions are explicit (Database.transaction)
            check_same_thread=False,
            cached_statements=256,
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        # In WAL mode, NORMAL loses no committed transaction when the process dies (SIGKILL
        # included); only a power cut can take the last few. FULL would fsync every commit.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.OperationalError as exc:
        if conn is not None:
            conn.close()
        if isinstance(_typed(exc), DatabaseBusyError):
            raise
        raise refused(path, exc, "cannot open it") from exc
    return conn


def check_writable(conn: sqlite3.Connection, database_url: str) -> None:
    """Raise ``DatabaseAccessError`` unless this connection can write the file (SQLite opens a
    file it may only read without a word, and fails at the first write). Writes a table in a
    transaction that is rolled back: nothing stays."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE mixpeek_mock_write_check (x)")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        if isinstance(_typed(exc), DatabaseBusyError):
            return  # another process is writing it: it is writable
        raise refused(sqlite_path(database_url), exc, "cannot write it") from exc


class Rows:
    """The rows one statement answered, as fetched: each is decoded when it is read.

    The statement has finished (its values are all here, so no read stays open on the
    connection), but turning JSON columns into Python objects is most of what reading a large
    row costs, and the objects of a whole page of the largest records took ~800 MB at once.
    A page renders its rows one at a time (app/responses.py), so only one is decoded at a time.
    """

    __slots__ = ("_plan", "_values")

    def __init__(self, plan: _Plan | None, values: list[tuple[Any, ...]]) -> None:
        self._plan = plan
        self._values = values

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Row]:
        plan = self._plan
        if plan is not None:
            for values in self._values:
                yield _decode(plan, values)


def _decode(plan: _Plan, values: tuple[Any, ...]) -> Row:
    names, decoders = plan
    row = dict(zip(names, values, strict=True))
    for index, decode in decoders:
        value = values[index]
        if value is not None:
            row[names[index]] = decode(value)
    return row


class Database(ABC):
    """What the services talk to: statements with ``?`` placeholders, rows as dicts whose
    values are already Python values (JSON as objects, booleans, aware UTC datetimes), and
    write transactions that hold the one writer lock.

    ``column`` and ``scalar`` answer values as the backend has them: use them for keys, ids
    and counts, not for JSON, boolean or datetime columns.
    """

    backend: ClassVar[str]

    @staticmethod
    def open(database_url: str) -> "Database":
        """A connection to the database ``database_url`` names, of the backend its scheme says."""
        if backend_of(database_url) == POSTGRESQL:
            from app.db.postgres import PostgresDatabase

            return PostgresDatabase.open(database_url)
        return SQLiteDatabase(connect(database_url), database_url)

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(self.rows(sql, params))

    @abstractmethod
    def rows(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        """Every row of the statement, fetched now and decoded as each is read."""

    @abstractmethod
    def column(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """The first value of every row of the statement, undecoded (keys, ids)."""

    @abstractmethod
    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""

    # A Python value as this backend stores it in these tables (each backend names its own).
    stored = staticmethod(to_column)

    def insert(self, table: str, values: Mapping[str, Any]) -> None:
        """Insert one row. Table and column names come from code, never from a request."""
        columns = ", ".join(f'"{name}"' for name in values)
        marks = ", ".join("?" for _ in values)
        self.execute(
            f'INSERT INTO "{table}" ({columns}) VALUES ({marks})',
            [self.stored(value) for value in values.values()],
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
            [*(self.stored(value) for value in values.values()), *params],
        )

    @abstractmethod
    def transaction(self) -> AbstractContextManager["Database"]:
        """A write transaction holding the one writer lock: everything inside commits together
        or not at all; ``DatabaseBusyError`` before anything was done when the lock is held.

        SQLite takes the lock on entry; PostgreSQL with the transaction's first statement (in
        its round trip), so there the busy error comes from that statement, and what is
        computed before it (a time read from the clock) may predate another writer's commit."""

    @abstractmethod
    def wait_for_locks(self, seconds: float) -> None:
        """How long a statement waits for another connection's lock before it raises
        ``DatabaseBusyError``."""

    @abstractmethod
    def check_writable(self) -> None:
        """Raise ``DatabaseAccessError`` (or the driver's error) unless this connection can
        write; leaves nothing behind."""

    @abstractmethod
    def data_version(self) -> int | None:
        """A number that changes whenever another connection commits, for caches that must
        notice; None when the backend has no cheap one (then nothing may be cached)."""


class SQLiteDatabase(Database):
    """A thin wrapper over one connection: queries, and transactions that hold the write lock."""

    backend = SQLITE

    def __init__(self, conn: sqlite3.Connection, database_url: str = "sqlite:///") -> None:
        self.conn = conn
        self.database_url = database_url
        self._column_types: dict[str, str] | None = None
        self._plans: dict[str, _Plan] = {}

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

    def wait_for_locks(self, seconds: float) -> None:
        """0 for the serving connection (see the module docstring)."""
        self.conn.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")

    def check_writable(self) -> None:
        check_writable(self.conn, self.database_url)

    def data_version(self) -> int | None:
        # Changes whenever another connection commits to the file; one cheap pragma.
        version: int = self.conn.execute("PRAGMA data_version").fetchone()[0]
        return version

    # Every statement goes through these methods, which turn lock and storage failures into
    # the typed errors above (a try block costs nothing until it catches).

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        try:
            cursor = self.conn.execute(sql, params)
            values = cursor.fetchone()
        except sqlite3.OperationalError as exc:
            raise _typed(exc) from exc
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc
        return None if values is None else _decode(self._plan(sql, cursor), values)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        try:
            cursor = self.conn.execute(sql, params)
            values = cursor.fetchall()
        except sqlite3.OperationalError as exc:
            raise _typed(exc) from exc
        return Rows(self._plan(sql, cursor) if values else None, values)

    def column(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return [values[0] for values in self.conn.execute(sql, params).fetchall()]
        except sqlite3.OperationalError as exc:
            raise _typed(exc) from exc

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        try:
            row = self.conn.execute(sql, params).fetchone()
        except sqlite3.OperationalError as exc:
            raise _typed(exc) from exc
        return None if row is None else row[0]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            return self.conn.execute(sql, params).rowcount
        except sqlite3.OperationalError as exc:
            raise _typed(exc) from exc
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """``BEGIN IMMEDIATE`` takes the write lock up front, so the reads inside see the state
        the writes will be applied to (no lost updates between processes). If it cannot, it
        raises ``DatabaseBusyError`` before anything was done. Whatever fails inside, COMMIT
        included (a full disk), the transaction is rolled back and the connection stays usable.
        """
        self.execute("BEGIN IMMEDIATE")
        outer = getattr(_this_thread, "database", None)
        _this_thread.database = self
        try:
            yield self
            self.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        finally:
            _this_thread.database = outer

    def _rollback(self) -> None:
        # SQLite may already have rolled back by itself (after SQLITE_FULL or an I/O error).
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
