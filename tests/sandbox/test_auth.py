"""The authentication API through the real SDK over HTTP: JWKS, tokens, password, OTP, sessions."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from descope import AuthException, DeliveryMethod, DescopeClient, DescopeClientAsync

if TYPE_CHECKING:
    from conftest import RunningSandbox

PASSWORD = "Def4ultPassword"
NEW_PASSWORD = "N3wPasswordValue"


def _login_id() -> str:
    return f"u{secrets.token_hex(6)}@example.com"


def _error_code(caught: pytest.ExceptionInfo[AuthException]) -> str:
    return json.loads(caught.value.error_message)["errorCode"]


def _latest_code(sandbox: RunningSandbox, login_id: str) -> str:
    """The code the sandbox 'sent' (its outbox), as a user would read it from their inbox."""
    response = httpx.get(
        f"{sandbox.url}/_sandbox/outbox",
        params={"loginId": login_id, "limit": 1},
        headers=sandbox.mgmt_headers(),
    )
    return response.json()["messages"][0]["code"]


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def test_jwks_and_token_claims(sandbox: RunningSandbox, sdk: DescopeClient) -> None:
    keys = httpx.get(f"{sandbox.url}/v2/keys/{sandbox.project_id}").json()["keys"]
    assert len(keys) == 1
    assert set(keys[0]) == {"alg", "e", "kid", "kty", "n", "use"}
    assert (keys[0]["alg"], keys[0]["kty"], keys[0]["use"]) == ("RS256", "RSA", "sig")
    assert httpx.get(f"{sandbox.url}/v2/keys/P2NotThisProject000000000000").status_code == 400

    response = sdk.password.sign_up(_login_id(), PASSWORD)
    session, refresh = response["sessionToken"], response["refreshSessionToken"]
    header = jwt.get_unverified_header(session["jwt"])
    assert (header["alg"], header["kid"]) == ("RS256", keys[0]["kid"])
    assert session["drn"] == "DS"
    assert refresh["drn"] == "DSR"
    for claims in (session, refresh):
        assert claims["iss"] == sandbox.project_id
        assert claims["sub"] == response["user"]["userId"]
        assert "aud" not in claims
        assert claims["amr"] == ["pwd"]
        assert claims["jti"]
    assert session["rexp"] == datetime.fromtimestamp(refresh["exp"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert session["exp"] - session["iat"] == 10 * 60
    assert refresh["exp"] - refresh["iat"] == 4 * 7 * 24 * 3600
    assert response["cookieData"] == {
        "exp": refresh["exp"],
        "maxAge": refresh["exp"] - refresh["iat"] - 1,
        "domain": "",
        "path": "/",
    }
    assert (response["projectId"], response["userId"]) == (sandbox.project_id, response["user"]["userId"])


def test_jwt_response_body_fields(sandbox: RunningSandbox) -> None:
    body = httpx.post(
        f"{sandbox.url}/v1/auth/password/signup",
        json={"loginId": _login_id(), "password": PASSWORD},
        headers={"Authorization": f"Bearer {sandbox.project_id}"},
    ).json()
    assert body["firstSeen"] is True
    assert (body["cookieName"], body["sessionCookieName"], body["cookiePath"]) == ("DSR", "DS", "/")
    assert body["sessionExpiration"] == _claims(body["sessionJwt"])["exp"]
    assert body["cookieExpiration"] == _claims(body["refreshJwt"])["exp"]
    assert body["user"]["password"] is True


def test_password_sign_up_rules(sdk: DescopeClient) -> None:
    login_id = _login_id()
    with pytest.raises(AuthException) as weak:
        sdk.password.sign_up(login_id, "short")
    assert weak.value.status_code == 400
    response = sdk.password.sign_up(login_id, PASSWORD, user={"name": "Anon Ymous"})
    assert response["firstSeen"] is True
    assert response["user"]["status"] == "enabled"
    assert response["user"]["name"] == "Anon Ymous"
    with pytest.raises(AuthException) as duplicate:
        sdk.password.sign_up(login_id, PASSWORD)
    assert _error_code(duplicate) == "E062107"


def test_password_sign_in_and_replace(sdk: DescopeClient) -> None:
    login_id = _login_id()
    sdk.password.sign_up(login_id, PASSWORD)
    for wrong_id, wrong_password in ((login_id, "Wr0ngPassword"), (_login_id(), PASSWORD)):
        with pytest.raises(AuthException) as refused:
            sdk.password.sign_in(wrong_id, wrong_password)
        assert refused.value.status_code == 401
    assert sdk.password.sign_in(login_id, PASSWORD)["firstSeen"] is False
    with pytest.raises(AuthException) as weak:
        sdk.password.replace(login_id, PASSWORD, "weak")
    assert weak.value.status_code == 400
    with pytest.raises(AuthException) as wrong_old:
        sdk.password.replace(login_id, "Wr0ngPassword", NEW_PASSWORD)
    assert wrong_old.value.status_code == 401
    replaced = sdk.password.replace(login_id, PASSWORD, NEW_PASSWORD)
    assert replaced["firstSeen"] is False
    with pytest.raises(AuthException):
        sdk.password.sign_in(login_id, PASSWORD)
    assert sdk.password.sign_in(login_id, NEW_PASSWORD)["user"]["loginIds"] == [login_id]


def test_password_update_with_refresh_token(sdk: DescopeClient) -> None:
    login_id, other = _login_id(), _login_id()
    refresh = sdk.password.sign_up(login_id, PASSWORD)["refreshSessionToken"]["jwt"]
    sdk.password.sign_up(other, PASSWORD)
    sdk.password.update(login_id, NEW_PASSWORD, refresh)
    sdk.password.sign_in(login_id, NEW_PASSWORD)
    with pytest.raises(AuthException) as not_theirs:
        sdk.password.update(other, NEW_PASSWORD, refresh)
    assert not_theirs.value.status_code == 401


def test_password_reset_sends_a_code(sandbox: RunningSandbox, sdk: DescopeClient) -> None:
    login_id = _login_id()
    sdk.password.sign_up(login_id, PASSWORD)
    sent = sdk.password.send_reset(login_id, "http://localhost/reset")
    assert sent["resetMethod"] == "email"
    assert sent["maskedEmail"].endswith("@example.com")
    signed_in = sdk.otp.verify_code(DeliveryMethod.EMAIL, login_id, _latest_code(sandbox, login_id))
    sdk.password.update(login_id, NEW_PASSWORD, signed_in["refreshSessionToken"]["jwt"])
    sdk.password.sign_in(login_id, NEW_PASSWORD)


def test_refresh_logout_and_logout_all(sdk: DescopeClient) -> None:
    login_id = _login_id()
    first = sdk.password.sign_up(login_id, PASSWORD)["refreshSessionToken"]["jwt"]
    second = sdk.password.sign_in(login_id, PASSWORD)["refreshSessionToken"]["jwt"]
    refreshed = sdk.refresh_session(first)
    assert refreshed["refreshSessionToken"]["jwt"] == first
    assert refreshed["sessionToken"]["drn"] == "DS"
    assert sdk.validate_and_refresh_session(refreshed["sessionToken"]["jwt"], first)["userId"]
    sdk.logout(first)
    with pytest.raises(AuthException) as logged_out:
        sdk.refresh_session(first)
    assert _error_code(logged_out) == "E064001"
    sdk.refresh_session(second)
    sdk.logout_all(second)
    with pytest.raises(AuthException):
        sdk.refresh_session(second)
    # A sign-in right after logout-all (same second) must still yield working tokens.
    third = sdk.password.sign_in(login_id, PASSWORD)["refreshSessionToken"]["jwt"]
    assert sdk.refresh_session(third)["userId"]


def test_forged_refresh_token_refused(sandbox: RunningSandbox) -> None:
    kid = httpx.get(f"{sandbox.url}/v2/keys/{sandbox.project_id}").json()["keys"][0]["kid"]
    claims = {
        "sub": "U1",
        "drn": "DSR",
        "iss": sandbox.project_id,
        "exp": 4_000_000_000,
        "iat": 1,
        "jti": "x",
    }
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forgeries = [
        jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": kid}),
        jwt.encode(claims, secrets.token_bytes(32), algorithm="HS256", headers={"kid": kid}),
    ]
    for forged in forgeries:
        response = httpx.post(
            f"{sandbox.url}/v1/auth/refresh",
            json={},
            headers={"Authorization": f"Bearer {sandbox.project_id}:{forged}"},
        )
        assert response.status_code == 401


def test_me_and_history(sdk: DescopeClient) -> None:
    login_id = _login_id()
    refresh = sdk.password.sign_up(login_id, PASSWORD)["refreshSessionToken"]["jwt"]
    sdk.password.sign_in(login_id, PASSWORD)
    me = sdk.me(refresh)
    assert me["loginIds"] == [login_id]
    history = sdk.history(refresh)
    assert isinstance(history, list)
    assert len(history) == 2
    assert {h["userId"] for h in history} == {me["userId"]}


def test_otp_sign_up_or_in_and_verify(sandbox: RunningSandbox, sdk: DescopeClient) -> None:
    login_id = _login_id()
    masked = sdk.otp.sign_up_or_in(DeliveryMethod.EMAIL, login_id)
    assert masked.endswith("@example.com")
    assert "*" in masked
    code = _latest_code(sandbox, login_id)
    with pytest.raises(AuthException) as wrong:
        sdk.otp.verify_code(DeliveryMethod.EMAIL, login_id, "000000" if code != "000000" else "111111")
    assert _error_code(wrong) == "E061102"
    response = sdk.otp.verify_code(DeliveryMethod.EMAIL, login_id, code)
    assert response["firstSeen"] is True
    assert response["sessionToken"]["amr"] == ["email"]
    assert response["user"]["verifiedEmail"] is True
    assert response["user"]["status"] == "enabled"
    with pytest.raises(AuthException):
        sdk.otp.verify_code(DeliveryMethod.EMAIL, login_id, code)
    sdk.otp.sign_in(DeliveryMethod.EMAIL, login_id)
    again = sdk.otp.verify_code(DeliveryMethod.EMAIL, login_id, _latest_code(sandbox, login_id))
    assert again["firstSeen"] is False


def test_otp_sign_up_sms(sandbox: RunningSandbox, sdk: DescopeClient) -> None:
    phone = "+1555" + str(secrets.randbelow(10**7)).zfill(7)
    masked = sdk.otp.sign_up(DeliveryMethod.SMS, phone, {"phone": phone, "name": "Texter"})
    assert masked.endswith(phone[-4:])
    response = sdk.otp.verify_code(DeliveryMethod.SMS, phone, _latest_code(sandbox, phone))
    assert response["user"]["verifiedPhone"] is True
    assert response["user"]["name"] == "Texter"


def test_otp_update_email_converts_anonymous_user(sandbox: RunningSandbox, sdk: DescopeClient) -> None:
    anonymous_id = f"anon-{secrets.token_hex(8)}"
    refresh = sdk.password.sign_up(anonymous_id, PASSWORD)["refreshSessionToken"]["jwt"]
    real_email = _login_id()
    masked = sdk.otp.update_user_email(anonymous_id, real_email, refresh, add_to_login_ids=True)
    assert masked.endswith("@example.com")
    assert sdk.me(refresh)["email"] == "", "nothing changes before the code is verified"
    response = sdk.otp.verify_code(DeliveryMethod.EMAIL, anonymous_id, _latest_code(sandbox, anonymous_id))
    user = response["user"]
    assert (user["email"], user["verifiedEmail"]) == (real_email, True)
    assert user["loginIds"] == [anonymous_id, real_email]
    sdk.password.sign_in(real_email, PASSWORD)


def test_mgmt_sign_in_and_anonymous(sdk: DescopeClient) -> None:
    login_id = _login_id()
    sdk.password.sign_up(login_id, PASSWORD)
    signed = sdk.mgmt.jwt.sign_in(login_id)
    assert signed["userId"]
    assert signed["firstSeen"] is False
    with pytest.raises(AuthException) as unknown:
        sdk.mgmt.jwt.sign_in(_login_id())
    assert unknown.value.status_code == 400
    anonymous = sdk.mgmt.jwt.anonymous({"displayName": "Guest", "sub": "spoofed"}, refresh_duration=3600)
    session = anonymous["sessionToken"]
    assert session["danu"] is True
    assert session["displayName"] == "Guest"
    assert session["sub"] != "spoofed"
    refresh = anonymous["refreshSessionToken"]
    assert refresh["exp"] - refresh["iat"] == 3600
    assert sdk.refresh_session(refresh["jwt"])["sessionToken"]["danu"] is True


def test_temporary_expired_and_disabled_passwords(sdk: DescopeClient) -> None:
    login_id = _login_id()
    sdk.password.sign_up(login_id, PASSWORD)
    sdk.mgmt.user.set_temporary_password(login_id, "Temp0raryPass")
    with pytest.raises(AuthException) as temporary:
        sdk.password.sign_in(login_id, "Temp0raryPass")
    assert temporary.value.status_code == 401
    sdk.password.replace(login_id, "Temp0raryPass", NEW_PASSWORD)
    sdk.password.sign_in(login_id, NEW_PASSWORD)
    sdk.mgmt.user.expire_password(login_id)
    with pytest.raises(AuthException) as expired:
        sdk.password.sign_in(login_id, NEW_PASSWORD)
    assert _error_code(expired) == "E062909"
    sdk.mgmt.user.set_active_password(login_id, PASSWORD)
    refresh = sdk.password.sign_in(login_id, PASSWORD)["refreshSessionToken"]["jwt"]
    sdk.mgmt.user.deactivate(login_id)
    with pytest.raises(AuthException) as disabled:
        sdk.password.sign_in(login_id, PASSWORD)
    assert disabled.value.status_code == 401
    with pytest.raises(AuthException):
        sdk.refresh_session(refresh)


def test_tenants_select_and_test_user_claims(sdk: DescopeClient) -> None:
    tenant_a = sdk.mgmt.tenant.create(f"Tenant A {secrets.token_hex(3)}")["id"]
    tenant_b = sdk.mgmt.tenant.create(f"Tenant B {secrets.token_hex(3)}")["id"]
    login_id = _login_id()
    sdk.password.sign_up(login_id, PASSWORD)
    sdk.mgmt.user.add_tenant(login_id, tenant_a)
    single = sdk.password.sign_in(login_id, PASSWORD)
    assert single["sessionToken"]["dct"] == tenant_a
    assert set(single["tenants"]) == {tenant_a}
    sdk.mgmt.user.add_tenant(login_id, tenant_b)
    refresh = sdk.password.sign_in(login_id, PASSWORD)["refreshSessionToken"]["jwt"]
    mine = sdk.my_tenants(refresh, ids=[tenant_a, tenant_b])["tenants"]
    assert {t["id"] for t in mine} == {tenant_a, tenant_b}
    selected = sdk.select_tenant(tenant_b, refresh)
    assert selected["sessionToken"]["dct"] == tenant_b
    new_refresh = selected["refreshSessionToken"]["jwt"]
    assert [t["id"] for t in sdk.my_tenants(new_refresh, dct=True)["tenants"]] == [tenant_b]
    assert sdk.refresh_session(new_refresh)["sessionToken"]["dct"] == tenant_b
    with pytest.raises(AuthException):
        sdk.select_tenant("T2NotAMemberTenant0000000000", refresh)

    test_login = f"test-{secrets.token_hex(5)}"
    sdk.mgmt.user.create_test_user(test_login, email=f"{test_login}@example.com")
    code = sdk.mgmt.user.generate_otp_for_test_user(DeliveryMethod.EMAIL, test_login)["code"]
    assert sdk.otp.verify_code(DeliveryMethod.EMAIL, test_login, code)["sessionToken"]["tu"] is True


@pytest.mark.asyncio
async def test_async_client_password_round_trip(sdk_async: DescopeClientAsync) -> None:
    login_id = _login_id()
    signed_up = await sdk_async.password.sign_up(login_id, PASSWORD)
    assert signed_up["firstSeen"] is True
    replaced = await sdk_async.password.replace(login_id, PASSWORD, NEW_PASSWORD)
    validated = await sdk_async.validate_session(replaced["sessionToken"]["jwt"])
    assert validated["userId"] == signed_up["userId"]
    refreshed = await sdk_async.refresh_session(replaced["refreshSessionToken"]["jwt"])
    assert refreshed["userId"] == signed_up["userId"]
