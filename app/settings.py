"""Runtime settings, read once at startup from the environment (and the command line)."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

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
