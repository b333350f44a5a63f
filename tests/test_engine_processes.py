"""The engine across real processes: the scheduler, a server killed mid-run, a command-line run
beside a server on the same file, and leases that are renewed or expire (D18, D21, D27).

Each test starts real ``mixpeek-mock serve`` processes (tests/server_process.py) and reads a
bucket of moto's S3 server (tests/s3.py)."""

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from app.db.database import Database
from tests.conftest import API_KEY
from tests.s3 import S3Store
from tests.server_process import EXECUTABLE, ServerProcess

pytestmark = pytest.mark.e2e

HEADERS = {"Authorization": f"Bearer {API_KEY}", "X-Namespace": "default"}
Record = dict[str, Any]


class Client:
    def __init__(self, server: ServerProcess) -> None:
        self.http = httpx2.Client(base_url=server.url, headers=HEADERS, timeout=30)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def make_sync(self, s3: S3Store, source_path: str, **fields: Any) -> Record:
        bucket = self.ok(
            "POST",
            "/v1/buckets",
            json={"bucket_name": "videos", "bucket_schema": {"properties": {}}},
        )
        connection = self.ok(
            "POST", "/v1/organizations/connections", json=s3.connection_body("store")
        )
        sync: Record = self.ok(
            "POST",
            f"/v1/buckets/{bucket['bucket_id']}/syncs",
            json={
                "connection_id": connection["connection_id"],
                "source_path": source_path,
                **fields,
            },
        )
        return sync

    def path(self, sync: Record) -> str:
        return f"/v1/buckets/{sync['bucket_id']}/syncs/{sync['sync_config_id']}"

    def sync(self, sync: Record) -> Record:
        record: Record = self.ok("GET", self.path(sync))
        return record

    def job(self, sync: Record, job_id: str) -> Record:
        record: Record = self.ok("GET", f"{self.path(sync)}/jobs/{job_id}")
        return record

    def objects(self, sync: Record) -> list[Record]:
        results: list[Record] = []
        page = 1
        while True:
            answer = self.ok(
                "GET", f"/v1/buckets/{sync['bucket_id']}/objects?page={page}&page_size=1000"
            )
            results += answer["results"]
            if not answer["pagination"]["next_page"]:
                return results
            page += 1

    def wait_until(self, sync: Record, done: Any, timeout: float = 60.0) -> Record:
        deadline = time.monotonic() + timeout
        while True:
            record = self.sync(sync)
            if done(record):
                return record
            assert time.monotonic() < deadline, f"gave up waiting: {record}"
            time.sleep(0.1)

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def connect() -> Iterator[Any]:
    """``connect(server)``: a client of that server, closed at the end of the test."""
    opened: list[Client] = []

    def client_of(server: ServerProcess) -> Client:
        client = Client(server)
        opened.append(client)
        return client

    yield client_of
    for client in opened:
        client.close()


@pytest.fixture
def files(s3: S3Store) -> tuple[str, int]:
    """A bucket with 2,000 small files under ``in/``: long enough a run to act during it."""
    bucket = s3.new_bucket()
    count = 2000
    for index in range(count):
        s3.put(bucket, f"in/f{index:04}.txt", b"file %d" % index)
    return bucket, count


def objects_written(database_url: str) -> int:
    database = Database.open(database_url)
    try:
        count: int = database.scalar("SELECT COUNT(*) FROM bucket_objects")
    finally:
        database.close()
    return count


def test_the_scheduler_runs_a_new_sync_within_seconds_and_again_when_due(
    connect: Any, tmp_path: Path, database_url: str, s3: S3Store
) -> None:
    bucket = s3.new_bucket()
    s3.put(bucket, "in/a.txt", b"a")
    with ServerProcess(
        tmp_path / "mock.db", database_url=database_url, env={"MIXPEEK_MOCK_SCHEDULER": "on"}
    ) as server:
        client = connect(server)
        sync = client.make_sync(s3, f"{bucket}/in", polling_interval_seconds=30)

        first = client.wait_until(sync, lambda r: r["sync_run_counter"] >= 1, timeout=15)

        assert first["total_files_synced"] == 1
        jobs = client.ok("POST", f"{client.path(sync)}/jobs")["results"]
        assert [job["trigger"] for job in jobs] == ["scheduled"]
        assert first["status"] == "ACTIVE"


def test_a_server_killed_mid_run_leaves_an_interrupted_job_and_the_next_run_finishes(
    connect: Any, tmp_path: Path, database_url: str, s3: S3Store, files: tuple[str, int]
) -> None:
    bucket, count = files
    server = ServerProcess(tmp_path / "mock.db", database_url=database_url)
    with server:
        crash_and_continue(connect, server, s3, bucket, count)


def crash_and_continue(
    connect: Any, server: ServerProcess, s3: S3Store, bucket: str, count: int
) -> None:
    client = connect(server)
    sync = client.make_sync(s3, f"{bucket}/in", batch_size=50)
    job_id = client.ok("POST", f"{client.path(sync)}/trigger")["sync_job_id"]
    deadline = time.monotonic() + 60
    while objects_written(server.database_url) < 200:
        assert time.monotonic() < deadline, "the run wrote nothing"
        time.sleep(0.05)

    server.kill()
    server.start()
    client = connect(server)

    killed = client.job(sync, job_id)
    assert killed["status"] == "interrupted"
    record = client.sync(sync)
    assert (record["locked"], record["locked_by_worker_id"]) == (False, None)
    next_job = client.ok("POST", f"{client.path(sync)}/trigger")["sync_job_id"]
    done = client.wait_until(sync, lambda r: not r["locked"])
    assert client.job(sync, next_job)["status"] == "completed"
    assert done["sync_run_counter"] == 1
    objects = client.objects(sync)
    keys = [obj["blobs"][0]["properties"]["source_key"] for obj in objects]
    assert len(keys) == count
    assert len(set(keys)) == count  # no source key has two objects


def run_cli(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXECUTABLE, "syncs", "run", *args, "--database-url", server.database_url],
        capture_output=True,
        text=True,
        env=server.environment(),
        timeout=120,
        check=False,
    )


def test_a_command_line_run_and_a_server_never_run_the_same_sync_at_once(
    connect: Any, tmp_path: Path, database_url: str, s3: S3Store, files: tuple[str, int]
) -> None:
    bucket, count = files
    with ServerProcess(tmp_path / "mock.db", database_url=database_url) as server:
        client = connect(server)
        sync = client.make_sync(s3, f"{bucket}/in")
        running = client.ok("POST", f"{client.path(sync)}/trigger")

        refused = run_cli(server, sync["bucket_id"], sync["sync_config_id"])

        assert refused.returncode == 1
        assert "already running" in refused.stderr
        assert running["sync_job_id"] in refused.stderr
        client.wait_until(sync, lambda r: not r["locked"])

        # and the other way round: while the command line runs, a trigger starts nothing
        cli = subprocess.Popen(
            [
                EXECUTABLE,
                "syncs",
                "run",
                sync["bucket_id"],
                sync["sync_config_id"],
                "--full",
                "--database-url",
                server.database_url,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=server.environment(),
        )
        client.wait_until(sync, lambda r: r["locked"], timeout=30)
        skipped = client.ok("POST", f"{client.path(sync)}/trigger")
        out, err = cli.communicate(timeout=120)

        assert skipped["status"] == "skipped_already_running"
        assert cli.returncode == 0, err
        assert f"{count}/{count} files" in out
        record = client.sync(sync)
        assert record["sync_run_counter"] == 2
        assert len(client.objects(sync)) == count


def test_syncs_run_exits_non_zero_when_the_run_fails_or_the_sync_is_unknown(
    connect: Any, tmp_path: Path, database_url: str, s3: S3Store
) -> None:
    with ServerProcess(tmp_path / "mock.db", database_url=database_url) as server:
        client = connect(server)
        sync = client.make_sync(s3, "no-such-bucket/in")

        failed = run_cli(server, "videos", sync["sync_config_id"])
        unknown = run_cli(server, "videos", "sync_nope")
        no_bucket = run_cli(server, "nope", sync["sync_config_id"])

        assert failed.returncode == 1
        assert "NoSuchBucket" in failed.stderr
        assert client.sync(sync)["last_error"].startswith("NoSuchBucket")
        assert (unknown.returncode, no_bucket.returncode) == (1, 1)
        assert "sync_nope" in unknown.stderr
        assert "nope" in no_bucket.stderr


def test_a_run_longer_than_its_lease_keeps_it_by_renewing(
    connect: Any, tmp_path: Path, database_url: str, s3: S3Store, files: tuple[str, int]
) -> None:
    bucket, count = files
    with ServerProcess(
        tmp_path / "mock.db",
        database_url=database_url,
        env={"MIXPEEK_MOCK_LOCK_TTL_SECONDS": "4", "MIXPEEK_MOCK_SYNC_CONCURRENCY": "1"},
    ) as server:
        client = connect(server)
        sync = client.make_sync(s3, f"{bucket}/in", batch_size=10)
        job_id = client.ok("POST", f"{client.path(sync)}/trigger")["sync_job_id"]
        started = time.monotonic()

        client.wait_until(sync, lambda r: not r["locked"], timeout=120)

        assert time.monotonic() - started > 4, "the run was shorter than its lease: no proof"
        assert client.job(sync, job_id)["status"] == "completed"
        assert client.sync(sync)["total_files_synced"] == count


def test_an_expired_lease_is_freed_within_seconds_without_the_scheduler(
    connect: Any, tmp_path: Path, database_url: str, s3: S3Store
) -> None:
    with ServerProcess(tmp_path / "mock.db", database_url=database_url) as server:
        client = connect(server)
        sync = client.make_sync(s3, "somewhere/in")
        # A worker on another machine took the lease and died: nobody renews it.
        database = Database.open(server.database_url)
        try:
            database.execute(
                "UPDATE sync_config SET locked_by_worker_id = 'wrk_elsewhere_1_dead',"
                " locked_at = '2026-01-01 00:00:00.000000',"
                " lock_expires_at = '2026-01-01 00:01:00.000000' WHERE sync_config_id = ?",
                (sync["sync_config_id"],),
            )
        finally:
            database.close()

        freed = client.wait_until(sync, lambda r: not r["locked"], timeout=10)

        assert freed["locked_by_worker_id"] is None
        assert freed["next_sync_at"] is not None  # due again
