"""`load_users` (what the cull and the export plan from) while users are deleted and created (issue 21):
the table shows exactly the users the sandbox holds at the end, and a cull planned from it is the plan
of a load made once nothing changes any more."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from churn import Churn, living_users, missing_and_left, slow_searches

from anonconsole.core.cull import plan_cull
from anonconsole.core.user_table import UserTable
from anonconsole.gateway import Connection, Gateway
from anonconsole.operations import cull
from anonconsole.operations.shape import Refusal
from anonconsole.operations.users_snapshot import load_users
from anonconsole.settings import paths

PROJECT = "P2SnapshotTestProject0000000"  # not the console's own sandbox


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """The console's files (journals the cull's rules look at) under tmp."""
    paths.init(tmp_path / "home")
    yield tmp_path / "home"
    paths.init(None)


def shown(table: UserTable) -> set[str]:
    """The users the table counts: those not hidden as gone."""
    return set(table.user_ids(np.flatnonzero(~table.gone_mask())))


@pytest.mark.asyncio
async def test_a_cull_planned_from_a_load_under_churn_is_the_plan_of_the_users_there_are(
    start_sandbox: Any, home: Path
) -> None:
    sandbox = start_sandbox(demo=True, project_id=PROJECT)
    churn = Churn(sandbox, oldest=100, others=20, create=30)
    await churn.prepare()
    churning: list[asyncio.Task[None]] = []

    def say(_loaded: int, _total: int) -> None:
        """After the first page: a cull, an admin and sign-ups go on while the rest loads."""
        if not churning:
            churning.append(asyncio.ensure_future(churn.run()))

    try:
        async with Gateway(Connection(sandbox.project_id, sandbox.url, sandbox.management_key)) as gateway:
            rules = await cull.prepare_rules(gateway, project_id=sandbox.project_id)
            assert not isinstance(rules, Refusal), rules
            slow_searches(sandbox, 80)
            table = await load_users(gateway, cull.policy_of(rules), say=say)
            assert churning[0].done(), "the churn must end within the load for its end state to be known"
            await churning[0]
            sandbox.set_faults()
            after = await load_users(gateway, cull.policy_of(rules))
    finally:
        await churn.aclose()
    living = set(await living_users(sandbox))
    assert churn.batches == 3
    assert shown(table) == living, missing_and_left(shown(table), living)
    assert shown(after) == living
    now = int(time.time())
    plan = plan_cull(table, rules, now=now, profile="Staging", project_id=sandbox.project_id)
    again = plan_cull(after, rules, now=now, profile="Staging", project_id=sandbox.project_id)
    assert plan.count
    assert not set(plan.user_ids) & set(churn.deleted)
    assert plan.plan_hash == again.plan_hash
