"""The backlog: a cull plan of 500,000 users (of 600,000) made, journaled and read back, off the network.

A project that never culled may hold hundreds of thousands of stale anonymous users. This times what
the window and the journal do with such a plan, on a synthetic table (no sandbox: the run itself is
measured by `cull`): the plan in CPU-turn steps (total and the longest step: the window's stall),
the journal's creation (the plan file beside it), the start-up scan for unfinished runs and the
two-stage lookup, reading the journal back for a resume, and the memory the plan holds per candidate.
Baselines (2026-11-29, before the plan moved out of the journal's first line and into steps):
plan 5.3-6.0 s in one go on the loop, journal created 6.3 s, disabled_by_console 6.2 s.
"""

from __future__ import annotations

import gc
import tempfile
import time
from pathlib import Path

from anonconsole.core.classify import AnonymousPolicy
from anonconsole.core.cull import CullRules, plan_cull_steps
from anonconsole.core.records import User, UserTenant
from anonconsole.core.user_table import UserTable
from anonconsole.operations import journal
from anonconsole.settings import paths

TENANT = "T2AnonymousUsers00000000000000"
NOW = 1_800_000_000
YEAR = 365 * 86400


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


def backlog_table(users: int, expired: int) -> UserTable:
    """`users` anonymous users; the first `expired` last active two years ago, the rest 10 days ago."""
    members = (UserTenant(TENANT, "Anonymous Users"),)
    table = UserTable(AnonymousPolicy(TENANT, YEAR), now=lambda: NOW)
    for start in range(0, users, 10_000):
        table.append(
            [
                User(
                    user_id=f"U{i:027d}",
                    login_ids=(f"r{i:08x}@anon.invalid",),
                    status="enabled",
                    tenants=members,
                    created_time=NOW - 2 * YEAR if i < expired else NOW - 10 * 86400,
                )
                for i in range(start, min(users, start + 10_000))
            ]
        )
    return table


def run(users: int | None = None) -> None:
    total = users or 600_000
    expired = total * 5 // 6
    table = backlog_table(total, expired)
    rules = CullRules(TENANT, "Anonymous Users", YEAR)
    gc.collect()
    gc.disable()  # as in the window: collections are the UI timer's, and deferred during a run
    before = rss_mb()
    steps = plan_cull_steps(table, rules, now=NOW, profile="bench", project_id="P2Backlog")
    longest, count, started = 0.0, 0, time.perf_counter()
    while True:
        step = time.perf_counter()
        try:
            next(steps)
        except StopIteration as done:
            plan = done.value
            break
        finally:
            longest = max(longest, time.perf_counter() - step)
            count += 1
    planned = time.perf_counter() - started
    held = rss_mb() - before
    gc.enable()
    print(f"  plan of {plan.count:,} of {total:,} users    {planned:>8.2f} s   (baseline 5.3-6.0 s at once)")
    print(f"  longest planning step                {longest * 1000:>8.1f} ms  ({count:,} steps in CPU turns)")
    print(f"  memory held by the plan              {held * 2**20 / max(plan.count, 1):>8.0f} B per candidate")
    with tempfile.TemporaryDirectory() as tmp:
        paths.init(Path(tmp))
        started = time.perf_counter()
        run_journal = journal.Journal.create(plan, project_id="P2Backlog", profile="bench")
        created = time.perf_counter() - started
        run_journal.end(cancelled=False)
        started = time.perf_counter()
        list(journal.unfinished("P2Backlog"))
        journal.disabled_by_console("P2Backlog")
        scanned = time.perf_counter() - started
        started = time.perf_counter()
        journal.read(run_journal.path)
        read = time.perf_counter() - started
        paths.init(None)
    print(f"  journal created (plan file beside)   {created:>8.2f} s   (baseline 6.3 s)")
    print(f"  start-up scan + two-stage lookup     {scanned:>8.2f} s   (baseline 6.2 s per lookup)")
    print(f"  journal read back for a resume       {read:>8.2f} s")
