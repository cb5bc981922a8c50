"""The cull from the window: the preview dialog on the loaded users, and the resume of a run that a
crash or a kill interrupted (found in the journals when the project is connected)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from anonconsole.app.run_flow import RunFlow
from anonconsole.core.cull import CullPlan, Stage
from anonconsole.operations import cull, journal
from anonconsole.operations.audit_log import AuditLog
from anonconsole.operations.batch_run import RunReport
from anonconsole.operations.shape import Refusal
from anonconsole.runtime import messages
from anonconsole.runtime.cpu_turns import run_steps
from anonconsole.runtime.tasks import in_thread
from anonconsole.settings.profiles import Profile
from anonconsole.views.cull_dialog import CullDialog, planning_steps
from anonconsole.views.main_window import MainWindow
from anonconsole.views.resume_question import ask_to_resume

if TYPE_CHECKING:
    from anonconsole.gateway import Gateway


class CullFlow(RunFlow[CullDialog]):
    """Opens the cull preview for the connected project and resumes interrupted runs (`RunFlow`)."""

    def __init__(self, window: MainWindow, audit: AuditLog | None = None) -> None:
        super().__init__(window, audit, "cull")

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
        run = cull.run_plan(
            gateway,
            plan,
            cull.rules_of(plan, profile.parsed_keep_rules()),
            journal=journal.Journal(state.path),
            audit=self.audit,
            profile=profile.name,
            progress=self._resume_progress("cull"),
            resume=state,
            on_done=lambda ids: self._acted_on(ids, plan.stage),
        )
        return await self._finish_resumed(run, "cull")
