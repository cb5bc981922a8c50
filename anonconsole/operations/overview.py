"""The Overview page's figures: how many users and test users, and every tenant."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from anonconsole.core.records import Tenant, UserFilter
from anonconsole.gateway import Gateway


@dataclass(frozen=True)
class Overview:
    """What the Overview page shows, read from the connected project."""

    project_id: str
    base_url: str
    total_users: int  # test users excluded, as Descope's console counts them
    test_users: int
    tenants: list[Tenant]


async def load_overview(gateway: Gateway) -> Overview:
    """User counts from one-user searches' totals, and every tenant, sorted by name."""
    (_, total), (_, test_total), tenants = await asyncio.gather(
        gateway.search_users(UserFilter(), page=0, limit=1),
        gateway.search_users(UserFilter(test_users="only"), page=0, limit=1),
        gateway.load_all_tenants(),
    )
    connection = gateway.connection
    return Overview(
        project_id=connection.project_id,
        base_url=connection.base_url,
        total_users=total,
        test_users=test_total,
        tenants=sorted(tenants, key=lambda tenant: (tenant.name.casefold(), tenant.id)),
    )
