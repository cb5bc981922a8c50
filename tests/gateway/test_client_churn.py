"""The gateway's full load (`iter_user_pages`) while users are deleted and created (issue 21), against a
sandbox over HTTP: what it yields, less what it says is gone, is exactly what the sandbox holds at the
end. No living user missing, none twice, no deleted user left; also under the sandbox's faults, and
with seconds that hold more users than a page (users made in batches)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from churn import Churn, living_users, missing_and_left, slow_searches
from descope import AssociatedTenant, UserObj

from anonconsole.core.records import UserFilter
from anonconsole.gateway import Connection, Gateway

EVERYONE = UserFilter(test_users="include")


def connection_to(running: Any) -> Connection:
    return Connection(running.project_id, running.url, running.management_key)


async def load_during(
    gateway: Gateway, churn: Churn, filters: UserFilter, page_size: int, *, at: tuple[int, ...] = (1, 2, 3)
) -> tuple[dict[str, int], list[str]]:
    """Load every user; after the pages numbered `at` arrive, a churn batch (awaited: the requests in
    flight go on meanwhile, as they do while the console works on a page). Returns (user ID -> times
    held, from the pages' users and gone), and the IDs yielded twice while held."""
    held: dict[str, int] = {}
    twice: list[str] = []
    arrived = 0
    async for page in gateway.iter_user_pages(filters, page_size=page_size):
        for user in page.users:
            if user.user_id in held:
                twice.append(user.user_id)
            held[user.user_id] = held.get(user.user_id, 0) + 1
        for user_id in page.gone:
            held.pop(user_id, None)
        arrived += 1
        if arrived in at:
            await churn.batch()
    return held, twice


@pytest.mark.asyncio
async def test_a_full_load_while_users_are_deleted_and_created_holds_exactly_the_users_there_are(
    start_sandbox: Callable[..., Any],
) -> None:
    sandbox = start_sandbox(users=5000)
    churn = Churn(sandbox)
    await churn.prepare()
    slow_searches(sandbox)
    try:
        async with Gateway(connection_to(sandbox)) as gateway:
            held, twice = await load_during(gateway, churn, EVERYONE, 200)
    finally:
        await churn.aclose()
    sandbox.set_faults()
    living = set(await living_users(sandbox))
    assert churn.batches == 3
    assert len(churn.deleted) >= 3 * 150
    assert not twice
    assert set(held) == living, missing_and_left(set(held), living)
    assert set(churn.created) <= set(held)


@pytest.mark.asyncio
async def test_the_same_under_server_errors_and_dropped_connections(
    start_sandbox: Callable[..., Any],
) -> None:
    sandbox = start_sandbox(users=4000)
    churn = Churn(sandbox, oldest=120)
    await churn.prepare()
    slow_searches(sandbox, 20, errorRate=0.1, dropRate=0.05)
    try:
        async with Gateway(connection_to(sandbox)) as gateway:
            held, twice = await load_during(gateway, churn, EVERYONE, 200, at=(1, 3, 5))
    finally:
        await churn.aclose()
    sandbox.set_faults()
    living = set(await living_users(sandbox))
    assert churn.batches == 3
    assert not twice
    assert set(held) == living, missing_and_left(set(held), living)


@pytest.mark.asyncio
async def test_seconds_holding_more_users_than_a_page_lose_none_to_churn(
    start_sandbox: Callable[..., Any],
) -> None:
    """Users made in batches share their creation second (500 in a second here, pages of 100): those
    seconds are read on their own, and deletions among them while they are read are found too."""
    sandbox = start_sandbox()
    client = sandbox.async_client()
    try:
        tenant_id = (await client.mgmt.tenant.create("Batches"))["id"]
        for batch in range(4):
            made = [
                UserObj(f"batch{batch}-{i:04d}", user_tenants=[AssociatedTenant(tenant_id)])
                for i in range(500)
            ]
            answer = await client.mgmt.user.invite_batch(made, send_mail=False, send_sms=False)
            assert not answer.get("failedUsers")
            await asyncio.sleep(1.1)  # the next batch in another second
    finally:
        await client.aclose()
    churn = Churn(sandbox, tenant_id=tenant_id, oldest=80, others=30, create=30)
    await churn.prepare()
    slow_searches(sandbox, 20)
    try:
        async with Gateway(connection_to(sandbox)) as gateway:
            held, twice = await load_during(gateway, churn, UserFilter(tenant_ids=[tenant_id]), 100)
    finally:
        await churn.aclose()
    sandbox.set_faults()
    living = set(await living_users(sandbox, tenant_id))
    assert churn.batches == 3
    assert not twice
    assert set(held) == living, missing_and_left(set(held), living)
