"""The KB recipe through the gateway (real sandbox)."""

from __future__ import annotations

from typing import Any

import pytest
from descope import AuthException
from tenants import anonymous_tenant

from anonconsole.gateway import Connection, Gateway, NotFound
from anonconsole.gateway.recipe import LOGIN_ID_DOMAIN_SUFFIX, random_login_id

DEFAULT_PASSWORD = "Default-Anon-Passw0rd!"


def gateway_for(sandbox: Any) -> Gateway:
    return Gateway(Connection(sandbox.project_id, sandbox.url, sandbox.management_key))


def test_random_login_ids_are_unguessable_and_never_real() -> None:
    ids = {random_login_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(i.endswith(LOGIN_ID_DOMAIN_SUFFIX) and "@" in i for i in ids)


@pytest.mark.asyncio
async def test_recipe_creates_an_anonymous_user_with_tokens(sandbox: Any) -> None:
    tenant_id = anonymous_tenant(sandbox)
    async with gateway_for(sandbox) as gateway:
        session = await gateway.create_anonymous_user(tenant_id, DEFAULT_PASSWORD)
        user = await gateway.load_user(session.user_id)
    assert "jwt" not in repr(session).lower()
    assert user.tenant_ids == (tenant_id,)
    assert user.has_password
    assert not user.verified_email
    assert session.cookie_max_age == 52 * 7 * 86400 - 1
    assert session.cookie_path == "/"
    assert session.first_seen is False
    assert session.session_jwt.count(".") == 2
    assert session.refresh_jwt.count(".") == 2
    # The shared default password was replaced: it no longer signs the user in.
    with pytest.raises(AuthException):
        sandbox.client().password.sign_in(session.login_id, DEFAULT_PASSWORD)


@pytest.mark.asyncio
async def test_recipe_removes_the_half_made_user_on_failure(sandbox: Any) -> None:
    before = sandbox.client().mgmt.user.search_all(text=LOGIN_ID_DOMAIN_SUFFIX, limit=1000)["total"]
    async with gateway_for(sandbox) as gateway:
        with pytest.raises(NotFound):
            await gateway.create_anonymous_user("T-no-such-tenant", DEFAULT_PASSWORD)
    after = sandbox.client().mgmt.user.search_all(text=LOGIN_ID_DOMAIN_SUFFIX, limit=1000)["total"]
    assert after == before
