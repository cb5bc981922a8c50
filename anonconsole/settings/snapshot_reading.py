"""A profile's users snapshot read in a worker thread, from as early as the profile is known.

The read takes ~0.8 s of a worker thread at 1,000,000 users. Started as the process starts (before
the window is built and the connection made, which take about as long), it is mostly over by the
time the users can be shown; started later, it is waited for.

While the thread builds its million lasting containers (login IDs, tenants), the UI thread's
collector is paused (`gc_policy.collections_paused`): a young collection would walk all of them only
to find them alive. They are exempted from collection once read. A reading dropped unread still
ends the pause, and what it read is freed by reference counting.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from pathlib import Path

from anonconsole.core.user_table import TableColumns
from anonconsole.runtime import gc_policy
from anonconsole.settings.user_snapshot import read_snapshot

Snapshot = tuple[TableColumns, float]  # what `read_snapshot` gives: the rows, when they were taken


class SnapshotReading:
    """One read of the snapshot at `path` for `project_id`, under way in a thread of its own.

    Made and used on the UI thread. `result` once, or `drop`.
    """

    def __init__(self, path: Path, project_id: str) -> None:
        self.path = path
        self.project_id = project_id
        self._pause = contextlib.ExitStack()
        self._pause.enter_context(gc_policy.collections_paused())
        self._future: concurrent.futures.Future[Snapshot] = concurrent.futures.Future()
        threading.Thread(target=self._read, name="snapshot-read", daemon=True).start()

    def is_of(self, path: Path, project_id: str) -> bool:
        """Whether this is the reading of `path` for `project_id`."""
        return self.path == path and self.project_id == project_id

    async def result(self) -> Snapshot:
        """The rows read and when they were taken (`read_snapshot`'s SnapshotError when there is no
        usable snapshot), their objects exempted from collection."""
        try:
            snapshot = await asyncio.wrap_future(self._future)
            gc_policy.exempt_objects_alive_now()
            return snapshot
        finally:
            self.drop()

    def drop(self) -> None:
        """Not wanted (any more): collections resume; the thread ends on its own."""
        self._pause.close()

    def _read(self) -> None:
        try:
            self._future.set_result(read_snapshot(self.path, project_id=self.project_id))
        except BaseException as exc:  # handed to whoever awaits `result`
            self._future.set_exception(exc)
