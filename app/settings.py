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
