"""The database's waiting never stalls the server, and a failed write leaves nothing behind.

A real server process, and a second SQLite connection of the test's own on the same file:

- while the test holds the write lock (``BEGIN IMMEDIATE``), as another process would,
  ``/v1/health`` answers at once, and a PATCH is retried off the event loop: it goes through if
  the lock is released in time, else it is answered 503 with ``Retry-After``, never 500;
- when the disk refuses a write (the process's file size limit lowered under it, so SQLite's
  COMMIT fails as on a full disk), the answer is a 503 envelope, nothing is half-applied, reads
  go on, and writes work again once there is room.
"""

import resource
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.conftest import API_KEY, s3_connection_body
from tests.server_process import ServerProcess

pytestmark = pytest.mark.e2e

HEADERS = {"Authorization": f"Bearer {API_KEY}", "X-Namespace": "default"}
LOCK_WAIT_S = 1.5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"MIXPEEK_MOCK_LOCK_WAIT_SECONDS": str(LOCK_WAIT_S)}
    with ServerProcess(tmp_path_factory.mktemp("contention") / "mock.db", env=env) as process:
        yield process


def ok(response: httpx2.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def new_sync_path(http: httpx2.Client, name: str) -> str:
    bucket = ok(
        http.post("/v1/buckets", json={"bucket_name": name, "bucket_schema": {"properties": {}}})
    )
    connection = ok(http.post("/v1/organizations/connections", json=s3_connection_body(name)))
    sync = ok(
        http.post(
            f"/v1/buckets/{bucket['bucket_id']}/syncs",
            json={"connection_id": connection["connection_id"], "source_path": "in"},
        )
    )
    return f"/v1/buckets/{bucket['bucket_id']}/syncs/{sync['sync_config_id']}"


def client(server: ServerProcess) -> httpx2.Client:
    return httpx2.Client(base_url=server.url, headers=HEADERS, timeout=30)


class HeldLock:
    """The database's write lock, held by another connection until released."""

    def __init__(self, server: ServerProcess) -> None:
        self.conn = sqlite3.connect(
            server.database_path, isolation_level=None, timeout=10, check_same_thread=False
        )
        self.conn.execute("BEGIN IMMEDIATE")
        self.released = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.conn.execute("ROLLBACK")
            self.conn.close()


def assert_503_envelope(response: httpx2.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    body = response.json()
    assert body["success"] is False
    assert body["status"] == 503
    assert body["error"]["type"] == "ServiceUnavailableError"


def test_a_held_write_lock_neither_stalls_health_nor_fails_a_write_with_500(
    server: ServerProcess,
) -> None:
    with client(server) as http:
        path = new_sync_path(http, "held-lock")
        before = ok(http.get(path))
        lock = HeldLock(server)
        try:
            started = time.monotonic()
            health = http.get("/v1/health")
            assert health.status_code == 200
            assert time.monotonic() - started < 0.5

            # A PATCH waits, in retries, while health keeps answering at once beside it.
            answers: list[httpx2.Response] = []
            with client(server) as other:
                writer = threading.Thread(
                    target=lambda: answers.append(other.patch(path, json={"batch_size": 7}))
                )
                started = time.monotonic()
                writer.start()
                health_times = []
                while writer.is_alive():
                    t0 = time.monotonic()
                    assert http.get("/v1/health").status_code == 200
                    health_times.append(time.monotonic() - t0)
                    time.sleep(0.05)
                writer.join()
                waited = time.monotonic() - started
            assert max(health_times) < 0.5, health_times
            assert_503_envelope(answers[0])
            assert LOCK_WAIT_S * 0.9 <= waited < LOCK_WAIT_S + 2
            assert "database is locked" not in answers[0].text
        finally:
            lock.release()
        assert ok(http.get(path)) == before  # the refused PATCH changed nothing
        assert ok(http.patch(path, json={"batch_size": 8}))["batch_size"] == 8
    assert "Traceback" not in server.log()


def test_a_write_goes_through_when_the_lock_is_released_in_time(server: ServerProcess) -> None:
    with client(server) as http:
        path = new_sync_path(http, "released-lock")
        lock = HeldLock(server)
        releaser = threading.Timer(0.4, lock.release)
        releaser.start()
        try:
            started = time.monotonic()
            patched = ok(http.patch(path, json={"description": "after the lock"}))
            waited = time.monotonic() - started
        finally:
            releaser.join()
            lock.release()
        assert patched["description"] == "after the lock"
        assert 0.3 <= waited < LOCK_WAIT_S
        assert ok(http.get(path))["description"] == "after the lock"


def test_a_write_the_disk_refuses_is_rolled_back_and_the_server_keeps_serving(
    server: ServerProcess,
) -> None:
    assert server.process is not None
    pid = server.process.pid
    with client(server) as http:
        path = new_sync_path(http, "disk-full")
        before = ok(http.get(path))
        time.sleep(1.5)  # let the checkpointer move the WAL into the file
        # ~12 KB of metadata (within the record limits) takes several WAL frames of 4 KiB:
        # under a file size limit of 8 KiB, writing them fails as a full disk would.
        big = {"metadata": {f"k{i}": "x" * 1000 for i in range(12)}}
        soft, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (8 * 1024, hard))
        try:
            refused = http.patch(path, json={**big, "description": "never stored"})
            assert_503_envelope(refused)
            assert "disk" in refused.json()["error"]["message"]
            # Nothing half-applied; reads still served.
            assert ok(http.get(path)) == before
            assert http.get("/v1/health").status_code == 200
        finally:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))
        # Room again: the connection was left usable, and the same write now succeeds.
        stored = ok(http.patch(path, json={**big, "description": "stored"}))
        assert stored["description"] == "stored"
        assert ok(http.get(path)) == stored


COMMIT_FAILS = """
import os, resource, sys
from app.db.database import Database, DatabaseStorageError

db = Database.open(sys.argv[1])
db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
db.execute("INSERT INTO t VALUES (1, 'small')")
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
path = sys.argv[1].removeprefix("sqlite:///")
largest = max(os.path.getsize(path), os.path.getsize(path + "-wal"))
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (largest + 256 * 1024, hard))
try:
    with db.transaction():
        db.execute("UPDATE t SET v = ? WHERE id = 1", ("x" * 900_000,))
        db.execute("INSERT INTO t VALUES (2, 'half')")
    print("committed")
except DatabaseStorageError:
    print("refused")
print(db.scalar("SELECT v FROM t WHERE id = 1"), db.scalar("SELECT count(*) FROM t"))
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
with db.transaction():
    db.execute("UPDATE t SET v = 'after' WHERE id = 1")
print(db.scalar("SELECT v FROM t WHERE id = 1"))
"""


def test_a_commit_the_disk_refuses_is_rolled_back_and_the_connection_stays_usable(
    tmp_path: Path,
) -> None:
    """The write reaches the disk only at COMMIT (no RETURNING, nothing spilled): COMMIT
    itself fails, and ``transaction()`` must still roll back and leave the connection usable."""
    result = subprocess.run(
        [sys.executable, "-c", COMMIT_FAILS, f"sqlite:///{tmp_path / 'full.db'}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:3] == ["refused", "small 1", "after"]
