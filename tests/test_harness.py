"""The `arun` fixture itself: what CI once tripped on (an unawaited coroutine blamed on a later test)."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def no_current_loop() -> None:
    """As after a plain `asyncio.Runner` (pytest-asyncio's) closed: no current loop for the thread."""
    asyncio.set_event_loop(None)


def test_work_a_scenario_leaves_running_ends_while_the_loop_runs(
    arun: Callable[..., Any], no_current_loop: None
) -> None:
    """A load still running when the scenario returns must not be stepped outside the loop."""
    stepped_without_loop: list[BaseException] = []

    async def child() -> None:
        await asyncio.sleep(0)

    async def load() -> None:  # like a users load: starts a task for each batch it receives
        while True:
            await asyncio.sleep(0)
            try:
                asyncio.ensure_future(child())  # noqa: RUF006 - the fire-and-forget under test
            except RuntimeError as exc:  # there is no running loop where this step runs
                stepped_without_loop.append(exc)
                raise

    async def scenario() -> None:
        asyncio.ensure_future(load())  # noqa: RUF006 - the fire-and-forget under test
        await asyncio.sleep(0.01)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        arun(scenario())
        gc.collect()
    assert stepped_without_loop == []
    assert not [w for w in caught if "never awaited" in str(w.message)]
