"""CPU work in turns on the loop: results unchanged, and other work runs between the slices."""

from __future__ import annotations

import asyncio
import time

from anonconsole.runtime import cpu_turns
from anonconsole.runtime.cpu_turns import cpu_turn, map_in_slices


def slow_double(value: int) -> int:
    deadline = time.perf_counter() + 0.0005
    while time.perf_counter() < deadline:
        pass
    return value * 2


def test_map_in_slices_keeps_order_and_hands_the_loop_back() -> None:
    ticks: list[float] = []

    async def ticker(stop: asyncio.Event) -> None:
        while not stop.is_set():
            ticks.append(time.perf_counter())
            await asyncio.sleep(0)

    async def scenario() -> list[int]:
        stop = asyncio.Event()
        watcher = asyncio.ensure_future(ticker(stop))
        await asyncio.sleep(0)
        ticks.clear()
        result = await map_in_slices(slow_double, range(200))  # ~100 ms of work
        stop.set()
        await watcher
        return result

    assert asyncio.run(scenario()) == [2 * n for n in range(200)]
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert len(ticks) > 10  # the other task ran between slices...
    assert max(gaps) < cpu_turns.SLICE_SECONDS + 0.02  # ...never after more than about one slice


def test_slices_of_several_tasks_take_turns() -> None:
    """Two tasks' slices never run back to back in one pass: the loop runs between them."""
    log: list[str] = []

    async def worker(name: str) -> None:
        for _ in range(3):
            async with cpu_turn():
                log.append(name)

    async def other() -> None:
        for _ in range(30):  # outlasts the slices: each takes two passes (it begins on one of its own)
            log.append("loop")
            await asyncio.sleep(0)

    async def scenario() -> None:
        await asyncio.gather(worker("a"), worker("b"), other())

    asyncio.run(scenario())
    slices = [i for i, entry in enumerate(log) if entry != "loop"]
    assert sorted(log[i] for i in slices) == ["a", "a", "a", "b", "b", "b"]
    assert all(b - a > 1 for a, b in zip(slices, slices[1:], strict=False))


def test_a_slice_does_not_begin_at_the_tail_of_other_work() -> None:
    """Work a task did before asking for a turn (decoding a page) is followed by a pass of the loop:
    the two do not add up to one long stall."""
    log: list[str] = []

    async def worker() -> None:
        log.append("decoded a page")
        async with cpu_turn():
            log.append("slice")

    async def other() -> None:
        for _ in range(4):
            log.append("loop")
            await asyncio.sleep(0)

    async def scenario() -> None:
        await asyncio.gather(worker(), other())

    asyncio.run(scenario())
    assert log.index("slice") - log.index("decoded a page") > 1
