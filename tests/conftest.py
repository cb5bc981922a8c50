"""Shared fixtures: a real sandbox child process and real SDK clients pointed at it over HTTP."""

from __future__ import annotations

import gc
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from descope import DescopeClient, DescopeClientAsync

from anonconsole.sandbox.process import SandboxOptions, SandboxProcess


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
