"""Writing an export (a users view, a cull plan, a cull report) to a CSV or JSON file.

The text is made a slice at a time in CPU turns on the loop (`runtime.cpu_turns`: the window stays
smooth, and the table is read on the thread that changes it) and written in worker threads, a
megabyte at a time, to a temporary file beside the target, renamed over it only once complete
(`settings.files.AtomicFile`). A failure or a Cancel (cancelling the task) removes the temporary
file: nothing partial is ever left, and an existing file at the target stays as it was.

Shared by the window (`views.export_dialog`) and `anonconsole export`.
"""

from __future__ import annotations

import asyncio
import errno
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from anonconsole.core.export import Chunked, Export, ExportFormat, RowsChanged, encode
from anonconsole.operations.batch_run import RunReport
from anonconsole.operations.shape import Progress, no_progress
from anonconsole.runtime.cpu_turns import cpu_turn
from anonconsole.runtime.tasks import in_thread
from anonconsole.settings.files import AtomicFile

T = TypeVar("T")

WRITE_CHARS = 1 << 20  # text gathered before one write (a worker thread's call)
SAVING = "Saving…"  # the progress text once the file is complete and being renamed into place


@dataclass(frozen=True)
class ExportReport:
    """How an export ended (an `operations.shape.Report`).

    Attributes:
        path / format: where and how it was (or was to be) written.
        rows: the rows of the export's table (what a CSV holds).
        size: the file's size in bytes (0 when nothing was written).
        seconds: how long the export took.
        error: why nothing was written, in words that say what to do ("" when it was).
    """

    path: Path
    format: ExportFormat
    rows: int = 0
    size: int = 0
    seconds: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    def summary(self) -> str:
        if self.error:
            return self.error
        return f"{self.rows:,} rows exported to {self.path} ({self.format.label}, {_size_text(self.size)})."


def _size_text(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def target_problem(path: Path) -> str | None:
    """Why an export cannot be written to `path` (a sentence saying what to do), None when it can.

    Blocking (it looks at the file system). Checked before any work starts; a failure while
    writing is still possible (a full disk) and is reported by `write_export`.
    """
    folder = path.parent
    if path.is_dir():
        return f"{path} is a folder: give the export a file name, such as {path / 'users.csv'}."
    if not folder.exists():
        return f"The folder {folder} does not exist: create it, or choose another folder."
    if not folder.is_dir():
        return f"{folder} is a file, not a folder: choose a folder for the export."
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"Cannot write in {folder} (permission denied): choose a folder you can write to."
    return None


def describe_os_error(path: Path, exc: OSError) -> str:
    """A failed write in words that say what to do; nothing was left behind."""
    folder = path.parent
    match exc.errno:
        case errno.ENOSPC | errno.EDQUOT:
            what = f"the disk holding {folder} is full"
            todo = "free some space or choose another disk"
        case errno.EACCES | errno.EPERM:
            what = f"permission to write in {folder} was denied"
            todo = "choose a folder you can write to"
        case errno.EROFS:
            what = f"{folder} is on a read-only file system"
            todo = "choose another folder"
        case errno.ENOENT | errno.ENOTDIR:
            what = f"the folder {folder} does not exist (any more)"
            todo = "choose an existing folder"
        case errno.EISDIR:
            what = f"{path} is a folder"
            todo = "give the export a file name"
        case _:
            what = exc.strerror or str(exc)
            todo = "choose another file"
    return f"Could not export to {path}: {what}. Nothing was written; {todo}."


async def write_export(
    export: Export, path: Path, fmt: ExportFormat, *, progress: Progress = no_progress
) -> ExportReport:
    """Write `export` to `path` in `fmt`; the report says how it ended (never raises for a failed write).

    `progress(done, total, text)` follows the rows (or list items, in JSON); its text is `SAVING`
    once the file is complete and being put in place. Cancelling the task stops the export and
    removes what was written (the cancellation propagates).
    """
    started = time.perf_counter()

    def failed(error: str) -> ExportReport:
        return ExportReport(path, fmt, export.rows.count, seconds=time.perf_counter() - started, error=error)

    problem = await in_thread(lambda: target_problem(path))
    if problem is not None:
        return failed(problem)
    try:
        file = await in_thread(lambda: AtomicFile(path, make_parents=False))
    except OSError as exc:
        return failed(describe_os_error(path, exc))
    try:
        total = await _write(file, export, fmt, progress)
        progress(total, total, SAVING)
        size = await _settled(lambda: _commit(file))
    except OSError as exc:
        await _settled(file.discard)
        return failed(describe_os_error(path, exc))
    except RowsChanged as exc:
        await _settled(file.discard)
        return failed(str(exc))
    except BaseException:
        await _settled(file.discard)
        raise
    return ExportReport(path, fmt, export.rows.count, size, time.perf_counter() - started)


async def _write(file: AtomicFile, export: Export, fmt: ExportFormat, progress: Progress) -> int:
    """Make the text in CPU turns; write it a megabyte at a time in a worker thread. Returns the
    number of items `progress` counted."""
    encoded = encode(export, fmt)
    total, pieces = encoded.total, encoded.pieces
    noun = "rows" if fmt is ExportFormat.CSV else "items"
    done = 0
    progress(done, total, f"Exporting {total:,} {noun}…")
    buffer: list[str] = []
    gathered = 0
    finished = False
    while not finished:
        async with cpu_turn() as deadline:
            while gathered < WRITE_CHARS:
                piece = next(pieces, None)
                if piece is None:
                    finished = True
                    break
                text, items = piece
                buffer.append(text)
                gathered += len(text)
                done += items
                if time.perf_counter() >= deadline:
                    break
        progress(done, total, f"Exported {done:,} of {total:,} {noun}…")
        if gathered >= WRITE_CHARS or (finished and buffer):
            text = "".join(buffer)
            buffer.clear()
            gathered = 0
            await _settled(_writer(file, text))
    return total


def _writer(file: AtomicFile, text: str) -> Callable[[], None]:
    """A closure, not `partial(file.write, text)`: qasync logs the callables it runs (`in_thread`),
    and a partial's text would put a megabyte of users into the log."""
    return lambda: file.write(text)


def _commit(file: AtomicFile) -> int:
    file.commit()
    return file.path.stat().st_size


async def _settled(call: Callable[[], T]) -> T:
    """A file call in a worker thread that, once started, ends before anything else touches the file.

    A cancellation arriving meanwhile waits for the call, then propagates: the file is never closed
    or removed under a write still running in the thread.
    """
    task = asyncio.ensure_future(in_thread(call))
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():
                cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return task.result()


# ---- a run's report (a cull's, or an action on chosen users) ---------------------------------------

REPORT_HEADINGS = ("User ID", "Outcome", "Detail")


def report_export(report: RunReport) -> Export:
    """A run's report: its JSON is `RunReport.to_json`; its CSV has a row per user the run acted on
    (deleted, disabled or enabled), skipped (why) or failed on (the error)."""
    rows: list[tuple[str, str, str]] = [
        *((user_id, report.action.past, "") for user_id in report.done),
        *((user_id, "skipped", reason) for user_id, reason in report.skipped),
        *((user_id, "failed", error) for user_id, error in report.failed),
    ]
    digest = report.plan_hash.removeprefix("sha256:")[:12]
    return Export(f"{report.action.value}-report-{digest}", REPORT_HEADINGS, Chunked.of(rows), report.to_json)
