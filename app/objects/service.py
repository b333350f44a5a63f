"""Bucket object rules: scoped to their bucket (D9), listed newest first (D12), deleted for good.

Objects are written by the sync engine (app/engine/runner.py), one per source key and sync;
this module only reads and deletes them. A deleted object's file is not re-created by the
next incremental run unless the file changed: the engine reads only what changed since its
last successful run. A ``full_sync`` run, or a change to the file, makes it again (with a new
``object_id``).
"""

from typing import Any

from app.db.database import Database, Row
from app.errors import NotFoundError
from app.objects import query
from app.pagination import Page, PageRows, fetch_page, name_contains

TABLE = "bucket_objects"


def object_not_found(object_id: str) -> NotFoundError:
    return NotFoundError(f"Object {object_id!r} not found.")


def get_object(db: Database, *, bucket_id: str, object_id: str) -> Row:
    """The bucket's object with this id; 404 otherwise, also when it is in another bucket."""
    row = db.one(
        f"SELECT * FROM {TABLE} WHERE object_id = ? AND bucket_id = ?", (object_id, bucket_id)
    )
    if row is None:
        raise object_not_found(object_id)
    return row


def list_objects(
    db: Database,
    *,
    bucket_id: str,
    page: Page,
    filters: dict[str, Any] | None = None,
    search: str | None = None,
    sort_field: str | None = None,
    sort_direction: str = "asc",
) -> tuple[PageRows, int]:
    """The bucket's objects matching ``filters`` and ``search`` (ANDed), newest first unless
    ``sort_field`` says otherwise; 422 for a filter or sort that cannot be applied."""
    clause, params = query.filter_clause(filters)
    ordering = query.order_by(sort_field, sort_direction)
    where = f"bucket_id = ? AND {clause}"
    params = [bucket_id, *params]
    if search:
        matched, matched_params = name_contains("source_key", search, case_sensitive=False)
        where += f" AND {matched}"
        params += matched_params
    return fetch_page(
        db,
        table=TABLE,
        key="object_id",
        where=where,
        params=params,
        order_by=ordering,
        page=page,
    )


def delete_object(db: Database, *, bucket_id: str, object_id: str) -> None:
    with db.transaction():
        deleted = db.execute(
            f"DELETE FROM {TABLE} WHERE object_id = ? AND bucket_id = ?", (object_id, bucket_id)
        )
    if not deleted:
        raise object_not_found(object_id)
