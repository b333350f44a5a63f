"""Runtime settings, read once at startup from the environment (and the command line).

Every field carries its description: ``mixpeek-mock serve --help`` lists them all from this
model (app/cli.py), with their environment variables and defaults, so the help cannot drift.
"""

import os
import re
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.cors import CorsPolicy
from app.storage.egress import EgressPolicy

ENV_PREFIX = "MIXPEEK_MOCK_"
SQLITE_PREFIX = "sqlite:///"
DEFAULT_DATABASE_URL = "sqlite:///./mixpeek-mock.db"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")

# A key is sent as "Authorization: Bearer <key>": whitespace or a control character could never
# arrive intact, so such a key could never authenticate.
_KEY_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f]")


class Settings(BaseSettings):
    """Everything the server can be configured with.

    Environment variables use the ``MIXPEEK_MOCK_`` prefix, except ``PORT``, which container
    platforms set without one.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="the SQLite file: sqlite:///relative/path or sqlite:////absolute/path"
        " (a leading ~ is expanded); or PostgreSQL: postgresql://user:password@host:port/name",
    )
    database_pool_size: int = Field(
        # Writers take turns on one lock, so more sessions mostly wait for it: on 2 CPUs, 2, 4
        # and 8 served PATCHes within a tenth of each other; 4 leaves room for slow reads.
        default=4,
        ge=1,
        le=256,
        description="PostgreSQL only: sessions each server process opens at start and lends to"
        " its requests, one each while it runs (so, requests that talk to the database at once)",
    )
    host: str = Field(default="127.0.0.1", description="address to listen on")
    port: int = Field(
        default=8000,
        ge=0,
        le=65535,
        validation_alias="PORT",
        description="port to listen on, 1..65535 (0: any free port, printed at start)",
    )
    api_key: str | None = Field(
        default=None,
        description="a key that must exist, made a live key of the first organization at every"
        " start; never printed or logged",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1, description="larger request bodies are answered 413 unread"
    )
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(
        default="info", description="one of " + ", ".join(LOG_LEVELS)
    )
    access_log: bool = Field(
        default=False,
        description="one log line per request (off by default: it costs a tenth of the throughput)",
    )
    storage_endpoints: str = Field(
        default="private",
        description="where the server may connect to reach storage (D37): loopback, private,"
        " any, or a comma-separated list of names, addresses and CIDR ranges",
    )
    storage_timeout_seconds: float = Field(
        default=3.0, gt=0, le=60, description="one wall-clock limit for a connection test"
    )
    storage_probe_threads: int = Field(
        default=4, ge=1, le=64, description="threads that run connection tests"
    )

    # The sync engine (app/engine). A run's lease lasts lock_ttl_seconds unless its worker
    # renews it (D18, D21).
    scheduler: bool = Field(
        default=True, description="due syncs start by themselves (off: only triggers run)"
    )
    lock_ttl_seconds: float = Field(
        default=60.0, ge=3, le=3600, description="time to live of a run's lease"
    )
    sync_concurrency: int = Field(
        default=8, ge=1, le=100, description="reads in flight per run, for syncs that set none"
    )
    engine_max_runs: int = Field(default=4, ge=1, le=64, description="runs at once per server")

    lock_wait_seconds: float = Field(
        default=2.5,
        ge=0,
        description="how long a request retries while another process holds the database's"
        " write lock, then 503",
    )

    # The transport (app/transport.py): see its docstring.
    header_timeout_seconds: float = Field(
        default=10.0, gt=0, description="time to send a request's headers, then closed"
    )
    body_timeout_seconds: float = Field(
        default=20.0, gt=0, description="time to send a request's body, then 400 and closed"
    )
    keep_alive_timeout_seconds: int = Field(
        default=5, ge=1, description="an idle keep-alive connection is closed after this"
    )
    max_connections: int = Field(
        default=512, ge=1, description="open connections (the longest idle is closed for room)"
    )
    shutdown_timeout_seconds: int = Field(
        default=3, ge=0, description="grace for requests in progress on SIGTERM or Ctrl-C"
    )
    cors_origins: str = Field(
        default="http://localhost:*,http://127.0.0.1:*",
        description="origins whose browser pages may call the API (CORS): a comma-separated"
        " list of scheme://host[:port], where the port may be * (any), or * for any origin;"
        " empty for none",
    )
    trusted_proxies: str | None = Field(
        default=None,
        description="addresses (IPs or CIDRs, comma-separated, or *) whose X-Forwarded-For and"
        " X-Forwarded-Proto are believed; none by default",
    )

    # The contract-testing kit (app/admin, CONTRACT.md D28 to D32).
    admin_token: str | None = Field(
        default=None,
        description="the bearer token of the admin API under /_mock/ (unset: one is generated"
        " at the first start, printed once and stored hashed); never printed or logged",
    )
    journal_size: int = Field(
        default=1000,
        ge=0,
        le=100_000,
        description="requests to /v1 the journal keeps, newest first (0: no journal)",
    )
    id_seed: str | None = Field(
        default=None,
        description="makes generated ids repeatable: two fresh servers with the same seed answer"
        " the same requests with the same ids (keys and tokens stay random)",
    )

    @field_validator("database_url")
    @classmethod
    def _expand_home(cls, value: str) -> str:
        """``sqlite:///~/x.db`` is the file ``x.db`` in the home folder, as a shell means it."""
        if value.startswith(SQLITE_PREFIX + "~"):
            path = os.path.expanduser(value[len(SQLITE_PREFIX) :])
            if path.startswith("~"):
                raise ValueError(f"cannot expand {path.split('/', 1)[0]!r}: no such user")
            return SQLITE_PREFIX + path
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_log_level(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("api_key", "admin_token")
    @classmethod
    def _check_bearer_token(cls, value: str | None) -> str | None:
        if not value:
            return None  # MIXPEEK_MOCK_API_KEY="" means no key, as unset does
        if _KEY_FORBIDDEN.search(value):
            raise ValueError(
                "it contains a space or a control character, so no request could"
                " send it in 'Authorization: Bearer <token>'"
            )
        return value

    @field_validator("id_seed")
    @classmethod
    def _no_empty_seed(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("cors_origins")
    @classmethod
    def _check_cors_origins(cls, value: str) -> str:
        CorsPolicy(value)  # raises, naming the origin, when malformed
        return value

    @field_validator("storage_endpoints")
    @classmethod
    def _check_storage_endpoints(cls, value: str) -> str:
        EgressPolicy(value)  # raises, naming the setting, when malformed
        return value


def local_base_url(host: str, port: int) -> str:
    """Where a client on this machine reaches a server listening on ``host:port`` (a wildcard
    address is not one to connect to)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def environment_variable(name: str) -> str:
    """The environment variable that sets the field ``name``."""
    alias = Settings.model_fields[name].validation_alias
    return alias if isinstance(alias, str) else ENV_PREFIX + name.upper()
