"""The sandbox child process: start/stop (blocking and asyncio), ready/state files, reuse, key hygiene."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from anonconsole.launcher.bootstrap import SandboxBootstrap
from anonconsole.launcher.process import SandboxError, SandboxOptions, SandboxProcess, ahealth, health
from anonconsole.settings.sandbox_protocol import KEY_ENV


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) still answers kill(0); it is not alive.
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split()[2] != "Z"


@pytest.fixture
def key() -> str:
    return secrets.token_urlsafe(32)


def _assert_key_absent(key: str, *paths: Path) -> None:
    for path in paths:
        if path.exists():
            assert key not in path.read_text(encoding="utf-8", errors="replace"), path


def test_start_stop_state_and_log(tmp_path: Path, key: str) -> None:
    state = tmp_path / "state.json"
    process = SandboxProcess(SandboxOptions(db=tmp_path / "s.db"), key, state_file=state)
    url = process.start(timeout=60)
    pid = process.pid
    assert pid is not None
    try:
        assert health(url) is not None
        saved = json.loads(state.read_text())
        assert saved == {
            "url": url,
            "pid": pid,
            "projectId": process.options.project_id,
            "db": saved["db"],
            "startedBy": {"kind": "console", "pid": os.getpid()},
        }
        assert Path(saved["db"]) == (tmp_path / "s.db").resolve()
        response = httpx.get(
            f"{url}/_sandbox/outbox",
            headers={"Authorization": f"Bearer {process.options.project_id}:{key}"},
        )
        assert response.status_code == 200
    finally:
        process.stop()
    assert not _alive(pid)
    assert not state.exists()
    assert process.url is None
    assert health(url, timeout=0.5) is None
    log = tmp_path / "sandbox.log"
    assert "Sandbox listening on" in log.read_text()
    _assert_key_absent(key, log, state, tmp_path / "s.db")


def test_context_manager_stops(tmp_path: Path, key: str) -> None:
    with SandboxProcess(SandboxOptions(db=tmp_path / "s.db"), key) as process:
        process.start(timeout=60)
        pid = process.pid
        assert pid is not None
    assert not _alive(pid)


@pytest.mark.asyncio
async def test_astart_areuse_astop(tmp_path: Path, key: str) -> None:
    state = tmp_path / "state.json"
    options = SandboxOptions(db=tmp_path / "s.db")
    first = SandboxProcess(options, key, state_file=state)
    url = await first.astart(timeout=60)
    try:
        assert await ahealth(url) is not None
        reused = await SandboxProcess.areuse(state, SandboxOptions(db=tmp_path / "s.db"), key)
        assert reused is not None
        assert (reused.url, reused.pid) == (url, first.pid)
        assert await SandboxProcess.areuse(state, options, "another-key") is None
        other_project = SandboxOptions(db=tmp_path / "s.db", project_id="P2AnotherProject000000000000")
        assert await SandboxProcess.areuse(state, other_project, key) is None
        assert await SandboxProcess.areuse(state, SandboxOptions(db=tmp_path / "other.db"), key) is None
        await reused.astop()
    finally:
        await first.astop()
    assert await ahealth(url, timeout=0.5) is None
    assert await SandboxProcess.areuse(state, options, key) is None


@pytest.mark.asyncio
async def test_areuse_without_state_or_with_dead_sandbox(tmp_path: Path, key: str) -> None:
    options = SandboxOptions(db=tmp_path / "s.db")
    assert await SandboxProcess.areuse(tmp_path / "missing.json", options, key) is None
    stale = tmp_path / "stale.json"
    stale.write_text(
        json.dumps(
            {
                "url": "http://127.0.0.1:9",
                "pid": 1,
                "projectId": options.project_id,
                "db": str(options.db.resolve()),
            }
        )
    )
    assert await SandboxProcess.areuse(stale, options, key) is None
    stale.write_text("{not json")
    assert await SandboxProcess.areuse(stale, options, key) is None


def test_ready_file_written_by_serve(tmp_path: Path, key: str) -> None:
    ready = tmp_path / "ready.json"
    child = subprocess.Popen(
        [sys.executable, "-m", "anonconsole.sandbox", "serve", "--port", "0", "--db", str(tmp_path / "s.db")]
        + ["--ready-file", str(ready), "--rate-limits", "off"],
        env={**os.environ, KEY_ENV: key},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert child.poll() is None, "the sandbox exited before it was ready"
            assert time.monotonic() < deadline, "no ready file within 60 s"
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=0.05)
        content = json.loads(ready.read_text())
        assert set(content) == {"url", "pid", "projectId", "db"}
        assert content["pid"] == child.pid
        assert health(content["url"]) is not None
    finally:
        child.terminate()
        process_output, _ = child.communicate(timeout=15)
    assert child.returncode == 0
    assert not ready.exists(), "the ready file is removed on shutdown"
    assert key.encode() not in process_output


def test_serve_refuses_without_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    result = subprocess.run(
        [sys.executable, "-m", "anonconsole.sandbox", "serve", "--port", "0", "--db", str(tmp_path / "s.db")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert KEY_ENV in result.stderr
    assert not (tmp_path / "s.db").exists()


def test_start_fails_clearly_when_port_taken(tmp_path: Path, key: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = SandboxProcess(SandboxOptions(db=tmp_path / "s.db", port=port), key)
        with pytest.raises(SandboxError, match="cannot listen"):
            process.start(timeout=60)
    assert process.pid is None


@pytest.mark.parametrize("size", [64 * 1024, 100])
def test_a_damaged_database_is_one_sentence_naming_the_file(tmp_path: Path, key: str, size: int) -> None:
    """The console shows the first line of a SandboxError: it must say what is wrong and what to do."""
    db = tmp_path / "sandbox.db"
    db.write_bytes(secrets.token_bytes(size))
    process = SandboxProcess(SandboxOptions(db=db, demo=True), key)
    with pytest.raises(SandboxError) as failed:
        process.start(timeout=60)
    first = str(failed.value).splitlines()[0]
    assert first.startswith(f"The sandbox database {db} is damaged")
    assert "Move it aside" in first
    assert process.pid is None


# -- a sandbox never outlives the console that started it ------------------------------------------------

LAUNCHER = """
import json, sys
from pathlib import Path
from anonconsole.launcher.process import SandboxOptions, SandboxProcess
db, state = Path(sys.argv[1]), Path(sys.argv[2])
key = sys.stdin.readline().strip()  # never on the command line
process = SandboxProcess(SandboxOptions(db=db, rate_limits="off"), key, state_file=state)
url = process.start(timeout=60)
print(json.dumps({"pid": process.pid, "url": url}), flush=True)
sys.stdin.read()  # until killed
"""


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_the_sandbox_ends_when_the_process_that_started_it_is_killed(tmp_path: Path, key: str) -> None:
    """A console killed with SIGKILL cannot stop its child: the child notices and ends by itself."""
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(tmp_path / "s.db"), str(tmp_path / "state.json")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert launcher.stdin is not None
    assert launcher.stdout is not None
    launcher.stdin.write(key + "\n")
    launcher.stdin.flush()
    started = json.loads(launcher.stdout.readline())
    sandbox_pid = int(started["pid"])
    try:
        assert health(started["url"]) is not None
        launcher.kill()  # SIGKILL: no clean-up of any kind in the launcher
        launcher.wait(timeout=10)
        assert _wait_gone(sandbox_pid, 5.0), "the sandbox outlived the process that started it"
        assert health(started["url"], timeout=0.5) is None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(sandbox_pid, signal.SIGKILL)
        launcher.stdin.close()
        launcher.stdout.close()


@pytest.mark.asyncio
async def test_an_orphaned_sandbox_is_stopped_not_adopted(tmp_path: Path, key: str) -> None:
    """A sandbox whose console is gone (from a console killed before this fix, say) is not reused:
    reusing it would leave it running after this console quits. It is stopped, and a fresh one
    (stopped at quit) started instead."""
    state = tmp_path / "state.json"
    options = SandboxOptions(db=tmp_path / "s.db", rate_limits="off")
    orphan = SandboxProcess(options, key, state_file=state)
    orphan_url = await orphan.astart(timeout=60)
    orphan_pid = orphan.pid
    assert orphan_pid is not None
    bootstrap = SandboxBootstrap(options, state)
    try:
        recorded = json.loads(state.read_text())
        assert recorded["startedBy"] == {"kind": "console", "pid": os.getpid()}
        recorded["startedBy"]["pid"] = _reaped_pid()  # a console that has exited
        state.write_text(json.dumps(recorded))
        url = await bootstrap.aurl(key)
        assert bootstrap.started_here
        assert url != orphan_url
        assert _wait_gone(orphan_pid, 5.0)
        assert bootstrap.process is not None
        own_pid = bootstrap.process.pid
        assert own_pid is not None
        await bootstrap.astop()  # the console's normal quit
        assert _wait_gone(own_pid, 5.0)
        assert not state.exists()
    finally:
        await orphan.astop()
        await bootstrap.astop()


@pytest.mark.asyncio
async def test_a_sandbox_of_a_console_still_running_is_shared_not_stopped(tmp_path: Path, key: str) -> None:
    state = tmp_path / "state.json"
    options = SandboxOptions(db=tmp_path / "s.db", rate_limits="off")
    owner = SandboxProcess(options, key, state_file=state)
    url = await owner.astart(timeout=60)
    try:
        other = SandboxBootstrap(options, state)
        assert await other.aurl(key) == url
        assert not other.started_here
        await other.astop()
        assert await ahealth(url) is not None
    finally:
        await owner.astop()


def _reaped_pid() -> int:
    """The pid of a process that has exited (and was reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_the_console_hands_its_child_the_key_on_a_pipe_never_in_its_environment(
    tmp_path: Path, key: str
) -> None:
    with SandboxProcess(SandboxOptions(db=tmp_path / "s.db"), key) as process:
        process.start()
        assert process.pid is not None
        environ = Path(f"/proc/{process.pid}/environ").read_bytes()
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes()
        assert key.encode() not in environ
        assert KEY_ENV.encode() not in environ
        assert key.encode() not in cmdline
        assert b"--key-fd" in cmdline
