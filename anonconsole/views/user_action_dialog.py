"""Delete, disable or enable the users a person chose: preview, confirm, run with progress, report.

The dialog shows exactly the plan (`core.chosen.ChosenPlan`) it will act on: the project, the
profile and each chosen user as it was seen. A delete cannot be undone, so it wants the count typed;
disable and enable are reversible and want a click. The run is `operations.user_actions.run_action`
(journaled, re-checked batch by batch, audited); Cancel and closing stop it after the batch under
way. The report says what was done, what was left alone and why, and what failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from anonconsole.core.chosen import ChosenPlan, UserAction
from anonconsole.core.classify import Kind, format_duration
from anonconsole.operations import user_actions
from anonconsole.operations.audit_log import AuditLog
from anonconsole.operations.batch_run import RunReport
from anonconsole.operations.export import ExportReport
from anonconsole.operations.journal import Journal
from anonconsole.runtime.tasks import TaskOwner, in_thread
from anonconsole.views import export_dialog, style
from anonconsole.views.widgets import named, tab_chain

if TYPE_CHECKING:
    from anonconsole.gateway import Gateway

# Rows the tables show; the saved report (and the journal) list every user.
SHOWN_ROWS = 1000
_CONSEQUENCE = {
    UserAction.DELETE: "Deleted users cannot be restored: their IDs, sessions and data in Descope are gone.",
    UserAction.DISABLE: "Disabled users cannot sign in or refresh a session until they are enabled again.",
    UserAction.ENABLE: "Enabled users can sign in again.",
}


def users_text(count: int) -> str:
    return "1 user" if count == 1 else f"{count:,} users"


class UserActionDialog(QDialog):
    """Act on chosen users of one project, from preview to report.

    Open with `open()` (non-blocking).

    Attributes:
        plan: what the confirmation approves and the run acts on.
        report: the run's report once it ended.

    Signals:
        acted(object): the user IDs of a batch just acted on (views drop or update them at once).
        finished_run(object): the RunReport, once the run ended (done, cancelled or stopped).
    """

    acted = Signal(object)
    finished_run = Signal(object)

    def __init__(
        self, gateway: Gateway, plan: ChosenPlan, *, audit: AuditLog, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.gateway = gateway
        self.plan = plan
        self.audit = audit
        self.report: RunReport | None = None
        self._stop: asyncio.Event | None = None
        self._run_task: asyncio.Task[None] | None = None
        self._tasks = TaskOwner("user action")
        verb = plan.action.value
        named(self, f"{verb}UsersDialog", f"{verb.capitalize()} users")
        self.setWindowTitle(f"{verb.capitalize()} {users_text(plan.count)} — project {plan.project_id}")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self._build()
        self._show_plan()
        self.resize(760, 520)

    # ---- building -------------------------------------------------------------------------------
    def _build(self) -> None:
        self.summary = named(QLabel(self), "userActionSummary", "What will happen")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        style.apply(self.summary)
        self.table = named(QTableWidget(0, 4, self), "userActionTable", "The chosen users")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.setTabKeyNavigation(False)
        self.note = named(QLabel(self), "userActionNote", "Note")
        self.note.setWordWrap(True)
        self.confirm_label = QLabel(self)
        self.confirm_edit = named(
            QLineEdit(self), "userActionConfirmCount", "Type the number of users to confirm"
        )
        self.confirm_label.setBuddy(self.confirm_edit)
        self.confirm_edit.textChanged.connect(self._update_buttons)
        self.progress = named(QProgressBar(self), "userActionProgress", "Progress")
        self.progress_text = named(QLabel(self), "userActionProgressText", "Progress")
        self.progress_text.setWordWrap(True)
        self.status = named(QLabel(self), "userActionStatus", "Status")
        self.status.setWordWrap(True)
        style.apply(self.status)

        self.act_button = named(QPushButton(self), "userActionRun", "Run")
        self.act_button.setDefault(True)
        self.act_button.clicked.connect(self.start)
        self.stop_button = named(
            QPushButton("Stop after this batch", self), "userActionStop", "Stop after this batch"
        )
        self.stop_button.clicked.connect(self.cancel_run)
        self.save_button = named(
            QPushButton("&Save report…", self), "userActionSaveReport", "Save the report"
        )
        self.save_button.clicked.connect(self._ask_report_path)
        self.close_button = named(QPushButton("Cancel", self), "userActionClose", "Close")
        self.close_button.clicked.connect(self.reject)

        confirm_row = QHBoxLayout()
        confirm_row.addWidget(self.confirm_label)
        confirm_row.addWidget(self.confirm_edit, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        for button in (self.save_button, self.stop_button, self.act_button, self.close_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.note)
        layout.addLayout(confirm_row)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_text)
        layout.addLayout(buttons)
        tab_chain(
            [
                self.table,
                self.confirm_edit,
                self.act_button,
                self.save_button,
                self.stop_button,
                self.close_button,
            ]
        )

    def _fill(self, headings: Sequence[str], rows: Sequence[Sequence[str]], what: str) -> None:
        shown = rows[:SHOWN_ROWS]
        self.table.clear()
        self.table.setColumnCount(len(headings))
        self.table.setHorizontalHeaderLabels(list(headings))
        self.table.setRowCount(len(shown))
        for row, cells in enumerate(shown):
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(text))
        for column, width in enumerate((250, 200, 120)[: len(headings) - 1]):
            self.table.setColumnWidth(column, width)
        self.table.setVisible(bool(rows))
        more = (
            f"The first {len(shown):,} of {len(rows):,} {what} are listed; " if len(rows) > len(shown) else ""
        )
        self.note.setText(more)

    def _show_plan(self) -> None:
        plan, verb = self.plan, self.plan.action.value
        self.summary.setText(
            f"{verb.capitalize()} {users_text(plan.count)} of project {plan.project_id} "
            f"(profile “{plan.profile}”)?\n\n"
            f"Each user is looked at again right before: one that is gone, or changed since you chose it "
            f"(other login IDs, another kind), is left alone. {_CONSEQUENCE[plan.action]}"
        )
        rows = [(u.user_id, u.login_id, Kind(u.kind).label, u.status or "—") for u in plan.users]
        self._fill(("User ID", "Login ID", "Kind", "Status"), rows, "chosen users")
        estimate = user_actions.estimated_seconds(plan.count)
        if estimate >= 60:
            self.note.setText(
                f"{self.note.text()}About {format_duration(int(estimate))} at Descope's rate limit.".strip()
            )
        typed = plan.action is UserAction.DELETE
        self.confirm_label.setText(f"&Type {plan.count} to confirm:")
        self.confirm_label.setVisible(typed)
        self.confirm_edit.setVisible(typed)
        self.confirm_edit.setPlaceholderText(str(plan.count))
        self.act_button.setText(f"{verb.capitalize()} {users_text(plan.count)}")
        self.act_button.setAccessibleName(f"{verb.capitalize()} the chosen users")
        self.progress.hide()
        self.progress_text.hide()
        self.stop_button.hide()
        self.save_button.hide()
        (self.confirm_edit if typed else self.act_button).setFocus()
        self._update_buttons()

    # ---- the run --------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._run_task is not None and not self._run_task.done()

    def confirmed(self) -> bool:
        """A delete wants the exact count typed ("1234" or "1,234"); disable and enable a click."""
        if self.plan.action is not UserAction.DELETE:
            return True
        return self.confirm_edit.text().strip() in (str(self.plan.count), f"{self.plan.count:,}")

    def start(self) -> None:
        """Run the plan; refused until confirmed, and only once."""
        if self.running or self.report is not None or not self.confirmed():
            return
        self._stop = asyncio.Event()
        self._run_task = self._tasks.start(self._run(self._stop), key="run")
        self._run_task.add_done_callback(lambda _task: self._update_buttons())
        self._update_buttons()

    async def _run(self, stop: asyncio.Event) -> None:
        plan = self.plan
        self.confirm_label.hide()
        self.confirm_edit.hide()
        self.progress.setRange(0, max(plan.count, 1))
        self.progress.setValue(0)
        self.progress.show()
        self.progress_text.setText("Writing the journal…")
        self.progress_text.show()
        self._say("")
        try:
            journal = await in_thread(
                lambda: Journal.create(plan, project_id=plan.project_id, profile=plan.profile)
            )
        except OSError as exc:
            self._say(
                f"Nothing was done: the journal could not be written ({exc.strerror or exc}).", error=True
            )
            self.progress.hide()
            self.progress_text.hide()
            return
        report = await user_actions.run_action(
            self.gateway,
            plan,
            journal=journal,
            audit=self.audit,
            progress=self._progress,
            stop=stop,
            on_done=lambda ids: self.acted.emit(list(ids)),
        )
        self.report = report
        self._show_report(report)
        self.finished_run.emit(report)

    def _progress(self, done: int, total: int, text: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        stopping = self._stop is not None and self._stop.is_set()
        self.progress_text.setText(f"{text} — stopping after this batch…" if stopping else text)

    def cancel_run(self) -> None:
        """Stop after the batch under way (a batch is never cut in the middle)."""
        if not self.running or self._stop is None or self._stop.is_set():
            return
        self._stop.set()
        self.stop_button.setEnabled(False)
        self.progress_text.setText(f"{self.progress_text.text()} — stopping after this batch…")

    def _show_report(self, report: RunReport) -> None:
        self.summary.setText(f"{report.summary()}\n\nJournal: {report.journal}")
        state = "ok" if report.ok else "error" if report.failed or report.stopped else "cancelled"
        style.set_state(self.summary, "state", state)
        rows = [(u, "left alone", why) for u, why in report.skipped] + [
            (u, "failed", e) for u, e in report.failed
        ]
        self._fill(("User ID", "Outcome", "Why"), rows, "users left alone or failed")
        if not rows:
            self.note.setText(
                f"All {users_text(len(report.done))} {report.action.past}; nothing was left alone."
            )
        self.progress.hide()
        self.progress_text.hide()
        self.save_button.show()
        self.save_button.setFocus()

    def _update_buttons(self, *_args: object) -> None:
        running, spent = self.running, self.report is not None
        self.act_button.setVisible(not spent)
        self.act_button.setEnabled(not running and not spent and self.confirmed())
        self.stop_button.setVisible(running)
        self.stop_button.setEnabled(running and not (self._stop is not None and self._stop.is_set()))
        self.close_button.setText("Close" if spent else "Cancel")
        self.close_button.setEnabled(not running)

    # ---- the report on disk ---------------------------------------------------------------------
    def _ask_report_path(self) -> None:
        if self.report is not None:
            self._tasks.start(self._saved(export_dialog.export_report(self, self.report)), key="save")

    async def save_report(self, path: Path) -> bool:
        """Write the report to `path` (JSON or CSV by its suffix); False (and a message) when it cannot."""
        if self.report is None:
            raise RuntimeError("There is no report before a run has ended.")
        return await self._saved(export_dialog.export_report(self, self.report, path=path))

    async def _saved(self, export: Awaitable[ExportReport | None]) -> bool:
        written = await export_dialog.told(export, self.status)
        return written is not None and written.ok

    def _say(self, text: str, *, error: bool = False) -> None:
        style.say(self.status, text, error=error)

    # ---- closing --------------------------------------------------------------------------------
    def reject(self) -> None:
        """Esc or Cancel: closes when idle; while running, stops after the batch under way."""
        if self.running:
            self.cancel_run()
            self._say("Stopping after this batch; close the dialog once the report is shown.")
            return
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.running:
            event.ignore()
            self.reject()
            return
        super().closeEvent(event)

    async def aclose(self) -> None:
        """For the window's shutdown: a run stops after its batch under way (awaited)."""
        task = self._run_task
        if task is not None and not task.done():
            self.cancel_run()
            await asyncio.gather(asyncio.shield(task), return_exceptions=True)
        await self._tasks.aclose()
