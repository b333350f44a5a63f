"""Fixtures: every test gets its own database, an app built on it, and clients.

Every test that takes ``settings`` (and so ``app``, ``client``, ``api``, ``database``, ...)
runs twice, on each backend (CONTRACT.md D34): ``[sqlite]`` on its own file, copied from one
migrated per session; ``[postgresql]`` on its own database, made from a template database
migrated once per session (``CREATE DATABASE ... TEMPLATE``) and dropped after the test. The
PostgreSQL server is ``MIXPEEK_MOCK_TEST_POSTGRES_URL`` (any database on it that the user can
connect to; the tests create and drop their own beside it), or by default
``postgresql://postgres@127.0.0.1:5432/test`` when that answers. With the variable set, a server
that cannot be reached fails the PostgreSQL half; without it, the half is skipped.

Data is built through the public API (``Api`` below), the way a user would build it.

Every server the tests build or start may reach storage on this machine only
(``MIXPEEK_MOCK_STORAGE_ENDPOINTS=loopback``, D37): nothing a test sends, fuzzed bodies
included, can make it connect anywhere else.
"""

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from app.accounts import service as accounts
from app.bootstrap import prepare_database
from app.db.database import Database, SQLiteDatabase
from app.main import create_app
from app.settings import Settings
from tests.postgres import PostgresServer, ReusedDatabase, postgres_server_missing

# pytester: tests/test_pytest_plugin.py runs pytest on example suites.
pytest_plugins = ["pytester"]

API_KEY = "sk_test_primary_key_0123456789abcdef"
# The admin API's token (D28) on every server under test.
ADMIN_TOKEN = "mma_test_admin_token_0123456789abcdef"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# For every Settings() built in this process, and every process it starts with its environment.
TEST_STORAGE_ENDPOINTS = "loopback"
os.environ["MIXPEEK_MOCK_STORAGE_ENDPOINTS"] = TEST_STORAGE_ENDPOINTS
# No run starts by time in a test unless the test is about the scheduler (it turns it on).
os.environ["MIXPEEK_MOCK_SCHEDULER"] = "off"
# A connection test that fails answers at its deadline: keep the tests' deadline short.
TEST_STORAGE_TIMEOUT_SECONDS = 1.0


def server_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for a server under test: loopback egress, a short storage deadline."""
    return Settings(
        database_url=database_url,
        api_key=API_KEY,
        admin_token=ADMIN_TOKEN,
        storage_endpoints=TEST_STORAGE_ENDPOINTS,
        storage_timeout_seconds=TEST_STORAGE_TIMEOUT_SECONDS,
        scheduler=False,
        **overrides,
    )


def s3_connection_body(
    name: str, *, endpoint_url: str = "http://127.0.0.1:9000", test_before_save: bool = False
) -> dict[str, Any]:
    """A create-connection body for an S3-compatible store with MinIO's default key."""
    return {
        "name": name,
        "provider_type": "s3",
        "provider_config": {
            "credentials": {
                "type": "access_key",
                "access_key_id": "minioadmin",
                "secret_access_key": "minioadmin-secret",
            },
            "region": "us-east-1",
            "endpoint_url": endpoint_url,
        },
        "test_before_save": test_before_save,
    }


class Api:
    """A test client with a key and namespace, and factories for the resources tests need."""

    def __init__(self, client: TestClient, key: str, namespace: str = "default") -> None:
        self.client = client
        self.key = key
        self.namespace = namespace

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", "X-Namespace": self.namespace, **extra}

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self.headers(), **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.request(method, path, **kwargs)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def make_namespace(self, name: str) -> dict[str, Any]:
        return self.ok("POST", "/v1/namespaces", json={"namespace_name": name})

    def make_bucket(self, name: str = "videos", namespace: str | None = None) -> dict[str, Any]:
        headers = {"X-Namespace": namespace} if namespace else {}
        return self.ok(
            "POST",
            "/v1/buckets",
            json={
                "bucket_name": name,
                "bucket_schema": {"properties": {"video": {"type": "video"}}},
            },
            headers=headers,
        )

    def make_connection(self, name: str = "minio") -> dict[str, Any]:
        return self.ok("POST", "/v1/organizations/connections", json=s3_connection_body(name))

    def make_sync(
        self, bucket: dict[str, Any], connection: dict[str, Any], **fields: Any
    ) -> dict[str, Any]:
        body = {"connection_id": connection["connection_id"], "source_path": "media/in", **fields}
        return self.ok("POST", f"/v1/buckets/{bucket['bucket_id']}/syncs", json=body)

    def sync_path(self, sync: dict[str, Any]) -> str:
        return f"/v1/buckets/{sync['bucket_id']}/syncs/{sync['sync_config_id']}"


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database migrated and bootstrapped once per session; each test starts from a copy
    (running the migrations for every test would cost more than most tests do)."""
    path = tmp_path_factory.mktemp("template") / "mock.db"
    settings = server_settings(f"sqlite:///{path}")
    database = Database.open(settings.database_url)
    assert isinstance(database, SQLiteDatabase)
    try:
        prepare_database(database, settings)
        database.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        database.close()
    return path


BACKENDS = ("sqlite", "postgresql")


def dump_database(database: Database) -> str:
    """Every table's rows (and, on SQLite, schema) as text, to compare before and after."""
    if isinstance(database, SQLiteDatabase):
        return "\n".join(database.conn.iterdump())
    tables = database.column(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = current_schema() ORDER BY table_name"
    )
    return "\n".join(
        f"{table}: {sorted(row.items())!r}"
        for table in tables
        for row in database.all(f'SELECT * FROM "{table}" ORDER BY 1')
    )


@contextlib.contextmanager
def empty_database_url(
    backend: str, folder: Path, postgres_server: "PostgresServer | None"
) -> Iterator[str]:
    """A new, empty database on ``backend`` (a file in ``folder``, or a PostgreSQL database
    dropped afterwards), for fixtures wider than one test."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'mock.db'}"
        return
    if postgres_server is None:
        pytest.skip(postgres_server_missing())
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer | None:
    """The PostgreSQL server the tests make their databases on (see the module docstring)."""
    return PostgresServer.from_environment()


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer | None) -> Iterator[str]:
    """A PostgreSQL database migrated and bootstrapped once per session (per xdist worker),
    the template each test's database is copied from; dropped at the end."""
    if postgres_server is None:
        pytest.skip(postgres_server_missing())
    name = postgres_server.create_database()
    url = postgres_server.url(name)
    settings = server_settings(url)
    database = Database.open(url)
    try:
        prepare_database(database, settings)
    finally:
        database.close()
    yield name
    postgres_server.drop_database(name)


@pytest.fixture(scope="session")
def reused_postgres_database(
    postgres_server: PostgresServer | None, postgres_template: str
) -> Iterator[ReusedDatabase]:
    """The database this worker's tests take turns on (tests/postgres.py); dropped at the end."""
    assert postgres_server is not None
    reused = ReusedDatabase(postgres_server, postgres_template)
    yield reused
    reused.drop()


@pytest.fixture
def postgres_database_url(reused_postgres_database: ReusedDatabase) -> str:
    """A PostgreSQL database of this test's own while it runs, migrated and bootstrapped: the
    template's rows and nothing else."""
    return reused_postgres_database.fresh()


@dataclass(frozen=True)
class ServedDatabase:
    """A new, empty database for a module's server process (tests/server_process.py): on
    SQLite the file ``path``; on PostgreSQL ``url``, and ``path`` only names the server's log."""

    path: Path
    url: str


@pytest.fixture(scope="module", params=BACKENDS)
def served_database(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: PostgresServer | None,
) -> Iterator[ServedDatabase]:
    """Once per module and backend: the database a module's ``server`` fixture serves."""
    folder = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    with empty_database_url(request.param, folder, postgres_server) as url:
        yield ServedDatabase(folder / "mock.db", url)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend of this test's database: every test that has a database runs on both."""
    backend: str = request.param
    return backend


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """This test's own database, migrated and bootstrapped, on the test's backend."""
    if backend == "postgresql":
        url: str = request.getfixturevalue("postgres_database_url")
        return url
    template: Path = request.getfixturevalue("migrated_template")
    path = tmp_path / "mock.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return server_settings(database_url)


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client, API_KEY)


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    """A second connection to the test's database, for looking under the API."""
    db = Database.open(settings.database_url)
    yield db
    db.close()


@pytest.fixture
def other_org(client: TestClient, database: Database) -> Api:
    """A client of a second organization, with its own key and ``default`` namespace."""
    organization = accounts.create_organization(database, name="other")
    return Api(client, accounts.create_key(database, organization))


@pytest.fixture
def sync(api: Api) -> dict[str, Any]:
    """A sync configuration with every setting at its default."""
    return api.make_sync(api.make_bucket(), api.make_connection())


# A real S3 wire protocol (moto's server) for the engine's tests; imported last, since it
# builds on the names above.
# A source bucket in moto, a connection to it and a bucket of ours (tests/objects_support.py).
from tests.objects_support import store  # noqa: E402, F401
from tests.s3 import s3  # noqa: E402, F401
