"""The doctor on a good and a broken setup (real sandbox)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from tenants import anonymous_tenant

from anonconsole.gateway import Connection, Gateway
from anonconsole.operations.doctor import Check, run_doctor


def gateway_for(sandbox: Any) -> Gateway:
    return Gateway(Connection(sandbox.project_id, sandbox.url, sandbox.management_key))


def users_in(sandbox: Any, tenant_id: str) -> list[dict[str, Any]]:
    return sandbox.client().mgmt.user.search_all(tenant_ids=[tenant_id], limit=100)["users"]


@pytest.mark.asyncio
async def test_doctor_passes_on_a_good_setup_and_leaves_no_probe(sandbox: Any) -> None:
    tenant_id = anonymous_tenant(sandbox)
    seen: list[Check] = []
    async with gateway_for(sandbox) as gateway:
        report = await run_doctor(gateway, tenant_id=tenant_id, on_check=seen.append)
    assert report.ok, report.lines()
    names = [c.name for c in report.checks]
    assert names == [
        "Connection",
        "Anonymous tenant",
        "Session settings",
        "Probe created by the recipe",
        "Session token",
        "Tenant claim",
        "Refresh token lifetime",
        "Session refresh",
        "Probe removed",
    ]
    assert seen == report.checks
    assert "52 weeks" not in report.lines()[6]  # durations are said in words: "11 months", "1 year"
    assert users_in(sandbox, tenant_id) == []


@pytest.mark.asyncio
async def test_doctor_finds_the_tenant_by_name(sandbox: Any) -> None:
    tenant_id = anonymous_tenant(sandbox, weeks=2)
    name = sandbox.client().mgmt.tenant.load(tenant_id)["name"]
    async with gateway_for(sandbox) as gateway:
        report = await run_doctor(gateway, tenant_name=name)
    assert report.ok, report.lines()
    assert "14 days in the token, 14 days in the tenant settings" in report.lines()[6]


@pytest.mark.asyncio
@pytest.mark.parametrize("broken", ["missing", "no-custom-settings"])
async def test_doctor_fails_clearly_on_a_broken_setup(sandbox: Any, broken: str) -> None:
    if broken == "missing":
        kwargs = {"tenant_name": f"Nobody {secrets.token_hex(4)}"}
    else:
        kwargs = {"tenant_id": anonymous_tenant(sandbox, custom=False)}
    async with gateway_for(sandbox) as gateway:
        report = await run_doctor(gateway, **kwargs)
    assert not report.ok
    failed = [c for c in report.checks if not c.passed]
    assert len(failed) == 1
    assert "run the tenant setup" in failed[0].detail.lower()
    assert all(c.name != "Probe created by the recipe" for c in report.checks)


@pytest.mark.asyncio
async def test_doctor_removes_the_probe_even_when_interrupted(
    start_sandbox: Callable[..., Any],
) -> None:
    slow = start_sandbox(latency_ms=200)
    tenant_id = anonymous_tenant(slow)
    created = asyncio.Event()

    def on_check(check: Check) -> None:
        if check.name == "Probe created by the recipe":
            created.set()

    async with gateway_for(slow) as gateway:
        doctor = asyncio.ensure_future(run_doctor(gateway, tenant_id=tenant_id, on_check=on_check))
        await created.wait()
        doctor.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doctor
    assert users_in(slow, tenant_id) == []
