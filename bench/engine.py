"""Benchmark the sync engine against moto's S3 server on loopback (issue 8, "Benchmark").

One run, on this machine:

1. starts ``moto_server`` (from the venv) on a free loopback port and puts ``--objects``
   (2,000) objects of ``--size`` (4 KiB) under ``floor/``, each with its own content;
2. **the floor**: a plain boto3 loop in this process lists the prefix (paginated) and GETs every
   object one after another, reading its body; files/s, best of ``--repeats``;
3. **our run**: starts ``mixpeek-mock serve`` (a real process, its own SQLite file, loopback
   egress, scheduler off), warms its engine process up with a run over an empty prefix, then
   for each batch size (100, and the default 50) creates a new bucket and a sync over the same
   prefix and triggers it; files/s from the trigger to ``last_sync_at`` (the run's completion,
   as the server recorded it), best of ``--repeats``; every run must have synced every file;
4. **GET latency**: wrk, 4 connections, ``GET`` of one sync for ``--wrk-seconds``, idle, then
   while runs of the same objects go on (a new bucket and sync each time, so every run reads and
   writes every file; the next one is triggered as soon as one ends);
5. **memory**: a second server on a new database; puts ``--memory-objects`` (20,000) small
   objects under ``mem/``; warms the engine up, then samples the RSS of the server process and
   of its engine process every 100 ms while one sync runs over them; growth = peak - before;
6. prints one table with PASS/FAIL per target.

Targets (issue 8): our files/s >= the floor's; GET p99 during runs <= idle p99 + 20 ms; RSS
growth of server plus engine < 50 MB (decimal megabytes).

CPU pinning. ``bench/run.py`` starts the server under ``taskset -c 0`` and wrk on CPU 1, which
measures one process's request path. Done the same way here it would measure the wrong thing:
the engine is the server's child and inherits its affinity, so server and engine would share
one core and the figure would be two processes splitting a CPU, not the engine holding the
server's interpreter lock (which a separate process cannot). So the GET latency is measured in
two layouts, idle and during runs alike:

- ``free``: nothing pinned, as a server and its engine really run; on 2 CPUs the server,
  its engine, moto and wrk share both cores, so this row shows CPU contention too;
- ``pinned``: set after the start with ``taskset -a -p``: the server and wrk on CPU 0, the
  engine and moto on CPU 1. The run then takes no CPU from the server, so what remains of the
  difference is what the engine does to the server through what they share (the SQLite file,
  its locks, the disk): the claim of D27. wrk shares the server's core (as the idle row does)
  rather than the engine's, where a busy engine and moto would delay wrk itself.

Usage: .venv/bin/python bench/engine.py [--objects 2000] [--wrk-seconds 10] [--skip-pinned]
Needs the venv's boto3 and moto (``make .venv/bin/mixpeek-mock``) and wrk (installed with
apt-get when missing and run as root). Exit status 1 only when the benchmark could not run;
missed targets are printed as FAIL.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = REPO_ROOT / ".venv" / "bin"
HOST = "127.0.0.1"
NAMESPACE = "default"
ACCESS_KEY = "bench-access-key"
SECRET_KEY = "bench-secret-key"  # noqa: S105 (moto accepts any)
SOURCE_BUCKET = "engine-bench"
FLOOR_PREFIX = "floor"
MEMORY_PREFIX = "mem"
WRK_CONNECTIONS = 4
WRK_TIMEOUT = "5s"
POLL_S = 0.02
RSS_SAMPLE_S = 0.1
RUN_TIMEOUT_S = 600.0

TARGET_P99_SLACK_MS = 20.0
TARGET_RSS_MB = 50.0


class BenchError(Exception):
    """The benchmark itself could not run as planned."""


def progress(message: str) -> None:
    print(f"» {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


# --- processes -----------------------------------------------------------------------------------


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group a start_new_session process leads, SIGKILL after 10 s."""
    for sig, grace_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(grace_s)
            return
        except subprocess.TimeoutExpired:
            continue


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of the process (all its threads) so far."""
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise BenchError(f"no VmRSS for process {pid}")


def pin(pid: int, cpu: str) -> None:
    """Pin every thread of ``pid`` (and threads it starts later) to ``cpu`` (a taskset list)."""
    completed = subprocess.run(
        ["taskset", "-a", "-p", "-c", cpu, str(pid)], capture_output=True, text=True
    )
    if completed.returncode != 0:
        raise BenchError(f"taskset failed on {pid}: {completed.stderr.strip()}")


@contextlib.contextmanager
def moto_server(binary: Path, workdir: Path) -> Iterator[tuple[str, int]]:
    """moto's S3 server on a free loopback port (objects live in its memory)."""
    if not binary.exists():
        raise BenchError(f"moto_server not found at {binary}: create the venv first")
    port = free_port()
    with (workdir / "moto.log").open("ab") as log:
        process = subprocess.Popen(
            [str(binary), "-H", HOST, "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                connection = http.client.HTTPConnection(HOST, port, timeout=1)
                connection.request("GET", "/")
                connection.getresponse().read()
                connection.close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise BenchError("moto's S3 server did not start") from None
                time.sleep(0.1)
        yield url, process.pid
    finally:
        stop_group(process)


@dataclass
class Server:
    port: int
    pid: int
    headers: dict[str, str]
    log_path: Path

    @property
    def org_headers(self) -> dict[str, str]:
        return {k: v for k, v in self.headers.items() if k != "X-Namespace"}

    def engine_pid(self) -> int | None:
        """The engine process (``python -m app.engine.worker``) the server started, if any."""
        for child in children(self.pid):
            with contextlib.suppress(OSError):
                if b"app.engine.worker" in Path(f"/proc/{child}/cmdline").read_bytes():
                    return child
        return None

    def request(
        self, method: str, path: str, payload: object = None, *, org: bool = False
    ) -> dict[str, Any]:
        body = None if payload is None else json.dumps(payload).encode()
        connection = http.client.HTTPConnection(HOST, self.port, timeout=30)
        try:
            headers = self.org_headers if org else self.headers
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            status, data = response.status, response.read()
        finally:
            connection.close()
        if status != 200:
            raise BenchError(f"{method} {path} answered {status}: {data[:300]!r}")
        document: dict[str, Any] = json.loads(data)
        return document


@contextlib.contextmanager
def mixpeek_server(binary: Path, workdir: Path, name: str) -> Iterator[Server]:
    """``mixpeek-mock serve`` on a new SQLite file: loopback egress, scheduler off."""
    if not binary.exists():
        raise BenchError(f"the server was not found at {binary}: create the venv first")
    port = free_port()
    api_key = f"sk_bench_{secrets.token_urlsafe(16)}"
    env = {
        **os.environ,
        "MIXPEEK_MOCK_API_KEY": api_key,
        "MIXPEEK_MOCK_STORAGE_ENDPOINTS": "loopback",
        "MIXPEEK_MOCK_SCHEDULER": "off",
    }
    log_path = workdir / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                *(str(binary), "serve", "--host", HOST, "--port", str(port)),
                *("--database-url", f"sqlite:///{workdir / name}.db"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    headers = {
        "Authorization": f"Bearer {api_key}",
        "X-Namespace": NAMESPACE,
        "Content-Type": "application/json",
    }
    server = Server(port, process.pid, headers, log_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise BenchError(f"the server did not start:\n{tail}")
            with contextlib.suppress(OSError, http.client.HTTPException, BenchError):
                server.request("GET", "/v1/health")
                break
            time.sleep(0.05)
        yield server
    finally:
        stop_group(process)


# --- S3 ------------------------------------------------------------------------------------------


def s3_client(url: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


def put_objects(client: Any, prefix: str, count: int, size: int) -> None:
    """``count`` objects of ``size`` bytes, each with content of its own (so that the sync's
    ``skip_duplicates`` never takes one for another)."""
    filler = os.urandom(size)

    def put(index: int) -> None:
        stamp = f"{prefix}/{index:08d}\n".encode()
        body = (stamp + filler)[:size]
        client.put_object(Bucket=SOURCE_BUCKET, Key=f"{prefix}/file-{index:08d}.bin", Body=body)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(count)))


def floor_run(client: Any, prefix: str) -> tuple[int, int, float]:
    """List the prefix and GET every object sequentially: (files, bytes, seconds)."""
    started = time.perf_counter()
    files = read = 0
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=SOURCE_BUCKET, Prefix=f"{prefix}/"):
        for item in page.get("Contents", ()):
            body = client.get_object(Bucket=SOURCE_BUCKET, Key=item["Key"])["Body"]
            read += len(body.read())
            body.close()
            files += 1
    return files, read, time.perf_counter() - started


# --- syncs ---------------------------------------------------------------------------------------


@dataclass
class Store:
    """The connection to moto that every sync of one server uses."""

    server: Server
    connection_id: str

    @classmethod
    def connect(cls, server: Server, s3_url: str) -> Store:
        connection = server.request(
            "POST",
            "/v1/organizations/connections",
            {
                "name": f"moto-{secrets.token_hex(3)}",
                "provider_type": "s3",
                "provider_config": {
                    "credentials": {
                        "type": "access_key",
                        "access_key_id": ACCESS_KEY,
                        "secret_access_key": SECRET_KEY,
                    },
                    "region": "us-east-1",
                    "endpoint_url": s3_url,
                },
                "test_before_save": False,
            },
            org=True,
        )
        return cls(server, connection["connection_id"])

    def new_sync(self, prefix: str, batch_size: int | None) -> str:
        """A new bucket with one sync over ``prefix``; the sync's path."""
        bucket = self.server.request(
            "POST",
            "/v1/buckets",
            {"bucket_name": f"bench-{secrets.token_hex(4)}", "bucket_schema": {"properties": {}}},
        )
        body: dict[str, Any] = {
            "connection_id": self.connection_id,
            "source_path": f"{SOURCE_BUCKET}/{prefix}",
        }
        if batch_size is not None:
            body["batch_size"] = batch_size
        path = f"/v1/buckets/{bucket['bucket_id']}/syncs"
        sync = self.server.request("POST", path, body)
        return f"{path}/{sync['sync_config_id']}"


@dataclass
class RunResult:
    files: int
    seconds: float
    record: dict[str, Any]

    @property
    def files_per_s(self) -> float:
        return self.files / self.seconds if self.seconds > 0 else 0.0


def run_sync(server: Server, sync_path: str, *, expected: int | None) -> RunResult:
    """Trigger the sync and wait for its lock to go; files/s from the trigger to the run's
    completion (``last_sync_at``, stamped by the engine, else when the poll saw it)."""
    started_wall = time.time()
    started = time.perf_counter()
    answer = server.request("POST", f"{sync_path}/trigger")
    if answer.get("status") != "running":
        raise BenchError(f"the trigger did not start a run: {answer}")
    deadline = started + RUN_TIMEOUT_S
    while True:
        record = server.request("GET", sync_path)
        if not record["locked"]:
            seen = time.perf_counter() - started
            break
        if time.perf_counter() > deadline:
            raise BenchError(f"the run did not end within {RUN_TIMEOUT_S:g} s: {record}")
        time.sleep(POLL_S)
    seconds = seen
    with contextlib.suppress(TypeError, ValueError):
        completed = datetime.fromisoformat(record["last_sync_at"]).timestamp() - started_wall
        if 0 < completed <= seen:
            seconds = completed
    if record.get("last_error"):
        raise BenchError(f"the run failed: {record['last_error']}")
    files = int(record["total_files_synced"])
    if expected is not None and files != expected:
        raise BenchError(f"the run synced {files} files, not {expected}: {record}")
    return RunResult(files, seconds, record)


# --- wrk -----------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise BenchError("wrk not found: install it (Debian: apt-get install -y wrk) and rerun")
    progress("wrk not found; installing Debian's package")
    for command in (["apt-get", "install", "-y", "wrk"], ["apt-get", "update"]):
        subprocess.run(command, capture_output=True)
        if shutil.which("wrk"):
            break
    subprocess.run(["apt-get", "install", "-y", "wrk"], capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise BenchError("wrk could not be installed with apt-get")
    return found


def lua_string(text: str) -> str:
    escaped = "".join(
        chr(byte) if 32 <= byte < 127 and chr(byte) not in '"\\' else f"\\{byte:03d}"
        for byte in text.encode()
    )
    return f'"{escaped}"'


def write_wrk_script(path: Path, headers: dict[str, str]) -> None:
    lines = ['wrk.method = "GET"']
    lines += [f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items()]
    lines += [
        "function done(summary, latency, requests)",
        "  local e = summary.errors",
        '  io.write(string.format(\'BENCH_RESULT {"requests": %d, "duration_us": %d, \'',
        '    .. \'"p50_us": %d, "p99_us": %d, "max_us": %d, "status": %d, "connect": %d, \'',
        '    .. \'"read": %d, "write": %d, "timeout": %d}\\n\',',
        "    summary.requests, summary.duration, latency:percentile(50),",
        "    latency:percentile(99), latency.max, e.status, e.connect, e.read, e.write,",
        "    e.timeout))",
        "end",
    ]
    path.write_text("\n".join(lines) + "\n")


@dataclass
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds


def run_wrk(wrk: str, url: str, script: Path, seconds: float, cpu: str | None) -> WrkResult:
    command = [wrk, "-t1", f"-c{WRK_CONNECTIONS}", f"-d{int(seconds)}s", "--latency"]
    command += ["--timeout", WRK_TIMEOUT, "-s", str(script), url]
    if cpu is not None:
        command = ["taskset", "-c", cpu, *command]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if completed.returncode != 0:
        raise BenchError(f"wrk failed ({completed.returncode}): {completed.stderr.strip()}")
    for line in completed.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            s = json.loads(line.removeprefix("BENCH_RESULT "))
            errors = sum(s[k] for k in ("status", "connect", "read", "write", "timeout"))
            return WrkResult(
                s["requests"],
                s["duration_us"] / 1e6,
                s["p50_us"] / 1000,
                s["p99_us"] / 1000,
                s["max_us"] / 1000,
                errors,
            )
    raise BenchError(f"wrk printed no summary:\n{completed.stdout}")


@dataclass
class Busy:
    """Runs started back to back while wrk measures."""

    runs: list[RunResult] = field(default_factory=list)
    error: str | None = None


def keep_running(
    store: Store, prefix: str, expected: int, stop: threading.Event
) -> tuple[Busy, threading.Thread]:
    """Trigger runs over ``prefix`` one after another (a new bucket and sync each, so that every
    run reads and writes every file) until ``stop``; the last one is left to end."""
    busy = Busy()

    def loop() -> None:
        try:
            while not stop.is_set():
                sync = store.new_sync(prefix, 100)
                busy.runs.append(run_sync(store.server, sync, expected=expected))
        except BenchError as exc:
            busy.error = str(exc)

    thread = threading.Thread(target=loop, name="runs", daemon=True)
    thread.start()
    return busy, thread


# --- memory --------------------------------------------------------------------------------------


@dataclass
class RssTrace:
    before: dict[str, int]
    peak: dict[str, int]
    samples: int = 0

    def growth(self, name: str) -> int:
        return self.peak[name] - self.before[name]


def sample_rss(pids: dict[str, int], stop: threading.Event) -> RssTrace:
    """RSS of each process now, then the peak of each (and of their sum) every 100 ms."""
    before = {name: rss_bytes(pid) for name, pid in pids.items()}
    before["sum"] = sum(before.values())
    trace = RssTrace(before, dict(before))

    def loop() -> None:
        while not stop.wait(RSS_SAMPLE_S):
            with contextlib.suppress(OSError, BenchError):
                now = {name: rss_bytes(pid) for name, pid in pids.items()}
                now["sum"] = sum(now.values())
                for name, value in now.items():
                    trace.peak[name] = max(trace.peak[name], value)
                trace.samples += 1

    threading.Thread(target=loop, name="rss", daemon=True).start()
    return trace


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Row:
    what: str
    figure: str
    target: str = ""
    passed: bool | None = None


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, what: str, figure: str, target: str = "", passed: bool | None = None) -> None:
        self.rows.append(Row(what, figure, target, passed))

    def render(self) -> str:
        width = max(len(row.what) for row in self.rows)
        fig = max(len(row.figure) for row in self.rows)
        tgt = max(len(row.target) for row in self.rows)
        lines = [f"{'what':<{width}}  {'figure':>{fig}}  {'target':<{tgt}}  result"]
        for row in self.rows:
            verdict = "" if row.passed is None else ("PASS" if row.passed else "FAIL")
            lines.append(
                f"{row.what:<{width}}  {row.figure:>{fig}}  {row.target:<{tgt}}  {verdict}"
            )
        return "\n".join([*lines, "", *self.notes])


def warm_up(store: Store) -> float:
    """Start the server's engine process (it starts at the first trigger when the scheduler is
    off) with a run over an empty prefix, so that no measured run pays for its start; seconds."""
    sync = store.new_sync("empty-warm-up", None)
    result = run_sync(store.server, sync, expected=0)
    if store.server.engine_pid() is None:
        raise BenchError("no engine process found under the server after a run")
    return result.seconds


def best(results: list[RunResult]) -> RunResult:
    return max(results, key=lambda r: r.files_per_s)


def measure_throughput(
    args: argparse.Namespace, s3: Any, store: Store, moto_pid: int, report: Report
) -> None:
    """The floor and our runs, interleaved (floor, batch 100, batch 50, floor, ...) so that a
    machine whose speed drifts weighs on all alike; the best of each counts. Also the CPU each
    costs per file: moto's, the boto3 loop's (this process) and the engine's."""
    engine = store.server.engine_pid()
    if engine is None:
        raise BenchError("the engine process is gone")
    floors: list[float] = []
    floor_cpu: list[tuple[float, float]] = []
    sizes = ((100, "batch_size 100"), (None, "batch_size 50 (default)"))
    ours: dict[str, list[RunResult]] = {label: [] for _, label in sizes}
    ours_cpu: dict[str, list[tuple[float, float]]] = {label: [] for _, label in sizes}
    for repeat in range(1, args.repeats + 1):
        progress(f"round {repeat}/{args.repeats}: floor, then a sync run per batch size")
        moto_before, client_before = cpu_seconds(moto_pid), time.process_time()
        files, read, seconds = floor_run(s3, FLOOR_PREFIX)
        if files != args.objects or read != args.objects * args.size:
            raise BenchError(f"the floor read {files} files, {read} bytes")
        floors.append(files / seconds)
        floor_cpu.append((cpu_seconds(moto_pid) - moto_before, time.process_time() - client_before))
        for batch_size, label in sizes:
            sync = store.new_sync(FLOOR_PREFIX, batch_size)
            moto_before, engine_before = cpu_seconds(moto_pid), cpu_seconds(engine)
            ours[label].append(run_sync(store.server, sync, expected=args.objects))
            ours_cpu[label].append(
                (cpu_seconds(moto_pid) - moto_before, cpu_seconds(engine) - engine_before)
            )
    floor = max(floors)
    report.add("floor: boto3 list + sequential GET", f"{floor:.0f} files/s")
    report.notes.append(
        "floor (files/s): "
        + " ".join(f"{f:.0f}" for f in floors)
        + f"; CPU per file: moto {per_file_ms(floor_cpu, 0, args.objects)},"
        f" the boto3 loop {per_file_ms(floor_cpu, 1, args.objects)}"
    )
    for _, label in sizes:
        fastest = best(ours[label])
        report.add(
            f"sync run, {label}, trigger to completed",
            f"{fastest.files_per_s:.0f} files/s",
            f">= floor ({floor:.0f})",
            fastest.files_per_s >= floor,
        )
        runs = " ".join(f"{r.files_per_s:.0f}" for r in ours[label])
        report.notes.append(
            f"sync {label} (files/s): {runs}; CPU per file: moto "
            f"{per_file_ms(ours_cpu[label], 0, args.objects)}, the engine "
            f"{per_file_ms(ours_cpu[label], 1, args.objects)}"
        )


def per_file_ms(samples: list[tuple[float, float]], index: int, files: int) -> str:
    return f"{1000 * statistics.median(s[index] for s in samples) / files:.2f} ms"


@dataclass(frozen=True)
class Layout:
    """Where each process runs (taskset CPU lists) while the GET latency is measured."""

    name: str
    server: str
    wrk: str | None
    engine: str
    moto: str


def layouts(args: argparse.Namespace) -> list[Layout]:
    everywhere = ",".join(str(cpu) for cpu in sorted(os.sched_getaffinity(0)))
    found = [Layout("free", everywhere, None, everywhere, everywhere)]
    if not args.skip_pinned:
        if not {0, 1} <= os.sched_getaffinity(0):
            raise BenchError("the pinned layout needs CPUs 0 and 1 (or pass --skip-pinned)")
        found.append(Layout("pinned", "0", "0", "1", "1"))
    return found


def measure_latency(
    args: argparse.Namespace, store: Store, moto_pid: int, report: Report, workdir: Path
) -> None:
    wrk = ensure_wrk()
    script = workdir / "get.lua"
    write_wrk_script(script, store.server.headers)
    target = store.new_sync(FLOOR_PREFIX, 100)
    url = f"http://{HOST}:{store.server.port}{target}"
    engine = store.server.engine_pid()
    if engine is None:
        raise BenchError("the engine process is gone")
    all_layouts = layouts(args)
    for layout in all_layouts:
        pin(store.server.pid, layout.server)
        pin(engine, layout.engine)
        pin(moto_pid, layout.moto)
        name = layout.name
        progress(f"{name}: GET sync, wrk {WRK_CONNECTIONS} connections, {args.wrk_seconds} s idle")
        run_wrk(wrk, url, script, 2, layout.wrk)  # warm-up, discarded
        before = cpu_seconds(store.server.pid)
        idle = run_wrk(wrk, url, script, args.wrk_seconds, layout.wrk)
        idle_cpu = cpu_seconds(store.server.pid) - before
        progress(f"{name}: the same during runs of {args.objects} objects")
        stop = threading.Event()
        busy, runs = keep_running(store, FLOOR_PREFIX, args.objects, stop)
        time.sleep(0.3)  # the first run is under way
        try:
            before = cpu_seconds(store.server.pid)
            loaded = run_wrk(wrk, url, script, args.wrk_seconds, layout.wrk)
            loaded_cpu = cpu_seconds(store.server.pid) - before
        finally:
            stop.set()
            runs.join(RUN_TIMEOUT_S)
        if busy.error is not None:
            raise BenchError(f"a run during the load failed: {busy.error}")
        for when, result in (("idle", idle), ("during runs", loaded)):
            if result.errors:
                raise BenchError(f"wrk counted {result.errors} errors ({name}, {when})")
        report.add(f"GET sync p99, {name}, idle", f"{idle.p99_ms:.2f} ms")
        limit = idle.p99_ms + TARGET_P99_SLACK_MS
        report.add(
            f"GET sync p99, {name}, during runs",
            f"{loaded.p99_ms:.2f} ms",
            f"<= idle + {TARGET_P99_SLACK_MS:g} ({limit:.2f})",
            loaded.p99_ms <= limit,
        )
        during = statistics.mean(r.files_per_s for r in busy.runs) if busy.runs else 0.0
        report.notes.append(
            f"GET {name}: idle {idle.per_s:.0f} req/s, p50 {idle.p50_ms:.2f} ms, max "
            f"{idle.max_ms:.1f} ms; during runs {loaded.per_s:.0f} req/s, p50 "
            f"{loaded.p50_ms:.2f} ms, max {loaded.max_ms:.1f} ms; {len(busy.runs)} runs back "
            f"to back, {during:.0f} files/s on average; server CPU per request: idle "
            f"{idle_cpu / idle.requests * 1000:.3f} ms, during runs "
            f"{loaded_cpu / loaded.requests * 1000:.3f} ms"
        )
    everywhere = all_layouts[0]
    for pid in (store.server.pid, engine, moto_pid):
        pin(pid, everywhere.server)


def measure_memory(
    args: argparse.Namespace, s3: Any, s3_url: str, report: Report, workdir: Path
) -> None:
    progress(f"putting {args.memory_objects} objects of {args.memory_size} bytes under mem/")
    put_objects(s3, MEMORY_PREFIX, args.memory_objects, args.memory_size)
    with mixpeek_server(args.server, workdir, "memory") as server:
        store = Store.connect(server, s3_url)
        warm_up(store)
        engine = server.engine_pid()
        assert engine is not None
        sync = store.new_sync(MEMORY_PREFIX, None)
        progress(f"RSS while syncing {args.memory_objects} objects (sampled every 100 ms)")
        stop = threading.Event()
        trace = sample_rss({"server": server.pid, "engine": engine}, stop)
        try:
            result = run_sync(server, sync, expected=args.memory_objects)
        finally:
            stop.set()
    mb = 1e6
    for name in ("server", "engine"):
        report.add(
            f"RSS growth, {name}, {args.memory_objects} objects",
            f"{trace.growth(name) / mb:.1f} MB",
        )
    report.add(
        f"RSS growth, server + engine, {args.memory_objects} objects",
        f"{trace.growth('sum') / mb:.1f} MB",
        f"< {TARGET_RSS_MB:g} MB",
        trace.growth("sum") < TARGET_RSS_MB * mb,
    )
    report.notes.append(
        f"RSS before -> peak: server {trace.before['server'] / mb:.1f} -> "
        f"{trace.peak['server'] / mb:.1f} MB, engine {trace.before['engine'] / mb:.1f} -> "
        f"{trace.peak['engine'] / mb:.1f} MB ({trace.samples} samples); the run: "
        f"{result.files_per_s:.0f} files/s, {result.seconds:.1f} s"
    )


def run(args: argparse.Namespace, workdir: Path, report: Report) -> None:
    try:
        import boto3  # noqa: F401
    except ImportError:
        raise BenchError("boto3 is missing: run this with the venv's python") from None
    with moto_server(args.moto, workdir) as (s3_url, moto_pid):
        s3 = s3_client(s3_url)
        s3.create_bucket(Bucket=SOURCE_BUCKET)
        progress(f"putting {args.objects} objects of {args.size} bytes under floor/")
        put_objects(s3, FLOOR_PREFIX, args.objects, args.size)
        with mixpeek_server(args.server, workdir, "throughput") as server:
            store = Store.connect(server, s3_url)
            warm = warm_up(store)
            report.notes.append(f"engine start + an empty run (first trigger): {warm:.2f} s")
            measure_throughput(args, s3, store, moto_pid, report)
            if not args.skip_latency:
                measure_latency(args, store, moto_pid, report, workdir)
        if not args.skip_memory:
            measure_memory(args, s3, s3_url, report, workdir)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark the sync engine against moto.")
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--size", type=int, default=4096, help="bytes per object")
    parser.add_argument("--repeats", type=int, default=3, help="floor and sync runs (best)")
    parser.add_argument("--wrk-seconds", type=int, default=10)
    parser.add_argument("--memory-objects", type=int, default=20_000)
    parser.add_argument("--memory-size", type=int, default=256, help="bytes per object")
    parser.add_argument("--skip-pinned", action="store_true", help="no pinned GET layout")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--server", type=Path, default=VENV_BIN / "mixpeek-mock")
    parser.add_argument("--moto", type=Path, default=Path(sys.executable).with_name("moto_server"))
    args = parser.parse_args(argv)
    if args.objects < 1 or args.repeats < 1 or args.wrk_seconds < 1 or args.size < 16:
        parser.error("--objects, --repeats, --wrk-seconds must be >= 1 and --size >= 16")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = Report()
    load_before = os.getloadavg()
    try:
        with tempfile.TemporaryDirectory(prefix="mixpeek-engine-bench-") as workdir:
            run(args, Path(workdir), report)
    except BenchError as exc:
        print(f"engine bench: {exc}", file=sys.stderr)
        return 1
    load_after = os.getloadavg()
    print(
        f"engine bench: {args.objects} objects of {args.size} B in moto on loopback; "
        f"{os.cpu_count()} CPUs; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after\n"
    )
    print(report.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
