"""Set up the anonymous tenant: look it up (plan), then apply the plan step by step (run).

Plan: `inspect_tenant` reads the tenant and its session settings; `core.tenant_setup.plan` turns them
and the admin's choices into the exact diff, refusing invalid values. Run: `apply_plan` carries it
out, saying exactly what was done and what not.

From the admin's view it is all-or-nothing: if a step fails, the result lists what happened before it
and what did not; running the setup again plans from what is there now (the created tenant is
found and adopted) and completes it. Every change is written to the audit log, before (as
"started") and after (its result).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field

from anonconsole.core import tenant_setup as rules
from anonconsole.core.classify import ANONYMOUS_TENANT_NAME
from anonconsole.core.records import SessionSettings, Tenant
from anonconsole.core.tenant_setup import Action, Desired, TenantPlan
from anonconsole.gateway import Gateway, GatewayError
from anonconsole.operations.anonymous_tenant import find_anonymous_tenant
from anonconsole.operations.audit_log import AuditEntry, AuditLog
from anonconsole.operations.shape import Progress, Refusal, no_progress


async def inspect_tenant(
    gateway: Gateway, *, tenant_id: str = "", tenant_name: str = ANONYMOUS_TENANT_NAME
) -> tuple[Tenant | None, SessionSettings | None]:
    """The tenant to adopt (by ID when given, else by name) and its session settings; (None, None)
    when there is none."""
    tenant = await find_anonymous_tenant(gateway, tenant_id=tenant_id, tenant_name=tenant_name)
    if tenant is None:
        return None, None
    return tenant, await gateway.load_tenant_settings(tenant.id)


@dataclass(frozen=True)
class Step:
    """One step of the apply and how it went."""

    name: str
    done: bool
    detail: str


@dataclass
class ApplyResult:
    """What applying did. `tenant_id` is set as soon as the tenant exists."""

    steps: list[Step] = field(default_factory=list)
    tenant_id: str | None = None
    settings: SessionSettings | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    def summary(self) -> str:
        if self.ok:
            return "The anonymous tenant is set up."
        done = [s.name for s in self.steps if s.done]
        not_done = [s.name for s in self.steps if not s.done]
        return (
            f"Stopped: {self.error} Done: {', '.join(done) or 'nothing'}. Not done: {', '.join(not_done)}. "
            "Run the setup again to complete it."
        )


def _managed(settings: SessionSettings | None) -> dict[str, object]:
    """The settings the setup manages, for the audit log's before/after."""
    if settings is None:
        return {}
    keys = (
        "enabled",
        "refresh_token_expiration",
        "refresh_token_expiration_unit",
        "session_token_expiration",
        "session_token_expiration_unit",
        "enable_inactivity",
        "inactivity_time",
        "inactivity_time_unit",
    )
    values = asdict(settings)
    return {k: values[k] for k in keys}


def plan_setup(
    tenant: Tenant | None, settings: SessionSettings | None, desired: Desired, *, name: str
) -> TenantPlan | Refusal:
    """The plan to bring the tenant found by `inspect_tenant` to `desired`, or why there is none."""
    problems = rules.validate(desired)
    if problems:
        return Refusal(tuple(problems))
    return rules.plan(tenant, settings, desired, name=name)


async def apply_plan(
    gateway: Gateway,
    plan: TenantPlan,
    audit: AuditLog,
    *,
    profile: str,
    before: SessionSettings | None,
    progress: Progress = no_progress,
) -> ApplyResult:
    """Carry out `plan`, saying each step before it starts; never raises GatewayError (the result
    says what failed)."""
    result = ApplyResult(tenant_id=plan.tenant_id)
    pending = []
    if plan.action is Action.CREATE:
        pending.append(f'Create the tenant "{plan.tenant_name}"')
    if plan.changes:
        pending.append("Change its session settings")
    result.steps = [Step(name, False, "not done") for name in pending]

    async def log(entry: AuditEntry) -> None:
        await asyncio.to_thread(audit.append, entry)

    step = 0
    try:
        if plan.action is Action.CREATE:
            progress(step, len(pending), pending[step])
            await log(AuditEntry("tenant.create", plan.tenant_name, "started", profile))
            result.tenant_id = await gateway.create_tenant(plan.tenant_name)
            await log(
                AuditEntry("tenant.create", result.tenant_id, "ok", profile, after={"name": plan.tenant_name})
            )
            result.steps[step] = Step(result.steps[step].name, True, f"ID {result.tenant_id}")
            step += 1
        if plan.changes:
            assert result.tenant_id is not None
            progress(step, len(pending), pending[step])
            changes = {c.setting: f"{c.before} → {c.after}" for c in plan.changes}
            await log(AuditEntry("tenant.settings", result.tenant_id, "started", profile, after=changes))
            result.settings = await gateway.update_tenant_settings(result.tenant_id, plan.settings)
            await log(
                AuditEntry(
                    "tenant.settings",
                    result.tenant_id,
                    "ok",
                    profile,
                    before=_managed(before),
                    after=_managed(result.settings),
                )
            )
            result.steps[step] = Step(result.steps[step].name, True, "; ".join(changes))
    except GatewayError as exc:
        result.error = exc.user_message
        action = "tenant.create" if plan.action is Action.CREATE and step == 0 else "tenant.settings"
        target = result.tenant_id or plan.tenant_name
        await log(AuditEntry(action, target, "failed", profile, detail=exc.user_message))
    return result
