"""``mixpeek-mock syncs run``: one run of one sync, now, in this process.

The run takes the sync's lease like any engine (its own worker id), so a server on the same
database never runs the same sync at the same time: if the server's engine holds the lease,
this exits at once saying so. While it runs it renews the lease, shows its progress (a bar on
a terminal, plain lines otherwise), and Ctrl-C stops it at the next batch, its job
``interrupted``. The exit status says how it ended: 0 completed, 1 failed or could not start,
130 interrupted.
"""

import signal
import threading
import time
from types import FrameType
from typing import TextIO

from app import clock, identifiers
from app.db.database import Database
from app.engine import leases
from app.engine.runner import Progress, Run
from app.engine.worker import EngineConfig
from app.errors import ApiError

EXIT_COMPLETED = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
BAR_WIDTH = 30
PLAIN_EVERY_SECONDS = 2.0


class ProgressPrinter:
    """Files, bytes and files per second: a bar redrawn in place on a terminal, a line every
    few seconds (and at the end) when the output is a file or a pipe."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.last_plain = 0.0

    def show(self, progress: Progress, *, final: bool = False) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        total = max(progress.total_files, progress.done)
        rate = progress.done / elapsed
        counts = (
            f"{progress.done}/{total} files ({progress.files_synced} synced,"
            f" {progress.files_verified} verified, {progress.files_failed} failed),"
            f" {_size(progress.bytes_synced)}, {rate:.1f} files/s"
        )
        if self.tty:
            filled = int(BAR_WIDTH * progress.done / total) if total else 0
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            self.stream.write(f"\r[{bar}] {counts}" + ("\n" if final else ""))
            self.stream.flush()
        elif final or time.monotonic() - self.last_plain >= PLAIN_EVERY_SECONDS:
            self.last_plain = time.monotonic()
            self.stream.write(counts + "\n")
            self.stream.flush()


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def find_sync(db: Database, *, bucket: str, sync: str, namespace: str | None) -> tuple[str, str]:
    """(bucket_id, sync_config_id) for a bucket named by id or name (in ``namespace``, by id or
    name, when given) and a sync id in it; ``LookupError`` saying what is wrong otherwise."""
    rows = db.all(
        "SELECT b.bucket_id, b.bucket_name, n.namespace_id, n.namespace_name"
        " FROM buckets b JOIN namespaces n ON n.namespace_id = b.namespace_id"
        " WHERE b.bucket_id = ? OR b.bucket_name = ?",
        (bucket, bucket),
    )
    if namespace is not None:
        rows = [row for row in rows if namespace in (row["namespace_id"], row["namespace_name"])]
    exact = [row for row in rows if row["bucket_id"] == bucket]
    rows = exact or rows
    if not rows:
        raise LookupError(f"no bucket {bucket!r}" + (f" in {namespace!r}" if namespace else ""))
    if len(rows) > 1:
        spaces = ", ".join(sorted(row["namespace_name"] for row in rows))
        raise LookupError(f"buckets named {bucket!r} exist in {spaces}: give --namespace")
    bucket_id: str = rows[0]["bucket_id"]
    found = db.one(
        "SELECT sync_config_id FROM sync_config WHERE sync_config_id = ? AND bucket_id = ?",
        (sync, bucket_id),
    )
    if found is None:
        raise LookupError(f"no sync configuration {sync!r} in bucket {bucket!r}")
    return bucket_id, sync


def run_sync_now(
    config: EngineConfig,
    *,
    bucket: str,
    sync: str,
    namespace: str | None,
    full_sync: bool,
    out: TextIO,
    err: TextIO,
) -> int:
    # Imported here: the lifecycle rules live with the HTTP service layer's modules.
    from app.syncs import lifecycle

    worker_id = config.worker_id
    db = Database.open(config.database_url)
    # The deployment's clock and id sequences (D32), as the server's engine would use them.
    clock.load(db)
    identifiers.use_seed(config.id_seed, lambda: db)
    try:
        try:
            bucket_id, sync_config_id = find_sync(db, bucket=bucket, sync=sync, namespace=namespace)
            triggered = lifecycle.trigger(
                db,
                bucket_id=bucket_id,
                sync_config_id=sync_config_id,
                full_sync=full_sync,
                worker_id=worker_id,
                ttl_seconds=config.lease_ttl_seconds,
            )
        except (LookupError, ApiError) as exc:
            err.write(f"mixpeek-mock: {getattr(exc, 'message', None) or exc}\n")
            return EXIT_FAILED
        if triggered.status != "running" or triggered.sync_job_id is None:
            err.write(
                f"mixpeek-mock: {sync_config_id} is already running"
                f" (job {triggered.sync_job_id}); nothing started\n"
            )
            return EXIT_FAILED
        job_id = triggered.sync_job_id
        out.write(
            f"{sync_config_id}: job {job_id} ({'full' if triggered.full_sync else 'incremental'})\n"
        )
        out.flush()
        return _execute(db, config, job_id, sync_config_id, out, err)
    finally:
        db.close()


def _execute(
    db: Database,
    config: EngineConfig,
    job_id: str,
    sync_config_id: str,
    out: TextIO,
    err: TextIO,
) -> int:
    worker_id = config.worker_id
    printer = ProgressPrinter(out)
    stop = threading.Event()
    run = Run(
        Database.open(config.database_url),
        job_id=job_id,
        worker_id=worker_id,
        settings=config.run_settings(),
        stop=stop,
        on_progress=printer.show,
    )
    interrupted = threading.Event()

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        interrupted.set()
        stop.set()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    renewer = threading.Thread(target=_renew_until, args=(config, sync_config_id, stop, run))
    renewer.daemon = True
    renewer.start()
    try:
        status = run.execute()
    finally:
        signal.signal(signal.SIGINT, previous)
        stop.set()
        run.db.close()
    printer.show(run.progress, final=True)
    if status == "completed":
        return EXIT_COMPLETED
    if status == "interrupted":
        record = db.one("SELECT * FROM sync_config WHERE sync_config_id = ?", (sync_config_id,))
        if record is not None and record["locked_by_worker_id"] == worker_id:
            with db.transaction():
                leases.interrupt(db, record, reason="The command-line run was interrupted.")
        err.write(f"mixpeek-mock: job {job_id} interrupted\n")
        return EXIT_INTERRUPTED if interrupted.is_set() else EXIT_FAILED
    job = db.one("SELECT error FROM sync_jobs WHERE sync_job_id = ?", (job_id,))
    err.write(f"mixpeek-mock: job {job_id} failed: {job['error'] if job else 'unknown error'}\n")
    return EXIT_FAILED


def _renew_until(
    config: EngineConfig, sync_config_id: str, stop: threading.Event, run: Run
) -> None:
    """Renew the lease every third of its life until the run ends; a lost lease stops it."""
    db = Database.open(config.database_url)
    try:
        while not stop.wait(config.lease_ttl_seconds / 3):
            if not leases.renew(
                db,
                sync_config_id=sync_config_id,
                worker_id=config.worker_id,
                ttl_seconds=config.lease_ttl_seconds,
            ):
                run.stop.set()
                return
    finally:
        db.close()
