"""Sync configuration rules: creation defaults (D11), PATCH semantics (D4), scoping (D9)."""

from typing import Any

from app import etags, idempotency, identifiers
from app.clock import next_update_time, utc_now
from app.connections.service import connection_id_of, resolve_connection
from app.db.database import Database, Row, to_column
from app.errors import NotFoundError
from app.idempotency import IdempotentCreate
from app.pagination import Page, PageRows, fetch_page, where_equal
from app.responses import record_json, render_record
from app.schemas import TaskStatusEnum, from_stored
from app.scopes import InBucket

from .schemas import SyncConfigurationModel

TABLE = "sync_config"


def sync_from_record(record: dict[str, Any]) -> SyncConfigurationModel:
    """The public record. ``locked`` is derived: a worker holds the run lock."""
    record["locked"] = record["locked_by_worker_id"] is not None
    return from_stored(SyncConfigurationModel, record)


def get_sync(db: Database, *, bucket_id: str, sync_config_id: str) -> dict[str, Any]:
    """The bucket's sync with this id; 404 otherwise, also when it lives under another bucket."""
    row = db.one(
        f"SELECT * FROM {TABLE} WHERE sync_config_id = ? AND bucket_id = ?",
        (sync_config_id, bucket_id),
    )
    if row is None:
        raise NotFoundError(f"Sync configuration {sync_config_id!r} not found.")
    return dict(row)


def create_sync(
    db: Database, *, scope: InBucket, fields: dict[str, Any], once: IdempotentCreate | None = None
) -> bytes:
    """A new sync in the scope's bucket, reading from one of the organization's connections;
    the record's JSON, rendered before the insert commits (nothing is stored that cannot be
    served), and stored as the answer to ``once``'s key (app/idempotency.py)."""
    internal_id = scope.principal.internal_id
    with db.transaction():
        idempotency.claim(db, once)
        connection = resolve_connection(
            db, internal_id=internal_id, identifier=fields.pop("connection_id")
        )
        now = utc_now()
        record: dict[str, Any] = {
            "sync_config_id": identifiers.new_id(identifiers.SYNC),
            "bucket_id": scope.bucket_id,
            "connection_id": connection["connection_id"],
            "namespace_id": scope.namespace_id,
            "internal_id": internal_id,
            "source_type": connection["provider_type"],
            **fields,
            "metadata": fields.get("metadata") or {},
            "status": TaskStatusEnum.PENDING,
            "is_active": True,
            "paused": False,
            "paused_at": None,
            "pause_reason": None,
            "paused_by_user_id": None,
            "locked_by_worker_id": None,
            "locked_at": None,
            "lock_expires_at": None,
            "pending_full_sync": False,
            "sync_run_counter": 0,
            "total_files_discovered": 0,
            "total_files_synced": 0,
            "total_files_failed": 0,
            "total_bytes_synced": 0,
            "consecutive_failures": 0,
            "last_error": None,
            "last_sync_at": None,
            # Active and due at once: with the scheduler on, its first run starts within seconds.
            "next_sync_at": now,
            "created_by_user_id": scope.principal.user_id,
            "created_at": now,
            "updated_at": now,
        }
        db.insert(TABLE, record)
        body = render_record(sync_from_record(record))
        idempotency.remember(db, once, body)
        return body


def update_sync(
    db: Database,
    *,
    bucket_id: str,
    sync_config_id: str,
    changes: dict[str, Any],
    user_id: str,
    if_match: str | None = None,
) -> bytes:
    """Apply exactly ``changes`` (already validated) and bump ``updated_at``; the new record's
    JSON. With ``if_match``, only to the record whose ETag it names (else 412, app/etags.py).

    One transaction holding the write lock does it all, so two PATCHes racing on one record
    both take effect (D4), ``updated_at`` strictly increases (D3), and the record is rendered
    before the change commits: a change that would make it unservable (or larger than a
    record may be) rolls back and changes nothing.
    - usually one statement writes, setting ``updated_at`` to now on condition that now is
      later than the stored value;
    - when it is not (two writes within a microsecond, the clock stepped back, or on
      PostgreSQL a write that read its time later took the lock first), or when nothing
      matched, the record is read (404 if there is none) and ``updated_at`` set one
      microsecond past it.
    An ``If-Match`` needs the record as it stands: it is read (and rendered) first.
    """
    if "metadata" in changes and changes["metadata"] is None:
        changes["metadata"] = {}  # null clears metadata to an empty object
    if "status" in changes or "is_active" in changes:
        return _update_schedule(
            db,
            bucket_id=bucket_id,
            sync_config_id=sync_config_id,
            changes=changes,
            user_id=user_id,
            if_match=if_match,
        )
    with db.transaction():
        if if_match is not None:
            current = get_sync(db, bucket_id=bucket_id, sync_config_id=sync_config_id)
            etags.require_match(if_match, record_json(sync_from_record(current)))
        now = utc_now()
        row = db.update(
            TABLE,
            {**changes, "updated_at": now},
            where="sync_config_id = ? AND bucket_id = ? AND updated_at < ?",
            params=[sync_config_id, bucket_id, to_column(now)],
        )
        if row is None:
            record = get_sync(db, bucket_id=bucket_id, sync_config_id=sync_config_id)
            # One tick past the stored time, not a time read now: on PostgreSQL ``now`` was read
            # before the write lock was taken (with the UPDATE), so a write queued behind ours
            # read its time before this point too, and a time read now would send it here in
            # turn, and the next, for as long as writes queue.
            changes["updated_at"] = next_update_time(record["updated_at"], now=now)
            row = db.update(TABLE, changes, where="sync_config_id = ?", params=[sync_config_id])
            assert row is not None  # read a moment ago, under the write lock
        return render_record(sync_from_record(row))


def _update_schedule(
    db: Database,
    *,
    bucket_id: str,
    sync_config_id: str,
    changes: dict[str, Any],
    user_id: str,
    if_match: str | None,
) -> bytes:
    """A PATCH of ``status`` or ``is_active``, which also decides whether the sync is scheduled
    (D19): ``status`` SUSPENDED (or ``paused``) is the same as pause, another status unpauses; a
    sync that is inactive, paused, FAILED or COMPLETED has no ``next_sync_at``, and one that
    becomes schedulable again is due at once."""
    with db.transaction():
        record = get_sync(db, bucket_id=bucket_id, sync_config_id=sync_config_id)
        if if_match is not None:
            etags.require_match(if_match, record_json(sync_from_record(dict(record))))
        now = next_update_time(record["updated_at"])
        derived: dict[str, Any] = {}
        status = changes.get("status")
        if status == TaskStatusEnum.SUSPENDED and not record["paused"]:
            derived.update(paused=True, paused_at=now, paused_by_user_id=user_id)
        elif status is not None and status != TaskStatusEnum.SUSPENDED and record["paused"]:
            derived.update(paused=False, paused_at=None, pause_reason=None, paused_by_user_id=None)
        derived["next_sync_at"] = schedule_after_change(
            record,
            is_active=changes.get("is_active", record["is_active"]),
            paused=derived.get("paused", record["paused"]),
            status=status or record["status"],
            now=now,
        )
        row = db.update(
            TABLE,
            {**changes, **derived, "updated_at": now},
            where="sync_config_id = ?",
            params=[sync_config_id],
        )
        assert row is not None  # read a moment ago, under the write lock
        return render_record(sync_from_record(row))


UNSCHEDULED_STATUSES = frozenset(
    {TaskStatusEnum.FAILED, TaskStatusEnum.COMPLETED, TaskStatusEnum.SUSPENDED}
)


def schedule_after_change(
    record: Row, *, is_active: bool, paused: bool, status: str, now: Any
) -> Any:
    """``next_sync_at`` once a sync's activity, pause or status changed: none when nothing may
    be scheduled; when it may, the time it already had, or now (due at once). A sync whose run
    is in progress keeps none: the run's end sets it."""
    if not is_active or paused or status in UNSCHEDULED_STATUSES:
        return None
    if record["locked_by_worker_id"] is not None:
        return record["next_sync_at"]
    return record["next_sync_at"] or now


def list_syncs(
    db: Database,
    *,
    scope: InBucket,
    page: Page,
    connection_id: str | None,
    status: str | None,
    is_active: bool | None,
) -> tuple[PageRows, int]:
    """The bucket's syncs matching every given filter, newest first (D12).

    ``connection_id`` is a connection's id or name, as on create. One that is not the
    organization's (unknown, or another organization's) matches nothing: an empty list, the
    same answer as for a connection of the caller's that no sync uses, so nothing is revealed
    (D9)."""
    where, params = where_equal(
        {
            "bucket_id": scope.bucket_id,
            "status": status,
            "is_active": is_active,
        }
    )
    if connection_id is not None:
        resolved = connection_id_of(
            db, internal_id=scope.principal.internal_id, identifier=connection_id
        )
        where += " AND connection_id = ?" if resolved is not None else " AND 1 = 0"
        params += [resolved] if resolved is not None else []
    return fetch_page(
        db,
        table=TABLE,
        key="sync_config_id",
        where=where,
        params=params,
        # Newest first; the id orders syncs created in the same microsecond (by two instances),
        # as objects are ordered (portable SQL: PostgreSQL has no rowid).
        order_by="created_at DESC, sync_config_id DESC",
        page=page,
    )


def delete_sync(
    db: Database, *, bucket_id: str, sync_config_id: str, if_match: str | None = None
) -> None:
    """Delete the bucket's sync (with its jobs and dead letters); 404 if there is none, 412 if
    ``if_match`` does not name its current ETag."""
    with db.transaction():
        if if_match is not None:
            current = get_sync(db, bucket_id=bucket_id, sync_config_id=sync_config_id)
            etags.require_match(if_match, record_json(sync_from_record(current)))
        deleted = db.execute(
            f"DELETE FROM {TABLE} WHERE sync_config_id = ? AND bucket_id = ?",
            (sync_config_id, bucket_id),
        )
    if not deleted:
        raise NotFoundError(f"Sync configuration {sync_config_id!r} not found.")
