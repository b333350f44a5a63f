"""The engine: a process of its own that carries out runs (D27).

    python -m app.engine.worker '<settings as JSON>'

A server starts one (app/engine/supervisor.py) so that reading storage, hashing and the
bookkeeping of thousands of files never hold the server's interpreter lock: requests answer
as fast during a run as without one. It talks to the server through the database only (the
jobs whose lease names its worker id are its to run) plus a pipe on its standard input that
says "wake" (a trigger just claimed a run) or "stop"; when that pipe closes (the server died,
even by SIGKILL) it stops too, interrupting its runs so that the next start continues them.

Every tick it renews the leases of its runs (a lease it no longer holds stops that run),
starts the runs claimed for it, and, with the scheduler on, claims the syncs that are due.
At most ``max_runs`` run at once; each reads with its sync's ``sync_concurrency``.
"""

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app import clock, identifiers
from app.clock import utc_now
from app.db.database import Database
from app.engine import leases, scheduler
from app.engine.runner import Run, RunSettings
from app.storage.egress import EgressPolicy

if TYPE_CHECKING:
    from app.settings import Settings

log = logging.getLogger("mixpeek_mock.engine")

TICK_SECONDS = 0.25
SCHEDULE_EVERY_SECONDS = 1.0
STOP_GRACE_SECONDS = 2.0


@dataclass(frozen=True)
class EngineConfig:
    database_url: str
    worker_id: str
    scheduler: bool
    lease_ttl_seconds: float
    storage_endpoints: str
    default_concurrency: int
    max_runs: int
    log_level: str = "info"
    id_seed: str | None = None

    @classmethod
    def from_settings(cls, settings: "Settings", *, worker_id: str) -> "EngineConfig":
        """What an engine (a server's, or ``syncs run``'s) runs with, from the settings."""
        return cls(
            database_url=settings.database_url,
            worker_id=worker_id,
            scheduler=settings.scheduler,
            lease_ttl_seconds=settings.lock_ttl_seconds,
            storage_endpoints=settings.storage_endpoints,
            default_concurrency=settings.sync_concurrency,
            max_runs=settings.engine_max_runs,
            log_level=settings.log_level,
            id_seed=settings.id_seed,
        )

    def run_settings(self) -> RunSettings:
        return RunSettings(
            policy=EgressPolicy(self.storage_endpoints),
            lease_ttl_seconds=self.lease_ttl_seconds,
            default_concurrency=self.default_concurrency,
        )

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str) -> "EngineConfig":
        return cls(**json.loads(text))


@dataclass
class _Active:
    run: Run
    thread: threading.Thread
    sync_config_id: str
    renewed: float


class Engine:
    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.db = Database.open(config.database_url)
        self.settings = config.run_settings()
        self.active: dict[str, _Active] = {}
        self.wake = threading.Event()
        self.stopping = threading.Event()
        identifiers.use_seed(config.id_seed, lambda: self.db)

    def serve(self) -> None:
        last_schedule = 0.0
        while not self.stopping.is_set():
            self.wake.wait(TICK_SECONDS)
            self.wake.clear()
            try:
                # The clock is the deployment's (D32): the admin API may have moved it.
                clock.load(self.db)
                self._collect_finished()
                self._renew_leases()
                if self.config.scheduler and time.monotonic() - last_schedule >= (
                    SCHEDULE_EVERY_SECONDS
                ):
                    last_schedule = time.monotonic()
                    scheduler.claim_due_runs(
                        self.db,
                        worker_id=self.config.worker_id,
                        ttl_seconds=self.config.lease_ttl_seconds,
                        limit=self.config.max_runs - len(self.active),
                    )
                self._start_claimed()
            except Exception:  # a busy or failing database is retried next tick
                log.exception("engine tick failed")
        self._stop_runs()

    def _start_claimed(self) -> None:
        jobs = self.db.all(
            "SELECT sync_job_id, sync_config_id FROM sync_jobs"
            " WHERE status = ? AND worker_id = ? ORDER BY started_at",
            ("running", self.config.worker_id),
        )
        for job in jobs:
            if job["sync_job_id"] in self.active or len(self.active) >= self.config.max_runs:
                continue
            run = Run(
                Database.open(self.config.database_url),
                job_id=job["sync_job_id"],
                worker_id=self.config.worker_id,
                settings=self.settings,
            )
            thread = threading.Thread(
                target=self._execute, args=(run,), name=f"run-{job['sync_job_id']}", daemon=True
            )
            self.active[job["sync_job_id"]] = _Active(
                run, thread, job["sync_config_id"], time.monotonic()
            )
            thread.start()

    @staticmethod
    def _execute(run: Run) -> None:
        try:
            status = run.execute()
            log.info("sync run %s ended: %s", run.job_id, status)
        finally:
            run.db.close()

    def _collect_finished(self) -> None:
        for job_id, active in list(self.active.items()):
            if not active.thread.is_alive():
                del self.active[job_id]
                self._follow_up(active.sync_config_id)

    def _follow_up(self, sync_config_id: str) -> None:
        """A full sync asked for while the run went on follows at once, scheduler or not."""
        sync = self.db.one(
            "SELECT pending_full_sync, next_sync_at FROM sync_config WHERE sync_config_id = ?",
            (sync_config_id,),
        )
        if sync is None or not sync["pending_full_sync"] or sync["next_sync_at"] is None:
            return
        scheduler.claim_one(
            self.db,
            sync_config_id,
            worker_id=self.config.worker_id,
            ttl_seconds=self.config.lease_ttl_seconds,
            now=utc_now(),
            trigger="manual",
        )

    def _renew_leases(self) -> None:
        every = self.config.lease_ttl_seconds / 3
        for active in self.active.values():
            if time.monotonic() - active.renewed < every:
                continue
            active.renewed = time.monotonic()
            if not leases.renew(
                self.db,
                sync_config_id=active.sync_config_id,
                worker_id=self.config.worker_id,
                ttl_seconds=self.config.lease_ttl_seconds,
            ):
                active.run.stop.set()  # unlocked or reaped: the run stops at its next batch

    def _stop_runs(self) -> None:
        """Stop every run at its next batch, then free the leases of those that did not end,
        so that the next start continues them at once rather than at their expiry."""
        for active in self.active.values():
            active.run.stop.set()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for active in self.active.values():
            active.thread.join(max(0.0, deadline - time.monotonic()))
        for active in self.active.values():
            sync: Any = self.db.one(
                "SELECT * FROM sync_config WHERE sync_config_id = ?",
                (active.sync_config_id,),
            )
            if sync is not None and sync["locked_by_worker_id"] == self.config.worker_id:
                with self.db.transaction():
                    leases.interrupt(self.db, sync, reason="The server stopped during the run.")
        self.db.close()


def _listen(engine: Engine) -> None:
    """Standard input: ``wake`` lines; ``stop`` or end of file (the server went) stops."""
    for line in sys.stdin:
        if line.strip() == "stop":
            break
        engine.wake.set()
    engine.stopping.set()
    engine.wake.set()


def main(argv: list[str]) -> int:
    config = EngineConfig.from_json(argv[1])
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(levelname)s:     engine: %(message)s",
        stream=sys.stderr,
    )
    # Ctrl-C reaches the whole process group; the server decides when the engine stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Runs yield the CPU to the server's requests when both want it (D27): measured by
    # bench/engine.py, requests' p50 during runs fell by about a third at nice 10. Only
    # somewhat lower: on a saturated machine a much lower priority starves the engine's lease
    # renewals.
    with contextlib.suppress(OSError):
        os.nice(5)
    engine = Engine(config)

    def stop(signum: int, frame: Any) -> None:
        engine.stopping.set()
        engine.wake.set()

    signal.signal(signal.SIGTERM, stop)
    threading.Thread(target=_listen, args=(engine,), name="engine-stdin", daemon=True).start()
    engine.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
