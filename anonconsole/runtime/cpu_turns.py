"""CPU work on the event loop in slices short enough for the window to stay smooth.

Worker threads do not help a PySide window. Painting a table calls back into Python hundreds of
times a frame, and each call waits for the GIL while a worker thread runs Python: measured here, a
14 ms paint of the users table takes 100 ms next to one busy Python thread, and 640 ms next to one
decoding JSON. So the CPU work of a load (building records, preparing table columns) runs on the
loop itself, in slices of `SLICE_SECONDS`.

Slices of all tasks take turns: one slice, then everything else that is ready (painting, input,
network), then the next slice. Were each task to pause on its own, the loop would run one slice of
every busy task back to back before Qt got a turn. A slice also begins on a pass of the loop of its
own, not at the tail of what its task did before it asked for the turn (decoding a page of JSON:
together they made 30-45 ms stalls at 1,000,000 users). On a plain asyncio loop (the command line)
the turns cost microseconds.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Callable, Generator, Iterable
from contextlib import asynccontextmanager
from typing import TypeVar, cast

T = TypeVar("T")
R = TypeVar("R")

SLICE_SECONDS = 0.004  # a quarter of a 60 Hz frame: paints and input fit between two slices

_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def cpu_turn() -> AsyncIterator[float]:
    """Hold the loop's CPU turn for one slice of work; yields the slice's deadline (perf_counter).

    Leaving hands the loop back: the next slice (this task's or another's) starts no earlier than
    the loop's next pass, after whatever else became ready meanwhile.
    """
    loop = asyncio.get_running_loop()
    turn = _turns.get(loop)
    if turn is None:
        turn = _turns[loop] = asyncio.Lock()
    async with turn:
        await asyncio.sleep(0)  # the work this task did before asking is followed by a pass of the loop
        yield time.perf_counter() + SLICE_SECONDS
        # Still holding the turn: the loop's other ready work (paints, input, network) runs first,
        # and no other slice can start in this pass.
        await asyncio.sleep(0)


async def map_in_slices(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """`[fn(item) for item in items]` in CPU turns (for `fn`s of microseconds, like record builders)."""
    results: list[R] = []
    append = results.append
    pending = iter(items)
    while True:
        async with cpu_turn() as deadline:
            for item in pending:
                append(fn(item))
                if time.perf_counter() >= deadline:
                    break
            else:
                return results


async def run_steps(steps: Generator[object, None, R]) -> R:
    """Drive a generator of short steps (a few ms each) to its return value, in CPU turns: as many
    steps as fit in a slice, and at least one however late the turn began."""
    while True:
        async with cpu_turn() as deadline:
            try:
                next(steps)
                while time.perf_counter() < deadline:
                    next(steps)
            except StopIteration as done:
                return cast(R, done.value)
