"""Sync metrics (CONTRACT.md D24): counters from real runs against moto, read through the API.

Staleness needs more than max(2 x polling_interval_seconds, 120) seconds without a run, and
the shortest interval is 30 s: a real stale sync takes two minutes to arise, and the server has
no clock to move yet. So the API tests check the numbers staleness is judged from, and the
verdict itself is tested on ``build_metrics`` (the function the route calls) with a fixed now.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import mixpeek
import pytest

from app.jobs.metrics import build_metrics
from tests.conftest import Api
from tests.s3 import S3Store
from tests.sync_runs import SourceSync, silent_endpoint, wait_until

FILES = {"a.txt": b"alpha", "b.txt": b"bravo!", "c.txt": b"charlie", "d.txt": b"delta"}


def sdk_metrics(metrics: dict[str, Any]) -> mixpeek.SyncMetricsResponse:
    parsed = mixpeek.SyncMetricsResponse.from_dict(metrics)
    assert parsed is not None
    assert parsed.sync_config_id == metrics["sync_config_id"]
    return parsed


def test_a_sync_that_never_ran(api: Api, s3: S3Store) -> None:
    source = SourceSync.create(api, s3, FILES)
    metrics = source.metrics()
    assert metrics["status"] == "PENDING"
    assert (metrics["is_active"], metrics["paused"]) == (True, False)
    for counter in (
        "total_files_discovered",
        "total_files_synced",
        "total_files_failed",
        "total_bytes_synced",
        "batches_created",
        "sync_run_counter",
        "consecutive_failures",
        "dlq_total",
    ):
        assert metrics[counter] == 0, counter
    assert metrics["seconds_since_last_sync"] is None
    assert metrics["intervals_since_last_sync"] is None
    assert metrics["stale_after_seconds"] == 600  # max(2 x 300, 120)
    assert (metrics["is_stale"], metrics["healthy"], metrics["running_job"]) == (False, True, False)
    assert metrics["failure_rate"] == 0
    assert (metrics["dlq_by_error"], metrics["last_job"]) == ({}, None)
    sdk_metrics(metrics)


def test_counters_after_runs(api: Api, s3: S3Store) -> None:
    source = SourceSync.create(api, s3, FILES, batch_size=2)
    source.put("e.txt", b"frozen", StorageClass="GLACIER")  # listed last: a batch of its own
    answer, record = source.run()

    metrics = source.metrics()
    sdk_metrics(metrics)
    assert metrics["total_files_discovered"] == 5
    assert metrics["total_files_synced"] == 4
    assert metrics["total_files_failed"] == 1
    assert metrics["total_bytes_synced"] == sum(len(body) for body in FILES.values())
    assert metrics["batches_created"] == 2  # [a, b] and [c, d] wrote; [e] wrote nothing
    assert metrics["sync_run_counter"] == 1
    assert metrics["failure_rate"] == pytest.approx(0.2)
    assert metrics["dlq_total"] == 1
    assert metrics["dlq_by_error"] == {"InvalidObjectState": 1}
    assert metrics["last_sync_at"] == record["last_sync_at"]
    assert metrics["next_sync_at"] == record["next_sync_at"]
    assert 0 <= metrics["seconds_since_last_sync"] < 60
    assert metrics["is_stale"] is False
    assert metrics["healthy"] is True
    assert metrics["running_job"] is False
    last = metrics["last_job"]
    assert last["sync_job_id"] == answer["sync_job_id"]
    assert (last["status"], last["files_synced"], last["files_failed"]) == ("completed", 4, 1)
    assert last["throughput_files_per_min"] > 0
    assert last["duration_seconds"] >= 0
    job = source.job(answer["sync_job_id"])
    assert last["throughput_files_per_min"] == job["throughput_files_per_min"]

    # A second (full) run adds what it found; the archived file waits for a requeue.
    source.run(full_sync=True)
    metrics = source.metrics()
    assert metrics["total_files_discovered"] == 9
    assert (metrics["total_files_synced"], metrics["total_files_failed"]) == (4, 1)
    assert metrics["sync_run_counter"] == 2
    assert metrics["batches_created"] == 2
    assert metrics["failure_rate"] == pytest.approx(1 / 9, abs=1e-6)

    # Staleness is judged against the sync's own interval.
    api.ok("PATCH", source.path, json={"polling_interval_seconds": 30})
    metrics = source.metrics()
    assert metrics["stale_after_seconds"] == 120
    assert metrics["intervals_since_last_sync"] == pytest.approx(
        metrics["seconds_since_last_sync"] / 30, abs=0.01
    )


def test_failures_pauses_and_running_jobs_are_unhealthy(api: Api, s3: S3Store) -> None:
    failing = SourceSync.create(api, s3, source_bucket="no-such-bucket-for-metrics")
    failing.run()
    metrics = failing.metrics()
    assert metrics["consecutive_failures"] == 1
    assert metrics["last_error"].startswith("NoSuchBucket: ")
    assert metrics["healthy"] is False
    assert metrics["last_job"]["status"] == "failed"
    assert metrics["seconds_since_last_sync"] is None  # no successful run yet

    paused = SourceSync.create(api, s3, {"a.txt": b"a"})
    paused.run()
    assert paused.metrics()["healthy"] is True
    api.ok("POST", f"{paused.path}/pause")
    metrics = paused.metrics()
    assert (metrics["paused"], metrics["status"], metrics["healthy"]) == (True, "SUSPENDED", False)
    api.ok("POST", f"{paused.path}/resume")
    api.ok("PATCH", paused.path, json={"is_active": False})
    assert paused.metrics()["healthy"] is False

    with silent_endpoint() as endpoint:
        body = s3.connection_body("silent-metrics")
        body["provider_config"]["endpoint_url"] = endpoint
        connection = api.ok("POST", "/v1/organizations/connections", json=body)
        running = SourceSync.create(api, s3, source_bucket="silent", connection=connection)
        job_id = running.trigger()["sync_job_id"]
        wait_until(lambda: running.job(job_id)["phase"] == "discovering")
        metrics = running.metrics()
        assert metrics["running_job"] is True
        assert metrics["stalled"] is False  # it has been quiet for seconds, not minutes
        assert metrics["last_job"]["sync_job_id"] == job_id
        assert metrics["last_job"]["status"] == "running"
        sdk_metrics(metrics)
        api.ok("POST", f"{running.path}/unlock")
        assert running.metrics()["running_job"] is False


# --- the verdicts, at a fixed now -------------------------------------------------------------

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def sync_row(**changes: Any) -> dict[str, Any]:
    """A sync's row as the metrics read it: an active continuous sync that ran once."""
    return {
        "sync_config_id": "sync_fixed",
        "status": "ACTIVE",
        "is_active": True,
        "paused": False,
        "sync_mode": "continuous",
        "polling_interval_seconds": 300,
        "total_files_discovered": 10,
        "total_files_synced": 8,
        "total_files_failed": 2,
        "total_bytes_synced": 800,
        "batches_created": 1,
        "sync_run_counter": 1,
        "consecutive_failures": 0,
        "last_error": None,
        "last_sync_at": NOW - timedelta(seconds=60),
        "next_sync_at": NOW + timedelta(seconds=240),
        **changes,
    }


def running_job_row(quiet_seconds: int) -> dict[str, Any]:
    return {
        "sync_job_id": "job_fixed",
        "status": "running",
        "files_synced": 5,
        "files_failed": 0,
        "started_at": NOW - timedelta(seconds=quiet_seconds + 60),
        "completed_at": None,
        "updated_at": NOW - timedelta(seconds=quiet_seconds),
    }


def metrics_of(sync: dict[str, Any], running: dict[str, Any] | None = None) -> dict[str, Any]:
    model = build_metrics(sync, last_job=running, running_job=running, dlq_by_error={}, now=NOW)
    wire: dict[str, Any] = model.model_dump(mode="json")
    sdk_metrics(wire)
    return wire


@pytest.mark.parametrize(
    ("interval", "seconds", "stale"),
    [
        (300, 600, False),  # 2 x 300: not more than the threshold
        (300, 601, True),
        (30, 120, False),  # 2 x 30 is under the 120-second floor
        (30, 121, True),
        (900, 1801, True),
    ],
)
def test_stale_after_more_than_two_intervals_or_two_minutes(
    interval: int, seconds: int, stale: bool
) -> None:
    metrics = metrics_of(
        sync_row(polling_interval_seconds=interval, last_sync_at=NOW - timedelta(seconds=seconds))
    )
    assert metrics["stale_after_seconds"] == max(2 * interval, 120)
    assert metrics["seconds_since_last_sync"] == seconds
    assert metrics["intervals_since_last_sync"] == pytest.approx(seconds / interval, abs=1e-3)
    assert metrics["is_stale"] is stale
    assert metrics["healthy"] is not stale


@pytest.mark.parametrize(
    "changes",
    [
        {"sync_mode": "initial_only"},  # not expected to run again
        {"paused": True},
        {"is_active": False},
        {"last_sync_at": None},  # never ran: nothing to be stale against
    ],
)
def test_only_an_active_continuous_sync_that_ran_can_be_stale(changes: dict[str, Any]) -> None:
    old = {"last_sync_at": NOW - timedelta(days=1)}
    assert metrics_of(sync_row(**{**old, **changes}))["is_stale"] is False


def test_failure_rate_and_health_at_a_fixed_now() -> None:
    metrics = metrics_of(sync_row())
    assert metrics["failure_rate"] == pytest.approx(0.2)
    assert metrics["healthy"] is True
    assert metrics_of(sync_row(consecutive_failures=1))["healthy"] is False
    assert metrics_of(sync_row(total_files_discovered=0, total_files_failed=0))["failure_rate"] == 0


def test_a_running_job_quiet_for_too_long_is_stalled() -> None:
    busy = metrics_of(sync_row(), running_job_row(quiet_seconds=10))
    assert (busy["running_job"], busy["stalled"], busy["healthy"]) == (True, False, True)
    quiet = metrics_of(sync_row(), running_job_row(quiet_seconds=601))  # max(600, 300)
    assert (quiet["stalled"], quiet["healthy"]) == (True, False)
    assert "601 s" in quiet["stalled_reason"]
    assert quiet["last_job"]["duration_seconds"] == 661
    assert quiet["last_job"]["throughput_files_per_min"] == pytest.approx(5 * 60 / 661, abs=1e-3)
