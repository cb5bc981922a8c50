"""The cull from the window: the preview dialog on the loaded users, and the resume of a run that a
crash or a kill interrupted (found in the journals when the project is connected)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox

from anonconsole.core.cull import CullPlan, Stage
from anonconsole.operations import cull, journal
from anonconsole.operations.audit_log import AuditLog
from anonconsole.operations.batch_run import RunReport
from anonconsole.operations.shape import Refusal
from anonconsole.runtime import messages
from anonconsole.runtime.cpu_turns import run_steps
from anonconsole.runtime.tasks import TaskOwner, in_thread
from anonconsole.settings.profiles import Profile
from anonconsole.views.cull_dialog import CullDialog, planning_steps
from anonconsole.views.main_window import MainWindow
from anonconsole.views.resume_question import ask_to_resume

if TYPE_CHECKING:
    from anonconsole.gateway import Gateway


class CullFlow(QObject):
    """Opens the cull preview for the connected project and resumes interrupted runs.

    Attributes:
        dialog: the cull dialog open now, if any.
        question: the offer to resume an interrupted run, once made.

    Signals:
        opened(object): the CullDialog, once planned and shown.
        resumed(object): the RunReport of an interrupted run finished in the background.
    """

    opened = Signal(object)
    resumed = Signal(object)

    def __init__(self, window: MainWindow, audit: AuditLog | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.audit = audit or AuditLog()
        self.dialog: CullDialog | None = None
        self.question: QMessageBox | None = None
        self._tasks = TaskOwner("cull")

    async def open(self, gateway: Gateway, profile: Profile) -> CullDialog | None:
        """The preview of a cull of the connected project, planned from the users loaded now."""
        users = self.window.users
        if users.loading or not users.table_loaded:
            messages.warning(
                "The users are still loading: the cull plans from all of them, "
                "so open it once they are loaded."
            )
            return None
        rules = await cull.prepare_rules(
            gateway,
            project_id=gateway.connection.project_id,
            tenant_id=profile.anonymous_tenant_id,
            tenant_name=profile.anonymous_tenant_name,
            grace_days=profile.grace_days,
            keep_rules=profile.parsed_keep_rules(),
            # One stage per preview: with two, the one that acts on new candidates (disable);
            # `anonconsole cull` runs the deletion of those disabled long enough ago.
            stage=Stage.DISABLE if profile.two_stage_cull else Stage.DELETE,
            disabled_for_days=profile.disabled_for_days,
        )
        if isinstance(rules, Refusal):
            messages.error(rules.summary())
            return None
        project_id = gateway.connection.project_id
        messages.info(f"Planning the cull of {len(users.table):,} users…")
        planned = await run_steps(
            planning_steps(
                users.table, rules, now=int(time.time()), profile=profile.name, project_id=project_id
            )
        )
        dialog = CullDialog(
            gateway,
            users.table,
            rules,
            profile=profile.name,
            project_id=project_id,
            audit=self.audit,
            planned=planned,
            parent=self.window,
        )
        dialog.users_removed.connect(lambda ids: self._acted_on(ids, dialog.rules.stage))
        dialog.finished.connect(lambda _result: self._forget(dialog))
        self.dialog = dialog
        dialog.open()
        self.opened.emit(dialog)
        return dialog

    def _forget(self, dialog: CullDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None

    def _acted_on(self, user_ids: Sequence[str], stage: Stage) -> None:
        """The users views follow a batch at once: deleted users go, disabled ones change."""
        self.window.users.users_changed_here(user_ids, status="disabled" if stage is Stage.DISABLE else None)

    async def offer_resume(self, gateway: Gateway, profile: Profile) -> None:
        """After connecting: an interrupted cull of this project is offered to be finished."""
        project_id = gateway.connection.project_id
        found = await in_thread(lambda: list(journal.unfinished(project_id)))
        for problem in (item for item in found if isinstance(item, journal.JournalError)):
            messages.warning(str(problem))
        states = [item for item in found if isinstance(item, journal.JournalState)]
        if not states:
            return
        state = states[0]
        self.question = ask_to_resume(
            self.window,
            name="resumeCullQuestion",
            title="Interrupted cull",
            text=(
                f"A cull of “{state.profile}” (project {project_id}) was interrupted: "
                f"{len(state.handled()):,} of {state.plan.count:,} users dealt with, "
                f"started {state.started_at}."
            ),
            on_resume=lambda: self.resume(gateway, profile, state),
        )

    def resume(self, gateway: Gateway, profile: Profile, state: journal.JournalState[CullPlan]) -> None:
        """Finish `state`'s run in the background; progress and the report in the status bar."""
        self._tasks.start(self._resume(gateway, profile, state), key="resume")

    async def _resume(
        self, gateway: Gateway, profile: Profile, state: journal.JournalState[CullPlan]
    ) -> RunReport:
        plan = state.plan
        report = await cull.run_plan(
            gateway,
            plan,
            cull.rules_of(plan, profile.parsed_keep_rules()),
            journal=journal.Journal(state.path),
            audit=self.audit,
            profile=profile.name,
            progress=lambda _done, _total, text: messages.info(f"Resuming the cull: {text}"),
            resume=state,
            on_done=lambda ids: self._acted_on(ids, plan.stage),
        )
        (messages.info if report.ok else messages.warning)(f"The interrupted cull ended: {report.summary()}")
        self.resumed.emit(report)
        return report

    async def aclose(self) -> None:
        """Stop what runs (after its batch) and wait: the window is closing or the project changes."""
        if self.dialog is not None:
            await self.dialog.aclose()
        await self._tasks.aclose()
