"""Start-up cost of mixpeek-mock: a first start on a new database, and a restart on it.

Each of ``--starts`` rounds (default 5) starts ``mixpeek-mock serve`` on a new database in a
temporary folder (the schema is made, the first organization and key are made), then again on
the same file. For each start it measures:

- the time from the process's start to the first 200 from GET /v1/health (polled every 5 ms);
- the server's CPU time until then (a migration child's included, if one ran): on a busy
  machine the wall-clock time says more about the neighbours than about the server, the CPU
  time does not;
- the server's RSS (VmRSS) a second after that first 200, and the engine process's apart
  (``python -m app.engine.worker``, started with the scheduler on: a process of its own, whose
  memory is not the server's).

It prints the medians against the targets (under 1 s and under 80 MiB, for both starts) and
exits 1 when a start failed (not when a target is missed). The server runs as a user runs it:
the scheduler on, storage reachable on this machine only.

Usage: python3 bench/startup.py [--starts 5] [--server .venv/bin/mixpeek-mock] [--json out]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MAX_START_S = 1.0
MAX_RSS_MIB = 80.0
POLL_INTERVAL_S = 0.005
SETTLE_S = 1.0


@dataclass(frozen=True)
class Start:
    seconds: float
    cpu_seconds: float  # the server's CPU time to its first 200, any migration child's included
    server_mib: float
    engine_mib: float


def cpu_seconds(pid: int) -> float:
    """User and system time of the process and of its children it has waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_mib(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def start_once(server: Path, database: Path, timeout_s: float) -> Start:
    port = free_port()
    env = {
        "PATH": os.defpath,
        "MIXPEEK_MOCK_STORAGE_ENDPOINTS": "loopback",
        "MIXPEEK_MOCK_API_KEY": "sk_bench_startup_0123456789",
    }
    argv = [str(server), "serve", "--port", str(port), "--database-url", f"sqlite:///{database}"]
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = started + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"no 200 within {timeout_s} s")
            with contextlib.suppress(OSError):
                url = f"http://127.0.0.1:{port}/v1/health"
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        break
            time.sleep(POLL_INTERVAL_S)
        seconds = time.perf_counter() - started
        cpu = cpu_seconds(process.pid)
        time.sleep(SETTLE_S)
        engine = sum(rss_mib(child) for child in children(process.pid))
        return Start(seconds, cpu, rss_mib(process.pid), engine)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=5, help="rounds (medians of these)")
    parser.add_argument("--server", type=Path, default=REPO_ROOT / ".venv" / "bin" / "mixpeek-mock")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per start")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)

    results: dict[str, list[Start]] = {"first start (new database)": [], "restart": []}
    try:
        for round_ in range(args.starts):
            with tempfile.TemporaryDirectory(prefix="mixpeek-mock-startup-") as folder:
                database = Path(folder) / "mock.db"
                for name in results:
                    print(f"» round {round_ + 1}: {name}", file=sys.stderr, flush=True)
                    results[name].append(start_once(args.server, database, args.timeout))
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    print(f"mixpeek-mock start-up, median of {args.starts} (load average {os.getloadavg()[0]:.2f})")
    print(f"{'':<28}{'to first 200':>14}{'CPU':>9}{'server RSS':>13}{'engine RSS':>13}")
    checks = []
    for name, starts in results.items():
        seconds = statistics.median(s.seconds for s in starts)
        server = statistics.median(s.server_mib for s in starts)
        engine = statistics.median(s.engine_mib for s in starts)
        cpu = statistics.median(s.cpu_seconds for s in starts)
        print(f"{name:<28}{seconds:>12.3f} s{cpu:>7.2f} s{server:>9.1f} MiB{engine:>9.1f} MiB")
        print("  each: " + " ".join(f"{s.seconds:.3f}s/{s.server_mib:.0f}MiB" for s in starts))
        checks += [
            (f"{name}: to first 200 < {MAX_START_S:g} s", seconds < MAX_START_S),
            (f"{name}: server RSS < {MAX_RSS_MIB:g} MiB", server < MAX_RSS_MIB),
        ]
    print("targets:")
    for label, passed in checks:
        print(f"  {'PASS' if passed else 'MISS'}  {label}")
    if args.json:
        document = {name: [asdict(s) for s in starts] for name, starts in results.items()}
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
