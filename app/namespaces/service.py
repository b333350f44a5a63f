"""Namespace rules: unique names per organization, lookup by id or name, cascade on delete."""

from datetime import datetime
from typing import Any

from app import etags, idempotency, identifiers
from app.clock import utc_now
from app.db.database import Database, IntegrityError, Row
from app.errors import AlreadyExistsError, NotFoundError
from app.idempotency import IdempotentCreate
from app.namespaces.schemas import NAMESPACE_OPTIONS, NamespaceModel, namespace_from_row
from app.pagination import Page, PageRows, fetch_page, name_contains
from app.responses import record_json, render_record


def namespace_not_found(identifier: str) -> NotFoundError:
    return NotFoundError(f"Namespace {identifier!r} not found.")


def namespace_id_of(db: Database, *, internal_id: str, identifier: str) -> str:
    """The id of the organization's namespace with this id or name; 404 otherwise (D8, D9).

    An id wins over a name that happens to equal it. Each half of the query uses an index.
    """
    namespace_id: str | None = db.scalar(
        "SELECT namespace_id FROM namespaces WHERE namespace_id = ? AND internal_id = ?"
        " UNION ALL"
        " SELECT namespace_id FROM namespaces WHERE internal_id = ? AND namespace_name = ?"
        " LIMIT 1",
        (identifier, internal_id, internal_id, identifier),
    )
    if namespace_id is None:
        raise namespace_not_found(identifier)
    return namespace_id


def resolve_namespace(db: Database, *, internal_id: str, identifier: str) -> Row:
    """The organization's namespace with this id or name, whole; 404 otherwise."""
    namespace_id = namespace_id_of(db, internal_id=internal_id, identifier=identifier)
    row = db.one("SELECT * FROM namespaces WHERE namespace_id = ?", (namespace_id,))
    assert row is not None  # found a moment ago, in this same thread
    return row


def public_namespace(db: Database, row: Row) -> NamespaceModel:
    """The namespace as the API shows it, with its bucket count."""
    return namespace_from_row(row, bucket_count=bucket_count(db, row["namespace_id"]))


def new_namespace_row(
    *, namespace_id: str, internal_id: str, fields: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """The row of a new namespace made from a create request's ``fields`` (the API's, or a
    seed fixture's)."""
    return {
        "namespace_id": namespace_id,
        "internal_id": internal_id,
        "namespace_name": fields["namespace_name"],
        "description": fields.get("description"),
        "feature_extractors": fields.get("feature_extractors") or [],
        "payload_indexes": fields.get("payload_indexes"),
        "auto_create_indexes": bool(fields.get("auto_create_indexes")),
        "options": {
            name: fields[name] for name in NAMESPACE_OPTIONS if fields.get(name) is not None
        },
        "created_at": now,
        "updated_at": now,
    }


def create_namespace(
    db: Database,
    *,
    internal_id: str,
    fields: dict[str, Any],
    once: IdempotentCreate | None = None,
) -> bytes:
    """A new namespace; the newer API's options among ``fields`` are stored as given. Its JSON,
    rendered before the insert commits and stored as the answer to ``once``'s key
    (app/idempotency.py)."""
    namespace_id = identifiers.new_id(identifiers.NAMESPACE)
    values = new_namespace_row(
        namespace_id=namespace_id, internal_id=internal_id, fields=fields, now=utc_now()
    )
    try:
        with db.transaction():
            idempotency.claim(db, once)
            db.insert("namespaces", values)
            row = resolve_namespace(db, internal_id=internal_id, identifier=namespace_id)
            body = render_record(public_namespace(db, row))
            idempotency.remember(db, once, body)
            return body
    except IntegrityError:
        raise AlreadyExistsError(
            f"A namespace named {fields['namespace_name']!r} already exists."
        ) from None


def create_default_namespace(db: Database, *, internal_id: str, name: str) -> None:
    """The namespace every new organization starts with (inside the caller's transaction)."""
    now = utc_now()
    db.insert(
        "namespaces",
        {
            "namespace_id": identifiers.new_id(identifiers.NAMESPACE),
            "internal_id": internal_id,
            "namespace_name": name,
            "feature_extractors": [],
            "auto_create_indexes": False,
            "options": {},
            "created_at": now,
            "updated_at": now,
        },
    )


def bucket_count(db: Database, namespace_id: str) -> int:
    count: int = db.scalar("SELECT COUNT(*) FROM buckets WHERE namespace_id = ?", (namespace_id,))
    return count


def list_namespaces(
    db: Database, *, internal_id: str, page: Page, search: str | None, case_sensitive: bool
) -> tuple[PageRows, int]:
    where = "internal_id = ?"
    params: list[Any] = [internal_id]
    if search:
        clause, clause_params = name_contains(
            "namespace_name", search, case_sensitive=case_sensitive
        )
        where += " AND " + clause
        params += clause_params
    return fetch_page(
        db,
        table="namespaces",
        key="namespace_id",
        where=where,
        params=params,
        order_by="created_at DESC, namespace_id",
        page=page,
    )


def delete_namespace(
    db: Database, *, internal_id: str, identifier: str, if_match: str | None = None
) -> str:
    """Delete a namespace with its buckets and their syncs; the deleted id. 412 if
    ``if_match`` does not name its current ETag."""
    with db.transaction():
        row = resolve_namespace(db, internal_id=internal_id, identifier=identifier)
        if if_match is not None:
            etags.require_match(if_match, record_json(public_namespace(db, row)))
        db.execute("DELETE FROM namespaces WHERE namespace_id = ?", (row["namespace_id"],))
    namespace_id: str = row["namespace_id"]
    return namespace_id
