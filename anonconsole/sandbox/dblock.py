"""One sandbox per database: an exclusive lock on a file beside it, held for the life of the process.

Two sandboxes on one SQLite file (the console's child and `anonconsole sandbox serve` both default to
the same one) fight over its write lock and answer "database is locked" 500s. So a sandbox takes an
advisory lock (`flock`) on `.<db name>.lock` before it opens the database, and writes who it is into
that file (pid, then its URL once listening); a second one finds the lock taken and refuses to start,
naming the first. The kernel drops the lock when the process ends, however it ends (SIGKILL too), so
a stale lock file never blocks anyone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any


class DatabaseInUse(Exception):
    """Another sandbox holds the database; `sentence` names it and says what to do."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


def lock_path(db: Path) -> Path:
    return db.with_name(f".{db.name}.lock")


def _holder(fd: int) -> dict[str, Any]:
    """What the holding sandbox wrote about itself ({} when it has not yet, or it is unreadable)."""
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8")
        holder = json.loads(text)
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _in_use(db: Path, holder: dict[str, Any]) -> DatabaseInUse:
    who = "another sandbox"
    if isinstance(holder.get("pid"), int):
        who += f" (pid {holder['pid']}"
        who += f", listening at {holder['url']})" if isinstance(holder.get("url"), str) else ")"
    return DatabaseInUse(
        f"The sandbox database {db} is in use by {who}. Use that sandbox, or stop it first, or give "
        "this one another database file (`anonconsole sandbox serve --db`, `anonconsole --sandbox-db`)."
    )


class DatabaseLock:
    """The held lock of one sandbox database. Construct with `acquire`."""

    def __init__(self, db: Path, fd: int) -> None:
        self.db = db
        self._fd = fd

    @classmethod
    def acquire(cls, db: Path) -> DatabaseLock:
        """Take the database's lock, or raise DatabaseInUse naming the sandbox that holds it."""
        path = lock_path(db)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise _in_use(db, holder) from None
        lock = cls(db, fd)
        lock.announce({"pid": os.getpid()})
        return lock

    def announce(self, about: dict[str, Any]) -> None:
        """Say who holds the lock (pid, URL), for a sandbox that finds it taken to quote."""
        data = json.dumps(about).encode("utf-8")
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def release(self) -> None:
        """Let go of the database (the process's end does this too)."""
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = -1
