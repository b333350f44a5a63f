"""Benchmark mixpeek-mock's sync PATCH against the stack's ceiling and against Stoplight Prism.

One run, on this machine:

1. starts mixpeek-mock on a fresh SQLite database in a temporary folder, seeds a bucket, a storage
   connection and a sync over HTTP, and captures the server's answer to the benchmarked PATCH;
2. times a few starts of the server on that existing database, and as many of Prism: process
   start to the first 200 from GET /v1/health, polled every 5 ms;
3. drives three targets, one after another, with the same PATCH, using wrk:
   - the ceiling, bench/ceiling_app.py: bare Starlette on uvicorn serving the captured bytes;
   - mixpeek-mock itself;
   - Stoplight Prism mocking the PATCH from the vendor's OpenAPI document;
   each server pinned to CPU 0 and wrk (one thread) pinned to CPU 1, at 4 and 32 connections,
   each measurement after a short warm-up;
4. prints a table (with the CPU the server used, and what else ran on its CPU, so that a noisy
   machine shows), the ratios, start times, memory after load and pass/fail against the targets,
   and writes the same results as JSON when asked.

Missed targets are reported, not fatal. The exit status is 1 only when the run itself failed: a
tool or server did not start, a check request was not answered as expected, or wrk saw non-2xx
responses or socket errors.

Usage: python3 bench/run.py [--duration 10] [--json results.json]   (see --help)
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CEILING_APP = REPO_ROOT / "bench" / "ceiling_app.py"
DEFAULT_SPEC = REPO_ROOT / "reference" / "mixpeek-api-0.81-slice.openapi.json"
DEFAULT_PRISM_DIR = Path.home() / ".cache" / "mixpeek-mock-bench" / "prism"
PRISM_PACKAGE = "@stoplight/prism-cli"
PRISM_VERSION = "5.14.2"

HOST = "127.0.0.1"
SERVER_CPU = "0"
LOAD_CPU = "1"
LOW_CONNECTIONS = 4
HIGH_CONNECTIONS = 32
WRK_TIMEOUT = "5s"  # wrk's default of 2 s would count Prism's slowest answers as socket errors
HEALTH_PATH = "/v1/health"
POLL_INTERVAL_S = 0.005
NAMESPACE = "default"
PATCH_BODY = b'{"batch_size": 25, "description": "bench"}'

CEILING = "ceiling"
SERVER = "mixpeek-mock"
PRISM = "prism"

# Above this share of CPU 0 used by anything but the server, the report warns of a noisy machine.
MAX_OTHER_CPU = 0.05

# The targets this benchmark reports pass/fail against.
MIN_SHARE_OF_CEILING = 0.20
MAX_P99_MS_AT_LOW = 10.0
MAX_START_S = 1.0
MAX_RSS_MIB = 80.0


class BenchError(Exception):
    """The benchmark itself could not run as planned."""


# --- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    """One measured wrk run against one target."""

    target: str
    connections: int
    requests: int
    duration_s: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: dict[str, int]
    server_cpu: float  # share of CPU 0 the server used over the run (1.0: all of it)
    other_cpu: float  # share of CPU 0 anything else used (other processes, interrupts, steal)

    @property
    def socket_error_count(self) -> int:
        return sum(self.socket_errors.values())

    @property
    def clean(self) -> bool:
        return self.non_2xx == 0 and self.socket_error_count == 0


@dataclass(frozen=True)
class Check:
    """One target, met or not."""

    name: str
    value: float
    limit: float
    passed: bool


@dataclass
class Results:
    """Everything one run measured; serialised as is to --json."""

    config: dict[str, object]
    machine: dict[str, object]
    loads: list[LoadResult] = field(default_factory=list)
    start_s: dict[str, list[float]] = field(default_factory=dict)
    rss_mib: dict[str, float] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def load(self, target: str, connections: int) -> LoadResult:
        return next(r for r in self.loads if (r.target, r.connections) == (target, connections))

    def to_json(self) -> str:
        document = asdict(self)
        document["median_start_s"] = {
            name: statistics.median(s) for name, s in self.start_s.items()
        }
        document["ok"] = not self.errors
        return json.dumps(document, indent=2) + "\n"


# --- processes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Launch:
    """How to start one target server, pinned to SERVER_CPU."""

    name: str
    argv: list[str]
    port: int
    log_path: Path
    env: dict[str, str] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"


@dataclass(frozen=True)
class Running:
    """A started target server and how long it took to answer its first health check."""

    launch: Launch
    process: subprocess.Popen[bytes]
    startup_s: float


@contextlib.contextmanager
def running(launch: Launch, timeout_s: float) -> Iterator[Running]:
    """Start the server, wait for its first 200 from GET /v1/health, and stop it on exit."""
    with launch.log_path.open("ab") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, *launch.argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=launch.env,
            start_new_session=True,  # its own process group, so stop() reaches its children
        )
    try:
        wait_until_healthy(launch, process, timeout_s)
        yield Running(launch, process, time.perf_counter() - started)
    finally:
        stop(process)


def wait_until_healthy(launch: Launch, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{launch.name} exited with {process.returncode}{log_tail(launch)}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            if http_request(launch.base_url, "GET", HEALTH_PATH, timeout_s=1.0).status == 200:
                return
        time.sleep(POLL_INTERVAL_S)
    raise BenchError(
        f"{launch.name} gave no 200 on {HEALTH_PATH} in {timeout_s} s{log_tail(launch)}"
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the process group that running() started: SIGTERM, then SIGKILL after 10 s."""
    for sig, grace_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(grace_s)
            return
        except subprocess.TimeoutExpired:
            continue


def log_tail(launch: Launch, lines: int = 20) -> str:
    tail = launch.log_path.read_text(errors="replace").splitlines()[-lines:]
    if not tail:
        return ""
    return f"; last lines of {launch.log_path.name}:\n" + "\n".join(tail)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def rss_mib(pid: int) -> float:
    """VmRSS of the process and all its descendants, in MiB."""
    total_kib = 0
    for member in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
    return total_kib / 1024


@dataclass(frozen=True)
class CpuSample:
    """CPU time used so far by a server, and by anything on its CPU."""

    server_s: float
    busy_s: float

    @classmethod
    def take(cls, pid: int) -> CpuSample:
        return cls(cpu_seconds(pid), cpu_busy_seconds(SERVER_CPU))

    def __sub__(self, other: CpuSample) -> CpuSample:
        return CpuSample(self.server_s - other.server_s, self.busy_s - other.busy_s)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of the process and its live descendants, in seconds."""
    ticks = 0
    for member in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat_fields(member)
            ticks += int(fields[11]) + int(fields[12])  # utime and stime
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_busy_seconds(cpu: str) -> float:
    """Time the CPU spent not idle since boot (user, nice, system, irq, softirq, steal)."""
    for line in Path("/proc/stat").read_text().splitlines():
        name, *ticks = line.split()
        if name == f"cpu{cpu}":
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, ticks[:8])
            return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    raise BenchError(f"cpu{cpu} not found in /proc/stat")


def stat_fields(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name, from the state (field 3) on."""
    # The command name in field 2 may hold spaces and parentheses: split after its last ")".
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            parents[int(entry.name)] = int(stat_fields(int(entry.name))[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


# --- HTTP ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes


def http_request(
    base_url: str,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout_s: float = 10.0,
) -> Answer:
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout_s)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Answer(response.status, response.getheader("content-type", ""), response.read())
    finally:
        connection.close()


def expect_200(
    base_url: str, method: str, path: str, headers: dict[str, str], body: bytes
) -> Answer:
    answer = http_request(base_url, method, path, headers, body)
    if answer.status != 200:
        excerpt = answer.body[:500].decode(errors="replace")
        raise BenchError(f"{method} {base_url}{path} answered {answer.status}: {excerpt}")
    return answer


def post_json(base_url: str, path: str, headers: dict[str, str], payload: object) -> dict[str, str]:
    answer = expect_200(base_url, "POST", path, headers, json.dumps(payload).encode())
    document: dict[str, str] = json.loads(answer.body)
    return document


def request_headers(api_key: str) -> dict[str, str]:
    """The headers of the benchmarked PATCH (Prism requires Authorization and X-Namespace too)."""
    return {
        "Authorization": f"Bearer {api_key}",
        "X-Namespace": NAMESPACE,
        "Content-Type": "application/json",
    }


# --- mixpeek-mock -------------------------------------------------------------------------------


def server_launch(binary: Path, workdir: Path, api_key: str) -> Launch:
    port = free_port()
    database_url = f"sqlite:///{workdir / 'bench.db'}"
    return Launch(
        name=SERVER,
        argv=[
            *(str(binary), "serve", "--host", HOST, "--port", str(port)),
            *("--database-url", database_url),
        ],
        port=port,
        log_path=workdir / "mixpeek-mock.log",
        # Loopback only (D37): nothing the benchmark sends may make the server connect elsewhere.
        env={
            **os.environ,
            "MIXPEEK_MOCK_API_KEY": api_key,
            "MIXPEEK_MOCK_STORAGE_ENDPOINTS": "loopback",
            # The seeded syncs point at nothing: with the scheduler on, the engine would run
            # (and fail) them all during the measurement. This benchmark is about requests.
            "MIXPEEK_MOCK_SCHEDULER": "off",
        },
    )


def seed_and_capture(server: Launch, api_key: str, timeout_s: float) -> tuple[str, Answer]:
    """Start the server on its new database and seed it; return the PATCH path and its answer."""
    with running(server, timeout_s):
        path = seed(server.base_url, api_key)
        answer = expect_200(server.base_url, "PATCH", path, request_headers(api_key), PATCH_BODY)
    return path, answer


def seed(base_url: str, api_key: str) -> str:
    """Create a bucket, a connection and a sync; return the path of the benchmarked PATCH."""
    headers = request_headers(api_key)
    org_headers = {k: v for k, v in headers.items() if k != "X-Namespace"}
    bucket = post_json(
        base_url,
        "/v1/buckets",
        headers,
        {"bucket_name": "bench", "bucket_schema": {"properties": {}}},
    )
    connection = post_json(
        base_url,
        "/v1/organizations/connections",
        org_headers,
        {
            "name": "bench",
            "provider_type": "s3",
            "provider_config": {
                "credentials": {
                    "type": "access_key",
                    "access_key_id": "minioadmin",
                    "secret_access_key": "minioadmin",
                },
                "region": "us-east-1",
                "endpoint_url": "http://127.0.0.1:9000",
            },
            "test_before_save": False,
        },
    )
    bucket_id = bucket["bucket_id"]
    sync = post_json(
        base_url,
        f"/v1/buckets/{bucket_id}/syncs",
        headers,
        {"connection_id": connection["connection_id"], "source_path": "bench/"},
    )
    return f"/v1/buckets/{bucket_id}/syncs/{sync['sync_config_id']}"


# --- Prism --------------------------------------------------------------------------------------


def ensure_prism(prefix: Path, version: str) -> Path:
    """Install Prism with npm into `prefix` unless that version is already there."""
    binary = prefix / "node_modules" / ".bin" / "prism"
    manifest = prefix / "node_modules" / "@stoplight" / "prism-cli" / "package.json"
    if binary.exists() and installed_version(manifest) == version:
        return binary
    npm = shutil.which("npm")
    if npm is None:
        raise BenchError("npm not found: Prism is installed with npm (Debian: apt-get install npm)")
    progress(f"installing {PRISM_PACKAGE}@{version} into {prefix}")
    prefix.mkdir(parents=True, exist_ok=True)
    command = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund"]
    run_quietly([*command, f"{PRISM_PACKAGE}@{version}"])
    return binary


def installed_version(manifest: Path) -> str | None:
    if not manifest.exists():
        return None
    version: str | None = json.loads(manifest.read_text()).get("version")
    return version


def prism_launch(binary: Path, spec: Path, workdir: Path) -> Launch:
    port = free_port()
    return Launch(
        name=PRISM,
        argv=[str(binary), "mock", "-h", HOST, "-p", str(port), "-v", "silent", str(spec)],
        port=port,
        log_path=workdir / "prism.log",
    )


# --- ceiling ------------------------------------------------------------------------------------


def ceiling_launch(python: Path, captured: Answer, workdir: Path) -> Launch:
    port = free_port()
    body_file = workdir / "patch-response.body"
    body_file.write_bytes(captured.body)
    return Launch(
        name=CEILING,
        argv=[
            *(str(python), str(CEILING_APP), "--host", HOST, "--port", str(port)),
            *("--body-file", str(body_file), "--content-type", captured.content_type),
        ],
        port=port,
        log_path=workdir / "ceiling.log",
    )


# --- wrk ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """The request every target is driven with, and how."""

    path: str
    headers: dict[str, str]
    wrk: str
    script: Path
    duration_s: int
    warmup_s: int


def ensure_wrk() -> str:
    """Return wrk's path, installing Debian's package when missing and allowed."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise BenchError("wrk not found: install it (Debian: apt-get install -y wrk) and rerun")
    progress("wrk not found; installing Debian's package")
    try:
        run_quietly(["apt-get", "install", "-y", "wrk"])
    except BenchError:
        run_quietly(["apt-get", "update"])
        run_quietly(["apt-get", "install", "-y", "wrk"])
    return shutil.which("wrk") or "wrk"


def lua_string(text: str) -> str:
    """Quote text as a Lua string literal, escaping every byte that is not printable ASCII."""
    escaped = "".join(
        chr(byte) if 32 <= byte < 127 and chr(byte) not in '"\\' else f"\\{byte:03d}"
        for byte in text.encode()
    )
    return f'"{escaped}"'


def write_wrk_script(path: Path, headers: dict[str, str], body: bytes) -> None:
    """A wrk script that sends the PATCH and prints its summary as one JSON line."""
    lines = ['wrk.method = "PATCH"', f"wrk.body = {lua_string(body.decode())}"]
    lines += [f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items()]
    lines += [
        "function done(summary, latency, requests)",
        "  local e = summary.errors",
        '  io.write(string.format(\'BENCH_RESULT {"requests": %d, "duration_us": %d, \'',
        '    .. \'"p50_us": %d, "p99_us": %d, "status": %d, "connect": %d, \'',
        '    .. \'"read": %d, "write": %d, "timeout": %d}\\n\',',
        "    summary.requests, summary.duration, latency:percentile(50),",
        "    latency:percentile(99), e.status, e.connect, e.read, e.write, e.timeout))",
        "end",
    ]
    path.write_text("\n".join(lines) + "\n")


def run_wrk(wrk: str, url: str, script: Path, connections: int, seconds: int) -> dict[str, int]:
    """Run wrk on LOAD_CPU and return the summary that the script's done() prints."""
    command = ["taskset", "-c", LOAD_CPU, wrk, "-t1", f"-c{connections}", f"-d{seconds}s"]
    command += ["--latency", "--timeout", WRK_TIMEOUT, "-s", str(script), url]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if completed.returncode != 0:
        raise BenchError(f"wrk failed ({completed.returncode}): {completed.stderr.strip()}")
    for line in completed.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            summary: dict[str, int] = json.loads(line.removeprefix("BENCH_RESULT "))
            return summary
    raise BenchError(f"wrk printed no summary:\n{completed.stdout}")


def measure(target: Running, workload: Workload) -> list[LoadResult]:
    """Load one target at each connection count: a warm-up, then the measured run."""
    url = target.launch.base_url + workload.path
    results = []
    for connections in (LOW_CONNECTIONS, HIGH_CONNECTIONS):
        progress(f"{target.launch.name}: {connections} connections, {workload.duration_s} s")
        if workload.warmup_s > 0:
            run_wrk(workload.wrk, url, workload.script, connections, workload.warmup_s)
        before = CpuSample.take(target.process.pid)
        summary = run_wrk(workload.wrk, url, workload.script, connections, workload.duration_s)
        used = CpuSample.take(target.process.pid) - before
        results.append(load_result(target.launch.name, connections, summary, used))
    return results


def load_result(
    target: str, connections: int, summary: dict[str, int], cpu_used: CpuSample
) -> LoadResult:
    duration_s = summary["duration_us"] / 1e6
    return LoadResult(
        target=target,
        connections=connections,
        requests=summary["requests"],
        duration_s=duration_s,
        requests_per_s=summary["requests"] / duration_s,
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        non_2xx=summary["status"],
        socket_errors={kind: summary[kind] for kind in ("connect", "read", "write", "timeout")},
        server_cpu=cpu_used.server_s / duration_s,
        other_cpu=max(0.0, cpu_used.busy_s - cpu_used.server_s) / duration_s,
    )


# --- the run ------------------------------------------------------------------------------------


def run(args: argparse.Namespace, results: Results, workdir: Path) -> None:
    wrk = ensure_wrk()
    prism = prism_launch(ensure_prism(args.prism_dir, args.prism_version), args.spec, workdir)
    results.config["prism_version"] = args.prism_version
    api_key = f"sk_bench_{secrets.token_urlsafe(16)}"
    server = server_launch(args.server, workdir, api_key)

    progress("mixpeek-mock: first start on a new database, seeding")
    path, captured = seed_and_capture(server, api_key, args.start_timeout)
    results.config["patch_path"] = path
    for launch in (server, prism):
        progress(f"{launch.name}: {args.starts} timed starts")
        results.start_s[launch.name] = time_starts(launch, args.starts, args.start_timeout)

    workload = Workload(
        path=path,
        headers=request_headers(api_key),
        wrk=wrk,
        script=workdir / "patch.lua",
        duration_s=args.duration,
        warmup_s=args.warmup,
    )
    write_wrk_script(workload.script, workload.headers, PATCH_BODY)
    for launch in (ceiling_launch(args.python, captured, workdir), server, prism):
        with running(launch, args.start_timeout) as target:
            check_target(target, workload, captured)
            results.loads += measure(target, workload)
            results.rss_mib[launch.name] = rss_mib(target.process.pid)


def time_starts(launch: Launch, count: int, timeout_s: float) -> list[float]:
    samples = []
    for _ in range(count):
        with running(launch, timeout_s) as started:
            samples.append(started.startup_s)
    return samples


def check_target(target: Running, workload: Workload, captured: Answer) -> None:
    """The PATCH must answer 200 before it is measured; the ceiling must echo mixpeek-mock."""
    base_url = target.launch.base_url
    answer = expect_200(base_url, "PATCH", workload.path, workload.headers, PATCH_BODY)
    if target.launch.name == CEILING and answer != captured:
        raise BenchError("the ceiling's PATCH answer differs from mixpeek-mock's")


def evaluate(results: Results) -> None:
    """Record the checks against the targets, and any load run with errors as a failure."""
    for load in results.loads:
        if not load.clean:
            results.errors.append(
                f"{load.target} at {load.connections} connections: {load.non_2xx} non-2xx, "
                f"socket errors {load.socket_errors}"
            )
    ours = results.load(SERVER, HIGH_CONNECTIONS).requests_per_s
    ceiling = results.load(CEILING, HIGH_CONNECTIONS).requests_per_s
    prism = results.load(PRISM, HIGH_CONNECTIONS).requests_per_s
    p99 = results.load(SERVER, LOW_CONNECTIONS).p99_ms
    start = statistics.median(results.start_s[SERVER])
    rss = results.rss_mib[SERVER]
    share = MIN_SHARE_OF_CEILING
    results.checks = [
        Check(
            f"PATCH req/s at {HIGH_CONNECTIONS} connections >= Prism's", ours, prism, ours >= prism
        ),
        Check(
            f"PATCH req/s at {HIGH_CONNECTIONS} connections >= {share:.0%} of the ceiling",
            ours,
            share * ceiling,
            ours >= share * ceiling,
        ),
        Check(
            f"PATCH p99 at {LOW_CONNECTIONS} connections < {MAX_P99_MS_AT_LOW:g} ms",
            p99,
            MAX_P99_MS_AT_LOW,
            p99 < MAX_P99_MS_AT_LOW,
        ),
        Check(f"start to first 200 < {MAX_START_S:g} s", start, MAX_START_S, start < MAX_START_S),
        Check(f"RSS after load < {MAX_RSS_MIB:g} MiB", rss, MAX_RSS_MIB, rss < MAX_RSS_MIB),
    ]


# --- report -------------------------------------------------------------------------------------


def report(results: Results) -> str:
    config, machine = results.config, results.machine
    lines = [
        f"mixpeek-mock benchmark: PATCH {config.get('patch_path', '')}",
        f"{config['duration_s']} s per run after {config['warmup_s']} s of warm-up; "
        f"servers on CPU {SERVER_CPU}, wrk -t1 on CPU {LOAD_CPU}",
        f"machine: {machine['cpu']}, {machine['cpus']} CPUs, "
        f"load average {machine['load_average_before']:.2f} before the run",
        "",
        f"{'target':<14}{'conns':>6}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'non-2xx':>9}{'sock err':>10}{'srv cpu':>9}{'other':>7}",
    ]
    for load in results.loads:
        lines.append(
            f"{load.target:<14}{load.connections:>6}{load.requests_per_s:>10.1f}"
            f"{load.p50_ms:>9.2f}{load.p99_ms:>9.2f}{load.non_2xx:>9}{load.socket_error_count:>10}"
            f"{load.server_cpu:>9.0%}{load.other_cpu:>7.0%}"
        )
    lines += contention_lines(results)
    lines += ["", *ratio_lines(results), "", *start_lines(results), "", *rss_lines(results)]
    lines += ["", "targets:"]
    lines += [
        f"  {'PASS' if c.passed else 'MISS'}  {c.name:<52} {c.value:10.2f}  (limit {c.limit:.2f})"
        for c in results.checks
    ]
    if results.errors:
        lines += ["", "FAILED RUN:", *(f"  {error}" for error in results.errors)]
    return "\n".join(lines)


def contention_lines(results: Results) -> list[str]:
    """A warning when something else took a noticeable share of the servers' CPU."""
    busiest = max(results.loads, key=lambda load: load.other_cpu)
    if busiest.other_cpu < MAX_OTHER_CPU:
        return []
    return [
        f"warning: other work took up to {busiest.other_cpu:.0%} of CPU {SERVER_CPU} during the "
        "runs (column 'other'):",
        "  these numbers understate the servers; rerun on a quiet machine",
    ]


def ratio_lines(results: Results) -> list[str]:
    ours = results.load(SERVER, HIGH_CONNECTIONS).requests_per_s
    ceiling = results.load(CEILING, HIGH_CONNECTIONS).requests_per_s
    prism = results.load(PRISM, HIGH_CONNECTIONS).requests_per_s
    if not (ceiling and prism):
        return ["no ratios: the ceiling or Prism served nothing"]
    return [
        f"mixpeek-mock at {HIGH_CONNECTIONS} connections: {ours / ceiling:.1%} of the ceiling, "
        f"{ours / prism:.2f}x Prism"
    ]


def start_lines(results: Results) -> list[str]:
    lines = [f"start to first 200 from GET {HEALTH_PATH} (median of {results.config['starts']}):"]
    for name, samples in results.start_s.items():
        each = " ".join(f"{s:.3f}" for s in samples)
        lines.append(f"  {name:<14}{statistics.median(samples):7.3f} s   ({each})")
    return lines


def rss_lines(results: Results) -> list[str]:
    lines = ["RSS after load (VmRSS of the process and its children):"]
    lines += [f"  {name:<14}{mib:7.1f} MiB" for name, mib in results.rss_mib.items()]
    return lines


# --- entry point --------------------------------------------------------------------------------


def progress(message: str) -> None:
    print(f"» {message}", file=sys.stderr, flush=True)


def run_quietly(command: list[str]) -> None:
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        output = (completed.stdout + completed.stderr).strip()[-2000:]
        raise BenchError(f"{' '.join(command)} failed ({completed.returncode}):\n{output}")


def machine_info() -> dict[str, object]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg()[0],
        "python": platform.python_version(),
    }


def check_machine(args: argparse.Namespace) -> None:
    if not {int(SERVER_CPU), int(LOAD_CPU)} <= os.sched_getaffinity(0):
        raise BenchError(f"needs CPUs {SERVER_CPU} and {LOAD_CPU} (server and wrk are pinned)")
    if shutil.which("taskset") is None:
        raise BenchError("taskset not found (Debian: util-linux)")
    for path, what in ((args.server, "the server"), (args.python, "the venv python")):
        if not path.exists():
            raise BenchError(f"{what} not found at {path}: create the venv first")
    if not args.spec.exists():
        raise BenchError(f"OpenAPI document not found at {args.spec} (see --spec)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    venv = REPO_ROOT / ".venv" / "bin"
    parser = argparse.ArgumentParser(description="Benchmark mixpeek-mock's sync PATCH.")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before each")
    parser.add_argument("--starts", type=int, default=5, help="timed starts per server (median)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC, help="OpenAPI for Prism")
    parser.add_argument("--server", type=Path, default=venv / "mixpeek-mock")
    parser.add_argument("--python", type=Path, default=venv / "python", help="runs the ceiling")
    parser.add_argument("--prism-dir", type=Path, default=DEFAULT_PRISM_DIR, help="npm prefix")
    parser.add_argument("--prism-version", default=PRISM_VERSION)
    parser.add_argument("--start-timeout", type=float, default=30.0, help="seconds")
    args = parser.parse_args(argv)
    args.spec = args.spec.resolve()
    if args.duration < 1 or args.warmup < 0 or args.starts < 1:
        parser.error("--duration and --starts must be at least 1, --warmup at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = Results(
        config={
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "starts": args.starts,
            "connections": [LOW_CONNECTIONS, HIGH_CONNECTIONS],
            "spec": str(args.spec),
        },
        machine=machine_info(),
    )
    try:
        check_machine(args)
        with tempfile.TemporaryDirectory(prefix="mixpeek-mock-bench-") as workdir:
            run(args, results, Path(workdir))
        evaluate(results)
        print(report(results))
    except BenchError as error:
        results.errors.append(str(error))
        print(f"error: {error}", file=sys.stderr)
    if args.json:
        args.json.write_text(results.to_json())
    return 1 if results.errors else 0


if __name__ == "__main__":
    sys.exit(main())
