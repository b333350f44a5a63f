"""A sync's metrics (D24), computed from its record, its jobs and its dead letters.

Metrics live with jobs rather than with sync configurations: apart from the counters the runs
add to the sync's record, everything here (``running_job``, ``last_job``, ``stalled``) is read
from the jobs, and the sync configuration package stays about configuring.

``build_metrics`` is a pure function of the rows and of ``now``, so that staleness, which
needs minutes of real time to arise, is tested with a fixed ``now`` (tests/test_metrics.py).
"""

from datetime import datetime
from typing import Any

from app.db.database import Row

from .schemas import SyncMetricsResponse

# is_stale: more than max(2 x polling_interval_seconds, STALE_FLOOR_SECONDS) since the last
# successful run of an active continuous sync (the SDK's definition).
STALE_INTERVALS = 2
STALE_FLOOR_SECONDS = 120
# stalled: a running job whose progress has not moved for max(stale_after, this) seconds.
STALL_FLOOR_SECONDS = 300


def stale_after_seconds(polling_interval_seconds: int) -> int:
    return max(STALE_INTERVALS * polling_interval_seconds, STALE_FLOOR_SECONDS)


def elapsed_seconds(job: Row, now: datetime) -> float:
    """How long the job ran (or has been running), in seconds; never negative."""
    end: datetime = job["completed_at"] or now
    started: datetime = job["started_at"]
    return max(0.0, (end - started).total_seconds())


def throughput_files_per_min(job: Row, now: datetime) -> float:
    """Files written per minute of the job's run; 0 before any time has passed."""
    seconds = elapsed_seconds(job, now)
    if seconds <= 0:
        return 0.0
    synced: int = job["files_synced"]
    return round(synced * 60 / seconds, 3)


def job_summary(job: Row, now: datetime) -> dict[str, Any]:
    """``last_job`` of the metrics: the job's outcome in a few numbers."""
    return {
        "sync_job_id": job["sync_job_id"],
        "status": job["status"],
        "files_synced": job["files_synced"],
        "files_failed": job["files_failed"],
        "throughput_files_per_min": throughput_files_per_min(job, now),
        "duration_seconds": round(elapsed_seconds(job, now), 3),
    }


def build_metrics(
    sync: Row,
    *,
    last_job: Row | None,
    running_job: Row | None,
    dlq_by_error: dict[str, int],
    now: datetime,
) -> SyncMetricsResponse:
    """The metrics of ``sync`` at ``now``, given its newest job, its running job (if any) and
    its exhausted dead letters counted by error."""
    interval: int = sync["polling_interval_seconds"]
    stale_after = stale_after_seconds(interval)
    active = bool(sync["is_active"]) and not sync["paused"]

    seconds_since: int | None = None
    intervals_since: float | None = None
    if sync["last_sync_at"] is not None:
        seconds_since = max(0, int((now - sync["last_sync_at"]).total_seconds()))
        intervals_since = round(seconds_since / interval, 3)
    is_stale = (
        active
        and sync["sync_mode"] == "continuous"
        and seconds_since is not None
        and seconds_since > stale_after
    )

    stalled_reason: str | None = None
    if running_job is not None:
        quiet = max(0, int((now - running_job["updated_at"]).total_seconds()))
        if quiet > max(stale_after, STALL_FLOOR_SECONDS):
            stalled_reason = (
                f"The running job {running_job['sync_job_id']} has made no progress for {quiet} s."
            )
    stalled = stalled_reason is not None

    discovered: int = sync["total_files_discovered"]
    failed: int = sync["total_files_failed"]
    failure_rate = min(1.0, failed / discovered) if discovered > 0 else 0.0

    return SyncMetricsResponse(
        sync_config_id=sync["sync_config_id"],
        status=sync["status"],
        is_active=bool(sync["is_active"]),
        paused=bool(sync["paused"]),
        total_files_discovered=discovered,
        total_files_synced=sync["total_files_synced"],
        total_files_failed=failed,
        total_bytes_synced=sync["total_bytes_synced"],
        batches_created=sync["batches_created"],
        sync_run_counter=sync["sync_run_counter"],
        consecutive_failures=sync["consecutive_failures"],
        last_error=sync["last_error"],
        last_sync_at=sync["last_sync_at"],
        next_sync_at=sync["next_sync_at"],
        seconds_since_last_sync=seconds_since,
        is_stale=is_stale,
        intervals_since_last_sync=intervals_since,
        stale_after_seconds=stale_after,
        failure_rate=round(failure_rate, 6),
        healthy=active and sync["consecutive_failures"] == 0 and not is_stale and not stalled,
        dlq_total=sum(dlq_by_error.values()),
        dlq_by_error=dlq_by_error,
        running_job=running_job is not None,
        stalled=stalled,
        stalled_reason=stalled_reason,
        last_job=job_summary(last_job, now) if last_job is not None else None,
    )
