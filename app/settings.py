"""Runtime settings, read once at startup from the environment (and the command line)."""

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.storage.egress import EgressPolicy

DEFAULT_DATABASE_URL = "sqlite:///./mixpeek-mock.db"


class Settings(BaseSettings):
    """Everything the server can be configured with.

    Environment variables use the ``MIXPEEK_MOCK_`` prefix, except ``PORT``, which container
    platforms set without one.
    """

    model_config = SettingsConfigDict(env_prefix="MIXPEEK_MOCK_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = Field(default=8000, validation_alias="PORT")
    # A key that must exist (created idempotently at every start). Never printed or logged.
    api_key: str | None = None
    # Requests whose body is larger than this are answered 413 before they are read.
    max_body_bytes: int = 1024 * 1024
    log_level: str = "info"
    # One log line per request. Off by default: it costs a tenth of the throughput.
    access_log: bool = False
    # Where the server may connect to reach storage (D37): loopback, private, any, or a list of
    # names, addresses and CIDR ranges. See app/storage/egress.py.
    storage_endpoints: str = "private"
    # One wall-clock limit for a connection test (test_before_save), whatever the endpoint does.
    storage_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    # Threads that run connection tests, apart from the ones requests use.
    storage_probe_threads: int = Field(default=4, ge=1, le=64)

    @field_validator("storage_endpoints")
    @classmethod
    def _check_storage_endpoints(cls, value: str) -> str:
        EgressPolicy(value)  # raises, naming the setting, when malformed
        return value

    # The sync engine (app/engine). The scheduler runs due continuous syncs; off, only triggered
    # runs happen. A run's lease lasts lock_ttl_seconds unless its worker renews it (D18, D21).
    scheduler: bool = True
    lock_ttl_seconds: float = Field(default=60.0, ge=3, le=3600)
    # Reads in flight per run, for syncs that set no sync_concurrency; runs at once per engine.
    sync_concurrency: int = Field(default=8, ge=1, le=100)
    engine_max_runs: int = Field(default=4, ge=1, le=64)

    # How long a request may wait, in short asynchronous retries, for another process's write
    # lock on the database before it is answered 503 with Retry-After.
    lock_wait_seconds: float = Field(default=2.5, ge=0)

    # The transport (app/transport.py). A connection must send a request's complete headers
    # within header_timeout of opening (or of its previous answer), and the body within
    # body_timeout of the headers; an idle keep-alive connection is closed after
    # keep_alive_timeout. At most max_connections are open at once (idle ones are closed to
    # make room; past it, requests are answered 503). SIGTERM lets requests in progress finish
    # for up to shutdown_timeout, then cancels them.
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    body_timeout_seconds: float = Field(default=20.0, gt=0)
    keep_alive_timeout_seconds: int = Field(default=5, ge=1)
    max_connections: int = Field(default=512, ge=1)
    shutdown_timeout_seconds: int = Field(default=3, ge=0)
    # Addresses (comma-separated IPs or CIDR networks, or "*") whose X-Forwarded-For and
    # X-Forwarded-Proto are believed. None: no proxy headers are believed from anyone.
    trusted_proxies: str | None = None
