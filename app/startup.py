"""Starting the server: everything ``mixpeek-mock serve`` does before uvicorn serves, in order.

1. Listen: bind the port first, so that a port in use (or out of range, or an address this
   machine does not have) is refused before anything is written, and port 0 becomes the real
   port that every later line reports.
2. Open the database and prove it writable (app/db/files.py): a read-only file, folder or
   mount is refused with its path and the reason, never served read-only.
3. Bring the schema to head (app/db/migrate.py): a new database is made at once from the
   committed schema snapshot (app/db/schema.py); one below head is migrated by Alembic in a
   child process while this process imports the server.
4. Bootstrap the first organization and key, then say so (or, on an existing database, where
   it is and how to make a key), then serve on the socket from step 1.

A signal at any point stops it (app/signals.py): before uvicorn runs, the next check between
steps raises ``StartInterruptedError`` and the ``finally`` blocks here close the socket, stop the
migration child and close the database; once uvicorn runs, it stops gracefully, the engine
process with it.
"""

import os
import socket
import sys
from typing import TYPE_CHECKING

from app import signals
from app.bootstrap import Bootstrap, bootstrap
from app.db.database import SQLITE, Database, backend_of, sqlite_path
from app.db.migrate import finish_upgrade, start_upgrade
from app.settings import Settings, local_base_url

if TYPE_CHECKING:
    from app.admin.seed import Fixture

LISTEN_BACKLOG = 2048  # uvicorn's default


class ListenError(Exception):
    """The server cannot listen where it was told to."""


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: one the system picks)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except (OSError, UnicodeError) as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {_reason(exc)}") from exc
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and host in ("::", ""):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # IPv4 too
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {host}:{port}: {_reason(exc)}") from exc
    return sock


def _reason(exc: BaseException) -> str:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    if isinstance(exc, OSError) and exc.errno == 98:  # EADDRINUSE
        reason += " (another server? choose another with --port or PORT)"
    return reason


def welcome(result: Bootstrap, settings: Settings, port: int) -> list[str]:
    """What a start says before serving: on a new database, the key and a curl line that works
    when pasted; on an existing one, where it is and how to make a key."""
    base = local_base_url(settings.host, port)
    listening = f"  listening on {base} (Ctrl-C to stop)"
    admin = (
        [f"  admin token of /_mock/ (shown once, keep it): {result.generated_admin_token}"]
        if result.generated_admin_token
        else []
    )
    if not result.created_organization:
        return [
            f"mixpeek-mock: serving the existing database {_where(settings.database_url)}",
            "  need a key? mixpeek-mock keys create"
            f" --database-url {_shell_word(_shown_url(settings.database_url))}",
            *admin,
            listening,
        ]
    lines = [f"mixpeek-mock: created organization {result.organization.name!r}"]
    if result.generated_key:
        lines.append(f"  API key (shown once, keep it): {result.generated_key}")
        authorization = f"'Authorization: Bearer {result.generated_key}'"
    else:
        # The key the operator gave is never printed: the shell fills it in, in double quotes.
        lines.append("  API key: the one in MIXPEEK_MOCK_API_KEY (not shown)")
        authorization = '"Authorization: Bearer $MIXPEEK_MOCK_API_KEY"'
    lines += [
        "  namespace: default",
        f"  try: curl -H {authorization} -H 'X-Namespace: default' {base}/v1/buckets",
        *admin,
        listening,
    ]
    return lines


def _where(database_url: str) -> str:
    """The database as a start names it: the file's path, or the URL without its password."""
    if backend_of(database_url) == SQLITE:
        return os.path.abspath(sqlite_path(database_url))
    from app.db.postgres import redact_url

    return redact_url(database_url)


def _shown_url(database_url: str) -> str:
    if backend_of(database_url) == SQLITE:
        return database_url
    from app.db.postgres import redact_url

    return redact_url(database_url)


def _shell_word(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _seed(database: Database, fixture: "Fixture", source: str, result: Bootstrap) -> str | None:
    """Load a checked fixture after the bootstrap; the summary, or None when it conflicts
    with the database (the problems printed, nothing loaded, and the secrets the bootstrap
    generated still shown: they are never shown again)."""
    from app.admin.seed import SeedError, apply_fixture

    try:
        return apply_fixture(database, fixture).summary()
    except SeedError as exc:
        for secret in (
            f"  API key (shown once, keep it): {result.generated_key}"
            if result.generated_key
            else None,
            f"  admin token of /_mock/ (shown once, keep it): {result.generated_admin_token}"
            if result.generated_admin_token
            else None,
        ):
            if secret:
                print(secret, flush=True)
        print(
            f"mixpeek-mock: the fixture {source} was not loaded (nothing changed):",
            file=sys.stderr,
        )
        for line in exc.lines(source):
            print(f"  {line}", file=sys.stderr)
        return None


def serve(
    settings: Settings,
    *,
    access_log: bool,
    fixture: "Fixture | None" = None,
    fixture_name: str | None = None,
) -> int:
    """Start the server and serve until a signal stops it; the process's exit status.

    ``signals.check()`` between the steps ends a start that a signal interrupted
    (``StartInterruptedError``), the ``finally`` blocks undoing what was done.
    """
    signals.check()
    sock = listen(settings.host, settings.port)
    try:
        port = sock.getsockname()[1]
        database = Database.open(settings.database_url)
        try:
            database.check_writable()
            signals.check()
            child = start_upgrade(database, settings.database_url)
            try:
                from app import transport
                from app.main import create_app

                app = create_app(settings.model_copy(update={"port": port}))
            finally:
                finish_upgrade(child, interrupted=signals.check)
            signals.check()
            result = bootstrap(database, settings)
            if fixture is not None:
                seeded = _seed(database, fixture, fixture_name or "fixture", result)
                if seeded is None:
                    return 1
        finally:
            database.close()
        print("\n".join(welcome(result, settings, port)), flush=True)
        if fixture is not None:
            print(f"  seeded from {fixture_name}: {seeded}", flush=True)
        transport.run(app, settings, access_log=access_log, sock=sock)
    finally:
        sock.close()
    sys.stdout.flush()
    return 0
