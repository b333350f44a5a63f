"""Pause, resume, trigger and unlock, and the states runs move a sync through (D18 to D21).

Runs are real: the server's engine reads a bucket of moto's S3 server (tests/s3.py)."""

import time
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Api
from tests.s3 import S3Store, trigger_and_wait, wait_for_run

CONNECTIONS = "/v1/organizations/connections"
Record = dict[str, Any]


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def store(s3: S3Store) -> str:
    """A bucket of the S3 server with three files under ``in/``."""
    bucket = s3.new_bucket()
    for index in range(3):
        s3.put(bucket, f"in/clip{index}.mp4", b"clip %d" % index)
    return bucket


@pytest.fixture
def live_sync(api: Api, s3: S3Store, store: str) -> Record:
    """A sync that reads ``store``'s ``in/`` folder."""
    connection = api.ok("POST", CONNECTIONS, json=s3.connection_body("store"))
    return api.make_sync(api.make_bucket(), connection, source_path=f"{store}/in")


def action(api: Api, sync: Record, name: str, query: str = "") -> Any:
    return api.post(f"{api.sync_path(sync)}/{name}{query}")


def assert_400(response: Any, code: str, *words: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "BadRequestError"
    assert error["code"] == code
    for word in words:
        assert word in error["message"]


# -- pause and resume ---------------------------------------------------------------------------


def test_pause_suspends_and_unschedules_a_sync(api: Api, sync: Record) -> None:
    assert sync["next_sync_at"] is not None  # a new active sync is due at once

    paused = action(api, sync, "pause")

    assert paused.status_code == 200, paused.text
    record = paused.json()
    assert record["paused"] is True
    assert record["status"] == "SUSPENDED"
    assert record["next_sync_at"] is None
    assert record["paused_by_user_id"] == sync["created_by_user_id"]
    assert when(record["paused_at"]) >= when(sync["created_at"])
    assert api.ok("GET", api.sync_path(sync)) == record


def test_pausing_a_paused_sync_changes_nothing(api: Api, sync: Record) -> None:
    first = action(api, sync, "pause").json()

    again = action(api, sync, "pause")

    assert again.status_code == 200
    assert again.json() == first


def test_resume_of_a_sync_that_never_ran_makes_it_pending_and_due(api: Api, sync: Record) -> None:
    paused = action(api, sync, "pause").json()

    resumed = action(api, sync, "resume")

    assert resumed.status_code == 200, resumed.text
    record = resumed.json()
    assert record["paused"] is False
    assert record["paused_at"] is None
    assert record["paused_by_user_id"] is None
    assert record["status"] == "PENDING"
    assert when(record["next_sync_at"]) >= when(paused["updated_at"])
    assert when(record["updated_at"]) > when(paused["updated_at"])


def test_resuming_a_sync_that_is_not_stopped_changes_nothing(api: Api, sync: Record) -> None:
    response = action(api, sync, "resume")

    assert response.status_code == 200
    assert response.json() == sync


def test_patching_status_suspended_is_a_pause_and_another_status_resumes_scheduling(
    api: Api, sync: Record
) -> None:
    paused = api.ok("PATCH", api.sync_path(sync), json={"status": "paused"})
    assert (paused["status"], paused["paused"], paused["next_sync_at"]) == ("SUSPENDED", True, None)
    assert paused["paused_by_user_id"] == sync["created_by_user_id"]

    active = api.ok("PATCH", api.sync_path(sync), json={"status": "ACTIVE"})

    assert (active["status"], active["paused"], active["paused_at"]) == ("ACTIVE", False, None)
    assert active["next_sync_at"] is not None


def test_patching_is_active_false_unschedules_without_pausing(api: Api, sync: Record) -> None:
    record = api.ok("PATCH", api.sync_path(sync), json={"is_active": False})

    assert (record["is_active"], record["paused"], record["next_sync_at"]) == (False, False, None)
    again = api.ok("PATCH", api.sync_path(sync), json={"is_active": True})
    assert again["next_sync_at"] is not None


# -- trigger ------------------------------------------------------------------------------------


def test_a_trigger_runs_the_sync_and_answers_its_job(api: Api, live_sync: Record) -> None:
    answer, record = trigger_and_wait(api, live_sync)

    assert answer == {
        "success": True,
        "sync_config_id": live_sync["sync_config_id"],
        "sync_job_id": answer["sync_job_id"],
        "status": "running",
        "full_sync": False,
    }
    assert answer["sync_job_id"].startswith("job_")
    assert record["status"] == "ACTIVE"
    assert record["total_files_synced"] == 3
    assert record["sync_run_counter"] == 1
    assert (record["locked"], record["locked_by_worker_id"], record["lock_expires_at"]) == (
        False,
        None,
        None,
    )
    # continuous: due again one polling interval after the run
    interval = timedelta(seconds=record["polling_interval_seconds"])
    assert when(record["next_sync_at"]) == when(record["last_sync_at"]) + interval


def test_an_initial_only_sync_completes_and_is_not_scheduled_again(
    api: Api, live_sync: Record
) -> None:
    sync = api.make_sync(
        {"bucket_id": live_sync["bucket_id"]},
        {"connection_id": live_sync["connection_id"]},
        source_path=live_sync["source_path"],
        sync_mode="initial_only",
    )

    _, record = trigger_and_wait(api, sync)

    assert record["status"] == "COMPLETED"
    assert record["next_sync_at"] is None
    assert record["last_sync_at"] is not None


@pytest.mark.parametrize(
    ("setup", "code", "word"),
    [
        ({"status": "SUSPENDED"}, "sync_paused", "resume"),
        ({"is_active": False}, "sync_inactive", "is_active"),
        ({"status": "FAILED"}, "sync_failed", "resume"),
    ],
)
def test_a_paused_inactive_or_failed_sync_cannot_be_triggered(
    api: Api, sync: Record, setup: Record, code: str, word: str
) -> None:
    before = api.ok("PATCH", api.sync_path(sync), json=setup)

    assert_400(action(api, sync, "trigger"), code, sync["sync_config_id"], word)
    assert api.ok("GET", api.sync_path(sync)) == before


def test_a_trigger_while_a_run_holds_the_lock_starts_nothing(
    api: Api, s3: S3Store, live_sync: Record, store: str
) -> None:
    for index in range(400):  # enough that the run is still going when the second trigger lands
        s3.put(store, f"in/many/f{index}.txt", b"%d" % index)
    first = action(api, live_sync, "trigger").json()

    second = action(api, live_sync, "trigger")
    full = action(api, live_sync, "trigger", "?full_sync=true")

    assert second.status_code == 200, second.text
    assert second.json() == {
        "success": True,
        "sync_config_id": live_sync["sync_config_id"],
        "sync_job_id": first["sync_job_id"],
        "status": "skipped_already_running",
        "full_sync": False,
    }
    assert full.json()["status"] == "skipped_already_running"
    assert full.json()["full_sync"] is True
    assert api.ok("GET", api.sync_path(live_sync))["pending_full_sync"] is True
    # The full run asked for follows the running one at once, scheduler or not.
    deadline = time.monotonic() + 60
    record = wait_for_run(api, live_sync, timeout=60)
    while record["sync_run_counter"] < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
        record = wait_for_run(api, live_sync, timeout=60)
    assert record["sync_run_counter"] == 2
    assert record["pending_full_sync"] is False
    assert record["total_files_discovered"] == 403 * 2  # the second run, full, read them all


# -- unlock -------------------------------------------------------------------------------------


def test_unlock_frees_a_held_lease_and_says_whether_it_was_held(
    api: Api, s3: S3Store, live_sync: Record, store: str
) -> None:
    for index in range(400):
        s3.put(store, f"in/many/f{index}.txt", b"%d" % index)
    action(api, live_sync, "trigger")

    unlocked = action(api, live_sync, "unlock")

    assert unlocked.status_code == 200, unlocked.text
    assert unlocked.json() == {
        "success": True,
        "sync_config_id": live_sync["sync_config_id"],
        "was_locked": True,
    }
    record = api.ok("GET", api.sync_path(live_sync))
    assert (record["locked"], record["locked_by_worker_id"], record["locked_at"]) == (
        False,
        None,
        None,
    )
    assert record["next_sync_at"] is not None  # due again: the next run picks up the rest
    again = action(api, live_sync, "unlock").json()
    assert again["was_locked"] is False
    # The run whose lease was taken stops without counting itself as a run.
    time.sleep(1.0)
    assert api.ok("GET", api.sync_path(live_sync))["sync_run_counter"] == 0
    # and the next run completes the work: every file, those the stopped run wrote verified
    # without being counted as synced twice.
    _, done = trigger_and_wait(api, live_sync, timeout=60)
    assert done["sync_run_counter"] == 1
    assert done["total_files_discovered"] == 403
    assert done["total_files_synced"] <= 403


def test_unlock_of_a_sync_that_is_not_locked_answers_false(api: Api, sync: Record) -> None:
    response = action(api, sync, "unlock")

    assert response.status_code == 200
    assert response.json()["was_locked"] is False
    assert api.ok("GET", api.sync_path(sync)) == sync


# -- failures -----------------------------------------------------------------------------------


def test_failed_runs_count_up_to_failed_and_resume_resets_them(api: Api, s3: S3Store) -> None:
    connection = api.ok("POST", CONNECTIONS, json=s3.connection_body("store"))
    sync = api.make_sync(api.make_bucket(), connection, source_path="no-such-bucket/in")

    for count in range(1, 6):
        _, record = trigger_and_wait(api, sync)
        assert record["consecutive_failures"] == count
        assert record["last_error"].startswith("NoSuchBucket")
    assert record["status"] == "FAILED"
    assert record["next_sync_at"] is None
    assert record["sync_run_counter"] == 5
    assert_400(action(api, sync, "trigger"), "sync_failed", "5 consecutive")

    resumed = action(api, sync, "resume").json()

    assert (resumed["status"], resumed["consecutive_failures"]) == ("ACTIVE", 0)
    assert resumed["next_sync_at"] is not None
