"""How many users a tenant holds, and how many of them have a verified email or phone.

The tenant wizard asks before adopting a tenant that holds real people: this reads the members
page by page (Descope's search has no filter on verified addresses) and counts them.
"""

from __future__ import annotations

from anonconsole.core.records import User, UserFilter
from anonconsole.gateway import Gateway

PAGE_SIZE = 1000


async def count_members(gateway: Gateway, tenant_id: str) -> tuple[int, int]:
    """(users, users with a verified email or phone) in the tenant, test users included."""
    pages = gateway.iter_user_pages(
        UserFilter(tenant_ids=[tenant_id], test_users="include"), page_size=PAGE_SIZE
    )
    members: set[str] = set()
    verified: set[str] = set()
    try:
        async for page in pages:
            members.update(user.user_id for user in page.users)
            verified.update(user.user_id for user in page.users if _has_verified_address(user))
            members.difference_update(page.gone)  # deleted while the load ran: not members any more
            verified.difference_update(page.gone)
    finally:
        await pages.aclose()  # cancelled midway (the admin typed on): the page requests stop too
    return len(members), len(verified)


def _has_verified_address(user: User) -> bool:
    """A verified flag counts only with its address (as the classification counts it)."""
    return (user.verified_email and bool(user.email)) or (user.verified_phone and bool(user.phone))
