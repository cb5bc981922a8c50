"""The lifecycle picture (funnel, ages, expirations, monthly active users) of 200,000 users.

Goal (issue "Audit view, export, and the lifecycle picture"): at most 100 ms at 200,000 users. The
page runs the same computation as steps in CPU turns: the longest step is printed too (the window
stays smooth when it is well under a 16 ms frame).
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime

import numpy as np

from anonconsole.core.classify import AnonymousPolicy
from anonconsole.core.lifecycle import Lifecycle, lifecycle, lifecycle_steps
from anonconsole.core.user_table import UserTable
from anonconsole.operations.audit_log import AuditEntry
from benchmarks.bench_filter_sort import ANON, NOW, synthetic_users

GOAL_MS = 100.0
DAY = 86400
BATCH = 500  # users per `cull.delete` entry, as the cull writes them
CONVERSIONS = 2_000
CULLED = 20_000


def build_table(n: int, seed: int = 11) -> UserTable:
    """`n` users shaped like the sandbox's (mostly anonymous), 70% with a last sign-in."""
    table = UserTable(AnonymousPolicy(ANON, 365 * DAY, 7 * DAY), now=lambda: NOW)
    users = synthetic_users(n)
    table.reserve(n)
    for first in range(0, n, 5000):
        table.append(users[first : first + 5000])
    rng = random.Random(seed)
    table.set_last_sign_ins(
        {u.user_id: rng.randrange(u.created_time, NOW + 1) for u in users if rng.random() < 0.7}
    )
    return table


def audit_entries(table: UserTable, seed: int = 13) -> list[AuditEntry]:
    """A year of the console's work: conversions one by one, culls in batches of 500 users."""
    rng = random.Random(seed)
    ids = table.user_ids(np.arange(len(table), dtype=np.int64))

    def when() -> str:
        return datetime.fromtimestamp(NOW - rng.randrange(365 * DAY), UTC).isoformat(timespec="seconds")

    entries = [
        AuditEntry(
            "convert.verified", rng.choice(ids), "ok", "bench", after={"userId": rng.choice(ids)}, time=when()
        )
        for _ in range(CONVERSIONS)
    ]
    culled = [f"U{k:027d}" for k in range(CULLED)]  # gone from the table, as after a reload
    entries += [
        AuditEntry(
            "cull.delete",
            f"{BATCH} users",
            "ok",
            "bench",
            after={"userIds": culled[k : k + BATCH]},
            time=when(),
        )
        for k in range(0, CULLED, BATCH)
    ]
    return sorted(entries, key=lambda entry: entry.time)


def best_of(runs: int, table: UserTable, entries: list[AuditEntry]) -> tuple[float, Lifecycle]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = lifecycle(table, entries, now=NOW)
        times.append(time.perf_counter() - started)
    assert result is not None
    return min(times) * 1000, result


def longest_step(table: UserTable, entries: list[AuditEntry]) -> tuple[float, int]:
    """The longest single step of `lifecycle_steps` (ms), and how many steps there were."""
    steps = lifecycle_steps(table, entries, now=NOW)
    longest, count = 0.0, 0
    while True:
        started = time.perf_counter()
        try:
            next(steps)
        except StopIteration:
            return max(longest, (time.perf_counter() - started) * 1000), count + 1
        longest = max(longest, (time.perf_counter() - started) * 1000)
        count += 1


def run(users: int | None = None) -> None:
    n = users or 200_000
    started = time.perf_counter()
    table = build_table(n)
    entries = audit_entries(table)
    setup = time.perf_counter() - started
    ms, result = best_of(10, table, entries)
    step_ms, steps = longest_step(table, entries)
    active, ages, expirations = result.active, result.ages, result.expirations
    rows = [
        ("users", f"{n:>10,}  (set up in {setup:.1f} s)"),
        ("audit entries", f"{len(entries):>10,}  ({CONVERSIONS:,} conversions, {CULLED:,} culled)"),
        ("lifecycle, best of 10", f"{ms:>10.1f} ms  (goal <= {GOAL_MS:.0f} ms)"),
        (f"longest of {steps} steps", f"{step_ms:>10.1f} ms  (run in CPU turns; a frame is 16 ms)"),
        ("anonymous users", f"{result.anonymous:>10,}  ({ages.past_cutoff:,} past the cutoff)"),
        (f"expiring in {len(expirations.weeks)} weeks", f"{sum(expirations.counts):>10,}"),
        ("this month", f"{active.share_text()}"),
    ]
    for label, value in rows:
        print(f"{label:<34}{value}")
