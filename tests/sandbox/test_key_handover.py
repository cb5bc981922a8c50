"""The management key leaves no trace in the sandbox process: not in its environment, not in argv."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from anonconsole.sandbox import handover
from anonconsole.settings.sandbox_protocol import DEFAULT_PROJECT_ID, KEY_ENV

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")


@contextlib.contextmanager
def _serving(tmp_path: Path, key: str, *, via: str) -> Iterator[tuple[int, str]]:
    """A sandbox given `key` through its environment ("env"), a pipe ("fd") or stdin ("stdin")."""
    ready = tmp_path / "ready.json"
    command = [sys.executable, "-m", "anonconsole.sandbox", "serve", "--port", "0", "--rate-limits", "off"]
    command += ["--db", str(tmp_path / "s.db"), "--ready-file", str(ready)]
    env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    read_end = write_end = -1
    stdin: int | None = subprocess.DEVNULL
    if via == "env":
        env[KEY_ENV] = key
    elif via == "fd":
        read_end, write_end = os.pipe()
        command += ["--key-fd", str(read_end)]
    else:
        command += ["--key-fd", "0"]
        stdin = subprocess.PIPE
    child = subprocess.Popen(
        command,
        env=env,
        stdin=stdin,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        pass_fds=(read_end,) if read_end >= 0 else (),
    )
    try:
        if via == "fd":
            os.close(read_end)
            os.write(write_end, key.encode() + b"\n")
            os.close(write_end)
        elif via == "stdin":
            assert child.stdin is not None
            child.stdin.write(key.encode() + b"\n")  # one line: read without waiting for its end
            child.stdin.flush()
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert child.poll() is None, child.stderr.read() if child.stderr else b""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        yield child.pid, json.loads(ready.read_text())["url"]
    finally:
        child.terminate()
        _, err = child.communicate(timeout=15)
        assert key.encode() not in err


def _target(fd: Path) -> str:
    """What a descriptor of another process points at ("" for one closed meanwhile)."""
    try:
        return os.readlink(fd)
    except FileNotFoundError:
        return ""


@pytest.mark.parametrize("via", ["fd", "stdin", "env"])
def test_the_key_is_nowhere_in_the_process(tmp_path: Path, via: str) -> None:
    key = secrets.token_urlsafe(32)
    with _serving(tmp_path, key, via=via) as (pid, url):
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        assert key.encode() not in environ
        assert KEY_ENV.encode() not in environ
        assert key.encode() not in cmdline
        accepted = httpx.get(
            f"{url}/_sandbox/outbox", headers={"Authorization": f"Bearer {DEFAULT_PROJECT_ID}:{key}"}
        )
        assert accepted.status_code == 200
        refused = httpx.get(
            f"{url}/_sandbox/outbox", headers={"Authorization": f"Bearer {DEFAULT_PROJECT_ID}:x"}
        )
        assert refused.status_code == 401
        # Its own children would not inherit it either: no descriptor left open on the pipe.
        fds = Path(f"/proc/{pid}/fd")
        pipes = [fd.name for fd in fds.iterdir() if _target(fd).startswith("pipe:")]
        assert set(pipes) <= {"0", "2"}, pipes  # stdin (at its end) and stderr only


def test_an_empty_key_on_the_descriptor_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "anonconsole.sandbox", "serve", "--port", "0", "--db", str(tmp_path / "s.db")]
        + ["--key-fd", "0"],
        input=b"\n",
        env={k: v for k, v in os.environ.items() if k != KEY_ENV},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert b"--key-fd" in done.stderr
    assert not (tmp_path / "s.db").exists()


def _pipe_with(data: bytes) -> int:
    read_end, write_end = os.pipe()
    os.write(write_end, data)
    os.close(write_end)
    return read_end


@pytest.mark.parametrize(
    ("data", "key"),
    [
        (b"k3y-one\n", "k3y-one"),
        (b"  k3y-two \r\n", "k3y-two"),
        (b"k3y-three", "k3y-three"),
        (b"a\nb\n", "a"),
    ],
    ids=["a line", "blanks and CRLF", "no newline", "first line only"],
)
def test_read_key_takes_the_first_line_and_closes_the_descriptor(data: bytes, key: str) -> None:
    fd = _pipe_with(data)
    assert handover.read_key(fd) == key
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(fd)


@pytest.mark.parametrize(
    ("data", "says"),
    [(b"", "gave no key"), (b"\xff\xfe\n", "not UTF-8"), (b"k" * 20000, "longer than")],
    ids=["empty", "not UTF-8", "too long"],
)
def test_read_key_refuses_what_is_no_key(data: bytes, says: str) -> None:
    with pytest.raises(handover.KeyUnreadable, match=says):
        handover.read_key(_pipe_with(data))
