"""The ``mixpeek-mock`` command: serve the API, and manage keys.

mixpeek-mock serve [--host H] [--port P] [--database-url URL] [--access-log]
mixpeek-mock keys create [--organization NAME]
mixpeek-mock keys revoke [KEY | -]      (no KEY or "-": read it from standard input)
"""

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError as PydanticValidationError

from app.accounts import service as accounts
from app.bootstrap import Bootstrap, prepare_database
from app.db.database import Database, DatabaseUrlError
from app.settings import Settings


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        name: value
        for name, value in (
            ("database_url", args.database_url),
            ("host", getattr(args, "host", None)),
            ("port", getattr(args, "port", None)),
            ("storage_endpoints", getattr(args, "storage_endpoints", None)),
        )
        if value is not None
    }
    # Validated like the environment: a malformed value stops here with one line (see main).
    return Settings(**{**Settings().model_dump(), **overrides})


def _print_welcome(result: Bootstrap, settings: Settings) -> None:
    base = f"http://{settings.host}:{settings.port}"
    key = result.generated_key or "$MIXPEEK_MOCK_API_KEY"
    print(f"mixpeek-mock: created organization {result.organization.name!r}")
    if result.generated_key:
        print(f"  API key (shown once, keep it): {result.generated_key}")
    print("  namespace: default")
    print(
        f"  try: curl -H 'Authorization: Bearer {key}' -H 'X-Namespace: default' {base}/v1/buckets"
    )
    sys.stdout.flush()


def serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    database = Database.open(settings.database_url)
    try:
        result = prepare_database(database, settings)
    finally:
        database.close()
    if result.created_organization:
        _print_welcome(result, settings)

    from app import transport
    from app.main import create_app

    transport.run(create_app(settings), settings, access_log=args.access_log or settings.access_log)
    return 0


def create_key(args: argparse.Namespace) -> int:
    settings = _settings(args)
    database = Database.open(settings.database_url)
    try:
        prepare_database(database, settings.model_copy(update={"api_key": None}), issue_key=False)
        name = args.organization or accounts.DEFAULT_ORGANIZATION
        organization = accounts.find_organization(database, name)
        if organization is None:
            organization = accounts.create_organization(database, name=name)
        print(accounts.create_key(database, organization))
    finally:
        database.close()
    return 0


def _key_from_stdin() -> str:
    """One line of standard input; typed at a terminal, it is not echoed."""
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("API key to revoke: ").strip()
    return sys.stdin.readline().strip()


def revoke_key(args: argparse.Namespace) -> int:
    key = args.key if args.key not in (None, "-") else _key_from_stdin()
    if not key:
        print("mixpeek-mock: no key given (pass it on standard input)", file=sys.stderr)
        return 2
    settings = _settings(args)
    database = Database.open(settings.database_url)
    try:
        prepare_database(database, settings.model_copy(update={"api_key": None}), issue_key=False)
        if not accounts.revoke_key(database, key):
            print("mixpeek-mock: no live key matches", file=sys.stderr)
            return 1
    finally:
        database.close()
    print("revoked", file=sys.stderr)
    return 0


def run_sync(args: argparse.Namespace) -> int:
    """Run one sync now, in the foreground (app/engine/foreground.py)."""
    from app.engine.foreground import ForegroundSettings, run_sync_now

    settings = _settings(args)
    database = Database.open(settings.database_url)
    try:
        prepare_database(database, settings.model_copy(update={"api_key": None}), issue_key=False)
    finally:
        database.close()
    return run_sync_now(
        settings.database_url,
        ForegroundSettings(
            storage_endpoints=settings.storage_endpoints,
            lease_ttl_seconds=settings.lock_ttl_seconds,
            default_concurrency=settings.sync_concurrency,
        ),
        bucket=args.bucket,
        sync=args.sync,
        namespace=args.namespace,
        full_sync=args.full,
        out=sys.stdout,
        err=sys.stderr,
    )


def healthcheck(args: argparse.Namespace) -> int:
    """Exit 0 when the server on this machine answers ``/v1/health``: a container HEALTHCHECK
    that needs no curl."""
    import urllib.request

    settings = Settings()
    url = args.url or f"http://127.0.0.1:{settings.port}/v1/health"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:  # noqa: S310
            healthy: bool = response.status == 200
    except OSError as exc:
        print(f"mixpeek-mock: unhealthy: {exc}", file=sys.stderr)
        return 1
    return 0 if healthy else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mixpeek-mock",
        description="A self-hosted reference server for Mixpeek's bucket-sync API.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def database_option(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--database-url",
            help="sqlite:///PATH (default: $MIXPEEK_MOCK_DATABASE_URL or ./mixpeek-mock.db)",
        )

    serve_parser = commands.add_parser("serve", help="run the API server")
    serve_parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve_parser.add_argument("--port", type=int, help="port to listen on (default $PORT or 8000)")
    serve_parser.add_argument("--access-log", action="store_true", help="log every request")
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
    database_option(serve_parser)
    serve_parser.set_defaults(handler=serve)

    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(
        dest="keys_command", required=True
    )
    create = keys.add_parser("create", help="print one new API key")
    create.add_argument(
        "--organization", help="organization name; created, with a 'default' namespace, if new"
    )
    database_option(create)
    create.set_defaults(handler=create_key)
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
    check.add_argument("--url", help="default: http://127.0.0.1:$PORT/v1/health")
    check.add_argument("--timeout", type=float, default=3.0)
    check.set_defaults(handler=healthcheck)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except DatabaseUrlError as exc:
        print(f"mixpeek-mock: {exc}", file=sys.stderr)
        return 2
    except PydanticValidationError as exc:  # a setting from the environment or the flags
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            print(f"mixpeek-mock: invalid setting {field}: {error['msg']}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
