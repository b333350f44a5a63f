"""Requests served off the event loop, for a database that is reached over the network.

The services are synchronous: a handler runs its statements one after another and never awaits
inside a transaction. On SQLite a statement is a function call of microseconds, so the server
runs them on its event loop (app/db/database.py). On PostgreSQL each statement is a network
round trip, and running them there would make every request wait for every other's round trips.

So, on PostgreSQL only, ``OffLoop`` (the outermost middleware) hands each HTTP request to one of
``RequestWorkers``' threads, each running its own event loop and holding its own connection
(``ThreadLocalDatabase``, app/db/postgres.py). The whole request runs there, the guard included
(authentication reads the database too): its ``receive`` and ``send`` are forwarded to the
server's loop, where uvicorn's own run, and the server's loop only moves bytes. A request goes to
the worker with the fewest requests in progress; one worker serves one request at a time while
that request runs statements, and the others meanwhile, so ``threads`` is how many requests may
talk to the database at once (and how many connections each instance opens).

On SQLite nothing of this exists: ``OffLoop`` finds no workers in the app's state and calls the
app as it is, on the loop.
"""

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

T = TypeVar("T")

# Where the app's state keeps the workers (absent: requests run on the server's loop).
STATE_KEY = "request_workers"


class _Worker:
    def __init__(self, index: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.in_progress = 0  # read and written on the server's loop only
        self.thread = threading.Thread(
            target=self._serve, name=f"request-worker-{index}", daemon=True
        )
        self.thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


class RequestWorkers:
    """Threads, each with its own event loop, that requests run on."""

    def __init__(self, threads: int) -> None:
        self._workers = [_Worker(index) for index in range(threads)]

    def run(self, coroutine: Coroutine[Any, Any, None]) -> tuple[_Worker, "Future[None]"]:
        """Start ``coroutine`` on the least busy worker; call from the server's loop."""
        worker = min(self._workers, key=lambda candidate: candidate.in_progress)
        worker.in_progress += 1
        return worker, asyncio.run_coroutine_threadsafe(coroutine, worker.loop)

    def close(self) -> None:
        for worker in self._workers:
            worker.stop()


async def run_on(target: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on ``target``, another thread's loop, and wait for it here.

    What ``run_coroutine_threadsafe`` and ``wrap_future`` do, with one wake-up of each loop and
    none of concurrent.futures' locks and callbacks: hops are most of what a request costs the
    server beyond its own work. Cancelling the wait here cancels the coroutine there.
    """
    here = asyncio.get_running_loop()
    waiter: asyncio.Future[T] = here.create_future()
    task: asyncio.Task[T] | None = None
    cancelled = False

    def settle(done: asyncio.Task[T]) -> None:  # on target
        here.call_soon_threadsafe(_copy_outcome, done, waiter)

    def start() -> None:  # on target
        nonlocal task
        if cancelled:
            coroutine.close()
            return
        task = target.create_task(coroutine)
        task.add_done_callback(settle)

    def cancel() -> None:  # on target
        nonlocal cancelled
        cancelled = True
        if task is not None:
            task.cancel()

    target.call_soon_threadsafe(start)
    try:
        return await waiter
    except asyncio.CancelledError:
        target.call_soon_threadsafe(cancel)
        raise


def _copy_outcome(done: "asyncio.Task[T]", waiter: "asyncio.Future[T]") -> None:
    if waiter.done():
        return
    if done.cancelled():
        waiter.cancel()
    elif (error := done.exception()) is not None:
        waiter.set_exception(error)
    else:
        waiter.set_result(done.result())


class OffLoop:
    """Run HTTP requests on the app's ``RequestWorkers``, when it has some (see above)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        workers: RequestWorkers | None = None
        if scope["type"] == "http":
            workers = getattr(scope["app"].state, STATE_KEY, None)
        if workers is None:
            await self.app(scope, receive, send)
            return
        server_loop = asyncio.get_running_loop()

        async def receive_there() -> Message:
            return await receive()

        async def send_there(message: Message) -> None:
            await send(message)

        async def receive_here() -> Message:
            return await run_on(server_loop, receive_there())

        async def send_both(start: Message, message: Message) -> None:
            await send(start)
            await send(message)

        start: Message | None = None

        async def send_here(message: Message) -> None:
            # Each hop to the server's loop costs a wake-up there and the interpreter lock
            # twice: the start of a response goes with its first body message, in one hop.
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if start is not None:
                pending, start = start, None
                coroutine = send_both(pending, message)
            else:
                coroutine = send_there(message)
            await run_on(server_loop, coroutine)

        async def call_app() -> None:
            await self.app(scope, receive_here, send_here)

        worker, future = workers.run(call_app())
        try:
            await asyncio.wrap_future(future)
        finally:
            # A cancelled request (the server stopping) cancels its run on the worker too.
            future.cancel()
            worker.in_progress -= 1
