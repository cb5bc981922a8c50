"""The users area: one table of a connection's users, shown by four pages, loaded in the background.

The main window puts `views` into its navigation and shows `counts_changed` next to each entry;
`progress` feeds its status-bar progress with a cancel button.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal

from anonconsole.core.classify import ANONYMOUS_TENANT_NAME, AnonymousPolicy
from anonconsole.core.errors import GatewayError
from anonconsole.core.records import User
from anonconsole.core.user_pages import PAGE_KINDS as PAGE_KINDS
from anonconsole.core.user_table import UserTable
from anonconsole.models.users_loader import UsersLoader
from anonconsole.operations.anonymous_tenant import anonymous_policy
from anonconsole.views.users_view import UsersView

if TYPE_CHECKING:
    from anonconsole.gateway import Gateway


class UsersArea(QObject):
    """Owns the users table, its loader and the four users pages.

    Signals:
        counts_changed(object): {page key: users of that kind} (test users excluded).
        progress(str, int, int): phase, done, total while loading.
        loading_changed(bool): a load started (True) or ended (False).
        message(str, bool): a sentence for the status bar, and whether it is an error.
        load_succeeded(): a load of the connection's users ended well (every page and sign-in).
    """

    counts_changed = Signal(object)
    progress = Signal(str, int, int)
    loading_changed = Signal(bool)
    message = Signal(str, bool)
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
        self.loader.rows_added.connect(self._rows_added)
        self.loader.rows_changed.connect(self._rows_changed)
        self.loader.progress.connect(self.progress)
        self.loader.finished.connect(self._finished)
        self.loader.failed.connect(self._failed)
        self.loader.cancelled.connect(
            lambda: self._ended("Loading cancelled; the users loaded so far are shown.", error=False)
        )
        for view in self.views.values():
            view.retry_requested.connect(self.refresh)

    async def connect_to(
        self,
        gateway: Gateway,
        *,
        tenant_id: str = "",
        tenant_name: str = ANONYMOUS_TENANT_NAME,
        grace_days: int = 0,
    ) -> None:
        """Show another connection's users: forget the old ones, find the anonymous policy, load."""
        self.loader.cancel()
        await self.loader.wait()
        self.gateway = gateway
        self.table_loaded = False
        self.table.clear()
        for view in self.views.values():
            view.set_connected(True)
            view.gateway = gateway
            view.details.clear()
            view.model.table_reset()
            view.set_loading(True)
        self._emit_counts()
        try:
            policy, self.policy_note = await anonymous_policy(
                gateway, tenant_id=tenant_id, tenant_name=tenant_name, grace_days=grace_days
            )
        except GatewayError as exc:
            self._failed(exc.user_message)
            return
        self.table.set_policy(policy)
        self.message.emit(self.policy_note, False)
        self._start()

    def clear(self) -> None:
        """No connection (any more): the load stops, no user of the old one stays shown anywhere.

        What the stopped load still reports on its way out is ignored (`gateway` is None).
        """
        self.loader.cancel()
        self.gateway = None
        self.policy_note = ""
        self.table_loaded = False
        self.table.clear()
        self._stale.clear()
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
        with contextlib.suppress(asyncio.CancelledError):
            await self.loader.wait()
        for view in self.views.values():
            await view.aclose()

    def _start(self) -> None:
        assert self.gateway is not None
        self.loading_changed.emit(True)
        self.loader.start(self.gateway)

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

    def _finished(self, text: str) -> None:
        self._ended(text, error=False)
        if self.gateway is not None:
            self.load_succeeded.emit()

    def _ended(self, text: str, *, error: bool) -> None:
        if self.gateway is None:  # cleared meanwhile: nothing loaded is shown, nothing to say
            self.loading_changed.emit(False)
            return
        self.table_loaded = True
        for view in self.views.values():
            if not error:
                view.set_loading(False)
        self.loading_changed.emit(False)
        self.message.emit(text, error)
