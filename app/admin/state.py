"""Reset, snapshots and restore of the whole state (CONTRACT.md D29).

"The state" is every record an API key can create or a sync run can make: namespaces,
connections, buckets, syncs, jobs, dead letters, objects, and the idempotency records of D33.
Organizations, users, API keys and admin tokens are not part of it: a reset keeps them (the
test suite's key must go on working), and so do a restore and a snapshot. The clock is not
either: a reset puts it back to real time, a restore leaves it where it is.

A snapshot is kept in the database (``snapshots`` and ``snapshot_rows``), so it survives a
reset and a restart, and every instance on one database sees it. Each row is stored as JSON,
with the names of its timestamp columns beside it so that they read back as timestamps on any
backend.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app import clock, identifiers
from app.accounts.service import DEFAULT_NAMESPACE
from app.clock import utc_now
from app.db.database import Database
from app.errors import NotFoundError
from app.namespaces.service import create_default_namespace

# The state's tables, in an order where each row's owners come before it (for inserting;
# deleting goes the other way), each with the column that orders its rows in a snapshot.
STATE_TABLES: tuple[tuple[str, str], ...] = (
    ("namespaces", "namespace_id"),
    ("storage_connections", "connection_id"),
    ("buckets", "bucket_id"),
    ("sync_config", "sync_config_id"),
    ("sync_jobs", "sync_job_id"),
    ("sync_dead_letters", "dlq_id"),
    ("bucket_objects", "object_id"),
    ("idempotency_records", "internal_id, route, idempotency_key"),
)

# Sequences a reset starts again (D32: a reset server answers ids as a fresh one would). Not
# organizations' and users': those records stay, and their ids must not be drawn twice.
_KEPT_SEQUENCES = (identifiers.ORGANIZATION, identifiers.USER)


def _clear_state(db: Database) -> None:
    for table, _ in reversed(STATE_TABLES):
        db.execute(f'DELETE FROM "{table}"')


def reset(db: Database) -> None:
    """Leave the database as a fresh server's, with the same organizations and keys: each
    organization with an empty ``default`` namespace, the clock in real time. Snapshots stay."""
    with db.transaction():
        _clear_state(db)
        db.execute(
            "DELETE FROM id_sequences WHERE prefix NOT IN (?, ?)",
            _KEPT_SEQUENCES,
        )
        clock.store(db, clock.REAL_TIME)
        clock.apply(clock.REAL_TIME)
        for internal_id in db.column("SELECT internal_id FROM organizations ORDER BY created_at"):
            create_default_namespace(db, internal_id=internal_id, name=DEFAULT_NAMESPACE)


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    name: str
    created_at: datetime


def _stored_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row as JSON: its values, and which of them were timestamps."""
    datetimes = [name for name, value in row.items() if isinstance(value, datetime)]
    values = {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name, value in row.items()
    }
    return {"values": values, "datetimes": datetimes}


def _loaded_row(data: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = dict(data["values"])
    for name in data["datetimes"]:
        values[name] = datetime.fromisoformat(values[name])
    return values


def save_snapshot(db: Database, name: str) -> SnapshotInfo:
    """Save the whole state under ``name``, replacing a snapshot of that name."""
    created_at = utc_now()
    with db.transaction():
        db.execute("DELETE FROM snapshot_rows WHERE snapshot_name = ?", (name,))
        db.execute("DELETE FROM snapshots WHERE name = ?", (name,))
        db.insert("snapshots", {"name": name, "created_at": created_at})
        for table, order in STATE_TABLES:
            for position, row in enumerate(db.rows(f'SELECT * FROM "{table}" ORDER BY {order}')):
                db.insert(
                    "snapshot_rows",
                    {
                        "snapshot_name": name,
                        "table_name": table,
                        "position": position,
                        "data": _stored_row(row),
                    },
                )
    return SnapshotInfo(name=name, created_at=created_at)


def restore_snapshot(db: Database, name: str) -> None:
    """Replace the whole state with the snapshot's; 404 when there is none of that name."""
    with db.transaction():
        if db.scalar("SELECT 1 FROM snapshots WHERE name = ?", (name,)) is None:
            raise _no_snapshot(name)
        _clear_state(db)
        for table, _ in STATE_TABLES:
            for stored in db.rows(
                "SELECT data FROM snapshot_rows WHERE snapshot_name = ? AND table_name = ?"
                " ORDER BY position",
                (name, table),
            ):
                db.insert(table, _loaded_row(stored["data"]))


def list_snapshots(db: Database) -> list[SnapshotInfo]:
    return [
        SnapshotInfo(name=row["name"], created_at=row["created_at"])
        for row in db.all("SELECT name, created_at FROM snapshots ORDER BY created_at, name")
    ]


def delete_snapshot(db: Database, name: str) -> None:
    with db.transaction():
        db.execute("DELETE FROM snapshot_rows WHERE snapshot_name = ?", (name,))
        if db.execute("DELETE FROM snapshots WHERE name = ?", (name,)) == 0:
            raise _no_snapshot(name)


def _no_snapshot(name: str) -> NotFoundError:
    return NotFoundError(f"Snapshot {name!r} not found.")
