"""The ``mixpeek-mock`` command: serve the API, and manage keys.

mixpeek-mock --version
mixpeek-mock serve [--host H] [--port P] [--database-url URL] [--access-log]
                   [--storage-endpoints POLICY] [--seed FILE]
mixpeek-mock keys create [--organization NAME] [--database-url URL]
mixpeek-mock keys list [--database-url URL]
mixpeek-mock keys revoke [KEY | -] [--database-url URL]   (no KEY or "-": standard input)
mixpeek-mock seed FILE [--database-url URL]    (FILE: JSON or YAML, "-" standard input)
mixpeek-mock seed --example
mixpeek-mock syncs run BUCKET SYNC [--full] [--namespace NS] [--database-url URL]
mixpeek-mock healthcheck [--url URL] [--timeout S]
mixpeek-mock parity --base-url URL [--api-key KEY] [--namespace NS] [--timeout S]

Every mistake in a setting, a flag or the database ends in one line on stderr and a non-zero
exit, never a traceback. SIGINT and SIGTERM stop ``serve`` from its first instant: this module
imports only the standard library at its top, and ``main`` records signals before anything else
happens (app/signals.py; app/startup.py says what a stopped start-up cleans up).
"""

import argparse
import sys
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from pydantic import ValidationError as PydanticValidationError

    from app.settings import Settings

PROG = "mixpeek-mock"

# Exit statuses: 1 a failure at run time, 2 a mistake in how it was called or configured.
EXIT_FAILED = 1
EXIT_USAGE = 2

# The flags that set a setting, by field name; the rest come from the environment only.
_FLAGS = {
    "database_url": "--database-url",
    "host": "--host",
    "port": "--port",
    "access_log": "--access-log",
    "storage_endpoints": "--storage-endpoints",
}
_SECRET_SETTINGS = frozenset({"api_key"})


class UsageError(Exception):
    """A setting, flag or argument that cannot be used; the message is the line to print."""


# --- settings -------------------------------------------------------------------------------


def _describe(errors: "PydanticValidationError", names: dict[str, str]) -> str:
    """One line for pydantic's errors, naming each setting as the user wrote it."""
    from app.settings import environment_variable

    parts = []
    for error in errors.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        field = "port" if field == "PORT" else field
        name = names.get(field) or environment_variable(field)
        shown = "" if field in _SECRET_SETTINGS else f"={_short(error.get('input'))}"
        message = str(error["msg"]).removeprefix("Value error, ")
        if field == "port":
            message += " (ports are 1..65535, or 0 for any free port)"
        parts.append(f"invalid {name}{shown}: {message}")
    return "; ".join(parts)


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _settings(args: argparse.Namespace) -> "Settings":
    from pydantic import ValidationError as PydanticValidationError

    from app.settings import Settings

    try:
        settings = Settings()
    except PydanticValidationError as exc:  # from the environment
        raise UsageError(_describe(exc, {})) from None
    overrides = {name: value for name in _FLAGS if (value := getattr(args, name, None)) is not None}
    if not overrides:
        return settings
    try:
        # Validated like the environment: a malformed flag stops here with one line.
        return Settings(**{**settings.model_dump(), **overrides})
    except PydanticValidationError as exc:
        raise UsageError(_describe(exc, _FLAGS)) from None


def settings_help() -> str:
    """Every setting of app/settings.py, its environment variable, flag and default."""
    from app.settings import Settings, environment_variable

    lines = ["settings (environment variables; a flag wins over its variable):"]
    for name, field in Settings.model_fields.items():
        flag = f" ({_FLAGS[name]})" if name in _FLAGS else ""
        default = "none" if field.default is None else str(field.default).lower()
        if isinstance(field.default, bool):
            default = "on" if field.default else "off"
        lines.append(f"  {environment_variable(name)}{flag}  [default: {default}]")
        lines += textwrap.wrap(
            field.description or "", width=92, initial_indent=" " * 6, subsequent_indent=" " * 6
        )
    return "\n".join(lines)


# --- commands -------------------------------------------------------------------------------


def serve(args: argparse.Namespace) -> int:
    from app.startup import serve as start

    settings = _settings(args)
    fixture = None
    if args.seed is not None:
        from app.admin.seed import SeedError, check_document, read_fixture_file

        # The file is read and checked before anything starts: a bad one changes nothing.
        try:
            parsed = read_fixture_file(args.seed)
            fixture = check_document(parsed.data, parsed.lines)
        except SeedError as exc:
            return _seed_failed(exc, args.seed)
    return start(settings, access_log=settings.access_log, fixture=fixture, fixture_name=args.seed)


def _seed_failed(exc: Any, source: str) -> int:
    """Each problem of a fixture on its own line of stderr; the exit status."""
    print(f"{PROG}: the fixture {source} was not loaded (nothing changed):", file=sys.stderr)
    for line in exc.lines(source):
        print(f"  {line}", file=sys.stderr)
    return EXIT_FAILED


def seed(args: argparse.Namespace) -> int:
    """Load a fixture into the database, all or nothing (works while a server runs)."""
    from app.admin.seed import SeedError, load_file

    if args.example:
        if args.file is not None:
            raise UsageError("give a FILE or --example, not both")
        from app.admin.seed_example import EXAMPLE_FIXTURE

        sys.stdout.write(EXAMPLE_FIXTURE)
        return 0
    if args.file is None:
        raise UsageError("give the fixture FILE to load (or --example to print one)")
    database = _open(_settings(args))
    try:
        created = load_file(database, args.file)
    except SeedError as exc:
        return _seed_failed(exc, args.file)
    finally:
        database.close()
    print(f"{PROG}: seeded from {args.file}: {created.summary()}")
    return 0


def _open(settings: "Settings") -> Any:
    """The database, checked writable and migrated, with no key generated."""
    from app.bootstrap import prepare_database
    from app.db.database import Database

    database = Database.open(settings.database_url)
    try:
        prepare_database(database, settings.model_copy(update={"api_key": None}), issue_key=False)
    except BaseException:
        database.close()
        raise
    return database


def create_key(args: argparse.Namespace) -> int:
    from app.accounts import service as accounts

    database = _open(_settings(args))
    try:
        name = args.organization or accounts.DEFAULT_ORGANIZATION
        organization = accounts.find_organization(database, name)
        if organization is None:
            organization = accounts.create_organization(database, name=name)
        print(accounts.create_key(database, organization))
    finally:
        database.close()
    return 0


def list_keys(args: argparse.Namespace) -> int:
    """Every key's clear prefix, organization, creation and revocation (never a key)."""
    from app.accounts import service as accounts

    database = _open(_settings(args))
    try:
        keys = accounts.list_keys(database)
    finally:
        database.close()
    rows = [("PREFIX", "ORGANIZATION", "CREATED", "REVOKED")]
    rows += [
        (
            key.key_prefix,
            key.organization,
            _moment(key.created_at),
            _moment(key.revoked_at) if key.revoked_at else "-",
        )
        for key in keys
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def _moment(value: Any) -> str:
    return str(value.strftime("%Y-%m-%dT%H:%M:%SZ"))


def _key_from_stdin() -> str:
    """One line of standard input; typed at a terminal, it is not echoed."""
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("API key to revoke: ").strip()
    return sys.stdin.readline().strip()


def revoke_key(args: argparse.Namespace) -> int:
    from app.accounts import service as accounts

    key = args.key if args.key not in (None, "-") else _key_from_stdin()
    if not key:
        raise UsageError("no key given (pass it on standard input)")
    database = _open(_settings(args))
    try:
        if not accounts.revoke_key(database, key):
            print(f"{PROG}: no live key matches", file=sys.stderr)
            return EXIT_FAILED
    finally:
        database.close()
    print("revoked", file=sys.stderr)
    return 0


def run_sync(args: argparse.Namespace) -> int:
    """Run one sync now, in the foreground (app/engine/foreground.py)."""
    from app.engine.foreground import run_sync_now
    from app.engine.leases import new_worker_id
    from app.engine.worker import EngineConfig

    settings = _settings(args)
    _open(settings).close()
    return run_sync_now(
        EngineConfig.from_settings(settings, worker_id=new_worker_id()),
        bucket=args.bucket,
        sync=args.sync,
        namespace=args.namespace,
        full_sync=args.full,
        out=sys.stdout,
        err=sys.stderr,
    )


def healthcheck(args: argparse.Namespace) -> int:
    """Exit 0 when the server on this machine answers ``/v1/health``: a container HEALTHCHECK
    that needs no curl. It asks where ``MIXPEEK_MOCK_HOST`` and ``PORT`` say the server is."""
    import urllib.parse
    import urllib.request

    from app.settings import local_base_url

    if args.url is None:
        settings = _settings(args)
        url = f"{local_base_url(settings.host, settings.port)}/v1/health"
    else:
        url = args.url
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(f"--url must be an http:// or https:// URL, not {url!r}")
    if args.timeout <= 0:
        raise UsageError(f"--timeout must be more than 0 seconds, not {args.timeout:g}")
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:  # noqa: S310
            healthy: bool = response.status == 200
    except (OSError, ValueError) as exc:
        print(f"{PROG}: unhealthy: {url}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return 0 if healthy else EXIT_FAILED


def parity(args: argparse.Namespace) -> int:
    """The contract's checks against any server, this one or the vendor's
    (app/testkit/parity.py); 0 when every check passes, 1 on a difference."""
    import os

    from app.testkit.parity import ParityError, run_parity

    api_key = args.api_key if args.api_key is not None else os.environ.get("MIXPEEK_API_KEY", "")
    try:
        return run_parity(
            base_url=args.base_url,
            api_key=api_key.strip(),
            namespace=args.namespace,
            timeout=args.timeout,
            out=sys.stdout,
            err=sys.stderr,
        )
    except ParityError as exc:
        raise UsageError(f"parity: {exc}") from None


# --- the parser -----------------------------------------------------------------------------


class _Version(argparse.Action):
    """``--version``, looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from importlib.metadata import PackageNotFoundError, version

        from app import API_VERSION

        try:
            ours = version(PROG)
        except PackageNotFoundError:
            ours = "unknown"
        print(f"{PROG} {ours} (Mixpeek API {API_VERSION}, Python {sys.version.split()[0]})")
        parser.exit()


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose mistakes are one line (its usage is a --help away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


class _SettingsHelp(argparse.RawDescriptionHelpFormatter):
    """Flags wrapped as usual; the settings list (the epilog) kept as written."""


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"{port} is not a port: ports are 1..65535, or 0 for any free port"
        )
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="A self-hosted reference server for Mixpeek's bucket-sync API.",
    )
    parser.add_argument("--version", action=_Version)
    commands = parser.add_subparsers(dest="command", required=True)

    def database_option(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--database-url",
            help="sqlite:///relative/path or sqlite:////absolute/path"
            " (default: $MIXPEEK_MOCK_DATABASE_URL or sqlite:///./mixpeek-mock.db)",
        )

    serve_parser = commands.add_parser(
        "serve",
        help="run the API server",
        description="Run the API server. On a new database it creates the organization"
        " 'default' and prints its key once.",
        epilog=settings_help(),
        formatter_class=_SettingsHelp,
    )
    serve_parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve_parser.add_argument(
        "--port", type=_port, help="port to listen on, 1..65535, 0 for any (default $PORT or 8000)"
    )
    serve_parser.add_argument(
        "--access-log", action="store_true", default=None, help="log every request"
    )
    serve_parser.add_argument(
        "--storage-endpoints",
        metavar="POLICY",
        help=(
            "where the server may connect to reach storage (connection tests, syncs):"
            " 'loopback' (this machine only), 'private' (also RFC 1918 and unique-local"
            " addresses, such as compose services like 'minio'; the default, so that no API"
            " caller can make the server reach the internet or a cloud metadata service),"
            " 'any' (also public hosts such as AWS's S3), or a comma-separated list of host"
            " names (*.example.com), addresses and CIDR ranges"
            " (default: $MIXPEEK_MOCK_STORAGE_ENDPOINTS or private)"
        ),
    )
    serve_parser.add_argument(
        "--seed",
        metavar="FILE",
        help="load this fixture (JSON or YAML, see `mixpeek-mock seed --example`) before"
        " serving; a fixture with problems stops the start, listing them",
    )
    database_option(serve_parser)
    serve_parser.set_defaults(handler=serve)

    seed_parser = commands.add_parser(
        "seed",
        help="load a fixture file (JSON or YAML) into the database, all or nothing",
        description="Load a fixture: organizations with their API keys, namespaces,"
        " connections, buckets, syncs and objects. It adds to what exists, in one transaction"
        " (also while a server runs on the database); a fixture with problems changes nothing"
        " and each problem is printed with its place (path and line).",
    )
    seed_parser.add_argument(
        "file", nargs="?", metavar="FILE", help="the fixture; '-' reads standard input"
    )
    seed_parser.add_argument(
        "--example", action="store_true", help="print a complete example fixture and exit"
    )
    database_option(seed_parser)
    seed_parser.set_defaults(handler=seed)

    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(
        dest="keys_command", required=True
    )
    create = keys.add_parser("create", help="print one new API key")
    create.add_argument(
        "--organization", help="organization name; created, with a 'default' namespace, if new"
    )
    database_option(create)
    create.set_defaults(handler=create_key)
    listing = keys.add_parser(
        "list",
        help="list the keys: prefix, organization, created, revoked (never a key)",
        description="List every API key, live or revoked: the few characters of it kept in"
        " clear, its organization, when it was created and revoked. A key itself is never"
        " stored, so it cannot be shown.",
    )
    database_option(listing)
    listing.set_defaults(handler=list_keys)
    revoke = keys.add_parser(
        "revoke",
        help="revoke an API key at once",
        description="Revoke an API key: the next request with it gets 401. Give the key on"
        " standard input (no KEY, or '-'), e.g. `mixpeek-mock keys revoke < key.txt`, so that"
        " it stays out of shell history and of the process list; at a terminal it is asked"
        " for without echo.",
    )
    revoke.add_argument(
        "key",
        nargs="?",
        metavar="KEY",
        help="the key; '-' or none reads one line from standard input (an argument is"
        " visible to other users in `ps` and stays in shell history)",
    )
    database_option(revoke)
    revoke.set_defaults(handler=revoke_key)

    syncs = commands.add_parser("syncs", help="run syncs").add_subparsers(
        dest="syncs_command", required=True
    )
    run = syncs.add_parser(
        "run",
        help="run one sync now, in the foreground, with its progress; exit 0 when it completed",
    )
    run.add_argument("bucket", help="the bucket's id (bkt_...) or name")
    run.add_argument("sync", help="the sync configuration's id (sync_...)")
    run.add_argument("--full", action="store_true", help="read every file, not only changed ones")
    run.add_argument("--namespace", help="the bucket's namespace (id or name), if names repeat")
    database_option(run)
    run.set_defaults(handler=run_sync)

    check = commands.add_parser("healthcheck", help="exit 0 when the local server is healthy")
    check.add_argument(
        "--url",
        help="default: http://$MIXPEEK_MOCK_HOST:$PORT/v1/health (127.0.0.1 for 0.0.0.0)",
    )
    check.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    check.set_defaults(handler=healthcheck)

    compare = commands.add_parser(
        "parity",
        help="run the contract's checks against a server (this one or the vendor's)",
        description="Run the wire contract's checks (the error envelope, authentication,"
        " namespace scoping, PATCH semantics, pause/resume/trigger/unlock) over HTTP against"
        " any server: this mock, or Mixpeek's API with a real key. Only scratch resources"
        " named 'parity-<random>' are created, and they are deleted afterwards. Prints a"
        " table; exits 0 when every check passes, 1 on a difference, 2 when the run cannot"
        " start or go on (a bad flag, an unreachable server, a refused key), 130 when"
        " interrupted (what it created is deleted first).",
    )
    compare.add_argument(
        "--base-url",
        required=True,
        metavar="URL",
        help="the server's address without /v1, e.g. http://127.0.0.1:8000 or"
        " https://api.mixpeek.com (a trailing /v1 is dropped)",
    )
    compare.add_argument(
        "--api-key",
        metavar="KEY",
        help="the key to use (default: $MIXPEEK_API_KEY, which keeps it out of the process"
        " list and shell history)",
    )
    compare.add_argument(
        "--namespace",
        metavar="NS",
        help="work in this namespace (id or name) instead of a scratch one",
    )
    compare.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds per request (default 30)",
    )
    compare.set_defaults(handler=parity)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from app import signals

    # From the first instant a signal is recorded, never lost (app/signals.py): ``serve``
    # checks for it between the steps of its start, then hands it to uvicorn.
    restore = signals.record()
    try:
        args = build_parser().parse_args(argv)
        if args.handler is not serve:
            restore()  # the other commands stop as any program does
            signals.check()
        return _run(args)
    except signals.StartInterruptedError as stop:
        print(f"{PROG}: {stop}", file=sys.stderr)
        return stop.exit_status
    finally:
        restore()


def _run(args: argparse.Namespace) -> int:
    from app.db.files import DatabaseAccessError

    try:
        code: int = args.handler(args)
    except UsageError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        from app.db.database import DatabaseUrlError
        from app.db.migrate import MigrationError
        from app.startup import ListenError

        if isinstance(exc, DatabaseUrlError):
            print(f"{PROG}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if isinstance(exc, DatabaseAccessError | MigrationError | ListenError):
            print(f"{PROG}: {exc}", file=sys.stderr)
            return EXIT_FAILED
        raise
    return code


if __name__ == "__main__":
    sys.exit(main())
