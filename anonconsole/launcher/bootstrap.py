"""The built-in sandbox for the console and the CLI: reuse the one running for our database, else start it.

No Qt here, so the headless CLI (`anonconsole doctor`) shares it with the GUI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from anonconsole.launcher.process import SandboxOptions, SandboxProcess
from anonconsole.runtime import messages
from anonconsole.settings import paths


def demo_sandbox_options(db: Path | None = None) -> SandboxOptions:
    """The built-in sandbox: demo data, Descope's rate limits, state kept in the user data dir."""
    return SandboxOptions(db=db or paths.sandbox_db(), demo=True, rate_limits="descope")


class SandboxBootstrap:
    """Reuses a healthy sandbox already serving the same database, else starts one as a child.

    Only a child started here is stopped by `astop`: a reused sandbox belongs to the console that
    started it, which is still running. An orphan (its console gone) is not reused but stopped, and
    a child of our own started instead (`SandboxProcess.areuse`), so nothing outlives this console.
    A sandbox served by hand (`anonconsole sandbox serve`) has no state file: it is never touched.

    Attributes:
        process: the sandbox in use, once `aurl` succeeded.
        started_here: whether `process` is our child (and so ours to stop).
    """

    def __init__(self, options: SandboxOptions, state_file: Path) -> None:
        self.options = options
        self.state_file = state_file
        self.process: SandboxProcess | None = None
        self.started_here = False
        self._lock = asyncio.Lock()

    async def areuse(self, key: str) -> str | None:
        """URL of a running sandbox for our database, or None when there is none."""
        process = await SandboxProcess.areuse(self.state_file, self.options, key)
        if process is None:
            return None
        self.process, self.started_here = process, False
        return process.url

    async def astart(self, key: str) -> str:
        """Start our own child (free port, health-checked) and return its URL."""
        self.process = SandboxProcess(self.options, key, state_file=self.state_file)
        self.started_here = True
        return await self.process.astart()

    async def aurl(self, key: str, on_start: Callable[[], None] | None = None) -> str:
        """The URL of the sandbox in use: the one already up, a reused one, or a new child."""
        async with self._lock:
            if self.process is not None and self.process.url:
                return self.process.url
            url = await self.areuse(key)
            if url is not None:
                messages.info(f"Using the sandbox already running at {url}.")
                return url
            if on_start is not None:
                on_start()
            return await self.astart(key)

    async def astop(self) -> None:
        """Stop the child we started; leave a reused sandbox running."""
        process, self.process = self.process, None
        if process is not None and self.started_here:
            await process.astop()
