"""Loads every user of a connection into a `UserTable` in the background, page by page.

Pages come from the gateway (first page at once, the rest concurrently within the rate limit) and
are appended as they arrive; then last sign-ins come from the history API in batches. Everything runs
as one asyncio task on the Qt loop (qasync), so cancelling is cancelling the task, and the UI thread
only ever does the short work of merging one page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from PySide6.QtCore import QObject, Signal

from anonconsole.core.classify import AnonymousPolicy, format_duration
from anonconsole.core.records import UserFilter, latest_logins
from anonconsole.core.user_table import UserTable
from anonconsole.gateway import Gateway, GatewayError

log = logging.getLogger(__name__)

PAGE_SIZE = 1000  # the sandbox's (and our) maximum page for user search
HISTORY_CHUNK = 5000  # user ids per progress step; the gateway splits them into concurrent batches
HISTORY_BATCH = 1000  # user ids per history request
EVERYONE = UserFilter(test_users="include")


class UsersLoader(QObject):
    """Fills a UserTable from a gateway, reporting each step by signal.

    Signals:
        rows_added(range): new table rows (a page arrived).
        rows_changed(object): numpy array of table rows updated in place.
        progress(str, int, int): phase ("users" or "sign-ins"), done, total.
        finished(str): the load ended; a sentence saying how ("Loaded 3,005 users in 2.1 s").
        failed(str): the load stopped on an error; the sentence says what and that loaded rows stay.
        cancelled(): the user (or a new load) cancelled it.
    """

    rows_added = Signal(object)
    rows_changed = Signal(object)
    progress = Signal(str, int, int)
    finished = Signal(str)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, table: UserTable, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.table = table
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, gateway: Gateway) -> asyncio.Task[None]:
        """Start a (re)load; a load still running is cancelled first."""
        self.cancel()
        self._task = asyncio.ensure_future(self._run(gateway))
        return self._task

    def cancel(self) -> None:
        if self.running:
            assert self._task is not None
            self._task.cancel()

    async def wait(self) -> None:
        """Until the current load (if any) ends, however it ends."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.shield(self._task)

    async def _run(self, gateway: Gateway) -> None:
        started = time.perf_counter()
        try:
            seen = await self._load_users(gateway)
            gone = self.table.mark_missing(seen)
            if len(gone):
                self.rows_changed.emit(gone)
            await self._load_sign_ins(gateway, sorted(seen))
        except asyncio.CancelledError:
            self.cancelled.emit()
            raise
        except GatewayError as exc:
            loaded = len(self.table)
            self.failed.emit(f"{exc.user_message} The {loaded:,} users loaded so far are still shown.")
            return
        elapsed = time.perf_counter() - started
        self.finished.emit(f"Loaded {len(seen):,} users in {elapsed:.1f} s")

    async def _load_users(self, gateway: Gateway) -> set[str]:
        seen: set[str] = set()
        total = 0
        pages = gateway.iter_user_pages(EVERYONE, page_size=PAGE_SIZE)
        try:
            async for page in pages:
                total = max(total, page.total)
                new_rows, updated = self.table.upsert(page.users)
                seen.update(u.user_id for u in page.users)
                if len(new_rows):
                    self.rows_added.emit(new_rows)
                if len(updated):
                    self.rows_changed.emit(updated)
                self.progress.emit("users", len(seen), max(total, len(seen)))
        finally:
            await pages.aclose()
        return seen

    async def _load_sign_ins(self, gateway: Gateway, user_ids: Sequence[str]) -> None:
        done = 0
        for first in range(0, len(user_ids), HISTORY_CHUNK):
            chunk = user_ids[first : first + HISTORY_CHUNK]
            records = await gateway.login_history(chunk, batch_size=HISTORY_BATCH)
            changed = self.table.set_last_sign_ins(latest_logins(records))
            done += len(chunk)
            if len(changed):
                self.rows_changed.emit(changed)
            self.progress.emit("sign-ins", done, len(user_ids))


async def anonymous_policy(
    gateway: Gateway, *, tenant_id: str = "", tenant_name: str = "Anonymous Users", grace_days: int = 0
) -> tuple[AnonymousPolicy, str]:
    """The connection's anonymous tenant and lifetime, with a sentence for the status bar.

    The tenant is the profile's tenant ID, else the tenant with the profile's tenant name. Without
    one, nobody is anonymous (and the sentence says to run the tenant setup).
    """
    tenant = (
        await gateway.load_tenant(tenant_id) if tenant_id else await gateway.find_tenant_by_name(tenant_name)
    )
    if tenant is None:
        return AnonymousPolicy("", None), f'No tenant named "{tenant_name}": run the tenant setup.'
    settings = await gateway.load_tenant_settings(tenant.id)
    grace = grace_days * 86400
    if not settings.enabled or settings.refresh_seconds is None:
        note = f'"{tenant.name}" has no custom session management: anonymous lifetimes are unknown.'
        return AnonymousPolicy(tenant.id, None, grace), note
    lifetime = format_duration(settings.refresh_seconds)
    return AnonymousPolicy(
        tenant.id, settings.refresh_seconds, grace
    ), f'"{tenant.name}": anonymous users live {lifetime}.'
