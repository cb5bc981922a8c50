"""Run every benchmark (or those named on the command line) and print their figures.

Usage: python -m benchmarks [NAME ...] [--users N]
"""

from __future__ import annotations

import argparse
import importlib
import sys

BENCHMARKS = (
    "cold_start",
    "filter_sort",
    "users_table",
    "users_load",
    "users_stalls",
    "users_snapshot",
    "second_start",
    "cull",
    "cull_backlog",
    "sandbox_bulk",
    "sandbox_seed",
    "lifecycle",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run: {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--users", type=int, default=None, help="data-set size where a benchmark takes one")
    args = parser.parse_args(argv)
    unknown = set(args.names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    for name in args.names or BENCHMARKS:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        print(f"== {name}: {module.__doc__.strip().splitlines()[0]}")
        module.run(users=args.users)
    return 0


if __name__ == "__main__":
    sys.exit(main())
