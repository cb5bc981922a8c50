"""The Audit page against a sandbox with the demo's users: a tenant setup, a cull, a conversion and
chosen users disabled appear as they are written, search and filters narrow them, the details show
an entry in full, Descope's own events for a user appear beside it, and an unreachable host, an
unreadable file and damaged lines are said plainly.

Set AUDIT_PAGE_SCREENSHOTS to a folder to save the page's screenshots (light and dark, 1280×800).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conversions import anonymous_user, unique_email
from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget
from waiting import emitted, until, until_signal

from anonconsole.app.palette import apply_color_scheme
from anonconsole.core.chosen import UserAction, plan_action
from anonconsole.core.convert import Address, Attestation, Channel, ConversionPlan, Verification
from anonconsole.core.cull import plan_cull
from anonconsole.core.records import User
from anonconsole.core.tenant_setup import Desired, TenantPlan
from anonconsole.gateway import Connection, Gateway
from anonconsole.models.audit_model import COLUMNS, AuditColumn
from anonconsole.operations import audit_log, cull, journal
from anonconsole.operations.audit_log import AuditEntry, AuditLog
from anonconsole.operations.convert import apply_conversion
from anonconsole.operations.shape import Refusal
from anonconsole.operations.tenant_setup import apply_plan, inspect_tenant, plan_setup
from anonconsole.operations.user_actions import run_action
from anonconsole.operations.users_snapshot import load_users
from anonconsole.views.audit_page import AuditPage

PROJECT = "P2AuditPageTest0000000000000"  # 28 characters, not the console's own sandbox
PROFILE = "Sandbox (demo)"
TENANT = "Anonymous Users (audit page)"
SHOTS = os.environ.get("AUDIT_PAGE_SCREENSHOTS", "")


def connection(sandbox: Any) -> Connection:
    return Connection(sandbox.project_id, sandbox.url, sandbox.management_key)


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_page(qtbot: Any, audit: AuditLog, **options: Any) -> AuditPage:
    page = AuditPage(audit, **options)
    qtbot.addWidget(page)
    page.resize(1280, 800)
    return page


def shown(page: AuditPage) -> list[AuditEntry]:
    return [page.model.entry(row) for row in range(page.model.rowCount())]


def actions(page: AuditPage) -> list[tuple[str, str]]:
    return [(e.action, e.result) for e in shown(page)]


def choose(combo: Any, value: str) -> None:
    index = combo.findData(value)
    assert index >= 0, value
    combo.setCurrentIndex(index)


def screenshot(page: AuditPage, name: str) -> None:
    """The page in light and dark, when AUDIT_PAGE_SCREENSHOTS names a folder."""
    if not SHOTS:
        return
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    try:
        for scheme in ("light", "dark"):
            apply_color_scheme(app, scheme)
            QCoreApplication.sendPostedEvents()  # the palette change reaches the widgets as an event
            page.grab().save(str(Path(SHOTS) / f"audit-{name}-{scheme}.png"))
    finally:
        apply_color_scheme(app, "light")
        QCoreApplication.sendPostedEvents()


async def set_up_tenant(gateway: Gateway, audit: AuditLog) -> None:
    tenant, settings = await inspect_tenant(gateway, tenant_name=TENANT)
    plan = plan_setup(tenant, settings, Desired(), name=TENANT)
    assert isinstance(plan, TenantPlan), plan
    result = await apply_plan(gateway, plan, audit, profile=PROFILE, before=settings)
    assert result.ok, result.summary()


async def run_cull(gateway: Gateway, audit: AuditLog) -> cull.RunReport:
    rules = await cull.prepare_rules(gateway, project_id=PROJECT)
    assert not isinstance(rules, Refusal), rules
    table = await load_users(gateway, cull.policy_of(rules))
    plan = plan_cull(table, rules, now=int(time.time()), profile=PROFILE, project_id=PROJECT)
    run_journal = journal.Journal.create(plan, project_id=PROJECT, profile=PROFILE)
    return await cull.run_plan(gateway, plan, rules, journal=run_journal, audit=audit, profile=PROFILE)


async def convert_attested(gateway: Gateway, sandbox: Any, audit: AuditLog, tenant_id: str) -> None:
    user = User.from_api(anonymous_user(sandbox, tenant_id))
    attestation = Attestation("Called back on the number in the CRM", "SUP-7")
    plan = ConversionPlan(
        user,
        Address(Channel.EMAIL, unique_email()),
        tenant_id,
        Verification.ATTESTED,
        attestation=attestation,
    )
    report = await apply_conversion(gateway, plan, audit=audit, profile=PROFILE, allow_attestation=True)
    assert report.ok, report.summary()


async def disable_chosen(gateway: Gateway, sandbox: Any, audit: AuditLog, tenant_id: str) -> None:
    users = await gateway.users_by_ids([anonymous_user(sandbox, tenant_id)["userId"] for _ in range(2)])
    plan = plan_action(
        UserAction.DISABLE,
        users,
        tenant_id=tenant_id,
        profile=PROFILE,
        project_id=PROJECT,
        now=int(time.time()),
    )
    run_journal = journal.Journal.create(plan, project_id=PROJECT, profile=PROFILE)
    report = await run_action(gateway, plan, journal=run_journal, audit=audit)
    assert len(report.done) == 2, report.summary()


def test_changes_appear_and_can_be_searched_filtered_and_read_in_full(
    qtbot: Any, arun: Callable[..., Any], start_sandbox: Callable[..., Any], app_dirs: Path
) -> None:
    sandbox = start_sandbox(demo=True, project_id=PROJECT)
    audit = AuditLog()  # the console's own file (in the test's data dir)
    page = make_page(qtbot, audit)
    client = sandbox.client()

    async def scenario() -> None:
        async with Gateway(connection(sandbox)) as gateway:
            page.set_gateway(gateway)
            async with emitted(page.reloaded):
                page.show()  # the first showing reads the log
            assert page.state_text.startswith("Nothing recorded yet.")
            assert str(audit.path) in page.state_text
            assert page.count_label.text() == "0 of 0 entries"
            screenshot(page, "empty")

            # A tenant setup: its four entries, newest first, once the lead's window calls reload().
            await set_up_tenant(gateway, audit)
            async with emitted(page.reloaded) as read:
                page.reload()
            assert read.args == (4,)
            assert actions(page) == [
                ("tenant.settings", "ok"),
                ("tenant.settings", "started"),
                ("tenant.create", "ok"),
                ("tenant.create", "started"),
            ]
            assert page.state_text == ""
            assert page.count_label.text() == "4 of 4 entries"
            assert {e.profile for e in shown(page)} == {PROFILE}
            assert all(e.actor for e in shown(page))

            # A cull: nobody calls reload(); the page sees the file grow.
            report = await run_cull(gateway, audit)
            assert len(report.done) == 505
            await until_signal(page.reloaded, lambda: ("cull.run", "ok") in actions(page), what="the cull")
            assert actions(page)[0] == ("cull.run", "ok")
            culls = [e for e in shown(page) if e.action == "cull.delete"]
            assert sorted(len(e.after["userIds"]) for e in culls) == [5, 500]
            screenshot(page, "log")

            # Search: a deleted user's ID finds the batch that deleted it; selecting it shows it all.
            victim = report.done[-1]
            page.search.setText(victim.upper())  # any case
            page.apply_filters()
            (batch,) = shown(page)
            assert batch.action == "cull.delete"
            assert victim in batch.after["userIds"]
            assert page.count_label.text() == f"1 of {4 + 4:,} entries"
            async with emitted(page.events_loaded) as loaded:
                page.view.selectRow(0)
            assert page.details.entry is batch
            assert page.details.fields["action"].text() == "cull.delete (Cull)"
            assert page.details.fields["users"].text() == "5 (see below)"
            assert victim in page.details.after.text()
            assert '"planHash"' in page.details.after.text()
            assert page.details.before.text() == "—"
            # The batch's users are offered for Descope's events; the first is looked up at once.
            assert [page.events.user.itemText(i) for i in range(page.events.user.count())] == batch.after[
                "userIds"
            ]
            first = batch.after["userIds"][0]
            assert loaded.args == (first, 0)  # culled users of a year ago: nothing in the last 30 days
            assert f"Descope recorded no events for {first} in the last 30 days" in page.events.state.text()
            page.activateWindow()
            page.view.setFocus()
            QTest.keySequence(page.view, "Ctrl+C")
            assert QGuiApplication.clipboard().text().split("\t")[3] == "cull.delete"

            # Filters: the tenant setup only; then failures only, which there are none of.
            page.clear_filters()
            assert page.model.rowCount() == 8
            choose(page.kind_filter, "tenant")
            assert [a for a, _ in actions(page)] == ["tenant.settings"] * 2 + ["tenant.create"] * 2
            choose(page.result_filter, "ok")
            assert actions(page) == [("tenant.settings", "ok"), ("tenant.create", "ok")]
            choose(page.profile_filter, PROFILE)
            assert page.model.rowCount() == 2
            page.view.selectRow(0)
            settings = page.details.entry
            assert settings is not None
            assert settings.action == "tenant.settings"
            assert '"refresh_token_expiration": 365' in page.details.after.text()
            assert page.details.fields["result"].text() == "ok"
            choose(page.result_filter, "failed")
            assert page.state_text == "No entries match the search and filters."
            assert page.details.entry is None  # its entry was filtered out
            choose(page.date_filter, "today")
            assert page.state_text == "No entries match the search and filters."
            page._stack.action.click()  # "Clear filters"
            assert page.model.rowCount() == 8
            choose(page.date_filter, "between")
            assert page.from_date.isVisibleTo(page)
            page.from_date.setDate(page.to_date.date().addDays(1))  # tomorrow on: nothing yet
            assert page.model.rowCount() == 0
            page.from_date.setDate(page.to_date.date().addDays(-1))
            assert page.model.rowCount() == 8
            page.clear_filters()
            assert not page.from_date.isVisibleTo(page)

            # Sort by Action (a click on its header), then reversed by a second click.
            header = page.view.horizontalHeader()
            section = COLUMNS.index(AuditColumn.ACTION)
            for order in (Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder):
                async with emitted(header.sortIndicatorChanged):
                    header.sectionClicked.emit(section)
                names = [a for a, _ in actions(page)]
                assert names == sorted(names, reverse=order == Qt.SortOrder.DescendingOrder)

            # Descope's events for a user typed in: one created and changed just now.
            login_id = f"audited-{secrets.token_hex(4)}@example.com"
            user_id = client.mgmt.user.create(login_id, email=login_id)["user"]["userId"]
            client.mgmt.user.update_display_name(login_id, "Audited")
            page.events.user.setEditText(user_id)
            async with emitted(page.events_loaded) as loaded:
                page.events.lookup.click()
            assert loaded.args == (user_id, 2)
            assert page.events.event_actions() == ["UserModified", "UserCreated"]
            assert page.events.state.text().startswith(f"2 events Descope recorded for {user_id}")
            row = next(
                row for row, e in enumerate(shown(page)) if e.action == "tenant.settings" and e.result == "ok"
            )
            page.view.selectRow(row)  # an entry without users: the events shown stay
            assert page.details.fields["users"].text() == "none"
            assert page.events.event_actions() == ["UserModified", "UserCreated"]
            screenshot(page, "events")

            # A conversion and chosen users disabled: they appear too, with their users to look up.
            anonymous, _ = await inspect_tenant(gateway)
            assert anonymous is not None
            await convert_attested(gateway, sandbox, audit, anonymous.id)
            await disable_chosen(gateway, sandbox, audit, anonymous.id)
            await until_signal(
                page.reloaded, lambda: ("users.run", "ok") in actions(page), what="the chosen users"
            )
            assert page.result_filter.findData("converted") >= 0  # results the log holds join the filter
            choose(page.kind_filter, "convert")
            (conversion,) = shown(page)
            assert (conversion.action, conversion.result) == ("convert.attested", "converted")
            async with emitted(
                page.events_loaded, check=lambda user, _n: user == conversion.target
            ) as loaded:
                page.view.selectRow(0)
            assert loaded.args[1] >= 2  # created by the recipe, then changed by the conversion
            assert "UserModified" in page.events.event_actions()
            choose(page.kind_filter, "users")
            assert sorted(actions(page)) == [
                ("users.disable", "ok"),
                ("users.run", "ok"),
                ("users.run", "started"),
            ]

            named = [w for w in page.findChildren(QWidget) if w.objectName().startswith("audit")]
            assert len(named) > 25
            for widget in named:
                assert widget.accessibleName(), widget.objectName()
                assert re.fullmatch(r"audit[A-Z][A-Za-z]*", widget.objectName()), widget.objectName()
            await page.aclose()

    arun(scenario())


def test_a_big_log_is_read_in_pieces(
    qtbot: Any, arun: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_log, "_READ_BLOCK", 4096)  # many blocks, lines cut across them
    audit = AuditLog(tmp_path / "audit.jsonl")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    entries = [
        AuditEntry("users.delete", f"U{i:05d}", "ok", "prod", time=(start + timedelta(seconds=i)).isoformat())
        for i in range(5000)
    ]
    audit.path.write_text("".join(json.dumps(asdict(e)) + "\n" for e in entries), encoding="utf-8")
    page = make_page(qtbot, audit)

    async def scenario() -> None:
        async with emitted(page.reloaded) as read:
            page.show()
        assert read.args == (5000,)
        assert page.damaged == 0
        assert [page.model.entry(row).target for row in (0, 4999)] == ["U04999", "U00000"]  # newest first
        page.search.setText("u01234")
        page.apply_filters()
        assert [e.target for e in shown(page)] == ["U01234"]
        await page.aclose()

    arun(scenario())


def test_f5_on_the_page_reloads_the_log(qtbot: Any, arun: Callable[..., Any], tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    page = make_page(qtbot, audit, watch=False)  # only F5 may read it here

    async def scenario() -> None:
        async with emitted(page.reloaded):
            page.show()
        audit.append(AuditEntry("users.disable", "U2abc", "ok", "prod"))
        page.view.setFocus()
        async with emitted(page.reloaded) as read:
            QTest.keyClick(page.view, Qt.Key.Key_F5)
        assert read.args == (1,)
        assert actions(page) == [("users.disable", "ok")]
        await page.aclose()

    arun(scenario())


def test_an_unreachable_host_is_said_plainly(qtbot: Any, arun: Callable[..., Any], tmp_path: Path) -> None:
    page = make_page(qtbot, AuditLog(tmp_path / "audit.jsonl"))
    key = "K2" + secrets.token_hex(16)
    url = f"http://127.0.0.1:{closed_port()}"

    async def scenario() -> None:
        page.show()
        page.show_events("U2abc")
        assert page.events.state.text().startswith("Not connected")
        async with Gateway(Connection("P2AuditPageTest0000000000000", url, key)) as gateway:
            page.set_gateway(gateway)
            page.events.user.setEditText("  U2abc ")
            async with emitted(page.events_failed) as failed:
                QTest.keyClick(page.events.user.lineEdit(), Qt.Key.Key_Return)
        user_id, text = failed.args
        assert user_id == "U2abc"
        assert text.startswith("Could not load Descope's audit events for U2abc: Cannot reach 127.0.0.1:")
        assert page.events.state.property("state") == "error"
        assert key not in text
        screenshot(page, "unreachable")
        page.set_gateway(None)
        assert page.events.state.text().startswith("Not connected")
        assert page.events.state.property("state") == ""
        await page.aclose()

    arun(scenario())


def test_damaged_lines_and_an_unreadable_log_are_said(
    qtbot: Any, arun: Callable[..., Any], tmp_path: Path
) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    audit.append(AuditEntry("tenant.create", "T1", "ok", "prod"))
    with open(audit.path, "ab") as file:
        file.write(b"[1, 2]\n")
        file.write(b'{"action": "cull.delete", "tar')  # a crash mid-write
    page = make_page(qtbot, audit)

    async def scenario() -> None:
        async with emitted(page.reloaded):
            page.show()
        assert actions(page) == [("tenant.create", "ok")]
        assert page.damaged == 2
        assert page.damaged_label.isVisibleTo(page)
        assert page.damaged_label.text().startswith(f"2 lines of {audit.path} could not be read")
        audit.append(AuditEntry("tenant.settings", "T1", "ok", "prod"))  # ends the torn line
        async with emitted(page.reloaded):
            page.reload()
        assert page.damaged == 2  # the torn line, now whole and still not an entry: counted once
        assert [a for a, _ in actions(page)] == ["tenant.settings", "tenant.create"]

        audit.path.chmod(0)
        try:
            if os.access(audit.path, os.R_OK):  # root reads anything: make the path a folder instead
                audit.path.chmod(0o600)
                audit.path.unlink()
                audit.path.mkdir()
            async with emitted(page.read_failed) as failed:
                page.reload()
        finally:
            if audit.path.is_dir():
                audit.path.rmdir()
            elif audit.path.exists():
                audit.path.chmod(0o600)
        (text,) = failed.args
        assert text.startswith(f"Could not read the audit log {audit.path}: ")
        await until(lambda: not page._reading)
        page.clear_filters()
        page.search.setText("nothing matches this")
        page.apply_filters()
        assert page.state_text == f"Could not read the audit log.\n\n{text}"
        assert page._stack.action.text() == "Retry"
        await page.aclose()

    arun(scenario())
