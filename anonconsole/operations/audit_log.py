"""The console's own audit log: an append-only record of every change it makes to Descope.

One JSON object per line (JSON Lines) in the user data dir: who (the OS user and the profile), when,
what, on which target, before/after and the result. Each entry is flushed and fsync'ed before the
call returns, so a crash loses at most the entry being written. A torn last line (no newline) is
ended before the next entry is appended, so that entry is not glued onto it; a reader skips and
counts every line it cannot read (torn, not UTF-8, not an entry) instead of failing. Entries are
built from plain fields and scrubbed of registered secrets: a management key never lands here.
"""

from __future__ import annotations

import getpass
import json
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from anonconsole.runtime import messages
from anonconsole.settings import paths

FILE_NAME = "audit.jsonl"
_TEXT_FIELDS = ("action", "target", "result", "profile", "detail", "actor", "time")
_MAPPING_FIELDS = ("before", "after")


@dataclass(frozen=True)
class AuditEntry:
    """One change the console made (or tried to make).

    Attributes:
        action: what, e.g. "tenant.create", "tenant.settings", "user.delete".
        target: the object changed (a tenant or user ID, or a name when it has no ID yet).
        result: "ok", "failed" (with `detail`), or "started" for the journal line written before.
        before / after: the relevant state, as plain JSON values.
        profile: the connection profile used.
        actor: the OS user who ran the console.
        time: ISO 8601 UTC.
    """

    action: str
    target: str
    result: str
    profile: str
    before: Mapping[str, Any] = field(default_factory=dict)
    after: Mapping[str, Any] = field(default_factory=dict)
    detail: str = ""
    actor: str = field(default_factory=lambda: _os_user())
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (some containers)
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


class AuditLog:
    """Appends entries to one JSON Lines file; safe to use from several threads."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.data_dir() / FILE_NAME
        self._lock = threading.Lock()

    def append(self, entry: AuditEntry) -> None:
        """Write one entry on a line of its own, fsync'ed before returning."""
        line = messages.scrub(json.dumps(asdict(entry), ensure_ascii=False, sort_keys=True))
        data = (line + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path, "a+b") as file:
            if _ends_without_newline(file):
                data = b"\n" + data  # a crash left half a line: end it, or this entry is lost with it
            file.write(data)  # one write: another process appending meanwhile cannot split it
            file.flush()
            os.fsync(file.fileno())

    def read(self) -> tuple[list[AuditEntry], int]:
        """Every readable entry, oldest first, and how many damaged lines were skipped.

        A damaged line (torn by a crash, not UTF-8, not JSON, not an entry) is counted, never fatal:
        the log is evidence, and one bad line must not hide the others.
        """
        entries: list[AuditEntry] = []
        damaged = 0
        try:
            file = open(self.path, "rb")  # noqa: SIM115 - closed below; missing file = empty log
        except FileNotFoundError:
            return entries, 0
        with file:
            for raw in file:
                if not raw.strip():
                    continue
                entry = _parse(raw)
                if entry is None:
                    damaged += 1
                else:
                    entries.append(entry)
        return entries, damaged

    def entries(self) -> Iterator[AuditEntry]:
        """Every readable entry, oldest first (damaged lines skipped: `read` counts them)."""
        yield from self.read()[0]


def _ends_without_newline(file: BinaryIO) -> bool:
    """Whether the (append-mode) file's last byte is something other than a newline."""
    size = file.seek(0, os.SEEK_END)
    if size == 0:
        return False
    file.seek(size - 1)
    return file.read(1) != b"\n"


def _parse(raw: bytes) -> AuditEntry | None:
    """The entry on one line, or None when the line is damaged or foreign."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    if any(not isinstance(data.get(name, ""), str) for name in _TEXT_FIELDS):
        return None
    if any(not isinstance(data.get(name, {}), dict) for name in _MAPPING_FIELDS):
        return None
    try:
        return AuditEntry(**data)
    except TypeError:  # missing or unknown fields
        return None
