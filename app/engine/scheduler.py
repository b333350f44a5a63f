"""What is due: the scheduler's one query and its claims (D18, D35).

A sync is due when it is active, not paused, neither FAILED, COMPLETED nor SUSPENDED, its
``next_sync_at`` has come (on the server's clock), and nobody holds its lease. Claiming it is
``leases.claim_run``: among several schedulers on one database only one claim per sync wins.
A run that follows an interrupted one is a ``resume``; a ``full_sync`` asked for during the
last run makes this one full.
"""

from datetime import datetime

from app.clock import utc_now
from app.db.database import Database, to_column
from app.engine import leases

SCHEDULED = "scheduled"
RESUME = "resume"


def claim_due_runs(
    db: Database,
    *,
    worker_id: str,
    ttl_seconds: float,
    limit: int,
    now: datetime | None = None,
) -> list[str]:
    """Claim up to ``limit`` due syncs for ``worker_id``; the jobs created."""
    if limit <= 0:
        return []
    now = now or utc_now()
    due = db.all(
        "SELECT sync_config_id FROM sync_config"
        " WHERE next_sync_at IS NOT NULL AND next_sync_at <= ?"
        " AND is_active = ? AND paused = ? AND status NOT IN (?, ?, ?)"
        " AND (locked_by_worker_id IS NULL OR lock_expires_at < ?)"
        " ORDER BY next_sync_at LIMIT ?",
        (to_column(now), True, False, "FAILED", "COMPLETED", "SUSPENDED", to_column(now), limit),
    )
    jobs = []
    for candidate in due:
        job_id = claim_one(
            db,
            candidate["sync_config_id"],
            worker_id=worker_id,
            ttl_seconds=ttl_seconds,
            now=now,
            trigger=None,
        )
        if job_id is not None:
            jobs.append(job_id)
    return jobs


def claim_one(
    db: Database,
    sync_config_id: str,
    *,
    worker_id: str,
    ttl_seconds: float,
    now: datetime,
    trigger: str | None,
) -> str | None:
    """Claim one sync if it is still due (read again under the write lock); its job, or None.
    ``trigger`` None means ``scheduled``, or ``resume`` after an interrupted run."""
    with db.transaction():
        sync = db.one("SELECT * FROM sync_config WHERE sync_config_id = ?", (sync_config_id,))
        if (
            sync is None
            or sync["next_sync_at"] is None
            or sync["next_sync_at"] > now
            or not sync["is_active"]
            or sync["paused"]
            or sync["status"] in ("FAILED", "COMPLETED", "SUSPENDED")
        ):
            return None
        if sync["locked_by_worker_id"] is not None:
            if sync["lock_expires_at"] >= now:
                return None
            leases.interrupt(db, sync, reason=leases.MSG_WORKER_LOST, now=now)
            sync = db.one("SELECT * FROM sync_config WHERE sync_config_id = ?", (sync_config_id,))
            assert sync is not None
        if trigger is None:
            last = db.one(
                "SELECT status FROM sync_jobs WHERE sync_config_id = ?"
                " ORDER BY started_at DESC LIMIT 1",
                (sync_config_id,),
            )
            trigger = RESUME if last is not None and last["status"] == "interrupted" else SCHEDULED
        return leases.claim_run(
            db,
            sync,
            worker_id=worker_id,
            trigger=trigger,
            full_sync=bool(sync["pending_full_sync"]),
            ttl_seconds=ttl_seconds,
            now=now,
        )
