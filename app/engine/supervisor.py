"""The server's side of the engine: its worker process, and the lease reaper (D21, D27).

``EngineSupervisor`` owns the engine process (app/engine/worker.py) of one server: it starts
it at startup when the scheduler is on, or at the first trigger when it is off (a server that
never runs a sync never pays for the process), wakes it when a trigger has claimed a run for
it, starts it again if it died, and stops it on shutdown. The worker id it gives the engine is
the one triggers claim leases for.

``LeaseReaper`` frees expired leases every few seconds from the server itself, whether or not
the scheduler runs or the engine was ever started; at startup it also frees at once the leases
of processes of this machine that no longer exist (a server killed with SIGKILL).
"""

import asyncio
import contextlib
import logging
import subprocess
import sys
import threading

from app.db.database import Database, DatabaseBusyError
from app.engine import leases
from app.engine.worker import EngineConfig

log = logging.getLogger("mixpeek_mock.engine")

REAP_EVERY_SECONDS = 2.0
STOP_WAIT_SECONDS = 4.0


class EngineSupervisor:
    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.worker_id = config.worker_id
        self._process: subprocess.Popen[bytes] | None = None
        # Requests wake it (triggers, a clock advance), and the loop starts and stops it. Nothing
        # under it waits for the database, so a request's greenlet never switches holding it.
        self._lock = threading.RLock()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        with self._lock:
            self._start()

    def _start(self) -> None:
        if self.running:
            return
        if self._process is not None:
            log.warning(
                "the engine process ended (exit %s); starting it again", self._process.returncode
            )
        self._process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [sys.executable, "-m", "app.engine.worker", self.config.to_json()],
            stdin=subprocess.PIPE,
        )

    def wake(self) -> None:
        """Tell the engine a run was claimed for it (starting the engine if need be)."""
        with self._lock:
            self._start()
            assert self._process is not None
            assert self._process.stdin is not None
            try:
                self._process.stdin.write(b"wake\n")
                self._process.stdin.flush()
            except (BrokenPipeError, OSError):  # it died a moment ago: the next wake restarts it
                log.warning("the engine process could not be woken")

    async def stop(self) -> None:
        """Ask the engine to stop (it interrupts its runs and frees their leases), then wait a
        few seconds before killing it."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        assert process.stdin is not None
        with contextlib.suppress(BrokenPipeError, OSError):
            process.stdin.write(b"stop\n")
            process.stdin.close()
        for _ in range(int(STOP_WAIT_SECONDS / 0.05)):
            if process.poll() is not None:
                return
            await asyncio.sleep(0.05)
        process.kill()
        await asyncio.to_thread(process.wait)


class LeaseReaper:
    def __init__(
        self, database: Database, *, live_worker_ids: set[str], in_thread: bool = False
    ) -> None:
        self.database = database
        self.live_worker_ids = live_worker_ids
        # True for a database reached over the network: reaping must not block the loop.
        self.in_thread = in_thread
        self._task: asyncio.Task[None] | None = None

    def reap_at_start(self) -> None:
        leases.reap_dead_local_workers(self.database, live_worker_ids=self.live_worker_ids)
        leases.reap_expired(self.database)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(REAP_EVERY_SECONDS)
            try:
                if self.in_thread:
                    await asyncio.to_thread(leases.reap_expired, self.database)
                else:
                    leases.reap_expired(self.database)
            except DatabaseBusyError:
                pass  # another process is writing: next time
            except Exception:
                log.exception("reaping expired leases failed")
