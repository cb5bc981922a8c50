"""The cull preview dialog against a sandbox with the demo's users (505 expired anonymous users):
what-if recounts, the histogram, export, a confirmation that wants the count, a run that deletes
exactly the plan, and Cancel that stops after the batch under way.

Set CULL_DIALOG_SCREENSHOTS to a folder to save the dialog's screenshots (light and dark, 1200×800).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QLabel, QLineEdit, QPushButton, QWidget
from waiting import emitted, until

from anonconsole.app.palette import apply_color_scheme
from anonconsole.core.cull import CullPlan, Exclusion
from anonconsole.core.user_table import Column
from anonconsole.gateway import Connection, Gateway
from anonconsole.models.users_model import TABLE_ROW_ROLE
from anonconsole.operations import batch_run, cull
from anonconsole.operations.audit_log import AuditLog
from anonconsole.operations.batch_run import RunReport
from anonconsole.operations.shape import Refusal
from anonconsole.operations.users_snapshot import load_users
from anonconsole.views.cull_dialog import CANDIDATE_COLUMNS, CullDialog

PROJECT = "P2CullDialogTest000000000000"  # 28 characters, not the console's own sandbox
PROFILE = "Sandbox (demo)"
EXPIRED = 505  # the demo's anonymous users past their 52-week lifetime
SHOTS = os.environ.get("CULL_DIALOG_SCREENSHOTS", "")


def connection(sandbox: Any) -> Connection:
    return Connection(sandbox.project_id, sandbox.url, sandbox.management_key)


def user_ids(sandbox: Any) -> set[str]:
    """Every user of the sandbox, through the SDK (not through the console)."""
    client = sandbox.client()
    found: set[str] = set()
    page = 0
    while True:
        users = client.mgmt.user.search_all(limit=1000, page=page, with_test_user=True)["users"]
        found |= {u["userId"] for u in users}
        if len(users) < 1000:
            return found
        page += 1


async def open_dialog(qtbot: Any, gateway: Gateway, audit: AuditLog) -> CullDialog:
    """The dialog as the window opens it: rules from `prepare_rules`, the users loaded and classified."""
    rules = await cull.prepare_rules(gateway, project_id=PROJECT)
    assert not isinstance(rules, Refusal), rules
    table = await load_users(gateway, cull.policy_of(rules))
    dialog = CullDialog(gateway, table, rules, profile=PROFILE, project_id=PROJECT, audit=audit)
    qtbot.addWidget(dialog)
    dialog.open()
    return dialog


def shown_user_ids(dialog: CullDialog) -> list[str]:
    model = dialog.model
    return [
        dialog.table.user_id(model.data(model.index(row, 0), TABLE_ROW_ROLE))
        for row in range(model.rowCount())
    ]


def screenshot(app: QApplication, dialog: CullDialog, name: str) -> None:
    """The dialog in light and dark, when CULL_DIALOG_SCREENSHOTS names a folder."""
    if not SHOTS:
        return
    assert (dialog.width(), dialog.height()) == (1200, 800)
    try:
        for scheme in ("light", "dark"):
            apply_color_scheme(app, scheme)
            QCoreApplication.sendPostedEvents()  # the palette change reaches the widgets as an event
            dialog.grab().save(str(Path(SHOTS) / f"cull-dialog-{name}-{scheme}.png"))
    finally:
        apply_color_scheme(app, "light")
        QCoreApplication.sendPostedEvents()


def test_preview_recounts_plans_again_and_exports(
    qtbot: Any, arun: Callable[..., Any], start_sandbox: Callable[..., Any], tmp_path: Path
) -> None:
    sandbox = start_sandbox(demo=True, project_id=PROJECT)
    before = user_ids(sandbox)

    async def scenario() -> None:
        async with Gateway(connection(sandbox)) as gateway:
            dialog = await open_dialog(qtbot, gateway, AuditLog(tmp_path / "audit.jsonl"))
            plan = dialog.plan
            assert plan.count == EXPIRED
            assert dialog.summary.text() == (
                f"505 anonymous users of “Anonymous Users” in project {PROJECT} (profile “{PROFILE}”) "
                "were last active more than 12 months ago and will be deleted."
            )
            assert "Stage: delete at once" in dialog.details.text()
            assert "Estimated duration: about 1 second" in dialog.details.text()
            assert plan.plan_hash.removeprefix("sha256:")[:12] in dialog.plan_hash.text()
            assert dialog.approve_button.text() == "Delete 505 users…"
            assert dialog.approve_button.isEnabled()
            named = [w for w in dialog.findChildren(QWidget) if w.objectName().startswith("cull")]
            assert len(named) > 25
            for widget in named:
                assert widget.accessibleName(), widget.objectName()
                assert re.fullmatch(r"cull[A-Z][A-Za-z]*", widget.objectName()), widget.objectName()

            # The candidates: exactly the plan's, searchable and sortable.
            assert sorted(shown_user_ids(dialog)) == sorted(c.user_id for c in plan.candidates)
            assert dialog.candidate_count.text() == "505 users"
            target = plan.candidates[17]
            dialog.search.setText(target.login_id)
            dialog.apply_search()
            assert shown_user_ids(dialog) == [target.user_id]
            assert dialog.candidate_count.text() == "1 of 505 users"
            dialog.search.clear()
            dialog.apply_search()
            header = dialog.candidates.horizontalHeader()
            for column in (Column.CREATED, Column.LOGIN_IDS):
                for order in (Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder):
                    async with emitted(header.sortIndicatorChanged):
                        header.sectionClicked.emit(CANDIDATE_COLUMNS.index(column))
                    assert header.sortIndicatorOrder() == order
                    rows = [dialog.table.row_of(u) for u in shown_user_ids(dialog)]
                    keys = [dialog.table.display(r, column).lower() for r in rows]
                    assert len(keys) == EXPIRED
                    assert keys == sorted(keys, reverse=order == Qt.SortOrder.DescendingOrder)

            # The exclusions: every reason, its count and its sentence.
            tree = dialog.exclusions
            assert tree.topLevelItemCount() == len(plan.exclusions)
            for index, (reason, ids) in enumerate(plan.exclusions.items()):
                item = tree.topLevelItem(index)
                assert item is not None
                assert (item.text(1), item.text(3)) == (f"{len(ids):,}", reason.reason)
                assert item.childCount() == min(len(ids), 200) + (len(ids) > 200)
            kept = Exclusion.SIGNED_IN_AFTER_CUTOFF  # the demo's only reason: users who came back
            assert [r for r, ids in plan.exclusions.items() if ids] == [kept]
            assert dialog.exclusion_why.text() == f"Signed in after the cutoff: {kept.reason}"

            # The histogram: one bar set per series, a category per age bucket, the cutoff drawn.
            assert [s.label() for s in dialog.bars.barSets()] == ["To delete", "Kept"]
            assert all(s.count() == len(plan.buckets) for s in dialog.bars.barSets())
            assert dialog.ages_axis.categories() == [
                "0–1 mo",
                "1–3 mo",
                "3–6 mo",
                "6–12 mo",
                "1–2 y",
                "2–3 y",
                "> 3 y",
            ]
            assert len(plan.buckets) == 7
            assert sum(dialog.delete_set.at(i) for i in range(len(plan.buckets))) == EXPIRED
            # 52 weeks (plus 5 minutes for clock skew) fall near the end of the "6–12 months" bar.
            (x, _), (x_again, top) = ((p.x(), p.y()) for p in dialog.cutoff_line.points())
            assert plan.buckets[3].label == "6–12 months"
            assert 3.4 < x == x_again < 3.5
            assert top == dialog.count_axis.max()

            # What if: the counts follow the lifetime as it moves, and come back with it.
            async with emitted(dialog.recounted) as moved:
                dialog.lifetime.setValue(180)
            (shorter,) = moved.args
            assert shorter is not None
            assert shorter.count > EXPIRED
            assert dialog.what_if is shorter
            assert dialog.what_if_text.isVisibleTo(dialog)
            assert f"{shorter.count:,} users would be deleted (the plan: 505)" in dialog.what_if_text.text()
            assert sum(dialog.delete_set.at(i) for i in range(len(plan.buckets))) == shorter.count
            assert not tree.isColumnHidden(2)
            assert not dialog.approve_button.isEnabled(), "approving needs the plan, not a what-if"
            assert dialog.summary.text().startswith("505 anonymous users"), "the plan did not change"
            screenshot(QApplication.instance(), dialog, "what-if")  # type: ignore[arg-type]
            async with emitted(dialog.recounted) as moved:
                dialog.set_what_if(3 * 365, 30)
            (longer,) = moved.args
            assert longer.count < EXPIRED
            async with emitted(dialog.recounted) as moved:
                dialog.set_what_if(364, 0)
            assert moved.args == (None,)
            assert dialog.what_if is None
            assert not dialog.what_if_text.isVisibleTo(dialog)
            assert tree.isColumnHidden(2)
            assert dialog.approve_button.isEnabled()

            screenshot(QApplication.instance(), dialog, "preview")  # type: ignore[arg-type]

            # Make this the plan: a new plan, a new hash, the candidates and the header follow.
            dialog.set_what_if(180, 0)
            async with emitted(dialog.plan_changed) as changed:
                dialog.make_plan_button.click()
            (new_plan,) = changed.args
            assert new_plan is dialog.plan
            assert new_plan.count == shorter.count
            assert new_plan.plan_hash != plan.plan_hash
            assert new_plan.plan_hash.removeprefix("sha256:")[:12] in dialog.plan_hash.text()
            assert dialog.summary.text().startswith(f"{new_plan.count:,} anonymous users")
            assert "more than 6 months ago" in dialog.summary.text()
            assert dialog.model.rowCount() == new_plan.count
            assert dialog.what_if is None
            assert dialog.approve_button.text() == f"Delete {new_plan.count:,} users…"
            assert dialog.plan_seconds > 0

            # Export: the plan as JSON, the one shown; an unwritable place is said plainly.
            path = tmp_path / "approve-me.json"
            async with emitted(dialog.file_saved) as saved:
                dialog.export_button.click()
                await until(lambda: dialog.findChild(QFileDialog, "exportFileDialog") is not None)
                chooser = dialog.findChild(QFileDialog, "exportFileDialog")
                chooser.findChild(QLineEdit, "fileNameEdit").setText(str(path))
                chooser.accept()
            assert saved.args == (str(path), "")
            data = json.loads(path.read_text(encoding="utf-8"))
            assert data["planHash"] == dialog.plan.plan_hash
            assert CullPlan.from_json(data) == dialog.plan
            blocker = tmp_path / "a-file"
            blocker.write_text("not a folder")
            assert not await dialog.save_plan(blocker / "plan.json")
            assert dialog.status.text().startswith(f"{blocker} is a file, not a folder")
            csv_path = tmp_path / "read-me.csv"
            assert await dialog.save_plan(csv_path)  # the same plan as a sheet: who goes, who stays
            rows = csv_path.read_text(encoding="utf-8").splitlines()
            assert len(rows) > dialog.plan.count  # a header, each candidate, then each user kept

    arun(scenario(), timeout=240)
    assert user_ids(sandbox) == before, "a preview deletes nothing"


def test_a_wrong_count_runs_nothing_and_the_right_one_deletes_exactly_the_plan(
    qtbot: Any, arun: Callable[..., Any], start_sandbox: Callable[..., Any], tmp_path: Path
) -> None:
    sandbox = start_sandbox(demo=True, project_id=PROJECT)
    before = user_ids(sandbox)
    audit = AuditLog(tmp_path / "audit.jsonl")
    removed: list[str] = []

    async def scenario() -> tuple[CullPlan, RunReport]:
        async with Gateway(connection(sandbox)) as gateway:
            dialog = await open_dialog(qtbot, gateway, audit)
            dialog.users_removed.connect(removed.extend)
            plan = dialog.plan

            dialog.approve_button.click()
            confirmation = dialog.confirmation
            assert confirmation is not None
            assert confirmation.isVisible()
            assert confirmation.windowTitle() == "Delete 505 users?"
            assert confirmation.findChild(QPushButton, "cullConfirmOk") is confirmation.ok_button
            label = confirmation.findChild(QLabel, "cullConfirmText")
            assert label is not None
            body = label.text()
            assert PROJECT in body
            assert f"“{PROFILE}”" in body
            assert "Type 505 to confirm" in body
            for wrong in ("", "504", "5050", "5,05", "all", "-505", "505 users"):
                confirmation.count_edit.setText(wrong)
                assert not confirmation.ok_button.isEnabled(), wrong
            confirmation.accept()  # as Enter would: refused, nothing starts
            assert confirmation.isVisible()
            assert not dialog.running
            confirmation.reject()
            assert not dialog.running
            assert user_ids(sandbox) == before, "nothing is deleted without the confirmation"

            dialog.approve_button.click()
            confirmation = dialog.confirmation
            assert confirmation is not None
            confirmation.count_edit.setText("505")
            assert confirmation.ok_button.isEnabled()
            async with emitted(dialog.finished_run, timeout=120) as finished:
                confirmation.ok_button.click()
                assert dialog.running
                assert not dialog.approve_button.isEnabled()
            (report,) = finished.args
            assert report is dialog.report

            assert dialog.pages.currentWidget() is dialog.report_view
            assert dialog.report_summary.text() == "505 of 505 users deleted."
            assert dialog.report_counts.text().startswith("Deleted: 505")
            assert dialog.report_empty.text() == "Nothing was skipped and nothing failed."
            assert dialog.report_journal.text() == f"Journal: {report.journal}"
            assert report.journal.exists()
            assert dialog.model.rowCount() == 0, "the deleted candidates left the table"
            assert dialog.summary.text() == (
                f"The plan to delete 505 anonymous users of “Anonymous Users” in project {PROJECT} "
                f"(profile “{PROFILE}”), last active more than 12 months ago: the run has ended."
            )
            screenshot(QApplication.instance(), dialog, "report")  # type: ignore[arg-type]
            saved = tmp_path / "report.json"
            assert await dialog.save_report(saved)
            assert json.loads(saved.read_text(encoding="utf-8"))["deleted"] == 505
            dialog.reject()
            assert not dialog.isVisible(), "Close closes once the run has ended"
            return plan, report

    plan, report = arun(scenario(), timeout=240)
    approved = {c.user_id for c in plan.candidates}
    assert set(report.done) == approved
    assert not report.skipped
    assert not report.failed
    assert sorted(removed) == sorted(report.done), "users_removed carried each deleted user once"
    assert before - user_ids(sandbox) == approved, "exactly the plan's users are gone"
    actions = [(e.action, e.result) for e in audit.entries()]
    assert actions[0] == ("cull.run", "started")
    assert actions[-1] == ("cull.run", "ok")


def test_cancel_stops_after_the_batch_under_way(
    qtbot: Any,
    arun: Callable[..., Any],
    start_sandbox: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sandbox = start_sandbox(demo=True, project_id=PROJECT)
    monkeypatch.setattr(batch_run, "BATCH_SIZE", 50)
    removed: list[str] = []

    async def scenario() -> tuple[CullPlan, RunReport]:
        async with Gateway(connection(sandbox)) as gateway:
            dialog = await open_dialog(qtbot, gateway, AuditLog(tmp_path / "audit.jsonl"))
            dialog.users_removed.connect(removed.extend)
            came_back = dialog.plan.candidates[0]  # in the first batch
            sandbox.client().mgmt.jwt.sign_in(came_back.login_id)  # after the preview: re-checked, skipped
            sandbox.set_faults(latencyMs=300)  # slow requests: batches of ~1 s
            dialog.approve_button.click()
            assert dialog.confirmation is not None
            dialog.confirmation.count_edit.setText("505")
            async with emitted(dialog.users_removed, timeout=60):
                dialog.confirmation.ok_button.click()
            assert dialog.progress.value() == 50
            assert dialog.progress_text.text().startswith("49 of 505 users deleted — about ")
            screenshot(QApplication.instance(), dialog, "running")  # type: ignore[arg-type]

            # Closing while it runs asks first; "Keep running" keeps it running.
            dialog.reject()
            question = dialog.stop_question
            assert question is not None
            assert question.isVisible()
            assert dialog.isVisible()
            assert dialog.running
            keep = question.findChild(QPushButton, "cullKeepRunning")
            assert keep is not None
            keep.click()
            assert dialog.stop_question is None
            assert dialog.running

            async with emitted(dialog.finished_run, timeout=60) as finished:
                dialog.cancel_button.click()
                assert dialog.cancel_button.text() == "Stopping after this batch…"
                assert not dialog.cancel_button.isEnabled()
            (report,) = finished.args
            sandbox.set_faults(latencyMs=0)
            assert "cancelled: the rest were left alone" in dialog.report_summary.text()
            assert "Cancelled" in dialog.report_counts.text()
            assert dialog.model.rowCount() == EXPIRED - len(report.done), "the rest are still candidates"
            assert report.skipped == [(came_back.user_id, "signed in after the plan was made")]
            assert dialog.report_table.rowCount() == 1
            cells = [dialog.report_table.item(0, column).text() for column in range(3)]
            assert cells == [came_back.user_id, "skipped", "signed in after the plan was made"]
            screenshot(QApplication.instance(), dialog, "report-cancelled")  # type: ignore[arg-type]
            return dialog.plan, report

    plan, report = arun(scenario(), timeout=180)
    assert report.cancelled
    assert not report.failed
    assert 0 < len(report.done) < EXPIRED
    assert (len(report.done) + len(report.skipped)) % 50 == 0, "whole batches only"
    assert sorted(removed) == sorted(report.done)
    left = user_ids(sandbox)
    approved = {c.user_id for c in plan.candidates}
    assert not set(report.done) & left
    assert approved - set(report.done) <= left, "the rest of the plan is still there"
