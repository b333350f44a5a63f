"""What one PATCH costs in CPU: the server process's and PostgreSQL's, per request, from /proc.

Starts one server on a new database (SQLite file, or a PostgreSQL database created and dropped),
seeds one sync, warms up, then drives its PATCH with wrk for ``--duration`` seconds and reads the
CPU time of the server process and of every ``postgres`` process before and after, and the
share of the machine's CPU time stolen by other tenants meanwhile (a virtual machine's
``steal``; above a few percent the throughput figures of this run mean little).

``--tree`` runs the server from another checkout (say ``git worktree add /tmp/old <commit>``),
with this checkout's virtual environment, to compare two versions in the same minutes.

Usage: python3 bench/patch_cost.py [--backend postgresql|sqlite] [--connections 32]
                                   [--duration 8] [--tree PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import backends

ROOT = Path(__file__).resolve().parent.parent


def cpu_seconds(pid: str | int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    total = 0.0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == "postgres":
                    total += cpu_seconds(pid)
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--tree", type=Path, default=ROOT, help="checkout to run the server from")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="mixpeek-bench-cost-") as folder,
        contextlib.ExitStack() as stack,
    ):
        if args.backend == "sqlite":
            url = f"sqlite:///{folder}/bench.db"
        else:
            url = stack.enter_context(backends.postgres_database(args.postgres_url))
        port = backends.free_port()
        command = [sys.executable, "-m", "app", "serve", "--port", str(port)]
        with (Path(folder) / "server.log").open("wb") as log:
            server = subprocess.Popen(
                [*command, "--database-url", url],
                cwd=args.tree,
                env=backends.server_environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            base = f"http://127.0.0.1:{port}"
            backends.wait_until_healthy(base)
            paths = backends.seed(base, 1)
            script = Path(folder) / "patch.lua"
            script.write_text(backends.wrk_script(paths))
            backends.drive([base], paths[0], args.connections, 2, script)
            server_before, postgres_before = cpu_seconds(server.pid), postgres_cpu_seconds()
            ticks_before, stolen_before = backends.machine_ticks()
            result = backends.drive([base], paths[0], args.connections, args.duration, script)
            server_after, postgres_after = cpu_seconds(server.pid), postgres_cpu_seconds()
            ticks_after, stolen_after = backends.machine_ticks()
        finally:
            server.terminate()
            server.wait(timeout=15)
    patches = result["rps"] * args.duration
    stolen = (stolen_after - stolen_before) / max(1, ticks_after - ticks_before)
    print(
        f"{args.backend} at {args.connections} connections, server from {args.tree}:"
        f" {result['rps']:.0f} req/s, p99 {result['p99_ms']:.1f} ms;"
        f" CPU per PATCH: server {1e6 * (server_after - server_before) / patches:.0f} µs,"
        f" PostgreSQL {1e6 * (postgres_after - postgres_before) / patches:.0f} µs;"
        f" {stolen:.0%} of the machine's CPU time stolen"
    )
    return 1 if result["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
