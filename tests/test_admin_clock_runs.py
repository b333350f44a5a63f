"""The admin clock drives the scheduler (CONTRACT.md D32), across real processes: a server
with its engine process, reading moto over S3's wire protocol; and seeded ids."""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_HEADERS
from tests.s3 import S3Store
from tests.server_process import ServerProcess
from tests.test_engine_processes import Client as EngineTestClient

pytestmark = pytest.mark.e2e


class Client(EngineTestClient):
    """The engine suite's client, with the admin API and a sync's jobs."""

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.ok(method, f"/_mock{path}", headers=ADMIN_HEADERS, **kwargs)

    def jobs(self, path: str) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = self.ok("POST", f"{path}/jobs")["results"]
        return results


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path / "mock.db", env={"MIXPEEK_MOCK_SCHEDULER": "on"}) as running:
        yield running


def _make_sync(
    client: Client, s3: S3Store, *, files: int = 1, **fields: Any
) -> tuple[dict[str, Any], str]:
    """A sync over a fresh moto bucket holding ``files`` small files under ``in/``."""
    bucket_name = s3.new_bucket()
    for index in range(files):
        s3.put(bucket_name, f"in/f{index:04}.txt", b"file %d" % index)
    bucket = client.ok(
        "POST", "/v1/buckets", json={"bucket_name": "b", "bucket_schema": {"properties": {}}}
    )
    connection = client.ok("POST", "/v1/organizations/connections", json=s3.connection_body("s"))
    sync = client.ok(
        "POST",
        f"/v1/buckets/{bucket['bucket_id']}/syncs",
        json={
            "connection_id": connection["connection_id"],
            "source_path": f"{bucket_name}/in",
            **fields,
        },
    )
    return sync, f"/v1/buckets/{bucket['bucket_id']}/syncs/{sync['sync_config_id']}"


def _wait_idle(client: Client, path: str, runs: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        record: dict[str, Any] = client.ok("GET", path)
        if record["sync_run_counter"] >= runs and not record["locked"]:
            return record
        assert time.monotonic() < deadline, f"gave up waiting: {record}"
        time.sleep(0.05)


def test_with_a_frozen_clock_a_sync_runs_again_only_when_an_advance_makes_it_due(
    server: ServerProcess, s3: S3Store
) -> None:
    client = Client(server)
    frozen = client.admin("POST", "/clock", json={"freeze": True, "set": "2031-05-01T12:00:00Z"})
    assert frozen["frozen"] is True
    _, path = _make_sync(client, s3, polling_interval_seconds=600)
    # A new sync is due at once: the scheduler runs it on the frozen clock.
    first = _wait_idle(client, path, runs=1)
    assert first["next_sync_at"] == "2031-05-01T12:10:00Z"
    assert first["last_sync_at"].startswith("2031-05-01T12:00:00")

    # Frozen, nothing more becomes due, however long real time goes on.
    time.sleep(2.5)
    assert len(client.jobs(path)) == 1

    # Not far enough: still nothing.
    client.admin("POST", "/clock", json={"advance_seconds": 599})
    assert len(client.jobs(path)) == 1

    # Past next_sync_at: the run has started (its job exists) when the call answers.
    moved = client.admin("POST", "/clock", json={"advance_seconds": 1})
    assert moved == {"now": "2031-05-01T12:10:00Z", "frozen": True}
    jobs = client.jobs(path)
    assert len(jobs) == 2
    assert jobs[0]["trigger"] == "scheduled"
    assert jobs[0]["started_at"].startswith("2031-05-01T12:10:00")
    second = _wait_idle(client, path, runs=2)
    assert second["next_sync_at"] == "2031-05-01T12:20:00Z"
    client.http.close()


def test_two_fresh_servers_with_one_seed_answer_the_same_ids(tmp_path: Path) -> None:
    def ids_of(name: str) -> list[str]:
        env = {"MIXPEEK_MOCK_ID_SEED": "repeatable"}
        with ServerProcess(tmp_path / f"{name}.db", env=env) as running:
            client = Client(running)
            namespace = client.ok("POST", "/v1/namespaces", json={"namespace_name": "seeded"})
            bucket = client.ok(
                "POST",
                "/v1/buckets",
                json={"bucket_name": "b", "bucket_schema": {"properties": {}}},
            )
            client.admin("POST", "/reset")
            again = client.ok(
                "POST",
                "/v1/buckets",
                json={"bucket_name": "b", "bucket_schema": {"properties": {}}},
            )
            client.http.close()
            return [namespace["namespace_id"], bucket["bucket_id"], again["bucket_id"]]

    first, second = ids_of("one"), ids_of("two")
    assert first == second
    namespace_id, bucket_id, after_reset = first
    assert namespace_id.startswith("ns_")
    assert len(namespace_id) == len("ns_") + 16
    # A reset starts the sequences again, as a fresh server would.
    assert after_reset == bucket_id


def test_a_reset_during_a_run_ends_the_run_and_the_engine_goes_on(
    server: ServerProcess, s3: S3Store
) -> None:
    client = Client(server)
    _, path = _make_sync(client, s3, files=1500, batch_size=20)
    deadline = time.monotonic() + 30
    while not client.ok("GET", path)["locked"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)

    assert client.admin("POST", "/reset") == {"success": True}

    assert client.ok("POST", "/v1/buckets/list", json={})["results"] == []
    # The engine is still there: a new sync over a small bucket runs to its end.
    _, fresh = _make_sync(client, s3)
    record = _wait_idle(client, fresh, runs=1)
    assert record["total_files_synced"] == 1
    assert client.ok("GET", "/v1/health")["status"] == "OK"
    assert "Traceback" not in server.log()
    client.http.close()
