"""Cull: the job Descope leaves to you, shared by the preview dialog and `anonconsole cull`.

Plan: `prepare_rules` reads the anonymous tenant and its refresh-token lifetime (refusing when there
is none), `core.cull.plan_cull` picks the candidates from the loaded users. Run: `run_plan` writes the
plan and each batch to a journal before acting, reloads the batch's users right before it acts and
drops any that stopped being eligible (converted, signed in, changed tenant, a keep-rule, gone),
deletes (or disables) the rest in one paced request, and reconciles a request whose answer was lost
by looking at the users again. Cancel finishes the batch under way. The report says what was done,
what was skipped and why, and what failed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from anonconsole.core.chosen import UserAction
from anonconsole.core.classify import ANONYMOUS_TENANT_NAME, AnonymousPolicy
from anonconsole.core.cull import CullPlan, CullRules, KeepRule, Stage, recheck
from anonconsole.gateway import Gateway
from anonconsole.operations import batch_run
from anonconsole.operations.anonymous_tenant import find_anonymous_tenant, missing_tenant_sentence
from anonconsole.operations.audit_log import AuditLog
from anonconsole.operations.batch_run import BatchRun, RunReport
from anonconsole.operations.journal import Journal, JournalState, disabled_by_console
from anonconsole.operations.shape import Progress, Refusal, no_progress
from anonconsole.runtime.cpu_turns import map_in_slices


async def prepare_rules(
    gateway: Gateway,
    *,
    project_id: str,
    tenant_id: str = "",
    tenant_name: str = ANONYMOUS_TENANT_NAME,
    grace_days: int = 0,
    keep_rules: Sequence[KeepRule] = (),
    stage: Stage = Stage.DELETE,
    disabled_for_days: int = 0,
) -> CullRules | Refusal:
    """The rules of a cull of this project, or why none can be planned."""
    tenant = await find_anonymous_tenant(gateway, tenant_id=tenant_id, tenant_name=tenant_name)
    if tenant is None:
        return Refusal((missing_tenant_sentence(tenant_id=tenant_id, tenant_name=tenant_name),))
    settings = await gateway.load_tenant_settings(tenant.id)
    if not settings.enabled or not settings.refresh_seconds:
        return Refusal(
            (
                f'"{tenant.name}" has no custom session management, so the lifetime of its users is '
                "unknown and none can be culled. Run the tenant setup (Tools → Set up the anonymous tenant).",
            )
        )
    return CullRules(
        tenant_id=tenant.id,
        tenant_name=tenant.name,
        lifetime_seconds=settings.refresh_seconds,
        grace_seconds=max(0, grace_days) * 86400,
        keep_rules=tuple(keep_rules),
        stage=stage,
        disabled_by_console=disabled_by_console(project_id),
        disabled_for_seconds=max(0, disabled_for_days) * 86400,
    )


def rules_of(plan: CullPlan, also_keep: Sequence[KeepRule] = ()) -> CullRules:
    """The rules a saved plan was made with, to re-check its users by (an approved file, a journal).

    `also_keep`: the profile's keep-rules now; a rule added after the plan was approved still spares
    the users it matches (keep-rules only ever spare)."""
    planned = (KeepRule.parse(text) for text in plan.keep_rules)
    return CullRules(
        tenant_id=plan.tenant_id,
        tenant_name=plan.tenant_name,
        lifetime_seconds=plan.lifetime_seconds,
        grace_seconds=plan.grace_seconds,
        keep_rules=tuple(dict.fromkeys((*planned, *also_keep))),
        stage=plan.stage,
        disabled_by_console=disabled_by_console(plan.project_id),
        disabled_for_seconds=plan.disabled_for_seconds,
    )


def policy_of(rules: CullRules) -> AnonymousPolicy:
    """How the users are classified for a plan with these rules (the views' own rule)."""
    return AnonymousPolicy(rules.tenant_id, rules.lifetime_seconds, rules.grace_seconds)


def estimated_seconds(count: int) -> float:
    """How long a cull of `count` users takes at Descope's limits: each batch costs a search and a
    history request (the re-check) and the write."""
    return batch_run.estimated_seconds(count, requests_per_batch=3)


def action_of(stage: Stage) -> UserAction:
    """What a stage does to each user: disable (the first of two stages) or delete."""
    return UserAction.DISABLE if stage is Stage.DISABLE else UserAction.DELETE


async def run_plan(
    gateway: Gateway,
    plan: CullPlan,
    rules: CullRules,
    *,
    journal: Journal,
    audit: AuditLog,
    profile: str,
    progress: Progress = no_progress,
    stop: asyncio.Event | None = None,
    resume: JournalState[CullPlan] | None = None,
    on_done: Callable[[Sequence[str]], None] | None = None,
    now: Callable[[], float] = time.time,
) -> RunReport:
    """Carry out an approved plan (or the rest of it, from `resume`); never raises GatewayError.

    `stop` set: the batch under way finishes, then the run ends as cancelled. `on_done(user_ids)`
    after each batch, for views to drop the rows without a reload.
    """

    async def still_eligible(ids: Sequence[str]) -> tuple[list[str], list[tuple[str, str]]]:
        """The batch's users reloaded: those still eligible, and (ID, reason) of the others."""
        users = {user.user_id: user for user in await gateway.users_by_ids(ids)}
        sign_ins = await gateway.last_sign_ins(list(users), batch_size=max(1, len(users)))
        moment = int(now())

        def verdict(user_id: str) -> str | None:
            return recheck(users.get(user_id), sign_ins.get(user_id), plan, now=moment, rules=rules)

        # In CPU turns: 500 users' rules at once held the window's loop for ~100 ms.
        verdicts = await map_in_slices(verdict, ids)
        eligible = [u for u, reason in zip(ids, verdicts, strict=True) if reason is None]
        skipped = [(u, reason) for u, reason in zip(ids, verdicts, strict=True) if reason is not None]
        return eligible, skipped

    def login_id_of(user_id: str) -> str:
        candidate = plan.candidate(user_id)
        assert candidate is not None  # batches hold the plan's users only
        return candidate.login_id

    run = BatchRun(
        gateway,
        action_of(rules.stage),
        plan.plan_hash,
        plan.user_ids,
        still_eligible,
        login_id_of,
        journal,
        audit,
        profile,
        "cull",
        rules.tenant_name,
        progress,
        on_done,
        now,
    )
    return await run.run(stop=stop, resume=resume, stage=rules.stage.value)
