"""The KB article's anonymous-user recipe, end to end, with the real SDK (sync and async) over HTTP.

Order as in the article: create the "Anonymous Users" tenant with custom session management, sign up
with a random login id and the shared default password, add the tenant, replace the password with a
random one (which returns the JWTs), then use the session.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

import pytest
from descope import AuthException, DescopeClient, DescopeClientAsync

if TYPE_CHECKING:
    from conftest import RunningSandbox

DEFAULT_PASSWORD = "AnonDefault1Password"
REFRESH_WEEKS = 52
SESSION_MINUTES = 10
REFRESH_SECONDS = REFRESH_WEEKS * 7 * 24 * 3600
# KB sample: cookieMaxAge 31449599 for a 52-week refresh token.
KB_COOKIE_MAX_AGE = 31449599


def _random_login_id() -> str:
    return f"{secrets.token_hex(5)}@{secrets.token_hex(5)}.com"


def _settings(tenant_id: str) -> dict[str, Any]:
    """update_settings arguments; units as strings (the SDK's enum is not JSON-serialisable)."""
    return {
        "id": tenant_id,
        "self_provisioning_domains": [],
        "session_settings_enabled": True,
        "refresh_token_expiration": REFRESH_WEEKS,
        "refresh_token_expiration_unit": "weeks",
        "session_token_expiration": SESSION_MINUTES,
        "session_token_expiration_unit": "minutes",
    }


def _check_replaced(replaced: dict[str, Any], login_id: str, tenant_id: str, tenant_name: str) -> None:
    """What the KB sample shows after the password replacement."""
    assert replaced["firstSeen"] is False
    assert replaced["cookieData"]["maxAge"] == KB_COOKIE_MAX_AGE
    assert replaced["cookieData"]["path"] == "/"
    assert replaced["cookieData"]["domain"] == ""
    refresh = replaced["refreshSessionToken"]
    assert replaced["cookieData"]["exp"] == refresh["exp"]
    assert refresh["exp"] - refresh["iat"] == REFRESH_SECONDS
    session = replaced["sessionToken"]
    assert session["exp"] - session["iat"] == SESSION_MINUTES * 60
    assert session["dct"] == tenant_id
    assert set(replaced["tenants"]) == {tenant_id}
    user = replaced["user"]
    assert user["loginIds"] == [login_id]
    assert user["status"] == "enabled"
    assert user["password"] is True
    assert [(t["tenantId"], t["tenantName"]) for t in user["userTenants"]] == [(tenant_id, tenant_name)]


def test_recipe_sync(sandbox: RunningSandbox) -> None:
    sdk = DescopeClient(
        project_id=sandbox.project_id, management_key=sandbox.management_key, base_url=sandbox.url
    )
    tenant_name = f"Anonymous Users {secrets.token_hex(3)}"
    tenant_id = sdk.mgmt.tenant.create(tenant_name)["id"]
    sdk.mgmt.tenant.update_settings(**_settings(tenant_id))
    assert sdk.mgmt.tenant.load_settings(tenant_id)["refreshTokenExpiration"] == REFRESH_WEEKS

    login_id = _random_login_id()
    signed_up = sdk.password.sign_up(login_id, DEFAULT_PASSWORD)
    assert signed_up["firstSeen"] is True

    sdk.mgmt.user.add_tenant(login_id, tenant_id)

    random_password = secrets.token_urlsafe(18) + "aA1"
    replaced = sdk.password.replace(login_id, DEFAULT_PASSWORD, random_password)
    _check_replaced(replaced, login_id, tenant_id, tenant_name)

    validated = sdk.validate_session(replaced["sessionToken"]["jwt"])
    assert validated["userId"] == signed_up["userId"]
    refreshed = sdk.refresh_session(replaced["refreshSessionToken"]["jwt"])
    assert refreshed["userId"] == signed_up["userId"]
    assert refreshed["sessionToken"]["jwt"] != replaced["sessionToken"]["jwt"]

    assert sdk.password.sign_in(login_id, random_password)["firstSeen"] is False
    with pytest.raises(AuthException) as refused:
        sdk.password.sign_in(login_id, DEFAULT_PASSWORD)
    assert refused.value.status_code == 401


@pytest.mark.asyncio
async def test_recipe_async(sandbox: RunningSandbox) -> None:
    async with DescopeClientAsync(
        project_id=sandbox.project_id, management_key=sandbox.management_key, base_url=sandbox.url
    ) as sdk:
        tenant_name = f"Anonymous Users {secrets.token_hex(3)}"
        tenant_id = (await sdk.mgmt.tenant.create(tenant_name))["id"]
        await sdk.mgmt.tenant.update_settings(**_settings(tenant_id))

        login_id = _random_login_id()
        signed_up = await sdk.password.sign_up(login_id, DEFAULT_PASSWORD)
        assert signed_up["firstSeen"] is True

        await sdk.mgmt.user.add_tenant(login_id, tenant_id)

        random_password = secrets.token_urlsafe(18) + "aA1"
        replaced = await sdk.password.replace(login_id, DEFAULT_PASSWORD, random_password)
        _check_replaced(replaced, login_id, tenant_id, tenant_name)

        validated = await sdk.validate_session(replaced["sessionToken"]["jwt"])
        assert validated["userId"] == signed_up["userId"]
        refreshed = await sdk.refresh_session(replaced["refreshSessionToken"]["jwt"])
        assert refreshed["userId"] == signed_up["userId"]

        assert (await sdk.password.sign_in(login_id, random_password))["firstSeen"] is False
        with pytest.raises(AuthException) as refused:
            await sdk.password.sign_in(login_id, DEFAULT_PASSWORD)
        assert refused.value.status_code == 401
