"""Culling expired anonymous users: the console's cull against the job a person would write by hand.

On a sandbox of N users (default 200,000, half of them expired anonymous users: the issue "Culling" asks
for 100,000 among 200,000; the seed's `expired_share`), side by side:
- the plan: loading every user with their last sign-ins, `plan_cull` (goal <= 1 s at 200k users) and a
  what-if recount (goal <= 50 ms);
- the hand-written job: a sequential loop over `search_all` pages of the anonymous tenant (created
  before the cutoff) calling `user.delete` per user, sleeping for `Retry-After` when the SDK raises
  its rate-limit exception — timed on a slice (one request per user: hours for 100,000 users), and
- the console's run of the whole plan (journal, re-check, `delete_batch` paced to the limits),
with Descope's rate limits on and then off. Goal: the console at least 20x faster with the limits on,
and every 429 honoured (waited for `Retry-After`, never hammered).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import qasync
from descope import DescopeClient, RateLimitException

from anonconsole.app.run import create_application
from anonconsole.core.cull import Recounter, cutoff_for, plan_cull
from anonconsole.core.user_table import NONE
from anonconsole.gateway import Connection, Gateway
from anonconsole.launcher.process import SandboxOptions, SandboxProcess
from anonconsole.operations import cull, journal
from anonconsole.operations.audit_log import AuditLog
from anonconsole.operations.shape import Refusal
from anonconsole.operations.users_snapshot import load_users
from anonconsole.settings import paths
from benchmarks.bench_users_load import StallMeter

HAND_SLICE = {"descope": 1_500, "off": 5_000}  # users the hand-written job deletes, per limit mode
EXPIRED_SHARE = 0.5  # of the seeded users, anonymous users whose refresh token expired


def _retry_after(exc: RateLimitException) -> float:
    return float((exc.rate_limit_parameters or {}).get("Retry-After", 1))


def hand_written_job(client: DescopeClient, tenant_id: str, cutoff_ms: int, count: int) -> dict[str, Any]:
    """What an admin writes from the SDK's docs: page, delete one by one, sleep when told to."""
    deleted = honoured = 0
    started = time.perf_counter()
    users: list[dict[str, Any]] = []
    while deleted < count:
        try:
            if not users:  # page 0 again: the users deleted so far are gone from it
                users = client.mgmt.user.search_all(
                    tenant_ids=[tenant_id], to_created_time=cutoff_ms, limit=100
                )["users"]
                if not users:
                    break
            client.mgmt.user.delete_by_user_id(users[-1]["userId"])
            users.pop()
            deleted += 1
        except RateLimitException as exc:
            honoured += 1
            time.sleep(_retry_after(exc))
    seconds = time.perf_counter() - started
    return {"deleted": deleted, "seconds": seconds, "rate": deleted / seconds, "429s": honoured}


async def expired_before(connection: Connection, project_id: str) -> tuple[str, int]:
    """The anonymous tenant and the cutoff (epoch ms) the hand-written job deletes before."""
    async with Gateway(connection) as gateway:
        rules = await cull.prepare_rules(gateway, project_id=project_id)
    assert not isinstance(rules, Refusal), rules
    return rules.tenant_id, cutoff_for(int(time.time()), rules.lifetime_seconds, rules.grace_seconds) * 1000


async def console(connection: Connection, project_id: str) -> dict[str, Any]:
    """Plan and run the whole cull the way the console does, on its Qt event loop; timings of each
    part, and the longest stall of that loop while the run goes on (goal <= 50 ms)."""
    async with Gateway(connection) as gateway:
        rules = await cull.prepare_rules(gateway, project_id=project_id)
        assert not isinstance(rules, Refusal), rules
        started = time.perf_counter()
        table = await load_users(gateway, cull.policy_of(rules))
        loaded = time.perf_counter() - started
        now = int(time.time())
        expiry = table.expiry_times()
        expired = int(np.count_nonzero((expiry != NONE) & (expiry < now)))
        started = time.perf_counter()
        plan = plan_cull(table, rules, now=now, profile="bench", project_id=project_id)
        planned = time.perf_counter() - started
        recounter = Recounter(table, rules, now)
        started = time.perf_counter()
        for days in range(300, 400, 10):
            recounter.count(days * 86400, 0)
        recount = (time.perf_counter() - started) / 10
        requests_before = gateway.stats.requests
        limited_before = gateway.stats.rate_limited
        run_journal = journal.Journal.create(plan, project_id=project_id, profile="bench")
        meter = StallMeter()
        meter.start()
        started = time.perf_counter()
        report = await cull.run_plan(
            gateway, plan, rules, journal=run_journal, audit=AuditLog(), profile="bench"
        )
        ran = time.perf_counter() - started
        stall = meter.stop()
        return {
            "users": len(table),
            "expired": expired,
            "load": loaded,
            "plan": planned,
            "recount": recount,
            "candidates": plan.count,
            "done": len(report.done),
            "skipped": len(report.skipped),
            "failed": len(report.failed),
            "seconds": ran,
            "rate": len(report.done) / ran if ran else 0.0,
            "requests": gateway.stats.requests - requests_before,
            "429s": gateway.stats.rate_limited - limited_before,
            "stall": stall,
        }


def one_mode(n: int, limits: str) -> None:
    app = create_application("light")  # the console's loop and garbage-collector policy
    key = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory() as tmp:
        paths.init(Path(tmp) / "home")  # journals and the audit log of the run, thrown away after
        options = SandboxOptions(
            db=Path(tmp) / "bench.db", users=n, expired_share=EXPIRED_SHARE, rate_limits=limits
        )
        started = time.perf_counter()
        with SandboxProcess(options, key) as sandbox:
            url = sandbox.start(timeout=600)
            print(
                f"  sandbox of {n:,} users ready in {time.perf_counter() - started:.1f} s (limits {limits})"
            )
            client = DescopeClient(project_id=options.project_id, management_key=key, base_url=url)
            connection = Connection(options.project_id, url, key)
            tenant_id, cutoff_ms = asyncio.run(expired_before(connection, options.project_id))
            pause = 60 if limits == "descope" else 0  # a fresh rate-limit window for each contender
            time.sleep(pause)
            hand = hand_written_job(client, tenant_id, cutoff_ms, HAND_SLICE[limits])
            time.sleep(pause)
            with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
                ours = runner.run(console(connection, options.project_id))
        paths.init(None)
    print(f"  users loaded (pages + sign-ins)     {ours['load']:>8.1f} s   ({ours['users']:,} users)")
    print(f"  expired anonymous users             {ours['expired']:>8,}   (seeded share {EXPIRED_SHARE})")
    print(f"  plan_cull                           {ours['plan'] * 1000:>8.0f} ms  (goal <= 1,000 ms)")
    print(f"  what-if recount                     {ours['recount'] * 1000:>8.1f} ms  (goal <= 50 ms)")
    print(f"  candidates                          {ours['candidates']:>8,}")
    print(
        f"  hand-written job                    {hand['rate']:>8.1f} users/s  "
        f"({hand['deleted']:,} in {hand['seconds']:.1f} s, {hand['429s']} x 429 slept on)"
    )
    print(
        f"  console                             {ours['rate']:>8.1f} users/s  "
        f"({ours['done']:,} deleted in {ours['seconds']:.1f} s, {ours['requests']:,} requests, "
        f"{ours['429s']} x 429, {ours['skipped']:,} skipped, {ours['failed']} failed)"
    )
    print(f"  longest UI stall during the run     {ours['stall'] * 1000:>8.1f} ms  (goal <= 50 ms)")
    speedup = ours["rate"] / hand["rate"] if hand["rate"] else float("inf")
    goal = "  (goal >= 20x)" if limits == "descope" else ""
    print(f"  speed-up                            {speedup:>8.1f} x{goal}")


def run(users: int | None = None) -> None:
    n = users or 200_000
    for limits in ("descope", "off"):
        print(f"-- Descope's rate limits {'on' if limits == 'descope' else 'off'}")
        one_mode(n, limits)
