"""Writing exports to real files: the text encoded, progress to the end, and nothing partial left by
an unwritable target, a failure mid-write or a Cancel (an existing file stays as it was)."""

from __future__ import annotations

import asyncio
import csv
import errno
import io
import json
from pathlib import Path

import pytest

from anonconsole.core.chosen import UserAction
from anonconsole.core.classify import AnonymousPolicy
from anonconsole.core.export import Chunked, Export, ExportFormat, encode, users_export
from anonconsole.core.records import User
from anonconsole.core.user_table import Column, TableFilter, UserTable
from anonconsole.operations import export as export_operation
from anonconsole.operations.batch_run import RunReport
from anonconsole.operations.export import SAVING, report_export, target_problem, write_export
from anonconsole.settings.files import AtomicFile

ROWS = 20_000


def numbers(count: int = ROWS) -> Export:
    """An export of `count` rows, each made when asked for."""

    def fetch(start: int, stop: int) -> list[tuple[str, str]]:
        return [(f"U{i:06d}", f'ünïcode, "{i}"') for i in range(start, stop)]

    def document() -> dict[str, object]:
        return {"export": "numbers", "rows": Chunked(count, lambda a, b: [list(r) for r in fetch(a, b)])}

    return Export("numbers", ("User ID", "Text"), Chunked(count, fetch), document)


def expected_text(export: Export, fmt: ExportFormat) -> str:
    return "".join(text for text, _ in encode(export, fmt).pieces)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.asyncio
@pytest.mark.parametrize("fmt", list(ExportFormat))
async def test_the_file_holds_the_export_and_progress_reaches_the_end(
    tmp_path: Path, fmt: ExportFormat
) -> None:
    path = tmp_path / f"out{fmt.suffix}"
    seen: list[tuple[int, int, str]] = []
    report = await write_export(numbers(), path, fmt, progress=lambda *args: seen.append(args))
    assert report.ok, report.error
    assert path.read_bytes() == expected_text(numbers(), fmt).encode("utf-8")  # no newline translation
    assert report.rows == ROWS
    assert report.size == path.stat().st_size
    assert report.summary().startswith(f"20,000 rows exported to {path} ({fmt.label}, ")
    done = [d for d, _, _ in seen]
    assert done == sorted(done)
    assert seen[-1] == (ROWS, ROWS, SAVING)
    assert len(seen) > 3  # many steps: the loop had turns in between
    assert leftovers(tmp_path) == []
    if fmt is ExportFormat.CSV:
        assert len(list(csv.reader(io.StringIO(path.read_text("utf-8"), newline="")))) == ROWS + 1
    else:
        assert len(json.loads(path.read_text("utf-8"))["rows"]) == ROWS


@pytest.mark.asyncio
async def test_an_existing_file_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    path.write_text("old\n")
    report = await write_export(numbers(10), path, ExportFormat.CSV)
    assert report.ok
    assert path.read_bytes().startswith(b"User ID,Text\r\nU000000,")


def unwritable_targets(tmp_path: Path) -> list[tuple[Path, str]]:
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-folder").mkdir()
    return [
        (tmp_path / "missing" / "out.csv", f"The folder {tmp_path / 'missing'} does not exist"),
        (tmp_path / "a-folder", f"{tmp_path / 'a-folder'} is a folder: give the export a file name"),
        (tmp_path / "a-file" / "out.csv", f"{tmp_path / 'a-file'} is a file, not a folder"),
    ]


@pytest.mark.asyncio
async def test_an_unwritable_target_is_refused_with_what_to_do(tmp_path: Path) -> None:
    for path, sentence in unwritable_targets(tmp_path):
        assert target_problem(path) is not None
        report = await write_export(numbers(10), path, ExportFormat.CSV)
        assert not report.ok
        assert report.error.startswith(sentence), report.error
        assert report.summary() == report.error
        assert not path.is_file()
    assert leftovers(tmp_path) == []


@pytest.mark.asyncio
async def test_a_folder_that_refuses_new_files_is_reported(tmp_path: Path) -> None:
    """/sys refuses new files, even to root, whom `os.access` lets pass everywhere: either the check
    or the failed creation says so, in the same words."""
    try:
        AtomicFile(Path("/sys/out.csv"), make_parents=False).discard()
    except PermissionError:
        pass
    else:
        pytest.skip("/sys takes new files here")
    report = await write_export(numbers(10), Path("/sys/out.csv"), ExportFormat.CSV)
    assert not report.ok
    assert "/sys" in report.error
    assert "permission" in report.error
    assert report.error.endswith("choose a folder you can write to.")


@pytest.mark.asyncio
async def test_a_failure_mid_write_leaves_nothing_and_the_old_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.json"
    path.write_text("the old export\n")
    writes: list[int] = []
    real_write = AtomicFile.write

    def write(self: AtomicFile, text: str) -> None:
        writes.append(len(text))
        if len(writes) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, text)

    monkeypatch.setattr(AtomicFile, "write", write)
    monkeypatch.setattr(export_operation, "WRITE_CHARS", 64 * 1024)  # several writes
    report = await write_export(numbers(), path, ExportFormat.JSON)
    assert not report.ok
    assert report.error == (
        f"Could not export to {path}: the disk holding {tmp_path} is full. "
        "Nothing was written; free some space or choose another disk."
    )
    assert len(writes) == 2
    assert path.read_text() == "the old export\n"
    assert leftovers(tmp_path) == []


@pytest.mark.asyncio
async def test_cancel_stops_the_export_and_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    path.write_text("kept\n")
    started = asyncio.Event()
    progress: list[int] = []

    def seen(done: int, _total: int, _text: str) -> None:
        progress.append(done)
        if done > 0:
            started.set()

    task = asyncio.ensure_future(write_export(numbers(), path, ExportFormat.CSV, progress=seen))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert 0 < progress[-1] < ROWS
    assert path.read_text() == "kept\n"
    assert leftovers(tmp_path) == []


@pytest.mark.asyncio
async def test_a_cancel_during_a_write_waits_for_the_write_then_removes_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker thread's write is not interrupted: the file is removed only after it returned."""
    path = tmp_path / "out.csv"
    in_write = asyncio.Event()
    loop = asyncio.get_running_loop()
    release = asyncio.Event()
    order: list[str] = []
    real_write, real_discard = AtomicFile.write, AtomicFile.discard

    def write(self: AtomicFile, text: str) -> None:
        loop.call_soon_threadsafe(in_write.set)
        asyncio.run_coroutine_threadsafe(release.wait(), loop).result(timeout=30)
        real_write(self, text)
        order.append("write")

    def discard(self: AtomicFile) -> None:
        order.append("discard")
        real_discard(self)

    monkeypatch.setattr(AtomicFile, "write", write)
    monkeypatch.setattr(AtomicFile, "discard", discard)
    task = asyncio.ensure_future(write_export(numbers(100), path, ExportFormat.CSV))
    await in_write.wait()
    task.cancel()
    await asyncio.sleep(0.05)
    assert not task.done()  # waiting for the write under way
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert order == ["write", "discard"]
    assert not path.exists()
    assert leftovers(tmp_path) == []


@pytest.mark.asyncio
async def test_users_replaced_mid_export_leave_nothing(tmp_path: Path) -> None:
    """The window's table cleared and filled with another project's users while exporting."""
    table = UserTable(AnonymousPolicy("", None), now=lambda: 0)
    table.append(User(f"U{i}", (f"login{i}",)) for i in range(ROWS))
    export = users_export(table, table.query(TableFilter()), (Column.USER_ID,), now=0)
    path = tmp_path / "users.csv"

    def replace_the_users(done: int, _total: int, _text: str) -> None:
        if done and table.user_id(0) == "U0":
            table.clear()
            table.append(User(f"Other{i}", (f"other{i}",)) for i in range(ROWS))

    report = await write_export(export, path, ExportFormat.CSV, progress=replace_the_users)
    assert report.error.startswith("The users were replaced while they were being exported")
    assert not path.exists()
    assert leftovers(tmp_path) == []


@pytest.mark.asyncio
async def test_a_run_report_exports_each_user_and_its_outcome(tmp_path: Path) -> None:
    report = RunReport(
        plan_hash="sha256:" + "ab" * 32,
        action=UserAction.DISABLE,
        journal=tmp_path / "run.jsonl",
        total=4,
        done=["U1", "U2"],
        skipped=[("U3", "converted: has a verified email")],
        failed=[("U4", "Descope answered 500, twice")],
    )
    export = report_export(report)
    assert export.name == "disable-report-" + "ab" * 6
    csv_report = await write_export(export, tmp_path / "r.csv", ExportFormat.CSV)
    assert csv_report.ok
    rows = list(csv.reader(io.StringIO((tmp_path / "r.csv").read_text("utf-8"), newline="")))
    assert rows == [
        ["User ID", "Outcome", "Detail"],
        ["U1", "disabled", ""],
        ["U2", "disabled", ""],
        ["U3", "skipped", "converted: has a verified email"],
        ["U4", "failed", "Descope answered 500, twice"],
    ]
    json_report = await write_export(export, tmp_path / "r.json", ExportFormat.JSON)
    assert json_report.ok
    assert json.loads((tmp_path / "r.json").read_text("utf-8")) == report.to_json()
