"""The sandbox as a child process: start, wait until ready, reuse, stop.

The child is `python -m anonconsole.sandbox serve …`; the management key reaches it only through a
pipe it reads once and closes (`--key-fd`): never its command line, never its environment. Both
the blocking and the asyncio paths spawn with `subprocess.Popen` (fork/exec returns at once) and poll
without blocking: that works on any event loop, including qasync's, which
asyncio's subprocess transports do not promise.

A child never outlives its console: it gets `--parent-pid` and ends itself within a second of the
console's death, even a SIGKILL. The state file records which console started it
(`startedBy`); a sandbox whose console is gone is an orphan, stopped rather than reused, so the
next console starts its own, which it stops at quit. A sandbox of a console still running is
shared, and left to that console to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from anonconsole.settings.files import write_atomically
from anonconsole.settings.sandbox_protocol import DEFAULT_PROJECT_ID, KEY_ENV, READY_ERROR

POLL_SECONDS = 0.05
STARTED_BY_CONSOLE = "console"  # `startedBy.kind` in the state file: a console's launcher
STOP_TIMEOUT_SECONDS = 10.0
LOG_TAIL_BYTES = 4000


class SandboxError(RuntimeError):
    """The sandbox could not be started (the message includes the end of its log)."""


@dataclass
class SandboxOptions:
    """How to run a sandbox (see docs/contracts.md §1)."""

    db: Path
    project_id: str = DEFAULT_PROJECT_ID
    demo: bool = False
    users: int | None = None
    expired_share: float | None = None  # with `users`: that share are expired anonymous users
    rate_limits: str = "descope"
    latency_ms: int = 0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    host: str = "127.0.0.1"
    port: int = 0

    def argv(self, ready_file: Path) -> list[str]:
        args = [
            sys.executable,
            "-m",
            "anonconsole.sandbox",
            "serve",
            "--db",
            str(self.db),
            "--project-id",
            self.project_id,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--rate-limits",
            self.rate_limits,
            "--ready-file",
            str(ready_file),
        ]
        if self.demo:
            args.append("--demo")
        if self.users:
            args += ["--users", str(self.users)]
        if self.expired_share is not None:
            args += ["--expired-share", str(self.expired_share)]
        if self.latency_ms:
            args += ["--latency-ms", str(self.latency_ms)]
        if self.error_rate:
            args += ["--error-rate", str(self.error_rate)]
        if self.drop_rate:
            args += ["--drop-rate", str(self.drop_rate)]
        args += ["--parent-pid", str(os.getpid())]  # the child ends when we do, however we end
        return args


def health(url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """GET /_sandbox/health, or None when nothing healthy answers."""
    try:
        response = httpx.get(f"{url}/_sandbox/health", timeout=timeout)
    except httpx.HTTPError:
        return None
    return _health_body(response)


def _loopback_client(timeout: float) -> httpx.AsyncClient:
    """A client for the sandbox's plain-HTTP loopback URL. Without TLS verification it skips loading
    the CA bundle, which otherwise costs tens of milliseconds on the UI thread per client."""
    return httpx.AsyncClient(timeout=timeout, verify=False)


async def ahealth(url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """GET /_sandbox/health without blocking the loop, or None when nothing healthy answers."""
    try:
        async with _loopback_client(timeout) as client:
            response = await client.get(f"{url}/_sandbox/health")
    except httpx.HTTPError:
        return None
    return _health_body(response)


def _health_body(response: httpx.Response) -> dict[str, Any] | None:
    if response.status_code != 200:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) and body.get("status") == "ok" else None


async def _key_accepted(url: str, project_id: str, management_key: str) -> bool:
    """True when a running sandbox accepts this key (a reused sandbox must be usable)."""
    try:
        async with _loopback_client(2.0) as client:
            response = await client.get(
                f"{url}/_sandbox/outbox",
                params={"limit": 1},
                headers={"Authorization": f"Bearer {project_id}:{management_key}"},
            )
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def _pid_exited(pid: int) -> bool:
    """Whether a process known only by pid (a reused sandbox) is gone; reaps it if it is our child."""
    with contextlib.suppress(ChildProcessError):
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        return reaped != 0
    return not _pid_alive(pid)


def _pid_alive(pid: int) -> bool:
    """Whether a process runs under this pid. A zombie (exited, not yet reaped by a parent that
    never will, like a container's init) is not running."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS) or a race: kill(0) said it is there
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _is_sandbox(pid: int) -> bool:
    """Whether `pid` runs a sandbox (so a reused pid of some other program is never signalled).
    Without /proc it cannot tell, and trusts the state file, which the health check confirmed."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return sys.platform != "linux"
    return b"anonconsole.sandbox" in command


def _orphaned(state: dict[str, Any]) -> bool:
    """Whether the state file's sandbox was started by a console that is gone (not this process)."""
    started_by = state.get("startedBy")
    if not isinstance(started_by, dict) or started_by.get("kind") != STARTED_BY_CONSOLE:
        return False  # an older state file: nobody recorded; never stop what we cannot place
    pid = started_by.get("pid")
    return isinstance(pid, int) and pid != os.getpid() and not _pid_alive(pid)


class SandboxProcess:
    """One sandbox child process (or a reused one started earlier).

    Attributes:
        url: base URL once started, e.g. http://127.0.0.1:41234.
        pid: the child's process id once started.
        log_path: the child's stdout/stderr (`sandbox.log` next to the db; never holds keys).
    """

    def __init__(
        self,
        options: SandboxOptions,
        management_key: str,
        *,
        state_file: Path | None = None,
    ) -> None:
        self.options = options
        self._key = management_key
        self.state_file = state_file
        self.url: str | None = None
        self.pid: int | None = None
        self._popen: subprocess.Popen[bytes] | None = None
        self.log_path = options.db.parent / "sandbox.log"
        self._ready_file = options.db.parent / f".{options.db.name}.ready.json"

    def __repr__(self) -> str:
        return f"SandboxProcess(url={self.url!r}, pid={self.pid!r}, db={str(self.options.db)!r})"

    # -- starting ---------------------------------------------------------------------------------

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.options.db.parent.mkdir(parents=True, exist_ok=True)
        self._ready_file.unlink(missing_ok=True)
        # The key travels on a pipe the child reads and closes (`--key-fd`), never in its
        # environment, which /proc/PID/environ shows for the process's whole life.
        env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
        env["PYTHONUNBUFFERED"] = "1"
        read_end, write_end = os.pipe()
        try:
            os.write(write_end, self._key.encode("utf-8") + b"\n")  # fits the pipe's buffer
        finally:
            os.close(write_end)
        try:
            with open(self.log_path, "ab") as log:
                self._popen = subprocess.Popen(
                    [*self.options.argv(self._ready_file), "--key-fd", str(read_end)],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    pass_fds=(read_end,),
                )
        finally:
            os.close(read_end)
        self.pid = self._popen.pid
        return self._popen

    def _ready(self) -> dict[str, Any] | None:
        """The ready file's content once the child wrote it; raises if the child died or said why
        it cannot start (that sentence first: the console shows a SandboxError's first line)."""
        assert self._popen is not None
        exited = self._popen.poll() is not None
        ready = self._read_ready()
        if ready is not None and isinstance(ready.get(READY_ERROR), str):
            raise SandboxError(f"{ready[READY_ERROR]}\n{self._log_tail()}".rstrip())
        if exited:
            raise SandboxError(
                f"The sandbox exited with code {self._popen.returncode}.\n{self._log_tail()}".rstrip()
            )
        return ready if ready is not None and "url" in ready else None

    def _read_ready(self) -> dict[str, Any] | None:
        try:
            ready: Any = json.loads(self._ready_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return ready if isinstance(ready, dict) else None

    def _log_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - LOG_TAIL_BYTES))
                return log.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _started(self, ready: dict[str, Any]) -> str:
        self.url = str(ready["url"])
        if self.state_file is not None:
            state = {
                **ready,
                "db": str(self.options.db.resolve()),
                "startedBy": {"kind": STARTED_BY_CONSOLE, "pid": os.getpid()},
            }
            write_atomically(self.state_file, json.dumps(state))
        return self.url

    def _timed_out(self, timeout: float) -> SandboxError:
        return SandboxError(f"The sandbox was not ready within {timeout:.0f} s.\n{self._log_tail()}".rstrip())

    def start(self, timeout: float = 240) -> str:
        """Start the child and block until it answers its health check; returns the URL."""
        self._spawn()
        deadline = time.monotonic() + timeout
        try:
            while (ready := self._ready()) is None or health(str(ready["url"])) is None:
                if time.monotonic() > deadline:
                    raise self._timed_out(timeout)
                time.sleep(POLL_SECONDS)
        except BaseException:
            self.stop()
            raise
        return self._started(ready)

    async def astart(self, timeout: float = 240) -> str:
        """Start the child and wait, without blocking the event loop, until it is healthy."""
        self._spawn()
        deadline = time.monotonic() + timeout
        try:
            while (ready := self._ready()) is None or await ahealth(str(ready["url"])) is None:
                if time.monotonic() > deadline:
                    raise self._timed_out(timeout)
                await asyncio.sleep(POLL_SECONDS)
        except BaseException:
            await self.astop()
            raise
        return await asyncio.to_thread(self._started, ready)  # writes the state file: off the loop

    @classmethod
    async def areuse(
        cls, state_file: Path, options: SandboxOptions, management_key: str
    ) -> SandboxProcess | None:
        """A sandbox started earlier for the same db and project, still healthy and accepting this key.

        An orphan (its console is gone) is stopped instead, and None returned: it ends by itself
        within a second anyway (`--parent-pid`), or, started before that existed, would outlive
        this console too.
        """
        try:
            state = json.loads(await asyncio.to_thread(state_file.read_text, encoding="utf-8"))
            url, pid = str(state["url"]), int(state["pid"])
            same = state["projectId"] == options.project_id and Path(state["db"]) == options.db.resolve()
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not same:
            return None
        if _orphaned(state):
            orphan = cls(options, management_key, state_file=state_file)
            orphan.pid = pid if _is_sandbox(pid) else None  # else only the stale state file goes
            await orphan.astop()
            return None
        body = await ahealth(url)
        if body is None or body.get("projectId") != options.project_id:
            return None
        if not await _key_accepted(url, options.project_id, management_key):
            return None
        process = cls(options, management_key, state_file=state_file)
        process.url, process.pid = url, pid
        return process

    # -- stopping ---------------------------------------------------------------------------------

    def _terminate(self) -> bool:
        """Send SIGTERM; False when there is nothing (left) to stop."""
        if self._popen is not None:
            if self._popen.poll() is not None:
                return False
            self._popen.terminate()
            return True
        if self.pid is None:
            return False
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
        return True

    def _exited(self) -> bool:
        if self._popen is not None:
            return self._popen.poll() is not None
        return _pid_exited(self.pid or 0)

    def _kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            if self._popen is not None:
                self._popen.kill()
                self._popen.wait()
            elif self.pid is not None:
                os.kill(self.pid, signal.SIGKILL)

    def _forget(self) -> None:
        if self.state_file is not None:
            self.state_file.unlink(missing_ok=True)
        self._ready_file.unlink(missing_ok=True)
        self.url = None
        self.pid = None
        self._popen = None

    def _stopping(self) -> Iterator[float]:
        """SIGTERM, then the pauses to wait (polling) until it exited; killed after 10 s."""
        if self._terminate():
            deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
            while not self._exited():
                if time.monotonic() > deadline:
                    self._kill()
                    break
                yield POLL_SECONDS

    def stop(self) -> None:
        """SIGTERM, wait up to 10 s, then kill."""
        for pause in self._stopping():
            time.sleep(pause)
        self._forget()

    async def astop(self) -> None:
        """As `stop`, without blocking the event loop."""
        for pause in self._stopping():
            await asyncio.sleep(pause)
        self._forget()

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
