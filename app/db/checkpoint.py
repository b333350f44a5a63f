"""Moving the WAL into the database file off the request path.

SQLite's automatic checkpoint runs inside whichever commit crosses the threshold, and with it
the fsync of the database file: one request in a thousand would wait on the disk. Instead the
serving connection never checkpoints (``wal_autocheckpoint = 0``), and this task does, from its
own connection in a worker thread, every ``interval`` seconds. PASSIVE checkpoints never block
the writer; a crash between two of them loses nothing (the WAL holds every commit).
"""

import asyncio
import contextlib
import logging
import sqlite3

from app.db.database import connect

log = logging.getLogger("mixpeek_mock")

CHECKPOINT_INTERVAL_S = 1.0


class Checkpointer:
    def __init__(self, database_url: str, interval: float = CHECKPOINT_INTERVAL_S) -> None:
        self.database_url = database_url
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Let a checkpoint under way finish (it runs in a thread that cannot be cancelled),
        then close the connection."""
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        conn = connect(self.database_url)
        try:
            while not self._stopping.is_set():
                # Sleep for an interval, but wake at once (and leave) when stopped.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=self.interval)
                    break
                try:
                    await asyncio.to_thread(conn.execute, "PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # a busy or failing checkpoint is retried next time
                    log.warning("WAL checkpoint failed: %s", exc)
        finally:
            conn.close()
