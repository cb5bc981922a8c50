"""Seeding a sandbox: `anonconsole sandbox serve --users N` from start to listening, and the mix it made.

Goal (issue "A million users"): 1,000,000 users in <= 120 s (261 s before: a random page of eleven
indexes per row, ids drawn one character per Python call). The sandbox process logs its own seed
time and the users per kind; both are printed with the time to ready seen from outside.

Run alone: `python -m benchmarks.bench_sandbox_seed --users 1000000 [--expired-share 0.5]`.
"""

from __future__ import annotations

import argparse
import re
import secrets
import tempfile
import time
from pathlib import Path

from anonconsole.launcher.process import SandboxOptions, SandboxProcess

BEFORE_S = 261.0  # issue "A million users": the seed of 1,000,000 users before
GOAL_S = 120.0


def run(users: int | None = None, expired_share: float | None = None) -> None:
    n = users or 1_000_000
    key = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory() as tmp:
        options = SandboxOptions(
            db=Path(tmp) / "bench.db", users=n, expired_share=expired_share, rate_limits="off"
        )
        started = time.perf_counter()
        with SandboxProcess(options, key) as sandbox:
            sandbox.start(timeout=900)
            ready = time.perf_counter() - started
            log = sandbox.log_path.read_text(encoding="utf-8", errors="replace")
        size = sum(f.stat().st_size for f in Path(tmp).glob("bench.db*"))
    seeded = re.search(r"Seeded (\d+) users in ([\d.]+) s \((.*)\)", log)
    print(f"users                              {n:>10,}")
    if seeded:
        print(f"seed (the sandbox's own log)       {float(seeded[2]):>10.1f} s")
        print(f"users per kind                     {seeded[3]}")
    print(
        f"ready after (spawn, seed, listen)  {ready:>10.1f} s   "
        f"(before {BEFORE_S:.0f} s; goal <= {GOAL_S:.0f} s)"
    )
    print(f"database with its WAL              {size / 1e6:>10.0f} MB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_sandbox_seed", description=__doc__)
    parser.add_argument("--users", type=int, default=None)
    parser.add_argument("--expired-share", type=float, default=None)
    args = parser.parse_args()
    run(args.users, args.expired_share)
