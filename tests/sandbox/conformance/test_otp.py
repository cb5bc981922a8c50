"""One-time codes by email, SMS, voice and WhatsApp: every OTP call of the SDK, through both clients.

Codes are read from the sandbox's outbox (what Descope would have sent); test users get theirs from
`generate_otp_for_test_user`, as on Descope, and are sent nothing.
"""

from __future__ import annotations

import pytest
from conversions import expire_codes, latest_code, outbox
from descope import AuthException, DeliveryMethod, LoginOptions, SignUpOptions

from sandbox.conformance.sdk import Sdk, refusal, unique, unique_phone

pytestmark = pytest.mark.asyncio


def _other(code: str) -> str:
    return "000000" if code != "000000" else "111111"


async def test_sign_up_verify_then_sign_in_by_email(either: Sdk) -> None:
    otp = either.client.otp
    login_id = unique("otp")
    masked = await either(otp.sign_up(DeliveryMethod.EMAIL, login_id, {"name": "Otp Person"}))
    assert masked == f"{login_id[0]}***@example.com"
    signed_up = await either(
        otp.verify_code(DeliveryMethod.EMAIL, login_id, latest_code(either.sandbox, login_id))
    )
    assert signed_up["firstSeen"] is True
    assert signed_up["sessionToken"]["amr"] == ["email"]
    user = signed_up["user"]
    assert (user["email"], user["verifiedEmail"], user["name"], user["status"]) == (
        login_id,
        True,
        "Otp Person",
        "enabled",
    )
    await either(otp.sign_in(DeliveryMethod.EMAIL, login_id))
    signed_in = await either(
        otp.verify_code(DeliveryMethod.EMAIL, login_id, latest_code(either.sandbox, login_id))
    )
    assert signed_in["firstSeen"] is False
    assert signed_in["userId"] == signed_up["userId"]
    validated = await either(either.client.validate_session(signed_in["sessionToken"]["jwt"]))
    assert validated["userId"] == signed_up["userId"]


@pytest.mark.parametrize("method", [DeliveryMethod.SMS, DeliveryMethod.VOICE, DeliveryMethod.WHATSAPP])
async def test_sign_up_or_in_by_phone(either: Sdk, method: DeliveryMethod) -> None:
    otp = either.client.otp
    phone = unique_phone()
    masked = await either(otp.sign_up_or_in(method, phone))
    assert masked == "*" * (len(phone) - 4) + phone[-4:]
    first = await either(otp.verify_code(method, phone, latest_code(either.sandbox, phone)))
    assert first["firstSeen"] is True
    assert (first["user"]["phone"], first["user"]["verifiedPhone"]) == (phone, True)
    assert first["sessionToken"]["amr"] == ["whatsapp" if method is DeliveryMethod.WHATSAPP else "sms"]
    await either(otp.sign_up_or_in(method, phone))
    again = await either(otp.verify_code(method, phone, latest_code(either.sandbox, phone)))
    assert (again["firstSeen"], again["userId"]) == (False, first["userId"])


async def test_sign_up_by_sms_with_a_login_id_that_is_no_phone(either: Sdk) -> None:
    login_id, phone = f"sms-{unique_phone()[1:]}", unique_phone()
    await either(either.client.otp.sign_up(DeliveryMethod.SMS, login_id, {"phone": phone, "name": "Texted"}))
    assert outbox(either.sandbox, login_id)[0]["to"] == phone
    verified = await either(
        either.client.otp.verify_code(DeliveryMethod.SMS, login_id, latest_code(either.sandbox, login_id))
    )
    assert (verified["user"]["phone"], verified["user"]["verifiedPhone"]) == (phone, True)
    assert verified["user"]["loginIds"] == [login_id]


async def test_refusals_duplicate_unknown_and_client_side_checks(either: Sdk) -> None:
    otp = either.client.otp
    login_id = unique("dup")
    await either(otp.sign_up(DeliveryMethod.EMAIL, login_id))
    with pytest.raises(AuthException) as duplicate:
        await either(otp.sign_up(DeliveryMethod.EMAIL, login_id))
    assert refusal(duplicate) == (400, "E062107")
    with pytest.raises(AuthException) as unknown:
        await either(otp.sign_in(DeliveryMethod.EMAIL, unique("nobody")))
    assert refusal(unknown) == (400, "E112102")
    with pytest.raises(AuthException) as no_address:
        await either(otp.sign_in(DeliveryMethod.SMS, login_id))
    assert refusal(no_address) == (400, "E011004")
    with pytest.raises(AuthException) as client_side:
        await either(otp.sign_up(DeliveryMethod.EMAIL, "not-an-email"))
    assert client_side.value.status_code == 400


async def test_wrong_codes_count_until_too_many(either: Sdk) -> None:
    otp = either.client.otp
    login_id = unique("wrong")
    await either(otp.sign_up(DeliveryMethod.EMAIL, login_id))
    code = latest_code(either.sandbox, login_id)
    for _ in range(4):
        with pytest.raises(AuthException) as wrong:
            await either(otp.verify_code(DeliveryMethod.EMAIL, login_id, _other(code)))
        assert refusal(wrong) == (401, "E061102")
    with pytest.raises(AuthException) as fifth:
        await either(otp.verify_code(DeliveryMethod.EMAIL, login_id, _other(code)))
    assert refusal(fifth) == (401, "E061103")
    with pytest.raises(AuthException) as worn_out:
        await either(otp.verify_code(DeliveryMethod.EMAIL, login_id, code))
    assert refusal(worn_out) == (401, "E061103")
    await either(otp.sign_in(DeliveryMethod.EMAIL, login_id))
    fresh = latest_code(either.sandbox, login_id)
    assert (await either(otp.verify_code(DeliveryMethod.EMAIL, login_id, fresh)))["userId"]
    with pytest.raises(AuthException) as used:
        await either(otp.verify_code(DeliveryMethod.EMAIL, login_id, fresh))
    assert refusal(used) == (401, "E061102")


async def test_an_expired_code_is_e061104_and_a_new_one_works(either: Sdk) -> None:
    otp = either.client.otp
    login_id = unique("late")
    await either(otp.sign_up(DeliveryMethod.EMAIL, login_id))
    code = latest_code(either.sandbox, login_id)
    expire_codes(either.sandbox, login_id)
    with pytest.raises(AuthException) as expired:
        await either(otp.verify_code(DeliveryMethod.EMAIL, login_id, code))
    assert refusal(expired) == (401, "E061104")
    await either(otp.sign_in(DeliveryMethod.EMAIL, login_id))
    assert await either(
        otp.verify_code(DeliveryMethod.EMAIL, login_id, latest_code(either.sandbox, login_id))
    )


async def test_test_users_keep_generated_codes_through_sign_up_and_sign_in(either: Sdk) -> None:
    """As the SDK's own end-to-end test does against Descope: generate, sign up (the test user
    exists), verify; generate, sign in, verify. Nothing is sent to a test user."""
    login_id, phone = unique("tu-otp"), unique_phone()
    user = either.client.mgmt.user
    await either(user.create_test_user(login_id, phone=phone, display_name="Test Otp"))
    generated = await either(user.generate_otp_for_test_user(DeliveryMethod.SMS, login_id))
    assert generated["loginId"] == login_id
    await either(
        either.client.otp.sign_up(DeliveryMethod.SMS, login_id, {"name": "Test Otp", "phone": phone})
    )
    signed_up = await either(either.client.otp.verify_code(DeliveryMethod.SMS, login_id, generated["code"]))
    assert signed_up["sessionToken"]["tu"] is True
    options = LoginOptions(custom_claims={"plan": "trial"})
    generated = await either(user.generate_otp_for_test_user(DeliveryMethod.SMS, login_id, options))
    await either(either.client.otp.sign_in(DeliveryMethod.SMS, login_id))
    await either(either.client.otp.sign_up_or_in(DeliveryMethod.SMS, login_id))
    signed_in = await either(either.client.otp.verify_code(DeliveryMethod.SMS, login_id, generated["code"]))
    assert signed_in["sessionToken"]["plan"] == "trial"
    assert signed_in["userId"] == signed_up["userId"]
    assert outbox(either.sandbox, login_id) == []
    with pytest.raises(AuthException) as regular:
        await either(user.generate_otp_for_test_user(DeliveryMethod.EMAIL, unique("regular")))
    assert refusal(regular)[0] == 400


async def test_update_email_and_phone_by_code(either: Sdk) -> None:
    otp = either.client.otp
    login_id = unique("upd")
    await either(otp.sign_up(DeliveryMethod.EMAIL, login_id))
    refresh = (
        await either(otp.verify_code(DeliveryMethod.EMAIL, login_id, latest_code(either.sandbox, login_id)))
    )["refreshSessionToken"]["jwt"]
    new_email = unique("new")
    masked = await either(otp.update_user_email(login_id, new_email, refresh, add_to_login_ids=True))
    assert masked.endswith("@example.com")
    assert outbox(either.sandbox, login_id)[0]["to"] == new_email
    updated = await either(
        otp.verify_code(DeliveryMethod.EMAIL, login_id, latest_code(either.sandbox, login_id))
    )
    assert (updated["user"]["email"], updated["user"]["verifiedEmail"]) == (new_email, True)
    assert updated["user"]["loginIds"] == [login_id, new_email]
    phone = unique_phone()
    await either(otp.update_user_phone(DeliveryMethod.SMS, login_id, phone, refresh))
    assert outbox(either.sandbox, login_id)[0]["to"] == phone
    texted = await either(
        otp.verify_code(DeliveryMethod.SMS, login_id, latest_code(either.sandbox, login_id))
    )
    assert (texted["user"]["phone"], texted["user"]["verifiedPhone"]) == (phone, True)
    assert texted["user"]["loginIds"] == [login_id, new_email]
    other = unique("taken")
    await either(otp.sign_up(DeliveryMethod.EMAIL, other))
    with pytest.raises(AuthException) as taken:
        await either(otp.update_user_email(login_id, other, refresh, add_to_login_ids=True))
    assert refusal(taken) == (400, "E062107")
    with pytest.raises(AuthException) as no_session:
        await either(otp.update_user_email(login_id, unique("x"), "not.a.token"))
    assert refusal(no_session)[0] == 401


async def test_login_options_custom_claims_step_up_and_mfa(either: Sdk) -> None:
    otp = either.client.otp
    login_id = unique("opts")
    await either(
        otp.sign_up(
            DeliveryMethod.EMAIL, login_id, signup_options=SignUpOptions(custom_claims={"via": "signup"})
        )
    )
    first = await either(
        otp.verify_code(DeliveryMethod.EMAIL, login_id, latest_code(either.sandbox, login_id))
    )
    assert first["sessionToken"]["via"] == "signup"
    refresh = first["refreshSessionToken"]["jwt"]
    await either(otp.sign_in(DeliveryMethod.EMAIL, login_id, LoginOptions(stepup=True), refresh))
    stepped = await either(
        otp.verify_code(DeliveryMethod.EMAIL, login_id, latest_code(either.sandbox, login_id))
    )
    assert stepped["sessionToken"]["su"] is True
    await either(either.client.mgmt.user.set_active_password(login_id, "Passw0rdGood"))
    by_password = await either(either.client.password.sign_in(login_id, "Passw0rdGood"))
    second_factor = LoginOptions(mfa=True, custom_claims={"k": 1})
    await either(
        otp.sign_in(DeliveryMethod.EMAIL, login_id, second_factor, by_password["refreshSessionToken"]["jwt"])
    )
    mfa = await either(otp.verify_code(DeliveryMethod.EMAIL, login_id, latest_code(either.sandbox, login_id)))
    assert mfa["sessionToken"]["k"] == 1
    assert mfa["sessionToken"]["amr"] == ["pwd", "email"]
    with pytest.raises(AuthException) as client_side:
        await either(otp.sign_in(DeliveryMethod.EMAIL, login_id, LoginOptions(stepup=True)))
    assert client_side.value.status_code == 400
    with pytest.raises(AuthException) as other_users_session:
        await either(otp.sign_in(DeliveryMethod.EMAIL, unique("nobody"), LoginOptions(stepup=True), refresh))
    assert refusal(other_users_session)[0] == 401
