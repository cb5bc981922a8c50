"""The conversion wizard on the real sandbox, driven as an agent drives it: by code (read from the
sandbox's outbox) and attested; malformed and taken addresses; wrong and expired codes; the user
deleted or converted by someone else while the wizard is open; a server error in the middle (rolled
back, checked through the SDK); a lost answer; Cancel after the code.

Set CONVERT_WIZARD_SCREENSHOTS to a folder to save each page (light, 780×600).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
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
from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication, QWizard
from tenants import anonymous_tenant
from waiting import emitted, until, until_signal

from anonconsole.app.palette import apply_color_scheme
from anonconsole.core.records import User
from anonconsole.gateway import Connection, Gateway
from anonconsole.operations.audit_log import AuditLog
from anonconsole.operations.convert import Outcome
from anonconsole.views.convert_wizard import ConvertWizard

NEXT = QWizard.WizardButton.NextButton
COMMIT = QWizard.WizardButton.CommitButton
BACK = QWizard.WizardButton.BackButton
FINISH = QWizard.WizardButton.FinishButton
PROFILE = "Support desk"
SHOTS = os.environ.get("CONVERT_WIZARD_SCREENSHOTS", "")


def connection(sandbox: Any) -> Connection:
    return Connection(sandbox.project_id, sandbox.url, sandbox.management_key)


def make_wizard(
    qtbot: Any,
    gateway: Gateway,
    user: dict[str, Any],
    tenant_id: str,
    audit: AuditLog,
    *,
    attest: bool = True,
) -> ConvertWizard:
    wizard = ConvertWizard(
        gateway,
        User.from_api(user),
        tenant_id=tenant_id,
        profile=PROFILE,
        audit=audit,
        allow_attestation=attest,
    )
    qtbot.addWidget(wizard)
    wizard.show()
    return wizard


async def advance(wizard: ConvertWizard) -> None:
    """Press Next (or the commit button), once the page says it is complete."""
    button = wizard.button(COMMIT) if wizard.button(COMMIT).isVisible() else wizard.button(NEXT)
    await until_signal(wizard.currentPage().completeChanged, button.isEnabled)
    button.click()


async def to_verification(wizard: ConvertWizard, address: str, *, phone: bool = False) -> None:
    """Type the address, pass the check, reach the verification page."""
    page = wizard.address_page
    (page.phone if phone else page.email).setChecked(True)
    page.address.setText(address)
    shot(wizard, "address")
    async with emitted(wizard.checked) as checked:
        await advance(wizard)
    assert checked.args[0].ok, wizard.check_page.outcome.text()
    shot(wizard, "check")
    await advance(wizard)
    assert wizard.currentPage() is wizard.verification_page


async def send_code(wizard: ConvertWizard) -> Any:
    async with emitted(wizard.code_sent) as sent:
        wizard.verification_page.send.click()
    return sent.args[0]


async def type_code(wizard: ConvertWizard, code: str) -> Any:
    page = wizard.verification_page
    page.code.setText(code)
    async with emitted(wizard.code_checked) as checked:
        page.verify.click()
    return checked.args[0]


async def verify_by_code(wizard: ConvertWizard, sandbox: Any, login_id: str) -> None:
    """Send the code, type the one the sandbox 'sent', and land on the review page."""
    await send_code(wizard)
    shot(wizard, "verification")
    assert isinstance(await type_code(wizard, latest_code(sandbox, login_id)), User)
    await until(lambda: wizard.currentPage() is wizard.review_page, what="the review page")


async def convert(wizard: ConvertWizard) -> Any:
    """Press Convert on the review page and wait for the result page; the report."""
    async with emitted(wizard.conversion_ended) as ended:
        await advance(wizard)
        if wizard.currentPage() is wizard.apply_page:
            shot(wizard, "apply")
    await until(lambda: wizard.currentPage() is wizard.result_page, what="the result page")
    shot(wizard, "result")
    return ended.args[0]


async def close(wizard: ConvertWizard) -> None:
    """Close the wizard as the agent would, and wait for what that starts (after a verified code, the
    address is removed again before it closes)."""
    wizard.close()
    await until(lambda: not wizard.isVisible(), what="the wizard closed")
    await wizard.wait_idle()


def shot(wizard: ConvertWizard, name: str) -> None:
    """The page shown, in light and dark, when CONVERT_WIZARD_SCREENSHOTS names a folder."""
    if not SHOTS:
        return
    assert (wizard.width(), wizard.height()) == (780, 600)
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    try:
        for scheme in ("light", "dark"):
            apply_color_scheme(app, scheme)
            QCoreApplication.sendPostedEvents()  # the palette change reaches the widgets as an event
            wizard.grab().save(str(Path(SHOTS) / f"convert-wizard-{name}-{scheme}.png"))
    finally:
        apply_color_scheme(app, "light")
        QCoreApplication.sendPostedEvents()


def audit_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def tenant_id(sandbox: Any) -> str:
    return anonymous_tenant(sandbox)


def test_by_code_the_user_becomes_regular_with_the_same_id(
    qtbot: Any, arun: Callable[..., Any], sandbox: Any, tenant_id: str, tmp_path: Path
) -> None:
    user = anonymous_user(sandbox, tenant_id)
    login_id, email = user["loginIds"][0], unique_email()
    audit = AuditLog(tmp_path / "audit.jsonl")
    converted: list[User] = []

    async def scenario() -> None:
        async with Gateway(connection(sandbox)) as gateway:
            wizard = make_wizard(qtbot, gateway, user, tenant_id, audit)
            wizard.converted.connect(converted.append)
            assert user["userId"] in wizard.address_page.user_summary.text()
            await to_verification(wizard, email)
            await verify_by_code(wizard, sandbox, login_id)
            review = wizard.review_page
            assert not wizard.button(BACK).isEnabled(), "no way back past the verified code"
            rows = {
                review.table.item(r, 0).text(): review.table.item(r, 2).text()
                for r in range(review.table.rowCount())
            }
            assert rows["Login IDs"] == email
            assert rows["Kind"] == "Regular"
            review.name.setText("Bob Smith")
            assert review.steps.text().count("\n") == 4  # a heading and four steps
            shot(wizard, "review")
            report = await convert(wizard)
            assert report.ok, report.summary()
            assert wizard.result_page.headline.text().startswith("Converted:")
            assert wizard.button(FINISH).isVisible()
            await close(wizard)

    arun(scenario())
    (done,) = converted
    assert (done.user_id, done.login_ids, done.verified_email) == (user["userId"], (email,), True)
    now = sandbox.client().mgmt.user.load_by_user_id(user["userId"])["user"]
    assert (now["loginIds"], now["verifiedEmail"], now["name"], now["userTenants"]) == (
        [email],
        True,
        "Bob Smith",
        [],
    )
    assert sign_in_by_otp(sandbox, email)["userId"] == user["userId"]
    (entry,) = audit_lines(tmp_path / "audit.jsonl")
    assert (entry["action"], entry["result"], entry["profile"]) == ("convert.code", "converted", PROFILE)
    assert entry["after"]["verification"]["method"] == "code"
    assert latest_code(sandbox, login_id) not in (tmp_path / "audit.jsonl").read_text()


def test_attested_phone_conversion_needs_a_reason_and_a_ticket(
    qtbot: Any, arun: Callable[..., Any], sandbox: Any, tenant_id: str, tmp_path: Path
) -> None:
    user = anonymous_user(sandbox, tenant_id)
    phone = unique_phone()
    audit = AuditLog(tmp_path / "audit.jsonl")

    async def scenario() -> None:
        async with Gateway(connection(sandbox)) as gateway:
            wizard = make_wizard(qtbot, gateway, user, tenant_id, audit)
            await to_verification(wizard, f"{phone[:3]} {phone[3:]}", phone=True)
            page = wizard.verification_page
            page.by_attestation.setChecked(True)
            assert not page.isComplete()
            assert "at least 10 characters" in page.attest_problems.text()
            page.reason.setPlainText("Called back on the number in our CRM")
            page.ticket.setText("SUP-4711")
            assert page.isComplete()
            shot(wizard, "attestation")
            await advance(wizard)
            review = wizard.review_page
            assert not review.keep.isEnabled()
            assert "takes the random login ID's place" in review.keep_note.text()
            assert review.note.text().startswith("Nothing has changed yet")
            assert wizard.button(BACK).isEnabled(), "attested, nothing was written: Back is allowed"
            report = await convert(wizard)
            assert report.ok, report.summary()
            await close(wizard)

    arun(scenario())
    now = sandbox.client().mgmt.user.load_by_user_id(user["userId"])["user"]
    assert (now["loginIds"], now["phone"], now["verifiedPhone"], now["userTenants"]) == (
        [phone],
        phone,
        True,
        [],
    )
    assert sign_in_by_otp(sandbox, phone)["userId"] == user["userId"]
    (entry,) = audit_lines(tmp_path / "audit.jsonl")
    assert entry["action"] == "convert.attested"
    assert entry["after"]["verification"]["ticket"] == "SUP-4711"


@pytest.mark.parametrize(
    ("phone", "typed", "says"),
    [
        (False, "bob@example", "It should have a period"),
        (False, "bob smith@example.com", "invalid characters"),
        (True, "650 253 0000", "a + and the country code"),
        (True, "+1 555 555 0100", "no such number"),
    ],
)
def test_malformed_addresses_keep_next_off(
    qtbot: Any, sandbox: Any, phone: bool, typed: str, says: str
) -> None:
    user = {"userId": "U2nobody", "loginIds": ["x@y.invalid"], "status": "enabled"}
    gateway = Gateway(connection(sandbox))
    wizard = make_wizard(
        qtbot, gateway, user, "T2anon", AuditLog(Path("/nonexistent/audit.jsonl")), attest=False
    )
    page = wizard.address_page
    (page.phone if phone else page.email).setChecked(True)
    page.address.setText(typed)
    assert says in page.problem.text()
    assert not wizard.button(NEXT).isEnabled()
    page.address.setText(unique_phone() if phone else unique_email())
    assert page.problem.text().startswith("A valid")
    assert wizard.button(NEXT).isEnabled()


def test_a_taken_address_says_who_holds_it_and_attestation_can_be_forbidden(
    qtbot: Any, arun: Callable[..., Any], sandbox: Any, tenant_id: str, tmp_path: Path
) -> None:
    user = anonymous_user(sandbox, tenant_id)
    taken = unique_email()
    holder = sandbox.client().mgmt.user.create(taken)["user"]["userId"]
    sandbox.client().mgmt.user.deactivate(taken)

    async def scenario() -> None:
        async with Gateway(connection(sandbox)) as gateway:
            wizard = make_wizard(
                qtbot, gateway, user, tenant_id, AuditLog(tmp_path / "a.jsonl"), attest=False
            )
            wizard.address_page.address.setText(taken)
            async with emitted(wizard.checked) as checked:
                await advance(wizard)
            assert not checked.args[0].ok
            outcome = wizard.check_page.outcome.text()
            assert f"{taken} is the login ID and email of the user {taken} ({holder}, disabled)." in outcome
            assert "someone else's address" in outcome
            assert not wizard.button(NEXT).isEnabled()
            shot(wizard, "check-taken")
            await until(lambda: wizard.button(BACK).isEnabled())
            wizard.button(BACK).click()
            wizard.address_page.address.setText(unique_email())
            await advance(wizard)
            await until_signal(wizard.check_page.completeChanged, wizard.check_page.isComplete)
            await advance(wizard)
            page = wizard.verification_page
            assert not page.by_attestation.isEnabled()
            assert page.attestation_note.isVisible()
            await close(wizard)

    arun(scenario())


def test_wrong_and_expired_codes_are_explained_and_a_new_code_works(
    qtbot: Any, arun: Callable[..., Any], sandbox: Any, tenant_id: str, tmp_path: Path
) -> None:
    user = anonymous_user(sandbox, tenant_id)
    login_id = user["loginIds"][0]

    async def scenario() -> None:
        async with Gateway(connection(sandbox)) as gateway:
            wizard = make_wizard(qtbot, gateway, user, tenant_id, AuditLog(tmp_path / "a.jsonl"))
            await to_verification(wizard, unique_email())
            page = wizard.verification_page
            assert not page.verify.isEnabled(), "nothing to verify before a code is sent"
            await send_code(wizard)
            assert page.sent.text().startswith("Sent to c***@example.com at ")
            code = latest_code(sandbox, login_id)
            page.code.setText("12ab")
            page.verify.click()
            assert page.code_outcome.text() == "Type the code's digits (Descope sends 6)."
            await type_code(wizard, "000000" if code != "000000" else "111111")
            assert "Descope refused the code" in page.code_outcome.text()
            assert "Check the digits with the person" in page.code_outcome.text()
            assert page.code_outcome.property("role") == "error"
            shot(wizard, "verification-wrong-code")
            expire_codes(sandbox, login_id)
            await type_code(wizard, code)
            assert "expired" in page.code_outcome.text()
            assert wizard.currentPage() is page
            assert page.send.text() == "Send a new code"
            await send_code(wizard)
            assert isinstance(await type_code(wizard, latest_code(sandbox, login_id)), User)
            await until(lambda: wizard.currentPage() is wizard.review_page)
            await close(wizard)

    arun(scenario())


def test_a_user_deleted_while_the_wizard_is_open(
    qtbot: Any, arun: Callable[..., Any], sandbox: Any, tenant_id: str, tmp_path: Path
) -> None:
    user = anonymous_user(sandbox, tenant_id)

    async def scenario() -> None:
        async with Gateway(connection(sandbox)) as gateway:
            wizard = make_wizard(qtbot, gateway, user, tenant_id, AuditLog(tmp_path / "a.jsonl"))
            wizard.address_page.address.setText(unique_email())
            sandbox.client().mgmt.user.delete_by_user_id(user["userId"])
            async with emitted(wizard.checked):
                await advance(wizard)
            assert wizard.check_page.outcome.text().startswith("The user no longer exists")
            assert not wizard.button(NEXT).isEnabled()
            await close(wizard)

    arun(scenario())


def test_a_user_converted_by_someone_else_after_the_code_is_left_alone(
    qtbot: Any, arun: Callable[..., Any], sandbox: Any, tenant_id: str, tmp_path: Path
) -> None:
    user = anonymous_user(sandbox, tenant_id)
    login_id, email = user["loginIds"][0], unique_email()
    audit = AuditLog(tmp_path / "audit.jsonl")

    async def scenario() -> None:
        async with Gateway(connection(sandbox)) as gateway:
            wizard = make_wizard(qtbot, gateway, user, tenant_id, audit)
            await to_verification(wizard, email)
            await verify_by_code(wizard, sandbox, login_id)
            # A colleague finishes the job meanwhile, by hand.
            sandbox.client().mgmt.user.remove_tenant(login_id, tenant_id)
            report = await convert(wizard)
            assert report.outcome is Outcome.REFUSED
            assert "Someone changed the user since the code was verified: tenants" in report.summary()
            assert wizard.result_page.headline.property("role") == "error"
            assert wizard.result_page.state.text().startswith("The user is regular")
            await close(wizard)

    arun(scenario())
    assert [e["result"] for e in audit_lines(tmp_path / "audit.jsonl")] == ["refused"]


def test_a_server_error_in_the_middle_is_rolled_back(
    qtbot: Any, arun: Callable[..., Any], start_sandbox: Callable[..., Any], tmp_path: Path
) -> None:
    sandbox = start_sandbox()
    tenant_id = anonymous_tenant(sandbox)
    user = anonymous_user(sandbox, tenant_id)
    audit = AuditLog(tmp_path / "audit.jsonl")

    async def scenario() -> None:
        async with Gateway(connection(sandbox)) as gateway:
            wizard = make_wizard(qtbot, gateway, user, tenant_id, audit)
            await to_verification(wizard, unique_email())
            await verify_by_code(wizard, sandbox, user["loginIds"][0])
            sandbox.set_faults(errorRate=1.0, paths=["/v1/mgmt/user/update/tenant/remove"])
            try:
                report = await convert(wizard)
            finally:
                sandbox.set_faults()
            assert report.outcome is Outcome.ROLLED_BACK, report.summary()
            page = wizard.result_page
            assert "Everything done was undone" in page.headline.text()
            assert page.state.text().startswith("The user is anonymous, exactly as before the conversion.")
            shot(wizard, "result-rolled-back")
            await close(wizard)

    arun(scenario())
    now = sandbox.client().mgmt.user.load_by_user_id(user["userId"])["user"]
    for name in ("loginIds", "email", "verifiedEmail", "phone", "verifiedPhone", "name"):
        assert now[name] == user[name], name
    assert [t["tenantId"] for t in now["userTenants"]] == [tenant_id]
    assert [e["result"] for e in audit_lines(tmp_path / "audit.jsonl")] == ["rolled back"]


def test_a_lost_answer_is_settled_by_looking(
    qtbot: Any, arun: Callable[..., Any], sandbox: Any, tenant_id: str, tmp_path: Path
) -> None:
    user = anonymous_user(sandbox, tenant_id)
    email = unique_email()

    async def scenario() -> None:
        async with LosingGateway(connection(sandbox)) as gateway:
            gateway.lose = frozenset({"remove_tenant"})
            wizard = make_wizard(qtbot, gateway, user, tenant_id, AuditLog(tmp_path / "a.jsonl"))
            await to_verification(wizard, email)
            await verify_by_code(wizard, sandbox, user["loginIds"][0])
            report = await convert(wizard)
            assert report.ok, report.summary()
            lines = wizard.result_page.steps.text()
            assert "Removed from the anonymous tenant" in lines
            assert "done (its answer was lost; the user shows it)" in lines
            await close(wizard)

    arun(scenario())
    assert sandbox.client().mgmt.user.load_by_user_id(user["userId"])["user"]["loginIds"] == [email]


def test_cancel_after_the_code_removes_the_address_again(
    qtbot: Any, arun: Callable[..., Any], sandbox: Any, tenant_id: str, tmp_path: Path
) -> None:
    user = anonymous_user(sandbox, tenant_id)
    audit = AuditLog(tmp_path / "audit.jsonl")

    async def scenario() -> None:
        async with Gateway(connection(sandbox)) as gateway:
            wizard = make_wizard(qtbot, gateway, user, tenant_id, audit)
            await to_verification(wizard, unique_email())
            await verify_by_code(wizard, sandbox, user["loginIds"][0])
            async with emitted(wizard.conversion_ended) as ended:
                wizard.reject()
                assert wizard.isVisible(), "the wizard waits until the address is removed"
            assert ended.args[0].outcome is Outcome.ABANDONED
            await until(lambda: not wizard.isVisible(), what="the wizard closed")
            await wizard.wait_idle()

    arun(scenario())
    now = sandbox.client().mgmt.user.load_by_user_id(user["userId"])["user"]
    assert (now["loginIds"], now["email"], now["verifiedEmail"]) == (user["loginIds"], user["email"], False)
    assert [e["result"] for e in audit_lines(tmp_path / "audit.jsonl")] == ["abandoned"]


def test_cancel_while_the_code_is_checked_waits_then_removes_the_address(
    qtbot: Any, arun: Callable[..., Any], sandbox: Any, tenant_id: str, tmp_path: Path
) -> None:
    user = anonymous_user(sandbox, tenant_id)
    login_id = user["loginIds"][0]
    audit = AuditLog(tmp_path / "audit.jsonl")

    async def scenario() -> None:
        async with Gateway(connection(sandbox)) as gateway:
            wizard = make_wizard(qtbot, gateway, user, tenant_id, audit)
            await to_verification(wizard, unique_email())
            await send_code(wizard)
            wizard.verification_page.code.setText(latest_code(sandbox, login_id))
            async with emitted(wizard.conversion_ended) as ended:
                wizard.verification_page.verify.click()
                wizard.reject()  # while Descope checks the code
                assert wizard.isVisible(), "the wizard waits for Descope's answer"
                assert not wizard.isEnabled()
            assert ended.args[0].outcome is Outcome.ABANDONED, ended.args[0].summary()
            await until(lambda: not wizard.isVisible(), what="the wizard closed")
            assert wizard.review_page.plan is None, "it did not move on to the review"
            await wizard.wait_idle()

    arun(scenario())
    now = sandbox.client().mgmt.user.load_by_user_id(user["userId"])["user"]
    assert (now["loginIds"], now["verifiedEmail"]) == (user["loginIds"], False)
    assert [e["result"] for e in audit_lines(tmp_path / "audit.jsonl")] == ["abandoned"]


def test_the_wizard_stays_open_while_convert_writes(
    qtbot: Any, arun: Callable[..., Any], sandbox: Any, tenant_id: str, tmp_path: Path
) -> None:
    user = anonymous_user(sandbox, tenant_id)

    async def scenario() -> None:
        async with Gateway(connection(sandbox)) as gateway:
            wizard = make_wizard(qtbot, gateway, user, tenant_id, AuditLog(tmp_path / "a.jsonl"))
            await to_verification(wizard, unique_email())
            await verify_by_code(wizard, sandbox, user["loginIds"][0])
            async with emitted(wizard.conversion_ended) as ended:
                await advance(wizard)  # Convert
                assert wizard.currentPage() is wizard.apply_page
                assert not wizard.button(QWizard.WizardButton.CancelButton).isEnabled()
                wizard.reject()  # Escape, or the window's close box
                assert wizard.isVisible()
            assert ended.args[0].ok, ended.args[0].summary()
            await until(lambda: wizard.currentPage() is wizard.result_page, what="the result page")
            await close(wizard)

    arun(scenario())
    assert sandbox.client().mgmt.user.load_by_user_id(user["userId"])["user"]["userTenants"] == []
