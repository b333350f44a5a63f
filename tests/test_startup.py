"""Starting and stopping ``mixpeek-mock serve``, and the first hour's command line, as a user
meets them: real processes with a clean environment.

A signal stops a start at any point; a database the process cannot write, a port that cannot
be used and a malformed setting each end in one line and a non-zero exit, before anything is
created; what a start prints can be pasted as it is.
"""

import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from alembic import command

from app.db.migrate import SCHEMA_REVISION, alembic_config, current_revision
from app.settings import Settings, environment_variable
from tests.conftest import API_KEY
from tests.server_process import EXECUTABLE, free_port
from tests.test_cli import CLEAN_ENV, KEY_PATTERN, CliServer, client, run_cli

pytestmark = pytest.mark.e2e

START_TIMEOUT_S = 30.0


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single line a refused command printed on stderr (and nothing on stdout)."""
    assert result.returncode not in (0, None), result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mixpeek-mock"), lines[0]
    return lines[0]


def serve(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "serve", *args, cwd=tmp_path, env={"MIXPEEK_MOCK_SCHEDULER": "off", **(env or {})}
    )


def nothing_listens(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# --- signals from the first instant ---------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("after", ["spawn", "key", "key+0.15s", "key+0.4s", "healthy"])
def test_a_signal_at_any_point_of_a_start_stops_the_server_and_its_engine(
    tmp_path: Path, sig: signal.Signals, after: str
) -> None:
    port = free_port()
    process = subprocess.Popen(
        [EXECUTABLE, "serve", "--port", str(port), "--database-url", f"sqlite:///{tmp_path}/m.db"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # The scheduler on: the engine process starts with the server and must stop with it.
        env={
            **CLEAN_ENV,
            "MIXPEEK_MOCK_SCHEDULER": "on",
            "MIXPEEK_MOCK_STORAGE_ENDPOINTS": "loopback",
        },
        cwd=tmp_path,
    )
    assert process.stdout is not None
    output = ""
    if after != "spawn":
        while "API key" not in output:
            line = process.stdout.readline()
            assert line, output
            output += line
        if after.startswith("key+"):
            time.sleep(float(after.removeprefix("key+").removesuffix("s")))
        elif after == "healthy":
            deadline = time.monotonic() + START_TIMEOUT_S
            while time.monotonic() < deadline:
                try:
                    if (
                        httpx2.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code
                        == 200
                    ):
                        break
                except httpx2.HTTPError:
                    time.sleep(0.05)
    children = children_of(process.pid)

    process.send_signal(sig)

    status = process.wait(timeout=20)
    output += process.stdout.read()
    process.stdout.close()
    # 0 after a graceful stop, 128 + the signal when start-up was cut short, or killed by it
    # before Python had started (nothing was done yet).
    if status == 1 and "Fatal Python error: init_import_site" in output:
        # A SIGINT that lands while the interpreter itself is still starting (importing
        # ``site``, before any line of this program runs) ends it with CPython's own message:
        # no program can handle it, and nothing was made yet.
        assert sig == signal.SIGINT, output
        assert "KeyboardInterrupt" in output, output
        assert not (tmp_path / "m.db").exists(), output
    else:
        assert status in (0, 128 + sig, -sig), output
        assert "Traceback" not in output, output
    assert nothing_listens(port)
    deadline = time.monotonic() + 5
    while any(alive(child) for child in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [child for child in children if alive(child)], output


def test_ctrl_c_during_a_migration_stops_the_migration_too(tmp_path: Path) -> None:
    # A database below head (a new one is made from the schema snapshot, with no child).
    command.upgrade(alembic_config(f"sqlite:///{tmp_path}/m.db"), "0002_sync_runs")
    process = subprocess.Popen(
        [EXECUTABLE, "serve", "--port", "0", "--database-url", f"sqlite:///{tmp_path}/m.db"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**CLEAN_ENV, "MIXPEEK_MOCK_SCHEDULER": "off"},
        cwd=tmp_path,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    children: list[int] = []
    while not children and time.monotonic() < deadline:  # the migration child has started
        children = children_of(process.pid)
        time.sleep(0.005)
    assert children, "no migration child started"
    process.send_signal(signal.SIGINT)
    _, errors = process.communicate(timeout=20)
    assert process.returncode in (0, 130)
    assert "Traceback" not in errors
    assert not [child for child in children if alive(child)]
    # The migration happened entirely or not at all (one transaction).
    with sqlite3.connect(tmp_path / "m.db") as conn:
        revision = current_revision(conn)
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    assert revision in ("0002_sync_runs", SCHEMA_REVISION)
    assert ("sync_configurations" in tables) == (revision == "0002_sync_runs")
    assert ("sync_config" in tables) == (revision == SCHEMA_REVISION)


# --- a database this process cannot write ------------------------------------------------------


def _chattr(flag: str, path: Path) -> bool:
    chattr = shutil.which("chattr")
    if chattr is None:
        return False
    return (
        subprocess.run([chattr, flag, str(path)], capture_output=True, check=False).returncode == 0
    )


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[list[Path]]:
    """Paths made immutable with ``chattr +i`` (even root cannot write them), undone after."""
    paths: list[Path] = []
    yield paths
    for path in paths:
        _chattr("-i", path)


def existing_database(folder: Path) -> Path:
    path = folder / "mock.db"
    result = run_cli("keys", "create", "--database-url", f"sqlite:///{path}", cwd=folder)
    assert result.returncode == 0, result.stderr
    return path


def test_a_folder_where_the_file_should_be_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mock.db").mkdir()
    line = one_line_error(serve(tmp_path, "--database-url", f"sqlite:///{tmp_path}/mock.db"))
    assert f"{tmp_path}/mock.db" in line
    assert "is a folder" in line


def test_a_path_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("a file")
    url = f"sqlite:///{tmp_path}/notes.txt/mock.db"
    line = one_line_error(serve(tmp_path, "--database-url", url))
    assert f"{tmp_path}/notes.txt/mock.db" in line
    assert "is a file, not a folder" in line


def test_a_read_only_database_file_is_refused_not_served(
    tmp_path: Path, immutable: list[Path]
) -> None:
    path = existing_database(tmp_path)
    if not _chattr("+i", path):
        pytest.skip("chattr +i is not available on this file system")
    immutable.append(path)
    port = free_port()

    line = one_line_error(
        serve(tmp_path, "--port", str(port), "--database-url", f"sqlite:///{path}")
    )

    assert str(path) in line
    assert "readonly" in line or "read-only" in line
    assert nothing_listens(port)


def test_a_read_only_folder_for_a_new_database_is_refused(
    tmp_path: Path, immutable: list[Path]
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    if not _chattr("+i", folder):
        pytest.skip("chattr +i is not available on this file system")
    immutable.append(folder)

    line = one_line_error(serve(tmp_path, "--database-url", f"sqlite:///{folder}/mock.db"))

    assert f"{folder}/mock.db" in line
    assert "not permitted" in line or "denied" in line


def test_a_database_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to run the server as another user")
    as_nobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    reachable = subprocess.run(
        [*as_nobody, EXECUTABLE, "--version"], capture_output=True, check=False, cwd="/"
    )
    if reachable.returncode != 0:  # e.g. a checkout inside a folder only its owner may enter
        pytest.skip("this installation cannot be run by another user here")
    folder = Path(tempfile.mkdtemp(prefix="mixpeek-mock-other-user-"))
    try:
        folder.chmod(0o755)
        path = existing_database(folder)
        path.chmod(0o644)  # readable by everyone, writable by root alone
        result = subprocess.run(
            [
                *as_nobody,
                EXECUTABLE,
                "serve",
                "--port",
                "0",
                "--database-url",
                f"sqlite:///{path}",
            ],
            capture_output=True,
            text=True,
            env={**CLEAN_ENV, "MIXPEEK_MOCK_SCHEDULER": "off"},
            cwd="/",
            timeout=120,
            check=False,
        )
        line = one_line_error(result)
        assert str(path) in line
        assert "readonly" in line or "denied" in line
    finally:
        shutil.rmtree(folder)


# --- ports ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (("--port", "99999"), {}, "--port"),
        (("--port", "-1"), {}, "--port"),
        (("--port", "http"), {}, "--port"),
        ((), {"PORT": "99999"}, "PORT"),
        ((), {"PORT": "abc"}, "PORT"),
    ],
)
def test_a_port_outside_1_to_65535_is_one_line(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], named: str
) -> None:
    line = one_line_error(serve(tmp_path, *args, env=env))
    assert named in line
    assert "65535" in line or "not a port" in line
    assert list(tmp_path.iterdir()) == []  # no database was created


def test_port_0_listens_on_a_free_port_and_says_which(tmp_path: Path) -> None:
    server = CliServer(tmp_path / "mock.db", extra_args=("--port", "0"), port=1)
    server.args = ["--port", "0", "--database-url", server.database_url]
    assert server.process is None
    with server.log_path.open("ab") as log:
        server.process = subprocess.Popen(
            server.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=server.environment(),
            cwd=tmp_path,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (found := re.search(r"listening on http://127\.0\.0\.1:(\d+)", server.log())):
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)
        port = int(found.group(1))
        assert port != 0
        key = KEY_PATTERN.findall(server.log())[0]
        assert f"http://127.0.0.1:{port}/v1/buckets" in server.log()
        server.port, server.url = port, f"http://127.0.0.1:{port}"
        server.wait_until_healthy()
        with client(server, key) as http:
            assert http.get("/v1/buckets").status_code == 200
    finally:
        server.stop()


def test_a_port_in_use_is_refused_before_an_organization_or_key_is_made(
    tmp_path: Path,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve(
            tmp_path, "--port", str(port), "--database-url", f"sqlite:///{tmp_path}/m.db"
        )
    line = one_line_error(result)
    assert f"127.0.0.1:{port}" in line
    assert "in use" in line
    assert result.stdout == ""  # no key printed
    assert not (tmp_path / "m.db").exists()


# --- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MIXPEEK_MOCK_LOG_LEVEL": "verbose"}, "MIXPEEK_MOCK_LOG_LEVEL"),
        ({"MIXPEEK_MOCK_API_KEY": "sk_local dev"}, "MIXPEEK_MOCK_API_KEY"),
        ({"MIXPEEK_MOCK_MAX_CONNECTIONS": "lots"}, "MIXPEEK_MOCK_MAX_CONNECTIONS"),
        ({"MIXPEEK_MOCK_STORAGE_TIMEOUT_SECONDS": "0"}, "MIXPEEK_MOCK_STORAGE_TIMEOUT_SECONDS"),
        ({"MIXPEEK_MOCK_CORS_ORIGINS": "localhost:3000"}, "MIXPEEK_MOCK_CORS_ORIGINS"),
    ],
)
def test_a_malformed_setting_is_one_line_naming_it(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    line = one_line_error(serve(tmp_path, env=env))
    assert named in line
    assert "sk_local dev" not in line  # a key is never shown, even a refused one
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args", [("--url", "notaurl"), ("--url", "ftp://127.0.0.1/"), ("--timeout", "0")]
)
def test_healthcheck_refuses_a_malformed_flag_in_one_line(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    result = run_cli("healthcheck", *args, cwd=tmp_path)
    one_line_error(result)
    assert result.returncode == 2


def test_healthcheck_asks_the_port_the_server_was_told_to_use(tmp_path: Path) -> None:
    port = free_port()
    server = CliServer(
        tmp_path / "mock.db",
        env={"PORT": str(port), "MIXPEEK_MOCK_API_KEY": API_KEY},
        args=["--database-url", f"sqlite:///{tmp_path / 'mock.db'}"],
        port=port,
    )
    with server:
        assert run_cli("healthcheck", cwd=tmp_path, env={"PORT": str(port)}).returncode == 0
    result = run_cli("healthcheck", cwd=tmp_path, env={"PORT": str(port)})
    assert result.returncode == 1
    assert "unhealthy" in result.stderr


def test_a_home_folder_in_the_database_url_is_expanded(tmp_path: Path) -> None:
    result = run_cli(
        "keys",
        "create",
        "--database-url",
        "sqlite:///~/data/mock.db",
        cwd=tmp_path,
        env={"HOME": str(tmp_path / "home")},
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "home" / "data" / "mock.db").is_file()
    assert not (tmp_path / "~").exists()


# --- what a start prints --------------------------------------------------------------------


def test_the_curl_line_for_a_supplied_key_works_when_pasted(tmp_path: Path) -> None:
    bash, curl = shutil.which("bash"), shutil.which("curl")
    if bash is None or curl is None:
        pytest.skip("needs bash and curl")
    server = CliServer(tmp_path / "mock.db", env={"MIXPEEK_MOCK_API_KEY": API_KEY})
    with server:
        printed = [line for line in server.log().splitlines() if "try: curl" in line]
        assert len(printed) == 1
        assert API_KEY not in server.log()
        pasted = printed[0].split("try: ", 1)[1] + " -sS -o /dev/null -w '%{http_code}'"
        result = subprocess.run(
            [bash, "-c", pasted],
            capture_output=True,
            text=True,
            env={**CLEAN_ENV, "MIXPEEK_MOCK_API_KEY": API_KEY},
            timeout=30,
            check=False,
        )
    assert result.stdout == "200", (pasted, result.stderr)


def test_a_start_on_an_existing_database_says_where_it_is_and_how_to_make_a_key(
    tmp_path: Path,
) -> None:
    server = CliServer(tmp_path / "mock.db")
    with server:
        first = server.log()
        server.restart()
        again = server.log()[len(first) :]
    assert f"existing database {tmp_path / 'mock.db'}" in again
    assert "mixpeek-mock keys create --database-url" in again
    assert KEY_PATTERN.search(again) is None


def test_a_4xx_is_logged_with_its_type_and_message_never_the_key(tmp_path: Path) -> None:
    wrong = "sk_wrong_but_secret_0123456789"
    server = CliServer(tmp_path / "mock.db", env={"MIXPEEK_MOCK_API_KEY": API_KEY})
    with server:
        with client(server, wrong) as http:
            assert http.get("/v1/buckets").status_code == 401
        with client(server, API_KEY) as http:
            assert http.post("/v1/buckets", json={"bucket_name": 5}).status_code == 422
        time.sleep(0.2)
    log = server.log()
    assert "answered 401 UnauthorizedError: Invalid or revoked API key." in log
    assert "answered 422 ValidationError: Request validation failed: " in log
    assert wrong not in log
    assert API_KEY not in log


# --- the command line -----------------------------------------------------------------------


def test_version(tmp_path: Path) -> None:
    result = run_cli("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert re.fullmatch(
        r"mixpeek-mock \d+\.\d+\.\d+ \(Mixpeek API [\d.]+, Python [\d.]+\)\n", result.stdout
    )


def test_serve_help_lists_every_setting_with_its_variable_and_default(tmp_path: Path) -> None:
    result = run_cli("serve", "--help", cwd=tmp_path)
    assert result.returncode == 0
    for name, field in Settings.model_fields.items():
        variable = environment_variable(name)
        assert variable in result.stdout, name
        listed = next(
            line for line in result.stdout.splitlines() if line.strip().startswith(variable)
        )
        assert "[default: " in listed
        assert field.description, name


def test_keys_list_shows_prefixes_organizations_and_revocations_never_a_key(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/mock.db"
    first = run_cli("keys", "create", "--database-url", url, cwd=tmp_path).stdout.strip()
    other = run_cli(
        "keys", "create", "--organization", "other", "--database-url", url, cwd=tmp_path
    ).stdout.strip()
    revoked = subprocess.run(
        [EXECUTABLE, "keys", "revoke", "--database-url", url],
        input=first + "\n",
        capture_output=True,
        text=True,
        env=CLEAN_ENV,
        cwd=tmp_path,
        check=False,
    )
    assert revoked.returncode == 0, revoked.stderr

    result = run_cli("keys", "list", "--database-url", url, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["PREFIX", "ORGANIZATION", "CREATED", "REVOKED"]
    rows = [line.split() for line in lines[1:]]
    assert [(row[0], row[1]) for row in rows] == [(first[:7], "default"), (other[:7], "other")]
    assert rows[0][3] != "-"  # revoked
    assert rows[1][3] == "-"
    assert first not in result.stdout
    assert other not in result.stdout
