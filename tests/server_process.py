"""A real ``mixpeek-mock serve`` process on a free port, for end-to-end tests.

    with ServerProcess(tmp_path / "mock.db") as server:
        httpx2.get(server.url + "/v1/health")
        server.restart()          # graceful stop, then start on the same file and port
        server.kill()             # SIGKILL, as a crash would
        server.start()

    ServerProcess(tmp_path / "mock.db", database_url="postgresql://...")  # on PostgreSQL

The server gets the known key ``API_KEY`` through ``MIXPEEK_MOCK_API_KEY``, and may reach
storage on this machine only (``MIXPEEK_MOCK_STORAGE_ENDPOINTS=loopback``) and runs no sync
by time (``MIXPEEK_MOCK_SCHEDULER=off``), unless ``env`` says otherwise; its stdout and
stderr are collected in ``server.log_path``.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.conftest import (
    ADMIN_TOKEN,
    API_KEY,
    TEST_STORAGE_ENDPOINTS,
    TEST_STORAGE_TIMEOUT_SECONDS,
)

EXECUTABLE = str(Path(sys.executable).with_name("mixpeek-mock"))
STARTUP_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    def __init__(
        self,
        database_path: Path,
        *,
        api_key: str | None = API_KEY,
        env: dict[str, str] | None = None,
        extra_args: tuple[str, ...] = (),
        database_url: str | None = None,
    ) -> None:
        self.database_path = database_path
        # Another database than the file (PostgreSQL): the path then only names the log.
        self.database_url = database_url or f"sqlite:///{database_path}"
        self.api_key = api_key
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = database_path.with_suffix(".log")
        self.extra_env = env or {}
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("MIXPEEK")}
        env["MIXPEEK_MOCK_STORAGE_ENDPOINTS"] = TEST_STORAGE_ENDPOINTS
        env["MIXPEEK_MOCK_STORAGE_TIMEOUT_SECONDS"] = str(TEST_STORAGE_TIMEOUT_SECONDS)
        env["MIXPEEK_MOCK_SCHEDULER"] = "off"
        env.setdefault("MIXPEEK_MOCK_ADMIN_TOKEN", ADMIN_TOKEN)
        if self.api_key is not None:
            env["MIXPEEK_MOCK_API_KEY"] = self.api_key
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        assert self.process is None, "already running"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                EXECUTABLE,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--database-url",
                self.database_url,
                *self.extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.environment(),
        )
        log.close()
        self.wait_until_healthy()

    def wait_until_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/v1/health", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not become healthy:\n{self.log()}")

    def stop(self) -> None:
        """Graceful shutdown (SIGTERM), as a container runtime would do it."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to flush or close anything."""
        if self.process is None:
            return
        self.process.kill()
        self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
