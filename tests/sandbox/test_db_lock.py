"""One database, one sandbox: a second `sandbox serve` on the same file refuses, naming the first."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from anonconsole.sandbox.dblock import DatabaseInUse, DatabaseLock
from anonconsole.settings.sandbox_protocol import KEY_ENV, READY_ERROR

if TYPE_CHECKING:
    from conftest import RunningSandbox


def _serve(db: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`anonconsole sandbox serve` on `db`; it must end by itself (a sandbox that serves is killed)."""
    command = [sys.executable, "-m", "anonconsole.sandbox", "serve", "--db", str(db), "--port", "0", *extra]
    env = {**os.environ, KEY_ENV: secrets.token_urlsafe(24)}
    try:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired as running:
        raise AssertionError(f"a second sandbox served the same database: {running.stderr!r}") from None


def test_a_second_sandbox_on_the_same_database_refuses_to_start(
    start_sandbox: Callable[..., RunningSandbox],
) -> None:
    first = start_sandbox()
    ready = first.db.parent / "second.ready.json"
    second = _serve(first.db, "--ready-file", str(ready))
    assert second.returncode == 4, second.stderr
    assert "Traceback" not in second.stderr
    sentence = json.loads(ready.read_text())[READY_ERROR]  # what the console shows
    assert sentence in second.stderr
    assert str(first.db) in sentence
    assert f"pid {first.process.pid}" in sentence
    assert first.url in sentence
    # The first one is untouched.
    assert first.client().mgmt.user.search_all()["total"] == 0


def test_the_database_is_free_again_once_the_first_stops(
    start_sandbox: Callable[..., RunningSandbox], tmp_path: Path
) -> None:
    first = start_sandbox()
    first.process.stop()
    ready = tmp_path / "ready.json"
    command = [sys.executable, "-m", "anonconsole.sandbox", "serve", "--db", str(first.db), "--port", "0"]
    child = subprocess.Popen(
        [*command, "--ready-file", str(ready)],
        env={**os.environ, KEY_ENV: secrets.token_urlsafe(24)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(600):
            if ready.exists() or child.poll() is not None:
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=0.1)
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        assert "url" in json.loads(ready.read_text())
    finally:
        child.terminate()
        child.communicate(timeout=15)


def test_the_lock_says_who_holds_it_and_frees_on_release(tmp_path: Path) -> None:
    db = tmp_path / "own.db"
    held = DatabaseLock.acquire(db)
    held.announce({"pid": 4242, "url": "http://127.0.0.1:9"})
    with pytest.raises(DatabaseInUse) as refused:
        DatabaseLock.acquire(db)  # another open file description: refused like another process
    assert "pid 4242, listening at http://127.0.0.1:9" in refused.value.sentence
    assert str(db) in refused.value.sentence
    held.release()
    DatabaseLock.acquire(db).release()
