"""Delete, disable or enable the users chosen in a users view, from the window: the dialog on the
selection, the views updated batch by batch, and the resume of a run a crash interrupted."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox

from anonconsole.core.chosen import ChosenPlan, UserAction, plan_action
from anonconsole.operations import journal, user_actions
from anonconsole.operations.audit_log import AuditLog
from anonconsole.operations.batch_run import RunReport
from anonconsole.runtime import messages
from anonconsole.runtime.tasks import TaskOwner, in_thread
from anonconsole.settings.profiles import Profile
from anonconsole.views.main_window import MainWindow
from anonconsole.views.resume_question import ask_to_resume
from anonconsole.views.user_action_dialog import UserActionDialog

if TYPE_CHECKING:
    from anonconsole.gateway import Gateway

_STATUS = {UserAction.DELETE: None, UserAction.DISABLE: "disabled", UserAction.ENABLE: "enabled"}


class UserActionFlow(QObject):
    """Opens the action dialog on the users chosen in the page shown, and resumes interrupted runs.

    Attributes:
        dialog: the action dialog open now, if any.
        question: the offer to resume an interrupted run, once made.

    Signals:
        opened(object): the UserActionDialog, once shown.
        resumed(object): the RunReport of an interrupted run finished in the background.
    """

    opened = Signal(object)
    resumed = Signal(object)

    def __init__(self, window: MainWindow, audit: AuditLog | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.audit = audit or AuditLog()
        self.dialog: UserActionDialog | None = None
        self.question: QMessageBox | None = None
        self._tasks = TaskOwner("user actions")

    def open(self, gateway: Gateway, profile: Profile, action: UserAction) -> UserActionDialog | None:
        """The dialog for `action` on the users selected in the page shown (none: a message)."""
        if self.dialog is not None:
            self.dialog.raise_()
            return self.dialog
        view = self.window.current_users_view()
        users = view.selected_users() if view is not None else []
        if not users:
            messages.warning(f"Select the users to {action.value} in a users page first.")
            return None
        plan = plan_action(
            action,
            users,
            tenant_id=self.window.users.table.policy.tenant_id,
            profile=profile.name,
            project_id=gateway.connection.project_id,
            now=int(time.time()),
        )
        dialog = UserActionDialog(gateway, plan, audit=self.audit, parent=self.window)
        dialog.acted.connect(lambda ids: self._acted_on(ids, action))
        dialog.finished_run.connect(self._report)
        dialog.finished.connect(lambda _result: self._forget(dialog))
        self.dialog = dialog
        dialog.open()
        self.opened.emit(dialog)
        return dialog

    def _forget(self, dialog: UserActionDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None
            dialog.deleteLater()

    def _acted_on(self, user_ids: Sequence[str], action: UserAction) -> None:
        """The users views follow each batch at once: deleted users go, statuses change."""
        self.window.users.users_changed_here(user_ids, status=_STATUS[action])

    def _report(self, report: RunReport) -> None:
        (messages.info if report.ok else messages.warning)(report.summary())

    async def offer_resume(self, gateway: Gateway) -> None:
        """After connecting: an interrupted action on chosen users of this project is offered."""
        project_id = gateway.connection.project_id
        found = await in_thread(lambda: list(journal.unfinished(project_id, ChosenPlan)))
        for problem in (item for item in found if isinstance(item, journal.JournalError)):
            messages.warning(str(problem))
        states = [item for item in found if isinstance(item, journal.JournalState)]
        if not states:
            return
        state = states[0]
        plan = state.plan
        self.question = ask_to_resume(
            self.window,
            name="resumeUserActionQuestion",
            title=f"Interrupted {plan.action.value}",
            text=(
                f"An action to {plan.action.value} {plan.count:,} chosen users of “{state.profile}” "
                f"(project {project_id}) was interrupted: {len(state.handled()):,} dealt with, "
                f"started {state.started_at}."
            ),
            on_resume=lambda: self.resume(gateway, state),
        )

    def resume(self, gateway: Gateway, state: journal.JournalState[ChosenPlan]) -> None:
        """Finish `state`'s run in the background; progress and the report in the status bar."""
        self._tasks.start(self._resume(gateway, state), key="resume")

    async def _resume(self, gateway: Gateway, state: journal.JournalState[ChosenPlan]) -> RunReport:
        plan = state.plan
        report = await user_actions.run_action(
            gateway,
            plan,
            journal=journal.Journal(state.path),
            audit=self.audit,
            progress=lambda _done, _total, text: messages.info(f"Resuming: {text}"),
            resume=state,
            on_done=lambda ids: self._acted_on(ids, plan.action),
        )
        (messages.info if report.ok else messages.warning)(f"The interrupted run ended: {report.summary()}")
        self.resumed.emit(report)
        return report

    async def aclose(self) -> None:
        """Stop what runs (after its batch) and wait: the window is closing or the project changes."""
        if self.dialog is not None:
            await self.dialog.aclose()
        await self._tasks.aclose()
