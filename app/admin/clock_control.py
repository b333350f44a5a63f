"""Freezing, setting and advancing the server's clock (CONTRACT.md D32).

A change is stored for the whole deployment (app/clock.py) and moves every live run lease by
as much as the clock moved, so that a lease keeps the real time it had left: advancing an hour
must not make the lease of a run that is going on look abandoned. With the scheduler on, the
syncs an advance (or a jump) makes due are claimed before the call answers, so their jobs
exist when the test looks; the engine process then runs them.
"""

import contextlib
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from app import clock
from app.admin.schemas import LATEST_CLOCK
from app.clock import ClockState
from app.db.database import Database, to_column
from app.engine import scheduler
from app.errors import ValidationError, validation_error

log = logging.getLogger("mixpeek_mock.clock")

# At most this many due syncs are claimed by one clock change; more wait for the scheduler.
MAX_CLAIMS_PER_CHANGE = 1000
# How often an instance reads the deployment's clock again (ClockFollower).
FOLLOW_EVERY_SECONDS = 0.2


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


class ClockFollower:
    """Keeps this process's clock in step with the deployment's, for servers that share a
    database with others (PostgreSQL): a change made through another instance reaches this
    one within ``FOLLOW_EVERY_SECONDS``. A thread with a connection of its own, so that
    neither the event loop nor a request waits for it. (On SQLite the server is the only
    process of its file that changes the clock, and applies its own changes at once.)
    """

    def __init__(self, database_url: str) -> None:
        self._database_url = database_url
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="clock-follower", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        database: Database | None = None
        while not self._stop.wait(FOLLOW_EVERY_SECONDS):
            try:
                if database is None:
                    database = Database.open(self._database_url)
                clock.load(database)
            except Exception:  # the database is away for a moment: try again next time
                log.warning("could not read the deployment's clock; retrying", exc_info=True)
                if database is not None:
                    with contextlib.suppress(Exception):
                        database.close()
                    database = None
        if database is not None:
            database.close()
