"""GUI test setup: offscreen Qt, the app's own qasync loop, throw-away app dirs, no user keyring."""

from __future__ import annotations

import asyncio
import os

# Before anything imports Qt: no display is needed, and screenshots are deterministic.
os.environ["QT_QPA_PLATFORM"] = "offscreen"

from collections.abc import Callable, Coroutine, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, TypeVar  # noqa: E402

import keyring  # noqa: E402
import keyring.backends.fail  # noqa: E402
import pytest  # noqa: E402
import qasync  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from anonconsole import app as console_app  # noqa: E402
from anonconsole import paths  # noqa: E402

T = TypeVar("T")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here needs a QApplication: mark them `gui` (qutebrowser does the same)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.gui)


@pytest.fixture(autouse=True)
def app_dirs(tmp_path: Path) -> Iterator[Path]:
    """Config, data, cache and logs of the console under tmp: tests never touch the user's."""
    paths.init(tmp_path / "anonconsole-home")
    yield tmp_path / "anonconsole-home"
    paths.init(None)


@pytest.fixture(autouse=True)
def no_keyring() -> Iterator[None]:
    """The machine's keyring (a real Secret Service under ./dev test) is never written by GUI tests;
    the console must cope without one, which is what these tests see."""
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def console_qapp(qapp: QApplication) -> QApplication:
    """pytest-qt's QApplication set up as `anonconsole` sets up its own (name, style, palette)."""
    console_app.create_application("light")
    return qapp


@pytest.fixture
def arun(console_qapp: QApplication) -> Callable[..., Any]:
    """Run a coroutine to completion on a fresh qasync loop, the way `run_gui` runs the console.

    Unhandled errors in tasks fail the test (qasync's own test suite does the same). Work the
    scenario leaves running (a window's users load) is cancelled and awaited while the loop still
    runs: qasync's `run_until_complete` processes Qt events once more after the loop stops, and a
    task stepped there has no running loop (`ensure_future` then fails and leaks its coroutine).
    """

    def run(coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        errors: list[dict[str, Any]] = []

        async def guarded() -> T:
            asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
            try:
                return await asyncio.wait_for(coro, timeout)
            finally:
                await _end_other_tasks()

        with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(console_qapp)) as runner:
            loop = runner.get_loop()
            result = runner.run(guarded())
        left = [task for task in asyncio.all_tasks(loop) if not task.done()]
        assert not left, f"tasks left pending when the loop closed: {left}"
        assert not errors, f"unhandled errors in the event loop: {errors}"
        return result

    return run


async def _end_other_tasks() -> None:
    """Cancel every other task of the running loop and wait for them, including tasks they start."""
    me = asyncio.current_task()
    while others := [task for task in asyncio.all_tasks() if task is not me]:
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
