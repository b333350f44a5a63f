"""End to end: a real ``mixpeek-mock serve`` process, driven over HTTP as a user would.

What a client writes survives a graceful restart, and the public endpoints (health, the spec)
answer without a key.
"""

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.conftest import API_KEY, ServedDatabase, s3_connection_body
from tests.server_process import ServerProcess

pytestmark = pytest.mark.e2e

COMMITTED_SPEC = Path(__file__).resolve().parent.parent / "openapi.json"


@pytest.fixture(scope="module")
def server(served_database: ServedDatabase) -> Iterator[ServerProcess]:
    with ServerProcess(served_database.path, database_url=served_database.url) as process:
        yield process


def client_for(server: ServerProcess, namespace: str = "default") -> httpx2.Client:
    return httpx2.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {API_KEY}", "X-Namespace": namespace},
        timeout=10,
    )


def ok(response: httpx2.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def moment(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_health_answers_without_a_key(server: ServerProcess) -> None:
    response = httpx2.get(server.url + "/v1/health", timeout=10)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status"] == "OK"
    assert body["database"] == "ok"


def test_the_served_spec_is_the_committed_openapi_json(server: ServerProcess) -> None:
    response = httpx2.get(server.url + "/openapi.json", timeout=10)

    assert response.status_code == 200
    assert response.json() == json.loads(COMMITTED_SPEC.read_text())


def test_a_patched_sync_survives_a_graceful_restart(server: ServerProcess) -> None:
    with client_for(server) as http:
        namespace = ok(http.post("/v1/namespaces", json={"namespace_name": "e2e_restart"}))
        assert namespace["namespace_id"].startswith("ns_")
    with client_for(server, namespace=namespace["namespace_id"]) as http:
        bucket = ok(
            http.post(
                "/v1/buckets",
                json={
                    "bucket_name": "footage",
                    "bucket_schema": {"properties": {"video": {"type": "video"}}},
                },
            )
        )
        connection = ok(
            http.post(
                "/v1/organizations/connections",
                json=s3_connection_body("e2e-minio"),
            )
        )
        sync_path = f"/v1/buckets/{bucket['bucket_id']}/syncs"
        created = ok(
            http.post(
                sync_path,
                json={
                    "connection_id": connection["connection_id"],
                    "source_path": "raw/footage",
                    "metadata": {"team": "video", "tier": "gold"},
                },
            )
        )
        sync_path += f"/{created['sync_config_id']}"
        patched = ok(
            http.patch(
                sync_path,
                json={
                    "description": "nightly import",
                    "batch_size": 10,
                    "polling_interval_seconds": 600,
                    "status": "SUSPENDED",
                    "metadata": {"team": "archive"},
                },
            )
        )
        assert patched["description"] == "nightly import"
        assert patched["batch_size"] == 10
        assert patched["polling_interval_seconds"] == 600
        assert patched["status"] == "SUSPENDED"
        assert patched["metadata"] == {"team": "archive"}
        assert moment(patched["updated_at"]) > moment(created["updated_at"])

    server.restart()

    with client_for(server, namespace=namespace["namespace_id"]) as http:
        assert ok(http.get(sync_path)) == patched
        listed = ok(http.post(f"/v1/buckets/{bucket['bucket_id']}/syncs/list"))
        assert listed["results"] == [patched]
        assert listed["total"] == 1
