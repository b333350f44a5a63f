"""Requests that wait for PostgreSQL on the event loop, with synchronous services.

The services are synchronous: a handler runs its statements one after another and never awaits
inside a transaction. On SQLite a statement is a function call of microseconds, so the server
runs them on its event loop as they are (app/db/database.py). On PostgreSQL each statement is a
network round trip, and waiting for it there would make every request wait for every other's.

So, on PostgreSQL only, ``GreenletRequests`` (an outer middleware) runs each HTTP request
inside a greenlet of its own (``RequestGreenlet``), stepping the request's coroutine there as
an asyncio task would. Code anywhere below, synchronous or not, may then call ``wait_for`` on
an awaitable (the PostgreSQL backend does, for each statement, app/db/postgres.py): the
greenlet switches back to the request's task on the loop, the task awaits while the loop serves
every other request, and switches back in with the outcome. Everything stays on the server's
one thread: no hand-off between threads, no contention for the interpreter lock, and a request
in the middle of a statement costs the loop nothing.

Cancellation reaches the request as it would reach a task: by cancelling the future it waits
on (or, when there is none, by throwing ``CancelledError`` in at the point where it waits).

On SQLite nothing of this exists: ``GreenletRequests`` finds no connection pool in the app's
state and calls the app as it is.
"""

import asyncio
import contextvars
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any, Protocol, TypeVar

import greenlet
from starlette.types import ASGIApp, Receive, Scope, Send

T = TypeVar("T")

# Where the app's state keeps what requests borrow their connections from (absent or None:
# requests run on the loop as they are).
STATE_KEY = "request_pool"


class Lender(Protocol):
    def release(self, thing: Any, /) -> None: ...


class RequestGreenlet(greenlet.greenlet):  # type: ignore[misc]
    """The greenlet one HTTP request runs in, and what it borrowed for its duration."""

    def __init__(self) -> None:
        super().__init__(_drive)
        # What the request borrowed (its database connection) and from whom: given back when
        # the request finishes, however it finishes.
        self.borrowed: Any = None
        self._lender: Lender | None = None

    def borrow(self, thing: Any, lender: Lender) -> None:
        assert self.borrowed is None
        self.borrowed, self._lender = thing, lender

    def give_back(self) -> None:
        thing, lender = self.borrowed, self._lender
        self.borrowed = self._lender = None
        if lender is not None:
            lender.release(thing)


def in_request() -> RequestGreenlet | None:
    """The request greenlet the caller runs in, or None (the loop itself, another thread)."""
    current = greenlet.getcurrent()
    return current if isinstance(current, RequestGreenlet) else None


def wait_for(awaitable: Awaitable[T]) -> T:
    """Wait for ``awaitable`` from synchronous code running in a request greenlet; the loop
    serves other requests meanwhile. One that completes without waiting costs no switch."""
    if in_request() is None:
        if isinstance(awaitable, Coroutine):
            awaitable.close()  # never to be awaited
        raise RuntimeError("wait_for() called outside a request greenlet")
    result: T = _drive(awaitable.__await__())
    return result


def _drive(steps: Generator[Any, None, T]) -> T:
    """Step a coroutine here, in the request greenlet; each time it waits, hand what it waits
    on to the request's task (``_serve``) and resume it when that is settled."""
    loop_side = greenlet.getcurrent().parent
    error: BaseException | None = None
    while True:
        try:
            waits_on = steps.send(None) if error is None else steps.throw(error)
        except StopIteration as stop:
            result: T = stop.value
            return result
        error = loop_side.switch(waits_on)


async def run_in_greenlet(coroutine: Awaitable[T]) -> T:
    """Run ``coroutine`` in a new request greenlet, as this task would run it; its result.
    What it borrowed is given back when it ends, however it ends."""
    request = RequestGreenlet()
    try:
        return await _serve(request, coroutine.__await__())
    finally:
        request.give_back()


async def _serve(request: RequestGreenlet, steps: Generator[Any, None, T]) -> T:
    """The request's task: run the greenlet until it finishes, awaiting what it waits on."""
    # The request sees the context variables of this task, as it would running in it.
    request.gr_context = contextvars.copy_context()
    waits_on = request.switch(steps)
    while not request.dead:
        error: BaseException | None = None
        try:
            if waits_on is None:  # a bare yield (asyncio.sleep(0)): let the loop go round
                await asyncio.sleep(0)
            else:
                await _settled(waits_on)
        except asyncio.CancelledError as cancelled:
            error = cancelled
        waits_on = request.switch(error)
    result: T = waits_on  # what the greenlet's run (``_drive``) returned
    return result


async def _settled(future: "asyncio.Future[Any]") -> None:
    """Wait until ``future`` is done; its outcome is the request's to read, not this task's.

    When this task is cancelled, asyncio cancels the future it waits on, which is the
    request's: the request then reads the cancellation from it, as a task's coroutine would.
    Only a cancellation that did not go through the future is raised here.
    """
    # The request's ``await`` marked the future as being waited on, as a task's coroutine does
    # for the task to see; the task would clear the mark before waiting, and so does this.
    future._asyncio_future_blocking = False
    try:
        await future
    except asyncio.CancelledError:
        if not future.cancelled():
            raise  # this task was cancelled, not the future
    except Exception:  # noqa: S110 (the future's own error: the request reads it from there)
        pass


class GreenletRequests:
    """Run HTTP requests in greenlets, when the app has a pool to lend connections from."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pool = None
        if scope["type"] == "http":
            pool = getattr(scope["app"].state, STATE_KEY, None)
        if pool is None:
            await self.app(scope, receive, send)
            return
        await run_in_greenlet(self.app(scope, receive, send))
