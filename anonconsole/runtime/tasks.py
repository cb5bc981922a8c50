"""The owner of background work: no task is fire-and-forget, and blocking calls leave the UI thread.

asyncio keeps only weak references to tasks, so a task nobody holds can vanish mid-run, and an
error nobody awaits is lost. A `TaskOwner` holds its tasks, reports their unexpected failures
through the message bridge, replaces a named task when the same work starts again (a newer lookup
makes the older one moot), and cancels and awaits them all when its owner closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from anonconsole.runtime import messages

T = TypeVar("T")


async def in_thread(call: Callable[[], T]) -> T:
    """Run a blocking keyring or file call in a worker thread, off the UI thread.

    Always a closure, never `to_thread(f, *args)`: qasync's executor logs the submitted callable and
    its result at DEBUG, so neither may be a key (results carrying one are `Connection`s, whose repr
    hides it).
    """
    return await asyncio.to_thread(call)


class TaskOwner:
    """Holds the background tasks of one object (a window, a dialog, a manager) until they end.

    Attributes:
        name: who owns the tasks, for task names in logs and tracebacks.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: set[asyncio.Task[Any]] = set()
        self._named: dict[str, asyncio.Task[Any]] = {}

    def start(self, work: Coroutine[Any, Any, T], *, key: str | None = None) -> asyncio.Task[T]:
        """Run `work` in the background; with `key`, a task started earlier under it is cancelled."""
        if key is not None:
            self.cancel(key)
        task = asyncio.ensure_future(work)
        task.set_name(f"{self.name}:{key or getattr(work, '__name__', 'task')}")
        self._tasks.add(task)
        if key is not None:
            self._named[key] = task
        task.add_done_callback(lambda done: self._finished(done, key))
        return task

    def adopt(self, task: asyncio.Task[T]) -> asyncio.Task[T]:
        """Hold a task started elsewhere (a qasync `asyncSlot`) like one started here."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def running(self, key: str) -> bool:
        """Whether the task started under `key` is still running."""
        task = self._named.get(key)
        return task is not None and not task.done()

    def cancel(self, key: str) -> None:
        """Cancel the task started under `key`, if it still runs."""
        task = self._named.pop(key, None)
        if task is not None and not task.done():
            task.cancel()

    def cancel_all(self) -> list[asyncio.Task[Any]]:
        """Cancel every task; returns them, for a caller that awaits their end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        return tasks

    async def aclose(self) -> None:
        """Cancel every task and wait until all of them have ended."""
        tasks = self.cancel_all()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def __len__(self) -> int:
        return len(self._tasks)

    def _finished(self, task: asyncio.Task[Any], key: str | None) -> None:
        self._tasks.discard(task)
        if key is not None and self._named.get(key) is task:
            del self._named[key]
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            with contextlib.suppress(Exception):  # reporting must never raise inside the loop
                messages.unexpected(type(error), error, error.__traceback__)
