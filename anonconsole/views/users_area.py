"""The users area: one table of a connection's users, shown by four pages, loaded in the background.

The main window puts `views` into its navigation and shows `counts_changed` next to each entry;
`progress` feeds its status-bar progress with a cancel button, `freshness_changed` its label saying
how fresh the users shown are.

A profile may keep a local snapshot of its users (`settings.user_snapshot`, issue "A million
users"): it is read in a worker thread while the connection is made, shown at once once connected
("as of" when it was taken), and brought up to date in the background: the users created or changed
since first, then a pass over every user that finds those deleted. After each full pass the
snapshot is written again, in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal

from anonconsole.core.classify import ANONYMOUS_TENANT_NAME, AnonymousPolicy
from anonconsole.core.errors import GatewayError
from anonconsole.core.records import User
from anonconsole.core.user_pages import PAGE_KINDS as PAGE_KINDS
from anonconsole.core.user_table import UserTable, with_expiries
from anonconsole.models.users_loader import UsersLoader
from anonconsole.operations.anonymous_tenant import anonymous_policy
from anonconsole.settings.snapshot_reading import SnapshotReading
from anonconsole.settings.user_snapshot import SnapshotError, snapshot_path, write_snapshot
from anonconsole.views.users_view import UsersView

if TYPE_CHECKING:
    from anonconsole.gateway import Gateway

log = logging.getLogger(__name__)
WRITE_ATTEMPTS = 3  # writes of a snapshot tried while the table keeps changing under them
WRITE_RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class SnapshotPlace:
    """Whose users snapshot: the profile's file, holding users of this project only.

    `still_kept()`: asked right before each write, whether the profile still keeps it (it may have
    been removed, renamed, aimed elsewhere or had its snapshot turned off since it connected).
    """

    profile: str
    project_id: str
    still_kept: Callable[[], bool] = lambda: True


class UsersArea(QObject):
    """Owns the users table, its loader and the four users pages.

    Signals:
        counts_changed(object): {page key: users of that kind} (test users excluded).
        progress(str, int, int): phase, done, total while loading.
        loading_changed(bool): a load started (True) or ended (False).
        message(str, bool): a sentence for the status bar, and whether it is an error.
        freshness_changed(str, str): how fresh the users shown are, short ("Users as of 14:02") and
            whole (for a tooltip); empty when no users are shown.
        load_succeeded(): a load of the connection's users ended well (every page and sign-in).
    """

    counts_changed = Signal(object)
    progress = Signal(str, int, int)
    loading_changed = Signal(bool)
    message = Signal(str, bool)
    freshness_changed = Signal(str, str)
    load_succeeded = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.table = UserTable(AnonymousPolicy("", None), now=time.time)
        self.loader = UsersLoader(self.table, self)
        self.views = {key: UsersView(self.table, kind) for key, kind in PAGE_KINDS.items()}
        self.gateway: Gateway | None = None
        self.policy_note = ""
        self.table_loaded = False  # a load of the current connection has ended (however)
        self._active: str | None = None
        self._stale: set[str] = set()
        self._place: SnapshotPlace | None = None  # where this connection's snapshot is kept, if it is
        self._snapshot: SnapshotReading | None = None  # its reading, started while connecting
        self._snapshot_at: float | None = None  # when the users shown were read, while that is older
        self._writing: asyncio.Task[None] | None = None  # the snapshot being written, if it is
        self.loader.rows_added.connect(self._rows_added)
        self.loader.rows_changed.connect(self._rows_changed)
        self.loader.progress.connect(self.progress)
        self.loader.caught_up.connect(self._caught_up)
        self.loader.finished.connect(self._finished)
        self.loader.failed.connect(self._failed)
        self.loader.cancelled.connect(
            lambda: self._ended("Loading cancelled; the users loaded so far are shown.", error=False)
        )
        for view in self.views.values():
            view.retry_requested.connect(self.refresh)

    def read_snapshot_early(
        self, place: SnapshotPlace | None, *, started: SnapshotReading | None = None
    ) -> None:
        """Start reading `place`'s users snapshot (None: the profile keeps none) in a worker thread.

        Called as a connection to that profile begins: the read (about 0.8 s at 1,000,000 users)
        overlaps the connecting, and `connect_to` shows its users only once connected. `started`: a
        reading begun before (as the process started), taken if it is of `place`, else dropped.
        """
        self._place = place
        self._drop_reading()
        if place is not None:
            path = snapshot_path(place.profile)
            if started is not None and started.is_of(path, place.project_id):
                self._snapshot, started = started, None
            else:
                self._snapshot = SnapshotReading(path, place.project_id)
        if started is not None:
            started.drop()

    async def connect_to(
        self,
        gateway: Gateway,
        *,
        tenant_id: str = "",
        tenant_name: str = ANONYMOUS_TENANT_NAME,
        grace_days: int = 0,
    ) -> None:
        """Show another connection's users: forget the old ones, find the anonymous policy, show the
        snapshot read meanwhile (if any) and bring it up to date, or load every user."""
        self.loader.cancel()
        await self.loader.wait()
        self.gateway = gateway
        self.table_loaded = False
        self.table.clear()
        self._snapshot_at = None
        for view in self.views.values():
            view.set_connected(True)
            view.gateway = gateway
            view.details.clear()
            view.model.table_reset()
            view.set_loading(True)
        self._emit_counts()
        self._say_fresh("", "")
        snapshot, self._snapshot = self._snapshot, None
        if self._place is not None and self._place.project_id != gateway.connection.project_id:
            if snapshot is not None:
                snapshot.drop()  # started for another profile: not this project's
            snapshot, self._place = None, None
        try:
            policy, self.policy_note = await anonymous_policy(
                gateway, tenant_id=tenant_id, tenant_name=tenant_name, grace_days=grace_days
            )
        except GatewayError as exc:
            if snapshot is not None:
                snapshot.drop()
            self._failed(exc.user_message)
            return
        except BaseException:  # cancelled: another connection is on its way
            if snapshot is not None:
                snapshot.drop()
            raise
        self.table.set_policy(policy)
        self.message.emit(self.policy_note, False)
        since = await self._show_snapshot(snapshot) if snapshot is not None else None
        self._start(since=since)

    async def _show_snapshot(self, reading: SnapshotReading) -> float | None:
        """Show the snapshot's users at once; when they were taken, or None when there is none to
        show (missing, damaged, of another project or anonymous tenant: the full load follows)."""
        try:
            columns, taken_at = await reading.result()
        except SnapshotError as exc:
            if "There is no users snapshot" not in exc.sentence:
                self.message.emit(exc.sentence, False)
                log.warning("%s", exc.sentence)
            return None
        if columns.tenant_id != self.table.policy.tenant_id:
            # Every user would be classified again (seconds on the UI thread at 1,000,000 users).
            self.message.emit(
                "The anonymous tenant changed since the users snapshot: loading every user.", False
            )
            return None
        columns = await asyncio.to_thread(with_expiries, columns, self.table.policy)
        self.table.restore(columns)  # adopts the arrays: ~1 ms at 1,000,000 rows
        await self._prepare_sorts()
        for view in self._updating():
            await asyncio.sleep(0)  # a turn each (~10-20 ms at 1,000,000 rows): the window paints between
            view.model.table_reset()
        await asyncio.sleep(0)
        self._emit_counts()
        self._snapshot_at = taken_at
        when = _moment(taken_at)
        log.info(
            "Showing the %s users of the snapshot taken %s; bringing them up to date.",
            f"{len(self.table):,}",
            when,
        )
        self._say_fresh(
            f"Users as of {when}",
            f"The users shown are a local snapshot taken {when}; they are being brought up to date.",
        )
        make_index = self.table.index_to_make()  # left for after showing them: ~150 ms of a thread
        if make_index is not None:
            self.table.adopt_index(await asyncio.to_thread(make_index))
        return taken_at

    async def _prepare_sorts(self) -> None:
        """The sort orders the pages use, computed in a worker thread before the pages see the rows
        (a sort of 1,000,000 texts on the UI thread would freeze the window for seconds)."""
        for view in self.views.values():
            column = view.model.sort_column
            if column is not None:
                by = view.model.table_column(column)
                if not self.table.sort_ready(by):
                    await asyncio.to_thread(self.table.prepare_sort, by)

    def clear(self) -> None:
        """No connection (any more): the load stops, no user of the old one stays shown anywhere.

        What the stopped load still reports on its way out is ignored (`gateway` is None).
        """
        self.loader.cancel()
        self._drop_reading()
        self.gateway = None
        self.policy_note = ""
        self.table_loaded = False
        self._snapshot_at = None
        self.table.clear()
        self._stale.clear()
        self._say_fresh("", "")
        for view in self.views.values():
            view.set_connected(False)
            view.model.table_reset()

    def users_changed_here(self, user_ids: Sequence[str], *, status: str | None) -> None:
        """Users this console just deleted (`status` None: hidden) or disabled or enabled (their new
        status): the pages and counts follow at once, without a reload (batch after batch)."""
        rows = (
            self.table.hide_users(user_ids) if status is None else self.table.set_statuses(user_ids, status)
        )
        if len(rows):
            self._rows_changed(rows)

    def users_updated_here(self, users: Sequence[User]) -> None:
        """Users this console just changed (a conversion): their rows, kinds and counts follow at once."""
        added, changed = self.table.upsert(users)
        if len(added):
            self._rows_added(added)
        if len(changed):
            self._rows_changed(changed)

    def refresh(self) -> None:
        """Reload the users of the current connection; rows, selection and scroll position stay."""
        if self.gateway is not None:
            for view in self.views.values():
                view.set_loading(True)
            self._start()

    def cancel(self) -> None:
        """Stop the load under way (the Cancel button, a profile switch); the rows loaded stay."""
        self.loader.cancel()

    @property
    def loading(self) -> bool:
        """Whether a load of the connection's users is under way."""
        return self.loader.running

    async def wait(self) -> None:
        """Until the load under way (if any) has ended, however it ends."""
        await self.loader.wait()

    async def close(self) -> None:
        """Stop the load and the pages' background work, and wait until both have ended."""
        self.loader.cancel()
        self._drop_reading()
        with contextlib.suppress(asyncio.CancelledError):
            await self.loader.wait()
        for view in self.views.values():
            await view.aclose()
        if self._writing is not None:  # not cancelled: a start after this one reads it whole
            await asyncio.wait([self._writing])

    async def snapshot_written(self) -> None:
        """Until the users snapshot being written (if one is) has been written, or given up."""
        if self._writing is not None:
            await asyncio.wait([self._writing])

    def _drop_reading(self) -> None:
        """A snapshot reading not taken by a connection: dropped (collections resume)."""
        if self._snapshot is not None:
            self._snapshot.drop()
            self._snapshot = None

    def _start(self, *, since: float | None = None) -> None:
        assert self.gateway is not None
        self.loading_changed.emit(True)
        self.loader.start(self.gateway, since=since)

    def set_active(self, key: str | None) -> None:
        """The page the window shows (None: treat every page as shown).

        Pages not shown skip the updates of a load and catch up, keeping their selection, when they
        are shown: at 100k users, laying out four tables per update is what stalls the window.
        """
        self._active = key
        if key in self._stale:
            self._stale.discard(key)
            self.views[key].model.resync()

    def _updating(self) -> list[UsersView]:
        """The views to update now; the others are marked to catch up when shown."""
        if self._active is None:
            return list(self.views.values())
        self._stale.update(key for key in self.views if key != self._active)
        return [self.views[self._active]] if self._active in self.views else []

    def _rows_added(self, rows: range) -> None:
        if self.gateway is None:  # a load stopped by `clear`, flushing: its rows are gone
            return
        for view in self._updating():
            view.model.table_rows_appended(rows)
        self._emit_counts()

    def _rows_changed(self, rows: np.ndarray) -> None:
        if self.gateway is None:
            return
        for view in self._updating():
            view.model.table_rows_changed(rows)
        self._emit_counts()

    def _emit_counts(self) -> None:
        counts = self.table.counts()
        totals = {key: (counts[kind] if kind else sum(counts.values())) for key, kind in PAGE_KINDS.items()}
        self.counts_changed.emit(totals)

    def _failed(self, text: str) -> None:
        if self.gateway is None:
            self.loading_changed.emit(False)
            return
        for view in self.views.values():
            view.set_error(text)
        self._ended(text, error=True)

    def _caught_up(self, text: str) -> None:
        """The users created or changed since the snapshot are shown; the full pass begins."""
        if self.gateway is None or self._snapshot_at is None:
            return
        when, now = _moment(self._snapshot_at), _moment(time.time())
        self.message.emit(f"{text}; reading every user to find those deleted since {when}…", False)
        self._say_fresh(
            f"Users as of {now}, sign-ins and deletions as of {when}",
            f"Users created or changed up to {now} are shown. Sign-ins since {when} (and so expiries) "
            f"and users deleted since {when} show once every user has been read again.",
        )

    def _finished(self, text: str) -> None:
        self._ended(text, error=False)
        if self.gateway is None:
            return
        taken_at = self.loader.full_pass_started
        self._snapshot_at = None
        when = _moment(taken_at)
        self._say_fresh(f"Users up to date ({when})", f"Every user was read from {when} on.")
        self.load_succeeded.emit()
        if self._place is not None and self._place.still_kept():
            self._writing = asyncio.ensure_future(self._write_snapshot(self._place, taken_at, self._writing))

    async def _write_snapshot(
        self, place: SnapshotPlace, taken_at: float, earlier: asyncio.Task[None] | None
    ) -> None:
        """Write the table as the next start's snapshot, in a worker thread, after the write before
        (if it still runs); a failure is logged and said (the next start loads every user again)."""
        if earlier is not None:
            await asyncio.wait([earlier])
        path = snapshot_path(place.profile)
        try:
            for attempt in range(WRITE_ATTEMPTS):
                if attempt:  # the table changed while it was read (a cull, a page's update)
                    await asyncio.sleep(WRITE_RETRY_SECONDS)
                if not place.still_kept() or self._place is not place or self.gateway is None:
                    return  # turned off, or the table is no longer this connection's
                if await asyncio.to_thread(
                    write_snapshot,
                    self.table,
                    path,
                    profile=place.profile,
                    project_id=place.project_id,
                    taken_at=taken_at,
                    wanted=place.still_kept,
                ):
                    return
            log.info("The users snapshot %s was not written: the users kept changing", path)
        except OSError as exc:
            if not place.still_kept():  # turned off (its half-written file removed) meanwhile
                return
            log.warning("Could not write the users snapshot %s: %s", path, exc)
            self.message.emit(
                f"Could not write the users snapshot {path} ({exc.strerror or exc}): the next start "
                "loads every user again. Check the disk space and the permissions of that folder.",
                True,
            )

    def _say_fresh(self, short: str, whole: str) -> None:
        self.freshness_changed.emit(short, whole)

    def _ended(self, text: str, *, error: bool) -> None:
        if self.gateway is None:  # cleared meanwhile: nothing loaded is shown, nothing to say
            self.loading_changed.emit(False)
            return
        self.table_loaded = True
        if self._snapshot_at is not None:
            when = _moment(self._snapshot_at)
            self._say_fresh(
                f"Users as of {when}, not refreshed",
                f"The users shown are a local snapshot taken {when}, with what was read since; the "
                "refresh stopped. Refresh (F5) to read every user again.",
            )
        for view in self.views.values():
            if not error:
                view.set_loading(False)
        self.loading_changed.emit(False)
        self.message.emit(text, error)


def _moment(epoch: float) -> str:
    """A time for the status bar: "14:02" today, "27 Nov 14:02" another day."""
    moment = datetime.fromtimestamp(epoch)
    if moment.date() == datetime.now().date():
        return moment.strftime("%H:%M")
    return moment.strftime("%d %b %H:%M").lstrip("0")
