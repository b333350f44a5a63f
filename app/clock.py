"""The server's clock (CONTRACT.md D3): aware UTC datetimes, written with a ``Z`` on the wire.

``utc_now`` is the one clock of every record timestamp, lease and schedule (the admin API will
be able to freeze and move it). ``storage_now`` is real time, always: it is compared with the
modification times storage reports (the incremental watermark of D20), which a mock clock must
not distort.
"""

from datetime import UTC, datetime, timedelta

ONE_TICK = timedelta(microseconds=1)


def utc_now() -> datetime:
    return datetime.now(UTC)


def storage_now() -> datetime:
    return datetime.now(UTC)


def next_update_time(previous: datetime) -> datetime:
    """Now, or one microsecond after ``previous`` when the clock has not moved past it.

    ``updated_at`` must strictly increase with every write to a record, even when two writes
    land in the same microsecond or the wall clock steps back.
    """
    return max(utc_now(), previous + ONE_TICK)
