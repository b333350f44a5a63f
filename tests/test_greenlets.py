"""Requests in greenlets (app/db/greenlets.py): synchronous code in a request waits on the
event loop, other requests run meanwhile, and exceptions, cancellation and context variables
behave as they do in a task."""

import asyncio
import contextvars
import time
from typing import Any

import pytest

from app.db.greenlets import (
    STATE_KEY,
    GreenletRequests,
    in_request,
    run_in_greenlet,
    wait_for,
)


def blocking_looking_sleep(seconds: float) -> str:
    """Synchronous code, as a service is, that waits the way the PostgreSQL backend does."""
    wait_for(asyncio.sleep(seconds))
    return "slept"


def test_synchronous_code_waits_on_the_loop_while_other_requests_run() -> None:
    async def request() -> str:
        return blocking_looking_sleep(0.2)

    async def main() -> list[str]:
        return list(await asyncio.gather(run_in_greenlet(request()), run_in_greenlet(request())))

    started = time.monotonic()
    assert asyncio.run(main()) == ["slept", "slept"]
    assert time.monotonic() - started < 0.35  # side by side, not one after the other


def test_the_outcome_of_what_is_awaited_reaches_the_synchronous_caller() -> None:
    async def fails() -> None:
        await asyncio.sleep(0)
        raise KeyError("the statement failed")

    async def request() -> str:
        try:
            wait_for(fails())
        except KeyError as exc:
            return f"caught {exc}"
        return "not raised"

    assert asyncio.run(run_in_greenlet(request())) == "caught 'the statement failed'"


def test_an_error_of_the_request_leaves_it_as_from_a_task() -> None:
    async def request() -> None:
        blocking_looking_sleep(0)
        raise ValueError("handler failed")

    with pytest.raises(ValueError, match="handler failed"):
        asyncio.run(run_in_greenlet(request()))


def test_cancelling_the_request_reaches_the_synchronous_code_and_its_cleanup_may_wait() -> None:
    cleaned: list[str] = []

    async def request() -> None:
        try:
            blocking_looking_sleep(30)
        finally:
            # A rollback after a cancellation waits for the database too.
            cleaned.append(blocking_looking_sleep(0.01))

    async def main() -> None:
        task = asyncio.ensure_future(run_in_greenlet(request()))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    started = time.monotonic()
    asyncio.run(main())
    assert cleaned == ["slept"]
    assert time.monotonic() - started < 5


def test_asyncio_timeouts_inside_a_request_work_as_in_a_task() -> None:
    async def request() -> str:
        try:
            # (The wait is in the synchronous code, where the linter cannot see it.)
            async with asyncio.timeout(0.05):  # noqa: ASYNC100
                blocking_looking_sleep(30)
        except TimeoutError:
            return "timed out"
        return "not timed out"

    assert asyncio.run(run_in_greenlet(request())) == "timed out"


def test_the_request_sees_its_task_s_context_variables() -> None:
    variable: contextvars.ContextVar[str] = contextvars.ContextVar("variable")

    async def request() -> str:
        blocking_looking_sleep(0)
        return variable.get()

    async def main() -> str:
        variable.set("set by the task")
        return await run_in_greenlet(request())

    assert asyncio.run(main()) == "set by the task"


def test_waiting_outside_a_request_greenlet_is_refused() -> None:
    async def main() -> None:
        assert in_request() is None
        with pytest.raises(RuntimeError, match="outside a request greenlet"):
            wait_for(asyncio.sleep(0))

    asyncio.run(main())


async def nothing_received() -> dict[str, Any]:
    return {"type": "http.disconnect"}


async def nothing_sent(message: Any) -> None:
    pass


def test_without_a_pool_requests_run_on_the_loop_as_they_are() -> None:
    seen: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(in_request() is not None)

    class State:
        pass

    class App:
        state = State()

    async def main() -> None:
        middleware = GreenletRequests(app)
        scope: dict[str, Any] = {"type": "http", "app": App()}
        await middleware(scope, nothing_received, nothing_sent)  # no pool: SQLite
        setattr(App.state, STATE_KEY, object())
        await middleware(scope, nothing_received, nothing_sent)  # a pool: PostgreSQL

    asyncio.run(main())
    assert seen == [False, True]
