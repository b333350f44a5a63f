"""PATCH throughput and p99 on each backend: SQLite with one server process, PostgreSQL with one
and with two (issue 11's benchmark; the target is PostgreSQL with one process at half of SQLite).

Each case gets a new database (a file; or a database created on the PostgreSQL server and dropped
after), starts its server processes on it, seeds one sync through the first, and drives the same
sync PATCH with wrk at ``--connections`` in all, split evenly over the processes (as a load
balancer would), after a short warm-up. Requests per second are summed over the processes; p99
is the worst of them. Run it on a quiet machine: the servers, PostgreSQL and wrk share its CPUs.

The machine may be shared and its speed may vary from minute to minute: the cases are run in
turn, ``--rounds`` times, and each is reported by its median round. The share of CPU time the
host gave other tenants meanwhile (``steal`` in /proc/stat) is printed too: PostgreSQL's
round trips wake two processes each, and on a crowded host every wake-up waits for a CPU, so
above a few percent the figures understate PostgreSQL against SQLite.

``--records N`` sends the PATCHes to N syncs in turn instead of one: every PATCH of one record
rewrites the same row, which on PostgreSQL leaves a dead row version behind each time (MVCC),
so a single record also measures how PostgreSQL copes with one row rewritten all the time.

Usage: python3 bench/backends.py [--postgres-url postgresql://postgres@127.0.0.1:5432/test]
                                 [--duration 10] [--connections 32] [--rounds 3] [--records 1]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

BIN = Path(sys.executable).parent
API_KEY = "sk_bench_backends_0123456789abcdef"
HEADERS = {"Authorization": f"Bearer {API_KEY}", "X-Namespace": "default"}
PATCH_BODY = '{"batch_size": 25, "description": "bench"}'
WRK_SCRIPT = f"""wrk.method = "PATCH"
wrk.body = '{PATCH_BODY}'
wrk.headers["Authorization"] = "Bearer {API_KEY}"
wrk.headers["X-Namespace"] = "default"
wrk.headers["Content-Type"] = "application/json"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH_RESULT {{"requests": %d, "duration_us": %d, "p99_us": %d,'
    .. ' "status": %d, "errors": %d}}\\n', summary.requests, summary.duration,
    latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def machine_ticks() -> tuple[int, int]:
    """All CPU time and the CPU time stolen by other tenants of the host (a virtual machine's
    ``steal``), in ticks since boot. (The fields after ``steal``, guest time, are counted in
    ``user`` already.)"""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields[:8]), fields[7]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def call(method: str, url: str, body: dict[str, object] | None = None) -> dict[str, object]:
    data = None if body is None else json.dumps(body).encode()
    headers = {**HEADERS, "Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        answer: dict[str, object] = json.loads(response.read())
        return answer


def server_environment() -> dict[str, str]:
    """What a benchmarked server runs with: the bench's key, no scheduler, loopback storage."""
    return {
        **os.environ,
        "MIXPEEK_MOCK_API_KEY": API_KEY,
        "MIXPEEK_MOCK_SCHEDULER": "off",
        "MIXPEEK_MOCK_STORAGE_ENDPOINTS": "loopback",
    }


def wait_until_healthy(base: str, *, seconds: float = 30) -> None:
    """Wait for the server at ``base`` to answer its health check (OSError after ``seconds``)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(base + "/v1/health", timeout=1).close()  # noqa: S310
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextlib.contextmanager
def servers(url: str, count: int, folder: Path) -> Iterator[list[str]]:
    env = server_environment()
    processes, bases = [], []
    for index in range(count):
        port = free_port()
        log = (folder / f"server{index}.log").open("ab")
        processes.append(
            subprocess.Popen(
                [str(BIN / "mixpeek-mock"), "serve", "--port", str(port), "--database-url", url],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        )
        bases.append(f"http://127.0.0.1:{port}")
    try:
        for base in bases:
            wait_until_healthy(base)
        yield bases
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)


def seed(url: str, records: int) -> list[str]:
    """``records`` syncs in one bucket; their paths."""
    bucket = call(
        "POST", url + "/v1/buckets", {"bucket_name": "bench", "bucket_schema": {"properties": {}}}
    )
    connection = call(
        "POST",
        url + "/v1/organizations/connections",
        {
            "name": "bench",
            "provider_type": "s3",
            "provider_config": {
                "credentials": {
                    "type": "access_key",
                    "access_key_id": "a",
                    "secret_access_key": "b",
                },
                "endpoint_url": "http://127.0.0.1:9000",
            },
            "test_before_save": False,
        },
    )
    paths = []
    for index in range(records):
        sync = call(
            "POST",
            f"{url}/v1/buckets/{bucket['bucket_id']}/syncs",
            {"connection_id": connection["connection_id"], "source_path": f"bench/{index}/"},
        )
        paths.append(f"/v1/buckets/{bucket['bucket_id']}/syncs/{sync['sync_config_id']}")
    return paths


def wrk_script(paths: list[str]) -> str:
    """The PATCH script: one record's path in the URL, or several taken in turn."""
    if len(paths) == 1:
        return WRK_SCRIPT
    listed = ", ".join(f'"{path}"' for path in paths)
    return (
        WRK_SCRIPT
        + f"""paths = {{{listed}}}
counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, paths[(counter % #paths) + 1])
end
"""
    )


def drive(
    urls: list[str], path: str, connections: int, seconds: int, script: Path
) -> dict[str, float]:
    """wrk against every server at once, ``connections`` split evenly; summed and worst."""
    command = ["taskset", "-c", "1"] if shutil.which("taskset") else []
    runs = [
        subprocess.Popen(
            [
                *command,
                *("wrk", "-t1", f"-c{max(1, connections // len(urls))}", f"-d{seconds}s"),
                *("--latency", "-s", str(script), url + path),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for url in urls
    ]
    summaries = []
    for run in runs:
        out, _ = run.communicate(timeout=seconds + 60)
        line = next(line for line in out.splitlines() if line.startswith("BENCH_RESULT "))
        summaries.append(json.loads(line.removeprefix("BENCH_RESULT ")))
    return {
        "rps": sum(s["requests"] / (s["duration_us"] / 1e6) for s in summaries),
        "p99_ms": max(s["p99_us"] for s in summaries) / 1000,
        "failed": sum(s["status"] + s["errors"] for s in summaries),
    }


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    name = f"mm_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'").format(
                sql.Identifier(name)
            )
        )
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--records", type=int, default=1, help="syncs the PATCHes go to in turn (1: one hot row)"
    )
    args = parser.parse_args()
    cases = (("sqlite", 1), ("postgresql", 1), ("postgresql", 2))
    runs: dict[tuple[str, int], list[dict[str, float]]] = {case: [] for case in cases}
    with (
        tempfile.TemporaryDirectory(prefix="mixpeek-bench-backends-") as folder,
        contextlib.ExitStack() as stack,
    ):
        # Every case's servers start first (idle, they cost nothing); then the rounds
        # drive the cases in turn, so that a slow spell of a shared machine falls on all.
        targets = {}
        for backend, processes in cases:
            if backend == "sqlite":
                url = f"sqlite:///{folder}/bench-{processes}.db"
            else:
                url = stack.enter_context(postgres_database(args.postgres_url))
            urls = stack.enter_context(servers(url, processes, Path(folder)))
            paths = seed(urls[0], args.records)
            script = Path(folder) / f"patch-{backend}-{processes}.lua"
            script.write_text(wrk_script(paths))
            targets[backend, processes] = (urls, paths[0], script)
        ticks_before = machine_ticks()
        for round_number in range(1, args.rounds + 1):
            for case in cases:
                urls, path, script = targets[case]
                drive(urls, path, args.connections, args.warmup, script)
                result = drive(urls, path, args.connections, args.duration, script)
                runs[case].append(result)
                print(
                    f"round {round_number} {case[0]:10} x{case[1]}: {result['rps']:8.0f}"
                    f" req/s  p99 {result['p99_ms']:6.1f} ms  failed {result['failed']:.0f}",
                    file=sys.stderr,
                )
        ticks_after = machine_ticks()
    rows = [(case, median_run(runs[case])) for case in cases]
    sqlite_rps = rows[0][1]["rps"]
    print(
        f"median of {args.rounds} rounds, {args.duration} s each,"
        f" PATCHes to {args.records} record(s) in turn:"
    )
    print(f"{'backend':12}{'processes':>10}{'req/s':>10}{'p99 ms':>9}{'of SQLite':>11}")
    for (backend, processes), result in rows:
        print(
            f"{backend:12}{processes:>10}{result['rps']:>10.0f}{result['p99_ms']:>9.1f}"
            f"{result['rps'] / sqlite_rps:>10.0%}"
        )
    stolen = (ticks_after[1] - ticks_before[1]) / max(1, ticks_after[0] - ticks_before[0])
    print(
        f"CPU time stolen by other tenants during the rounds: {stolen:.0%}"
        + (" (a crowded host: these figures understate PostgreSQL)" if stolen > 0.03 else "")
    )
    pg_one = rows[1][1]["rps"] / sqlite_rps
    print(
        "target: PostgreSQL with one process >= 50% of SQLite:",
        "met" if pg_one >= 0.5 else "missed",
    )
    return 1 if any(run["failed"] for results in runs.values() for run in results) else 0


def median_run(results: list[dict[str, float]]) -> dict[str, float]:
    """The round with the median throughput (its p99 with it)."""
    ordered = sorted(results, key=lambda result: result["rps"])
    return ordered[len(ordered) // 2]


if __name__ == "__main__":
    sys.exit(main())
