"""Dead-letter rules (D25): listing, requeue and bulk-mark-failed, scoped to a sync.

The engine writes the entries (app/engine/runner.py): one per source key and sync, exhausted
(``max_retries_reached``) once its reads failed, resolved (``resolved_at``) when a later run
reads it, skipped by every run while exhausted or ``permanently_failed``. Here:

- requeue makes the exhausted, unresolved entries that are not permanently failed retryable
  again (``max_retries_reached`` false, ``retry_count`` 0, ``requeued_at`` now): the next
  run reads those files, and resolves each entry it reads;
- bulk-mark-failed retires unresolved entries for good: ``permanently_failed`` and
  ``max_retries_reached`` both set, so that no run and no requeue ever takes them again.
  Entries already retired are not counted again (a second call answers 0).

SQL is portable (SQLite and PostgreSQL): booleans travel as parameters, and the provider code
is compared with ``substr``, which both have with the same meaning.
"""

from collections.abc import Sequence
from typing import Any

from app.clock import utc_now
from app.db.database import Database, Row, to_column
from app.pagination import Page, PageRows, fetch_page
from app.syncs.service import get_sync

from .schemas import MARKED_PERMANENTLY_FAILED, SyncDeadLetterObjectModel

TABLE = "sync_dead_letters"


def dead_letter_from_record(record: Row) -> SyncDeadLetterObjectModel:
    return SyncDeadLetterObjectModel(
        dlq_id=record["dlq_id"],
        sync_config_id=record["sync_config_id"],
        sync_job_id=record["sync_job_id"],
        source_object_id=record["source_object_id"],
        source_path=record["source_path"],
        error_type=record["error_type"],
        error_message=record["error_message"],
        first_seen_at=record["first_seen_at"],
        last_seen_at=record["last_seen_at"],
        retry_count=record["retry_count"],
        max_retries_reached=bool(record["max_retries_reached"]),
        requeued_at=record["requeued_at"],
        resolved_at=record["resolved_at"],
        disposal_reason=MARKED_PERMANENTLY_FAILED if record["permanently_failed"] else None,
        permanently_failed=bool(record["permanently_failed"]),
        internal_id=record["internal_id"],
        namespace_id=record["namespace_id"],
        bucket_id=record["bucket_id"],
    )


def provider_code(error_type: str, error_message: str) -> str:
    """The provider's code an entry's message starts with (``NoSuchKey: ...``), else its
    ``error_type``: what ``dlq_by_error`` groups by."""
    code, colon, _ = error_message.partition(":")
    return code.strip() if colon and code.strip() else error_type


def _matching_types(error_types: Sequence[str] | None) -> tuple[str, list[Any]]:
    """A clause matching entries of any of ``error_types`` (by ``error_type`` or provider
    code); ``1 = 1`` when no types are given (absent or an empty list: no filter)."""
    if not error_types:
        return "1 = 1", []
    clauses: list[str] = []
    params: list[Any] = []
    for name in dict.fromkeys(error_types):
        clauses.append("(error_type = ? OR substr(error_message, 1, ?) = ?)")
        params += [name, len(name) + 1, f"{name}:"]
    return f"({' OR '.join(clauses)})", params


def list_dead_letters(
    db: Database,
    *,
    bucket_id: str,
    sync_config_id: str,
    page: Page,
    only_max_retries: bool,
    error_types: Sequence[str] | None,
) -> tuple[PageRows, int]:
    """The sync's entries matching the filters, most recently failed first, and how many
    match in all. Resolved entries are listed too (with ``resolved_at``), so that what a
    requeue led to can be seen; ``only_max_retries`` keeps the exhausted, unresolved ones."""
    get_sync(db, bucket_id=bucket_id, sync_config_id=sync_config_id)
    types, params = _matching_types(error_types)
    where = f"sync_config_id = ? AND {types}"
    params = [sync_config_id, *params]
    if only_max_retries:
        where += " AND max_retries_reached = ? AND resolved_at IS NULL"
        params.append(True)
    return fetch_page(
        db,
        table=TABLE,
        key="dlq_id",
        where=where,
        params=params,
        order_by="last_seen_at DESC, dlq_id DESC",
        page=page,
    )


def requeue(
    db: Database, *, bucket_id: str, sync_config_id: str, error_types: Sequence[str] | None
) -> int:
    """Send the exhausted entries (all, or those of ``error_types``) back to the retry path;
    how many."""
    types, params = _matching_types(error_types)
    with db.transaction():
        get_sync(db, bucket_id=bucket_id, sync_config_id=sync_config_id)
        return db.execute(
            f"UPDATE {TABLE} SET max_retries_reached = ?, retry_count = ?, requeued_at = ?"
            " WHERE sync_config_id = ? AND resolved_at IS NULL AND max_retries_reached = ?"
            f" AND permanently_failed = ? AND {types}",
            [False, 0, to_column(utc_now()), sync_config_id, True, False, *params],
        )


def mark_permanently_failed(
    db: Database, *, bucket_id: str, sync_config_id: str, error_types: Sequence[str]
) -> int:
    """Retire the unresolved entries of ``error_types`` for good; how many were not already."""
    types, params = _matching_types(error_types)
    with db.transaction():
        get_sync(db, bucket_id=bucket_id, sync_config_id=sync_config_id)
        return db.execute(
            f"UPDATE {TABLE} SET permanently_failed = ?, max_retries_reached = ?"
            " WHERE sync_config_id = ? AND resolved_at IS NULL AND permanently_failed = ?"
            f" AND {types}",
            [True, True, sync_config_id, False, *params],
        )


def exhausted_by_error(db: Database, *, sync_config_id: str) -> dict[str, int]:
    """The sync's exhausted, unresolved entries (permanently failed ones included: they are
    still files the sync did not deliver), counted by provider code.

    Grouped by message in SQL and folded by code here: a run's messages name the code and the
    source bucket only, so a sync has a handful of distinct messages however many entries.
    """
    rows = db.all(
        f"SELECT error_type, error_message, COUNT(*) AS entries FROM {TABLE}"
        " WHERE sync_config_id = ? AND max_retries_reached = ? AND resolved_at IS NULL"
        " GROUP BY error_type, error_message",
        (sync_config_id, True),
    )
    counts: dict[str, int] = {}
    for row in rows:
        code = provider_code(row["error_type"], row["error_message"])
        counts[code] = counts.get(code, 0) + int(row["entries"])
    return dict(sorted(counts.items()))
