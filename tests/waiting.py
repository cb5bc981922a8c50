"""Waiting on the event loop for the console's background work, instead of sleeping blindly.

Prefer a signal of the code under test when one says exactly what is awaited:

- `emitted(signal)`: the emission that what the block does causes. The waiter is connected when the
  block starts, so an emission during the block is not missed, and the block's end awaits it:

      async with emitted(wizard.applied) as applied:
          apply_button.click()
      (ok,) = applied.args

- `until_signal(signal, condition)`: a state that may already hold (work started earlier may have got
  there first): checked at once, then again after each emission of the signal that announces it.

`until(condition)` polls, for conditions no signal announces.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from PySide6.QtCore import SignalInstance


async def until(condition: Callable[[], bool], timeout: float = 90, what: str = "the condition") -> None:
    """Let the loop run until `condition()` holds; fail after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


class Emission:
    """What `emitted` caught.

    Attributes:
        args: the arguments of the emission awaited (set once the `async with` block has ended).
    """

    args: tuple[Any, ...] = ()


@contextlib.asynccontextmanager
async def emitted(
    signal: SignalInstance,
    *,
    check: Callable[..., bool] | None = None,
    timeout: float = 90,
    what: str = "",
) -> AsyncIterator[Emission]:
    """Once the block has run, await the first emission of `signal` since the block started (with
    arguments that pass `check`, if given). Fails after `timeout` seconds, naming `what` (by default
    the signal). The slot is disconnected afterwards, however the wait ends.

    `check` runs on the loop once the code that emitted has returned to it, not inside the emission:
    a signal is often emitted just before the state it announces is complete (`loading_changed(True)`
    precedes the loader's start), and may come from a worker thread.
    """
    loop = asyncio.get_running_loop()
    caught: asyncio.Future[tuple[Any, ...]] = loop.create_future()

    def settle(args: tuple[Any, ...]) -> None:
        if not caught.done() and (check is None or check(*args)):
            caught.set_result(args)

    def slot(*args: Any) -> None:
        loop.call_soon_threadsafe(settle, args)

    emission = Emission()
    signal.connect(slot)
    try:
        yield emission
        try:
            async with asyncio.timeout(timeout):
                emission.args = await caught
        except TimeoutError:
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {what or _name(signal)}"
            ) from None
    finally:
        signal.disconnect(slot)


async def until_signal(
    signal: SignalInstance, condition: Callable[[], bool], *, timeout: float = 90, what: str = ""
) -> None:
    """Return once `condition()` holds: at once if it already does, else after an emission of `signal`
    that leaves it holding. Fails after `timeout` seconds, naming `what` (by default the signal)."""
    if condition():
        return
    async with emitted(signal, check=lambda *_args: condition(), timeout=timeout, what=what):
        pass


def _name(signal: SignalInstance) -> str:
    """'the signal applied(bool)', from PySide6's `<PySide6.QtCore.SignalInstance applied(bool) at 0x…>`."""
    return "the signal " + repr(signal).split(" at 0x")[0].rsplit(" ", 1)[-1]
