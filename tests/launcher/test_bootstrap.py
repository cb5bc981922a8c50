"""The sandbox bootstrap on the app's own qasync loop: start a child, reuse it, stop only its own."""

from __future__ import annotations

import secrets as stdlib_secrets
from collections.abc import Callable
from typing import Any

from anonconsole.launcher.bootstrap import SandboxBootstrap
from anonconsole.launcher.process import SandboxOptions, ahealth
from anonconsole.settings import paths


def test_bootstrap_starts_a_child_reuses_it_and_stops_only_its_own(arun: Callable[..., Any]) -> None:
    options = SandboxOptions(db=paths.sandbox_db(), rate_limits="off")
    state = paths.sandbox_state_file()
    key = stdlib_secrets.token_urlsafe(32)

    async def scenario() -> None:
        first = SandboxBootstrap(options, state)
        assert await first.areuse(key) is None  # nothing running yet
        url = await first.astart(key)
        assert first.started_here
        assert state.exists()

        second = SandboxBootstrap(options, state)
        assert await second.areuse(key) == url
        assert not second.started_here
        stranger = SandboxBootstrap(options, state)
        assert await stranger.areuse("another key entirely") is None

        await second.astop()  # a reused sandbox is not ours to stop
        assert await ahealth(url) is not None
        await first.astop()
        assert await ahealth(url) is None
        assert not state.exists()

    arun(scenario())
