"""One run per sync at a time: the run lock is a lease in the database (D18, D21, D35).

A worker (a server's engine process, or a ``mixpeek-mock syncs run``) takes a sync's lease by
setting ``locked_by_worker_id``, ``locked_at`` and ``lock_expires_at`` on the sync in one
conditional UPDATE: it succeeds only when nobody holds the lease or the holder's lease has
expired. The same transaction creates the run's job, so a claim that loses creates nothing.
While the run lives its worker renews the lease (every third of the TTL); a renewal that
changes no row means the lease was taken away (``unlock``, or a reaper that found it expired)
and the run stops at its next batch.

Leases are what several processes coordinate through, so nothing here keeps state in memory:
two processes on one SQLite file, or many on one PostgreSQL database, see the same leases.
Expired leases are reaped (their job ``interrupted``, the sync freed and due again) every few
seconds by every engine, and at a server's start, when a lease held by a process of this
machine that no longer exists is freed at once rather than at its expiry.
"""

import os
import secrets
import socket
from datetime import datetime, timedelta
from typing import Any

from app import identifiers
from app.clock import utc_now
from app.db.database import Database, Row, to_column

DEFAULT_LEASE_TTL_SECONDS = 60
MSG_WORKER_LOST = "The run's worker stopped renewing its lease (it was stopped or died)."
MSG_UNLOCKED = "The run's lock was cleared with unlock."


def new_worker_id() -> str:
    """``wrk_<host>_<pid>_<random>``: which process holds a lease, readable in the record."""
    host = "".join(char for char in socket.gethostname() if char.isalnum() or char in "-.")[:40]
    return f"wrk_{host or 'host'}_{os.getpid()}_{secrets.token_hex(4)}"


def _worker_process(worker_id: str) -> tuple[str, int] | None:
    """The host and pid a worker id names, or None for an id of another form."""
    parts = worker_id.split("_")
    if len(parts) < 4 or parts[0] != "wrk" or not parts[-2].isdigit():
        return None
    return "_".join(parts[1:-2]), int(parts[-2])


def _process_is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, under another user
        return False
    return False


def claim_run(
    db: Database,
    sync: Row,
    *,
    worker_id: str,
    trigger: str,
    full_sync: bool,
    ttl_seconds: float,
    now: datetime | None = None,
) -> str | None:
    """Take the sync's lease and create the run's job; the job's id, or None when the lease is
    held. Call inside a write transaction (the claim and the job commit together)."""
    now = now or utc_now()
    expires = now + timedelta(seconds=ttl_seconds)
    taken = db.execute(
        "UPDATE sync_config"
        " SET locked_by_worker_id = ?, locked_at = ?, lock_expires_at = ?, status = ?,"
        " next_sync_at = NULL, pending_full_sync = ?, updated_at = ?"
        " WHERE sync_config_id = ?"
        " AND (locked_by_worker_id IS NULL OR lock_expires_at < ?)",
        (
            worker_id,
            to_column(now),
            to_column(expires),
            "ACTIVE",
            False,
            to_column(max(now, sync["updated_at"] + timedelta(microseconds=1))),
            sync["sync_config_id"],
            to_column(now),
        ),
    )
    if not taken:
        return None
    job_id = identifiers.new_id(identifiers.SYNC_JOB)
    db.insert(
        "sync_jobs",
        {
            "sync_job_id": job_id,
            "sync_config_id": sync["sync_config_id"],
            "bucket_id": sync["bucket_id"],
            "namespace_id": sync["namespace_id"],
            "internal_id": sync["internal_id"],
            "status": "running",
            "trigger": trigger,
            "phase": "queued",
            "full_sync": full_sync,
            "worker_id": worker_id,
            "total_files": 0,
            "files_synced": 0,
            "files_verified": 0,
            "files_failed": 0,
            "bytes_synced": 0,
            "batches_created": 0,
            "started_at": now,
            "updated_at": now,
        },
    )
    return job_id


def renew(db: Database, *, sync_config_id: str, worker_id: str, ttl_seconds: float) -> bool:
    """Extend a lease this worker holds; False when it no longer holds it."""
    expires = utc_now() + timedelta(seconds=ttl_seconds)
    with db.transaction():
        return bool(
            db.execute(
                "UPDATE sync_config SET lock_expires_at = ?"
                " WHERE sync_config_id = ? AND locked_by_worker_id = ?",
                (to_column(expires), sync_config_id, worker_id),
            )
        )


def running_job(db: Database, sync_config_id: str) -> Row | None:
    return db.one(
        "SELECT * FROM sync_jobs WHERE sync_config_id = ? AND status = ?"
        " ORDER BY started_at DESC LIMIT 1",
        (sync_config_id, "running"),
    )


def interrupt(db: Database, sync: Row, *, reason: str, now: datetime | None = None) -> bool:
    """Free the sync's lease and mark its running job ``interrupted``; whether it was locked.

    The sync becomes due again at once (a continuous or unfinished one), so that the next run,
    triggered or scheduled (``resume``), picks up what this one had not done. Call inside a
    write transaction.
    """
    if sync["locked_by_worker_id"] is None:
        return False
    now = now or utc_now()
    db.execute(
        "UPDATE sync_jobs SET status = ?, phase = ?, error = ?, completed_at = ?, updated_at = ?"
        " WHERE sync_config_id = ? AND status = ?",
        (
            "interrupted",
            "interrupted",
            reason,
            to_column(now),
            to_column(now),
            sync["sync_config_id"],
            "running",
        ),
    )
    schedulable = sync["is_active"] and not sync["paused"] and sync["status"] != "FAILED"
    db.execute(
        "UPDATE sync_config SET locked_by_worker_id = NULL, locked_at = NULL,"
        " lock_expires_at = NULL, next_sync_at = ?, updated_at = ?"
        " WHERE sync_config_id = ?",
        (
            to_column(now) if schedulable else None,
            to_column(max(now, sync["updated_at"] + timedelta(microseconds=1))),
            sync["sync_config_id"],
        ),
    )
    return True


def reap_expired(db: Database, *, now: datetime | None = None) -> int:
    """Interrupt every run whose lease has expired; how many."""
    now = now or utc_now()
    expired = db.all(
        "SELECT * FROM sync_config WHERE locked_by_worker_id IS NOT NULL AND lock_expires_at < ?",
        (to_column(now),),
    )
    return _interrupt_each(db, expired, now=now)


def reap_dead_local_workers(db: Database, *, live_worker_ids: set[str]) -> int:
    """Interrupt runs whose lease belongs to a process of this machine that no longer exists
    (a server killed with SIGKILL, a CLI run interrupted): no need to wait for their expiry."""
    host = socket.gethostname()
    own_pid = os.getpid()
    locked = db.all("SELECT * FROM sync_config WHERE locked_by_worker_id IS NOT NULL", ())
    dead = []
    for sync in locked:
        worker_id: str = sync["locked_by_worker_id"]
        process = _worker_process(worker_id)
        if process is None or worker_id in live_worker_ids:
            continue
        worker_host, pid = process
        local = worker_host == "".join(c for c in host if c.isalnum() or c in "-.")[:40]
        if local and (pid == own_pid or _process_is_gone(pid)):
            dead.append(sync)
    return _interrupt_each(db, dead, now=utc_now())


def _interrupt_each(db: Database, syncs: list[Row], *, now: datetime) -> int:
    count = 0
    for candidate in syncs:
        with db.transaction():
            # Read again under the write lock: the run may have ended or renewed meanwhile.
            sync: Any = db.one(
                "SELECT * FROM sync_config WHERE sync_config_id = ?",
                (candidate["sync_config_id"],),
            )
            if (
                sync is not None
                and sync["locked_by_worker_id"] == candidate["locked_by_worker_id"]
                and sync["lock_expires_at"] == candidate["lock_expires_at"]
            ):
                count += interrupt(db, sync, reason=MSG_WORKER_LOST, now=now)
    return count
