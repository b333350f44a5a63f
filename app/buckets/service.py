"""Bucket rules: unique names per namespace, lookup by id or name, cascade on delete."""

from datetime import datetime
from typing import Any

from app import etags, idempotency, identifiers
from app.buckets.schemas import BUCKET_OPTIONS, bucket_from_row
from app.clock import utc_now
from app.db.database import Database, IntegrityError, Row
from app.errors import AlreadyExistsError, NotFoundError
from app.idempotency import IdempotentCreate
from app.pagination import Page, PageRows, fetch_page, name_contains
from app.responses import record_json, render_record
from app.schemas import TaskStatusEnum


def bucket_not_found(identifier: str) -> NotFoundError:
    return NotFoundError(f"Bucket {identifier!r} not found.")


def bucket_id_of(db: Database, *, namespace_id: str, identifier: str) -> str:
    """The id of the namespace's bucket with this id or name; 404 otherwise, also when it
    lives in another namespace (D9). An id wins over a name that happens to equal it."""
    bucket_id: str | None = db.scalar(
        "SELECT bucket_id FROM buckets WHERE bucket_id = ? AND namespace_id = ?"
        " UNION ALL"
        " SELECT bucket_id FROM buckets WHERE namespace_id = ? AND bucket_name = ?"
        " LIMIT 1",
        (identifier, namespace_id, namespace_id, identifier),
    )
    if bucket_id is None:
        raise bucket_not_found(identifier)
    return bucket_id


def ids_in_scope(
    db: Database, *, internal_id: str, namespace: str, bucket: str
) -> tuple[str | None, str | None]:
    """Namespace and bucket ids, each by id or name, in one statement (the hot path's lookup):
    ``(None, None)`` when the namespace is not the organization's, ``(ns, None)`` when the
    bucket is not in it. Ids win over names that happen to equal them, as in the two lookups
    above."""
    row = db.one(
        "WITH ns AS ("
        " SELECT namespace_id FROM namespaces WHERE namespace_id = ?1 AND internal_id = ?2"
        " UNION ALL"
        " SELECT namespace_id FROM namespaces WHERE internal_id = ?2 AND namespace_name = ?1"
        " LIMIT 1)"
        " SELECT ns.namespace_id, coalesce("
        "  (SELECT bucket_id FROM buckets WHERE bucket_id = ?3 AND namespace_id = ns.namespace_id),"
        "  (SELECT bucket_id FROM buckets"
        "   WHERE namespace_id = ns.namespace_id AND bucket_name = ?3)) AS bucket_id"
        " FROM ns",
        (namespace, internal_id, bucket),
    )
    if row is None:
        return None, None
    return row["namespace_id"], row["bucket_id"]


def resolve_bucket(db: Database, *, namespace_id: str, identifier: str) -> Row:
    """The namespace's bucket with this id or name, whole; 404 otherwise."""
    bucket_id = bucket_id_of(db, namespace_id=namespace_id, identifier=identifier)
    row = db.one("SELECT * FROM buckets WHERE bucket_id = ?", (bucket_id,))
    assert row is not None  # found a moment ago, in this same thread
    return row


def new_bucket_row(
    *, bucket_id: str, namespace_id: str, internal_id: str, fields: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """The row of a new bucket made from a create request's ``fields`` (the API's, or a seed
    fixture's, without the keys left out)."""
    return {
        "bucket_id": bucket_id,
        "namespace_id": namespace_id,
        "internal_id": internal_id,
        "bucket_name": fields["bucket_name"],
        "description": fields.get("description"),
        "bucket_schema": fields["bucket_schema"],
        "unique_key": fields.get("unique_key"),
        "metadata": fields.get("metadata") or {},
        "status": TaskStatusEnum.ACTIVE,
        "options": {name: fields[name] for name in BUCKET_OPTIONS if name in fields},
        "created_at": now,
        "updated_at": now,
    }


def create_bucket(
    db: Database,
    *,
    internal_id: str,
    namespace_id: str,
    fields: dict[str, Any],
    once: IdempotentCreate | None = None,
) -> bytes:
    """A new bucket; its JSON, rendered before the insert commits and stored as the answer to
    ``once``'s key (app/idempotency.py)."""
    now = utc_now()
    bucket_id = identifiers.new_id(identifiers.BUCKET)
    try:
        with db.transaction():
            idempotency.claim(db, once)
            db.insert(
                "buckets",
                new_bucket_row(
                    bucket_id=bucket_id,
                    namespace_id=namespace_id,
                    internal_id=internal_id,
                    fields=fields,
                    now=now,
                ),
            )
            row = resolve_bucket(db, namespace_id=namespace_id, identifier=bucket_id)
            body = render_record(bucket_from_row(row))
            idempotency.remember(db, once, body)
            return body
    except IntegrityError:
        raise AlreadyExistsError(
            f"A bucket named {fields['bucket_name']!r} already exists in this namespace."
        ) from None


def list_buckets(
    db: Database,
    *,
    namespace_id: str,
    page: Page,
    search: str | None,
    case_sensitive: bool,
    filters: dict[str, str] | None = None,
    sorts: list[tuple[str, str]] | None = None,
) -> tuple[PageRows, int]:
    """The namespace's buckets: ``filters`` is equality on ``bucket_id``/``bucket_name``
    (validated by the request model), ``sorts`` (column, asc|desc) pairs from code's enum;
    ties (and no sort) newest first."""
    where = "namespace_id = ?"
    params: list[Any] = [namespace_id]
    if search:
        clause, clause_params = name_contains("bucket_name", search, case_sensitive=case_sensitive)
        where += " AND " + clause
        params += clause_params
    for column, value in (filters or {}).items():
        where += f" AND {column} = ?" if case_sensitive else f" AND lower({column}) = lower(?)"
        params.append(value)
    order = [f"{column} {direction.upper()}" for column, direction in sorts or ()]
    return fetch_page(
        db,
        table="buckets",
        key="bucket_id",
        where=where,
        params=params,
        order_by=", ".join([*order, "created_at DESC, bucket_id"]),
        page=page,
    )


def delete_bucket(
    db: Database, *, namespace_id: str, identifier: str, if_match: str | None = None
) -> str:
    """Delete a bucket and its syncs; the deleted id. 412 if ``if_match`` does not name the
    bucket's current ETag."""
    with db.transaction():
        row = resolve_bucket(db, namespace_id=namespace_id, identifier=identifier)
        if if_match is not None:
            etags.require_match(if_match, record_json(bucket_from_row(row)))
        db.execute("DELETE FROM buckets WHERE bucket_id = ?", (row["bucket_id"],))
    bucket_id: str = row["bucket_id"]
    return bucket_id
