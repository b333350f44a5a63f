"""SIGINT and SIGTERM during ``mixpeek-mock serve``'s start-up, from its first instant.

Raising an exception from a signal handler can land anywhere: inside asyncio's or uvicorn's
set-up, an import lock, the logging lock, which then fail in ways of their own (a start that
goes on serving after Ctrl-C, a "cannot release un-acquired lock" traceback). So the handler
only records the signal, and start-up checks for it between its steps (``check``), and while
it waits for the migration child; once uvicorn runs, its own handler takes over and a signal
recorded just before is handed to it (app/transport.py), so that it stops gracefully, the
engine process with it.
"""

import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

HANDLED = (signal.SIGINT, signal.SIGTERM)

_received: list[int] = []


class StartInterruptedError(Exception):
    """A signal asked the process to stop before it served."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


def _record(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)


def record() -> Callable[[], None]:
    """Record SIGINT and SIGTERM from now on; returns what puts the previous handlers back."""
    previous: dict[int, Any] = {sig: signal.signal(sig, _record) for sig in HANDLED}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def received() -> list[int]:
    """The signals recorded so far, oldest first."""
    return list(_received)


def check() -> None:
    """Raise ``StartInterruptedError`` when a signal has been recorded."""
    if _received:
        raise StartInterruptedError(_received[0])
