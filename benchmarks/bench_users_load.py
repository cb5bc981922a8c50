"""Loading all users into the console: rate-limit efficiency, first rows, UI stalls, memory.

Against a sandbox with N users (default 100,000) and Descope's documented rate limits on:
- full load (pages + last sign-ins) through UsersArea: time, requests, 429s, and how close to the
  rate-limit bound it runs (bound time ÷ actual time when the load is rate-bound; goal >= 0.9,
  zero 429s), side by side with a sequential single-page loop;
- the same load with small pages (100 users a page), so that it is rate-bound for certain;
- time to first rows on screen after connect (goal <= 0.5 s);
- the longest UI event-loop stall during the load (goal <= 50 ms), measured by a 5 ms timer, and
  during a second load with the page sorted by login ID;
- memory per loaded user (RSS delta ÷ N; goal <= 1.5 KB).
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

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import qasync
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
        self._last = time.perf_counter()
        self._timer = QTimer()
        self._timer.setInterval(5)
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self._last - 0.005)
        self._last = now

    def start(self) -> None:
        self._last = time.perf_counter()
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
    async with Gateway(connection) as gateway:
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
    async with Gateway(connection) as gateway:
        area = shown_area()
        first_rows: list[float] = []
        area.loader.rows_added.connect(lambda _rows: first_rows or first_rows.append(time.perf_counter()))
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
        async with Gateway(connection) as gateway:
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
    async with Gateway(connection, max_concurrency=1) as gateway:
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


def run(users: int | None = None) -> None:
    n = users or 100_000
    app = create_application("light")  # as the console sets itself up (garbage collector included)
    key = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory() as tmp:
        options = SandboxOptions(db=Path(tmp) / "bench.db", users=n, rate_limits="descope")
        with SandboxProcess(options, key) as sandbox:
            sandbox.start(timeout=600)
            connection = Connection(options.project_id, sandbox.url, key)

            async def main() -> None:
                await full_load(connection, n)
                await sorted_load(connection)  # 2 x 203 requests: still within one rate-limit window
                # Each run gets a fresh window: wait out the one the previous run used.
                await asyncio.sleep(61)
                await sequential_loop(connection)
                await asyncio.sleep(61)
                await small_pages_load(connection)

            with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
                runner.run(main())
