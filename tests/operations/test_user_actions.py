"""Delete, disable and enable chosen users against a real sandbox: exactly the chosen users, under
faults, leaving alone those that changed after they were chosen, journaled and audited."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from anonconsole.core.chosen import ChosenPlan, UserAction, plan_action
from anonconsole.core.records import User
from anonconsole.gateway import Connection, Gateway
from anonconsole.operations import batch_run, journal
from anonconsole.operations.audit_log import AuditLog
from anonconsole.operations.batch_run import RunReport
from anonconsole.operations.user_actions import estimated_seconds, run_action
from anonconsole.settings import paths

PROFILE = "Staging"
PROJECT = "P2UserActionsProject00000000"


@pytest.fixture
def home(tmp_path: Path) -> Any:
    paths.init(tmp_path / "home")
    yield tmp_path / "home"
    paths.init(None)


def gateway_for(sandbox: Any) -> Gateway:
    return Gateway(Connection(sandbox.project_id, sandbox.url, sandbox.management_key))


async def chosen(
    gateway: Gateway, sandbox: Any, action: UserAction, count: int
) -> tuple[ChosenPlan, list[User]]:
    users, _ = await gateway.search_users(page=0, limit=count)
    plan = plan_action(action, users, tenant_id="", profile=PROFILE, project_id=sandbox.project_id, now=0)
    return plan, users


async def run(gateway: Gateway, sandbox: Any, plan: ChosenPlan, **kwargs: Any) -> RunReport:
    run_journal = kwargs.pop("journal", None) or journal.Journal.create(
        plan, project_id=sandbox.project_id, profile=PROFILE
    )
    return await run_action(gateway, plan, journal=run_journal, audit=AuditLog(), **kwargs)


@pytest.mark.asyncio
async def test_exactly_the_chosen_users_are_deleted_under_faults(
    start_sandbox: Any, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = start_sandbox(demo=True, project_id=PROJECT)
    monkeypatch.setattr(batch_run, "BATCH_SIZE", 20)
    async with gateway_for(sandbox) as gateway:
        everyone = {u.user_id for u in (await gateway.search_users(page=0, limit=1000))[0]}
        plan, _ = await chosen(gateway, sandbox, UserAction.DELETE, 150)
        sandbox.set_faults(errorRate=0.1, dropRate=0.05, rateLimitRate=0.05, latencyMs=100)
        report = await run(gateway, sandbox, plan)
        while report.stopped:  # a re-check failed past its retries: resume, as a person would
            state = next(
                s
                for s in journal.unfinished(sandbox.project_id, ChosenPlan)
                if isinstance(s, journal.JournalState)
            )
            report = await run(gateway, sandbox, plan, journal=journal.Journal(state.path), resume=state)
        sandbox.set_faults(errorRate=0, dropRate=0, rateLimitRate=0, latencyMs=0)
        left = {u.user_id for u in (await gateway.search_users(page=0, limit=1000))[0]}
    assert everyone - left == set(plan.user_ids)
    assert set(report.done) == set(plan.user_ids)
    assert not report.failed
    assert not report.skipped
    entries = [e for e in AuditLog().entries() if e.action == "users.delete"]
    assert {u for e in entries for u in e.after["userIds"]} == set(plan.user_ids)
    assert [e.result for e in AuditLog().entries() if e.action == "users.run"] == [
        "started",
        "ok",
    ] or report.ok


@pytest.mark.asyncio
async def test_disable_then_enable_and_users_that_changed_are_left_alone(
    start_sandbox: Any, home: Path
) -> None:
    sandbox = start_sandbox(demo=True, project_id=PROJECT)
    client = sandbox.client()
    async with gateway_for(sandbox) as gateway:
        plan, users = await chosen(gateway, sandbox, UserAction.DISABLE, 30)
        converted, gone = users[0], users[1]
        client.mgmt.user.update_login_id(converted.login_ids[0], f"{converted.user_id.lower()}@example.com")
        client.mgmt.user.delete_by_user_id(gone.user_id)
        report = await run(gateway, sandbox, plan)
        skipped = dict(report.skipped)
        assert set(skipped) == {converted.user_id, gone.user_id}
        assert "login IDs changed" in skipped[converted.user_id]
        assert skipped[gone.user_id].startswith("gone")
        assert len(report.done) == 28
        statuses = {u.user_id: u.status for u in await gateway.users_by_ids(plan.user_ids)}
        assert statuses[converted.user_id] == "enabled"
        assert {statuses[u] for u in report.done} == {"disabled"}

        disabled = await gateway.users_by_ids(report.done)
        enable = plan_action(
            UserAction.ENABLE, disabled, tenant_id="", profile=PROFILE, project_id=PROJECT, now=0
        )
        again = await run(gateway, sandbox, enable)
        assert set(again.done) == set(report.done)
        assert again.ok
        assert {u.status for u in await gateway.users_by_ids(report.done)} == {"enabled"}


@pytest.mark.asyncio
async def test_a_batch_whose_answer_was_lost_is_settled_by_looking(
    start_sandbox: Any, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write happened but its answer never came: the run looks, counts those users as done and
    does not act twice."""
    sandbox = start_sandbox(demo=True, project_id=PROJECT)
    async with gateway_for(sandbox) as gateway:
        plan, _ = await chosen(gateway, sandbox, UserAction.DELETE, 10)
        real_delete = gateway.delete_users
        calls: list[list[str]] = []

        async def delete_then_lose_the_answer(ids: Any) -> None:
            calls.append(list(ids))
            await real_delete(ids)
            if len(calls) == 1:
                from anonconsole.core.errors import Unreachable

                raise Unreachable("the connection dropped before the answer")

        monkeypatch.setattr(gateway, "delete_users", delete_then_lose_the_answer)
        report = await run(gateway, sandbox, plan)
    assert len(calls) == 1  # looked, found them gone, never sent again
    assert set(report.done) == set(plan.user_ids)
    assert report.ok


@pytest.mark.asyncio
async def test_a_killed_run_resumes_without_acting_twice(start_sandbox: Any, home: Path) -> None:
    """A journal that announced a batch and has no result (killed mid-request) is settled by looking."""
    sandbox = start_sandbox(demo=True, project_id=PROJECT)
    async with gateway_for(sandbox) as gateway:
        plan, _ = await chosen(gateway, sandbox, UserAction.DELETE, 12)
        run_journal = journal.Journal.create(plan, project_id=PROJECT, profile=PROFILE)
        first = list(plan.user_ids[:5])
        run_journal.announce(0, "delete", first)
        await gateway.delete_users(first)  # the request went through; then the process died
        state = next(
            s for s in journal.unfinished(PROJECT, ChosenPlan) if isinstance(s, journal.JournalState)
        )
        assert not list(journal.unfinished(PROJECT))  # a cull's resume never picks up a users journal
        report = await run(gateway, sandbox, plan, journal=journal.Journal(state.path), resume=state)
        assert set(report.done) == set(plan.user_ids)
        assert report.ok
        assert not await gateway.users_by_ids(plan.user_ids)
    finished = journal.read(state.path, ChosenPlan)
    assert finished.ended
    assert finished.handled() == set(plan.user_ids)
    with pytest.raises(journal.JournalError, match="not a 'cull' one"):
        journal.read(state.path)


def test_the_estimate_counts_two_requests_per_batch() -> None:
    assert estimated_seconds(0) == 0
    assert estimated_seconds(100_000) > estimated_seconds(1_000) > 0


def _plan_of(count: int) -> ChosenPlan:
    users = [User(user_id=f"U{i:027d}", login_ids=(f"anon-{i}",), status="enabled") for i in range(count)]
    return plan_action(UserAction.DELETE, users, tenant_id="", profile=PROFILE, project_id=PROJECT, now=0)


def test_the_plan_is_kept_beside_the_journal_and_ended_runs_are_not_read_again(home: Path) -> None:
    """The start-up scan reads a few lines per journal: an ended run's plan is never opened."""
    plan = _plan_of(3)
    ended = journal.Journal.create(plan, project_id=PROJECT, profile=PROFILE)
    assert journal.plan_path(ended.path).exists()
    assert len(ended.path.read_text().splitlines()[0]) < 500  # the head names the plan, not holds it
    ended.end(cancelled=False)
    journal.plan_path(ended.path).unlink()  # were it read, this would be an error
    open_run = journal.Journal.create(_plan_of(2), project_id=PROJECT, profile=PROFILE)
    found = list(journal.unfinished(PROJECT, ChosenPlan))
    assert [s.path for s in found if isinstance(s, journal.JournalState)] == [open_run.path]
    assert not [s for s in found if isinstance(s, journal.JournalError)]


def test_a_journal_written_before_the_plan_file_still_reads(home: Path) -> None:
    plan = _plan_of(2)
    path = journal.journal_dir() / "users-20260101T000000000000Z-old.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    head = {"type": "plan", "kind": "users", "projectId": PROJECT, "profile": PROFILE, "startedAt": "x"}
    path.write_text(json.dumps(head | {"plan": plan.to_json()}) + "\n")
    state = journal.read(path, ChosenPlan)
    assert state.plan == plan
    assert not state.ended
