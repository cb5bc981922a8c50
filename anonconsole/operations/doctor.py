"""Verify the anonymous-user setup end to end, with a probe user that never stays behind.

Run by the tenant wizard's last page and by `anonconsole doctor`: checks the connection and the
anonymous tenant's session settings, creates a probe anonymous user through the KB recipe, checks its
tokens (issuer, tenant claim, refresh lifetime = the tenant's setting), refreshes its session, then
deletes it and confirms it is gone, even when a check failed half-way.

A lost answer is not a failure: a request can take effect while its answer is lost (a dropped
connection, a 5xx after the commit), so the doctor cannot trust what it was told about the probe,
nor can the recipe, which deletes a half-made user only when it knows it exists. The probe's login
ID is therefore chosen before the first request, and after every run, whatever happened, the doctor
looks the probe up by that ID, deletes it and looks again until it is gone, retrying for a while.
When that still fails, the report says so with the login ID, for an admin to delete it.
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
from anonconsole.gateway.recipe import random_login_id, random_password
from anonconsole.operations.anonymous_tenant import find_anonymous_tenant, missing_tenant_sentence

# Seconds of slack between the refresh token's lifetime and the tenant setting (clock, rounding).
TOLERANCE_SECONDS = 60
# Every probe's login ID starts so: an admin (or the stress script) can find one left behind.
PROBE_PREFIX = "doctor-probe-"
# Removing the probe: rounds of look up -> delete, with a growing pause after a failed round (each
# lookup is itself retried by the gateway): about 20 s of pauses in all, and never more than the
# deadline (a service that stopped answering must not hold the doctor for each request's timeout).
REMOVAL_ROUNDS = 8
REMOVAL_PAUSE_SECONDS = 0.25
REMOVAL_MAX_PAUSE_SECONDS = 4.0
REMOVAL_DEADLINE_SECONDS = 90.0


def probe_login_id() -> str:
    """A fresh probe login ID: the recipe's random one, marked as the doctor's."""
    return PROBE_PREFIX + random_login_id()


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, whether it passed, and why."""

    name: str
    passed: bool
    detail: str


@dataclass
class DoctorReport:
    """What the doctor found, check by check (an `operations.shape.Report`).

    Attributes:
        checks: in the order they ran.
        probe_left: the login ID of a probe user the doctor could not remove (for an admin to
            delete), else None.
    """

    checks: list[Check] = field(default_factory=list)
    probe_left: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def unusable(self) -> bool:
        """The service could not be used at all (unreachable, key or project refused): nothing
        about the setup was learnt (`anonconsole doctor` exits 2, not 1)."""
        return bool(self.checks) and self.checks[0].name == CONNECTION and not self.checks[0].passed

    def summary(self) -> str:
        """The outcome in one sentence."""
        if self.ok:
            return "All checks passed."
        failed = [c for c in self.checks if not c.passed]
        if not failed:
            return "Nothing was checked."
        text = f"{failed[0].name}: {failed[0].detail}"
        if self.probe_left and failed[0].name != PROBE_REMOVED:  # never hidden behind another failure
            text += f" The probe user {self.probe_left} may remain: delete it in the Descope console."
        return text

    def lines(self) -> list[str]:
        return [f"{'PASS' if c.passed else 'FAIL'}  {c.name}: {c.detail}" for c in self.checks]


Listener = Callable[[Check], None]
CONNECTION = "Connection"
PROBE_REMOVED = "Probe removed"


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

    async def remove_probe(self, login_id: str) -> None:
        """Make sure no user with the probe's login ID remains, whatever the run was told.

        Each round looks the probe up (a lost answer may have created it, or deleted it) and
        deletes what it finds; the round after a delete confirms it is gone. Failures are retried
        with a growing pause; in the end the report says plainly whether the probe is gone.
        """
        try:
            async with asyncio.timeout(REMOVAL_DEADLINE_SECONDS):
                problem = await self._remove(login_id)
        except TimeoutError:
            problem = f"no answer within {REMOVAL_DEADLINE_SECONDS:g} s"
        if problem is None:
            return
        self.report.probe_left = login_id
        self.record(
            PROBE_REMOVED,
            False,
            f"the probe user {login_id} may remain ({problem or 'it is still there after deletion'}). "
            f"Delete it in the Descope console (Users, search for {login_id}) or run the doctor again.",
        )

    async def _remove(self, login_id: str) -> str | None:
        """The rounds of `remove_probe`: None once the probe is gone (recorded), else the last problem."""
        problem = ""
        deleted = False
        pause = REMOVAL_PAUSE_SECONDS
        for _ in range(REMOVAL_ROUNDS):
            try:
                user = await self.gateway.load_user_by_login_id(login_id)
            except NotFound:
                gone = "deleted, and gone" if deleted else "does not exist: nothing was left behind"
                self.record(PROBE_REMOVED, True, f"{login_id} {gone}")
                return None
            except GatewayError as exc:
                problem = exc.user_message
            else:
                try:
                    await self.gateway.delete_user(user.user_id)
                    deleted = True
                    continue  # look again at once: the next lookup confirms
                except NotFound:
                    continue
                except GatewayError as exc:  # perhaps deleted, its answer lost: the lookup tells
                    problem = exc.user_message
            await asyncio.sleep(pause)
            pause = min(pause * 2, REMOVAL_MAX_PAUSE_SECONDS)
        return problem


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
    except GatewayError as exc:
        doctor.record(CONNECTION, False, exc.user_message)
        return doctor.report
    doctor.record(CONNECTION, True, f"{found.host}, project {found.project_id}, {found.user_count:,} users")
    try:
        tenant = await doctor.tenant(tenant_id, tenant_name)
        if tenant is None:
            return doctor.report
        settings = await gateway.load_tenant_settings(tenant.id)
        if not doctor.settings(settings):
            return doctor.report
    except GatewayError as exc:
        doctor.record("Stopped", False, exc.user_message)
        return doctor.report
    login_id = probe_login_id()  # before the first request: the probe can always be looked up
    try:
        probe = await _create_probe(doctor, tenant.id, login_id)
        if probe is not None:
            try:
                await doctor.probe_tokens(probe, settings)
            except GatewayError as exc:
                doctor.record("Probe tokens", False, exc.user_message)
    finally:
        await _despite_cancellation(doctor.remove_probe(login_id))
    return doctor.report


async def _create_probe(doctor: _Doctor, tenant_id: str, login_id: str) -> AnonymousSession | None:
    """The probe made by the recipe, or None (the failure recorded; the probe may still exist)."""
    started = time.perf_counter()
    try:
        probe = await doctor.gateway.create_anonymous_user(
            tenant_id, default_password=random_password(), login_id=login_id
        )
    except GatewayError as exc:
        doctor.record("Probe created by the recipe", False, f"{login_id}: {exc.user_message}")
        return None
    elapsed = time.perf_counter() - started
    doctor.record(
        "Probe created by the recipe", True, f"{probe.login_id} ({probe.user_id}) in {elapsed:.1f} s"
    )
    return probe


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
