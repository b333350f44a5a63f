"""Several server processes on one PostgreSQL database behave as one server (CONTRACT.md D35).

Each instance is a real ``mixpeek-mock serve`` process; the tests talk to them as a load
balancer would spread clients over them.
"""

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.conftest import ADMIN_HEADERS, s3_connection_body
from tests.postgres import PostgresServer, postgres_server_missing
from tests.s3 import S3Store
from tests.server_process import EXECUTABLE, ServerProcess
from tests.sync_runs import silent_endpoint
from tests.test_race import HEADERS, new_sync_path, ok
from tests.test_startup import children_of

pytestmark = pytest.mark.e2e

INSTANCES = 3
ROUNDS = 30
SCHEMA = {"bucket_schema": {"properties": {"video": {"type": "video"}}}}


@pytest.fixture(scope="module")
def instances(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer | None
) -> Iterator[list[ServerProcess]]:
    """Three instances on one new database, started together (they migrate it once)."""
    if postgres_server is None:
        pytest.skip(postgres_server_missing())
    folder = tmp_path_factory.mktemp("instances")
    name = postgres_server.create_database()
    url = postgres_server.url(name)
    servers = [
        ServerProcess(folder / f"instance{index}.db", database_url=url)
        for index in range(INSTANCES)
    ]
    starters = [threading.Thread(target=server.start) for server in servers]
    try:
        for starter in starters:
            starter.start()
        for starter in starters:
            starter.join(timeout=60)
        assert all(server.process is not None for server in servers)
        yield servers
    finally:
        for server in servers:
            server.stop()
        postgres_server.drop_database(name)


def test_racing_patches_over_three_instances_lose_no_update(
    instances: list[ServerProcess],
) -> None:
    """Each client PATCHes its own field through its own instance: every PATCH is answered
    200 with its change, the record ends with the last value of each field, and updated_at
    moved forward at every write."""
    path = new_sync_path(instances[0], "race-instances")
    fields = ["batch_size", "max_objects_per_run", "description"]

    def value(field: str, round_: int) -> Any:
        return f"d{round_}" if field == "description" else round_

    start = threading.Barrier(INSTANCES)
    responses: list[list[httpx2.Response]] = [[] for _ in instances]
    errors: list[BaseException] = []

    def write(index: int) -> None:
        try:
            with httpx2.Client(base_url=instances[index].url, headers=HEADERS, timeout=30) as http:
                http.get("/v1/health")
                start.wait(timeout=30)
                for round_ in range(1, ROUNDS + 1):
                    field = fields[index]
                    responses[index].append(http.patch(path, json={field: value(field, round_)}))
        except BaseException as exc:
            errors.append(exc)
            start.abort()

    threads = [threading.Thread(target=write, args=(index,)) for index in range(INSTANCES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors

    everything = [response for answers in responses for response in answers]
    assert [(r.status_code, r.text) for r in everything if r.status_code != 200] == []
    for index, field in enumerate(fields):
        shown = [r.json()[field] for r in responses[index]]
        assert shown == [value(field, round_) for round_ in range(1, ROUNDS + 1)]
        # Each client saw its record's updated_at strictly increase.
        moments = [datetime.fromisoformat(r.json()["updated_at"]) for r in responses[index]]
        assert moments == sorted(moments)
        assert len(set(moments)) == ROUNDS
    # Over all instances: as many distinct times as writes.
    assert len({r.json()["updated_at"] for r in everything}) == INSTANCES * ROUNDS
    for server in instances:
        with httpx2.Client(base_url=server.url, headers=HEADERS, timeout=30) as http:
            final = ok(http.get(path))
        assert {field: final[field] for field in fields} == {
            field: value(field, ROUNDS) for field in fields
        }


def test_a_key_revoked_through_the_cli_is_refused_by_every_instance_within_a_second(
    instances: list[ServerProcess], tmp_path: Path
) -> None:
    url = instances[0].database_url
    created = subprocess.run(
        [EXECUTABLE, "keys", "create", "--database-url", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    key = created.stdout.strip()
    headers = {"Authorization": f"Bearer {key}", "X-Namespace": "default"}
    for server in instances:
        assert (
            httpx2.get(server.url + "/v1/buckets", headers=headers, timeout=10).status_code == 200
        )

    subprocess.run(
        [EXECUTABLE, "keys", "revoke", "--database-url", url],
        input=key,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=tmp_path,
    )
    revoked_at = time.monotonic()

    # An instance may answer from what it remembers of the key for a moment (D35: refused
    # within a second of the revocation), and never again after it refused it once.
    for server in instances:
        while (
            status := httpx2.get(server.url + "/v1/buckets", headers=headers, timeout=10)
        ).status_code != 401:
            assert status.status_code == 200, status.text
            assert time.monotonic() - revoked_at < 1.0, "still accepted a second after"
            time.sleep(0.02)
    assert time.monotonic() - revoked_at < 1.0
    statuses = [
        httpx2.get(server.url + "/v1/buckets", headers=headers, timeout=10).status_code
        for server in instances
    ]
    assert statuses == [401] * INSTANCES
    # The instances' own key still works.
    assert httpx2.get(instances[1].url + "/v1/buckets", headers=HEADERS, timeout=10).is_success


def test_instances_ride_out_their_database_sessions_being_dropped(
    instances: list[ServerProcess], postgres_server: PostgresServer | None
) -> None:
    """What a restart of PostgreSQL does to the instances (every session of theirs ended by
    the server): once it is over, no request fails for it. Each instance notices that its idle
    pooled sessions were closed under it and opens new ones; requests at once borrow every
    session of the pool, so each is tried."""
    path = new_sync_path(instances[0], "sessions-dropped")
    for server in instances:
        assert httpx2.get(server.url + path, headers=HEADERS, timeout=10).status_code == 200
    name = instances[0].database_url.rsplit("/", 1)[1]
    assert postgres_server is not None  # (the instances would have been skipped)
    with postgres_server.connect() as admin:
        ended = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(%s)",
            ([pid for (pid,) in ended],),
        )
        deadline = time.monotonic() + 10
        while admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)",
            ([pid for (pid,) in ended],),
        ).fetchone() != (0,):
            assert time.monotonic() < deadline, "the sessions outlived their termination"
            time.sleep(0.02)
    assert len(ended) >= INSTANCES * 4  # each instance's pool at least

    at_once = 8  # twice the pool of each instance
    start = threading.Barrier(at_once * INSTANCES)
    statuses: list[int] = []

    def send(server: ServerProcess, index: int) -> None:
        start.wait(timeout=30)
        body = {"description": f"after the restart {index}"}
        with httpx2.Client(base_url=server.url, headers=HEADERS, timeout=30) as client:
            statuses.append(client.patch(path, json=body).status_code)
            statuses.append(client.get(path).status_code)

    senders = [
        threading.Thread(target=send, args=(server, index))
        for server in instances
        for index in range(at_once)
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=60)
    assert statuses == [200] * (2 * at_once * INSTANCES)


def test_triggers_sent_to_every_instance_start_one_job(instances: list[ServerProcess]) -> None:
    """The lease is the database's (D18): one trigger wins, the others answer the running job.
    The sync reads from an endpoint that never answers, so its run stays in progress."""
    with httpx2.Client(base_url=instances[0].url, headers=HEADERS, timeout=30) as http:
        bucket = ok(http.post("/v1/buckets", json={"bucket_name": "triggered", **SCHEMA}))
        with silent_endpoint() as endpoint:
            connection = ok(
                http.post(
                    "/v1/organizations/connections",
                    json=s3_connection_body("silent", endpoint_url=endpoint),
                )
            )
            sync = ok(
                http.post(
                    f"/v1/buckets/{bucket['bucket_id']}/syncs",
                    json={"connection_id": connection["connection_id"], "source_path": "in"},
                )
            )
            path = f"/v1/buckets/{bucket['bucket_id']}/syncs/{sync['sync_config_id']}"
            answers = _trigger_everywhere(instances, path)

    assert len(answers) == INSTANCES
    assert len({answer["sync_job_id"] for answer in answers}) == 1
    assert sorted(answer["status"] for answer in answers) == sorted(
        ["running"] + ["skipped_already_running"] * (INSTANCES - 1)
    )


def _trigger_everywhere(instances: list[ServerProcess], path: str) -> list[dict[str, Any]]:
    start = threading.Barrier(INSTANCES)
    answers: list[dict[str, Any]] = []

    def trigger(server: ServerProcess) -> None:
        with httpx2.Client(base_url=server.url, headers=HEADERS, timeout=30) as http:
            http.get("/v1/health")
            start.wait(timeout=30)
            answers.append(ok(http.post(path + "/trigger")))

    threads = [threading.Thread(target=trigger, args=(server,)) for server in instances]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


# --- the admin API across instances (D29 to D32) ---------------------------------------------
# State (records, snapshots, the clock) is the database's, so every instance sees a change
# made through any one; the journal and fault rules are each instance's own memory.


def _admin(server: ServerProcess, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx2.request(
        method, f"{server.url}/_mock{path}", headers=ADMIN_HEADERS, timeout=30, **kwargs
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_snapshots_and_the_clock_act_on_the_whole_deployment(
    instances: list[ServerProcess],
) -> None:
    first, second, third = instances
    with httpx2.Client(base_url=first.url, headers=HEADERS, timeout=30) as http:
        ok(http.post("/v1/buckets", json={"bucket_name": "kept-by-snapshot", **SCHEMA}))
    _admin(second, "POST", "/snapshots", json={"name": "deployment"})
    with httpx2.Client(base_url=third.url, headers=HEADERS, timeout=30) as http:
        ok(http.post("/v1/buckets", json={"bucket_name": "after-snapshot", **SCHEMA}))
    _admin(first, "POST", "/snapshots/deployment/restore")
    with httpx2.Client(base_url=third.url, headers=HEADERS, timeout=30) as http:
        names = {b["bucket_name"] for b in ok(http.post("/v1/buckets/list", json={}))["results"]}
    assert "kept-by-snapshot" in names
    assert "after-snapshot" not in names
    assert [s["name"] for s in _admin(third, "GET", "/snapshots")["results"]] == ["deployment"]

    frozen = _admin(first, "POST", "/clock", json={"freeze": True, "set": "2033-03-03T03:03:03Z"})
    try:
        assert _admin(second, "GET", "/clock") == frozen
        # The other instances follow within a fraction of a second: their records say so.
        time.sleep(0.6)
        with httpx2.Client(base_url=third.url, headers=HEADERS, timeout=30) as http:
            bucket = ok(http.post("/v1/buckets", json={"bucket_name": "stamped", **SCHEMA}))
        assert bucket["created_at"].startswith("2033-03-03T03:03:03")
    finally:
        _admin(first, "POST", "/clock", json={"freeze": False})


def test_fault_rules_and_the_journal_are_each_instance_s_own(
    instances: list[ServerProcess],
) -> None:
    first, second, _ = instances
    _admin(first, "DELETE", "/requests")
    _admin(second, "DELETE", "/requests")
    rule = _admin(first, "POST", "/faults", json={"path": "/v1/buckets/list", "status": 503})
    try:
        answers = [
            httpx2.post(server.url + "/v1/buckets/list", json={}, headers=HEADERS, timeout=10)
            for server in (first, second)
        ]
        assert [answer.status_code for answer in answers] == [503, 200]
        assert _admin(second, "GET", "/faults")["results"] == []
        assert _admin(first, "POST", "/requests/count", json={"path": "/v1/buckets/list"}) == {
            "count": 1
        }
        assert _admin(second, "POST", "/requests/count", json={"path": "/v1/buckets/list"}) == {
            "count": 1
        }
    finally:
        _admin(first, "DELETE", f"/faults/{rule['fault_id']}")


def test_a_reset_through_one_instance_resets_the_records_every_instance_serves(
    instances: list[ServerProcess],
) -> None:
    first, second, third = instances
    with httpx2.Client(base_url=first.url, headers=HEADERS, timeout=30) as http:
        ok(http.post("/v1/buckets", json={"bucket_name": "before-reset", **SCHEMA}))
    assert _admin(second, "POST", "/reset") == {"success": True}
    with httpx2.Client(base_url=third.url, headers=HEADERS, timeout=30) as http:
        assert ok(http.post("/v1/buckets/list", json={}))["results"] == []
        assert ok(http.get("/v1/namespaces/default"))["namespace_name"] == "default"


# --- a run whose instance died is taken over (D35) -------------------------------------------


def _kill_with_its_engine(server: ServerProcess) -> None:
    """SIGKILL the server and its engine at once, as when its machine goes: nobody is left to
    give the lease back, so only its expiry frees the run."""
    assert server.process is not None
    pids = [server.process.pid, *children_of(server.process.pid)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    server.process.wait()
    server.process = None


def test_another_instance_takes_over_the_run_of_one_killed_mid_run(
    tmp_path: Path, postgres_server: PostgresServer | None, s3: S3Store
) -> None:
    if postgres_server is None:
        pytest.skip(postgres_server_missing())
    count = 2000
    source = s3.new_bucket()
    for index in range(count):
        s3.put(source, f"in/f{index:04}.txt", b"file %d" % index)
    name = postgres_server.create_database()
    url = postgres_server.url(name)
    # The scheduler on in both (it is what takes a run over) and a short lease.
    env = {"MIXPEEK_MOCK_SCHEDULER": "on", "MIXPEEK_MOCK_LOCK_TTL_SECONDS": "3"}
    servers = [
        ServerProcess(tmp_path / f"takeover{index}.db", database_url=url, env=env)
        for index in range(2)
    ]
    try:
        for server in servers:
            server.start()
        with httpx2.Client(base_url=servers[0].url, headers=HEADERS, timeout=30) as http:
            bucket = ok(http.post("/v1/buckets", json={"bucket_name": "big", **SCHEMA}))
            connection = ok(
                http.post("/v1/organizations/connections", json=s3.connection_body("moto"))
            )
            sync = ok(
                http.post(
                    f"/v1/buckets/{bucket['bucket_id']}/syncs",
                    json={
                        "connection_id": connection["connection_id"],
                        "source_path": f"{source}/in",
                        "batch_size": 50,
                        "polling_interval_seconds": 900,
                    },
                )
            )
            path = f"/v1/buckets/{bucket['bucket_id']}/syncs/{sync['sync_config_id']}"
            deadline = time.monotonic() + 60
            while True:
                record = ok(http.get(path))
                written = ok(http.get(f"/v1/buckets/{bucket['bucket_id']}/objects?page_size=1"))
                if record["locked"] and written["pagination"]["total"] >= 200:
                    break
                assert time.monotonic() < deadline, record
                time.sleep(0.05)
        holder = record["locked_by_worker_id"]
        dying = next(s for s in servers if s.process and f"_{s.process.pid}_" in holder)
        survivor = next(s for s in servers if s is not dying)
        _kill_with_its_engine(dying)

        with httpx2.Client(base_url=survivor.url, headers=HEADERS, timeout=30) as http:
            deadline = time.monotonic() + 120
            while True:
                record = ok(http.get(path))
                if record["sync_run_counter"] >= 1 and not record["locked"]:
                    break
                assert time.monotonic() < deadline, record
                time.sleep(0.2)
            jobs = ok(http.post(f"{path}/jobs", json={}))["results"]
            objects: list[dict[str, Any]] = []
            page = 1
            while True:
                answer = ok(
                    http.get(
                        f"/v1/buckets/{bucket['bucket_id']}/objects?page={page}&page_size=1000"
                    )
                )
                objects += answer["results"]
                if not answer["pagination"]["next_page"]:
                    break
                page += 1
        # Two schedulers, one scheduled run, then one run that took it over: two jobs.
        assert len(jobs) == 2, jobs
        by_status = {job["status"]: job for job in jobs}
        assert set(by_status) == {"interrupted", "completed"}, jobs
        assert by_status["completed"]["trigger"] == "resume"
        keys = [obj["blobs"][0]["properties"]["source_key"] for obj in objects]
        assert len(keys) == count
        assert len(set(keys)) == count  # no source key has two objects
    finally:
        for server in servers:
            server.stop()
        postgres_server.drop_database(name)
