"""Magic links (and enchanted links) by email and SMS: every link call of the SDK, through both clients.

A link's token is the `t` of the link the outbox holds (also its `code`); test users get theirs from
`generate_magic_link_for_test_user`, as on Descope, and are sent nothing.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from conversions import latest_code, outbox
from descope import AuthException, DeliveryMethod, LoginOptions

from sandbox.conformance.sdk import Sdk, refusal, refusal_message, unique, unique_phone, write_db

pytestmark = pytest.mark.asyncio

URI = "https://app.example.com/verify"


def _token(link: str) -> str:
    return parse_qs(urlsplit(link).query)["t"][0]


def _sent_link(sdk: Sdk, login_id: str) -> str:
    """The link of the newest message the sandbox sent about `login_id`."""
    body = outbox(sdk.sandbox, login_id)[0]["body"]
    return next(word.rstrip(".") for word in body.split() if "?t=" in word)


async def test_sign_up_then_sign_in_by_email_link(either: Sdk) -> None:
    links = either.client.magiclink
    login_id = unique("ml")
    masked = await either(links.sign_up(DeliveryMethod.EMAIL, login_id, URI, {"name": "Linked Person"}))
    assert masked == f"{login_id[0]}***@example.com"
    link = _sent_link(either, login_id)
    assert link.startswith(f"{URI}?t=")
    assert _token(link) == latest_code(either.sandbox, login_id)
    signed_up = await either(links.verify(_token(link)))
    assert signed_up["firstSeen"] is True
    assert signed_up["sessionToken"]["amr"] == ["email"]
    assert (signed_up["user"]["verifiedEmail"], signed_up["user"]["name"]) == (True, "Linked Person")
    with pytest.raises(AuthException) as used:
        await either(links.verify(_token(link)))
    assert refusal(used) == (401, "E011005")
    await either(links.sign_in(DeliveryMethod.EMAIL, login_id, URI))
    signed_in = await either(links.verify(latest_code(either.sandbox, login_id)))
    assert (signed_in["firstSeen"], signed_in["userId"]) == (False, signed_up["userId"])


async def test_sign_up_or_in_by_sms_link_and_the_default_redirect(either: Sdk) -> None:
    links = either.client.magiclink
    phone = unique_phone()
    assert (await either(links.sign_up_or_in(DeliveryMethod.SMS, phone, ""))).endswith(phone[-4:])
    assert _sent_link(either, phone).startswith(f"{either.sandbox.url}/_sandbox/link?t=")
    first = await either(links.verify(latest_code(either.sandbox, phone)))
    assert (first["firstSeen"], first["user"]["verifiedPhone"]) == (True, True)
    assert first["sessionToken"]["amr"] == ["sms"]
    await either(links.sign_up_or_in(DeliveryMethod.SMS, phone, URI))
    again = await either(links.verify(latest_code(either.sandbox, phone)))
    assert (again["firstSeen"], again["userId"]) == (False, first["userId"])


async def test_refusals_duplicate_unknown_and_expired_links(either: Sdk) -> None:
    links = either.client.magiclink
    login_id = unique("ml-no")
    await either(links.sign_up(DeliveryMethod.EMAIL, login_id, URI))
    with pytest.raises(AuthException) as duplicate:
        await either(links.sign_up(DeliveryMethod.EMAIL, login_id, URI))
    assert refusal(duplicate) == (400, "E062107")
    with pytest.raises(AuthException) as unknown:
        await either(links.sign_in(DeliveryMethod.EMAIL, unique("nobody"), URI))
    assert refusal(unknown) == (400, "E112102")
    with pytest.raises(AuthException) as bogus:
        await either(links.verify("not-a-token"))
    assert refusal(bogus) == (401, "E011005")
    await either(links.sign_in(DeliveryMethod.EMAIL, login_id, URI))
    token = latest_code(either.sandbox, login_id)
    backdate = "UPDATE link_tokens SET expires = ? WHERE login_id = ?"
    assert write_db(either.sandbox, backdate, (time.time() - 60, login_id))
    with pytest.raises(AuthException) as expired:
        await either(links.verify(token))
    assert refusal(expired) == (401, "E011005")
    assert "expired" in refusal_message(expired)


async def test_test_users_keep_generated_links_through_sign_in(either: Sdk) -> None:
    """As the SDK's own end-to-end test does against Descope: generate, sign up or in, verify the
    generated token; generate, sign in, verify."""
    login_id = unique("tu-ml")
    user = either.client.mgmt.user
    phone = unique_phone()
    await either(user.create_test_user(login_id, email=unique("tu-mail"), phone=phone))
    options = LoginOptions(custom_claims={"from": "test"})
    generated = await either(
        user.generate_magic_link_for_test_user(DeliveryMethod.EMAIL, login_id, URI, options)
    )
    await either(either.client.magiclink.sign_up_or_in(DeliveryMethod.EMAIL, login_id, URI))
    first = await either(either.client.magiclink.verify(_token(generated["link"])))
    assert (first["sessionToken"]["tu"], first["sessionToken"]["from"]) == (True, "test")
    generated = await either(user.generate_magic_link_for_test_user(DeliveryMethod.SMS, login_id, URI))
    await either(either.client.magiclink.sign_in(DeliveryMethod.SMS, login_id, URI))
    await either(either.client.magiclink.sign_up(DeliveryMethod.SMS, login_id, URI, {"phone": phone}))
    second = await either(either.client.magiclink.verify(_token(generated["link"])))
    assert second["userId"] == first["userId"]
    assert outbox(either.sandbox, login_id) == []


async def test_update_email_and_phone_by_link(either: Sdk) -> None:
    links = either.client.magiclink
    login_id = unique("ml-upd")
    await either(links.sign_up(DeliveryMethod.EMAIL, login_id, URI))
    refresh = (await either(links.verify(latest_code(either.sandbox, login_id))))["refreshSessionToken"][
        "jwt"
    ]
    new_email = unique("ml-new")
    await either(links.update_user_email(login_id, new_email, refresh, add_to_login_ids=True))
    assert outbox(either.sandbox, login_id)[0]["to"] == new_email
    updated = await either(links.verify(latest_code(either.sandbox, login_id)))
    assert (updated["user"]["email"], updated["user"]["verifiedEmail"]) == (new_email, True)
    assert updated["user"]["loginIds"] == [login_id, new_email]
    phone = unique_phone()
    assert (await either(links.update_user_phone(DeliveryMethod.SMS, login_id, phone, refresh))).endswith(
        phone[-4:]
    )
    texted = await either(links.verify(latest_code(either.sandbox, login_id)))
    assert (texted["user"]["phone"], texted["user"]["verifiedPhone"]) == (phone, True)
    with pytest.raises(AuthException) as no_session:
        await either(links.update_user_email(login_id, unique("ml-x"), "not.a.token"))
    assert refusal(no_session)[0] == 401


async def test_enchanted_link_sign_in_pending_then_collected(either: Sdk) -> None:
    enchanted = either.client.enchantedlink
    login_id = unique("el")
    started = await either(enchanted.sign_up(login_id, URI, {"name": "Enchanted"}))
    assert set(started) == {"linkId", "pendingRef", "maskedEmail"}
    with pytest.raises(AuthException) as pending:
        await either(enchanted.get_session(started["pendingRef"]))
    assert refusal(pending) == (401, "E062503")
    await either(enchanted.verify(latest_code(either.sandbox, login_id)))
    session = await either(enchanted.get_session(started["pendingRef"]))
    assert (session["firstSeen"], session["user"]["verifiedEmail"]) == (True, True)
    again = await either(enchanted.sign_in(login_id, URI))
    await either(enchanted.verify(latest_code(either.sandbox, login_id)))
    assert (await either(enchanted.get_session(again["pendingRef"])))["userId"] == session["userId"]
