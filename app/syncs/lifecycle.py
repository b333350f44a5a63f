"""A sync's lifecycle: pause, resume, trigger and unlock (D18 to D21).

Each is one write transaction on the sync, so it races safely with runs, the scheduler and
other requests. Starting a run is claiming the sync's lease (app/engine/leases.py) and creating
its job in that same transaction; the engine that the lease names then carries it out.
"""

from dataclasses import dataclass
from typing import Any

from app.clock import next_update_time, utc_now
from app.db.database import Database, Row
from app.engine import leases
from app.errors import BadRequestError
from app.responses import render_record
from app.schemas import TaskStatusEnum

from .service import TABLE, get_sync, schedule_after_change, sync_from_record

MSG_PAUSED = "Sync configuration {id!r} is paused: resume it before triggering a run."
MSG_INACTIVE = (
    "Sync configuration {id!r} is inactive: PATCH is_active to true before triggering a run."
)
MSG_FAILED = (
    "Sync configuration {id!r} is FAILED after {count} consecutive failed runs"
    " (last error: {error}): resume it, or PATCH its status, before triggering a run."
)


@dataclass(frozen=True)
class Triggered:
    """What a trigger did: started a job, or found one running (``skipped_already_running``)."""

    sync_config_id: str
    sync_job_id: str | None
    status: str
    full_sync: bool


def _save(db: Database, record: Row, changes: dict[str, Any]) -> bytes:
    changes["updated_at"] = next_update_time(record["updated_at"])
    row = db.update(TABLE, changes, where="sync_config_id = ?", params=[record["sync_config_id"]])
    assert row is not None  # read under the same write lock
    return render_record(sync_from_record(row))


def pause(db: Database, *, bucket_id: str, sync_config_id: str, user_id: str) -> bytes:
    """Pause: nothing is scheduled (a run in progress finishes). A paused sync stays as it is."""
    with db.transaction():
        record = get_sync(db, bucket_id=bucket_id, sync_config_id=sync_config_id)
        if record["paused"]:
            return render_record(sync_from_record(record))
        return _save(
            db,
            record,
            {
                "paused": True,
                "paused_at": utc_now(),
                "paused_by_user_id": user_id,
                "status": TaskStatusEnum.SUSPENDED,
                "next_sync_at": None,
            },
        )


def resume(db: Database, *, bucket_id: str, sync_config_id: str) -> bytes:
    """Resume a paused or FAILED sync: its status back to what its schedule implies (PENDING
    if it never ran, else ACTIVE), its failure count reset, due now. Any other sync, a running
    one included, stays as it is."""
    with db.transaction():
        record = get_sync(db, bucket_id=bucket_id, sync_config_id=sync_config_id)
        stopped = record["status"] in (TaskStatusEnum.SUSPENDED, TaskStatusEnum.FAILED)
        if not record["paused"] and not stopped:
            return render_record(sync_from_record(record))
        ran = record["sync_run_counter"] > 0 or record["locked_by_worker_id"] is not None
        status = TaskStatusEnum.ACTIVE if ran else TaskStatusEnum.PENDING
        now = utc_now()
        return _save(
            db,
            record,
            {
                "paused": False,
                "paused_at": None,
                "pause_reason": None,
                "paused_by_user_id": None,
                "status": status,
                "consecutive_failures": 0,
                "next_sync_at": schedule_after_change(
                    {**record, "next_sync_at": None},
                    is_active=record["is_active"],
                    paused=False,
                    status=status,
                    now=now,
                ),
            },
        )


def trigger(
    db: Database,
    *,
    bucket_id: str,
    sync_config_id: str,
    full_sync: bool,
    worker_id: str,
    ttl_seconds: float,
) -> Triggered:
    """Start a run now, for the engine named by ``worker_id``; or, while a run holds the lease,
    start nothing and name the running job (a ``full_sync`` then follows when it ends)."""
    with db.transaction():
        record = get_sync(db, bucket_id=bucket_id, sync_config_id=sync_config_id)
        if record["paused"] or record["status"] == TaskStatusEnum.SUSPENDED:
            raise BadRequestError(MSG_PAUSED.format(id=sync_config_id), code="sync_paused")
        if not record["is_active"]:
            raise BadRequestError(MSG_INACTIVE.format(id=sync_config_id), code="sync_inactive")
        if record["status"] == TaskStatusEnum.FAILED:
            raise BadRequestError(
                MSG_FAILED.format(
                    id=sync_config_id,
                    count=record["consecutive_failures"],
                    error=record["last_error"] or "none recorded",
                ),
                code="sync_failed",
            )
        now = utc_now()
        if record["locked_by_worker_id"] is not None and record["lock_expires_at"] < now:
            leases.interrupt(db, record, reason=leases.MSG_WORKER_LOST, now=now)
            record = get_sync(db, bucket_id=bucket_id, sync_config_id=sync_config_id)
        if record["locked_by_worker_id"] is not None:
            running = leases.running_job(db, sync_config_id)
            if full_sync and not record["pending_full_sync"]:
                _save(db, record, {"pending_full_sync": True})
            return Triggered(
                sync_config_id,
                running["sync_job_id"] if running else None,
                "skipped_already_running",
                full_sync,
            )
        full = full_sync or bool(record["pending_full_sync"])
        job_id = leases.claim_run(
            db,
            record,
            worker_id=worker_id,
            trigger="manual",
            full_sync=full,
            ttl_seconds=ttl_seconds,
            now=now,
        )
        assert job_id is not None  # the lease was free, under the write lock
        return Triggered(sync_config_id, job_id, "running", full)


def unlock(db: Database, *, bucket_id: str, sync_config_id: str) -> bool:
    """Clear the run lock (a worker that died); its job becomes ``interrupted``. Whether the
    sync was locked."""
    with db.transaction():
        record = get_sync(db, bucket_id=bucket_id, sync_config_id=sync_config_id)
        return leases.interrupt(db, record, reason=leases.MSG_UNLOCKED)
