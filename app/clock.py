"""The server's clock (CONTRACT.md D3, D32): aware UTC datetimes, written with a ``Z`` on the wire.

``utc_now`` is the one clock of every record timestamp, lease, schedule and journal entry, and
the admin API can freeze it, set it and move it forward (``/_mock/clock``). ``storage_now`` is
real time, always: it is compared with the modification times storage reports (the
incremental watermark of D20), which a mock clock must not distort.

The clock's state is a row of ``mock_clock`` (absent: real time), so that every process on one
database reads one clock: the server that changed it applies it at once (``apply``), the engine
process and other instances read it again (``load``) before they act on time.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.db.database import Database

ONE_TICK = timedelta(microseconds=1)
_NO_OFFSET = timedelta(0)
_CLOCK_ROW = 1


@dataclass(frozen=True, slots=True)
class ClockState:
    """Where the clock is: real time plus ``offset``, or stopped at ``frozen_at``."""

    offset: timedelta = _NO_OFFSET
    frozen_at: datetime | None = None

    @property
    def frozen(self) -> bool:
        return self.frozen_at is not None

    def now(self) -> datetime:
        if self.frozen_at is not None:
            return self.frozen_at
        return datetime.now(UTC) + self.offset

    def freeze(self) -> "ClockState":
        return self if self.frozen_at is not None else ClockState(frozen_at=self.now())

    def unfreeze(self) -> "ClockState":
        """Running again from the frozen instant."""
        if self.frozen_at is None:
            return self
        return ClockState(offset=self.frozen_at - datetime.now(UTC))

    def set(self, instant: datetime) -> "ClockState":
        if self.frozen_at is not None:
            return ClockState(frozen_at=instant)
        return ClockState(offset=instant - datetime.now(UTC))

    def advance(self, by: timedelta) -> "ClockState":
        if self.frozen_at is not None:
            return ClockState(frozen_at=self.frozen_at + by)
        return ClockState(offset=self.offset + by)


REAL_TIME = ClockState()
_state = REAL_TIME


def utc_now() -> datetime:
    return _state.now() if _state is not REAL_TIME else datetime.now(UTC)


def storage_now() -> datetime:
    return datetime.now(UTC)


def current_state() -> ClockState:
    return _state


def apply(state: ClockState) -> None:
    """Make ``state`` this process's clock (after storing it, or reading it)."""
    global _state
    _state = REAL_TIME if state == REAL_TIME else state


def load(db: "Database") -> ClockState:
    """Read the deployment's clock from the database and apply it here."""
    row = db.one("SELECT offset_us, frozen_at FROM mock_clock WHERE clock_id = ?", (_CLOCK_ROW,))
    state = (
        REAL_TIME
        if row is None
        else ClockState(offset=timedelta(microseconds=row["offset_us"]), frozen_at=row["frozen_at"])
    )
    apply(state)
    return state


def store(db: "Database", state: ClockState) -> None:
    """Write the deployment's clock (inside the caller's transaction); apply it with ``apply``."""
    db.execute("DELETE FROM mock_clock WHERE clock_id = ?", (_CLOCK_ROW,))
    if state != REAL_TIME:
        db.insert(
            "mock_clock",
            {
                "clock_id": _CLOCK_ROW,
                "offset_us": state.offset // ONE_TICK,
                "frozen_at": state.frozen_at,
                "updated_at": datetime.now(UTC),
            },
        )


def next_update_time(previous: datetime, *, now: datetime | None = None) -> datetime:
    """Now (or ``now``, read earlier), or one microsecond after ``previous`` when the clock has
    not moved past it.

    ``updated_at`` must strictly increase with every write to a record, even when two writes
    land in the same microsecond, the wall clock steps back, or the mock clock is frozen.
    """
    return max(utc_now() if now is None else now, previous + ONE_TICK)
