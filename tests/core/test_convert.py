"""The conversion's rules: addresses, who may be converted, collisions, the steps and their undo."""

from __future__ import annotations

from dataclasses import replace

import pytest

from anonconsole.core.classify import Kind, kind_of
from anonconsole.core.convert import (
    Address,
    Attestation,
    Channel,
    Collision,
    ConversionPlan,
    InputError,
    StepKind,
    Verification,
    collisions,
    describe_state,
    differences,
    parse_address,
    parse_code,
    preconditions,
    recheck,
    rejection_sentence,
    review_rows,
    snapshot,
    step_done,
    step_undone,
)
from anonconsole.core.records import User, UserTenant

TENANT = "T2anonymous"
RANDOM_ID = "k3v9x0qa@f8w2m1zt.invalid"
EMAIL = Address(Channel.EMAIL, "bob@example.com")
PHONE = Address(Channel.PHONE, "+16502530123")
ANON = User(
    "U2anon",
    login_ids=(RANDOM_ID,),
    email=RANDOM_ID,  # the recipe's sign-up copies an e-mail-shaped login ID into the email, unverified
    status="enabled",
    tenants=(UserTenant(TENANT, "Anonymous Users"),),
)


def plan(**changes: object) -> ConversionPlan:
    return replace(ConversionPlan(ANON, EMAIL, TENANT), **changes)  # type: ignore[arg-type]


# -- addresses ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "typed", "stored"),
    [
        (Channel.EMAIL, "  Bob.Smith@Example.COM ", "Bob.Smith@example.com"),
        (Channel.EMAIL, "bob+tag@example.co.uk", "bob+tag@example.co.uk"),
        (Channel.PHONE, "+1 (650) 253-0123", "+16502530123"),
        (Channel.PHONE, "+33 6 12 34 56 78", "+33612345678"),
    ],
)
def test_valid_addresses_are_normalised(channel: Channel, typed: str, stored: str) -> None:
    assert parse_address(channel, typed) == Address(channel, stored)


def test_a_national_phone_number_needs_its_region() -> None:
    with pytest.raises(InputError, match=r"\+ and the country code"):
        parse_address(Channel.PHONE, "(650) 253-0123")
    assert parse_address(Channel.PHONE, "(650) 253-0123", region="US").value == "+16502530123"


@pytest.mark.parametrize(
    ("channel", "typed", "message"),
    [
        (Channel.EMAIL, "", "Type the email address"),
        (Channel.EMAIL, "bob", "must have an @-sign"),
        (Channel.EMAIL, "bob@", "something after the @-sign"),
        (Channel.EMAIL, "bob@example", "It should have a period"),
        (Channel.EMAIL, "bob smith@example.com", "invalid characters"),
        (Channel.EMAIL, RANDOM_ID, "special-use or reserved"),  # the recipe's random IDs are not addresses
        (Channel.PHONE, "", "Type the phone number"),
        (Channel.PHONE, "call me", "Not a phone number"),
        (Channel.PHONE, "+1 650", "too few or too many digits"),
        (Channel.PHONE, "+1 555 555 0100", "no such number"),
    ],
)
def test_malformed_addresses_say_what_is_wrong(channel: Channel, typed: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_address(channel, typed)


def test_codes_are_digits() -> None:
    assert parse_code(" 123 456 ") == "123456"
    for bad in ("", "12a456", "12", "12345678901"):
        with pytest.raises(InputError, match="digits"):
            parse_code(bad)


# -- who may be converted ----------------------------------------------------------------------------


def test_an_anonymous_user_may_be_converted() -> None:
    assert preconditions(ANON, TENANT) == []


@pytest.mark.parametrize(
    ("user", "tenant", "why"),
    [
        (None, TENANT, "no longer exists"),
        (ANON, "", "No anonymous tenant is set up"),
        (replace(ANON, verified_email=True), TENANT, "has a verified email"),
        (replace(ANON, tenants=()), TENANT, "not in the anonymous tenant"),
        (replace(ANON, test=True), TENANT, "test user"),
        (replace(ANON, status="disabled"), TENANT, "disabled"),
        (replace(ANON, name="Bob"), TENANT, "has a name"),
    ],
)
def test_only_anonymous_users_may_be_converted(user: User | None, tenant: str, why: str) -> None:
    (problem,) = preconditions(user, tenant)
    assert why in problem


# -- collisions --------------------------------------------------------------------------------------


def other(user_id: str, **fields: object) -> User:
    return User(user_id, status="enabled", **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("address", "holder", "where"),
    [
        (EMAIL, other("U1", login_ids=("BOB@example.com",)), ("login ID",)),
        (EMAIL, other("U1", login_ids=("x",), email="Bob@Example.com"), ("email",)),  # unverified counts
        (PHONE, other("U1", login_ids=("x",), phone="+16502530123", verified_phone=True), ("phone",)),
        (PHONE, other("U1", login_ids=("+1 650 253 0123",)), ("login ID",)),
        (EMAIL, other("U1", login_ids=("bob@example.com",), email="bob@example.com"), ("login ID", "email")),
    ],
)
def test_each_kind_of_collision_is_found(address: Address, holder: User, where: tuple[str, ...]) -> None:
    (found,) = collisions(address, ANON.user_id, [holder])
    assert (found.user_id, found.fields) == ("U1", where)


def test_test_and_disabled_users_hold_their_addresses_and_are_named() -> None:
    test_user = other("U1", login_ids=("t1",), email="bob@example.com", test=True)
    disabled = replace(other("U2", login_ids=("bob@example.com",)), status="disabled")
    found = collisions(EMAIL, ANON.user_id, [test_user, disabled, test_user])
    assert [c.user_id for c in found] == ["U1", "U2"]
    assert found[0].sentence(EMAIL) == "bob@example.com is the email of the user t1 (U1, a test user)."
    assert (
        found[1].sentence(EMAIL)
        == "bob@example.com is the login ID of the user bob@example.com (U2, disabled)."
    )


def test_the_user_itself_and_near_misses_are_no_collision() -> None:
    candidates = [
        replace(ANON, email="bob@example.com"),
        other("U1", login_ids=("bob@example.org",), email="bob.smith@example.com"),
        other("U2", login_ids=("x",), phone="+16502530124"),
    ]
    assert collisions(EMAIL, ANON.user_id, candidates) == []
    assert collisions(PHONE, ANON.user_id, candidates) == []
    assert Collision("U1", "x", ("phone",)).sentence(PHONE) == "+16502530123 is the phone of the user x (U1)."


# -- the plan ----------------------------------------------------------------------------------------


def test_by_code_the_address_is_added_and_the_random_login_id_dropped_last() -> None:
    by_code = plan(display_name="Bob Smith")
    assert [s.kind for s in by_code.steps] == [
        StepKind.ATTACH_BY_CODE,
        StepKind.NAME,
        StepKind.LEAVE_TENANT,
        StepKind.DROP_LOGIN_ID,
    ]
    assert by_code.steps[0].undo == (
        f"remove the login ID bob@example.com and restore the email as it was ({RANDOM_ID})"
    )
    assert by_code.steps[-1].undo == ""  # last: nothing after it can fail
    after = by_code.after()
    assert after.user_id == ANON.user_id
    assert after.login_ids == ("bob@example.com",)
    assert (after.email, after.verified_email, after.name, after.tenants) == (
        "bob@example.com",
        True,
        "Bob Smith",
        (),
    )
    assert kind_of(after, TENANT) is Kind.REGULAR
    kept = plan(keep_login_id=True, address=PHONE).after()
    assert kept.login_ids == (RANDOM_ID, "+16502530123")
    assert (kept.phone, kept.verified_phone, kept.email, kept.verified_email) == (
        "+16502530123",
        True,
        RANDOM_ID,
        False,
    )


def test_attested_the_address_replaces_the_random_login_id() -> None:
    attested = plan(verification=Verification.ATTESTED, attestation=Attestation("replied to ticket", "T-1"))
    assert [s.kind for s in attested.steps] == [
        StepKind.REPLACE_LOGIN_ID,
        StepKind.MARK_VERIFIED,
        StepKind.LEAVE_TENANT,
    ]
    assert attested.attached().login_ids == ("bob@example.com",)
    assert attested.problems(allow_attestation=True) == []


@pytest.mark.parametrize(
    ("changes", "allow", "problem"),
    [
        ({"attestation": Attestation("replied to ticket", "T-1")}, False, "forbids attested conversions"),
        ({"attestation": None}, True, "needs a reason and a ticket"),
        ({"attestation": Attestation("short", "T-1")}, True, "at least 10 characters"),
        ({"attestation": Attestation("replied to ticket", " ")}, True, "ticket (or case) reference"),
        ({"attestation": Attestation("replied to ticket", "T\n1")}, True, "one line"),
        ({"attestation": Attestation("replied to ticket", "T-1"), "keep_login_id": True}, True, "cannot"),
    ],
)
def test_attestation_needs_permission_a_reason_and_a_ticket(
    changes: dict[str, object], allow: bool, problem: str
) -> None:
    attested = plan(verification=Verification.ATTESTED, **changes)
    found = attested.problems(allow_attestation=allow)
    assert len(found) == 1
    assert problem in found[0] or problem == "cannot" and "replace a login ID but not add one" in found[0]


def test_a_plan_for_a_user_that_is_not_anonymous_is_refused() -> None:
    assert plan(before=replace(ANON, tenants=())).problems(allow_attestation=False)
    assert plan(address=Address(Channel.EMAIL, RANDOM_ID)).problems(allow_attestation=False) == [
        f"{RANDOM_ID} is already this user's login ID."
    ]


@pytest.mark.parametrize("verification", list(Verification))
def test_each_step_is_seen_done_on_the_user_after_and_undone_on_the_user_before(
    verification: Verification,
) -> None:
    full = plan(
        verification=verification,
        display_name="Bob",
        attestation=Attestation("replied to ticket", "T-1"),
    )
    for step in full.steps:
        assert step_done(step.kind, full.after(), full), step
        assert not step_done(step.kind, full.before, full), step
        assert step_undone(step.kind, full.before, full), step
        assert not step_undone(step.kind, full.after(), full), step


def test_recheck_before_writing() -> None:
    by_code = plan()
    assert recheck(by_code.attached(), by_code, attached=True) == []
    enabled = replace(by_code.attached(), status="invited")  # a sign-in changes only the status
    assert recheck(enabled, by_code, attached=True) == []
    (moved,) = recheck(replace(by_code.attached(), tenants=()), by_code, attached=True)
    assert moved.startswith("Someone changed the user since the code was verified: tenants: expected")
    assert recheck(None, by_code, attached=True) == [
        "The user no longer exists: someone deleted it (or it was culled) meanwhile."
    ]
    assert recheck(ANON, by_code, attached=False) == []
    converted = replace(ANON, email="eve@example.com", verified_email=True, tenants=())
    (taken,) = recheck(converted, by_code, attached=False)
    assert taken == "The user is no longer anonymous: has a verified email eve@example.com."
    (changed,) = recheck(replace(ANON, login_ids=("other@x.invalid",), email=""), by_code, attached=False)
    assert changed.startswith("Someone changed the user meanwhile: login IDs: expected")


def test_differences_ignore_case_order_and_status() -> None:
    same = replace(
        ANON, login_ids=(RANDOM_ID.upper(),), email=RANDOM_ID.upper(), status="invited", tenants=ANON.tenants
    )
    assert differences(same, ANON) == []
    assert differences(replace(ANON, phone="+16502530123"), ANON) == [
        "phone: expected —, found +16502530123 (unverified)"
    ]


def test_the_state_is_said_in_words() -> None:
    full = plan()
    assert describe_state(None, full) == "The user no longer exists."
    assert describe_state(ANON, full).startswith("The user is anonymous, exactly as before the conversion.")
    assert describe_state(full.after(), full).startswith("The user is converted: a regular user")
    half = describe_state(full.attached(), full)
    assert half.startswith("The user is half-converted and listed under Needs attention: has a verified")
    assert "Tenants: Anonymous Users." in half
    assert "Login IDs: k3v9x0qa@f8w2m1zt.invalid, bob@example.com." in half


def test_review_rows_and_snapshot() -> None:
    full = plan()
    rows = {what: (before, after) for what, before, after in review_rows(full.before, full.after(), TENANT)}
    assert rows["User ID"] == ("U2anon", "U2anon")
    assert rows["Login IDs"] == (RANDOM_ID, "bob@example.com")
    assert rows["Email"] == (f"{RANDOM_ID} (unverified)", "bob@example.com (verified)")
    assert rows["Tenants"] == ("Anonymous Users", "—")
    assert rows["Kind"] == ("Anonymous", "Regular")
    assert snapshot(ANON) == {
        "userId": "U2anon",
        "loginIds": [RANDOM_ID],
        "email": RANDOM_ID,
        "verifiedEmail": False,
        "phone": "",
        "verifiedPhone": False,
        "name": "",
        "tenants": [TENANT],
        "status": "enabled",
        "test": False,
    }


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        (
            "wrong",
            "not the newest code sent, or it has expired. It was sent 2 minutes ago to b***@example.com",
        ),
        ("expired", "The code has expired. It was sent 2 minutes ago"),
        ("too_many", "Too many wrong codes"),
    ],
)
def test_refused_codes_are_explained(reason: str, words: str) -> None:
    ago = 30 if "less than" in words else 150
    assert words in rejection_sentence(reason, sent_to="b***@example.com", sent_ago=ago)
