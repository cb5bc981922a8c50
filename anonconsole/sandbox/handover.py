"""How the management key reaches `sandbox serve` without staying in the process for others to read.

A key in the environment stays readable in `/proc/<pid>/environ` for the life of the process:
removing it from `os.environ` changes a copy, not the block the kernel shows. So the key is read from
an inherited file descriptor (`--key-fd N`: a pipe, a file, or 0 for standard input) and the
descriptor is closed. A key given in `DESCOPE_MANAGEMENT_KEY` is still accepted: the process then
starts itself again, at once and under the same pid, without that variable, handing the key over
through a pipe (`restart_without_key_in_environment`).

This module is imported before anything heavy, so the restart costs one interpreter start.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from anonconsole.settings.sandbox_protocol import KEY_ENV

KEY_FD_OPTION = "--key-fd"
# A management key is a few hundred bytes; anything near a pipe's buffer (64 KiB) is not a key.
MAX_KEY_BYTES = 16 * 1024


class KeyUnreadable(Exception):
    """No usable key on the descriptor; `sentence` says what to do."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


def read_key(fd: int) -> str:
    """The key on descriptor `fd`: its first line (or everything, up to end of file), stripped.

    The descriptor is closed afterwards; 0-2 are pointed at /dev/null instead, so that nothing
    opened later takes their place.
    """
    data = b""
    try:
        while b"\n" not in data and len(data) <= MAX_KEY_BYTES:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        raise KeyUnreadable(f"cannot read the key from {KEY_FD_OPTION} {fd}: {exc.strerror}") from None
    finally:
        _close(fd)
    line = data.split(b"\n", 1)[0].strip()
    if len(line) > MAX_KEY_BYTES:
        raise KeyUnreadable(f"the key on {KEY_FD_OPTION} {fd} is longer than {MAX_KEY_BYTES} bytes")
    try:
        key = line.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyUnreadable(f"the key on {KEY_FD_OPTION} {fd} is not UTF-8 text") from None
    if not key:
        raise KeyUnreadable(f"{KEY_FD_OPTION} {fd} gave no key: write the key (one line) to it")
    return key


def _close(fd: int) -> None:
    try:
        if fd <= 2:
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, fd)
            os.close(null)
        else:
            os.close(fd)
    except OSError:
        pass


def restart_without_key_in_environment(argv: Sequence[str]) -> None:
    """For `serve` with the key in the environment: exec this program again without the variable,
    the key passed on a pipe (`--key-fd`). Returns only when there is nothing to do (no key there,
    another command, or a value too long to be a key, which `serve` then refuses).

    `argv`: the sandbox's arguments (`serve …`), as `python -m anonconsole.sandbox` takes them.
    """
    key = os.environ.get(KEY_ENV)
    if not key or not argv or argv[0] != "serve" or len(key.encode("utf-8")) > MAX_KEY_BYTES:
        return
    env = {name: value for name, value in os.environ.items() if name != KEY_ENV}
    command = list(argv)
    if KEY_FD_OPTION not in argv:  # else the descriptor already gives the key
        read_end, write_end = os.pipe()
        os.write(write_end, key.encode("utf-8"))  # fits the pipe's buffer: nobody reads it yet
        os.close(write_end)
        os.set_inheritable(read_end, True)
        command += [KEY_FD_OPTION, str(read_end)]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "anonconsole.sandbox", *command], env)
