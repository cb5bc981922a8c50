"""Users deleted and created on a sandbox while a load runs (issue 21), and the sandbox's own state to
check the load against. Both go through the unmodified SDK: the tests' independent path to the truth."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from typing import Any

from descope import AssociatedTenant, UserObj
from descope.management.common import Sort

OLDEST_FIRST = [Sort("createdTime", False)]
SEARCH_PATH = "/v2/mgmt/user/search"


@dataclass
class Churn:
    """What a cull, another admin and an app's sign-ups do to a project while the console reads it.

    `prepare()` picks the victims of every batch while nothing else runs (so the batches themselves
    only write, and are quick whatever a test does to searches); each `batch()` then deletes the
    `oldest` oldest users left (a cull goes oldest first: every later offset page shifts) and `others`
    from further on, and creates `create` users (sign-ups, created now).

    Attributes:
        deleted: IDs deleted so far.
        created: IDs created so far.
        batches: batches done.
    """

    sandbox: Any
    tenant_id: str | None = None
    oldest: int = 150
    others: int = 20
    create: int = 40
    rng: random.Random = field(default_factory=lambda: random.Random(21))
    deleted: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    batches: int = 0

    def __post_init__(self) -> None:
        self._client = self.sandbox.async_client()
        self._victims: list[list[str]] = []

    async def prepare(self, batches: int = 3) -> None:
        users = await living_users(self.sandbox, self.tenant_id, ordered=True)
        for _ in range(batches):
            victims, users = users[: self.oldest], users[self.oldest :]
            later = set(
                self.rng.sample(range(len(users) // 2, len(users)), min(self.others, len(users) // 2))
            )
            victims += [users[i] for i in sorted(later)]
            users = [u for i, u in enumerate(users) if i not in later]
            self._victims.append(victims)

    async def batch(self) -> None:
        victims = self._victims.pop(0)
        await self._client.mgmt.user.delete_batch(victims)
        self.deleted += victims
        tenants = [AssociatedTenant(self.tenant_id)] if self.tenant_id else None
        made = [UserObj(f"churn-{secrets.token_hex(6)}", user_tenants=tenants) for _ in range(self.create)]
        answer = await self._client.mgmt.user.invite_batch(made, send_mail=False, send_sms=False)
        assert not answer.get("failedUsers"), answer.get("failedUsers")
        self.created += [str(u["userId"]) for u in answer["createdUsers"]]
        self.batches += 1

    async def run(self) -> None:
        """Every prepared batch, one after the other."""
        while self._victims:
            await self.batch()

    async def aclose(self) -> None:
        await self._client.aclose()


async def living_users(sandbox: Any, tenant_id: str | None = None, *, ordered: bool = False) -> list[str]:
    """Every user the sandbox holds (in the tenant, when given), test users included, oldest first;
    read when nothing changes, so plain offset pages are exact."""
    client = sandbox.async_client()
    scope: dict[str, Any] = {"with_test_user": True}
    if tenant_id:
        scope["tenant_ids"] = [tenant_id]
    found: list[str] = []
    try:
        page = 0
        while True:
            answer = await client.mgmt.user.search_all(limit=1000, page=page, sort=OLDEST_FIRST, **scope)
            found += [u["userId"] for u in answer["users"]]
            page += 1
            if page * 1000 >= answer["total"]:
                break
    finally:
        await client.aclose()
    assert len(found) == len(set(found))
    return found if ordered else sorted(found)


def slow_searches(sandbox: Any, latency_ms: int = 40, **faults: Any) -> None:
    """Slow down (and optionally fail) user searches only, so a load takes long enough for the churn to
    happen in the middle of it, while the churn's writes go through at once."""
    sandbox.set_faults(latencyMs=latency_ms, paths=[SEARCH_PATH], **faults)


def missing_and_left(held: set[str], living: set[str]) -> str:
    """A failure message: the living users the load did not see, the deleted users it kept."""
    return f"{len(living - held)} living users missing, {len(held - living)} deleted users left"
