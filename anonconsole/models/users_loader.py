"""Loads every user of a connection into a `UserTable` in the background, page by page.

Pages come from the gateway (first page at once, the rest concurrently within the rate limit), read
so that users deleted or created meanwhile leave no living user out and none twice (issue 21,
`core.user_sweep`); users the gateway finds deleted after their page came are hidden at the end, with
those a reload no longer finds. Each page's last sign-ins are asked for as soon as the page arrives,
concurrently with the next pages.
Everything runs as one asyncio task on the Qt loop (qasync), so cancelling is cancelling the task.

The UI thread stays responsive (issue "Users views": no stall over 50 ms): building records and a
page's column values runs on the loop in slices of a few milliseconds (`anonconsole.runtime.cpu_turns`:
worker threads would make every paint wait for the GIL), and the views are told about new and
changed rows at most every `FLUSH_SECONDS` (the first screenful at once), so the table is laid out
again a few times a second, not once per page; rows that land out of sight are not repainted
(`UsersTableView`).
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
from PySide6.QtCore import QObject, Signal

from anonconsole.core.records import User, UserFilter
from anonconsole.core.user_table import Rows, UserTable
from anonconsole.gateway import Gateway, GatewayError
from anonconsole.runtime.cpu_turns import cpu_turn
from anonconsole.runtime.gc_policy import no_full_collections

log = logging.getLogger(__name__)

PAGE_SIZE = 1000  # the sandbox's (and our) maximum page for user search
HISTORY_BATCH = 1000  # user ids per history request (asked for as soon as a page brings that many)
PREPARE_CHUNK = 250  # users prepared and added to the table between two pauses (~1.5 ms of work)
FIRST_CHUNK = 60  # the first rows shown: a screenful, in a short turn (the first paint follows it)
FLUSH_SECONDS = 0.15  # while loading, views hear of new and changed rows at most this often
EVERYONE = UserFilter(test_users="include")
CLOCK_MARGIN_SECONDS = 600  # a catch-up reads from this long before the snapshot: clocks differ


class _Coalescer:
    """Collects new and changed rows and hands them on at most every `interval` seconds.

    The first rows go out at once (time to first rows on screen); later ones wait for the next
    slot, so several pages cost the views one relayout. `flush` sends what is pending now.
    """

    def __init__(
        self, added: Callable[[range], None], changed: Callable[[Rows], None], interval: float
    ) -> None:
        self._added = added
        self._changed = changed
        self._interval = interval
        self._new: range | None = None
        self._updated: list[Rows] = []
        self._last = 0.0
        self._pending: asyncio.TimerHandle | None = None

    def add(self, rows: range) -> None:
        if len(rows):
            self._new = rows if self._new is None else range(self._new.start, rows.stop)
            self._schedule()

    def change(self, rows: Rows) -> None:
        if len(rows):
            self._updated.append(rows)
            self._schedule()

    def _schedule(self) -> None:
        """A flush due now still waits for the loop: it is a callback of its own, never part of the
        CPU turn that found the rows (a sorted view's relayout is ~10-20 ms at 1,000,000 rows)."""
        if self._pending is not None:
            return
        wait = max(0.0, self._last + self._interval - time.perf_counter())
        self._pending = asyncio.get_running_loop().call_later(wait, self.flush)

    def flush(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self._last = time.perf_counter()
        new, self._new = self._new, None
        updated, self._updated = self._updated, []
        if new is not None:
            self._added(new)
        if updated:
            self._changed(np.concatenate(updated))

    def discard(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None


class UsersLoader(QObject):
    """Fills a UserTable from a gateway, reporting each step by signal.

    Signals:
        rows_added(range): new table rows (pages arrived).
        rows_changed(object): numpy array of table rows updated in place.
        progress(str, int, int): phase ("users", or "changes" when catching up; then "sign-ins" once
            every page is in), done, total.
        caught_up(str): a refresh read the users created or changed since the snapshot shown; a
            sentence saying how many, before the full pass that finds deletions starts.
        finished(str): the load ended; a sentence saying how ("Loaded 3,005 users in 2.1 s").
        failed(str): the load stopped on an error; the sentence says what and that loaded rows stay.
        cancelled(): the user (or a new load) cancelled it.
    """

    rows_added = Signal(object)
    rows_changed = Signal(object)
    progress = Signal(str, int, int)
    caught_up = Signal(str)
    finished = Signal(str)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, table: UserTable, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.table = table
        self.full_pass_started = 0.0  # when the last pass over every user began (what a snapshot is "as of")
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, gateway: Gateway, *, since: float | None = None) -> asyncio.Task[None]:
        """Start a (re)load; a load still running is cancelled first.

        `since` (epoch seconds): the table holds the users as they were then (a snapshot), so the
        users created or changed since are read first (a few requests where a full pass takes
        minutes at 1,000,000 users), then every user, which finds those deleted meanwhile.
        """
        self.cancel()
        self._task = asyncio.ensure_future(self._run(gateway, since))
        return self._task

    async def _run(self, gateway: Gateway, since: float | None) -> None:
        try:
            if since is not None and not await _Load(self, gateway, changed_since=since).run():
                return
            self.full_pass_started = time.time()
            await _Load(self, gateway).run()
        finally:
            # Once the load has said how it ended: a cancel here has nothing left to stop.
            await asyncio.to_thread(_return_freed_memory)

    def cancel(self) -> None:
        if self.running:
            assert self._task is not None
            self._task.cancel()

    async def wait(self) -> None:
        """Until the current load (if any) ends, however it ends.

        Cancelling the waiter cancels the waiter (not the load): a caller like `connect_to`, cancelled
        while it waits for the old load, must stop there, not go on to start another one.
        """
        if self._task is not None and not self._task.done():
            await asyncio.wait([self._task])


class _Load:
    """One run of a loader: pages, their users' sign-ins, and the coalesced view updates."""

    def __init__(self, loader: UsersLoader, gateway: Gateway, *, changed_since: float | None = None) -> None:
        self.loader = loader
        self.changed_since = changed_since  # None: every user (a full pass); else a catch-up
        self.table = loader.table
        self.gateway = gateway
        self.updates = _Coalescer(loader.rows_added.emit, loader.rows_changed.emit, FLUSH_SECONDS)
        self.seen = np.zeros(0, dtype=np.bool_)  # by table row: in a page of this load
        self.users_seen = 0  # distinct users in the pages so far (the progress)
        self.gone = 0  # users yielded, then found deleted during the load
        self.total = 0
        self.waiting_for_sign_ins: list[str] = []  # user ids not yet in a history request
        self.sign_ins: list[asyncio.Task[None]] = []
        self.sign_ins_done = 0
        self.pages_done = False

    async def run(self) -> bool:
        """The pass; whether it ended well (else `failed` or `cancelled` was emitted)."""
        with no_full_collections():
            return await self._run()

    def _searches(self) -> list[UserFilter]:
        """Every user; or, catching up, those created and those changed since the snapshot (two
        searches: a new user's modification time is not documented to be set at creation)."""
        if self.changed_since is None:
            return [EVERYONE]
        since = datetime.fromtimestamp(self.changed_since - CLOCK_MARGIN_SECONDS, UTC)
        return [replace(EVERYONE, created_after=since), replace(EVERYONE, modified_after=since)]

    async def _run(self) -> bool:
        started = time.perf_counter()
        try:
            for filters in self._searches():
                await self._load_pages(filters)
            if self.changed_since is None:
                async with cpu_turn():  # a turn of its own: closing the pages freed the sweep's ledger
                    self.updates.change(self.table.mark_missing(self.seen))
            self.pages_done = True
            self._ask_sign_ins()
            self._sign_ins_progress()
            for task in self.sign_ins:
                await task  # the first failure is raised; `finally` cancels the rest
        except asyncio.CancelledError:
            self.updates.flush()
            self.loader.cancelled.emit()
            raise
        except GatewayError as exc:
            self.updates.flush()
            loaded = len(self.table)
            self.loader.failed.emit(f"{exc.user_message} The {loaded:,} users loaded so far are still shown.")
            return False
        finally:
            self.updates.discard()
            for task in self.sign_ins:
                task.cancel()
            await asyncio.gather(*self.sign_ins, return_exceptions=True)
        self.updates.flush()
        elapsed = time.perf_counter() - started
        if self.changed_since is not None:
            self.loader.caught_up.emit(
                f"{self.users_seen:,} users created or changed since the snapshot read in {elapsed:.1f} s"
            )
            return True
        gone = f" ({self.gone:,} deleted meanwhile left out)" if self.gone else ""
        self.loader.finished.emit(f"Loaded {self.users_seen:,} users in {elapsed:.1f} s{gone}")
        return True

    async def _load_pages(self, filters: UserFilter) -> None:
        pages = self.gateway.iter_user_pages(filters, page_size=PAGE_SIZE)
        try:
            async for page in pages:
                if not page.index and self.changed_since is None:
                    async with cpu_turn():  # ~5 ms at 100k users: a turn of its own
                        self.table.reserve(page.total)
                self.total = page.total
                for chunk in self._chunks(page.users):
                    async with cpu_turn():  # the views hear of the rows before the turn can be cancelled
                        done = self.table.upsert_page(self.table.prepare(chunk))
                        self.updates.add(done.new)
                        self.updates.change(done.changed)  # a reload: only users that changed
                        self._saw(done.new, done.found)
                if page.gone:
                    self._unsee(page.gone)
                ids = [u.user_id for u in page.users]
                phase = "users" if self.changed_since is None else "changes"
                self.loader.progress.emit(phase, self.users_seen, max(self.total, self.users_seen))
                self.waiting_for_sign_ins += ids
                if len(self.waiting_for_sign_ins) >= HISTORY_BATCH:
                    self._ask_sign_ins(whole_batches=True)
                _raise_first_failure(self.sign_ins)
        finally:
            await pages.aclose()

    def _chunks(self, users: Sequence[User]) -> Iterator[Sequence[User]]:
        """A page in `PREPARE_CHUNK`s; before any row is shown, a first one of just a screenful.

        The first rows make the views lay out and paint for the first time (25-40 ms here): the
        turn before that paint is kept short, so the two do not add up to one long stall.
        """
        first = 0 if len(self.table) else min(FIRST_CHUNK, len(users))
        if first:
            yield users[:first]
        for start in range(first, len(users), PREPARE_CHUNK):
            yield users[start : start + PREPARE_CHUNK]

    def _saw(self, new_rows: range, updated: Rows) -> None:
        """Count the users of a page, each once (pages may overlap when users change meanwhile)."""
        if len(self.seen) < len(self.table):
            self.seen = np.concatenate([self.seen, np.zeros(len(self.table) - len(self.seen), np.bool_)])
        self.seen[new_rows.start : new_rows.stop] = True
        self.seen[updated] = True
        self.users_seen = int(np.count_nonzero(self.seen))  # ~10 µs at 100k rows

    def _unsee(self, user_ids: Sequence[str]) -> None:
        """Users this load yielded, then found deleted: not seen after all, so the end of the load
        hides them with the users it never saw (`mark_missing`)."""
        rows = self.table.rows_of(user_ids)
        self.seen[rows[rows < len(self.seen)]] = False
        self.users_seen = int(np.count_nonzero(self.seen))
        self.gone += len(user_ids)

    def _ask_sign_ins(self, *, whole_batches: bool = False) -> None:
        """Ask for the last sign-ins of the users loaded since the last time, while pages still load.

        `whole_batches`: only whole `HISTORY_BATCH`es, the rest waits for the next page. Pages bring a
        few users fewer than their size (a page starts again at the last second of the one before),
        and 1,000 + 999 IDs would cost two history requests where one of 1,000 does.
        """
        cut = len(self.waiting_for_sign_ins)
        if whole_batches:
            cut -= cut % HISTORY_BATCH
        if cut:
            ids, self.waiting_for_sign_ins = self.waiting_for_sign_ins[:cut], self.waiting_for_sign_ins[cut:]
            self.sign_ins.append(asyncio.ensure_future(self._load_sign_ins(ids)))

    async def _load_sign_ins(self, user_ids: Sequence[str]) -> None:
        latest = await self.gateway.last_sign_ins(user_ids, batch_size=HISTORY_BATCH)
        self.updates.change(self.table.set_last_sign_ins(latest))
        self.sign_ins_done += len(user_ids)
        self._sign_ins_progress()

    def _sign_ins_progress(self) -> None:
        if self.pages_done:
            self.loader.progress.emit("sign-ins", self.sign_ins_done, self.users_seen)


def _raise_first_failure(tasks: Sequence[asyncio.Task[None]]) -> None:
    """Stop early when some users' sign-ins could not be loaded (rather than after the last page)."""
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, None on other C libraries and platforms."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None


def _return_freed_memory() -> None:
    """Give the memory the load freed back to the operating system (issue "Users views": memory).

    Pages are decoded into tens of MB of short-lived JSON objects. They are freed, but glibc's
    malloc keeps freed blocks that lie between live ones for reuse, so without this the process
    stays ~700 B per loaded user bigger than what it holds. Runs in a worker thread (it walks the
    heap); a no-op where malloc_trim does not exist.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
