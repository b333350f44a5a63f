"""PATCH throughput and p99 at 32 connections: SQLite with one process, PostgreSQL with one and
with two (issue 11's target: PostgreSQL with one process at least half of SQLite's).

Each configuration gets a fresh database (a temporary SQLite file; a PostgreSQL database
created for the run and dropped after it), is seeded over HTTP, warmed up, then driven by wrk
with bench/run.py's PATCH. One process is pinned to CPU 0 with wrk on CPU 1, as in
bench/run.py. Two processes share one database and split the 32 connections between two wrk
runs at once (16 each, one per server; their rates add up, the p99 is the worse of the two);
they are not pinned, and on a two-core machine they, PostgreSQL and wrk share both cores, so
this figure shows that two instances work as one server, not how far they scale.

Usage: python3 bench/postgres.py [--postgres-url URL] [--duration 10]
  (URL default: MIXPEEK_MOCK_TEST_POSTGRES_URL, else postgresql://postgres@127.0.0.1:5432/test)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # bench/run.py, beside this file

CONNECTIONS = 32
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A new, empty database on the server of ``admin_url``; its URL. Dropped afterwards."""
    import psycopg

    name = f"mm_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drive(wrk: str, urls: list[str], script: Path, seconds: int) -> tuple[float, float]:
    """Run wrk against every url at once, the connections split evenly; (req/s, p99 ms)."""
    share = CONNECTIONS // len(urls)
    summaries: list[dict[str, int]] = []
    errors: list[BaseException] = []

    def one(url: str) -> None:
        try:
            summaries.append(bench.run_wrk(wrk, url, script, share, seconds))
        except BaseException as exc:  # reported below, after every run ended
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    for summary in summaries:
        if summary["status"] or any(
            summary[kind] for kind in ("connect", "read", "write", "timeout")
        ):
            raise bench.BenchError(f"errors during the run: {summary}")
    rate = sum(s["requests"] / (s["duration_us"] / 1e6) for s in summaries)
    return rate, max(s["p99_us"] for s in summaries) / 1000


def measure(
    name: str,
    database_url: str,
    processes: int,
    args: argparse.Namespace,
    wrk: str,
    workdir: Path,
) -> tuple[float, float]:
    api_key = f"sk_bench_{secrets.token_urlsafe(16)}"
    first = bench.server_launch(args.server, workdir, api_key, database_url)
    path, _ = bench.seed_and_capture(first, api_key, 60.0)
    script = workdir / "patch.lua"
    bench.write_wrk_script(script, bench.request_headers(api_key), bench.PATCH_BODY)
    launches = [replace(first, name=f"{name}-1")]
    if processes > 1:
        launches = [
            replace(
                bench.server_launch(args.server, workdir, api_key, database_url),
                name=f"{name}-{index + 1}",
                cpus="0,1",
                log_path=workdir / f"{name}-{index + 1}.log",
            )
            for index in range(processes)
        ]
    with contextlib.ExitStack() as stack:
        targets = [stack.enter_context(bench.running(launch, 60.0)) for launch in launches]
        urls = [target.launch.base_url + path for target in targets]
        bench.progress(f"{name}: warm-up, then {args.duration} s at {CONNECTIONS} connections")
        drive(wrk, urls, script, args.warmup)
        return drive(wrk, urls, script, args.duration)


def main(argv: list[str] | None = None) -> int:
    venv = bench.REPO_ROOT / ".venv" / "bin"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("MIXPEEK_MOCK_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="a PostgreSQL server's database that may create databases",
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up before each")
    parser.add_argument("--server", type=Path, default=venv / "mixpeek-mock")
    args = parser.parse_args(argv)
    wrk = bench.ensure_wrk()
    figures: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="mixpeek-postgres-bench-") as tmp:
        workdir = Path(tmp)
        sqlite_url = f"sqlite:///{workdir / 'bench.db'}"
        figures["SQLite, 1 process"] = measure("sqlite", sqlite_url, 1, args, wrk, workdir)
        for processes in (1, 2):
            with postgres_database(args.postgres_url) as url:
                label = f"PostgreSQL, {processes} process{'es' if processes > 1 else ''}"
                figures[label] = measure(f"postgres{processes}", url, processes, args, wrk, workdir)
    print(f"PATCH at {CONNECTIONS} connections, {args.duration} s each")
    for label, (rate, p99) in figures.items():
        print(f"  {label:<24} {rate:>8,.0f} req/s   p99 {p99:6.1f} ms")
    sqlite_rate = figures["SQLite, 1 process"][0]
    postgres_rate = figures["PostgreSQL, 1 process"][0]
    verdict = "meets" if postgres_rate >= sqlite_rate / 2 else "misses"
    print(
        f"  PostgreSQL/SQLite, 1 process: {postgres_rate / sqlite_rate:.2f}"
        f" ({verdict} the target of 0.5)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
