"""The console's own audit log: an append-only record of every change it makes to Descope.

One JSON object per line (JSON Lines) in the user data dir: who (the OS user and the profile), when,
what, on which target, before/after and the result. Each entry is flushed and fsync'ed before the
call returns, so a crash loses at most the entry being written. A torn last line (no newline) is
ended before the next entry is appended, so that entry is not glued onto it; a reader skips and
counts every line it cannot read (torn, not UTF-8, not an entry) instead of failing. Entries are
built from plain fields and scrubbed of registered secrets: a management key never lands here.

The read side serves the Audit page and scripts: `read_since` reads only what was appended since
the last read (`open_since` hands the same work out in pieces: file reads for a worker thread, the
splitting and parsing for turns on a UI loop), `AuditQuery` says which entries to show (its
`matches` is the reference the page's column-wise filter agrees with), and `descope_events` fetches
Descope's own trail for one user.
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
from typing import TYPE_CHECKING, Any, BinaryIO

from anonconsole.core.records import AuditEvent
from anonconsole.runtime import messages
from anonconsole.settings import paths

if TYPE_CHECKING:
    from anonconsole.gateway import Gateway

FILE_NAME = "audit.jsonl"
_READ_BLOCK = 1 << 20  # bytes read (and split into lines) at a time
# Each field of an entry and the JSON type it must have (json.loads makes exact str and dict).
_FIELD_TYPES: dict[str, type] = {
    **dict.fromkeys(("action", "target", "result", "profile", "detail", "actor", "time"), str),
    "before": dict,
    "after": dict,
}


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
        chunk = self.read_since(None)
        return chunk.entries, chunk.damaged + chunk.torn

    def entries(self) -> Iterator[AuditEntry]:
        """Every readable entry, oldest first, one line at a time (damaged lines skipped: `read`
        counts them)."""
        try:
            file = open(self.path, "rb")  # noqa: SIM115 - closed below; missing file = empty log
        except FileNotFoundError:
            return
        with file:
            for _end, entry, _whole in _records(file, 0):
                if isinstance(entry, AuditEntry):
                    yield entry

    def search(self, query: AuditQuery) -> Iterator[AuditEntry]:
        """The entries `query` matches, oldest first, read one line at a time."""
        return (entry for entry in self.entries() if query.matches(entry))

    def read_since(self, position: LogPosition | None) -> LogChunk:
        """What was appended after `position` (everything when it is None), for a reader that keeps up.

        The file is append-only, so a reader that remembers where it stopped reads only the new
        lines. When the file is another (replaced) or shorter than `position` (truncated), it is read
        from its start and the chunk says `restarted`. An unfinished last line (a crash, or a write
        under way in another process) is not consumed: the next call reads it again, whole by then
        or ended by the next entry's newline (and then counted as damaged).
        """
        parser = self.read_raw_since(position).parser()
        for line in parser.raw.lines:
            parser.feed(line)
        return parser.chunk()

    def read_raw_since(self, position: LogPosition | None) -> RawChunk:
        """The bytes appended after `position`, split into lines, not parsed yet."""
        with self.open_since(position) as reader:
            while block := reader.read_block():
                reader.take(block)
        return reader.raw()

    def open_since(self, position: LogPosition | None) -> LogReader:
        """A reader of what was appended after `position` (opens the file: call it where file work
        may block)."""
        return LogReader(self.path, position)


class LogReader:
    """Reads what was appended to the log after a position, a block at a time, into lines.

    `read_block` is the file work (a worker thread's: reading lets go of the GIL) and `take` the
    splitting (CPU work, for turns on a UI loop: a 25 MB log split in a worker thread held the GIL,
    and so every paint of the window, for 50-100 ms). A context manager: leaving closes the file.
    """

    def __init__(self, path: Path, position: LogPosition | None) -> None:
        self.lines: list[bytes] = []
        self.tail = b""  # after the last newline so far
        self.size = 0
        self.start = 0
        self.file_id = (0, 0)
        self._file: BinaryIO | None = None
        try:
            self._file = open(path, "rb")  # noqa: SIM115 - closed by `close` (a context manager)
        except FileNotFoundError:
            self.restarted = bool(position and position.offset)  # what was read is gone
            return
        status = os.fstat(self._file.fileno())
        self.file_id = (status.st_dev, status.st_ino)
        if position is not None and position.file_id == self.file_id and position.offset <= status.st_size:
            self.start = position.offset
        self.restarted = self.start == 0 and position is not None and position.offset > 0
        self._file.seek(self.start)

    def read_block(self) -> bytes:
        """The next block of the file; empty at its end."""
        return self._file.read(_READ_BLOCK) if self._file is not None else b""

    def take(self, block: bytes) -> None:
        """Split a block read into lines (a line cut by the block's end waits for the next one)."""
        self.size += len(block)
        *whole, self.tail = (self.tail + block).split(b"\n")
        self.lines += whole

    def raw(self) -> RawChunk:
        return RawChunk(self.lines, self.tail, self.start, self.size, self.file_id, self.restarted)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> LogReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class RawChunk:
    """The lines a `LogReader` read, not parsed yet.

    Attributes:
        lines: the whole lines, without their newline.
        tail: what follows the last newline: nothing, or an unfinished line.
        start: the file offset the lines start at; size: how many bytes were read.
        file_id: (device, inode) of the file read.
        restarted: read from the start of a replaced or truncated file.
    """

    lines: list[bytes]
    tail: bytes
    start: int
    size: int
    file_id: tuple[int, int]
    restarted: bool

    def parser(self) -> LineParser:
        """A parser to feed `lines` to, in order; its `chunk()` is what `read_since` returns."""
        return LineParser(self)


class LineParser:
    """Parses the lines of a `RawChunk` one at a time (a UI loop feeds them in turns of its own).

    Attributes:
        entries: the entries parsed so far; damaged: the lines that were not entries.
    """

    def __init__(self, raw: RawChunk) -> None:
        self.raw = raw
        self.entries: list[AuditEntry] = []
        self.damaged = 0

    def feed(self, line: bytes) -> None:
        entry = parse_line(line)
        if entry is not None:
            self.entries.append(entry)
        elif line.strip():  # a blank line is not damage
            self.damaged += 1

    def chunk(self) -> LogChunk:
        """The chunk, once every line was fed; the tail is an entry or an unfinished line."""
        raw = self.raw
        end, torn = raw.start + raw.size, False
        if raw.tail.strip():
            last = parse_line(raw.tail)
            if last is None:
                end, torn = end - len(raw.tail), True  # not consumed: read again next time
            else:
                self.entries.append(last)  # only its newline missing: whole
        return LogChunk(self.entries, self.damaged, torn, LogPosition(end, raw.file_id), raw.restarted)


@dataclass(frozen=True)
class LogPosition:
    """Where a reader of the log stopped: after the last whole line it read, in which file.

    Attributes:
        offset: the byte after that line.
        file_id: (device, inode) of the file read, so a replaced file is read from its start.
    """

    offset: int = 0
    file_id: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class LogChunk:
    """What `AuditLog.read_since` found.

    Attributes:
        entries: the entries read, oldest first.
        damaged: whole lines that are not entries (skipped).
        torn: the file ends in an unfinished line (a crash mid-write, or a write under way).
        position: where the next read starts.
        restarted: the file was replaced or truncated: `entries` are from its start, and what was
            read before is no longer in it.
    """

    entries: list[AuditEntry]
    damaged: int
    torn: bool
    position: LogPosition
    restarted: bool = False


# -- searching ------------------------------------------------------------------------------------

# The kinds of change, by the first part of the action ("cull.delete" -> "cull"), in the order the
# console's work usually goes. "user.*" (older entries) and "users.*" are both chosen-user actions.
KIND_LABELS = {
    "tenant": "Tenant setup",
    "convert": "Conversion",
    "cull": "Cull",
    "users": "Chosen users",
}
_KIND_ALIASES = {"user": "users"}
# Kinds whose target is one user's ID (unless it is a count such as "3 users").
_USER_TARGET_KINDS = frozenset({"users", "convert"})


def action_kind(action: str) -> str:
    """The kind of change an action belongs to: "cull.delete" -> "cull", "user.enable" -> "users"."""
    kind = action.split(".", 1)[0]
    return _KIND_ALIASES.get(kind, kind)


def kind_label(kind: str) -> str:
    """A kind in words ("Cull"); a kind this version does not know is shown as it is."""
    return KIND_LABELS.get(kind, kind)


def entry_time(entry: AuditEntry) -> float | None:
    """When the entry was written, in epoch seconds; None if its time is not ISO 8601."""
    try:
        moment = datetime.fromisoformat(entry.time)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def entry_user_ids(entry: AuditEntry) -> tuple[str, ...]:
    """The user IDs an entry names, in order, each once: a one-user action's target, and every
    `userId` / `userIds` in its before and after (a cull batch lists the users it deleted)."""
    found: list[str] = []
    if action_kind(entry.action) in _USER_TARGET_KINDS and entry.target and not _has_space(entry.target):
        found.append(entry.target)
    for state in (entry.before, entry.after):
        _collect_user_ids(state, found, depth=0)
    return tuple(dict.fromkeys(found))


def _has_space(text: str) -> bool:
    return any(char.isspace() for char in text)


def _collect_user_ids(value: Any, found: list[str], *, depth: int) -> None:
    if depth > 4:  # entries are shallow; a deep value is not about users
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "userId" and isinstance(item, str) and item:
                found.append(item)
            elif key == "userIds" and isinstance(item, list):
                found += [user_id for user_id in item if isinstance(user_id, str) and user_id]
            else:
                _collect_user_ids(item, found, depth=depth + 1)
    elif isinstance(value, list):
        for item in value:
            _collect_user_ids(item, found, depth=depth + 1)


def search_text(entry: AuditEntry) -> str:
    """Everything a search looks in, case-folded: the text fields and the before/after values."""
    states = (
        json.dumps(state, ensure_ascii=False, sort_keys=True, default=str)
        for state in (entry.before, entry.after)
    )
    fields = (entry.action, entry.target, entry.result, entry.profile, entry.actor, entry.detail, entry.time)
    return "\n".join((*fields, *states)).casefold()


def search_terms(text: str) -> tuple[str, ...]:
    """The words of a search; an entry matches when its `search_text` holds every one."""
    return tuple(text.casefold().split())


@dataclass(frozen=True)
class AuditQuery:
    """Which entries to show. Empty sets and None bounds do not filter.

    Attributes:
        text: words that must all occur (any case) in the entry's fields or before/after values.
        kinds: `action_kind`s to keep.
        results: results to keep ("ok", "failed", "started").
        profiles: connection profiles to keep.
        since / until: epoch seconds, from `since` (included) to `until` (excluded); an entry whose
            time cannot be read is left out when either is given.
    """

    text: str = ""
    kinds: frozenset[str] = frozenset()
    results: frozenset[str] = frozenset()
    profiles: frozenset[str] = frozenset()
    since: float | None = None
    until: float | None = None

    def matches(self, entry: AuditEntry) -> bool:
        """Whether the entry passes every filter (the reference for faster, column-wise filters)."""
        if self.kinds and action_kind(entry.action) not in self.kinds:
            return False
        if self.results and entry.result not in self.results:
            return False
        if self.profiles and entry.profile not in self.profiles:
            return False
        if self.since is not None or self.until is not None:
            moment = entry_time(entry)
            if moment is None:
                return False
            if self.since is not None and moment < self.since:
                return False
            if self.until is not None and moment >= self.until:
                return False
        terms = search_terms(self.text)
        if terms:
            text = search_text(entry)
            return all(term in text for term in terms)
        return True


# -- Descope's own audit trail --------------------------------------------------------------------


async def descope_events(gateway: Gateway, user_id: str) -> list[AuditEvent]:
    """Descope's own audit events for one user (the last 30 days: all Descope keeps), newest first.

    The console's log says what the console did; this says what Descope saw happen to the user
    (sign-ins, changes made elsewhere), to read side by side.
    """
    events = await gateway.audit_search(user_ids=[user_id])
    return sorted(events, key=lambda event: event.occurred, reverse=True)


def _ends_without_newline(file: BinaryIO) -> bool:
    """Whether the (append-mode) file's last byte is something other than a newline."""
    size = file.seek(0, os.SEEK_END)
    if size == 0:
        return False
    file.seek(size - 1)
    return file.read(1) != b"\n"


_DAMAGED = object()  # a line that is not an entry
_BLANK = object()  # an empty line (not damage)


def _records(file: BinaryIO, start: int) -> Iterator[tuple[int, object, bool]]:
    """(offset after the line, its entry or _DAMAGED or _BLANK, whether it ends in a newline) for
    each line from byte `start` on."""
    file.seek(start)
    offset = start
    for raw in file:
        offset += len(raw)
        whole = raw.endswith(b"\n")
        if not raw.strip():
            yield offset, _BLANK, whole
            continue
        entry = parse_line(raw)
        yield offset, _DAMAGED if entry is None else entry, whole


def parse_line(raw: bytes) -> AuditEntry | None:
    """The entry on one line of the log, or None when the line is blank, damaged or foreign."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if type(data) is not dict:
        return None
    for name, value in data.items():  # a plain loop: this runs for each of 100k lines of a big log
        if type(value) is not _FIELD_TYPES.get(name):  # a wrong type, or a field entries do not have
            return None
    try:
        return AuditEntry(**data)
    except TypeError:  # missing or unknown fields
        return None
