"""Storage connection rules: organization scope, credential redaction, delete protection."""

from datetime import datetime
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from app import etags, idempotency, identifiers
from app.clock import utc_now
from app.db.database import Database, IntegrityError, Row
from app.errors import AlreadyExistsError, BadRequestError, NotFoundError, validation_error
from app.idempotency import IdempotentCreate
from app.pagination import Page, PageRows, fetch_page, where_equal
from app.responses import record_json, render_record
from app.schemas import TaskStatusEnum

from .redaction import redact
from .schemas import CONFIG_MODELS, StorageConnectionModel, StorageProvider


def validate_config(provider_type: StorageProvider, config: dict[str, Any]) -> dict[str, Any]:
    """Check a known provider's configuration and fill its defaults; 422 naming the field."""
    model = CONFIG_MODELS.get(provider_type)
    if model is None:
        return config
    try:
        return model.model_validate(config).model_dump(mode="json")
    except PydanticValidationError as exc:
        errors = [
            {**error, "loc": ("body", "provider_config", *error["loc"])} for error in exc.errors()
        ]
        raise validation_error(errors) from None


def connection_from_row(row: Row) -> StorageConnectionModel:
    return StorageConnectionModel(
        connection_id=row["connection_id"],
        internal_id=row["internal_id"],
        name=row["name"],
        description=row["description"],
        provider_type=row["provider_type"],
        provider_config=redact(row["provider_type"], row["provider_config"]),
        write_enabled=row["write_enabled"],
        status=row["status"],
        is_active=row["is_active"],
        consecutive_failures=row["consecutive_failures"],
        last_error=row["last_error"],
        last_used_at=row["last_used_at"],
        created_by_user_id=row["created_by_user_id"],
        metadata=row["metadata"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def resolve_connection(db: Database, *, internal_id: str, identifier: str) -> Row:
    """The organization's connection with this id or name; 404 otherwise (D9)."""
    row = db.one(
        "SELECT * FROM storage_connections"
        " WHERE internal_id = ? AND (connection_id = ? OR name = ?)"
        " ORDER BY connection_id = ? DESC LIMIT 1",
        (internal_id, identifier, identifier, identifier),
    )
    if row is None:
        raise NotFoundError(f"Storage connection {identifier!r} not found.")
    return row


def connection_id_of(db: Database, *, internal_id: str, identifier: str) -> str | None:
    """The id of the organization's connection with this id or name, or None: for a filter,
    where what is not the caller's matches nothing rather than answering 404 (D9)."""
    connection_id: str | None = db.scalar(
        "SELECT connection_id FROM storage_connections"
        " WHERE internal_id = ? AND (connection_id = ? OR name = ?)"
        " ORDER BY connection_id = ? DESC LIMIT 1",
        (internal_id, identifier, identifier, identifier),
    )
    return connection_id


def new_connection_row(
    *, connection_id: str, internal_id: str, user_id: str, fields: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """The row of a new connection made from a create request's ``fields`` (the API's, or a
    seed fixture's): active, never used, no failure yet."""
    return {
        "connection_id": connection_id,
        "internal_id": internal_id,
        "name": fields["name"],
        "description": fields.get("description"),
        "provider_type": fields["provider_type"],
        "provider_config": fields["provider_config"],
        "metadata": fields.get("metadata") or {},
        "write_enabled": fields.get("write_enabled", False),
        "status": TaskStatusEnum.ACTIVE,
        "is_active": True,
        "consecutive_failures": 0,
        "last_error": None,
        "last_used_at": None,
        "created_by_user_id": user_id,
        "created_at": now,
        "updated_at": now,
    }


def create_connection(
    db: Database,
    *,
    internal_id: str,
    user_id: str,
    fields: dict[str, Any],
    once: IdempotentCreate | None = None,
) -> bytes:
    """Store a connection whose configuration has been validated (and probed, if asked); its
    JSON, rendered before the insert commits and stored as the answer to ``once``'s key
    (app/idempotency.py)."""
    now = utc_now()
    connection_id = identifiers.new_id(identifiers.CONNECTION)
    try:
        with db.transaction():
            idempotency.claim(db, once)
            db.insert(
                "storage_connections",
                new_connection_row(
                    connection_id=connection_id,
                    internal_id=internal_id,
                    user_id=user_id,
                    fields=fields,
                    now=now,
                ),
            )
            row = resolve_connection(db, internal_id=internal_id, identifier=connection_id)
            body = render_record(connection_from_row(row))
            idempotency.remember(db, once, body)
            return body
    except IntegrityError:
        raise AlreadyExistsError(
            f"A storage connection named {fields['name']!r} already exists."
        ) from None


def list_connections(
    db: Database,
    *,
    internal_id: str,
    page: Page,
    provider_type: str | None,
    status: str | None,
    is_active: bool | None,
) -> tuple[PageRows, int]:
    where, params = where_equal(
        {
            "internal_id": internal_id,
            "provider_type": provider_type,
            "status": status,
            "is_active": is_active,
        }
    )
    return fetch_page(
        db,
        table="storage_connections",
        key="connection_id",
        where=where,
        params=params,
        order_by="created_at DESC, connection_id",
        page=page,
    )


def delete_connection(
    db: Database, *, internal_id: str, identifier: str, if_match: str | None = None
) -> str:
    """Delete a connection no sync uses; the deleted id. A used one is a 400 naming the count;
    412 if ``if_match`` does not name its current ETag."""
    with db.transaction():
        row = resolve_connection(db, internal_id=internal_id, identifier=identifier)
        if if_match is not None:
            etags.require_match(if_match, record_json(connection_from_row(row)))
        connection_id: str = row["connection_id"]
        in_use: int = db.scalar(
            "SELECT COUNT(*) FROM sync_config WHERE connection_id = ?", (connection_id,)
        )
        if in_use:
            raise BadRequestError(
                f"Storage connection {identifier!r} is used by {in_use} sync configuration(s);"
                " delete them first."
            )
        db.execute("DELETE FROM storage_connections WHERE connection_id = ?", (connection_id,))
    return connection_id
