"""The cull from the window: Tools → Cull on the loaded users, the pages following each batch without
a reload, and an interrupted run offered for resuming when its project is connected."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from memory_keyring import MemoryKeyring, installed
from PySide6.QtWidgets import QMessageBox
from waiting import emitted
from windows import closed, connected, loaded

from anonconsole.core.classify import Kind
from anonconsole.core.cull import Exclusion, KeepRule, Stage, plan_cull
from anonconsole.gateway import Connection, Gateway
from anonconsole.operations import cull, journal
from anonconsole.operations.shape import Refusal
from anonconsole.operations.users_snapshot import load_users
from anonconsole.settings.profiles import ProfileStore

PROJECT = "P2CullFlowTests".ljust(28, "0")


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    with installed() as backend:
        yield backend


def test_tools_cull_previews_the_loaded_users_and_the_pages_follow_each_batch(
    qtbot: Any, arun: Callable[..., Any], start_sandbox: Any, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    sandbox = start_sandbox(demo=True, project_id=PROJECT)
    manager, profile = connected(qtbot, sandbox, tmp_path)
    window = manager.window

    async def scenario() -> None:
        try:
            assert not window.cull_action.isEnabled()  # nothing connected: nothing to cull
            assert await manager.switch_to(profile)
            assert window.cull_action.isEnabled()
            await loaded(manager)
            anonymous = window.users.table.counts()[Kind.ANONYMOUS]
            async with emitted(manager.culls.opened) as opened:
                window.cull_action.trigger()
            (dialog,) = opened.args
            assert dialog is manager.culls.dialog
            assert dialog.plan.count == 505
            assert dialog.plan.project_id == PROJECT
            dialog.approve_button.click()
            assert dialog.confirmation is not None
            dialog.confirmation.count_edit.setText("505")
            async with emitted(dialog.finished_run, timeout=120):
                dialog.confirmation.ok_button.click()
            assert window.users.table.counts()[Kind.ANONYMOUS] == anonymous - 505  # no reload
            page = window.users.views["anonymous"]
            shown = {page.model.table.user_id(page.model.table_row(r)) for r in range(page.model.rowCount())}
            assert not shown & {c.user_id for c in dialog.plan.candidates}
        finally:
            await closed(manager)

    arun(scenario(), timeout=240)


def test_the_preview_starts_from_the_profiles_keep_rules_and_first_stage(
    qtbot: Any, arun: Callable[..., Any], start_sandbox: Any, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    sandbox = start_sandbox(demo=True, project_id=PROJECT)
    manager, profile = connected(qtbot, sandbox, tmp_path)
    profile = ProfileStore.load().put(
        replace(profile, keep_rules=("attribute:hasData",), two_stage_cull=True, disabled_for_days=12),
        replacing=profile.name,
    )
    window = manager.window

    async def mark_a_candidate() -> str:
        """An expired anonymous user, marked by its app as owning data."""
        async with Gateway(Connection(PROJECT, sandbox.url, sandbox.management_key)) as gateway:
            rules = await cull.prepare_rules(gateway, project_id=PROJECT)
            assert not isinstance(rules, Refusal)
            table = await load_users(gateway, cull.policy_of(rules))
        plan = plan_cull(table, rules, now=int(time.time()), profile=profile.name, project_id=PROJECT)
        sandbox.client().mgmt.user.update_custom_attribute(plan.candidates[0].login_id, "hasData", True)
        return plan.candidates[0].user_id

    async def scenario() -> None:
        marked = await mark_a_candidate()
        try:
            assert await manager.switch_to(profile)
            await loaded(manager)
            async with emitted(manager.culls.opened) as opened:
                window.cull_action.trigger()
            (dialog,) = opened.args
            assert dialog.rules.keep_rules == (KeepRule("attribute", "hasData"),)
            assert dialog.rules.stage is Stage.DISABLE  # the first of the two stages
            assert dialog.rules.disabled_for_seconds == 12 * 86400
            assert dialog.plan.exclusions[Exclusion.KEEP_RULE] == (marked,)
            assert dialog.plan.count == 504
            dialog.reject()
        finally:
            await closed(manager)

    arun(scenario(), timeout=240)


def test_an_interrupted_cull_is_offered_for_resuming_when_its_project_is_connected(
    qtbot: Any, arun: Callable[..., Any], start_sandbox: Any, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    sandbox = start_sandbox(demo=True, project_id=PROJECT)
    manager, profile = connected(qtbot, sandbox, tmp_path)

    async def interrupted() -> journal.JournalState:
        """A run killed after announcing its first batch, whose answer never came back."""
        async with Gateway(Connection(PROJECT, sandbox.url, sandbox.management_key)) as gateway:
            rules = await cull.prepare_rules(gateway, project_id=PROJECT)
            assert not isinstance(rules, Refusal)
            table = await load_users(gateway, cull.policy_of(rules))
        plan = plan_cull(table, rules, now=int(time.time()), profile=profile.name, project_id=PROJECT)
        run = journal.Journal.create(plan, project_id=PROJECT, profile=profile.name)
        run.announce(0, "delete", [c.user_id for c in plan.candidates[:500]])
        return journal.read(run.path)

    async def scenario() -> None:
        state = await interrupted()
        try:
            assert await manager.switch_to(profile)
            box = manager.culls.question
            assert box is not None
            assert box.isVisible()
            assert "0 of 505 users dealt with" in box.text()
            resume = next(b for b in box.buttons() if b.text() == "Resume")
            assert box.buttonRole(resume) is QMessageBox.ButtonRole.AcceptRole
            async with emitted(manager.culls.resumed, timeout=120) as resumed:
                resume.click()
            (report,) = resumed.args
            assert report.ok
            finished = journal.read(state.path)
            assert finished.ended
            assert len(finished.handled()) == 505
        finally:
            await closed(manager)

    arun(scenario(), timeout=240)
    (path,) = journal.journal_dir().glob("*.jsonl")
    approved = [c.user_id for c in journal.read(path).plan.candidates]
    found = sandbox.client().mgmt.user.search_all(user_ids=approved, limit=1000, with_test_user=True)
    assert found["users"] == []  # the whole plan is gone
