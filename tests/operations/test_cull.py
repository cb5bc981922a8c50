"""The cull against a real sandbox with the demo's users: exactly the approved set goes, under faults,
through a re-check that spares users who changed, and across a kill and a resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import keyring
import pytest
from memory_keyring import MemoryKeyring

from anonconsole.core.cull import CullPlan, CullRules, Stage, plan_cull
from anonconsole.gateway import Connection, Gateway
from anonconsole.operations import batch_run, cull, journal
from anonconsole.operations.audit_log import AuditLog
from anonconsole.operations.batch_run import RunReport
from anonconsole.operations.shape import Refusal
from anonconsole.operations.users_snapshot import load_users
from anonconsole.settings import paths
from anonconsole.settings.profiles import Profile, ProfileStore

PROFILE = "Staging"
PROJECT = "P2CullTestProject00000000000"  # not the console's own sandbox (profiles refuse that one)


@pytest.fixture
def home(tmp_path: Path) -> Any:
    """The console's files (journals, audit log, profiles) under tmp."""
    paths.init(tmp_path / "home")
    yield tmp_path / "home"
    paths.init(None)


def gateway_for(sandbox: Any) -> Gateway:
    return Gateway(Connection(sandbox.project_id, sandbox.url, sandbox.management_key))


def user_ids(sandbox: Any) -> set[str]:
    client = sandbox.client()
    found, page = set(), 0
    while True:
        users = client.mgmt.user.search_all(limit=1000, page=page, with_test_user=True)["users"]
        found |= {u["userId"] for u in users}
        if len(users) < 1000:
            return found
        page += 1


async def planned(gateway: Gateway, sandbox: Any, stage: Stage = Stage.DELETE) -> tuple[CullPlan, CullRules]:
    rules = await cull.prepare_rules(gateway, project_id=sandbox.project_id, stage=stage)
    assert not isinstance(rules, Refusal), rules
    table = await load_users(gateway, cull.policy_of(rules))
    plan = plan_cull(table, rules, now=int(time.time()), profile=PROFILE, project_id=sandbox.project_id)
    return plan, rules


async def run(gateway: Gateway, sandbox: Any, plan: CullPlan, rules: CullRules, **kwargs: Any) -> RunReport:
    run_journal = kwargs.pop("journal", None) or journal.Journal.create(
        plan, project_id=sandbox.project_id, profile=PROFILE
    )
    return await cull.run_plan(
        gateway, plan, rules, journal=run_journal, audit=AuditLog(), profile=PROFILE, **kwargs
    )


@pytest.mark.asyncio
async def test_exactly_the_approved_set_goes_under_faults(
    start_sandbox: Any, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = start_sandbox(demo=True, project_id=PROJECT)
    monkeypatch.setattr(batch_run, "BATCH_SIZE", 40)  # many batches: many chances for a fault
    async with gateway_for(sandbox) as gateway:
        plan, rules = await planned(gateway, sandbox)
        assert plan.count == 505  # the demo's expired anonymous users
        before = user_ids(sandbox)
        sandbox.set_faults(errorRate=0.1, dropRate=0.05, rateLimitRate=0.05, latencyMs=300)
        report = await run(gateway, sandbox, plan, rules)
        resumes = 0
        while report.stopped and resumes < 10:  # a read failed past its retries: resume, as a person would
            state = next(
                s for s in journal.unfinished(sandbox.project_id) if isinstance(s, journal.JournalState)
            )
            report = await run(
                gateway, sandbox, plan, rules, journal=journal.Journal(state.path), resume=state
            )
            resumes += 1
        sandbox.set_faults(errorRate=0, dropRate=0, latencyMs=0)
    after = user_ids(sandbox)
    approved = {c.user_id for c in plan.candidates}
    assert before - after == approved  # every approved user gone, nobody else
    assert set(report.done) == approved
    assert not report.failed
    assert not report.skipped
    entries = [e for e in AuditLog().entries() if e.action == "cull.delete"]
    assert {u for e in entries for u in e.after["userIds"]} == approved


@pytest.mark.asyncio
async def test_users_who_changed_after_the_preview_survive(start_sandbox: Any, home: Path) -> None:
    sandbox = start_sandbox(demo=True, project_id=PROJECT)
    client = sandbox.client()
    async with gateway_for(sandbox) as gateway:
        plan, rules = await planned(gateway, sandbox)
        signed_in, converted, deleted = plan.candidates[0], plan.candidates[1], plan.candidates[2]
        client.mgmt.jwt.sign_in(signed_in.login_id)  # came back after the preview
        client.mgmt.user.update_email(converted.login_id, "kept@example.com", verified=True)
        client.mgmt.user.delete_by_user_id(deleted.user_id)  # someone else deleted it
        report = await run(gateway, sandbox, plan, rules)
    skipped = dict(report.skipped)
    assert set(skipped) == {signed_in.user_id, converted.user_id, deleted.user_id}
    assert skipped[deleted.user_id] == "gone"
    left = user_ids(sandbox)
    assert signed_in.user_id in left
    assert converted.user_id in left
    assert len(report.done) == plan.count - 3
    assert not ({c.user_id for c in plan.candidates} - {signed_in.user_id, converted.user_id}) & left


@pytest.mark.asyncio
async def test_the_first_stage_disables_and_the_second_deletes_only_what_it_disabled(
    start_sandbox: Any, home: Path
) -> None:
    sandbox = start_sandbox(demo=True, project_id=PROJECT)
    async with gateway_for(sandbox) as gateway:
        plan, rules = await planned(gateway, sandbox, Stage.DISABLE)
        report = await run(gateway, sandbox, plan, rules)
        assert len(report.done) == plan.count == 505
        statuses = {u.user_id: u.status for u in await gateway.users_by_ids(report.done)}
        assert set(statuses.values()) == {"disabled"}
        again, _ = await planned(gateway, sandbox, Stage.DISABLE)
        assert again.count == 0  # already disabled by us: not candidates again
        second = await cull.prepare_rules(gateway, project_id=sandbox.project_id, stage=Stage.DELETE_DISABLED)
        assert not isinstance(second, Refusal)
        assert set(second.disabled_by_console) == set(report.done)  # read back from the journal
        table = await load_users(gateway, cull.policy_of(second))
        delete = plan_cull(
            table, second, now=int(time.time()), profile=PROFILE, project_id=sandbox.project_id
        )
        assert {c.user_id for c in delete.candidates} == set(report.done)
        waiting = plan_cull(
            table,
            replace(second, disabled_for_seconds=86400),
            now=int(time.time()),
            profile=PROFILE,
            project_id=sandbox.project_id,
        )
        assert waiting.count == 0  # disabled only seconds ago: not yet


def _damage(path: Path, how: str, other_project: str) -> None:
    lines = path.read_text().splitlines()
    if how == "corrupt":
        lines.insert(1, "{not json")
    elif how == "foreign":
        head = json.loads(lines[0])
        head["projectId"] = other_project
        lines[0] = json.dumps(head)
    elif how == "edited":  # the plan kept beside the journal, one user fewer
        plan_file = journal.plan_path(path)
        plan = json.loads(plan_file.read_text())
        plan["candidates"] = plan["candidates"][1:]
        plan["count"] -= 1
        plan_file.write_text(json.dumps(plan))
    elif how == "plan file gone":
        journal.plan_path(path).unlink()
    elif how == "another plan":  # a plan file that is whole, but not the one the journal started with
        head = json.loads(lines[0])
        head["planHash"] = "sha256:" + "0" * 64
        lines[0] = json.dumps(head)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.asyncio
@pytest.mark.parametrize("how", ["corrupt", "foreign", "edited", "plan file gone", "another plan"])
async def test_a_damaged_or_foreign_journal_acts_on_nobody(
    start_sandbox: Any, home: Path, staging: Any, how: str
) -> None:
    sandbox = start_sandbox(demo=True, project_id=PROJECT)
    staging(sandbox)
    async with gateway_for(sandbox) as gateway:
        plan, _ = await planned(gateway, sandbox)
    run_journal = journal.Journal.create(plan, project_id=sandbox.project_id, profile=PROFILE)
    run_journal.announce(0, "delete", [c.user_id for c in plan.candidates[:10]])
    _damage(run_journal.path, how, "P2SomeOtherProject000000000")
    found = list(journal.unfinished(sandbox.project_id))
    if how == "foreign":
        assert found == []  # another project's journal is never offered here
        assert journal.read(run_journal.path).project_id != sandbox.project_id
    else:
        assert len(found) == 1
        assert isinstance(found[0], journal.JournalError)
        assert str(run_journal.path) in str(found[0])
        assert "nothing is deleted" in str(found[0])
    before = user_ids(sandbox)
    code = _cli(sandbox, home, "--resume", str(run_journal.path))
    assert code == 3
    assert user_ids(sandbox) == before


def _cli(sandbox: Any, home: Path, *args: str, wait: bool = True) -> Any:
    """`anonconsole cull --profile Staging ARGS` in a child process, files under `home`."""
    script = (
        "import sys, keyring, keyring.backends.fail\n"
        "from anonconsole.settings import paths\n"
        "paths.init(sys.argv[1])\n"
        "keyring.set_keyring(keyring.backends.fail.Keyring())\n"
        "from anonconsole import cli\n"
        "sys.exit(cli.main(sys.argv[2:]))\n"
    )
    env = {**os.environ, "DESCOPE_MANAGEMENT_KEY": sandbox.management_key}
    command = [sys.executable, "-c", script, str(home), "cull", "--profile", PROFILE, *args]
    if not wait:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300).returncode


@pytest.fixture
def staging(home: Path) -> Any:
    """Registers the profile `_cli` uses. Its key is kept in memory here; the child process has no
    keyring and reads it from DESCOPE_MANAGEMENT_KEY, as a headless job does."""
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())

    def register(sandbox: Any) -> None:
        profile = Profile(name=PROFILE, project_id=sandbox.project_id, base_url=sandbox.url)
        ProfileStore.load().put(profile, key=sandbox.management_key)

    yield register
    keyring.set_keyring(previous)


def test_a_killed_run_resumes_where_it_stopped(start_sandbox: Any, home: Path, staging: Any) -> None:
    sandbox = start_sandbox(demo=True, project_id=PROJECT)
    staging(sandbox)
    before = user_ids(sandbox)
    assert _cli(sandbox, home, "--dry-run", "--plan-out", str(home / "plan.json")) == 0
    plan = CullPlan.from_json(json.loads((home / "plan.json").read_text()))
    sandbox.set_faults(latencyMs=400)  # slow enough to be killed mid-run
    child = _cli(sandbox, home, "--approve", str(home / "plan.json"), wait=False)
    folder = journal.journal_dir()
    deadline = time.monotonic() + 60
    while (
        not any(folder.glob("*.jsonl")) or '"type": "batch"' not in next(folder.glob("*.jsonl")).read_text()
    ):
        assert time.monotonic() < deadline, child.communicate()[0]
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.communicate()  # reaps it and closes its pipe
    sandbox.set_faults(latencyMs=0)
    killed = journal.read(next(folder.glob("*.jsonl")))
    assert not killed.ended
    assert _cli(sandbox, home, "--resume", "--json") == 0
    state = journal.read(killed.path)
    assert state.ended
    assert not state.cancelled
    approved = {c.user_id for c in plan.candidates}
    assert before - user_ids(sandbox) == approved  # all of the plan, nothing else
    done = [u for batch in state.batches for u in batch.done or ()]
    assert sorted(done) == sorted(approved)  # each user done exactly once across both runs


@pytest.mark.asyncio
async def test_a_batch_whose_answer_was_lost_is_settled_by_looking(start_sandbox: Any, home: Path) -> None:
    """Killed after Descope deleted a batch but before the journal heard back: the resume counts
    those users as done (it looked), and goes on with the rest."""
    sandbox = start_sandbox(demo=True, project_id=PROJECT)
    async with gateway_for(sandbox) as gateway:
        plan, rules = await planned(gateway, sandbox)
        run_journal = journal.Journal.create(plan, project_id=sandbox.project_id, profile=PROFILE)
        lost = [c.user_id for c in plan.candidates[:7]]
        run_journal.announce(0, "delete", lost)
        sandbox.client().mgmt.user.delete_batch(lost)  # Descope acted; the answer never arrived
        state = journal.read(run_journal.path)
        assert state.unfinished_batch() is not None
        report = await run(gateway, sandbox, plan, rules, journal=run_journal, resume=state)
    final = journal.read(run_journal.path)
    assert final.batches[0].done == tuple(lost)
    assert sorted(report.done) == sorted(c.user_id for c in plan.candidates)
    assert not report.skipped  # the lost batch's users are done, not "gone"
    assert not {c.user_id for c in plan.candidates} & user_ids(sandbox)
