"""Loading all users into the console: rate-limit efficiency, first rows, UI stalls, memory.

Against a sandbox with N users (default 100,000) and Descope's documented rate limits on:
- full load (pages + last sign-ins) through UsersArea: time, requests, 429s, and how close to the
  rate-limit bound it runs (bound time ÷ actual time when the load is rate-bound; goal >= 0.9,
  zero 429s), side by side with a sequential single-page loop;
- the same load with small pages (100 users a page), so that it is rate-bound for certain;
- time to first rows on screen after connect (goal <= 0.5 s);
- the longest UI event-loop stall during the load (goal <= 50 ms), measured by a 5 ms timer, and
  during a second load with the page sorted by login ID;
- memory per loaded user (RSS delta ÷ N; goal <= 1.5 KB);
- the cost of a load that stays true while users change (issue 21): the pages alone read as the
  console read them before (offset pages, three at a time) and by the sweep it reads them with now
  (`iter_user_pages`: pages by creation time, then a count per lane), side by side in requests and
  time; then both again while 600 of the oldest users are deleted in batches and 60 are created,
  with the living users each missed and the deleted users each kept.
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import qasync
from descope import DescopeClientAsync, UserObj
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from anonconsole.app.run import create_application
from anonconsole.core.rate_limits import limit_for
from anonconsole.core.user_table import Column
from anonconsole.gateway import Connection, Gateway, UserFilter
from anonconsole.launcher.process import SandboxOptions, SandboxProcess
from anonconsole.models import users_loader
from anonconsole.runtime import gc_policy
from anonconsole.views.users_area import UsersArea

SEARCH_PATH = "/v2/mgmt/user/search"


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def bound_seconds(requests: int) -> float:
    """The least time `requests` user-management calls take under the documented limit."""
    bucket = limit_for(SEARCH_PATH)
    assert bucket is not None
    return math.floor(max(0, requests - 1) / bucket.limit) * bucket.window_seconds


class StallMeter:
    """Longest gap between ticks of a 5 ms timer on the UI thread."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.last_tick = time.perf_counter()
        self._timer = QTimer()
        self._timer.setInterval(5)
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self.last_tick - 0.005)
        self.last_tick = now

    def start(self) -> None:
        self.last_tick = time.perf_counter()
        self.longest = 0.0
        self._timer.start()

    def stop(self) -> float:
        self._timer.stop()
        return self.longest


def shown_area() -> UsersArea:
    """A users area showing its "All users" page at 1200x800, as the main window does."""
    area = UsersArea()
    area.set_active("all")
    view = area.views["all"]
    view.resize(1200, 800)
    view.show()
    return area


async def sorted_load(connection: Connection) -> None:
    """The same load with the page sorted by login ID: new pages merge into the sorted order."""
    async with await Gateway.open(connection) as gateway:
        area = shown_area()
        view = area.views["all"]
        await view.sort_by(view.model.columns.index(Column.LOGIN_IDS), Qt.SortOrder.AscendingOrder)
        meter = StallMeter()
        meter.start()
        await area.connect_to(gateway)
        await area.wait()
        stall = meter.stop()
        print(f"  ... with the page sorted by login   {stall * 1000:>8.1f} ms  (goal <= 50 ms)")
        await area.close()


async def full_load(connection: Connection, n: int) -> None:
    gc_policy.freeze_start_up_objects()  # as the app does once its window is built
    rss_before = rss_bytes()
    meter = StallMeter()
    async with await Gateway.open(connection) as gateway:
        area = shown_area()
        first_rows: list[float] = []
        area.loader.rows_added.connect(
            lambda _rows: first_rows.extend([] if first_rows else [time.perf_counter()])
        )
        all_rows: list[float] = []  # when the last users reached the views (sign-ins may still come)
        area.loader.rows_added.connect(lambda _rows: all_rows.append(time.perf_counter()))
        meter.start()
        started = time.perf_counter()
        await area.connect_to(gateway)
        await area.wait()
        elapsed = time.perf_counter() - started
        stall = meter.stop()
        QApplication.processEvents()
        gc.collect()
        per_user = (rss_bytes() - rss_before) / max(1, len(area.table))
        stats = gateway.stats
        bound = bound_seconds(stats.requests)
        print(f"users loaded                      {len(area.table):>10,}")
        bucket = limit_for(SEARCH_PATH)
        assert bucket is not None
        print(
            f"full load (pages + sign-ins)      {elapsed:>10.1f} s   "
            f"{stats.requests} requests, {stats.rate_limited} x 429"
        )
        print(
            f"achieved rate                     {stats.requests / elapsed:>10.1f} req/s  "
            f"(limit {bucket.limit} per {bucket.window_seconds} s)"
        )
        if bound:
            print(
                f"rate-limit efficiency             {bound / elapsed:>10.2f}     "
                f"(bound {bound:.0f} s ÷ actual; goal >= 0.9)"
            )
        else:
            print(
                f"rate-limit efficiency             {'n/a':>10}     "
                f"({stats.requests} requests fit in one window: bound by the server, not the limit)"
            )
        print(f"all users on screen after         {all_rows[-1] - started:>10.1f} s   (see sequential loop)")
        print(f"first rows after connect          {first_rows[0] - started:>10.2f} s   (goal <= 0.5 s)")
        print(f"longest UI stall during the load  {stall * 1000:>10.1f} ms  (goal <= 50 ms)")
        print(f"memory per loaded user            {per_user:>10.0f} B   (goal <= 1,536 B)")
        await area.close()


async def small_pages_load(connection: Connection) -> None:
    """The same load with 100-user pages: over 500 requests, so the limit must be what bounds it."""
    saved = users_loader.PAGE_SIZE
    users_loader.PAGE_SIZE = 100
    try:
        async with await Gateway.open(connection) as gateway:
            area = UsersArea()
            started = time.perf_counter()
            await area.connect_to(gateway)
            await area.wait()
            elapsed = time.perf_counter() - started
            stats = gateway.stats
            bound = bound_seconds(stats.requests)
            print(
                f"small pages: {len(area.table):,} users, {stats.requests} requests in {elapsed:.1f} s, "
                f"{stats.rate_limited} x 429, efficiency {bound / elapsed:.2f} "
                f"(bound {bound:.0f} s; goal >= 0.9)"
            )
            await area.close()
    finally:
        users_loader.PAGE_SIZE = saved


async def sequential_loop(connection: Connection) -> None:
    """The naive way: one page after the other, no concurrency (user pages only, no sign-ins)."""
    async with await Gateway.open(connection, max_concurrency=1) as gateway:
        started = time.perf_counter()
        page, loaded = 0, 0
        while True:
            users, total = await gateway.search_users(UserFilter(test_users="include"), page, 1000)
            loaded += len(users)
            page += 1
            if loaded >= total or not users:
                break
        elapsed = time.perf_counter() - started
        print(f"sequential single-page loop       {elapsed:>10.1f} s   ({page} pages, users only)")


EVERYONE = UserFilter(test_users="include")
PAGE = 1000


async def offset_pages(gateway: Gateway) -> set[str]:
    """How the console read every user before issue 21: page 0, then the other pages by offset, three
    at a time. A deletion ahead of a page still to come shifts it, and living users fall between."""
    users, total = await gateway.search_users(EVERYONE, 0, PAGE)
    seen = {u.user_id for u in users}
    lanes = asyncio.Semaphore(3)

    async def page(index: int) -> None:
        async with lanes:
            found, _ = await gateway.search_users(EVERYONE, index, PAGE)
        seen.update(u.user_id for u in found)

    await asyncio.gather(*(page(i) for i in range(1, math.ceil(total / PAGE))))
    return seen


async def swept_pages(gateway: Gateway) -> set[str]:
    """How the console reads them now: `iter_user_pages`' sweep; the users it says are gone, dropped."""
    held: set[str] = set()
    async for page in gateway.iter_user_pages(EVERYONE, page_size=PAGE):
        held.update(u.user_id for u in page.users)
        held.difference_update(page.gone)
    return held


async def timed(connection: Connection, read: Any) -> tuple[set[str], float, int]:
    """(users read, seconds, requests) of one read of every user, handshake excluded."""
    async with await Gateway.open(connection) as gateway:
        await gateway.license()
        before = gateway.stats.requests
        started = time.perf_counter()
        users = await read(gateway)
        return users, time.perf_counter() - started, gateway.stats.requests - before


async def cost_of_the_guarantee(connection: Connection) -> set[str]:
    """Pages only, nothing changing: what reading by the sweep costs beside offset pages."""
    offset, offset_s, offset_n = await timed(connection, offset_pages)
    swept, swept_s, swept_n = await timed(connection, swept_pages)
    assert offset == swept, "with nothing changing, both reads must find the same users"
    print(
        f"pages only, offset (before)        {offset_s:>10.1f} s   {offset_n} requests, "
        f"{len(offset):,} users (no guarantee under change)"
    )
    print(
        f"pages only, sweep (now)           {swept_s:>10.1f} s   {swept_n} requests "
        f"(+{swept_n - offset_n}: {100 * (swept_n - offset_n) / offset_n:.0f}% more, "
        f"{100 * (swept_s - offset_s) / offset_s:+.0f}% time)"
    )
    return swept


async def loads_under_churn(connection: Connection, project_id: str, key: str, everyone: set[str]) -> None:
    """Both reads while a cull deletes 3 x 200 of the oldest users (0.3 s apart) and 3 x 20 sign-ups
    come: the issue's measurement. Each read gets its own victims (the oldest still there)."""
    client = DescopeClientAsync(project_id=project_id, management_key=key, base_url=connection.base_url)
    living = set(everyone)
    oldest = UserFilter(test_users="include", sort=[("createdTime", False)])
    try:
        for name, read in (("offset (before)", offset_pages), ("sweep (now)", swept_pages)):
            async with await Gateway.open(connection) as gateway:
                victims = [u.user_id for u in (await gateway.search_users(oldest, 0, 600))[0]]

            async def churn(victims: list[str] = victims) -> float:
                started = time.perf_counter()
                for batch in range(3):
                    await asyncio.sleep(0.1 if batch else 0.3)  # the first pages are in by then
                    await client.mgmt.user.delete_batch(victims[batch * 200 : (batch + 1) * 200])
                    made = [UserObj(f"bench-{secrets.token_hex(6)}") for _ in range(20)]
                    answer = await client.mgmt.user.invite_batch(made, send_mail=False, send_sms=False)
                    living.update(str(u["userId"]) for u in answer["createdUsers"])
                living.difference_update(victims)
                return time.perf_counter() - started

            churning = asyncio.ensure_future(churn())
            found, seconds, requests = await timed(connection, read)
            over = await churning  # a churn still going when a read checks its last users is a later load's
            print(
                f"under churn, {name:<16}    {seconds:>10.1f} s   {requests} requests: "
                f"{len(living - found):,} living users missed, {len(found - living):,} deleted kept "
                f"(churn over after {over:.1f} s)"
            )
    finally:
        await client.aclose()


def run(users: int | None = None) -> None:
    n = users or 100_000
    app = create_application("light")  # as the console sets itself up (garbage collector included)
    key = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory() as tmp:
        options = SandboxOptions(db=Path(tmp) / "bench.db", users=n, rate_limits="descope")
        with SandboxProcess(options, key) as sandbox:
            connection = Connection(options.project_id, sandbox.start(timeout=600), key)

            async def main() -> None:
                await full_load(connection, n)
                await sorted_load(connection)  # 2 x 203 requests: still within one rate-limit window
                # Each run gets a fresh window: wait out the one the previous run used.
                await asyncio.sleep(61)
                await sequential_loop(connection)
                await asyncio.sleep(61)
                await small_pages_load(connection)
                await asyncio.sleep(61)
                everyone = await cost_of_the_guarantee(connection)
                await asyncio.sleep(61)
                await loads_under_churn(connection, options.project_id, key, everyone)

            with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
                runner.run(main())
