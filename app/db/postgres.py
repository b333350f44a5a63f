"""The PostgreSQL backend: the ``Database`` interface over psycopg 3's libpq, for many server
instances sharing one database (CONTRACT.md D34, D35).

The services keep writing the SQL they write for SQLite (``?`` placeholders, portable
functions). Each statement is translated once, then cached: ``?`` becomes ``$1``, ``$2``...,
SQLite's numbered ``?1`` ``$1``, and the SQLite functions the services use that PostgreSQL
names otherwise (``instr``) are renamed. Values come back as the SQLite backend decodes them:
psycopg's loaders read ``json`` and ``boolean`` columns as Python objects and bools, and the
``timestamptz`` columns the migrations make as aware datetimes, with their microseconds, in
``datetime.UTC`` (the session's time zone is UTC). Integers are ``bigint``: 64-bit, as
SQLite's are.

PostgreSQL's text cannot hold NUL, which SQLite stores and the API accepts in names and
descriptions (a name with a NUL still finds its resource). So text is escaped as it is sent (by
the connection's dumper) and unescaped as rows are read: U+0001 is doubled and NUL becomes
U+0001 "0". The mapping is one-to-one, so equality, uniqueness and lookups behave as on
SQLite; only SQL that measures or cuts such a text (``length``, ``substr``) sees the escaped
form. U+0001 because JSON text never holds it raw (the encoder escapes control characters), so
JSON sent as a string is untouched.

Transactions serialize every writer, as SQLite's ``BEGIN IMMEDIATE`` does, but across all the
instances: ``BEGIN`` then ``pg_advisory_xact_lock`` on one constant key, released by COMMIT or
ROLLBACK. Both are sent with the transaction's first statement, in one query string, so that
the lock is taken in the same round trip as the first statement runs (while it is held, every
round trip to this process delays every other writer). Under READ COMMITTED each statement
after the lock sees every commit made before it, so a read-modify-write inside
``transaction()`` cannot lose another instance's update; only what a transaction computes before
its first statement (the clock, say) predates the lock. A lock not granted within
``lock_timeout`` (SQLSTATE 55P03), a serialization failure or a deadlock is a
``DatabaseBusyError`` (nothing was applied: the request guard may run the request again); a
full disk or exhausted resources (class 53) a ``DatabaseStorageError``.

A session is a network connection and each statement a round trip, so the serving process never
blocks its event loop on one: each request runs in a greenlet and waits for its statements on
the loop (app/db/greenlets.py), on a session borrowed from ``ConnectionPool`` for the request's
duration (``ServingDatabase``). Elsewhere (the engine, the CLI, the server's own threads) a
statement blocks its thread, as SQLite's do.
"""

import asyncio
import contextlib
import re
import select
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import Enum
from typing import Any, Self

import psycopg
from psycopg import errors, pq
from psycopg.adapt import PyFormat, Transformer
from psycopg.postgres import types as postgres_types
from psycopg.types.json import Json
from psycopg.types.string import StrDumperUnknown

from app.db.database import (
    BUSY_TIMEOUT_MS,
    POSTGRESQL,
    Database,
    DatabaseBusyError,
    DatabaseStorageError,
    DatabaseUnreachableError,
    IntegrityError,
    Row,
    Rows,
    _decode,
    _Plan,
)
from app.db.files import DatabaseAccessError
from app.db.greenlets import RequestGreenlet, in_request, wait_for
from app.jsonutil import dump_json_text

# The key of the one writer lock (any constant; this one spells "mixpeek" in ASCII).
WRITER_LOCK_KEY = 0x6D69787065656B
# Held (as a session lock) by whoever migrates, so that instances starting together migrate once.
MIGRATION_LOCK_KEY = WRITER_LOCK_KEY + 1

# Sent with a transaction's first statement, in the same query string (``transaction()``).
_BEGIN = f"BEGIN; SELECT pg_advisory_xact_lock({WRITER_LOCK_KEY}); ".encode()

# SQLite functions the services use whose PostgreSQL equivalent has another name.
_RENAMED_FUNCTIONS = {"instr": "strpos"}
_FUNCTION = re.compile(r"\b(" + "|".join(_RENAMED_FUNCTIONS) + r")\s*\(", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\?(\d*)")
_NUMBERED = re.compile(rb"\$(\d+)")

# How many statements one session keeps prepared on the server (the services' SQL is a few
# dozen; lists of variable length make more, which are then sent whole each time).
MAX_PREPARED = 256

# poll()'s answers that mean "read now": data, an error, or the server hanging up.
_READABLE = select.POLLIN | select.POLLERR | select.POLLHUP

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


def translate(sql: str) -> bytes:
    """The statement as PostgreSQL takes it: ``?`` becomes ``$1``, ``$2``... in order, SQLite's
    numbered ``?N`` becomes ``$N``, and SQLite functions are renamed."""
    parts = sql.split("'")
    count = 0
    numbered = False
    # Even parts are outside string literals; services pass values as parameters, so a literal
    # never holds a placeholder (asserted: a "?" there would be a bug, not a value).
    for index in range(0, len(parts), 2):
        text = _FUNCTION.sub(lambda match: _RENAMED_FUNCTIONS[match[1].lower()] + "(", parts[index])

        def placeholder(match: re.Match[str]) -> str:
            nonlocal count, numbered
            if match[1]:
                numbered = True
                return f"${match[1]}"
            count += 1
            return f"${count}"

        parts[index] = _PLACEHOLDER.sub(placeholder, text)
    for index in range(1, len(parts), 2):
        assert "?" not in parts[index], f"a '?' inside a string literal: {sql!r}"
    assert not (numbered and count), f"both ? and ?N placeholders in one statement: {sql!r}"
    return "'".join(parts).encode()


def bind_literals(text: bytes, literals: Sequence[bytes]) -> bytes:
    """A translated statement with its ``$N`` replaced by the N-th of ``literals`` (SQL
    literals, quoted by psycopg), outside string literals only. The statement must take
    exactly as many values as there are literals, as a parameterized one must."""
    parts = text.split(b"'")
    used: set[int] = set()

    def literal(match: re.Match[bytes]) -> bytes:
        number = int(match[1])
        if not 1 <= number <= len(literals):
            raise psycopg.ProgrammingError(f"no value for ${number}: {len(literals)} given")
        used.add(number)
        return literals[number - 1]

    for index in range(0, len(parts), 2):
        parts[index] = _NUMBERED.sub(literal, parts[index])
    if len(used) != len(literals):
        raise psycopg.ProgrammingError(
            f"the statement takes {len(used)} values, not {len(literals)}"
        )
    return b"'".join(parts)


def typed_literal(literal: bytes, oid: int) -> bytes:
    """A literal in parentheses (so that ``-2`` stays a number before ``::`` or an operator),
    cast to the type its value has as a parameter (so that ``1.5`` is ``float8``, not
    ``numeric``); text goes uncast, as its parameters go untyped."""
    info = postgres_types.get(oid) if oid else None
    if info is None:
        return b"(" + literal + b")"
    return b"(" + literal + b")::" + info.name.encode()


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


def _typed(exc: psycopg.Error, database: "PostgresDatabase") -> Exception:
    if not database.usable():
        # The server went away (restarted, or the network dropped): this connection is done
        # for, and whoever holds it opens another.
        return DatabaseUnreachableError(str(exc))
    if isinstance(exc, _BUSY_ERRORS):
        return DatabaseBusyError(str(exc))
    if isinstance(exc, psycopg.IntegrityError):
        return IntegrityError(str(exc))
    sqlstate = getattr(exc, "sqlstate", None) or ""
    if sqlstate.startswith("53"):  # insufficient resources: disk full, out of memory, ...
        return DatabaseStorageError(str(exc))
    return exc


# How long a statement waits for another session's lock, unless told otherwise.
DEFAULT_LOCK_WAIT_SECONDS = BUSY_TIMEOUT_MS / 1000


def connect(database_url: str, *, lock_wait_seconds: float = DEFAULT_LOCK_WAIT_SECONDS) -> Any:
    """A psycopg connection in autocommit mode (transactions are explicit), on UTC (so that
    timestamptz values read back in ``datetime.UTC``, and text timestamps mean UTC)."""
    conn = psycopg.connect(psycopg_url(database_url), autocommit=True)
    try:
        conn.adapters.register_dumper(str, _EscapingStrDumper)
        conn.execute(_session_settings(lock_wait_seconds))
    except BaseException:
        conn.close()
        raise
    return conn


def _session_settings(lock_wait_seconds: float) -> bytes:
    # One round trip for the session's settings. synchronous_commit off is SQLite's
    # synchronous = NORMAL here (app/db/database.py): a commit is acknowledged before its WAL
    # reaches the disk, so a crash of this process loses nothing, and only a crash of the
    # PostgreSQL server itself can take the last fraction of a second (never half a
    # transaction). It also shortens the time the one writer lock is held by that flush.
    return (
        b"SET TIME ZONE 'UTC'; SET synchronous_commit = off;"
        + f" SET lock_timeout = {_lock_timeout_ms(lock_wait_seconds)}".encode()
    )


def _lock_timeout_ms(seconds: float) -> int:
    # PostgreSQL's 0 means "wait forever", SQLite's "do not wait": the shortest wait instead.
    return max(1, int(seconds * 1000))


class PostgresDatabase(Database):
    """One PostgreSQL session behind the ``Database`` interface.

    psycopg opens, configures and closes the session; statements go to its libpq handle
    directly, with psycopg's own adapters turning values into parameters and columns back into
    values (its ``Transformer``). psycopg's cursors would cost several times what a statement
    costs this process otherwise, which on the request path is most of a request's work.
    Statements are prepared from their second use on (up to ``MAX_PREPARED`` per session).

    Waiting for the server (``_wait``) blocks the calling thread, except in a request's
    greenlet, where it waits on the event loop (app/db/greenlets.py) and the loop serves
    other requests meanwhile.
    """

    backend = POSTGRESQL

    def __init__(self, conn: psycopg.Connection[Any], database_url: str) -> None:
        self.conn = conn
        self.database_url = database_url
        self.pgconn = conn.pgconn
        self.pgconn.nonblocking = 1
        self._transformer = Transformer(conn)
        self._statements: dict[str, bytes] = {}
        self._plans: dict[str, _Plan] = {}
        self._uses: dict[tuple[str, tuple[int, ...]], int] = {}
        self._prepared: dict[tuple[str, tuple[int, ...]], bytes] = {}
        self._readable = _LoopReadiness(self.pgconn.socket)
        # Inside ``transaction()`` until its first statement, which is sent after BEGIN.
        self._begin_pending = False

    @classmethod
    def open(
        cls, database_url: str, *, lock_wait_seconds: float = DEFAULT_LOCK_WAIT_SECONDS
    ) -> Self:
        try:
            conn = connect(database_url, lock_wait_seconds=lock_wait_seconds)
        except psycopg.OperationalError as exc:
            raise DatabaseConnectError(database_url, exc) from exc
        return cls(conn, database_url)

    def close(self) -> None:
        self._readable.forget()
        self.conn.close()

    def usable(self) -> bool:
        """Whether the session is still there (not closed here, not lost)."""
        return not self.conn.closed and self.pgconn.status == pq.ConnStatus.OK

    def survived_idling(self) -> bool:
        """Whether a session that sat idle (in the pool) is still there. A server that
        restarted or dropped it said so on its socket: anything there is read now, so that no
        request sends a statement into a session already gone. (A socket the loop watches and
        found silent needs no look; one it does not watch gets a poll that does not wait.)"""
        if self._readable.watched_and_silent():
            return self.usable() and not self.in_transaction()
        # A dropped session has its last message, then the end of the stream, to read: each
        # read takes what is there, so read until nothing is left or the end was seen.
        while self.usable() and self._poll(writing=False, timeout_ms=0):
            try:
                self.pgconn.consume_input()
            except psycopg.OperationalError:
                break
        return self.usable() and not self.in_transaction()

    def _query(self, sql: str, params: Sequence[Any]) -> pq.abc.PGresult:
        """Run one statement and answer its result. The values are dumped first: a value that
        cannot be sent fails before anything reaches the server."""
        text = self._statements.get(sql)
        if text is None:
            text = self._statements[sql] = translate(sql)
        values: Sequence[Any] | None = None
        types: tuple[int, ...] = ()
        formats: Sequence[pq.Format] | None = None
        if params:
            transformer = self._transformer
            values = transformer.dump_sequence(params, [PyFormat.AUTO] * len(params))
            types, formats = tuple(transformer.types or ()), transformer.formats
        try:
            name = self._prepared_name(sql, text, types)
            if self._begin_pending:
                statement = _BEGIN + self._with_literals(text, name, params, types)
                self._begin_pending = False
                self.pgconn.send_query(statement)
            elif name is None:
                self.pgconn.send_query_params(text, values, types, formats)
            else:
                self.pgconn.send_query_prepared(name, values, formats)
            return self._result()
        except psycopg.Error as exc:
            raise _typed(exc, self) from exc

    def _with_literals(
        self, text: bytes, name: bytes | None, params: Sequence[Any], types: tuple[int, ...]
    ) -> bytes:
        """A transaction's first statement as it goes after BEGIN and the writer lock, in one
        query string: the simple protocol, which takes several statements but no parameters,
        so the values go as SQL literals (quoted by psycopg's dumpers and typed as their
        parameters would be), and a statement already prepared runs by ``EXECUTE``."""
        literals = [
            typed_literal(self._transformer.as_literal(value), oid)
            for value, oid in zip(params, types, strict=True)
        ]
        if name is None:
            return bind_literals(text, literals)
        if literals:
            return b"EXECUTE " + name + b"(" + b", ".join(literals) + b")"
        return b"EXECUTE " + name

    def _prepared_name(self, sql: str, text: bytes, types: tuple[int, ...]) -> bytes | None:
        """The statement's name on the server, preparing it on its second use; None to send
        it whole (the first use, or once ``MAX_PREPARED`` are)."""
        key = (sql, types)
        name = self._prepared.get(key)
        if name is not None or len(self._prepared) >= MAX_PREPARED:
            return name
        uses = self._uses[key] = self._uses.get(key, 0) + 1
        if uses < 2:
            return None
        name = f"mm_{len(self._prepared)}".encode()
        self.pgconn.send_prepare(name, text, types)
        self._result()
        del self._uses[key]
        self._prepared[key] = name
        return name

    def _result(self) -> pq.abc.PGresult:
        """Wait for what was sent to finish: the last result, or the first error raised."""
        try:
            results = self._exchange()
        except psycopg.Error:
            raise
        except BaseException:
            # Cancelled (the server is stopping) in the middle of the exchange: what the session
            # would say next is unknown, so it is not used again.
            self.close()
            raise
        for result in results:
            if result.status == pq.ExecStatus.FATAL_ERROR:
                raise errors.error_from_result(result, encoding=self._transformer.encoding)
        if not results:
            raise errors.InternalError("the server answered nothing")
        return results[-1]

    def _exchange(self) -> list[pq.abc.PGresult]:
        """Send what libpq holds and read every result until the statement is done."""
        self._flush()
        pgconn = self.pgconn
        results: list[pq.abc.PGresult] = []
        while True:
            while pgconn.is_busy():
                self._wait(writing=False)
                pgconn.consume_input()
            result = pgconn.get_result()
            if result is None:
                return results
            results.append(result)

    def _flush(self) -> None:
        pgconn = self.pgconn
        while pgconn.flush():  # the socket's buffer is full: wait until it takes more
            if self._wait(writing=True):
                pgconn.consume_input()

    def _wait(self, *, writing: bool) -> bool:
        """Wait until the socket can be read (or, ``writing``, written); whether it can be
        read. On the event loop in a request's greenlet, else blocking this thread."""
        if in_request() is not None:
            return self._readable.wait(writing=writing)
        return self._poll(writing=writing, timeout_ms=None)

    def _poll(self, *, writing: bool, timeout_ms: int | None) -> bool:
        """Whether the socket can be read, after waiting up to ``timeout_ms`` (None: until it
        can be read, or written when ``writing``), blocking this thread."""
        poller = select.poll()
        poller.register(self.pgconn.socket, select.POLLIN | (select.POLLOUT if writing else 0))
        return any(mask & _READABLE for _, mask in poller.poll(timeout_ms))

    def _plan(self, sql: str, result: pq.abc.PGresult) -> _Plan:
        """Column names, and the text columns to unescape (a function call per value, several
        times cheaper than psycopg calling a Python loader for each)."""
        plan = self._plans.get(sql)
        if plan is None:
            count = result.nfields
            names = tuple((result.fname(index) or b"").decode() for index in range(count))
            decoders = tuple(
                (index, unescape_text)
                for index in range(count)
                if result.ftype(index) in _TEXT_OIDS
            )
            plan = self._plans[sql] = (names, decoders)
        return plan

    def _values(
        self, result: pq.abc.PGresult, *, first_only: bool = False
    ) -> list[tuple[Any, ...]]:
        count = result.ntuples
        if not count:
            return []
        transformer = self._transformer
        transformer.set_pgresult(result)
        return transformer.load_rows(0, 1 if first_only else count, tuple)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        result = self._query(sql, params)
        values = self._values(result, first_only=True)
        return _decode(self._plan(sql, result), values[0]) if values else None

    def rows(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        result = self._query(sql, params)
        values = self._values(result)
        return Rows(self._plan(sql, result) if values else None, values)

    def column(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return [_unescape(values[0]) for values in self._values(self._query(sql, params))]

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        values = self._values(self._query(sql, params), first_only=True)
        return _unescape(values[0][0]) if values else None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._query(sql, params).command_tuples or 0

    stored = staticmethod(to_column)

    def _raw(self, sql: str) -> None:
        """Run statements without parameters (several at once: one round trip)."""
        try:
            self.pgconn.send_query(sql.encode())
            self._result()
        except psycopg.Error as exc:
            raise _typed(exc, self) from exc

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """``BEGIN`` and the writer lock go with the transaction's first statement, in its
        round trip (``_with_literals``; see the module docstring): a round trip fewer, and the
        lock is held over one fewer of the client's. A transaction that ran no statement sends
        nothing. Whatever fails, the lock not granted included, the transaction is rolled back.

        (In libpq's pipeline mode, with the statement as a parameterized one, this was measured
        slower: more work for the server per statement, and a wake-up for each answer.)"""
        if self.in_transaction():
            # (SQLite refuses it too: an inner COMMIT would end the outer transaction.)
            raise RuntimeError("transactions do not nest")
        self._begin_pending = True
        try:
            yield self
            if not self._begin_pending:
                self._raw("COMMIT")
        except BaseException:
            self._rollback()
            raise
        finally:
            self._begin_pending = False

    def in_transaction(self) -> bool:
        """Whether a transaction is open, or begun here and not yet sent (then the next
        statement would open one)."""
        return self._begin_pending or self.pgconn.transaction_status != pq.TransactionStatus.IDLE

    def _rollback(self) -> None:
        self._begin_pending = False
        if not self.usable():
            return
        if self.in_transaction():
            # A connection that broke meanwhile was rolled back by the server.
            with contextlib.suppress(DatabaseUnreachableError):
                self._raw("ROLLBACK")

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


class _LoopReadiness:
    """Waits, in a request's greenlet, until a session's socket can be read.

    The socket stays registered with the loop between statements (registering it for every
    wait costs two system calls and a timer): when it turns readable with nobody waiting (the
    server said something unasked, or closed), it is unregistered until the next wait.
    """

    def __init__(self, socket: int) -> None:
        self.socket = socket
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiter: asyncio.Future[None] | None = None

    def watched_and_silent(self) -> bool:
        """Whether the loop watches the socket and nothing arrived since the last statement."""
        return self._loop is not None

    def wait(self, *, writing: bool) -> bool:
        loop = asyncio.get_running_loop()
        if writing:
            return self._wait_writable(loop)
        if self._loop is not loop:
            self.forget()
            loop.add_reader(self.socket, self._on_readable)
            self._loop = loop
        waiter = self._waiter = loop.create_future()
        try:
            wait_for(waiter)
        finally:
            self._waiter = None
        return True

    def _wait_writable(self, loop: asyncio.AbstractEventLoop) -> bool:
        # Rare (a statement larger than the socket's buffer): register for this wait only.
        waiter: asyncio.Future[None] = loop.create_future()
        loop.add_writer(self.socket, waiter.set_result, None)
        try:
            wait_for(waiter)
        finally:
            loop.remove_writer(self.socket)
        return False

    def _on_readable(self) -> None:
        waiter = self._waiter
        if waiter is None:  # unasked (see survived_idling): no longer watched
            self.forget()
        elif not waiter.done():
            waiter.set_result(None)

    def forget(self) -> None:
        """Unregister the socket (before it is closed, or to wait on another loop)."""
        if self._loop is not None:
            if not self._loop.is_closed():
                self._loop.remove_reader(self.socket)
            self._loop = None


class ConnectionPool:
    """Up to ``size`` sessions that requests borrow, one each, for as long as they run
    (``ServingDatabase``). A request that finds them all lent waits on the loop. A session is
    opened on a thread (connecting blocks); one that broke is closed when it comes back, and a
    new one opened when needed."""

    def __init__(self, database_url: str, *, size: int, lock_wait_seconds: float) -> None:
        self.database_url = database_url
        self.lock_wait_seconds = lock_wait_seconds
        self._size = size
        self._free = asyncio.Semaphore(size)
        self._idle: list[PostgresDatabase] = []

    async def fill(self) -> None:
        """Open every session now (at start), so that the first requests wait for none."""
        opened = await asyncio.gather(
            *(self._open() for _ in range(self._size)), return_exceptions=True
        )
        self._idle.extend(item for item in opened if isinstance(item, PostgresDatabase))
        for item in opened:
            if isinstance(item, BaseException):
                raise item  # (what did open is closed with the pool)

    async def acquire(self) -> PostgresDatabase:
        await self._free.acquire()
        try:
            while self._idle:
                database = self._idle.pop()
                if database.survived_idling():
                    return database
                database.close()
            return await self._open()
        except BaseException:
            self._free.release()
            raise

    async def _open(self) -> PostgresDatabase:
        return await asyncio.to_thread(
            PostgresDatabase.open, self.database_url, lock_wait_seconds=self.lock_wait_seconds
        )

    def release(self, database: PostgresDatabase) -> None:
        if not database.usable() or database.in_transaction():
            database.close()  # a session in an unknown state is not lent again
        else:
            self._idle.append(database)
        self._free.release()

    def close(self) -> None:
        idle, self._idle = self._idle, []
        for database in idle:
            database.close()


class ServingDatabase(Database):
    """``app.state.database`` when serving PostgreSQL: a ``Database`` whose every call runs on
    the caller's own connection, so that code looking the database up in the app's state needs
    no change.

    - In a request's greenlet: the connection the request borrowed from the pool on its first
      statement, returned when the request finishes; statements wait on the event loop.
    - Anywhere else (startup, a thread of the server's): that thread's own connection, opened on
      first use; statements block that thread, as everywhere off the request path.

    A connection that broke (the server restarted) is replaced on the next call.
    """

    backend = POSTGRESQL

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self.database_url = pool.database_url
        self._local = threading.local()
        self._opened: list[PostgresDatabase] = []
        self._lock = threading.Lock()

    @property
    def current(self) -> PostgresDatabase:
        request = in_request()
        if request is not None:
            return self._borrowed(request)
        database: PostgresDatabase | None = getattr(self._local, "database", None)
        if database is None or not database.usable():
            database = PostgresDatabase.open(
                self.database_url, lock_wait_seconds=self.pool.lock_wait_seconds
            )
            self._local.database = database
            with self._lock:
                self._opened.append(database)
        return database

    def _borrowed(self, request: RequestGreenlet) -> PostgresDatabase:
        database: PostgresDatabase | None = request.borrowed
        if database is not None and not database.usable():
            # It broke during this request: give it back (the pool drops it), borrow another.
            request.give_back()
            database = None
        if database is None:
            database = wait_for(self.pool.acquire())
            request.borrow(database, self.pool)
        return database

    def close(self) -> None:
        self.pool.close()
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
        self.pool.lock_wait_seconds = seconds
        self.current.wait_for_locks(seconds)

    def check_writable(self) -> None:
        self.current.check_writable()

    def data_version(self) -> int | None:
        return None
