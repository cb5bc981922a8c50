"""UsersLoader: pages and sign-ins against a real sandbox, coalesced view updates, the paused collector."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from churn import Churn, living_users, missing_and_left, slow_searches

from anonconsole.core.classify import AnonymousPolicy
from anonconsole.core.records import LoginRecord, latest_logins
from anonconsole.core.user_table import UserTable
from anonconsole.gateway import Connection, Gateway
from anonconsole.models import users_loader
from anonconsole.models.users_loader import UsersLoader
from anonconsole.runtime import gc_policy

RunningSandbox = Any  # tests/conftest.py's fixture type (conftest modules are not importable)


def test_coalescer_sends_first_rows_at_once_then_at_most_every_interval(arun: Callable[..., Any]) -> None:
    sent: list[tuple[str, object]] = []

    async def scenario() -> None:
        updates = users_loader._Coalescer(
            lambda rows: sent.append(("added", rows)),
            lambda rows: sent.append(("changed", rows.tolist())),
            interval=0.2,
        )
        updates.add(range(0, 10))
        await asyncio.sleep(0)  # a flush is a loop callback of its own, never inside a CPU turn
        assert sent == [("added", range(0, 10))]  # the first page: no waiting
        updates.add(range(10, 20))
        updates.change(np.array([3, 4]))
        updates.add(range(20, 25))
        updates.change(np.array([12]))
        assert len(sent) == 1
        started = time.perf_counter()
        while len(sent) == 1 and time.perf_counter() - started < 5:
            await asyncio.sleep(0.01)
        assert time.perf_counter() - started >= 0.15
        assert sent[1:] == [("added", range(10, 25)), ("changed", [3, 4, 12])]
        updates.change(np.array([7]))
        updates.flush()  # the end of a load: now, not after the interval
        assert sent[-1] == ("changed", [7])
        updates.discard()

    arun(scenario())


def test_loads_pages_and_sign_ins_in_batches_with_few_view_updates(
    arun: Callable[..., Any],
    start_sandbox: Callable[..., RunningSandbox],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sandbox = start_sandbox(users=1050)
    monkeypatch.setattr(users_loader, "PAGE_SIZE", 100)  # 11 pages
    monkeypatch.setattr(users_loader, "HISTORY_BATCH", 300)
    table = UserTable(AnonymousPolicy("", None), now=time.time)
    loader = UsersLoader(table)
    added: list[range] = []
    progress: list[tuple[str, int, int]] = []
    finished: list[str] = []
    loader.rows_added.connect(added.append)
    loader.progress.connect(lambda phase, done, total: progress.append((phase, done, total)))
    loader.finished.connect(finished.append)
    asked: list[int] = []
    connection = Connection(sandbox.project_id, sandbox.url, sandbox.management_key)

    async def scenario() -> None:
        async with Gateway(connection) as gateway:
            original = gateway.last_sign_ins

            async def counting(user_ids: Sequence[str], *, batch_size: int = 100) -> dict[str, int]:
                asked.append(len(user_ids))
                return await original(user_ids, batch_size=batch_size)

            gateway.last_sign_ins = counting  # type: ignore[method-assign]
            loader.start(gateway)
            await loader.wait()

    arun(scenario())
    assert finished
    assert finished[-1].startswith("Loaded 1,050 users")
    assert len(table) == 1050
    # Rows arrive contiguously and coalesced: fewer view updates than pages; the first ones at once,
    # a screenful of them, so the views' first paint does not follow a long turn of work.
    assert added[0] == range(users_loader.FIRST_CHUNK)
    assert added[-1].stop == 1050
    assert all(a.stop == b.start for a, b in zip(added, added[1:], strict=False))
    assert len(added) < 11
    # Sign-ins were asked for while pages loaded, in batches of at least HISTORY_BATCH ids but the last.
    assert sum(asked) == 1050
    assert all(n >= 300 for n in asked[:-1])
    assert all(n % 300 == 0 for n in asked[:-1]), "whole batches: no history request of a few IDs"
    assert progress[-1] == ("sign-ins", 1050, 1050)
    assert ("users", 1050, 1050) in progress
    # Last sign-ins equal a direct history query.
    client = sandbox.client()
    ids = [table.user_id(row) for row in range(len(table))]
    direct = latest_logins(LoginRecord.from_api(r) for r in client.mgmt.user.history(ids))
    assert direct
    loaded = {ids[row]: table.last_sign_in(row) for row in range(len(table))}
    assert {user_id: last for user_id, last in loaded.items() if last} == direct
    assert gc.get_threshold()[2] < gc_policy.NO_FULL_COLLECTION


def test_cancelling_a_waiter_cancels_the_waiter_not_the_load(
    arun: Callable[..., Any], start_sandbox: Callable[..., RunningSandbox]
) -> None:
    """`UsersArea.connect_to`, cancelled while it waits for the old load, must stop there (it went on
    to start another load, which then ran unsupervised while the loop shut down)."""
    sandbox = start_sandbox(users=300, latency_ms=300)
    loader = UsersLoader(UserTable(AnonymousPolicy("", None), now=time.time))
    connection = Connection(sandbox.project_id, sandbox.url, sandbox.management_key)

    async def scenario() -> None:
        async with Gateway(connection) as gateway:
            loader.start(gateway)
            waiter = asyncio.ensure_future(loader.wait())
            await asyncio.sleep(0.05)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            assert loader.running
            loader.cancel()
            await loader.wait()
            assert not loader.running

    arun(scenario())


def test_a_load_while_users_are_deleted_and_created_shows_exactly_the_users_there_are(
    arun: Callable[..., Any],
    start_sandbox: Callable[..., RunningSandbox],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 21: a cull deletes the oldest users in batches, others go and sign-ups come while the
    window loads; at the end the table shows exactly the users the sandbox holds."""
    sandbox = start_sandbox(users=4000)
    monkeypatch.setattr(users_loader, "PAGE_SIZE", 200)
    table = UserTable(AnonymousPolicy("", None), now=time.time)
    loader = UsersLoader(table)
    finished: list[str] = []
    loader.finished.connect(finished.append)
    churn = Churn(sandbox)
    churning: list[asyncio.Task[None]] = []

    def on_progress(phase: str, _done: int, _total: int) -> None:
        if phase == "users" and not churning:
            churning.append(asyncio.ensure_future(churn.run()))

    loader.progress.connect(on_progress)
    connection = Connection(sandbox.project_id, sandbox.url, sandbox.management_key)

    async def scenario() -> set[str]:
        try:
            await churn.prepare()
            slow_searches(sandbox, 60)
            async with Gateway(connection) as gateway:
                loader.start(gateway)
                await loader.wait()
            assert churning[0].done(), "the churn must end within the load for its end state to be known"
            await churning[0]
        finally:
            await churn.aclose()
        sandbox.set_faults()
        return set(await living_users(sandbox))

    living = arun(scenario())
    shown = set(table.user_ids(np.flatnonzero(~table.gone_mask())))
    assert churn.batches == 3
    assert shown == living, missing_and_left(shown, living)
    assert finished[-1].startswith(f"Loaded {len(living):,} users")
