"""The cost of the request journal (CONTRACT.md D30) on the sync PATCH: journal off and on.

Runs bench/run.py's PATCH workload against mixpeek-mock twice per round, with
``MIXPEEK_MOCK_JOURNAL_SIZE=0`` and ``=1000`` (no fault rule in either), alternating the order
over a few rounds so that a noisy neighbour hurts both alike, and prints each figure (the
median of the rounds) and their ratio. The target: journal on within 10% of journal off.

Usage: python3 bench/journal.py [--duration 10] [--rounds 3] [--connections 4]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # bench/run.py, beside this file

SIZES = (0, 1000)
MAX_SLOWDOWN = 0.10


def main(argv: list[str] | None = None) -> int:
    venv = bench.REPO_ROOT / ".venv" / "bin"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before each")
    parser.add_argument("--rounds", type=int, default=3, help="off/on pairs to take the median of")
    parser.add_argument("--connections", type=int, default=bench.LOW_CONNECTIONS)
    parser.add_argument("--server", type=Path, default=venv / "mixpeek-mock")
    args = parser.parse_args(argv)

    wrk = bench.ensure_wrk()
    api_key = f"sk_bench_{secrets.token_urlsafe(16)}"
    figures: dict[int, list[float]] = {size: [] for size in SIZES}
    with tempfile.TemporaryDirectory(prefix="mixpeek-journal-bench-") as tmp:
        workdir = Path(tmp)
        server = bench.server_launch(args.server, workdir, api_key)
        path, _ = bench.seed_and_capture(server, api_key, 30.0)
        script = workdir / "patch.lua"
        bench.write_wrk_script(script, bench.request_headers(api_key), bench.PATCH_BODY)
        for round_number in range(args.rounds):
            order = SIZES if round_number % 2 == 0 else tuple(reversed(SIZES))
            for size in order:
                env = {**(server.env or {}), "MIXPEEK_MOCK_JOURNAL_SIZE": str(size)}
                launch = replace(server, name=f"journal={size}", env=env)
                with bench.running(launch, 30.0) as target:
                    url = target.launch.base_url + path
                    if args.warmup:
                        bench.run_wrk(wrk, url, script, args.connections, args.warmup)
                    summary = bench.run_wrk(wrk, url, script, args.connections, args.duration)
                if summary["status"] or any(
                    summary[kind] for kind in ("connect", "read", "write", "timeout")
                ):
                    raise bench.BenchError(f"journal={size}: errors during the run: {summary}")
                rate = summary["requests"] / (summary["duration_us"] / 1e6)
                figures[size].append(rate)
                bench.progress(f"round {round_number + 1}, journal={size}: {rate:,.0f} req/s")
    off, on = (statistics.median(figures[size]) for size in SIZES)
    slowdown = 1 - on / off
    print(
        f"PATCH, {args.connections} connections, median of {args.rounds} runs of {args.duration} s"
    )
    print(f"  journal off (MIXPEEK_MOCK_JOURNAL_SIZE=0):    {off:,.0f} req/s")
    print(f"  journal on  (MIXPEEK_MOCK_JOURNAL_SIZE=1000): {on:,.0f} req/s")
    print(f"  on/off: {on / off:.3f} ({'within' if slowdown <= MAX_SLOWDOWN else 'beyond'} 10%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
