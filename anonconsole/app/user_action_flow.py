"""Delete, disable or enable the users chosen in a users view, from the window: the dialog on the
selection, the views updated batch by batch, and the resume of a run a crash interrupted."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from anonconsole.app.run_flow import RunFlow
from anonconsole.core.chosen import ChosenPlan, UserAction, plan_action
from anonconsole.operations import journal, user_actions
from anonconsole.operations.audit_log import AuditLog
from anonconsole.operations.batch_run import RunReport
from anonconsole.runtime import messages
from anonconsole.runtime.tasks import in_thread
from anonconsole.settings.profiles import Profile
from anonconsole.views.main_window import MainWindow
from anonconsole.views.resume_question import ask_to_resume
from anonconsole.views.user_action_dialog import UserActionDialog

if TYPE_CHECKING:
    from anonconsole.gateway import Gateway

_STATUS = {UserAction.DELETE: None, UserAction.DISABLE: "disabled", UserAction.ENABLE: "enabled"}


class UserActionFlow(RunFlow[UserActionDialog]):
    """Opens the action dialog on the users chosen in the page shown, and resumes interrupted runs
    (`RunFlow`)."""

    def __init__(self, window: MainWindow, audit: AuditLog | None = None) -> None:
        super().__init__(window, audit, "user actions")

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
        run = user_actions.run_action(
            gateway,
            plan,
            journal=journal.Journal(state.path),
            audit=self.audit,
            progress=self._resume_progress(f"action on {plan.count:,} chosen users"),
            resume=state,
            on_done=lambda ids: self._acted_on(ids, plan.action),
        )
        return await self._finish_resumed(run, "action")
