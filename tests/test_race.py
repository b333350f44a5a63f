"""Two clients racing PATCHes on one sync configuration lose no update (CONTRACT.md D4).

Each client changes its own field, in order, over its own connection. Whatever the
interleaving, every PATCH must be answered 200 with its change applied, and the record must end
up holding the last value of each field: a read-modify-write that worked on a stale row would
put an old value of the other client's field back.
"""

import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx2
import pytest

from tests.conftest import API_KEY, ServedDatabase, s3_connection_body
from tests.server_process import ServerProcess

pytestmark = pytest.mark.e2e

ROUNDS = 50
HEADERS = {"Authorization": f"Bearer {API_KEY}", "X-Namespace": "default"}

Body = Callable[[int], dict[str, Any]]


def batch_size(round_: int) -> dict[str, Any]:
    return {"batch_size": round_}


def description(round_: int) -> dict[str, Any]:
    return {"description": f"d{round_}"}


@pytest.fixture(scope="module")
def server(served_database: ServedDatabase) -> Iterator[ServerProcess]:
    with ServerProcess(served_database.path, database_url=served_database.url) as process:
        yield process


def ok(response: httpx2.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def new_sync_path(server: ServerProcess, name: str) -> str:
    with httpx2.Client(base_url=server.url, headers=HEADERS, timeout=30) as http:
        bucket = ok(
            http.post(
                "/v1/buckets",
                json={
                    "bucket_name": name,
                    "bucket_schema": {"properties": {"video": {"type": "video"}}},
                },
            )
        )
        connection = ok(
            http.post(
                "/v1/organizations/connections",
                json=s3_connection_body(name),
            )
        )
        sync = ok(
            http.post(
                f"/v1/buckets/{bucket['bucket_id']}/syncs",
                json={"connection_id": connection["connection_id"], "source_path": "in"},
            )
        )
    return f"/v1/buckets/{bucket['bucket_id']}/syncs/{sync['sync_config_id']}"


def race(path: str, writers: list[tuple[str, Body]]) -> list[list[httpx2.Response]]:
    """Each writer PATCHes ``body(1)`` .. ``body(ROUNDS)`` in order against its base URL, all
    writers at once, each on its own client; the responses of each writer, in order."""
    start = threading.Barrier(len(writers))
    responses: list[list[httpx2.Response]] = [[] for _ in writers]
    errors: list[BaseException] = []

    def write(index: int, base_url: str, body: Body) -> None:
        try:
            with httpx2.Client(base_url=base_url, headers=HEADERS, timeout=30) as http:
                http.get("/v1/health")  # connect before the start line
                start.wait(timeout=30)
                for round_ in range(1, ROUNDS + 1):
                    responses[index].append(http.patch(path, json=body(round_)))
        except BaseException as exc:  # re-raised in the test's thread below
            errors.append(exc)
            start.abort()

    threads = [
        threading.Thread(target=write, args=(index, base_url, body))
        for index, (base_url, body) in enumerate(writers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return responses


def assert_every_patch_applied(
    by_batch_size: list[httpx2.Response], by_description: list[httpx2.Response]
) -> None:
    everything = by_batch_size + by_description
    failed = [(r.status_code, r.text) for r in everything if r.status_code != 200]
    assert failed == []
    assert [r.json()["batch_size"] for r in by_batch_size] == list(range(1, ROUNDS + 1))
    assert [r.json()["description"] for r in by_description] == [
        f"d{round_}" for round_ in range(1, ROUNDS + 1)
    ]
    # Every write moved updated_at forward (D3): a hundred writes, a hundred distinct times.
    moments = {datetime.fromisoformat(r.json()["updated_at"]) for r in everything}
    assert len(moments) == 2 * ROUNDS


def test_racing_patches_on_one_record_lose_no_update(server: ServerProcess) -> None:
    path = new_sync_path(server, "race-one-process")

    by_batch_size, by_description = race(
        path, [(server.url, batch_size), (server.url, description)]
    )

    assert_every_patch_applied(by_batch_size, by_description)
    assert "database is locked" not in server.log().lower()
    with httpx2.Client(base_url=server.url, headers=HEADERS, timeout=30) as http:
        final = ok(http.get(path))
    assert final["batch_size"] == ROUNDS
    assert final["description"] == f"d{ROUNDS}"


def test_two_processes_on_one_file_lose_no_update(server: ServerProcess) -> None:
    """The same race, each client talking to its own server process on the same SQLite file
    (two containers on one volume, say), or the same PostgreSQL database (two instances behind
    a load balancer): the write lock is the database's, not the process's."""
    path = new_sync_path(server, "race-two-processes")

    # Its own log beside the first's, on the first's database.
    sibling_log = server.database_path.with_name("sibling.db")
    with ServerProcess(sibling_log, database_url=server.database_url) as sibling:
        by_batch_size, by_description = race(
            path, [(server.url, batch_size), (sibling.url, description)]
        )

    assert_every_patch_applied(by_batch_size, by_description)
    assert "database is locked" not in server.log().lower()
    with httpx2.Client(base_url=server.url, headers=HEADERS, timeout=30) as http:
        final = ok(http.get(path))
    assert final["batch_size"] == ROUNDS
    assert final["description"] == f"d{ROUNDS}"
