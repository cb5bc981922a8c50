"""Password settings (`mgmt.password`) and the password calls that apply them, through both clients.

Project-wide settings are changed on a sandbox of the test's own; tenant settings on a fresh tenant of
the shared one (they bind only that tenant's users).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from descope import AuthException

from sandbox.conformance.sdk import Sdk, refusal, unique, write_db

if TYPE_CHECKING:
    from conftest import RunningSandbox

pytestmark = pytest.mark.asyncio

PASSWORD = "Passw0rdGood"
NO_TENANT = "T2NoSuchTenant0000000000000"
NEW_PASSWORD = "N3wPassw0rd"
NEW_PROJECT_SETTINGS = {
    "enabled": True,
    "minLength": 8,
    "lowercase": True,
    "uppercase": True,
    "number": True,
    "nonAlphanumeric": False,
    "expiration": False,
    "expirationWeeks": 0,
    "reuse": False,
    "reuseAmount": 0,
    "lock": False,
    "lockAttempts": 0,
}


async def _tenant_user(sdk: Sdk, settings: dict[str, Any]) -> tuple[str, str, str]:
    """(tenant, login ID, refresh JWT): a user signed up with PASSWORD, then put in a new tenant
    that has these settings of its own."""
    tenant = (await sdk(sdk.client.mgmt.tenant.create(unique("pw-tenant"))))["id"]
    login_id = unique("pw")
    signed_up = await sdk(sdk.client.password.sign_up(login_id, PASSWORD))
    await sdk(sdk.client.mgmt.user.add_tenant(login_id, tenant))
    await sdk(sdk.client.mgmt.password.configure_settings(tenant, settings))
    return tenant, login_id, signed_up["refreshSessionToken"]["jwt"]


async def test_a_new_project_has_descopes_default_settings_and_policy(
    start_sandbox: Callable[..., RunningSandbox], sdk_for: Callable[[RunningSandbox], Sdk]
) -> None:
    sdk = sdk_for(start_sandbox())
    assert await sdk(sdk.client.mgmt.password.get_settings()) == NEW_PROJECT_SETTINGS
    assert await sdk(sdk.client.password.get_policy()) == {
        "minLength": 8,
        "lowercase": True,
        "uppercase": True,
        "number": True,
        "nonAlphanumeric": False,
    }


@pytest.mark.parametrize(
    ("weak", "lacks"),
    [
        ("Sh0rtPw", "at least 8 characters"),
        ("alllower1", "an uppercase letter"),
        ("ALLUPPER1", "a lowercase letter"),
        ("NoDigitsHere", "a number"),
    ],
)
async def test_sign_up_refuses_a_weak_password_and_a_duplicate(either: Sdk, weak: str, lacks: str) -> None:
    login_id = unique("weak")
    with pytest.raises(AuthException) as caught:
        await either(either.client.password.sign_up(login_id, weak))
    assert refusal(caught) == (400, "E062902")
    assert lacks in caught.value.error_message
    signed_up = await either(either.client.password.sign_up(login_id, PASSWORD, {"name": "Weak Then Strong"}))
    assert signed_up["firstSeen"] is True
    assert signed_up["sessionToken"]["amr"] == ["pwd"]
    with pytest.raises(AuthException) as duplicate:
        await either(either.client.password.sign_up(login_id, PASSWORD))
    assert refusal(duplicate) == (400, "E062107")
    signed_in = await either(either.client.password.sign_in(login_id, PASSWORD))
    assert signed_in["firstSeen"] is False
    assert signed_in["user"]["name"] == "Weak Then Strong"


async def test_project_settings_apply_to_sign_up_replace_and_update(
    start_sandbox: Callable[..., RunningSandbox], sdk_for: Callable[[RunningSandbox], Sdk]
) -> None:
    sdk = sdk_for(start_sandbox())
    passwords = sdk.client.password
    await sdk(sdk.client.mgmt.password.configure_settings("", {"minLength": 12, "nonAlphanumeric": True}))
    settings = await sdk(sdk.client.mgmt.password.get_settings())
    assert (settings["minLength"], settings["nonAlphanumeric"], settings["uppercase"]) == (12, True, True)
    assert (await sdk(passwords.get_policy()))["minLength"] == 12
    login_id = unique("strict")
    with pytest.raises(AuthException) as short:
        await sdk(passwords.sign_up(login_id, "Abcdefgh1!"))
    assert refusal(short) == (400, "E062902")
    with pytest.raises(AuthException) as plain:
        await sdk(passwords.sign_up(login_id, "Abcdefghijk1"))
    assert "a non-alphanumeric character" in plain.value.error_message
    refresh = (await sdk(passwords.sign_up(login_id, "Abcdefghij1!")))["refreshSessionToken"]["jwt"]
    with pytest.raises(AuthException) as weak_replace:
        await sdk(passwords.replace(login_id, "Abcdefghij1!", "Abcdefghij12"))
    assert refusal(weak_replace) == (400, "E062902")
    with pytest.raises(AuthException) as weak_update:
        await sdk(passwords.update(login_id, "Short1!", refresh))
    assert refusal(weak_update) == (400, "E062902")
    await sdk(passwords.update(login_id, "Longer+Passw0rd", refresh))
    await sdk(passwords.sign_in(login_id, "Longer+Passw0rd"))
    await sdk(passwords.replace(login_id, "Longer+Passw0rd", "Replaced+Passw0rd"))
    await sdk(passwords.sign_in(login_id, "Replaced+Passw0rd"))


@pytest.mark.parametrize(
    "bad",
    [
        {"minLength": 4},
        {"minLength": 65},
        {"lock": True, "lockAttempts": 1},
        {"expiration": True, "expirationWeeks": 0},
        {"reuse": True, "reuseAmount": 0},
        {"minLength": "eight"},
        {"tempLock": True},
        {"colour": "blue"},
    ],
)
async def test_settings_out_of_range_or_unknown_are_refused_and_change_nothing(
    either: Sdk, bad: dict[str, Any]
) -> None:
    tenant = (await either(either.client.mgmt.tenant.create(unique("pw-bad"))))["id"]
    before = await either(either.client.mgmt.password.get_settings(tenant))
    with pytest.raises(AuthException) as caught:
        await either(either.client.mgmt.password.configure_settings(tenant, bad))
    assert caught.value.status_code == 400
    assert refusal(caught)[1] in ("E011003", "E011004")
    assert await either(either.client.mgmt.password.get_settings(tenant)) == before


async def test_unknown_tenant_settings_are_a_404(either: Sdk) -> None:
    with pytest.raises(AuthException) as load:
        await either(either.client.mgmt.password.get_settings(NO_TENANT))
    assert refusal(load) == (404, "E011006")
    with pytest.raises(AuthException) as configure:
        await either(either.client.mgmt.password.configure_settings(NO_TENANT, {"lock": False}))
    assert refusal(configure) == (404, "E011006")


async def test_tenant_settings_bind_that_tenants_users_only(either: Sdk) -> None:
    tenant, login_id, refresh = await _tenant_user(either, {"minLength": 14})
    assert (await either(either.client.mgmt.password.get_settings(tenant)))["minLength"] == 14
    assert (await either(either.client.mgmt.password.get_settings()))["minLength"] == 8
    with pytest.raises(AuthException) as update:
        await either(either.client.password.update(login_id, "Sh0rterThan14", refresh))
    assert refusal(update) == (400, "E062902")
    with pytest.raises(AuthException) as by_management:
        await either(either.client.mgmt.user.set_active_password(login_id, "Sh0rterThan14"))
    assert refusal(by_management) == (400, "E062902")
    await either(either.client.password.update(login_id, "Long3nough4Tenant", refresh))
    outsider = unique("outsider")
    await either(either.client.password.sign_up(outsider, "Sh0rterThan14"))


async def test_lock_after_wrong_passwords_until_the_password_is_set_again(either: Sdk) -> None:
    _, login_id, _ = await _tenant_user(either, {"lock": True, "lockAttempts": 3})
    for _ in range(3):
        with pytest.raises(AuthException) as wrong:
            await either(either.client.password.sign_in(login_id, "Wr0ngPassword"))
        assert refusal(wrong) == (401, "E011005")
    with pytest.raises(AuthException) as locked:
        await either(either.client.password.sign_in(login_id, PASSWORD))
    assert refusal(locked) == (401, "E062903")
    with pytest.raises(AuthException) as still:
        await either(either.client.password.replace(login_id, PASSWORD, NEW_PASSWORD))
    assert refusal(still) == (401, "E062903")
    await either(either.client.mgmt.user.set_active_password(login_id, NEW_PASSWORD))
    assert (await either(either.client.password.sign_in(login_id, NEW_PASSWORD)))["userId"]


async def test_a_right_password_resets_the_count_of_wrong_ones(either: Sdk) -> None:
    _, login_id, _ = await _tenant_user(either, {"lock": True, "lockAttempts": 2})
    for _ in range(3):
        with pytest.raises(AuthException):
            await either(either.client.password.sign_in(login_id, "Wr0ngPassword"))
        await either(either.client.mgmt.user.set_active_password(login_id, PASSWORD))
        await either(either.client.password.sign_in(login_id, PASSWORD))


async def test_an_expired_password_must_be_replaced(either: Sdk) -> None:
    _, login_id, _ = await _tenant_user(either, {"expiration": True, "expirationWeeks": 1})
    await either(either.client.password.sign_in(login_id, PASSWORD))
    user_id = (await either(either.client.mgmt.user.load(login_id)))["user"]["userId"]
    eight_days_ago = int((time.time() - 8 * 86400) * 1000)
    backdate = "UPDATE password_history SET set_ms = ? WHERE user_id = ?"
    assert write_db(either.sandbox, backdate, (eight_days_ago, user_id))
    with pytest.raises(AuthException) as expired:
        await either(either.client.password.sign_in(login_id, PASSWORD))
    assert refusal(expired) == (400, "E062909")
    await either(either.client.password.replace(login_id, PASSWORD, NEW_PASSWORD))
    await either(either.client.password.sign_in(login_id, NEW_PASSWORD))


async def test_reuse_of_a_recent_password_is_refused(either: Sdk) -> None:
    _, login_id, refresh = await _tenant_user(either, {"reuse": True, "reuseAmount": 2})
    with pytest.raises(AuthException) as same:
        await either(either.client.password.update(login_id, PASSWORD, refresh))
    assert refusal(same) == (400, "E062902")
    await either(either.client.password.replace(login_id, PASSWORD, NEW_PASSWORD))
    with pytest.raises(AuthException) as previous:
        await either(either.client.password.replace(login_id, NEW_PASSWORD, PASSWORD))
    assert "last 2 passwords" in previous.value.error_message
    await either(either.client.password.replace(login_id, NEW_PASSWORD, "Th1rdPassword"))
    await either(either.client.password.replace(login_id, "Th1rdPassword", PASSWORD))


async def test_disabled_passwords_are_refused(
    either: Sdk, start_sandbox: Callable[..., RunningSandbox], sdk_for: Callable[[RunningSandbox], Sdk]
) -> None:
    _, login_id, _ = await _tenant_user(either, {"enabled": False})
    with pytest.raises(AuthException) as tenant_off:
        await either(either.client.password.sign_in(login_id, PASSWORD))
    assert refusal(tenant_off) == (400, "E062901")
    own = sdk_for(start_sandbox())
    await own(own.client.mgmt.password.configure_settings("", {"enabled": False}))
    with pytest.raises(AuthException) as project_off:
        await own(own.client.password.sign_up(unique("off"), PASSWORD))
    assert refusal(project_off) == (400, "E062901")
