"""The ``mixpeek-mock`` command, run as a user runs it: a subprocess with a clean environment.

Keys are made and revoked against a database a server is serving; the first start of a server
introduces itself once; a key supplied in the environment is never shown; ``--database-url``,
``--port`` and ``PORT`` say where the server keeps its data and listens.
"""

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.conftest import API_KEY
from tests.server_process import EXECUTABLE, ServerProcess, free_port

pytestmark = pytest.mark.e2e

KEY_PATTERN = re.compile(r"sk_[A-Za-z0-9_-]+")
ADMIN_TOKEN_PATTERN = re.compile(r"mma_[A-Za-z0-9_-]+")
SUPPLIED_KEY = "sk_supplied_by_the_operator_0123456789"
# Nothing of the caller's environment leaks in: only what each test sets.
# No other setting, but storage on this machine only: a test's server reaches nothing else.
CLEAN_ENV = {"PATH": os.defpath, "MIXPEEK_MOCK_STORAGE_ENDPOINTS": "loopback"}


class CliServer(ServerProcess):
    """``mixpeek-mock serve`` with a clean environment, run in ``workdir`` (by default the
    database's folder), where its log is kept too.

    ``args`` replaces the usual command line (host, port, database URL, ``extra_args``).
    """

    def __init__(
        self,
        database_path: Path,
        *,
        env: dict[str, str] | None = None,
        extra_args: tuple[str, ...] = (),
        args: list[str] | None = None,
        port: int | None = None,
        workdir: Path | None = None,
    ) -> None:
        super().__init__(database_path, api_key=None, env=env, extra_args=extra_args)
        self.workdir = workdir or database_path.parent
        self.log_path = self.workdir / database_path.with_suffix(".log").name
        if port is not None:
            self.port = port
            self.url = f"http://127.0.0.1:{port}"
        self.args = args

    def environment(self) -> dict[str, str]:
        return {**CLEAN_ENV, **self.extra_env}

    def command(self) -> list[str]:
        if self.args is not None:
            return [EXECUTABLE, "serve", *self.args]
        return [
            EXECUTABLE,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--database-url",
            self.database_url,
            *self.extra_args,
        ]

    def start(self) -> None:
        assert self.process is None, "already running"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environment(),
                cwd=self.workdir,
            )
        self.wait_until_healthy()


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXECUTABLE, *args],
        capture_output=True,
        text=True,
        env={**CLEAN_ENV, **(env or {})},
        cwd=cwd,
        timeout=120,
        check=False,
    )


def create_key(server: ServerProcess, *extra: str) -> str:
    """``keys create`` against the server's database; the one line it prints."""
    result = run_cli(
        "keys",
        "create",
        "--database-url",
        server.database_url,
        *extra,
        cwd=server.database_path.parent,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    assert KEY_PATTERN.fullmatch(lines[0]), result.stdout
    assert result.stdout == lines[0] + "\n"
    return lines[0]


def client(server: ServerProcess, key: str, namespace: str = "default") -> httpx2.Client:
    return httpx2.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {key}", "X-Namespace": namespace},
        timeout=30,
    )


def make_bucket(http: httpx2.Client, name: str) -> dict[str, object]:
    response = http.post(
        "/v1/buckets",
        json={"bucket_name": name, "bucket_schema": {"properties": {"video": {"type": "video"}}}},
    )
    assert response.status_code == 200, response.text
    bucket: dict[str, object] = response.json()
    return bucket


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliServer]:
    """A running server whose first organization has ``API_KEY``, for the ``keys`` commands."""
    database = tmp_path_factory.mktemp("cli") / "mock.db"
    with CliServer(database, env={"MIXPEEK_MOCK_API_KEY": API_KEY}) as process:
        yield process


# --- keys create / revoke ------------------------------------------------------------------


def test_keys_create_prints_one_new_key_that_works_at_once(server: CliServer) -> None:
    with client(server, API_KEY) as http:
        bucket = make_bucket(http, "made-before-the-key")

    key = create_key(server)

    assert key != API_KEY
    with client(server, key) as http:
        response = http.get(f"/v1/buckets/{bucket['bucket_id']}")
    assert response.status_code == 200  # a key of the same organization: it sees its buckets
    assert create_key(server) != key  # every run makes a new one


def test_keys_create_for_a_new_organization_sees_only_its_own_resources(
    server: CliServer,
) -> None:
    with client(server, API_KEY) as http:
        theirs = make_bucket(http, "first-org-bucket")
        first_default = http.get("/v1/namespaces/default").json()

    key = create_key(server, "--organization", "other")

    with client(server, key) as http:
        namespaces = http.get("/v1/namespaces").json()["results"]
        assert [namespace["namespace_name"] for namespace in namespaces] == ["default"]
        assert namespaces[0]["namespace_id"] != first_default["namespace_id"]
        assert http.get("/v1/buckets").json()["results"] == []
        assert http.get(f"/v1/buckets/{theirs['bucket_id']}").status_code == 404
        foreign_namespace = {"X-Namespace": first_default["namespace_id"]}
        assert http.get("/v1/buckets", headers=foreign_namespace).status_code == 404
        ours = make_bucket(http, "other-org-bucket")

    # A second key for the same organization joins it rather than making another.
    same_org_key = create_key(server, "--organization", "other")
    with client(server, same_org_key) as http:
        assert http.get(f"/v1/buckets/{ours['bucket_id']}").status_code == 200
    with client(server, API_KEY) as http:
        assert http.get(f"/v1/buckets/{ours['bucket_id']}").status_code == 404


def test_keys_revoke_refuses_the_key_on_the_very_next_request(server: CliServer) -> None:
    key = create_key(server)

    with client(server, key) as http:  # one kept-alive connection throughout
        assert http.get("/v1/buckets").status_code == 200

        revoked = run_cli(
            "keys",
            "revoke",
            key,
            "--database-url",
            server.database_url,
            cwd=server.database_path.parent,
        )
        assert revoked.returncode == 0, revoked.stderr
        assert key not in revoked.stdout + revoked.stderr

        response = http.get("/v1/buckets")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["type"] == "UnauthorizedError"

    with client(server, API_KEY) as http:
        assert http.get("/v1/buckets").status_code == 200  # other keys are untouched
    again = run_cli(
        "keys",
        "revoke",
        key,
        "--database-url",
        server.database_url,
        cwd=server.database_path.parent,
    )
    assert again.returncode != 0
    assert key not in again.stdout + again.stderr


# --- bootstrap ---------------------------------------------------------------------------------


def test_first_start_prints_a_key_the_namespace_and_a_curl_line_once(tmp_path: Path) -> None:
    server = CliServer(tmp_path / "mock.db")
    with server:
        first_start = server.log()
        keys = KEY_PATTERN.findall(first_start)
        assert len(set(keys)) == 1, first_start
        key = keys[0]
        assert "namespace: default" in first_start
        curl = [line for line in first_start.splitlines() if "curl" in line]
        assert len(curl) == 1, first_start
        assert f"Bearer {key}" in curl[0]
        assert "X-Namespace: default" in curl[0]
        assert f"{server.url}/v1/buckets" in curl[0]
        with client(server, key) as http:
            assert http.get("/v1/buckets").status_code == 200

        server.restart()

        second_start = server.log()[len(first_start) :]
        assert "Uvicorn running" in second_start or "Application startup" in second_start
        assert KEY_PATTERN.search(second_start) is None, second_start
        assert "curl" not in second_start
        with client(server, key) as http:
            assert http.get("/v1/buckets").status_code == 200


def test_first_start_prints_an_admin_token_once_that_opens_the_admin_api_alone(
    tmp_path: Path,
) -> None:
    server = CliServer(tmp_path / "mock.db")
    with server:
        first_start = server.log()
        tokens = ADMIN_TOKEN_PATTERN.findall(first_start)
        assert len(tokens) == 1, first_start
        token = tokens[0]
        key = KEY_PATTERN.findall(first_start)[0]
        with client(server, token) as http:
            assert http.get("/_mock/clock").status_code == 200
            assert http.get("/v1/buckets").status_code == 401  # no API key
        with client(server, key) as http:
            assert http.get("/_mock/clock").status_code == 401  # an API key opens no admin API

        server.restart()

        second_start = server.log()[len(first_start) :]
        assert ADMIN_TOKEN_PATTERN.search(second_start) is None, second_start
        with client(server, token) as http:
            assert http.get("/_mock/clock").status_code == 200


def test_a_configured_admin_token_is_never_shown_and_none_is_generated(tmp_path: Path) -> None:
    configured = "mma_configured_token_for_this_test"
    server = CliServer(tmp_path / "mock.db", env={"MIXPEEK_MOCK_ADMIN_TOKEN": configured})
    with server, client(server, configured) as http:
        assert http.get("/_mock/clock").status_code == 200
    log = server.log()
    assert configured not in log
    assert ADMIN_TOKEN_PATTERN.search(log) is None, log


def test_a_supplied_key_is_never_shown_and_keeps_working_over_restarts(tmp_path: Path) -> None:
    server = CliServer(
        tmp_path / "mock.db",
        env={"MIXPEEK_MOCK_API_KEY": SUPPLIED_KEY},
        extra_args=("--access-log",),
    )
    with server:
        with client(server, SUPPLIED_KEY) as http:
            bucket = make_bucket(http, "kept")
            assert http.get("/v1/buckets/nope").status_code == 404
        for _ in range(2):
            server.restart()
            with client(server, SUPPLIED_KEY) as http:
                response = http.get(f"/v1/buckets/{bucket['bucket_id']}")
                assert response.status_code == 200  # the same organization every time

    log = server.log()
    assert "GET /v1/buckets" in log  # the access log was on, and still no key in it
    assert SUPPLIED_KEY not in log
    assert KEY_PATTERN.search(log) is None  # and no other key was generated and shown


# --- where it keeps its data, and where it listens ----------------------------------------------


def test_database_url_option_wins_over_the_environment(tmp_path: Path) -> None:
    chosen = tmp_path / "nested" / "chosen.db"
    from_env = tmp_path / "from-env.db"
    server = CliServer(
        chosen,
        env={
            "MIXPEEK_MOCK_API_KEY": API_KEY,
            "MIXPEEK_MOCK_DATABASE_URL": f"sqlite:///{from_env}",
        },
        workdir=tmp_path,
    )
    with server, client(server, API_KEY) as http:
        make_bucket(http, "stored-in-the-chosen-file")

    assert chosen.exists()  # its folder made on the way
    assert not from_env.exists()
    assert not (tmp_path / "mixpeek-mock.db").exists()  # nor the default file
    # The data is in the chosen file: a server started on it alone finds the bucket.
    again = CliServer(chosen, env={"MIXPEEK_MOCK_API_KEY": API_KEY}, workdir=tmp_path)
    with again, client(again, API_KEY) as http:
        names = [bucket["bucket_name"] for bucket in http.get("/v1/buckets").json()["results"]]
    assert names == ["stored-in-the-chosen-file"]


def test_port_comes_from_the_port_environment_variable(tmp_path: Path) -> None:
    port = free_port()
    database_url = f"sqlite:///{tmp_path / 'mock.db'}"
    server = CliServer(
        tmp_path / "mock.db",
        env={"PORT": str(port), "MIXPEEK_MOCK_API_KEY": API_KEY},
        args=["--host", "127.0.0.1", "--database-url", database_url],
        port=port,
    )
    with server:  # healthy means it answered on $PORT
        assert httpx2.get(f"http://127.0.0.1:{port}/v1/health", timeout=10).status_code == 200


def test_the_port_option_wins_over_the_port_variable(tmp_path: Path) -> None:
    port, ignored = free_port(), free_port()
    database_url = f"sqlite:///{tmp_path / 'mock.db'}"
    server = CliServer(
        tmp_path / "mock.db",
        env={"PORT": str(ignored), "MIXPEEK_MOCK_API_KEY": API_KEY},
        args=["--host", "127.0.0.1", "--port", str(port), "--database-url", database_url],
        port=port,
    )
    with server, pytest.raises(httpx2.ConnectError):  # healthy on --port, nothing on $PORT
        httpx2.get(f"http://127.0.0.1:{ignored}/v1/health", timeout=5)


@pytest.mark.parametrize("command", [("serve",), ("keys", "list")])
def test_an_unreachable_postgresql_server_is_one_line_without_the_password(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://mixpeek:hunter2-secret@127.0.0.1:{port}/mixpeek"
    result = run_cli(*command, "--database-url", url, cwd=tmp_path)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    message = result.stderr.strip()
    assert message.startswith("mixpeek-mock: cannot use the database postgresql://mixpeek:***@")
    assert len(message.splitlines()) == 1
    assert "hunter2" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("command", "database_url"),
    [
        (("serve",), "mongodb://user@localhost/mixpeek"),
        (("keys", "create"), "mysql://localhost/mixpeek"),
        (("serve",), "sqlite:///:memory:"),
    ],
)
def test_an_unsupported_database_url_exits_with_a_clear_message(
    tmp_path: Path, command: tuple[str, ...], database_url: str
) -> None:
    result = run_cli(*command, "--database-url", database_url, cwd=tmp_path)

    assert result.returncode != 0
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    message = result.stderr.strip()
    assert message.startswith("mixpeek-mock: ")
    assert len(message.splitlines()) == 1
    if database_url.startswith("sqlite"):
        assert "file path" in message
    else:
        assert "Unsupported database URL" in message
        assert "sqlite:///" in message
    assert list(tmp_path.iterdir()) == []  # nothing was created
