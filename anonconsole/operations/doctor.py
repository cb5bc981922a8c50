"""Verify the anonymous-user setup end to end, with a probe user that never stays behind.

Run by the tenant wizard's last page and by `anonconsole doctor`: checks the connection and the
anonymous tenant's session settings, creates a probe anonymous user through the KB recipe, checks its
tokens (issuer, tenant claim, refresh lifetime = the tenant's setting), refreshes its session, then
deletes it and confirms it is gone, even when a check failed half-way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from anonconsole.core.classify import ANONYMOUS_TENANT_NAME, format_duration
from anonconsole.core.records import SessionSettings, Tenant
from anonconsole.gateway import AnonymousSession, Gateway, GatewayError, NotFound
from anonconsole.gateway.recipe import random_password
from anonconsole.operations.anonymous_tenant import find_anonymous_tenant, missing_tenant_sentence

# Seconds of slack between the refresh token's lifetime and the tenant setting (clock, rounding).
TOLERANCE_SECONDS = 60


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, whether it passed, and why."""

    name: str
    passed: bool
    detail: str


@dataclass
class DoctorReport:
    """What the doctor found, check by check (an `operations.shape.Report`)."""

    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def summary(self) -> str:
        """The outcome in one sentence."""
        if self.ok:
            return "All checks passed."
        failed = [c for c in self.checks if not c.passed]
        return f"{failed[0].name}: {failed[0].detail}" if failed else "Nothing was checked."

    def lines(self) -> list[str]:
        return [f"{'PASS' if c.passed else 'FAIL'}  {c.name}: {c.detail}" for c in self.checks]


Listener = Callable[[Check], None]


class _Doctor:
    def __init__(self, gateway: Gateway, on_check: Listener | None) -> None:
        self.gateway = gateway
        self.report = DoctorReport()
        self._on_check = on_check

    def record(self, name: str, passed: bool, detail: str) -> bool:
        check = Check(name, passed, detail)
        self.report.checks.append(check)
        if self._on_check:
            self._on_check(check)
        return passed

    async def tenant(self, tenant_id: str, tenant_name: str) -> Tenant | None:
        tenant = await find_anonymous_tenant(self.gateway, tenant_id=tenant_id, tenant_name=tenant_name)
        if tenant is None:
            missing = missing_tenant_sentence(tenant_id=tenant_id, tenant_name=tenant_name)
            self.record("Anonymous tenant", False, missing)
            return None
        self.record("Anonymous tenant", True, f'"{tenant.name}" ({tenant.id})')
        return tenant

    def settings(self, settings: SessionSettings) -> bool:
        refresh = settings.refresh_seconds
        if not settings.enabled or refresh is None:
            return self.record(
                "Session settings",
                False,
                "Custom session management is off or has no refresh-token lifetime: anonymous users "
                "would get the project's lifetime. Run the tenant setup.",
            )
        session = format_duration(settings.session_seconds or 0)
        return self.record(
            "Session settings", True, f"refresh token {format_duration(refresh)}, session token {session}"
        )

    async def probe_tokens(self, probe: AnonymousSession, settings: SessionSettings) -> None:
        project = self.gateway.connection.project_id
        claims = await self.gateway.validate_session(probe.session_jwt)
        issuer = str(claims.get("iss", ""))
        self.record(
            "Session token",
            issuer.rsplit("/", 1)[-1] == project and claims.get("sub") == probe.user_id,
            f"issuer {issuer or '(none)'}, subject {claims.get('sub', '(none)')}",
        )
        tenants = claims.get("tenants") or {}
        self.record(
            "Tenant claim",
            probe.tenant_id in tenants,
            f"tenants in the token: {', '.join(tenants) or 'none'}",
        )
        refreshed = await self.gateway.refresh_session(probe.refresh_jwt)
        refresh = refreshed.get("refreshSessionToken") or {}
        lifetime = int(refresh.get("exp", 0)) - int(refresh.get("iat", 0))
        expected = settings.refresh_seconds or 0
        self.record(
            "Refresh token lifetime",
            abs(lifetime - expected) <= TOLERANCE_SECONDS,
            f"{format_duration(lifetime)} in the token, {format_duration(expected)} in the tenant settings",
        )
        self.record("Session refresh", bool(refreshed.get("sessionToken")), "a new session token was issued")

    async def delete_probe(self, probe: AnonymousSession) -> None:
        try:
            await self.gateway.delete_user(probe.user_id)
            await self.gateway.load_user(probe.user_id)
        except NotFound:
            self.record("Probe removed", True, f"{probe.login_id} deleted")
            return
        except GatewayError as exc:
            self.record("Probe removed", False, f"{probe.login_id} may remain: {exc.user_message}")
            return
        self.record("Probe removed", False, f"{probe.login_id} is still there after deletion")


async def run_doctor(
    gateway: Gateway,
    *,
    tenant_id: str = "",
    tenant_name: str = ANONYMOUS_TENANT_NAME,
    on_check: Listener | None = None,
) -> DoctorReport:
    """Run every check in order; later checks are not run when one they need failed."""
    doctor = _Doctor(gateway, on_check)
    try:
        found = await gateway.check()
        doctor.record(
            "Connection", True, f"{found.host}, project {found.project_id}, {found.user_count:,} users"
        )
        tenant = await doctor.tenant(tenant_id, tenant_name)
        if tenant is None:
            return doctor.report
        settings = await gateway.load_tenant_settings(tenant.id)
        if not doctor.settings(settings):
            return doctor.report
        started = time.perf_counter()
        probe = await gateway.create_anonymous_user(tenant.id, default_password=random_password())
        elapsed = time.perf_counter() - started
        doctor.record(
            "Probe created by the recipe", True, f"{probe.login_id} ({probe.user_id}) in {elapsed:.1f} s"
        )
    except GatewayError as exc:
        doctor.record("Stopped", False, exc.user_message)
        return doctor.report
    try:
        await doctor.probe_tokens(probe, settings)
    except GatewayError as exc:
        doctor.record("Probe tokens", False, exc.user_message)
    finally:
        await _despite_cancellation(doctor.delete_probe(probe))
    return doctor.report


async def _despite_cancellation(cleanup: Coroutine[Any, Any, None]) -> None:
    """Run `cleanup` to its end even if the caller is cancelled meanwhile; then let the cancel through."""
    task = asyncio.ensure_future(cleanup)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    task.result()
    if cancelled:
        raise asyncio.CancelledError
