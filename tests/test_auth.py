"""Authentication (CONTRACT.md D7, D17).

Every route but health and the spec needs ``Authorization: Bearer <key>``. A request without a
live key is a 401 ``UnauthorizedError`` with ``WWW-Authenticate: Bearer``, decided before anything
else about the request: whether the route, bucket or sync exists, and whether the body is valid.
"""

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from app import cli
from app.accounts import service as accounts
from app.bootstrap import bootstrap, prepare_database
from app.db.database import POSTGRESQL, Database, backend_of
from app.db.migrate import upgrade_to_head
from app.errors import MSG_INVALID_KEY, MSG_MALFORMED_AUTH, MSG_MISSING_KEY
from app.main import create_app
from app.settings import Settings
from tests.conftest import API_KEY, Api, empty_database_url
from tests.postgres import PostgresServer

UNKNOWN_KEY = "sk_this_key_was_never_issued_0123456789"


@pytest.fixture(scope="module")
def shared_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the tests that only read or are refused: they change nothing to share."""
    path = tmp_path_factory.mktemp("auth") / "mock.db"
    settings = Settings(database_url=f"sqlite:///{path}", api_key=API_KEY)
    database = Database.open(settings.database_url)
    try:
        prepare_database(database, settings)
    finally:
        database.close()
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def wait_out_the_key_cache(backend: str) -> None:
    """Instances sharing PostgreSQL remember a key for a moment (D35: a revoked key is refused
    within a second); on SQLite the very next request is refused."""
    if backend == POSTGRESQL:
        time.sleep(accounts.SHARED_KEY_CACHE_SECONDS)


def assert_unauthorized(response: Any, message: str | None = None) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body == {
        "success": False,
        "status": 401,
        "error": {
            "type": "UnauthorizedError",
            "message": body["error"]["message"],
            "code": None,
            "details": None,
        },
    }
    if message is not None:
        assert body["error"]["message"] == message


# (Authorization header or None, the message the caller gets)
BAD_CREDENTIALS = [
    pytest.param(None, MSG_MISSING_KEY, id="missing"),
    pytest.param("", MSG_MISSING_KEY, id="empty"),
    pytest.param("Basic x", MSG_MALFORMED_AUTH, id="basic-scheme"),
    pytest.param("Bearer", MSG_MALFORMED_AUTH, id="bearer-without-key"),
    pytest.param("Bearer ", MSG_MALFORMED_AUTH, id="bearer-blank-key"),
    pytest.param("Bearer a b", MSG_MALFORMED_AUTH, id="bearer-two-words"),
    pytest.param("sk_only", MSG_MALFORMED_AUTH, id="key-without-scheme"),
    pytest.param(f"Token {API_KEY}", MSG_MALFORMED_AUTH, id="valid-key-wrong-scheme"),
    pytest.param(f"Bearer {UNKNOWN_KEY}", MSG_INVALID_KEY, id="unknown-key"),
    pytest.param(f"Bearer {API_KEY}x", MSG_INVALID_KEY, id="valid-key-with-extra-char"),
]


def _headers(authorization: str | None) -> dict[str, str]:
    headers = {"X-Namespace": "default"}
    if authorization is not None:
        headers["Authorization"] = authorization
    return headers


@pytest.mark.parametrize(("authorization", "message"), BAD_CREDENTIALS)
def test_a_request_without_a_live_key_is_401(
    shared_client: TestClient, authorization: str | None, message: str
) -> None:
    response = shared_client.get("/v1/buckets", headers=_headers(authorization))
    assert_unauthorized(response, message)


# Requests that would fail in some other way with a good key: auth is decided first.
REQUESTS_THAT_FAIL_LATER = [
    pytest.param("GET", "/v1/buckets/bkt_missing/syncs/sync_missing", {}, id="missing-sync"),
    pytest.param("GET", "/v1/buckets/bkt_missing", {}, id="missing-bucket"),
    pytest.param("DELETE", "/v1/namespaces/ns_missing", {}, id="missing-namespace"),
    pytest.param("GET", "/v1/organizations/connections/conn_missing", {}, id="missing-connection"),
    pytest.param(
        "PATCH",
        "/v1/buckets/bkt_missing/syncs/sync_missing",
        {"json": {"polling_interval_seconds": "soon", "no_such_field": 1}},
        id="invalid-patch-body",
    ),
    pytest.param("POST", "/v1/buckets", {"json": {}}, id="invalid-create-body"),
    pytest.param(
        "POST", "/v1/namespaces", {"content": b"{not json", "headers": {}}, id="malformed-json"
    ),
    pytest.param(
        "POST",
        "/v1/namespaces",
        {"content": b"name=x", "headers": {"Content-Type": "text/plain"}},
        id="unsupported-media-type",
    ),
    pytest.param(
        "POST",
        "/v1/namespaces",
        {"content": b"{}" + b" " * (2 * 1024 * 1024)},
        id="body-too-large",
    ),
    pytest.param("PUT", "/v1/buckets/bkt_missing/syncs/sync_missing", {}, id="wrong-method"),
    pytest.param("GET", "/v1/no/such/route", {}, id="unknown-route"),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), REQUESTS_THAT_FAIL_LATER)
@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no-key"),
        pytest.param("Bearer a b", id="malformed"),
        pytest.param(f"Bearer {UNKNOWN_KEY}", id="unknown-key"),
    ],
)
def test_authentication_is_checked_before_anything_else(
    shared_client: TestClient,
    authorization: str | None,
    method: str,
    path: str,
    kwargs: dict[str, Any],
) -> None:
    headers = {**_headers(authorization), **kwargs.get("headers", {})}
    extra = {name: value for name, value in kwargs.items() if name != "headers"}
    response = shared_client.request(method, path, headers=headers, **extra)
    assert_unauthorized(response)


def test_a_request_without_a_namespace_is_still_401_first(shared_client: TestClient) -> None:
    response = shared_client.get("/v1/buckets", headers={"Authorization": f"Bearer {UNKNOWN_KEY}"})
    assert_unauthorized(response, MSG_INVALID_KEY)


@pytest.mark.parametrize("path", ["/v1/health", "/docs", "/redoc"])
def test_health_and_the_docs_need_no_key(shared_client: TestClient, path: str) -> None:
    response = shared_client.get(path)
    assert response.status_code == 200, response.text


def test_health_answers_ok_without_a_key(shared_client: TestClient) -> None:
    response = shared_client.get("/v1/health")
    assert response.status_code == 200
    assert response.json()["status"] == "OK"


def test_the_openapi_document_needs_no_key(shared_client: TestClient) -> None:
    response = shared_client.get("/openapi.json")
    assert response.status_code == 200, response.text
    spec = response.json()
    assert spec["openapi"].startswith("3.")
    assert "/v1/buckets/{bucket_id}/syncs/{sync_config_id}" in spec["paths"]


def test_public_paths_accept_a_bad_key_too(shared_client: TestClient) -> None:
    # A stale key in a client's default headers must not break its health checks.
    response = shared_client.get("/v1/health", headers={"Authorization": f"Bearer {UNKNOWN_KEY}"})
    assert response.status_code == 200


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_scheme_is_case_insensitive(shared_client: TestClient, scheme: str) -> None:
    response = shared_client.get(
        "/v1/buckets", headers={"Authorization": f"{scheme} {API_KEY}", "X-Namespace": "default"}
    )
    assert response.status_code == 200, response.text


def test_the_key_itself_is_case_sensitive(shared_client: TestClient) -> None:
    response = shared_client.get(
        "/v1/buckets",
        headers={"Authorization": f"Bearer {API_KEY.upper()}", "X-Namespace": "default"},
    )
    assert_unauthorized(response, MSG_INVALID_KEY)


def test_a_revoked_key_is_refused_at_once_on_sqlite_and_soon_after_on_postgresql(
    client: TestClient, database: Database, backend: str
) -> None:
    organization = accounts.first_organization(database)
    assert organization is not None
    key = accounts.create_key(database, organization)
    api = Api(client, key)
    assert api.get("/v1/buckets").status_code == 200

    assert accounts.revoke_key(database, key)

    wait_out_the_key_cache(backend)
    assert_unauthorized(api.get("/v1/buckets"), MSG_INVALID_KEY)
    assert_unauthorized(api.get("/v1/namespaces"), MSG_INVALID_KEY)


def test_servers_starting_together_on_one_new_database_make_one_organization(
    backend: str, tmp_path: Path, postgres_server: PostgresServer | None
) -> None:
    """Each server bootstraps at start: on one new database (replicas of a compose file),
    the organization and its key are made once, whichever starts first."""
    with empty_database_url(backend, tmp_path, postgres_server) as url:
        settings = Settings(database_url=url, api_key=API_KEY)
        first = Database.open(url)
        upgrade_to_head(first, url)  # as the first server to start leaves it
        first.close()
        starting = threading.Barrier(4)

        def start() -> accounts.Organization:
            database = Database.open(url)
            try:
                starting.wait()
                return bootstrap(database, settings).organization
            finally:
                database.close()

        with ThreadPoolExecutor(4) as pool:
            organizations = list(pool.map(lambda _: start(), range(4)))
        database = Database.open(url)
        try:
            assert database.scalar("SELECT count(*) FROM organizations") == 1
            assert database.scalar("SELECT count(*) FROM api_keys") == 1
        finally:
            database.close()
        assert len(set(organizations)) == 1


class _NoChangeCounter:
    """Stands in for PostgreSQL in PrincipalCache: no data_version, key lookups counted."""

    def __init__(self, principal: accounts.Principal | None) -> None:
        self.principal = principal
        self.lookups = 0

    def data_version(self) -> None:
        return None

    def one(self, sql: str, params: Any) -> dict[str, str] | None:
        self.lookups += 1
        if self.principal is None:
            return None
        return {
            "key_hash": params[0],
            "internal_id": self.principal.internal_id,
            "user_id": self.principal.user_id,
        }


def test_without_a_change_counter_a_key_is_remembered_for_the_cache_time_only() -> None:
    now = [100.0]
    cache = accounts.PrincipalCache(now=lambda: now[0])
    database = _NoChangeCounter(accounts.Principal(internal_id="int_a", user_id="usr_a"))
    db: Any = database

    assert cache.lookup(db, API_KEY) == database.principal
    now[0] += accounts.SHARED_KEY_CACHE_SECONDS / 2
    assert cache.lookup(db, API_KEY) == database.principal
    assert database.lookups == 1  # remembered

    database.principal = None  # revoked elsewhere
    now[0] += accounts.SHARED_KEY_CACHE_SECONDS / 2
    assert cache.lookup(db, API_KEY) is None
    assert cache.lookup(db, "sk_another_key_0123456789abcdef") is None
    assert database.lookups == 3  # looked up again; unknown keys are never remembered


def test_revoking_one_key_leaves_the_others_working(
    api: Api, client: TestClient, database: Database
) -> None:
    organization = accounts.first_organization(database)
    assert organization is not None
    second = accounts.create_key(database, organization)

    assert accounts.revoke_key(database, second)

    assert api.get("/v1/buckets").status_code == 200


def test_keys_of_one_organization_see_the_same_resources(
    api: Api, client: TestClient, database: Database
) -> None:
    organization = accounts.first_organization(database)
    assert organization is not None
    colleague = Api(client, accounts.create_key(database, organization))
    bucket = api.make_bucket("shared")

    assert colleague.ok("GET", f"/v1/buckets/{bucket['bucket_id']}") == bucket


def test_what_a_key_creates_belongs_to_its_organization_and_user(
    api: Api, database: Database
) -> None:
    organization = accounts.first_organization(database)
    assert organization is not None
    connection = api.make_connection()
    assert connection["internal_id"] == organization.internal_id
    assert connection["created_by_user_id"] == organization.user_id


def test_keys_never_appear_in_the_log(
    client: TestClient, api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api.get("/v1/buckets")
    client.get("/v1/buckets", headers={"Authorization": f"Bearer {UNKNOWN_KEY}"})
    assert API_KEY not in caplog.text
    assert UNKNOWN_KEY not in caplog.text


def test_keys_are_stored_only_as_a_hash(api: Api, settings: Settings, tmp_path: Path) -> None:
    api.make_bucket()  # the key has been used and the database written
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("mock.db*"))
    assert API_KEY.encode() not in stored


def test_keys_create_prints_one_working_key_once(
    client: TestClient, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["keys", "create", "--database-url", settings.database_url]) == 0
    printed = capsys.readouterr()
    key = printed.out.strip()
    assert key.startswith("sk_")
    assert "\n" not in key
    assert key not in printed.err

    assert Api(client, key).get("/v1/buckets").status_code == 200

    # It is not shown again by anything that follows.
    assert cli.main(["keys", "create", "--database-url", settings.database_url]) == 0
    assert key not in capsys.readouterr().out


def test_keys_revoke_refuses_the_key(
    client: TestClient, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["keys", "create", "--database-url", settings.database_url]) == 0
    key = capsys.readouterr().out.strip()
    api = Api(client, key)
    assert api.get("/v1/buckets").status_code == 200

    assert cli.main(["keys", "revoke", key, "--database-url", settings.database_url]) == 0
    assert key not in capsys.readouterr().out

    wait_out_the_key_cache(backend_of(settings.database_url))
    assert_unauthorized(api.get("/v1/buckets"), MSG_INVALID_KEY)
    assert cli.main(["keys", "revoke", key, "--database-url", settings.database_url]) == 1


def test_a_supplied_key_is_never_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'fresh.db'}", api_key=API_KEY)
    database = Database.open(settings.database_url)
    try:
        result = prepare_database(database, settings)
    finally:
        database.close()

    assert result.generated_key is None
    captured = capsys.readouterr()
    assert API_KEY not in captured.out + captured.err + caplog.text
