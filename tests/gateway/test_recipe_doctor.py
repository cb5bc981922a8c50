"""The KB recipe through the gateway, and the doctor on a good and a broken setup (real sandbox)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from descope import AuthException

from anonconsole.doctor import Check, run_doctor
from anonconsole.gateway import Connection, Gateway, NotFound
from anonconsole.gateway.recipe import LOGIN_ID_DOMAIN_SUFFIX, random_login_id

DEFAULT_PASSWORD = "Default-Anon-Passw0rd!"


def gateway_for(sandbox: Any) -> Gateway:
    return Gateway(Connection(sandbox.project_id, sandbox.url, sandbox.management_key))


def anonymous_tenant(sandbox: Any, *, custom: bool = True, weeks: int = 52) -> str:
    """A fresh tenant set up like the KB article's (or without custom session management)."""
    client = sandbox.client()
    tenant_id = client.mgmt.tenant.create(f"Anonymous Users {secrets.token_hex(4)}")["id"]
    if custom:
        client.mgmt.tenant.update_settings(
            tenant_id,
            [],
            session_settings_enabled=True,
            refresh_token_expiration=weeks,
            refresh_token_expiration_unit="weeks",
            session_token_expiration=10,
            session_token_expiration_unit="minutes",
        )
    return tenant_id


def users_in(sandbox: Any, tenant_id: str) -> list[dict[str, Any]]:
    return sandbox.client().mgmt.user.search_all(tenant_ids=[tenant_id], limit=100)["users"]


def test_random_login_ids_are_unguessable_and_never_real() -> None:
    ids = {random_login_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(i.endswith(LOGIN_ID_DOMAIN_SUFFIX) and "@" in i for i in ids)


@pytest.mark.asyncio
async def test_recipe_creates_an_anonymous_user_with_tokens(sandbox: Any) -> None:
    tenant_id = anonymous_tenant(sandbox)
    async with gateway_for(sandbox) as gateway:
        session = await gateway.create_anonymous_user(tenant_id, DEFAULT_PASSWORD)
        user = await gateway.load_user(session.user_id)
    assert "jwt" not in repr(session).lower()
    assert user.tenant_ids == (tenant_id,)
    assert user.has_password
    assert not user.verified_email
    assert session.cookie_max_age == 52 * 7 * 86400 - 1
    assert session.cookie_path == "/"
    assert session.first_seen is False
    assert session.session_jwt.count(".") == 2
    assert session.refresh_jwt.count(".") == 2
    # The shared default password was replaced: it no longer signs the user in.
    with pytest.raises(AuthException):
        sandbox.client().password.sign_in(session.login_id, DEFAULT_PASSWORD)


@pytest.mark.asyncio
async def test_recipe_removes_the_half_made_user_on_failure(sandbox: Any) -> None:
    before = sandbox.client().mgmt.user.search_all(text=LOGIN_ID_DOMAIN_SUFFIX, limit=1000)["total"]
    async with gateway_for(sandbox) as gateway:
        with pytest.raises(NotFound):
            await gateway.create_anonymous_user("T-no-such-tenant", DEFAULT_PASSWORD)
    after = sandbox.client().mgmt.user.search_all(text=LOGIN_ID_DOMAIN_SUFFIX, limit=1000)["total"]
    assert after == before


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
