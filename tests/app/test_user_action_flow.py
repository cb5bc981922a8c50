"""Delete, disable and enable chosen users from the window: the Users menu, toolbar, context menu and
keys act on the selection of the page shown, through preview, confirmation, journal and report, and
the pages follow without a reload; an interrupted run is offered for resuming."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from memory_keyring import MemoryKeyring, installed
from PySide6.QtCore import QItemSelectionModel, Qt
from waiting import emitted, until
from windows import closed, connected, loaded

from anonconsole.core.chosen import ChosenPlan, UserAction, plan_action
from anonconsole.core.classify import Kind
from anonconsole.gateway import Connection, Gateway
from anonconsole.operations import journal
from anonconsole.operations.audit_log import AuditLog
from anonconsole.views.users_view import UsersView

PROJECT = "P2UserActionFlow".ljust(28, "0")


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    with installed() as backend:
        yield backend


def select(view: UsersView, rows: range) -> list[str]:
    """Select view rows as a person would (Ctrl+click); the IDs selected."""
    selection = view.view.selectionModel()
    for row in rows:
        selection.select(
            view.model.index(row, 0),
            QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
        )
    return [u.user_id for u in view.selected_users()]


def shown_ids(view: UsersView) -> set[str]:
    return {view.model.table.user_id(view.model.table_row(r)) for r in range(view.model.rowCount())}


def test_delete_acts_on_the_selection_after_the_count_is_typed_and_the_pages_follow(
    qtbot: Any, arun: Callable[..., Any], start_sandbox: Any, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    sandbox = start_sandbox(demo=True, project_id=PROJECT)
    manager, profile = connected(qtbot, sandbox, tmp_path)
    window = manager.window
    delete = window.user_actions[UserAction.DELETE]
    deleted: list[str] = []

    async def scenario() -> None:
        try:
            assert not delete.isEnabled()  # nothing connected
            assert await manager.switch_to(profile)
            await loaded(manager)
            await until(lambda: window.lifecycle.picture is not None, what="the lifecycle drawn")
            window.show_page("anonymous")
            page = window.users.views["anonymous"]
            assert not delete.isEnabled()  # nothing selected
            chosen = select(page, range(3))
            assert delete.isEnabled()
            assert delete.shortcut().toString() == "Del"
            assert set(page.user_actions) == {window.convert_action, *window.user_actions.values()}
            before = window.users.table.counts()[Kind.ANONYMOUS]
            async with emitted(manager.user_actions.opened) as opened:
                delete.trigger()
            (dialog,) = opened.args
            assert dialog.plan.user_ids == tuple(chosen)
            assert dialog.plan.project_id == PROJECT
            assert PROJECT in dialog.summary.text()
            assert "Staging" in dialog.summary.text()
            assert dialog.table.rowCount() == 3
            assert not dialog.act_button.isEnabled()  # the count is not typed yet
            dialog.start()  # refused too
            assert not dialog.running
            dialog.confirm_edit.setText("2")
            assert not dialog.act_button.isEnabled()
            dialog.confirm_edit.setText("3")
            assert dialog.act_button.isEnabled()
            async with emitted(dialog.finished_run, timeout=60) as finished:
                dialog.act_button.click()
            (report,) = finished.args
            assert report.ok
            assert set(report.done) == set(chosen)
            deleted.extend(report.done)
            assert window.users.table.counts()[Kind.ANONYMOUS] == before - 3  # no reload
            assert not shown_ids(page) & set(chosen)
            assert dialog.save_button.isVisible()
            saved = tmp_path / "report.json"
            assert await dialog.save_report(saved)
            assert '"deleted": 3' in saved.read_text()
            assert not await dialog.save_report(saved / "inside-a-file.json")  # its folder is a file
            assert "is a file, not a folder" in dialog.status.text()
            assert await dialog.save_report(tmp_path / "report.csv")
            assert (tmp_path / "report.csv").read_text().count("\n") == 4  # a header and each user
            dialog.close_button.click()
        finally:
            await closed(manager)

    arun(scenario(), timeout=240)
    found = sandbox.client().mgmt.user.search_all(limit=1000, with_test_user=True)["users"]
    assert not {u["userId"] for u in found} & set(deleted)
    (entry,) = [e for e in AuditLog().entries() if e.action == "users.delete"]
    assert entry.after["userIds"] == deleted
    assert entry.profile == "Staging"


def test_disable_then_enable_change_the_status_in_place(
    qtbot: Any, arun: Callable[..., Any], start_sandbox: Any, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    sandbox = start_sandbox(demo=True, project_id=PROJECT)
    manager, profile = connected(qtbot, sandbox, tmp_path)
    window = manager.window
    acted: list[str] = []

    async def scenario() -> None:
        try:
            assert await manager.switch_to(profile)
            await loaded(manager)
            window.show_page("all")
            page = window.users.views["all"]
            chosen = select(page, range(2))
            acted.extend(chosen)
            async with emitted(manager.user_actions.opened) as opened:
                window.user_actions[UserAction.DISABLE].trigger()
            (dialog,) = opened.args
            assert not dialog.confirm_edit.isVisible()  # reversible: a click is enough
            assert dialog.act_button.isEnabled()
            async with emitted(dialog.finished_run, timeout=60) as finished:
                dialog.act_button.click()
            assert finished.args[0].ok
            table = window.users.table
            assert {table.user(table.row_of(u)).status for u in chosen} == {"disabled"}  # type: ignore[arg-type]
            dialog.close_button.click()
            assert manager.user_actions.dialog is None
            page.view.selectionModel().clearSelection()
            rows = [page.model.view_row(table.row_of(u)) for u in chosen]  # type: ignore[arg-type]
            for row in rows:
                assert row is not None
                page.view.selectionModel().select(
                    page.model.index(row, 0),
                    QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
                )
            async with emitted(manager.user_actions.opened) as opened:
                window.user_actions[UserAction.ENABLE].trigger()
            (again,) = opened.args
            async with emitted(again.finished_run, timeout=60) as finished:
                again.act_button.click()
            assert set(finished.args[0].done) == set(chosen)
            assert {table.user(table.row_of(u)).status for u in chosen} == {"enabled"}  # type: ignore[arg-type]
        finally:
            await closed(manager)

    arun(scenario(), timeout=240)
    users = sandbox.client().mgmt.user.search_all(user_ids=acted, limit=1000, with_test_user=True)["users"]
    assert [u["status"] for u in users] == ["enabled", "enabled"]


def test_an_interrupted_action_is_offered_for_resuming(
    qtbot: Any, arun: Callable[..., Any], start_sandbox: Any, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    sandbox = start_sandbox(demo=True, project_id=PROJECT)
    manager, profile = connected(qtbot, sandbox, tmp_path)

    async def interrupted() -> journal.JournalState[ChosenPlan]:
        async with Gateway(Connection(PROJECT, sandbox.url, sandbox.management_key)) as gateway:
            users, _ = await gateway.search_users(page=0, limit=6)
        plan = plan_action(
            UserAction.DISABLE, users, tenant_id="", profile="Staging", project_id=PROJECT, now=0
        )
        run = journal.Journal.create(plan, project_id=PROJECT, profile="Staging")
        run.announce(0, "disable", list(plan.user_ids))
        return journal.read(run.path, ChosenPlan)

    async def scenario() -> None:
        state = await interrupted()
        try:
            assert await manager.switch_to(profile)
            box = manager.user_actions.question
            assert box is not None
            assert box.isVisible()
            assert "disable 6 chosen users" in box.text()
            resume = next(b for b in box.buttons() if b.text() == "Resume")
            async with emitted(manager.user_actions.resumed, timeout=60) as resumed:
                resume.click()
            assert resumed.args[0].ok
            assert journal.read(state.path, ChosenPlan).ended
        finally:
            await closed(manager)

    arun(scenario(), timeout=240)


def test_delete_in_the_search_box_edits_the_text_and_opens_nothing(
    qtbot: Any, arun: Callable[..., Any], start_sandbox: Any, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    sandbox = start_sandbox(demo=True, project_id=PROJECT)
    manager, profile = connected(qtbot, sandbox, tmp_path)
    window = manager.window

    async def scenario() -> None:
        try:
            assert await manager.switch_to(profile)
            await loaded(manager)
            window.show()
            window.show_page("all")
            page = window.users.views["all"]
            select(page, range(1))
            page.search.setFocus()
            page.search.setText("ab")
            page.search.setCursorPosition(0)
            qtbot.keyClick(page.search, Qt.Key.Key_Delete)
            assert page.search.text() == "b"
            assert manager.user_actions.dialog is None
        finally:
            await closed(manager)

    arun(scenario(), timeout=240)


def test_convert_opens_the_wizard_on_the_one_anonymous_user_and_the_pages_follow(
    qtbot: Any, arun: Callable[..., Any], start_sandbox: Any, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    """Users → Convert: on exactly one selected anonymous user; a conversion moves it from the
    Anonymous page to the Regular one without a reload."""
    from dataclasses import replace

    sandbox = start_sandbox(demo=True, project_id=PROJECT)
    manager, profile = connected(qtbot, sandbox, tmp_path)
    window = manager.window

    async def scenario() -> None:
        try:
            assert await manager.switch_to(profile)
            await loaded(manager)
            window.show_page("anonymous")
            page = window.users.views["anonymous"]
            assert window.export_action.isEnabled()  # a users page is shown
            select(page, range(2))
            assert not window.convert_action.isEnabled()  # one user at a time
            page.view.selectionModel().clearSelection()
            (chosen,) = select(page, range(1))
            assert window.convert_action.isEnabled()
            assert window.convert_action in page.user_actions
            wizard = manager.open_convert_wizard()
            assert wizard is not None
            assert wizard.user.user_id == chosen
            table = window.users.table
            before = table.counts()
            converted = replace(
                table.user(table.row_of(chosen)),  # type: ignore[arg-type]
                email="now.regular@example.com",
                verified_email=True,
                tenants=(),
            )
            wizard.converted.emit(converted)
            after = table.counts()
            assert after[Kind.ANONYMOUS] == before[Kind.ANONYMOUS] - 1
            assert after[Kind.REGULAR] == before[Kind.REGULAR] + 1
            assert chosen not in shown_ids(page)
            window.show_page("regular")
            assert chosen in shown_ids(window.users.views["regular"])
            wizard.reject()
        finally:
            await closed(manager)

    arun(scenario(), timeout=240)
