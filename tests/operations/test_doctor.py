"""The doctor on a good and a broken setup (real sandbox)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from descope.common import EndpointsV1
from descope.management.common import MgmtV1
from tenants import anonymous_tenant

from anonconsole.core.errors import Unreachable
from anonconsole.gateway import Connection, Gateway
from anonconsole.operations import doctor as doctor_module
from anonconsole.operations.doctor import Check, run_doctor

T = TypeVar("T")


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


# -- lost answers: the probe never stays behind ---------------------------------------------------------

SIGN_UP = EndpointsV1.sign_up_password_path
REPLACE = EndpointsV1.replace_password_path
ADD_TENANT = MgmtV1.user_add_tenant_path
DELETE = MgmtV1.user_delete_path
LOAD = MgmtV1.user_load_path


class LossyGateway(Gateway):
    """A gateway whose requests to chosen paths lose their answer, as a dropped connection or a 5xx
    after the commit would: "after" runs the request, then fails; "before" fails without running it
    (what the sandbox's own --drop-rate does). Each listed fault is used once, in order."""

    def __init__(self, sandbox: Any, faults: dict[str, list[str]]) -> None:
        super().__init__(Connection(sandbox.project_id, sandbox.url, sandbox.management_key))
        self.faults = {path: list(kinds) for path, kinds in faults.items()}

    async def _call(self, path: str, call: Callable[[], Awaitable[T]], *, read: bool = False) -> T:
        kinds = self.faults.get(path)
        kind = kinds.pop(0) if kinds else None
        if kind == "before":
            raise Unreachable("The connection to the sandbox was dropped before an answer arrived.")
        result = await super()._call(path, call, read=read)
        if kind == "after":
            raise Unreachable("The connection to the sandbox was dropped before an answer arrived.")
        return result


def user_total(sandbox: Any) -> int:
    """Every user of the sandbox (the tests run one at a time: a new one is the doctor's)."""
    return int(sandbox.client().mgmt.user.search_all(limit=1, with_test_user=True)["total"])


LOST_ANSWERS = {
    "sign-up lost after the commit": {SIGN_UP: ["after"]},
    "adding the tenant fails, then the recipe's delete is lost": {ADD_TENANT: ["before"], DELETE: ["before"]},
    "adding the tenant lost after the commit, the recipe's delete lost before": {
        ADD_TENANT: ["after"],
        DELETE: ["before"],
    },
    "replacing the password lost after the commit": {REPLACE: ["after"]},
    "replacing the password fails, the recipe's delete lost before": {
        REPLACE: ["before"],
        DELETE: ["before"],
    },
    "the doctor's own delete lost before": {DELETE: ["before"]},
    "the doctor's own delete lost after the commit": {DELETE: ["after"]},
    "lookups fail for a while": {DELETE: ["before"], LOAD: ["before"] * 4},
}


@pytest.mark.asyncio
@pytest.mark.parametrize("faults", LOST_ANSWERS.values(), ids=LOST_ANSWERS.keys())
async def test_a_lost_answer_never_leaves_the_probe_behind(
    sandbox: Any, faults: dict[str, list[str]]
) -> None:
    tenant_id = anonymous_tenant(sandbox)
    before = user_total(sandbox)
    async with LossyGateway(sandbox, faults) as gateway:
        report = await run_doctor(gateway, tenant_id=tenant_id)
    assert user_total(sandbox) == before, report.lines()
    removed = [c for c in report.checks if c.name == "Probe removed"]
    assert [c.passed for c in removed] == [True], report.lines()
    assert report.probe_left is None


@pytest.mark.asyncio
async def test_a_probe_that_cannot_be_removed_is_named_so_an_admin_can_delete_it(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(doctor_module, "REMOVAL_PAUSE_SECONDS", 0.01)
    tenant_id = anonymous_tenant(sandbox)
    before = user_total(sandbox)
    async with LossyGateway(sandbox, {DELETE: ["before"] * 50}) as gateway:
        report = await run_doctor(gateway, tenant_id=tenant_id)
    assert user_total(sandbox) == before + 1
    left = report.probe_left
    assert left is not None
    assert left.endswith(".invalid")
    sandbox.client().mgmt.user.delete(left)  # the admin follows the report
    assert user_total(sandbox) == before
    failed = [c for c in report.checks if not c.passed]
    assert failed[-1].name == "Probe removed"
    assert left in failed[-1].detail
    assert "Delete it" in failed[-1].detail
    assert left in report.summary()
    assert not report.ok


@pytest.mark.asyncio
async def test_the_doctor_leaves_no_probe_against_a_faulty_sandbox(start_sandbox: Callable[..., Any]) -> None:
    """Five runs against the sandbox's own faults (benchmarks/stress_doctor.py does twenty)."""
    faulty = start_sandbox(rate_limits="off")
    tenant_id = anonymous_tenant(faulty)
    faulty.set_faults(latencyMs=100, errorRate=0.2, dropRate=0.1, paths=[])
    outcomes = []
    async with gateway_for(faulty) as gateway:
        for _ in range(5):
            outcomes.append(await run_doctor(gateway, tenant_id=tenant_id))
    faulty.set_faults(latencyMs=0, errorRate=0.0, dropRate=0.0, paths=[])
    assert user_total(faulty) == 0, [r.lines() for r in outcomes]
    assert all(r.probe_left is None for r in outcomes)


@pytest.mark.asyncio
async def test_removal_gives_up_at_its_deadline_and_says_so(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service that stops answering must not hold the doctor for every request's timeout."""
    monkeypatch.setattr(doctor_module, "REMOVAL_DEADLINE_SECONDS", 0.5)
    tenant_id = anonymous_tenant(sandbox)
    before = user_total(sandbox)

    class Hanging(LossyGateway):
        async def delete_user(self, user_id: str) -> None:
            await asyncio.sleep(3600)

    async with Hanging(sandbox, {}) as gateway:
        report = await asyncio.wait_for(run_doctor(gateway, tenant_id=tenant_id), 30)
    assert report.probe_left is not None
    assert "no answer within 0 s" not in report.checks[-1].detail
    assert "no answer within" in report.checks[-1].detail
    sandbox.client().mgmt.user.delete(report.probe_left)
    assert user_total(sandbox) == before


@pytest.mark.asyncio
async def test_an_unreachable_service_makes_the_report_unusable() -> None:
    async with Gateway(Connection("P2abcdefghijklmnopqrstuvwxyz", "http://127.0.0.1:9", "K2nothing")) as gw:
        report = await run_doctor(gw)
    assert report.unusable
    assert [c.name for c in report.checks] == ["Connection"]
    assert "Cannot reach 127.0.0.1:9" in report.checks[0].detail
