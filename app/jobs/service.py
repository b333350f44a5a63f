"""Sync jobs (D23) and metrics (D24), read for a sync of the caller's bucket (D9).

Jobs are written by the engine only (app/engine/leases.py creates one when a run claims the
sync's lease, app/engine/runner.py writes its progress and its end); this module reads them,
and derives what the SDK's model shows beyond the stored counters: ``progress_percent``,
``throughput_files_per_min``, ``lag_seconds``.
"""

from datetime import datetime

from app.clock import utc_now
from app.db.database import Database, Row
from app.dead_letters.service import exhausted_by_error
from app.errors import NotFoundError
from app.pagination import Page, PageRows, fetch_page, where_equal
from app.syncs.service import get_sync

from .metrics import build_metrics, throughput_files_per_min
from .schemas import MAX_JOB_ERROR_LENGTH, SyncJobModel, SyncMetricsResponse

TABLE = "sync_jobs"
RUNNING = "running"
# Statuses whose run is over with nothing left to do: 100 percent whatever was counted.
_DONE = frozenset({"completed", "skipped"})


def progress_percent(job: Row) -> float:
    """Files with an outcome (synced, verified, failed) over ``total_files``, 0..100: 100 for
    a completed run, 0 for a run that has counted no file yet."""
    if job["status"] in _DONE:
        return 100.0
    total: int = job["total_files"]
    if total <= 0:
        return 0.0
    done: int = job["files_synced"] + job["files_verified"] + job["files_failed"]
    return round(min(100.0, done * 100 / total), 2)


def job_from_record(job: Row, *, now: datetime) -> SyncJobModel:
    done = job["files_synced"] + job["files_verified"] + job["files_failed"]
    running = job["status"] == RUNNING
    error: str | None = job["error"]
    return SyncJobModel(
        sync_job_id=job["sync_job_id"],
        sync_config_id=job["sync_config_id"],
        internal_id=job["internal_id"],
        namespace_id=job["namespace_id"],
        bucket_id=job["bucket_id"],
        status=job["status"],
        trigger=job["trigger"],
        phase=job["phase"],
        total_files=job["total_files"],
        files_synced=job["files_synced"],
        files_failed=job["files_failed"],
        files_verified=job["files_verified"],
        started_at=job["started_at"],
        completed_at=job["completed_at"],
        updated_at=job["updated_at"],
        error=error[:MAX_JOB_ERROR_LENGTH] if error is not None else None,
        metadata={
            "full_sync": bool(job["full_sync"]),
            "bytes_synced": job["bytes_synced"],
            "batches_created": job["batches_created"],
        },
        progress_percent=progress_percent(job),
        throughput_files_per_min=throughput_files_per_min(job, now),
        lag_seconds=max(0, int((now - job["updated_at"]).total_seconds())) if running else None,
        progress={
            "files_done": done,
            "total_files": job["total_files"],
            "bytes_synced": job["bytes_synced"],
        },
    )


def list_jobs(
    db: Database, *, bucket_id: str, sync_config_id: str, page: Page, status: str | None
) -> tuple[PageRows, int]:
    """The sync's jobs with this status (any when None), newest first (D12, D23)."""
    get_sync(db, bucket_id=bucket_id, sync_config_id=sync_config_id)
    where, params = where_equal({"sync_config_id": sync_config_id, "status": status})
    return fetch_page(
        db,
        table=TABLE,
        key="sync_job_id",
        where=where,
        params=params,
        order_by="started_at DESC, sync_job_id DESC",
        page=page,
    )


def get_job(db: Database, *, bucket_id: str, sync_config_id: str, sync_job_id: str) -> Row:
    """One of the sync's jobs; 404 when the sync is not the caller's or the job not the sync's."""
    get_sync(db, bucket_id=bucket_id, sync_config_id=sync_config_id)
    job = db.one(
        f"SELECT * FROM {TABLE} WHERE sync_job_id = ? AND sync_config_id = ?",
        (sync_job_id, sync_config_id),
    )
    if job is None:
        raise NotFoundError(f"Sync job {sync_job_id!r} not found.")
    return job


def get_metrics(db: Database, *, bucket_id: str, sync_config_id: str) -> SyncMetricsResponse:
    sync = get_sync(db, bucket_id=bucket_id, sync_config_id=sync_config_id)
    newest = f"SELECT * FROM {TABLE} WHERE sync_config_id = ? %s ORDER BY started_at DESC LIMIT 1"
    last_job = db.one(newest % "", (sync_config_id,))
    running = db.one(newest % "AND status = ?", (sync_config_id, RUNNING))
    return build_metrics(
        sync,
        last_job=last_job,
        running_job=running,
        dlq_by_error=exhausted_by_error(db, sync_config_id=sync_config_id),
        now=utc_now(),
    )
