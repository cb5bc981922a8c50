"""Export from the window: a page's file reads back equal to what the page shows (after search,
filters, sort, moved and hidden columns), the file dialog picks the format, Cancel and failures
leave nothing, plans and reports export, and no management key or password reaches an export."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QComboBox, QFileDialog, QLineEdit, QMessageBox, QProgressDialog, QWidget
from waiting import until

from anonconsole.core.chosen import UserAction
from anonconsole.core.classify import AnonymousPolicy, Kind
from anonconsole.core.cull import CullPlan, CullRules, plan_cull
from anonconsole.core.export import ExportFormat
from anonconsole.core.user_pages import PAGE_COLUMNS, PAGE_KINDS, ComputedColumn
from anonconsole.core.user_table import Column, UserTable
from anonconsole.gateway import Connection, Gateway
from anonconsole.models import users_model
from anonconsole.operations.batch_run import RunReport
from anonconsole.runtime import messages
from anonconsole.sandbox.seed import DEFAULT_ANON_PASSWORD
from anonconsole.views import export_dialog, users_area, users_view
from anonconsole.views.error_dialog import ErrorDialog
from anonconsole.views.export_dialog import export_plan, export_report, export_view
from anonconsole.views.users_area import UsersArea
from anonconsole.views.users_view import UsersView
from benchmarks.bench_filter_sort import ANON, NOW, synthetic_users

DAY = 86400


@pytest.fixture
def said() -> Iterator[list[str]]:
    """The status-bar messages sent meanwhile."""
    texts: list[str] = []
    unsubscribe = messages.subscribe(lambda message: texts.append(message.text))
    yield texts
    unsubscribe()


def table_of(count: int) -> UserTable:
    table = UserTable(AnonymousPolicy(ANON, 365 * DAY, 2 * DAY), now=lambda: NOW)
    table.append(synthetic_users(count))
    table.set_last_sign_ins({table.user_id(row): NOW - row * 997 for row in range(0, count, 4)})
    return table


def page(qtbot: Any, table: UserTable, kind: Kind | None) -> UsersView:
    view = UsersView(table, kind)
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    return view


def shown(view: UsersView) -> tuple[list[str], list[tuple[str, ...]]]:
    """The headings of the visible columns, in the order shown, and each row's cells as Qt shows them."""
    header = view.view.horizontalHeader()
    sections = sorted(
        (s for s in range(header.count()) if not header.isSectionHidden(s)), key=header.visualIndex
    )
    model = view.model
    rows = [
        tuple(model.data(model.index(row, section)) for section in sections)
        for row in range(model.rowCount())
    ]
    return [model.columns[s].heading for s in sections], rows


def read_csv(path: Path) -> tuple[list[str], list[tuple[str, ...]]]:
    headings, *rows = csv.reader(io.StringIO(path.read_text("utf-8"), newline=""))
    return headings, [tuple(row) for row in rows]


def read_json(path: Path) -> tuple[dict[str, Any], list[str], list[tuple[str, ...]]]:
    document = json.loads(path.read_text("utf-8"))
    keys = [c["key"] for c in document["columns"]]
    return (
        document,
        [c["heading"] for c in document["columns"]],
        [tuple(r[k] for k in keys) for r in document["rows"]],
    )


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_the_pages_show_the_rows_and_columns_core_defines() -> None:
    """One definition for the window and `anonconsole export` (core.user_pages)."""
    assert users_view.COLUMNS == PAGE_COLUMNS
    assert users_area.PAGE_KINDS == PAGE_KINDS
    assert users_model.ModelColumn.AGE is ComputedColumn.AGE


def test_an_export_is_the_page_as_shown(
    qtbot: Any, arun: Callable[..., Any], tmp_path: Path, said: list[str]
) -> None:
    table = table_of(3000)
    view = page(qtbot, table, None)
    header = view.view.horizontalHeader()

    async def scenario() -> None:
        view.search.setText("a")
        view.status_filter.setCurrentIndex(view.status_filter.findData("enabled"))
        view.apply_filters()
        await view.sort_by(view.model.columns.index(Column.CREATED), Qt.SortOrder.DescendingOrder)
        header.moveSection(header.visualIndex(view.model.columns.index(Column.USER_ID)), 0)  # first
        header.setSectionHidden(view.model.columns.index(Column.TENANTS), True)
        headings, rows = shown(view)
        assert 100 < len(rows) < 3000
        assert headings[0] == "User ID"
        assert "Tenants" not in headings
        assert "Age" in headings

        report = await export_view(view, view, path=tmp_path / "all.csv", now=NOW)
        assert report is not None
        assert report.ok
        assert read_csv(tmp_path / "all.csv") == (headings, rows)
        assert said[-1] == report.summary()
        assert said[-1].startswith(f"{len(rows):,} rows exported to {tmp_path / 'all.csv'} (CSV, ")

        report = await export_view(view, view, path=tmp_path / "all.json", now=NOW)
        assert report is not None
        assert report.ok
        document, got_headings, got_rows = read_json(tmp_path / "all.json")
        assert (got_headings, got_rows) == (headings, rows)
        assert document["view"] == "all"
        assert document["filter"]["search"] == "a"
        assert document["filter"]["statuses"] == ["enabled"]
        assert document["sort"] == {"column": "created", "descending": True}
        assert "projectId" not in document  # not connected: no project to name

    arun(scenario())
    assert leftovers(tmp_path) == []


def test_the_file_dialog_chooses_the_file_and_the_format(
    qtbot: Any, arun: Callable[..., Any], tmp_path: Path
) -> None:
    view = page(qtbot, table_of(50), Kind.ANONYMOUS)

    async def answer(name: str, filter_index: int | None) -> None:
        await until(lambda: view.findChild(QFileDialog, "exportFileDialog") is not None, what="the dialog")
        dialog = view.findChild(QFileDialog, "exportFileDialog")
        assert dialog.isVisible()
        assert dialog.testOption(QFileDialog.Option.DontUseNativeDialog)
        assert dialog.nameFilters() == ["CSV files (*.csv)", "JSON files (*.json)"]
        assert dialog.selectedFiles()[0].endswith("users-anonymous.csv")  # the name suggested
        if filter_index is not None:  # as a person picks it: the arrow keys on the file type box
            combo = dialog.findChild(QComboBox, "fileTypeCombo")
            while combo.currentIndex() < filter_index:
                QTest.keyClick(combo, Qt.Key.Key_Down)
            assert dialog.selectedNameFilter() == combo.currentText()
        if name:  # typed, as a person would: a full path is taken as it is
            dialog.findChild(QLineEdit, "fileNameEdit").setText(str(tmp_path / name))
            dialog.accept()
        else:
            dialog.reject()

    async def export_with(name: str, filter_index: int | None) -> Any:
        answering = asyncio.ensure_future(answer(name, filter_index))
        report = await export_view(view, view, now=NOW)
        await answering
        return report

    async def scenario() -> None:
        report = await export_with("typed", 1)  # JSON picked in the filter: its suffix added
        assert report.path == tmp_path / "typed.json"
        assert report.format is ExportFormat.JSON
        json.loads((tmp_path / "typed.json").read_text("utf-8"))
        report = await export_with("named.csv", 1)  # the suffix typed wins over the filter
        assert (report.path, report.format) == (tmp_path / "named.csv", ExportFormat.CSV)
        assert read_csv(tmp_path / "named.csv")[0][0] == "Login IDs"
        assert await export_with("", None) is None  # the dialog cancelled: nothing written

    arun(scenario())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["named.csv", "typed.json"]


def test_cancel_in_the_progress_dialog_leaves_nothing(
    qtbot: Any, arun: Callable[..., Any], tmp_path: Path, said: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_dialog, "SHOW_PROGRESS_AFTER_MS", 0)
    view = page(qtbot, table_of(100_000), None)
    path = tmp_path / "all.json"
    path.write_text("the previous export\n")

    async def cancel_when_shown() -> None:
        await until(
            lambda: (d := view.findChild(QProgressDialog, "exportProgress")) is not None and d.isVisible(),
            what="the progress dialog",
        )
        dialog = view.findChild(QProgressDialog, "exportProgress")
        bar = dialog.findChild(QWidget, "exportProgressBar")
        await until(lambda: bar.value() > 0, what="some progress")
        assert dialog.isModal()
        dialog.findChild(QWidget, "exportCancel").click()

    async def scenario() -> None:
        cancelling = asyncio.ensure_future(cancel_when_shown())
        assert await export_view(view, view, path=path, now=NOW) is None
        await cancelling
        await until(lambda: view.findChild(QProgressDialog, "exportProgress") is None, what="the dialog gone")

    arun(scenario())
    assert path.read_text() == "the previous export\n"
    assert leftovers(tmp_path) == []
    assert said[-1] == f"Export cancelled: nothing was written to {path}."


def test_an_unwritable_path_says_what_to_do(qtbot: Any, arun: Callable[..., Any], tmp_path: Path) -> None:
    view = page(qtbot, table_of(20), Kind.REGULAR)
    path = tmp_path / "missing" / "regular.csv"

    async def scenario() -> None:
        report = await export_view(view, view, path=path, now=NOW)
        assert report is not None
        assert not report.ok
        box = view.findChild(QMessageBox, "exportError")
        assert box is not None
        assert box.isVisible()
        assert box.text() == report.error
        assert box.text().startswith(f"The folder {tmp_path / 'missing'} does not exist: create it")
        box.accept()

    arun(scenario())
    assert list(tmp_path.iterdir()) == []


def test_an_unexpected_error_opens_the_error_dialog(
    qtbot: Any, arun: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = page(qtbot, table_of(20), Kind.ANONYMOUS)

    async def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("a bug in the export")

    monkeypatch.setattr(export_dialog, "write_export", broken)

    async def scenario() -> None:
        assert await export_view(view, view, path=tmp_path / "a.csv", now=NOW) is None
        dialog = view.findChild(ErrorDialog)
        assert dialog is not None
        assert dialog.isVisible()
        assert "RuntimeError: a bug in the export" in dialog.details.toPlainText()
        dialog.close()

    arun(scenario())


def test_a_plan_and_a_report_export(qtbot: Any, arun: Callable[..., Any], tmp_path: Path) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    table = table_of(2000)
    plan = plan_cull(
        table, CullRules(ANON, "Anonymous Users", 365 * DAY), now=NOW, profile="Staging", project_id="P2X"
    )
    assert plan.count > 100
    report = RunReport(
        plan.plan_hash,
        UserAction.DELETE,
        tmp_path / "run.jsonl",
        plan.count,
        done=[c.user_id for c in plan.candidates[:-1]],
        failed=[(plan.candidates[-1].user_id, "Descope answered 503")],
    )

    async def scenario() -> None:
        for fmt in ExportFormat:
            written = await export_plan(parent, plan, path=tmp_path / f"plan{fmt.suffix}")
            assert written is not None
            assert written.ok
            written = await export_report(parent, report, path=tmp_path / f"report{fmt.suffix}")
            assert written is not None
            assert written.ok

    arun(scenario())
    assert CullPlan.from_json(json.loads((tmp_path / "plan.json").read_text("utf-8"))) == plan
    headings, rows = read_csv(tmp_path / "plan.csv")
    assert headings[:3] == ["User ID", "Login ID", "Decision"]
    assert [row[0] for row in rows[: plan.count]] == [c.user_id for c in plan.candidates]
    assert json.loads((tmp_path / "report.json").read_text("utf-8")) == report.to_json()
    headings, rows = read_csv(tmp_path / "report.csv")
    assert rows[-1] == (plan.candidates[-1].user_id, "failed", "Descope answered 503")
    assert {row[1] for row in rows[:-1]} == {"deleted"}


def test_no_key_or_password_in_any_export_of_a_connected_window(
    qtbot: Any, arun: Callable[..., Any], sandbox: Any, tmp_path: Path
) -> None:
    """Users with passwords on a real sandbox, loaded as the window loads them; every page exported."""
    client = sandbox.client()
    passwords = {f"exported-{secrets.token_hex(4)}@example.com": "Exp0rt-Secret-Pass"}
    for login_id, password in passwords.items():
        client.mgmt.user.create(login_id, email=login_id, verified_email=True, display_name="Exported Person")
        client.mgmt.user.set_active_password(login_id, password)
    area = UsersArea()
    for view in area.views.values():
        qtbot.addWidget(view)
    texts: list[str] = []

    async def scenario() -> None:
        async with Gateway(Connection(sandbox.project_id, sandbox.url, sandbox.management_key)) as gateway:
            await area.connect_to(gateway)
            await area.wait()
            for key, view in area.views.items():
                for fmt in ExportFormat:
                    path = tmp_path / f"{key}{fmt.suffix}"
                    report = await export_view(view, view, path=path)
                    assert report is not None
                    assert report.ok, report.error
                    texts.append(path.read_text("utf-8"))
            await area.close()

    arun(scenario())
    everything = "\n".join(texts)
    assert all(login_id in everything for login_id in passwords)
    assert json.loads(texts[-1])["projectId"] == sandbox.project_id
    for secret in [sandbox.management_key, DEFAULT_ANON_PASSWORD, *passwords.values()]:
        fragments = {secret[i : i + 10] for i in range(len(secret) - 9)} | {secret}
        assert not [f for f in fragments if f in everything]
