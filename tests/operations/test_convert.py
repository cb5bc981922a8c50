"""Converting anonymous users on the real sandbox: by code and attested, refusals, a server error in the
middle (rolled back, checked through the SDK), lost answers, an undo that fails, a cancel after the code.

The SDK is the independent path to the truth: every end state is read back with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conversions import (
    LosingGateway,
    anonymous_user,
    expire_codes,
    latest_code,
    sign_in_by_otp,
    unique_email,
    unique_phone,
)
from tenants import anonymous_tenant

from anonconsole.core.convert import (
    Address,
    Attestation,
    Channel,
    ConversionPlan,
    Verification,
    parse_address,
)
from anonconsole.core.records import User
from anonconsole.gateway import Connection, Gateway
from anonconsole.operations.audit_log import AuditLog
from anonconsole.operations.convert import (
    CodeSent,
    CodeVerification,
    Outcome,
    abandon_conversion,
    apply_conversion,
    check_address,
)
from anonconsole.operations.shape import Refusal

PROFILE = "Support"
REMOVE_TENANT = "/v1/mgmt/user/update/tenant/remove"
UPDATE_LOGIN_ID = "/v1/mgmt/user/update/loginid"
UPDATE_EMAIL = "/v1/mgmt/user/update/email"


def gateway_for(sandbox: Any, cls: type[Gateway] = Gateway) -> Gateway:
    return cls(Connection(sandbox.project_id, sandbox.url, sandbox.management_key))


def user_of(sandbox: Any, user_id: str) -> dict[str, Any]:
    return sandbox.client().mgmt.user.load_by_user_id(user_id)["user"]  # type: ignore[no-any-return]


def audit_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def verified_by_code(
    gateway: Gateway, sandbox: Any, tenant_id: str, address: Address | None = None
) -> tuple[CodeVerification, dict[str, Any]]:
    """An anonymous user whose new address was verified by the code the sandbox sent."""
    user = anonymous_user(sandbox, tenant_id)
    address = address or Address(Channel.EMAIL, unique_email())
    verification = CodeVerification(gateway, User.from_api(user), address, tenant_id=tenant_id)
    sent = await verification.send()
    assert isinstance(sent, CodeSent), sent
    verified = await verification.verify(latest_code(sandbox, user["loginIds"][0]))
    assert isinstance(verified, User), verified
    return verification, user


@pytest.fixture(scope="module")
def tenant_id(sandbox: Any) -> str:
    return anonymous_tenant(sandbox)


@pytest.mark.asyncio
async def test_by_code_the_user_keeps_its_id_and_signs_in_with_the_new_email(
    sandbox: Any, tenant_id: str, tmp_path: Path
) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    progress: list[str] = []
    async with gateway_for(sandbox) as gateway:
        verification, before = await verified_by_code(gateway, sandbox, tenant_id)
        assert verification.sent is not None
        plan = verification.plan(display_name="Bob Smith")
        report = await apply_conversion(
            gateway,
            plan,
            audit=audit,
            profile=PROFILE,
            allow_attestation=False,
            code_sent_to=verification.sent.sent_to,
            progress=lambda _done, _total, text: progress.append(text),
        )
    assert report.ok, report.summary()
    address = plan.address.value
    assert report.state.startswith("The user is converted")
    assert progress == [step.text for step in plan.steps[1:]]
    assert progress[0] == "Display name set to “Bob Smith”"
    after = user_of(sandbox, before["userId"])
    assert after["loginIds"] == [address]
    assert (after["email"], after["verifiedEmail"], after["name"]) == (address, True, "Bob Smith")
    assert after["userTenants"] == []
    assert report.user is not None
    assert report.user.login_ids == (address,)
    assert sign_in_by_otp(sandbox, address)["userId"] == before["userId"]

    (entry,) = audit_lines(tmp_path / "audit.jsonl")
    assert (entry["action"], entry["target"], entry["result"], entry["profile"]) == (
        "convert.code",
        before["userId"],
        "converted",
        PROFILE,
    )
    assert entry["after"]["verification"] == {
        "method": "code",
        "channel": "email",
        "codeSentTo": verification.sent.sent_to,
    }
    assert entry["before"]["loginIds"] == before["loginIds"]
    assert entry["after"]["loginIds"] == [address]
    assert entry["actor"]
    assert entry["time"]
    text = (tmp_path / "audit.jsonl").read_text()
    assert latest_code(sandbox, before["loginIds"][0]) not in text
    assert sandbox.management_key not in text
    assert "eyJ" not in text  # no JWT


@pytest.mark.asyncio
async def test_attested_phone_conversion_is_audited_with_reason_and_ticket(
    sandbox: Any, tenant_id: str, tmp_path: Path
) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    user = User.from_api(anonymous_user(sandbox, tenant_id))
    phone = parse_address(Channel.PHONE, unique_phone())
    plan = ConversionPlan(
        user,
        phone,
        tenant_id,
        Verification.ATTESTED,
        attestation=Attestation("Called back on this number from the CRM", "SUP-4711"),
    )
    async with gateway_for(sandbox) as gateway:
        refused = await apply_conversion(gateway, plan, audit=audit, profile=PROFILE, allow_attestation=False)
        assert refused.outcome is Outcome.REFUSED
        assert "forbids attested conversions" in refused.summary()
        report = await apply_conversion(gateway, plan, audit=audit, profile=PROFILE, allow_attestation=True)
    assert report.ok, report.summary()
    after = user_of(sandbox, user.user_id)
    assert after["loginIds"] == [phone.value]
    assert (after["phone"], after["verifiedPhone"], after["userTenants"]) == (phone.value, True, [])
    assert sign_in_by_otp(sandbox, phone.value)["userId"] == user.user_id
    refusal, entry = audit_lines(tmp_path / "audit.jsonl")
    assert (refusal["result"], entry["result"], entry["action"]) == (
        "refused",
        "converted",
        "convert.attested",
    )
    assert entry["after"]["verification"] == {
        "method": "attested",
        "channel": "phone",
        "reason": "Called back on this number from the CRM",
        "ticket": "SUP-4711",
    }


@pytest.mark.asyncio
async def test_the_check_finds_takers_deleted_and_converted_users(sandbox: Any, tenant_id: str) -> None:
    client = sandbox.client()
    user = anonymous_user(sandbox, tenant_id)
    taken = unique_email()
    client.mgmt.user.create_test_user(f"t-{taken}", email=taken)
    async with gateway_for(sandbox) as gateway:
        free = await check_address(
            gateway, user["userId"], Address(Channel.EMAIL, unique_email()), tenant_id=tenant_id
        )
        assert free.ok
        clash = await check_address(
            gateway, user["userId"], Address(Channel.EMAIL, taken), tenant_id=tenant_id
        )
        assert not clash.ok
        assert (
            clash.sentences()[0]
            == f"{taken} is the email of the user t-{taken} ({clash.collisions[0].user_id}, a test user)."
        )

        client.mgmt.user.update_email(user["loginIds"][0], unique_email(), verified=True)
        converted = await check_address(
            gateway, user["userId"], Address(Channel.EMAIL, unique_email()), tenant_id=tenant_id
        )
        assert converted.problems[0].startswith("The user is no longer anonymous: has a verified email")

        client.mgmt.user.delete_by_user_id(user["userId"])
        gone = await check_address(
            gateway, user["userId"], Address(Channel.EMAIL, unique_email()), tenant_id=tenant_id
        )
        assert gone.user is None
        assert gone.problems == (
            "The user no longer exists: someone deleted it (or it was culled) meanwhile.",
        )


@pytest.mark.asyncio
async def test_wrong_and_expired_codes_are_explained_and_a_new_code_works(
    sandbox: Any, tenant_id: str
) -> None:
    user = anonymous_user(sandbox, tenant_id)
    login_id = user["loginIds"][0]
    async with gateway_for(sandbox) as gateway:
        verification = CodeVerification(
            gateway, User.from_api(user), Address(Channel.EMAIL, unique_email()), tenant_id=tenant_id
        )
        assert await verification.verify("123456") == Refusal(("Send a code first.",))
        assert isinstance(await verification.send(), CodeSent)
        code = latest_code(sandbox, login_id)
        wrong = await verification.verify("000000" if code != "000000" else "111111")
        assert isinstance(wrong, Refusal)
        assert "Descope refused the code" in wrong.summary()
        assert "Check the digits with the person" in wrong.summary()
        expire_codes(sandbox, login_id)
        expired = await verification.verify(code)
        assert isinstance(expired, Refusal)
        assert "expired" in expired.summary()
        assert "send a new code" in expired.summary().lower()
        assert isinstance(await verification.send(), CodeSent)
        assert isinstance(await verification.verify(latest_code(sandbox, login_id)), User)
    assert user_of(sandbox, user["userId"])["verifiedEmail"] is True


@pytest.mark.asyncio
async def test_an_address_taken_after_the_code_was_sent_is_not_attached(sandbox: Any, tenant_id: str) -> None:
    user = anonymous_user(sandbox, tenant_id)
    address = Address(Channel.EMAIL, unique_email())
    async with gateway_for(sandbox) as gateway:
        verification = CodeVerification(gateway, User.from_api(user), address, tenant_id=tenant_id)
        assert isinstance(await verification.send(), CodeSent)
        sandbox.client().mgmt.user.create(address.value)  # someone else signs up with it meanwhile
        refused = await verification.verify(latest_code(sandbox, user["loginIds"][0]))
    assert isinstance(refused, Refusal)
    assert refused.problems[0].startswith(f"Another user took {address} since the code was sent")
    assert user_of(sandbox, user["userId"])["loginIds"] == user["loginIds"]


@pytest.mark.asyncio
async def test_a_user_converted_by_someone_else_is_not_sent_a_code(sandbox: Any, tenant_id: str) -> None:
    user = anonymous_user(sandbox, tenant_id)
    client = sandbox.client()
    async with gateway_for(sandbox) as gateway:
        verification = CodeVerification(
            gateway, User.from_api(user), Address(Channel.EMAIL, unique_email()), tenant_id=tenant_id
        )
        client.mgmt.user.update_email(user["loginIds"][0], unique_email(), verified=True)
        client.mgmt.user.remove_tenant(user["loginIds"][0], tenant_id)
        refused = await verification.send()
    assert isinstance(refused, Refusal)
    assert refused.problems[0].startswith("The user is no longer anonymous: has a verified email")
    assert verification.sent is None


@pytest.mark.asyncio
async def test_a_user_deleted_after_the_code_is_refused_at_apply(
    sandbox: Any, tenant_id: str, tmp_path: Path
) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    async with gateway_for(sandbox) as gateway:
        verification, user = await verified_by_code(gateway, sandbox, tenant_id)
        sandbox.client().mgmt.user.delete_by_user_id(user["userId"])
        report = await apply_conversion(
            gateway, verification.plan(), audit=audit, profile=PROFILE, allow_attestation=False
        )
    assert report.outcome is Outcome.REFUSED
    assert report.state == "The user no longer exists."
    assert [e["result"] for e in audit_lines(tmp_path / "audit.jsonl")] == ["refused"]


@pytest.mark.asyncio
async def test_a_user_changed_after_the_code_is_left_as_it_is(
    sandbox: Any, tenant_id: str, tmp_path: Path
) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    async with gateway_for(sandbox) as gateway:
        verification, user = await verified_by_code(gateway, sandbox, tenant_id)
        sandbox.client().mgmt.user.update_display_name(user["loginIds"][0], "Someone Else")
        report = await apply_conversion(
            gateway, verification.plan(), audit=audit, profile=PROFILE, allow_attestation=False
        )
    assert report.outcome is Outcome.REFUSED
    assert report.problems[0].startswith(
        "Someone changed the user since the code was verified: name: expected —"
    )
    assert "half-converted" in report.state
    assert user_of(sandbox, user["userId"])["userTenants"] != []


@pytest.mark.asyncio
@pytest.mark.parametrize("verification", list(Verification))
async def test_a_server_error_in_the_middle_is_rolled_back(
    start_sandbox: Any, tmp_path: Path, verification: Verification
) -> None:
    sandbox = start_sandbox()
    tenant_id = anonymous_tenant(sandbox)
    audit = AuditLog(tmp_path / "audit.jsonl")
    async with gateway_for(sandbox) as gateway:
        if verification is Verification.CODE:
            code, user = await verified_by_code(gateway, sandbox, tenant_id)
            plan = code.plan(display_name="Bob")
        else:
            user = anonymous_user(sandbox, tenant_id)
            plan = ConversionPlan(
                User.from_api(user),
                Address(Channel.EMAIL, unique_email()),
                tenant_id,
                Verification.ATTESTED,
                display_name="Bob",
                attestation=Attestation("Replied from it to our mail", "SUP-1"),
            )
        sandbox.set_faults(errorRate=1.0, paths=[REMOVE_TENANT])
        report = await apply_conversion(gateway, plan, audit=audit, profile=PROFILE, allow_attestation=True)
        sandbox.set_faults()
    assert report.outcome is Outcome.ROLLED_BACK, report.summary()
    expected = {
        Verification.CODE: ["undone", "undone", "not done", "not done"],
        Verification.ATTESTED: ["undone", "undone", "undone", "not done"],
    }
    assert [r.state for r in report.steps] == expected[verification]
    assert "Injected fault" in report.summary()
    assert report.state.startswith("The user is anonymous, exactly as before the conversion.")
    now = user_of(sandbox, user["userId"])
    for name in ("loginIds", "email", "verifiedEmail", "name", "phone"):
        assert now[name] == user[name], name
    assert [t["tenantId"] for t in now["userTenants"]] == [tenant_id]
    (entry,) = audit_lines(tmp_path / "audit.jsonl")
    assert entry["result"] == "rolled back"
    assert entry["after"]["loginIds"] == user["loginIds"]


@pytest.mark.asyncio
async def test_an_undo_that_fails_leaves_an_exact_statement(start_sandbox: Any, tmp_path: Path) -> None:
    sandbox = start_sandbox()
    tenant_id = anonymous_tenant(sandbox)
    async with gateway_for(sandbox) as gateway:
        verification, user = await verified_by_code(gateway, sandbox, tenant_id)
        sandbox.set_faults(errorRate=1.0, paths=[REMOVE_TENANT, UPDATE_LOGIN_ID])
        report = await apply_conversion(
            gateway,
            verification.plan(),
            audit=AuditLog(tmp_path / "a.jsonl"),
            profile=PROFILE,
            allow_attestation=False,
        )
        sandbox.set_faults()
    assert report.outcome is Outcome.INCOMPLETE
    assert [r.state for r in report.steps] == ["not undone", "not done", "not done"]
    assert report.state.startswith(
        "The user is half-converted and listed under Needs attention: has a verified email"
    )
    assert f"Login IDs: {user['loginIds'][0]}, {verification.address}." in report.state
    assert "not everything could be undone" in report.summary()


@pytest.mark.asyncio
async def test_lost_answers_are_settled_by_looking(start_sandbox: Any, tmp_path: Path) -> None:
    sandbox = start_sandbox()
    tenant_id = anonymous_tenant(sandbox)
    async with gateway_for(sandbox, LosingGateway) as gateway:
        assert isinstance(gateway, LosingGateway)
        gateway.lose = frozenset({"verify", "remove_tenant"})
        verification, user = await verified_by_code(gateway, sandbox, tenant_id)  # verify's answer lost
        report = await apply_conversion(
            gateway,
            verification.plan(),
            audit=AuditLog(tmp_path / "a.jsonl"),
            profile=PROFILE,
            allow_attestation=False,
        )
    assert report.ok, report.summary()
    leave = report.steps[1]
    assert (leave.state, leave.detail) == ("done", "its answer was lost; the user shows it")
    assert user_of(sandbox, user["userId"])["loginIds"] == [verification.address.value]


@pytest.mark.asyncio
async def test_answers_dropped_after_the_write_are_settled_by_looking(
    start_sandbox: Any, tmp_path: Path
) -> None:
    """The sandbox serves the request, then drops the connection (its after-the-write fault): the
    verification and the tenant removal happened, only their answers were lost."""
    sandbox = start_sandbox()
    tenant_id = anonymous_tenant(sandbox)
    user = anonymous_user(sandbox, tenant_id)
    address = Address(Channel.EMAIL, unique_email())
    async with gateway_for(sandbox) as gateway:
        verification = CodeVerification(gateway, User.from_api(user), address, tenant_id=tenant_id)
        assert isinstance(await verification.send(), CodeSent)
        sandbox.set_faults(dropAfterRate=1, times=1, paths=["/v1/auth/otp/verify/email"])
        verified = await verification.verify(latest_code(sandbox, user["loginIds"][0]))
        assert isinstance(verified, User), verified
        sandbox.set_faults(dropAfterRate=1, times=1, paths=[REMOVE_TENANT])
        report = await apply_conversion(
            gateway,
            verification.plan(),
            audit=AuditLog(tmp_path / "a.jsonl"),
            profile=PROFILE,
            allow_attestation=False,
        )
        sandbox.set_faults()
    assert report.ok, report.summary()
    assert report.steps[1].detail == "its answer was lost; the user shows it"
    assert user_of(sandbox, user["userId"])["loginIds"] == [address.value]


@pytest.mark.asyncio
async def test_cancelling_after_the_code_removes_the_address_again(
    sandbox: Any, tenant_id: str, tmp_path: Path
) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    async with gateway_for(sandbox) as gateway:
        verification, user = await verified_by_code(gateway, sandbox, tenant_id)
        report = await abandon_conversion(gateway, verification.plan(), audit=audit, profile=PROFILE)
    assert report.outcome is Outcome.ABANDONED, report.summary()
    now = user_of(sandbox, user["userId"])
    assert (now["loginIds"], now["email"], now["verifiedEmail"]) == (user["loginIds"], user["email"], False)
    assert [e["result"] for e in audit_lines(tmp_path / "audit.jsonl")] == ["abandoned"]
