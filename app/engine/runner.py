"""One run of a sync: list, filter, read and hash, write objects in batches (D20 to D25).

A run starts from a job that ``leases.claim_run`` created (the lease held, the job
``running``) and ends it ``completed`` or ``failed``, or leaves it to whoever took the lease
away (``unlock``, a reaper: the job is then ``interrupted``). It runs in plain threads, never
on a server's event loop, and talks to the database in short transactions on its own
connection:

1. **discovering**: list the source once to count the files this run will process (past the
   filters, the incremental cut and ``max_objects_per_run``), keeping only the count;
2. **downloading**: list again and, a batch of ``batch_size`` files at a time, read and hash
   them with ``sync_concurrency`` reads in flight, then write the batch in one transaction:
   objects inserted or updated, dead letters recorded or resolved, the job's counters, and a
   check that the lease is still this worker's (a run whose lease was taken stops there, having
   written nothing more);
3. **finish**: the job and the sync's counters, status and schedule in one transaction.

A file already turned into an object whose ETag and size have not changed is verified without
being read again (a run that continues an interrupted one costs little); ``full_sync`` reads
every file. A file that cannot be read is tried three times, then becomes a dead letter.
Whatever storage does is recorded, never raised: a run that cannot list fails with the
provider's code in ``last_error``.
"""

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app import identifiers
from app.clock import storage_now, utc_now
from app.db.database import Database, Row, to_column
from app.engine.filters import FileFilter, guessed_mime_type
from app.engine.sources import (
    FileContent,
    Source,
    SourceError,
    SourceFile,
    open_source,
    split_source_path,
)
from app.storage.egress import EgressPolicy

log = logging.getLogger("mixpeek_mock.engine")

FILE_ATTEMPTS = 3
FAILURES_BEFORE_FAILED = 5
MAX_ERROR_LENGTH = 1000
# S3 modification times are whole seconds: an incremental run reads from one second before the
# start of the last successful run, so a file changed in that second is never missed (D20).
WATERMARK_SLACK = timedelta(seconds=1)
DEFAULT_BLOB_PROPERTY = "content"
BLOB_TYPES = frozenset({"text", "image", "audio", "video", "pdf", "excel", "string"})


@dataclass(frozen=True)
class RunSettings:
    """What every run of one engine shares."""

    policy: EgressPolicy
    lease_ttl_seconds: float
    default_concurrency: int
    storage_timeout_seconds: float = 30.0


@dataclass
class Progress:
    """A run's counters, as its job shows them."""

    total_files: int = 0
    files_synced: int = 0
    files_verified: int = 0
    files_failed: int = 0
    bytes_synced: int = 0
    batches_created: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        return self.files_synced + self.files_verified + self.files_failed


class LeaseLostError(Exception):
    """The run's lease is no longer this worker's: stop, write nothing more."""


@dataclass(frozen=True, slots=True)
class _Outcome:
    file: SourceFile
    content: FileContent | None = None
    error: SourceError | None = None
    attempts: int = 1


def _blob_type(bucket_schema: Any, prop: str, mime_type: str) -> str:
    """The bucket schema's type for the blob's property, else one derived from the MIME type."""
    if isinstance(bucket_schema, dict):
        declared = (bucket_schema.get("properties") or {}).get(prop)
        if isinstance(declared, dict) and isinstance(declared.get("type"), str):
            kind: str = declared["type"].lower()
            if kind in BLOB_TYPES:
                return kind
    major = mime_type.split("/", 1)[0]
    if major in ("image", "audio", "video", "text"):
        return major
    if mime_type == "application/pdf":
        return "pdf"
    if "spreadsheet" in mime_type or "excel" in mime_type:
        return "excel"
    return "text" if mime_type.endswith(("json", "xml")) else "string"


def _blob_property(schema_mapping: Any) -> str:
    """The first blob field of ``schema_mapping`` (``{"mappings": {field: {"target_type":
    "blob", ...}}}``), else ``content``."""
    if isinstance(schema_mapping, dict):
        mappings = schema_mapping.get("mappings", schema_mapping)
        if isinstance(mappings, dict):
            for name, entry in mappings.items():
                if isinstance(entry, dict) and entry.get("target_type") == "blob":
                    return str(name)
    return DEFAULT_BLOB_PROPERTY


class Run:
    """Carries out one job. ``execute`` never raises for anything storage or data does."""

    def __init__(
        self,
        database: Database,
        *,
        job_id: str,
        worker_id: str,
        settings: RunSettings,
        stop: threading.Event | None = None,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self.db = database
        self.job_id = job_id
        self.worker_id = worker_id
        self.settings = settings
        self.stop = stop or threading.Event()
        self.on_progress = on_progress
        self.progress = Progress()

    # -- the run ----------------------------------------------------------------------------

    def execute(self) -> str:
        """Run the job to its end; its final status (``completed``, ``failed``, or
        ``interrupted`` when the lease was taken away)."""
        job = self.db.one("SELECT * FROM sync_jobs WHERE sync_job_id = ?", (self.job_id,))
        if job is None or job["status"] != "running":
            return "interrupted"
        sync = self.db.one(
            "SELECT * FROM sync_config WHERE sync_config_id = ?", (job["sync_config_id"],)
        )
        if sync is None:  # deleted meanwhile: its jobs went with it
            return "interrupted"
        started_real = storage_now()
        source: Source | None = None
        try:
            connection = self.db.one(
                "SELECT * FROM storage_connections WHERE connection_id = ?",
                (sync["connection_id"],),
            )
            bucket = self.db.one("SELECT * FROM buckets WHERE bucket_id = ?", (sync["bucket_id"],))
            if connection is None or bucket is None:
                raise SourceError("NotFound", "The sync's connection or bucket no longer exists.")
            concurrency = sync["sync_concurrency"] or self.settings.default_concurrency
            source, prefix = open_source(
                connection["provider_type"],
                connection["provider_config"],
                sync["source_path"],
                policy=self.settings.policy,
                concurrency=concurrency,
                timeout_seconds=self.settings.storage_timeout_seconds,
            )
            plan = _Plan(self.db, sync, job["full_sync"], prefix)
            self._set_phase("discovering")
            self.progress.total_files = sum(1 for _ in plan.candidates(source))
            self._save_progress(phase="downloading")
            with ThreadPoolExecutor(concurrency, thread_name_prefix="sync-read") as reads:
                for batch in _batches(plan.candidates(source), sync["batch_size"]):
                    if self.stop.is_set():
                        raise LeaseLostError
                    outcomes = self._read_batch(source, reads, plan, batch)
                    self._write_batch(sync, bucket, plan, outcomes)
            self._finish(sync, started_real, error=None, plan=plan)
            return "completed"
        except LeaseLostError:
            return "interrupted"
        except SourceError as exc:
            return self._fail_quietly(sync, started_real, f"{exc.code}: {exc.message}")
        except Exception:
            log.exception("sync run %s failed unexpectedly", self.job_id)
            return self._fail_quietly(
                sync, started_real, "InternalError: the run stopped on an unexpected error."
            )
        finally:
            if source is not None:
                source.close()

    def _fail_quietly(self, sync: Row, started_real: datetime, error: str) -> str:
        try:
            self._finish(sync, started_real, error=error)
        except LeaseLostError:
            return "interrupted"
        return "failed"

    # -- reading ----------------------------------------------------------------------------

    def _read_batch(
        self, source: Source, reads: ThreadPoolExecutor, plan: "_Plan", batch: list[SourceFile]
    ) -> list[_Outcome]:
        known = plan.existing_objects([file.key for file in batch])
        outcomes: list[_Outcome] = []
        pending = []
        for file in batch:
            existing = known.get(file.key)
            if (
                existing is not None
                and not plan.full_sync
                and not plan.filter.needs_read_check
                and file.etag is not None
                and existing["source_etag"] == file.etag
                and existing["size_bytes"] == file.size
            ):
                outcomes.append(_Outcome(file))  # unchanged since it was read: verified
            else:
                pending.append(reads.submit(_read_with_retries, source, file))
        outcomes.extend(future.result() for future in pending)
        return outcomes

    # -- writing ----------------------------------------------------------------------------

    def _write_batch(self, sync: Row, bucket: Row, plan: "_Plan", outcomes: list[_Outcome]) -> None:
        now = utc_now()
        prop = _blob_property(sync["schema_mapping"])
        progress = self.progress
        with self.db.transaction():
            self._hold_lease(sync)
            known = plan.existing_objects([outcome.file.key for outcome in outcomes])
            hashes = [f"sha256:{o.content.sha256}" for o in outcomes if o.content is not None]
            held = plan.hashes_held(hashes) if sync["skip_duplicates"] else {}
            wrote = False
            for outcome in outcomes:
                file, content = outcome.file, outcome.content
                relative = file.key[len(plan.prefix) :]
                if outcome.error is not None:
                    progress.files_failed += 1
                    plan.record_dead_letter(file, outcome.error, self.job_id, outcome.attempts, now)
                    continue
                plan.resolve_dead_letter(file.key, now)
                if content is None:
                    progress.files_verified += 1
                    continue
                if not plan.filter.admits_read(relative, content.content_type, content.metadata):
                    progress.total_files -= 1  # the file's type or metadata leave it out
                    continue
                content_hash = f"sha256:{content.sha256}"
                existing = known.get(file.key)
                if existing is not None and existing["content_hash"] == content_hash:
                    progress.files_verified += 1
                    plan.touch_object(existing, file, content, now)
                    continue
                if (
                    existing is None
                    and sync["skip_duplicates"]
                    and held.get(content_hash, file.key) != file.key
                ):
                    progress.files_verified += 1  # the bucket holds this content already
                    continue
                mime_type = guessed_mime_type(relative) or content.content_type
                plan.write_object(
                    existing,
                    file,
                    content,
                    now=now,
                    blob_property=prop,
                    blob_type=_blob_type(bucket["bucket_schema"], prop, mime_type),
                    mime_type=mime_type,
                )
                held.setdefault(content_hash, file.key)
                progress.files_synced += 1
                progress.bytes_synced += content.size
                wrote = True
            if wrote:
                progress.batches_created += 1
            self._save_progress_in_transaction(now)
        if self.on_progress is not None:
            self.on_progress(progress)

    def _hold_lease(self, sync: Row) -> None:
        """Inside a write transaction: the lease must still be ours; renew it while at it."""
        renewed = self.db.execute(
            "UPDATE sync_config SET lock_expires_at = ?"
            " WHERE sync_config_id = ? AND locked_by_worker_id = ?",
            (
                to_column(utc_now() + timedelta(seconds=self.settings.lease_ttl_seconds)),
                sync["sync_config_id"],
                self.worker_id,
            ),
        )
        if not renewed:
            raise LeaseLostError

    def _set_phase(self, phase: str) -> None:
        with self.db.transaction():
            self.db.execute(
                "UPDATE sync_jobs SET phase = ?, updated_at = ? WHERE sync_job_id = ?",
                (phase, to_column(utc_now()), self.job_id),
            )

    def _save_progress(self, *, phase: str) -> None:
        with self.db.transaction():
            self._save_progress_in_transaction(utc_now(), phase=phase)
        if self.on_progress is not None:
            self.on_progress(self.progress)

    def _save_progress_in_transaction(self, now: datetime, *, phase: str | None = None) -> None:
        progress = self.progress
        self.db.execute(
            "UPDATE sync_jobs SET total_files = ?, files_synced = ?, files_verified = ?,"
            " files_failed = ?, bytes_synced = ?, batches_created = ?, updated_at = ?,"
            " phase = COALESCE(?, phase) WHERE sync_job_id = ?",
            (
                progress.total_files,
                progress.files_synced,
                progress.files_verified,
                progress.files_failed,
                progress.bytes_synced,
                progress.batches_created,
                to_column(now),
                phase,
                self.job_id,
            ),
        )

    # -- the end ----------------------------------------------------------------------------

    def _finish(
        self,
        sync_at_start: Row,
        started_real: datetime,
        *,
        error: str | None,
        plan: "_Plan | None" = None,
    ) -> None:
        """End the job and update the sync, in one transaction, if the lease is still ours."""
        now = utc_now()
        progress = self.progress
        with self.db.transaction():
            sync = self.db.one(
                "SELECT * FROM sync_config WHERE sync_config_id = ?",
                (sync_at_start["sync_config_id"],),
            )
            if sync is None or sync["locked_by_worker_id"] != self.worker_id:
                raise LeaseLostError
            if error is None:
                progress.total_files = progress.done  # everything it took has an outcome
            self._save_progress_in_transaction(
                now, phase="completed" if error is None else "failed"
            )
            self.db.execute(
                "UPDATE sync_jobs SET status = ?, error = ?, completed_at = ?"
                " WHERE sync_job_id = ?",
                (
                    "completed" if error is None else "failed",
                    None if error is None else error[:MAX_ERROR_LENGTH],
                    to_column(now),
                    self.job_id,
                ),
            )
            if error is None and plan is not None:
                plan.resolve_vanished(now)
            self.db.execute(
                "UPDATE sync_config SET"
                " total_files_discovered = total_files_discovered + ?,"
                " total_files_synced = total_files_synced + ?,"
                " total_files_failed = total_files_failed + ?,"
                " total_bytes_synced = total_bytes_synced + ?,"
                " batches_created = batches_created + ?,"
                " sync_run_counter = sync_run_counter + 1"
                " WHERE sync_config_id = ?",
                (
                    progress.total_files,
                    progress.files_synced,
                    progress.files_failed,
                    progress.bytes_synced,
                    progress.batches_created,
                    sync["sync_config_id"],
                ),
            )
            self.db.update(
                "sync_config",
                _after_run(sync, now=now, started_real=started_real, error=error, plan=plan),
                where="sync_config_id = ?",
                params=[sync["sync_config_id"]],
            )


def _after_run(
    sync: Row,
    *,
    now: datetime,
    started_real: datetime,
    error: str | None,
    plan: "_Plan | None" = None,
) -> Row:
    """The sync's lock, status and schedule once a run has ended (D18).

    A successful run that ``max_objects_per_run`` cut short is one of a chain: it records the
    last key it took, the sync is due again at once, and only the run that reaches the end of
    the listing moves the incremental watermark (to when the chain began) and completes an
    ``initial_only`` sync.
    """
    changes: Row = {
        "locked_by_worker_id": None,
        "locked_at": None,
        "lock_expires_at": None,
        "updated_at": max(now, sync["updated_at"] + timedelta(microseconds=1)),
    }
    schedulable = sync["is_active"] and not sync["paused"]
    interval = timedelta(seconds=sync["polling_interval_seconds"])
    status = sync["status"]
    if error is None:
        changes.update(last_sync_at=now, consecutive_failures=0, last_error=None)
        chain_began = sync["resume_started_at"] or started_real
        if plan is not None and plan.cut_short and plan.last_key is not None:
            changes.update(resume_after_key=plan.last_key, resume_started_at=chain_began)
            next_at = now  # the rest follows at once
        else:
            changes.update(
                resume_after_key=None, resume_started_at=None, incremental_watermark=chain_began
            )
            if status == "ACTIVE" and sync["sync_mode"] == "initial_only":
                changes["status"] = "COMPLETED"
                schedulable = False
            next_at = now + interval
    else:
        failures = sync["consecutive_failures"] + 1
        changes.update(consecutive_failures=failures, last_error=error[:MAX_ERROR_LENGTH])
        if failures >= FAILURES_BEFORE_FAILED and status == "ACTIVE":
            changes["status"] = "FAILED"
            schedulable = False
        next_at = now + interval
    if changes.get("status", status) in ("FAILED", "COMPLETED", "SUSPENDED"):
        schedulable = False  # set so by this run, or by a PATCH while it ran
    if sync["pending_full_sync"] and schedulable:
        next_at = now  # a full run was asked for while this one ran: it follows at once
    changes["next_sync_at"] = next_at if schedulable else None
    return changes


def _read_with_retries(source: Source, file: SourceFile) -> _Outcome:
    """Read a file, trying up to ``FILE_ATTEMPTS`` times in all (D25), with a short pause
    between tries: a file that vanished may be back, a store that refused may recover."""
    error: SourceError | None = None
    for attempt in range(1, FILE_ATTEMPTS + 1):
        try:
            return _Outcome(file, content=source.read(file.key), attempts=attempt)
        except SourceError as exc:
            error = exc
            if attempt < FILE_ATTEMPTS:
                time.sleep(0.05 * attempt)
    return _Outcome(file, error=error, attempts=FILE_ATTEMPTS)


def _batches(files: Iterator[SourceFile], size: int) -> Iterator[list[SourceFile]]:
    batch: list[SourceFile] = []
    for file in files:
        batch.append(file)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Plan:
    """What a run takes and what it finds already there: the filters, the incremental cut,
    the dead letters that are (or are not) to be retried, the bucket's objects."""

    def __init__(self, db: Database, sync: Row, full_sync: bool, prefix: str) -> None:
        self.db = db
        self.sync = sync
        self.full_sync = full_sync
        self.prefix = prefix
        self.filter = FileFilter.from_config(sync["file_filters"])
        watermark = sync["incremental_watermark"]
        self.cut = None if full_sync or watermark is None else watermark - WATERMARK_SLACK
        self.limit = sync["max_objects_per_run"]
        letters = db.all(
            "SELECT source_object_id, max_retries_reached, permanently_failed"
            " FROM sync_dead_letters WHERE sync_config_id = ? AND resolved_at IS NULL",
            (sync["sync_config_id"],),
        )
        # Exhausted and permanently failed files wait for a requeue; the others are retried
        # even when older than the cut.
        self.skipped = {
            row["source_object_id"]
            for row in letters
            if row["max_retries_reached"] or row["permanently_failed"]
        }
        self.retried = {row["source_object_id"] for row in letters} - self.skipped
        self.retried_seen: set[str] = set()
        # Where a chain of runs cut short by max_objects_per_run goes on from, and where it got.
        self.start_after: str | None = None if full_sync else sync["resume_after_key"]
        self.cut_short = False
        self.last_key: str | None = None

    def candidates(self, source: Source) -> Iterator[SourceFile]:
        taken = 0
        self.cut_short = False
        for file in source.list_files(self.prefix, self.start_after):
            if self.limit is not None and taken >= self.limit:
                self.cut_short = True
                return
            if file.key in self.skipped:
                continue
            relative = file.key[len(self.prefix) :]
            if not self.filter.admits_listed(relative, file.size, file.modified):
                continue
            if self.cut is not None and file.modified < self.cut and file.key not in self.retried:
                continue
            taken += 1
            self.last_key = file.key
            if file.key in self.retried:
                self.retried_seen.add(file.key)
            yield file

    def existing_objects(self, keys: list[str]) -> dict[str, Row]:
        if not keys:
            return {}
        marks = ", ".join("?" for _ in keys)
        rows = self.db.all(
            "SELECT object_id, source_key, source_etag, size_bytes, content_hash, created_at"
            f" FROM bucket_objects WHERE bucket_id = ? AND sync_config_id = ?"
            f" AND source_key IN ({marks})",
            (self.sync["bucket_id"], self.sync["sync_config_id"], *keys),
        )
        return {row["source_key"]: row for row in rows}

    def hashes_held(self, hashes: list[str]) -> dict[str, str]:
        """Of these content hashes, those the bucket holds, each with one key that holds it."""
        if not hashes:
            return {}
        marks = ", ".join("?" for _ in hashes)
        rows = self.db.all(
            f"SELECT content_hash, source_key FROM bucket_objects WHERE bucket_id = ?"
            f" AND content_hash IN ({marks})",
            (self.sync["bucket_id"], *hashes),
        )
        return {row["content_hash"]: row["source_key"] for row in rows}

    def write_object(
        self,
        existing: Row | None,
        file: SourceFile,
        content: FileContent,
        *,
        now: datetime,
        blob_property: str,
        blob_type: str,
        mime_type: str,
    ) -> None:
        values = {
            "status": "PENDING",
            "blob_property": blob_property,
            "blob_type": blob_type,
            "filename": file.key.rsplit("/", 1)[-1],
            "size_bytes": content.size,
            "mime_type": mime_type,
            "content_hash": f"sha256:{content.sha256}",
            "source_etag": content.etag or file.etag,
            "source_last_modified": file.modified,
            "updated_at": now,
        }
        if existing is not None:
            self.db.update(
                "bucket_objects", values, where="object_id = ?", params=[existing["object_id"]]
            )
            return
        self.db.insert(
            "bucket_objects",
            {
                "object_id": identifiers.new_id(identifiers.OBJECT),
                "bucket_id": self.sync["bucket_id"],
                "namespace_id": self.sync["namespace_id"],
                "internal_id": self.sync["internal_id"],
                "sync_config_id": self.sync["sync_config_id"],
                "source_bucket": self.source_bucket,
                "source_key": file.key,
                "created_at": now,
                **values,
            },
        )

    @property
    def source_bucket(self) -> str:
        return split_source_path(self.sync["source_path"])[0]

    def touch_object(
        self, existing: Row, file: SourceFile, content: FileContent, now: datetime
    ) -> None:
        """Same content, perhaps a new ETag (a rewrite of the same bytes): remember it."""
        self.db.execute(
            "UPDATE bucket_objects SET source_etag = ?, source_last_modified = ?"
            " WHERE object_id = ?",
            (content.etag or file.etag, to_column(file.modified), existing["object_id"]),
        )

    def record_dead_letter(
        self, file: SourceFile, error: SourceError, job_id: str, attempts: int, now: datetime
    ) -> None:
        """One entry per source key and sync: a later failure updates it (D25)."""
        message = f"{error.code}: {error.message}"[:MAX_ERROR_LENGTH]
        updated = self.db.execute(
            "UPDATE sync_dead_letters SET sync_job_id = ?, error_type = ?, error_message = ?,"
            " retry_count = retry_count + ?, max_retries_reached = ?, last_seen_at = ?,"
            " resolved_at = NULL"
            " WHERE sync_config_id = ? AND source_object_id = ?",
            (
                job_id,
                "download_failed",
                message,
                attempts,
                True,
                to_column(now),
                self.sync["sync_config_id"],
                file.key,
            ),
        )
        if updated:
            return
        self.db.insert(
            "sync_dead_letters",
            {
                "dlq_id": identifiers.new_id(identifiers.DEAD_LETTER),
                "sync_config_id": self.sync["sync_config_id"],
                "sync_job_id": job_id,
                "bucket_id": self.sync["bucket_id"],
                "namespace_id": self.sync["namespace_id"],
                "internal_id": self.sync["internal_id"],
                "source_object_id": file.key,
                "source_path": f"{self.source_bucket}/{file.key}",
                "error_type": "download_failed",
                "error_message": message,
                "retry_count": attempts,
                "max_retries_reached": True,
                "permanently_failed": False,
                "first_seen_at": now,
                "last_seen_at": now,
            },
        )

    def resolve_vanished(self, now: datetime) -> None:
        """Requeued files this complete run did not take (gone from the source, or no longer
        past the filters) have nothing left to deliver: their entries are resolved, so that
        none waits for ever. Not when the run saw only part of the listing."""
        if self.cut_short or self.start_after is not None:
            return
        for key in sorted(self.retried - self.retried_seen):
            self.resolve_dead_letter(key, now)

    def resolve_dead_letter(self, key: str, now: datetime) -> None:
        if key in self.retried:
            self.db.execute(
                "UPDATE sync_dead_letters SET resolved_at = ?"
                " WHERE sync_config_id = ? AND source_object_id = ? AND resolved_at IS NULL",
                (to_column(now), self.sync["sync_config_id"], key),
            )
