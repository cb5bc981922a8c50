"""Which tenant holds the anonymous users, and the lifetime its session settings give them.

Every caller (the users views, the doctor, the tenant wizard, later the cull) finds the tenant the
same way: by the profile's tenant ID when it has one, else by the profile's tenant name.
"""

from __future__ import annotations

from anonconsole.core.classify import ANONYMOUS_TENANT_NAME, AnonymousPolicy, format_duration
from anonconsole.core.errors import NotFound
from anonconsole.core.records import Tenant
from anonconsole.gateway import Gateway


async def find_anonymous_tenant(
    gateway: Gateway, *, tenant_id: str = "", tenant_name: str = ANONYMOUS_TENANT_NAME
) -> Tenant | None:
    """The tenant with `tenant_id` when given (None when it is gone), else the one named `tenant_name`."""
    if tenant_id:
        try:
            return await gateway.load_tenant(tenant_id)
        except NotFound:
            return None
    return await gateway.find_tenant_by_name(tenant_name)


def missing_tenant_sentence(*, tenant_id: str = "", tenant_name: str = ANONYMOUS_TENANT_NAME) -> str:
    """Why there is no anonymous tenant, and what to do: one sentence for every caller."""
    wanted = f"with the ID {tenant_id}" if tenant_id else f'named "{tenant_name}"'
    return f"No tenant {wanted}: run the tenant setup."


async def anonymous_policy(
    gateway: Gateway,
    *,
    tenant_id: str = "",
    tenant_name: str = ANONYMOUS_TENANT_NAME,
    grace_days: int = 0,
) -> tuple[AnonymousPolicy, str]:
    """The connection's anonymous tenant and lifetime, with a sentence for the status bar.

    Without a tenant nobody is anonymous (and the sentence says to run the tenant setup).
    """
    tenant = await find_anonymous_tenant(gateway, tenant_id=tenant_id, tenant_name=tenant_name)
    if tenant is None:
        return AnonymousPolicy("", None), missing_tenant_sentence(
            tenant_id=tenant_id, tenant_name=tenant_name
        )
    settings = await gateway.load_tenant_settings(tenant.id)
    grace = grace_days * 86400
    if not settings.enabled or settings.refresh_seconds is None:
        note = f'"{tenant.name}" has no custom session management: anonymous lifetimes are unknown.'
        return AnonymousPolicy(tenant.id, None, grace), note
    lifetime = format_duration(settings.refresh_seconds)
    return (
        AnonymousPolicy(tenant.id, settings.refresh_seconds, grace),
        f'"{tenant.name}": anonymous users live {lifetime}.',
    )
