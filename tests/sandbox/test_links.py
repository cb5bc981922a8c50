"""Management sign-up/sign-up-in and the test-user link helpers through the real SDK over HTTP.

Covers every `generate_*` helper of descope-api.md §2.1: OTP (in test_auth), magic link, enchanted
link, embedded link and sign-up embedded link, each verified by the SDK's own auth calls.
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import pytest
from descope import AuthException, DeliveryMethod, DescopeClient
from descope.management.common import MgmtSignUpOptions, MgmtUserRequest
from descope.management.user import CreateUserObj

if TYPE_CHECKING:
    from conftest import RunningSandbox


def _login_id(prefix: str = "l") -> str:
    return f"{prefix}{secrets.token_hex(6)}@example.com"


def _error(caught: pytest.ExceptionInfo[AuthException]) -> tuple[int, str]:
    return caught.value.status_code, json.loads(caught.value.error_message)["errorCode"]


def _token(link: str) -> str:
    return parse_qs(urlsplit(link).query)["t"][0]


def _test_user(sdk: DescopeClient, **fields: object) -> str:
    login_id = _login_id("t")
    sdk.mgmt.user.create_test_user(login_id, **fields)
    return login_id


def test_mgmt_sign_up_creates_the_user_once(sdk: DescopeClient) -> None:
    login_id = _login_id()
    user = MgmtUserRequest(name="Signed Up", given_name="Signed", email=login_id, email_verified=True)
    options = MgmtSignUpOptions(custom_claims={"plan": "pro"}, refresh_duration=3600)
    response = sdk.mgmt.jwt.sign_up(login_id, user, options)
    assert response["firstSeen"] is True
    assert response["sessionToken"]["plan"] == "pro"
    refresh = response["refreshSessionToken"]
    assert refresh["exp"] - refresh["iat"] == 3600
    stored = sdk.mgmt.user.load(login_id)["user"]
    assert (stored["name"], stored["givenName"], stored["email"]) == ("Signed Up", "Signed", login_id)
    assert stored["verifiedEmail"] is True
    assert stored["status"] == "enabled"
    assert stored["userId"] == response["userId"]
    with pytest.raises(AuthException) as caught:
        sdk.mgmt.jwt.sign_up(login_id)
    assert _error(caught) == (400, "E062107")


def test_mgmt_sign_up_or_in(sdk: DescopeClient) -> None:
    login_id = _login_id()
    first = sdk.mgmt.jwt.sign_up_or_in(login_id, MgmtUserRequest(name="First"))
    assert first["firstSeen"] is True
    assert sdk.mgmt.user.load(login_id)["user"]["verifiedEmail"] is False
    again = sdk.mgmt.jwt.sign_up_or_in(login_id, MgmtUserRequest(name="Ignored"))
    assert again["firstSeen"] is False
    assert again["userId"] == first["userId"]
    assert sdk.mgmt.user.load(login_id)["user"]["name"] == "First"
    sdk.mgmt.user.deactivate(login_id)
    with pytest.raises(AuthException) as caught:
        sdk.mgmt.jwt.sign_up_or_in(login_id)
    assert caught.value.status_code == 401


def test_magic_link_for_a_test_user_verifies_once(sdk: DescopeClient) -> None:
    login_id = _test_user(sdk)
    generated = sdk.mgmt.user.generate_magic_link_for_test_user(
        DeliveryMethod.EMAIL, login_id, "https://app.example.com/verify?from=test"
    )
    assert generated["loginId"] == login_id
    assert generated["link"].startswith("https://app.example.com/verify?from=test&t=")
    token = _token(generated["link"])
    response = sdk.magiclink.verify(token)
    assert response["user"]["loginIds"] == [login_id]
    assert response["sessionToken"]["tu"] is True
    assert response["sessionToken"]["amr"] == ["email"]
    assert sdk.mgmt.user.load(login_id)["user"]["verifiedEmail"] is True
    with pytest.raises(AuthException) as caught:
        sdk.magiclink.verify(token)
    assert caught.value.status_code == 401


def test_magic_link_only_for_test_users_and_known_tokens(sdk: DescopeClient) -> None:
    regular = _login_id()
    sdk.mgmt.user.create(regular)
    with pytest.raises(AuthException) as caught:
        sdk.mgmt.user.generate_magic_link_for_test_user(DeliveryMethod.EMAIL, regular, "https://a.example")
    assert _error(caught) == (400, "E011004")
    with pytest.raises(AuthException) as caught:
        sdk.magiclink.verify("not-a-token")
    assert caught.value.status_code == 401


def test_magic_link_by_sms_verifies_the_phone(sdk: DescopeClient) -> None:
    login_id = _test_user(sdk, phone="+15555550142")
    link = sdk.mgmt.user.generate_magic_link_for_test_user(DeliveryMethod.SMS, login_id, "https://a.example")
    response = sdk.magiclink.verify(_token(link["link"]))
    assert response["sessionToken"]["amr"] == ["sms"]
    assert sdk.mgmt.user.load(login_id)["user"]["verifiedPhone"] is True


def test_enchanted_link_pending_until_verified(sdk: DescopeClient) -> None:
    login_id = _test_user(sdk)
    generated = sdk.mgmt.user.generate_enchanted_link_for_test_user(login_id, "https://a.example/e")
    assert generated["loginId"] == login_id
    pending_ref = generated["pendingRef"]
    with pytest.raises(AuthException) as caught:
        sdk.enchantedlink.get_session(pending_ref)
    assert _error(caught) == (401, "E062503")
    token = _token(generated["link"])
    sdk.enchantedlink.verify(token)
    with pytest.raises(AuthException):
        sdk.enchantedlink.verify(token)
    session = sdk.enchantedlink.get_session(pending_ref)
    assert session["user"]["loginIds"] == [login_id]
    with pytest.raises(AuthException) as caught:
        sdk.enchantedlink.get_session(pending_ref)
    assert _error(caught) == (401, "E062503")


def test_embedded_link_carries_custom_claims(sdk: DescopeClient) -> None:
    login_id = _login_id()
    sdk.mgmt.user.create(login_id)
    token = sdk.mgmt.user.generate_embedded_link(login_id, {"origin": "embedded"}, 60)
    response = sdk.magiclink.verify(token)
    assert response["sessionToken"]["origin"] == "embedded"
    assert response["firstSeen"] is True
    assert sdk.mgmt.user.load(login_id)["user"]["status"] == "enabled"
    with pytest.raises(AuthException):
        sdk.magiclink.verify(token)
    with pytest.raises(AuthException) as caught:
        sdk.mgmt.user.generate_embedded_link(_login_id("missing"))
    assert _error(caught) == (400, "E112102")


def test_sign_up_embedded_link_creates_the_user_on_verification(sdk: DescopeClient) -> None:
    login_id = _login_id()
    token = sdk.mgmt.user.generate_sign_up_embedded_link(
        login_id,
        CreateUserObj(email=login_id, given_name="Embedded", name="Embedded User"),
        email_verified=True,
    )
    with pytest.raises(AuthException) as caught:
        sdk.mgmt.user.load(login_id)
    assert caught.value.status_code == 400
    response = sdk.magiclink.verify(token)
    assert response["firstSeen"] is True
    user = sdk.mgmt.user.load(login_id)["user"]
    assert (user["name"], user["givenName"], user["verifiedEmail"]) == ("Embedded User", "Embedded", True)
    with pytest.raises(AuthException) as caught:
        sdk.mgmt.user.generate_sign_up_embedded_link(login_id)
    assert _error(caught) == (400, "E062107")


def test_link_tokens_are_never_stored_in_clear(sandbox: RunningSandbox, sdk: DescopeClient) -> None:
    login_id = _test_user(sdk)
    link = sdk.mgmt.user.generate_magic_link_for_test_user(
        DeliveryMethod.EMAIL, login_id, "https://a.example"
    )
    token = _token(link["link"]).encode()
    for path in sandbox.db.parent.iterdir():
        if path.is_file():
            assert token not in path.read_bytes(), path.name
