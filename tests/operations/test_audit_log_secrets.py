"""The audit log never holds a key, a password, a code or a token: every operation that writes entries is
driven against a sandbox with the demo's users (the tenant setup and a failed one, conversions by code
and attested, chosen users disabled, enabled and deleted, a two-stage cull and one stopped by server
errors), then the file is scanned for the management keys, the passwords and codes used, JWTs, and
any field that names a secret."""

from __future__ import annotations

import json
import re
import secrets
import time
from pathlib import Path
from typing import Any

import pytest
from conversions import DEFAULT_PASSWORD, anonymous_user, latest_code, unique_email

from anonconsole.core.chosen import UserAction, plan_action
from anonconsole.core.convert import Address, Attestation, Channel, ConversionPlan, Verification
from anonconsole.core.cull import CullPlan, CullRules, Stage, plan_cull
from anonconsole.core.records import User
from anonconsole.core.tenant_setup import Desired, TenantPlan
from anonconsole.gateway import Connection, Gateway
from anonconsole.operations import cull, journal
from anonconsole.operations.audit_log import AuditLog
from anonconsole.operations.convert import CodeSent, CodeVerification, apply_conversion
from anonconsole.operations.shape import Refusal
from anonconsole.operations.tenant_setup import apply_plan, inspect_tenant, plan_setup
from anonconsole.operations.user_actions import run_action
from anonconsole.operations.users_snapshot import load_users
from anonconsole.sandbox.seed import DEFAULT_ANON_PASSWORD

PROJECT = "P2AuditSecretsTest0000000000"  # not the console's own sandbox
PROFILE = "Staging"
SECRET_FIELD = re.compile(r"password|secret|managementkey|authorization|bearer|credential", re.IGNORECASE)


def gateway_for(sandbox: Any, key: str | None = None) -> Gateway:
    return Gateway(Connection(sandbox.project_id, sandbox.url, key or sandbox.management_key))


async def set_up_tenant(
    gateway: Gateway, audit: AuditLog, name: str, *, apply_with: Gateway | None = None
) -> bool:
    """Plan the tenant setup with `gateway`, apply it with `apply_with` (default: the same)."""
    tenant, settings = await inspect_tenant(gateway, tenant_name=name)
    plan = plan_setup(tenant, settings, Desired(), name=name)
    assert isinstance(plan, TenantPlan), plan
    return (await apply_plan(apply_with or gateway, plan, audit, profile=PROFILE, before=settings)).ok


async def planned(gateway: Gateway, stage: Stage) -> tuple[CullPlan, CullRules]:
    rules = await cull.prepare_rules(gateway, project_id=PROJECT, stage=stage)
    assert not isinstance(rules, Refusal), rules
    table = await load_users(gateway, cull.policy_of(rules))
    return plan_cull(table, rules, now=int(time.time()), profile=PROFILE, project_id=PROJECT), rules


async def run(gateway: Gateway, audit: AuditLog, plan: CullPlan, rules: CullRules) -> cull.RunReport:
    run_journal = journal.Journal.create(plan, project_id=PROJECT, profile=PROFILE)
    return await cull.run_plan(gateway, plan, rules, journal=run_journal, audit=audit, profile=PROFILE)


async def convert_by_code(gateway: Gateway, sandbox: Any, audit: AuditLog, tenant_id: str) -> str:
    """An anonymous user converted with the code the sandbox sent; returns the code."""
    user = User.from_api(anonymous_user(sandbox, tenant_id))
    verification = CodeVerification(
        gateway, user, Address(Channel.EMAIL, unique_email()), tenant_id=tenant_id
    )
    sent = await verification.send()
    assert isinstance(sent, CodeSent), sent
    code = latest_code(sandbox, user.login_ids[0])
    assert isinstance(await verification.verify(code), User)
    report = await apply_conversion(
        gateway,
        verification.plan(),
        audit=audit,
        profile=PROFILE,
        allow_attestation=False,
        code_sent_to=sent.sent_to,
    )
    assert report.ok, report.summary()
    return code


async def convert_attested(gateway: Gateway, sandbox: Any, audit: AuditLog, tenant_id: str) -> None:
    user = User.from_api(anonymous_user(sandbox, tenant_id))
    attestation = Attestation("Replied from it to our mail", "SUP-9")
    plan = ConversionPlan(
        user,
        Address(Channel.EMAIL, unique_email()),
        tenant_id,
        Verification.ATTESTED,
        attestation=attestation,
    )
    report = await apply_conversion(gateway, plan, audit=audit, profile=PROFILE, allow_attestation=True)
    assert report.ok, report.summary()


async def act_on(
    gateway: Gateway, audit: AuditLog, action: UserAction, user_ids: list[str], tenant_id: str
) -> None:
    """Delete, disable or enable chosen users as the window does it."""
    users = await gateway.users_by_ids(user_ids)
    plan = plan_action(
        action, users, tenant_id=tenant_id, profile=PROFILE, project_id=PROJECT, now=int(time.time())
    )
    run_journal = journal.Journal.create(plan, project_id=PROJECT, profile=PROFILE)
    report = await run_action(gateway, plan, journal=run_journal, audit=audit)
    assert len(report.done) == len(user_ids), report.summary()


def fragments(secret: str, size: int = 8) -> set[str]:
    """Every run of `size` characters of `secret` (a key cut by a wrap must not leak either)."""
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


def field_names(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {name for item in value.values() for name in field_names(item)}
    if isinstance(value, list):
        return {name for item in value for name in field_names(item)}
    return set()


@pytest.mark.asyncio
async def test_no_key_or_password_reaches_the_audit_log(start_sandbox: Any, app_dirs: Path) -> None:
    sandbox = start_sandbox(demo=True, project_id=PROJECT)
    wrong_key = "K2" + secrets.token_urlsafe(30)
    audit = AuditLog()  # the console's own file, in the test's data dir
    async with gateway_for(sandbox) as gateway:
        assert await set_up_tenant(gateway, audit, "Anonymous Users (secrets test)")
        async with gateway_for(sandbox, wrong_key) as refused:
            assert not await set_up_tenant(gateway, audit, "Anonymous Users (refused)", apply_with=refused)
        demo_tenant, _ = await inspect_tenant(gateway)
        assert demo_tenant is not None
        code = await convert_by_code(gateway, sandbox, audit, demo_tenant.id)
        await convert_attested(gateway, sandbox, audit, demo_tenant.id)
        chosen = [anonymous_user(sandbox, demo_tenant.id)["userId"] for _ in range(3)]
        for action in (UserAction.DISABLE, UserAction.ENABLE, UserAction.DELETE):
            await act_on(gateway, audit, action, chosen, demo_tenant.id)
        disabled = await run(gateway, audit, *await planned(gateway, Stage.DISABLE))
        assert len(disabled.done) == 505
        second_stage = await planned(gateway, Stage.DELETE_DISABLED)
        assert second_stage[0].count == 505
        sandbox.set_faults(errorRate=1.0)  # every request fails: the run stops, and says why
        try:
            stopped = await run(gateway, audit, *second_stage)
        finally:
            sandbox.set_faults(errorRate=0)
        assert stopped.stopped
        deleted = await run(gateway, audit, *await planned(gateway, Stage.DELETE_DISABLED))
        assert len(deleted.done) == 505
    text = audit.path.read_text(encoding="utf-8")
    entries, damaged = audit.read()
    assert damaged == 0
    actions = {(e.action, e.result) for e in entries}
    assert {
        ("tenant.create", "ok"),
        ("tenant.settings", "ok"),
        ("convert.code", "converted"),
        ("convert.attested", "converted"),
        ("users.disable", "ok"),
        ("users.enable", "ok"),
        ("users.delete", "ok"),
        ("cull.disable", "ok"),
        ("cull.delete", "ok"),
    } <= actions
    assert ("tenant.create", "failed") in actions  # the refused key's attempt, with Descope's answer
    assert any(e.result == "failed" and e.detail for e in entries)
    for secret in (sandbox.management_key, wrong_key):
        assert secret not in text
        leaked = [part for part in fragments(secret) if part in text]
        assert not leaked, f"fragments of a key in the audit log: {leaked}"
    for kept in (DEFAULT_ANON_PASSWORD, DEFAULT_PASSWORD, code):
        assert kept not in text
    assert "eyJ" not in text  # no JWT (the conversion by code signs the user in)
    assert "bearer " not in text.lower()
    for line in text.splitlines():
        names = field_names(json.loads(line))
        assert not [name for name in names if SECRET_FIELD.search(name)], line
