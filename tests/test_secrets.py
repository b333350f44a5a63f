"""Secrets stay secret: API keys and storage credentials (CONTRACT.md D7, D14, D17).

One real server runs with the access log on and debug logging, and goes through a full scenario,
failing requests included. Afterwards no key is found in plain text in the database, and no key,
Authorization header or storage credential in the server's log or in any answer it gave.
"""

import inspect
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from app.accounts import service as accounts
from tests.conftest import API_KEY
from tests.server_process import EXECUTABLE, ServerProcess, free_port

pytestmark = pytest.mark.e2e

WRONG_KEY = "sk_wrong_key_typed_by_hand_5f3a9c1e7b"
ACCESS_KEY_ID = "AKIAMOCKSECRETID7Q2X"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI-mock-secret-K7MDENG-bPxRfiCY"
SESSION_TOKEN = "FwoGZXIvYXdzEMOCKSESSIONTOKEN-zq81Lp0w"


def s3_config(endpoint_url: str, **credentials: Any) -> dict[str, Any]:
    return {
        "credentials": {
            "type": "access_key",
            "access_key_id": ACCESS_KEY_ID,
            "secret_access_key": SECRET_ACCESS_KEY,
            "session_token": SESSION_TOKEN,
            **credentials,
        },
        "region": "us-east-1",
        "endpoint_url": endpoint_url,
    }


def run_cli(server: ServerProcess, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``mixpeek-mock ARGS`` on the server's database, while the server runs."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MIXPEEK")}
    return subprocess.run(
        [EXECUTABLE, *args, "--database-url", server.database_url],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def create_key(server: ServerProcess) -> str:
    result = run_cli(server, "keys", "create")
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert key.startswith("sk_"), result.stdout
    return key


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(
        tmp_path_factory.mktemp("secrets") / "secrets.db",
        env={"MIXPEEK_MOCK_LOG_LEVEL": "debug"},
        extra_args=("--access-log",),
    )
    with process:
        yield process


@dataclass
class Scenario:
    keys: list[str]  # every key a request carried: the bootstrap one, a CLI one, a wrong one
    credentials: list[str]
    responses: list[httpx2.Response]

    @property
    def secrets(self) -> list[str]:
        return [*self.keys, *self.credentials]


@pytest.fixture(scope="module")
def scenario(server: ServerProcess) -> Scenario:
    """Everything a user does in a session, with the mistakes users make."""
    cli_key = create_key(server)
    responses: list[httpx2.Response] = []

    def collect(response: httpx2.Response) -> None:
        response.read()
        responses.append(response)

    def client(key: str, **headers: str) -> httpx2.Client:
        return httpx2.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {key}", "X-Namespace": "default", **headers},
            event_hooks={"response": [collect]},
            timeout=30,
        )

    def expect(status: int, response: httpx2.Response) -> dict[str, Any]:
        assert response.status_code == status, response.text
        body: dict[str, Any] = response.json()
        return body

    unreachable = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with client(cli_key) as user, client(API_KEY) as bootstrap:
        expect(200, bootstrap.get("/v1/namespaces"))
        expect(200, user.post("/v1/namespaces", json={"namespace_name": "secret-keeping"}))
        bucket = expect(
            200,
            user.post(
                "/v1/buckets",
                json={"bucket_name": "videos", "bucket_schema": {"properties": {}}},
            ),
        )
        connection = expect(
            200,
            user.post(
                "/v1/organizations/connections",
                json={
                    "name": "s3",
                    "provider_type": "s3",
                    "provider_config": s3_config("http://127.0.0.1:9000"),
                    "test_before_save": False,
                },
            ),
        )
        expect(200, user.get(f"/v1/organizations/connections/{connection['connection_id']}"))
        expect(200, user.get("/v1/organizations/connections"))
        expect(200, user.post("/v1/organizations/connections/list"))
        syncs = f"/v1/buckets/{bucket['bucket_id']}/syncs"
        sync = expect(
            200,
            user.post(
                syncs,
                json={"connection_id": connection["connection_id"], "source_path": "in/"},
            ),
        )
        sync_path = f"{syncs}/{sync['sync_config_id']}"
        expect(200, bootstrap.patch(sync_path, json={"description": "nightly", "batch_size": 10}))
        expect(200, user.get(sync_path))
        expect(200, user.post(f"{syncs}/list", json={}))

        # A connection that is tested before it is saved, and cannot be reached.
        failed = expect(
            400,
            user.post(
                "/v1/organizations/connections",
                json={
                    "name": "unreachable",
                    "provider_type": "s3",
                    "provider_config": s3_config(unreachable),
                    "test_before_save": True,
                },
            ),
        )
        assert failed["error"]["code"] == "connection_test_failed"

        # Bodies that fail validation, each with a secret where an echo would show it.
        invalid_connections = [
            s3_config(unreachable, unexpected=SECRET_ACCESS_KEY),
            s3_config(unreachable, access_key_id=ACCESS_KEY_ID + "-" * 200),
            s3_config(unreachable, session_token=[SESSION_TOKEN]),
            {**s3_config(unreachable), "credentials": SECRET_ACCESS_KEY},
            {**s3_config(unreachable), "region": {"token": SESSION_TOKEN}},
        ]
        for provider_config in invalid_connections:
            expect(
                422,
                user.post(
                    "/v1/organizations/connections",
                    json={
                        "name": "invalid",
                        "provider_type": "s3",
                        "provider_config": provider_config,
                        "test_before_save": False,
                    },
                ),
            )
        expect(422, user.patch(sync_path, json={"description": cli_key * 20}))
        expect(422, user.patch(sync_path, json={"batch_size": API_KEY}))
        expect(422, user.patch(sync_path, json={"metadata": cli_key}))
        truncated = f'{{"name": "x", "provider_config": {{"secret": "{SECRET_ACCESS_KEY}"'
        user.post(
            "/v1/organizations/connections",
            content=truncated,
            headers={"Content-Type": "application/json"},
        )
        user.post(
            "/v1/organizations/connections",
            content=f"secret_access_key={SECRET_ACCESS_KEY}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

        # Authentication failures: a wrong key, a real key in a malformed header.
        with client(WRONG_KEY) as stranger:
            expect(401, stranger.get(sync_path))
            expect(401, stranger.patch(sync_path, json={"description": "x"}))
        for header in (f"Token {cli_key}", f"Bearer {cli_key} {API_KEY}", f"Basic {API_KEY}"):
            expect(401, user.get(sync_path, headers={"Authorization": header}))

        # Routing errors, still carrying a key.
        expect(404, user.get("/v1/no-such-route"))
        expect(405, user.put(sync_path, json={"description": "x"}))

        expect(200, user.delete(sync_path))
        expect(200, user.delete(f"/v1/organizations/connections/{connection['connection_id']}"))

    return Scenario(
        keys=[API_KEY, cli_key, WRONG_KEY],
        credentials=[ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN],
        responses=responses,
    )


def test_keys_exist_in_the_database_only_as_hashes(
    server: ServerProcess, scenario: Scenario
) -> None:
    files = [server.database_path, Path(f"{server.database_path}-wal")]
    contents = b"".join(path.read_bytes() for path in files if path.exists())
    assert server.database_path.stat().st_size > 0
    for key in scenario.keys:
        assert key.encode() not in contents, f"{key} is stored in plain text"


def test_the_log_holds_no_key_header_or_credential(
    server: ServerProcess, scenario: Scenario
) -> None:
    log = server.log()
    # The access log is really on, so the search below has something to search.
    assert "PATCH /v1/buckets/" in log, log
    assert " 401" in log, log
    for secret in scenario.secrets:
        assert secret not in log, f"{secret} is in the server log"
    assert "Bearer sk_" not in log


def test_no_answer_carries_a_key_or_credential(scenario: Scenario) -> None:
    assert len(scenario.responses) > 25
    for response in scenario.responses:
        shown = f"{response.headers}\n{response.text}"
        for secret in scenario.secrets:
            assert secret not in shown, (
                f"{response.request.method} {response.request.url} "
                f"answered {response.status_code} with {secret}: {shown}"
            )


def test_keys_are_compared_in_constant_time() -> None:
    assert "hmac.compare_digest(" in inspect.getsource(accounts.find_principal)


def test_a_revoked_key_is_refused_at_once_by_a_running_server(server: ServerProcess) -> None:
    key = create_key(server)
    path = "/v1/namespaces"
    with httpx2.Client(base_url=server.url, timeout=30) as client:
        assert client.get(path, headers={"Authorization": f"Bearer {key}"}).status_code == 200

        revoked = run_cli(server, "keys", "revoke", key)
        assert revoked.returncode == 0, revoked.stderr

        refused = client.get(path, headers={"Authorization": f"Bearer {key}"})
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == "Bearer"
        assert refused.json()["error"]["type"] == "UnauthorizedError"
        # Revoking one key leaves the others working.
        other = client.get(path, headers={"Authorization": f"Bearer {API_KEY}"})
        assert other.status_code == 200


@pytest.mark.parametrize("argument", [(), ("-",)], ids=["no-argument", "dash"])
def test_a_key_given_on_standard_input_is_revoked(
    server: ServerProcess, argument: tuple[str, ...]
) -> None:
    key = create_key(server)
    with httpx2.Client(base_url=server.url, timeout=30) as client:
        headers = {"Authorization": f"Bearer {key}"}
        assert client.get("/v1/namespaces", headers=headers).status_code == 200

        revoked = run_cli(server, "keys", "revoke", *argument, stdin=f"{key}\n")
        assert revoked.returncode == 0, revoked.stderr
        assert key not in revoked.args  # it was never on the command line
        assert key not in revoked.stdout + revoked.stderr

        assert client.get("/v1/namespaces", headers=headers).status_code == 401
        assert (
            client.get("/v1/namespaces", headers={"Authorization": f"Bearer {API_KEY}"}).status_code
            == 200
        )


def test_revoke_with_nothing_on_standard_input_revokes_nothing(server: ServerProcess) -> None:
    result = run_cli(server, "keys", "revoke", stdin="")
    assert result.returncode == 2
    assert "no key given" in result.stderr
