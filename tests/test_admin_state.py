"""The admin API's door, reset, snapshots and clock (CONTRACT.md D28, D29, D32)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.db.database import Database, to_column
from app.errors import MSG_INVALID_ADMIN_TOKEN, MSG_MISSING_ADMIN_TOKEN
from tests.conftest import ADMIN_HEADERS, API_KEY, Api


def admin(client: TestClient, method: str, path: str, **kwargs: Any) -> Any:
    return client.request(method, f"/_mock{path}", headers=ADMIN_HEADERS, **kwargs)


def admin_ok(client: TestClient, method: str, path: str, **kwargs: Any) -> Any:
    response = admin(client, method, path, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def _populate(api: Api) -> dict[str, Any]:
    api.make_namespace("extra")
    bucket = api.make_bucket("videos")
    connection = api.make_connection("minio")
    return api.make_sync(bucket, connection)


# --- The door (D28) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, MSG_MISSING_ADMIN_TOKEN),
        ({"Authorization": f"Bearer {API_KEY}"}, MSG_INVALID_ADMIN_TOKEN),
        ({"Authorization": "Bearer mma_wrong"}, MSG_INVALID_ADMIN_TOKEN),
    ],
)
def test_the_admin_api_refuses_api_keys_and_missing_or_wrong_tokens(
    client: TestClient, headers: dict[str, str], message: str
) -> None:
    for method, path in [("POST", "/_mock/reset"), ("GET", "/_mock/clock"), ("GET", "/_mock/x")]:
        response = client.request(method, path, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == {
            "type": "UnauthorizedError",
            "message": message,
            "code": None,
            "details": None,
        }


def test_the_admin_token_is_no_api_key(client: TestClient) -> None:
    response = client.get("/v1/buckets", headers={**ADMIN_HEADERS, "X-Namespace": "default"})
    assert response.status_code == 401


def test_an_unknown_admin_path_is_a_404_in_the_envelope_behind_the_token(
    client: TestClient,
) -> None:
    response = admin(client, "GET", "/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "NotFoundError"


# --- Reset (D29) -------------------------------------------------------------------------


def test_reset_leaves_a_fresh_server_with_the_same_key_and_an_empty_default_namespace(
    api: Api, client: TestClient
) -> None:
    _populate(api)
    assert admin_ok(client, "POST", "/reset") == {"success": True}

    namespaces = api.ok("POST", "/v1/namespaces/list", json={})
    assert [n["namespace_name"] for n in namespaces["results"]] == ["default"]
    assert api.ok("POST", "/v1/buckets/list", json={})["results"] == []
    assert api.ok("POST", "/v1/organizations/connections/list", json={})["results"] == []


def test_reset_puts_the_clock_back_to_real_time(client: TestClient) -> None:
    admin_ok(client, "POST", "/clock", json={"freeze": True, "set": "2030-01-01T00:00:00Z"})
    admin_ok(client, "POST", "/reset")
    clock = admin_ok(client, "GET", "/clock")
    assert clock["frozen"] is False
    assert abs(datetime.fromisoformat(clock["now"]) - datetime.now(UTC)) < timedelta(seconds=5)


# --- Snapshots (D29) ---------------------------------------------------------------------


def test_a_snapshot_brings_back_every_record_as_it_was_and_survives_a_reset(
    api: Api, client: TestClient
) -> None:
    sync = _populate(api)
    path = api.sync_path(sync)
    before = api.ok("GET", path)
    saved = admin_ok(client, "POST", "/snapshots", json={"name": "base"})
    assert saved["name"] == "base"
    assert saved["created_at"].endswith("Z")

    api.ok("PATCH", path, json={"metadata": {"changed": True}})
    admin_ok(client, "POST", "/reset")
    assert api.get(path).status_code == 404

    assert admin_ok(client, "POST", "/snapshots/base/restore") == {"success": True, "name": "base"}
    assert api.ok("GET", path) == before
    names = [n["namespace_name"] for n in api.ok("POST", "/v1/namespaces/list", json={})["results"]]
    assert sorted(names) == ["default", "extra"]
    assert admin_ok(client, "GET", "/snapshots")["results"] == [saved]


def test_snapshots_are_listed_deleted_and_unknown_ones_are_404(client: TestClient) -> None:
    admin_ok(client, "POST", "/snapshots", json={"name": "a"})
    admin_ok(client, "POST", "/snapshots", json={"name": "b"})
    assert [s["name"] for s in admin_ok(client, "GET", "/snapshots")["results"]] == ["a", "b"]
    assert admin_ok(client, "DELETE", "/snapshots/a") == {"success": True, "name": "a"}
    assert [s["name"] for s in admin_ok(client, "GET", "/snapshots")["results"]] == ["b"]
    for method, path in [("DELETE", "/snapshots/a"), ("POST", "/snapshots/nope/restore")]:
        response = admin(client, method, path)
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "NotFoundError"


@pytest.mark.parametrize(
    "body",
    [{}, {"name": ""}, {"name": "a/b"}, {"name": 5}, {"name": "x" * 101}, {"name": "a", "x": 1}],
)
def test_a_malformed_snapshot_name_is_a_422_naming_the_field(
    client: TestClient, body: dict[str, Any]
) -> None:
    response = admin(client, "POST", "/snapshots", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "ValidationError"
    assert admin_ok(client, "GET", "/snapshots")["results"] == []


# --- The clock (D32) ---------------------------------------------------------------------


def test_a_frozen_clock_stamps_records_and_advances_only_when_told(
    api: Api, client: TestClient
) -> None:
    frozen = admin_ok(
        client, "POST", "/clock", json={"freeze": True, "set": "2030-01-01T00:00:00Z"}
    )
    assert frozen == {"now": "2030-01-01T00:00:00Z", "frozen": True}
    bucket = api.make_bucket("clocked")
    assert bucket["created_at"].startswith("2030-01-01T00:00:00")

    moved = admin_ok(client, "POST", "/clock", json={"advance_seconds": 90})
    assert moved == {"now": "2030-01-01T00:01:30Z", "frozen": True}
    assert admin_ok(client, "GET", "/clock") == moved

    running = admin_ok(client, "POST", "/clock", json={"freeze": False})
    assert running["frozen"] is False
    assert running["now"].startswith("2030-01-01T00:01:3")


@pytest.mark.parametrize(
    "body",
    [
        {"freeze": "yes"},
        {"set": "tomorrow"},
        {"set": "2030-01-01T00:00:00"},  # no offset: ambiguous
        {"set": "1900-01-01T00:00:00Z"},
        {"advance_seconds": -1},
        {"advance_seconds": "10"},
        {"advance_seconds": True},
        {"set": 0},
        {"set": "1700000000"},
        {"advance_seconds": 1e12},
        {"speed": 2},
    ],
)
def test_a_malformed_clock_change_is_a_422_and_changes_nothing(
    client: TestClient, body: dict[str, Any]
) -> None:
    before = admin_ok(client, "POST", "/clock", json={"freeze": True})
    response = admin(client, "POST", "/clock", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["type"] == "ValidationError"
    assert admin_ok(client, "GET", "/clock") == before


def test_advances_that_add_up_past_the_latest_clock_are_a_422_and_change_nothing(
    client: TestClient,
) -> None:
    """Each advance is bounded, but they add up: from 8999 they used to overflow the year 9999
    after a few calls, and every later one answered 500."""
    before = admin_ok(
        client, "POST", "/clock", json={"freeze": True, "set": "8991-01-01T00:00:00Z"}
    )
    for body in (
        {"advance_seconds": 10 * 365 * 24 * 3600},
        {"set": "8999-12-31T23:59:59Z", "advance_seconds": 1},
    ):
        response = admin(client, "POST", "/clock", json=body)
        assert response.status_code == 422, response.text
        (problem,) = response.json()["error"]["details"]["validation_errors"]
        assert problem["location"] == ["body", "advance_seconds"]
        assert admin_ok(client, "GET", "/clock") == before
    for _ in range(100):
        admin_ok(client, "POST", "/clock", json={"advance_seconds": 24 * 3600})
    assert admin_ok(client, "GET", "/clock")["now"].startswith("8991-04-11")


def test_moving_the_clock_moves_live_leases_with_it(
    api: Api, client: TestClient, database: Database
) -> None:
    """A lease keeps the real time it had left: an hour's jump is no abandoned run."""
    sync = _populate(api)
    admin_ok(client, "POST", "/clock", json={"freeze": True, "set": "2031-01-01T00:00:00Z"})
    expires = datetime(2031, 1, 1, 0, 1, tzinfo=UTC)
    with database.transaction():
        database.execute(
            "UPDATE sync_config SET locked_by_worker_id = ?, locked_at = ?, lock_expires_at = ?"
            " WHERE sync_config_id = ?",
            ("wrk_elsewhere", to_column(expires), to_column(expires), sync["sync_config_id"]),
        )
    admin_ok(client, "POST", "/clock", json={"advance_seconds": 3600})
    admin_ok(client, "POST", "/clock", json={"set": "2031-01-01T00:30:00Z"})
    record = api.ok("GET", api.sync_path(sync))
    assert record["locked_by_worker_id"] == "wrk_elsewhere"
    assert record["lock_expires_at"] == "2031-01-01T00:31:00Z"
