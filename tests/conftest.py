"""Shared fixtures.

- A real sandbox child process and real SDK clients pointed at it over HTTP.
- GUI tests (any test using pytest-qt's `qapp`, directly or through `qtbot`, `console_qapp` or `arun`):
  offscreen Qt, the app's own qasync loop, throw-away app dirs, no user keyring; marked `gui`.
"""

from __future__ import annotations

import os

# Before anything imports Qt: no display is needed, and screenshots are deterministic.
os.environ["QT_QPA_PLATFORM"] = "offscreen"

import asyncio
import gc
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import keyring
import keyring.backends.fail
import pytest
import pytest_asyncio
import qasync
from descope import DescopeClient, DescopeClientAsync
from PySide6.QtWidgets import QApplication

from anonconsole.launcher.process import SandboxOptions, SandboxProcess
from anonconsole.settings import paths

T = TypeVar("T")


@dataclass
class RunningSandbox:
    """A started sandbox and what a client needs to reach it.

    Attributes:
        url: base URL (http://127.0.0.1:<port>).
        project_id: the sandbox's project.
        management_key: the random key it was started with (tests only; never logged).
        db: its SQLite file.
        process: the child process handle.
    """

    url: str
    project_id: str
    management_key: str
    db: Path
    process: SandboxProcess

    def client(self, **kwargs: Any) -> DescopeClient:
        return DescopeClient(
            project_id=self.project_id,
            management_key=self.management_key,
            base_url=self.url,
            **kwargs,
        )

    def async_client(self, **kwargs: Any) -> DescopeClientAsync:
        return DescopeClientAsync(
            project_id=self.project_id,
            management_key=self.management_key,
            base_url=self.url,
            **kwargs,
        )

    def mgmt_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.project_id}:{self.management_key}"}

    def set_faults(self, **knobs: Any) -> dict[str, Any]:
        """Change the running sandbox's fault knobs (latencyMs, errorRate, dropRate, paths)."""
        response = httpx.post(f"{self.url}/_sandbox/faults", json=knobs, headers=self.mgmt_headers())
        response.raise_for_status()
        return response.json()


def _start(directory: Path, **options: Any) -> RunningSandbox:
    key = secrets.token_urlsafe(32)
    options.setdefault("rate_limits", "off")
    sandbox_options = SandboxOptions(db=directory / "sandbox.db", **options)
    process = SandboxProcess(sandbox_options, key, state_file=directory / "state.json")
    url = process.start(timeout=120)
    return RunningSandbox(url, sandbox_options.project_id, key, sandbox_options.db, process)


@pytest.fixture(autouse=True)
def garbage_of_this_test() -> Iterator[None]:
    """Collect at the end of each test. Once a GUI test sets the console up, automatic collection is
    off (`gc_policy`: the console collects from a timer on the UI thread), so garbage a test leaves
    (a task that never ran, say) would otherwise surface in some later test."""
    yield
    gc.collect()


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    """One empty sandbox for the session, rate limits off. Tests must use unique login ids."""
    running = _start(tmp_path_factory.mktemp("sandbox"))
    yield running
    running.process.stop()


@pytest.fixture
def start_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RunningSandbox]]:
    """Factory for a test's own sandbox (rate limits on, faults, demo data); all stopped after."""
    started: list[RunningSandbox] = []

    def start(**options: Any) -> RunningSandbox:
        running = _start(tmp_path_factory.mktemp("own-sandbox"), **options)
        started.append(running)
        return running

    yield start
    for running in started:
        running.process.stop()


@pytest.fixture
def sdk(sandbox: RunningSandbox) -> DescopeClient:
    return sandbox.client()


@pytest_asyncio.fixture
async def sdk_async(sandbox: RunningSandbox) -> AsyncIterator[DescopeClientAsync]:
    client = sandbox.async_client()
    try:
        yield client
    finally:
        await client.aclose()


# -- GUI tests ---------------------------------------------------------------------------------------


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs a QApplication (it uses `qapp`, directly or through `qtbot`, `console_qapp` or
    `arun`) is marked `gui`, wherever it lives (qutebrowser does the same)."""
    for item in items:
        if "qapp" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.gui)


@pytest.fixture(autouse=True)
def gui_isolation(request: pytest.FixtureRequest) -> None:
    """Every GUI test gets `app_dirs` and `no_keyring` (before its own fixtures, so one of them may
    install a working keyring still); other tests, like the real Secret Service's, are left alone."""
    if "qapp" in request.fixturenames:
        request.getfixturevalue("app_dirs")
        request.getfixturevalue("no_keyring")


@pytest.fixture
def app_dirs(tmp_path: Path) -> Iterator[Path]:
    """Config, data, cache and logs of the console under tmp: tests never touch the user's."""
    paths.init(tmp_path / "anonconsole-home")
    yield tmp_path / "anonconsole-home"
    paths.init(None)


@pytest.fixture
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
    # Imported here, not at the top: tests without Qt do not load the whole console.
    from anonconsole.app import run as console_app

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
