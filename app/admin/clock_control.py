"""Freezing, setting and advancing the server's clock (CONTRACT.md D32).

A change is stored for the whole deployment (app/clock.py) and moves every live run lease by
as much as the clock moved, so that a lease keeps the real time it had left: advancing an hour
must not make the lease of a run that is going on look abandoned. With the scheduler on, the
syncs an advance (or a jump) makes due are claimed before the call answers, so their jobs
exist when the test looks; the engine process then runs them.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from app import clock
from app.admin.schemas import LATEST_CLOCK
from app.clock import ClockState
from app.db.database import Database, to_column
from app.engine import scheduler
from app.errors import ValidationError, validation_error

# At most this many due syncs are claimed by one clock change; more wait for the scheduler.
MAX_CLAIMS_PER_CHANGE = 1000


@dataclass(frozen=True, slots=True)
class ClockChange:
    freeze: bool | None = None
    set_to: datetime | None = None
    advance: timedelta | None = None


def change_clock(db: Database, change: ClockChange) -> ClockState:
    """Apply ``change`` (in the order freeze, set, advance) for the whole deployment."""
    with db.transaction():
        before = clock.load(db)
        moved_from = before.now()
        state = before
        if change.freeze is True:
            state = state.freeze()
        elif change.freeze is False:
            state = state.unfreeze()
        if change.set_to is not None:
            state = state.set(change.set_to)
        if change.advance is not None:
            # Each advance is bounded, but advances add up: past the latest instant a clock
            # may show, timestamps would soon overflow (year 9999) and every write fail.
            if change.advance >= LATEST_CLOCK - state.now():
                raise _past_the_latest_clock()
            state = state.advance(change.advance)
        _shift_leases(db, state.now() - moved_from)
        clock.store(db, state)
    clock.apply(state)
    return state


def _past_the_latest_clock() -> ValidationError:
    message = f"The clock cannot be moved to {LATEST_CLOCK.year} or later."
    return validation_error(
        [{"type": "clock_out_of_range", "loc": ("body", "advance_seconds"), "msg": message}]
    )


def _shift_leases(db: Database, by: timedelta) -> None:
    if not by:
        return
    for row in db.all(
        "SELECT sync_config_id, lock_expires_at FROM sync_config"
        " WHERE locked_by_worker_id IS NOT NULL AND lock_expires_at IS NOT NULL"
    ):
        db.execute(
            "UPDATE sync_config SET lock_expires_at = ? WHERE sync_config_id = ?",
            (to_column(row["lock_expires_at"] + by), row["sync_config_id"]),
        )


def claim_due(db: Database, *, worker_id: str, ttl_seconds: float) -> list[str]:
    """Claim the syncs that are due now for ``worker_id``; the jobs created."""
    return scheduler.claim_due_runs(
        db, worker_id=worker_id, ttl_seconds=ttl_seconds, limit=MAX_CLAIMS_PER_CHANGE
    )
