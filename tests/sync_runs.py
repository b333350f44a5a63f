"""Syncs that really run, for the tests of jobs, metrics and dead letters.

    source = SourceSync.create(api, s3, {"a.txt": b"..."})   # files under <bucket>/media/
    answer, record = source.run()                            # trigger, wait for the end
    source.job(answer["sync_job_id"])                        # read back through the API

Everything is read back through the API; the only thing done beside it is what a user does
to their own storage (put, delete, change a file's storage class) with boto3.
"""

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.conftest import Api
from tests.s3 import S3Store, trigger_and_wait, wait_for_run

PREFIX = "media"


@dataclass
class SourceSync:
    """A sync of a bucket of the test's own, reading ``<source_bucket>/media/`` from moto."""

    api: Api
    s3: S3Store
    source_bucket: str
    sync: dict[str, Any]

    @classmethod
    def create(
        cls,
        api: Api,
        s3: S3Store,
        files: dict[str, bytes] | None = None,
        *,
        source_bucket: str | None = None,
        connection: dict[str, Any] | None = None,
        **fields: Any,
    ) -> "SourceSync":
        """A sync over a fresh moto bucket holding ``files`` (keys below ``media/``); with
        ``source_bucket``, over that bucket name whether or not it exists."""
        name = source_bucket or s3.new_bucket()
        for key, body in (files or {}).items():
            s3.put(name, f"{PREFIX}/{key}", body)
        if connection is None:
            connection = api.ok(
                "POST", "/v1/organizations/connections", json=s3.connection_body(f"c-{name}")
            )
        bucket = api.make_bucket(f"b-{name}")
        sync = api.make_sync(bucket, connection, source_path=f"{name}/{PREFIX}", **fields)
        return cls(api, s3, name, sync)

    @property
    def path(self) -> str:
        return self.api.sync_path(self.sync)

    def put(self, key: str, body: bytes, **extra: Any) -> None:
        self.s3.put(self.source_bucket, f"{PREFIX}/{key}", body, **extra)

    def put_many(self, count: int, *, size: int = 16) -> None:
        """``count`` small distinct files, put with a few connections at once."""

        def put(index: int) -> None:
            body = f"{index:0{size}d}".encode()
            self.s3.put(self.source_bucket, f"{PREFIX}/many/{index:05d}.txt", body)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(put, range(count)))

    def trigger(self, *, full_sync: bool = False) -> dict[str, Any]:
        query = "?full_sync=true" if full_sync else ""
        return self.api.ok("POST", f"{self.path}/trigger{query}")

    def run(
        self, *, full_sync: bool = False, timeout: float = 60.0
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Trigger a run and wait for its end: (the trigger's answer, the sync record after)."""
        return trigger_and_wait(self.api, self.sync, full_sync=full_sync, timeout=timeout)

    def wait(self, *, timeout: float = 60.0) -> dict[str, Any]:
        return wait_for_run(self.api, self.sync, timeout=timeout)

    def record(self) -> dict[str, Any]:
        return self.api.ok("GET", self.path)

    def jobs(self, body: dict[str, Any] | None = None, **params: Any) -> dict[str, Any]:
        return self.api.ok("POST", f"{self.path}/jobs", json=body, params=params)

    def job(self, sync_job_id: str) -> dict[str, Any]:
        return self.api.ok("GET", f"{self.path}/jobs/{sync_job_id}")

    def metrics(self) -> dict[str, Any]:
        return self.api.ok("GET", f"{self.path}/metrics")

    def dlq(self, body: dict[str, Any] | None = None, **params: Any) -> dict[str, Any]:
        return self.api.ok("POST", f"{self.path}/dlq", json=body, params=params)

    def requeue(self, body: dict[str, Any] | None = None) -> int:
        answer = self.api.ok("POST", f"{self.path}/dlq/requeue", json=body)
        assert set(answer) == {"requeued"}, answer
        requeued: int = answer["requeued"]
        return requeued

    def mark_failed(self, error_types: list[str]) -> int:
        answer = self.api.ok(
            "POST", f"{self.path}/dlq/bulk-mark-failed", json={"error_types": error_types}
        )
        assert set(answer) == {"updated"}, answer
        updated: int = answer["updated"]
        return updated


def wait_until(condition: Any, *, timeout: float = 30.0, every: float = 0.05) -> Any:
    """Poll ``condition()`` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(every)


@contextmanager
def silent_endpoint() -> Iterator[str]:
    """An S3 endpoint on loopback that accepts connections and never answers: a run that
    reaches it stays in progress until its read deadline, long enough to watch it run."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        server.close()
