"""The console's own audit log: an append-only record of every change it makes to Descope.

One JSON object per line (JSON Lines) in the user data dir: who (the OS user and the profile), when,
what, on which target, before/after and the result. Each entry is flushed and fsync'ed before the
call returns, so a crash loses at most the entry being written, and a torn last line is skipped
when reading. Entries are built from plain fields and scrubbed of registered secrets: a management
key never lands here.
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
from typing import Any

from anonconsole.runtime import messages
from anonconsole.settings import paths

FILE_NAME = "audit.jsonl"


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
        line = messages.scrub(json.dumps(asdict(entry), ensure_ascii=False, sort_keys=True))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path, "a", encoding="utf-8") as file:
            file.write(line + "\n")
            file.flush()
            os.fsync(file.fileno())

    def entries(self) -> Iterator[AuditEntry]:
        """Every readable entry, oldest first (a torn or foreign line is skipped)."""
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as file:
            for line in file:
                try:
                    yield AuditEntry(**json.loads(line))
                except (json.JSONDecodeError, TypeError):
                    continue
