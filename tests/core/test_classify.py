"""The one rule that splits users into anonymous, regular and needs attention."""

from __future__ import annotations

import pytest

from anonconsole.core.classify import AnonymousPolicy, Kind, classify, format_duration, kind_of
from anonconsole.core.records import User, UserTenant

ANON = "T2AnonymousUsers00000000000000"
OTHER = "T2AcmeCorp000000000000000000"
DAY = 86400
YEAR = 365 * DAY
NOW = 1_800_000_000
POLICY = AnonymousPolicy(tenant_id=ANON, refresh_seconds=YEAR)


def user(**fields: object) -> User:
    base: dict[str, object] = {
        "user_id": "U1",
        "login_ids": ("h89asdf@0ahsd8f.com",),
        "email": "h89asdf@0ahsd8f.com",
        "status": "enabled",
        "tenants": (UserTenant(ANON, "Anonymous Users"),),
        "created_time": NOW - 10 * DAY,
    }
    base.update(fields)
    return User(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "kind", "reason_part"),
    [
        ({}, Kind.ANONYMOUS, "no verified email or phone"),
        ({"status": "invited"}, Kind.ANONYMOUS, "no verified email or phone"),
        ({"email": "", "login_ids": ("x8s7d6f5",)}, Kind.ANONYMOUS, "no verified email or phone"),
        (
            {"tenants": (), "email": "ann@example.com", "verified_email": True},
            Kind.REGULAR,
            "verified email ann@example.com",
        ),
        (
            {"tenants": (UserTenant(OTHER),), "phone": "+15550100", "verified_phone": True},
            Kind.REGULAR,
            "phone",
        ),
        (
            {"email": "ann@example.com", "verified_email": True},
            Kind.ATTENTION,
            "still in the anonymous tenant",
        ),
        ({"name": "Ann Smith"}, Kind.ATTENTION, "has a name"),
        ({"phone": "+15550100"}, Kind.ATTENTION, "unverified phone"),
        ({"email": "ann@example.com"}, Kind.ATTENTION, "unverified email ann@example.com"),
        ({"login_ids": ("h89asdf@0ahsd8f.com", "ann")}, Kind.ATTENTION, "2 login IDs"),
        ({"status": "disabled"}, Kind.ATTENTION, "disabled"),
        ({"tenants": ()}, Kind.ATTENTION, "Not in the anonymous tenant"),
        # A verified email that is not verified does not count, nor a verified flag with no address.
        ({"tenants": (), "email": "", "verified_email": True}, Kind.ATTENTION, "no verified email"),
    ],
)
def test_kind_and_reason(fields: dict[str, object], kind: Kind, reason_part: str) -> None:
    verdict = classify(user(**fields), POLICY, last_sign_in=None, now=NOW)
    assert verdict.kind is kind
    assert reason_part in verdict.reason
    # The kind alone (what tables store per row) is the same rule, whatever the sign-ins and clock.
    assert kind_of(user(**fields), ANON) is kind
    assert classify(user(**fields), POLICY, last_sign_in=NOW - DAY, now=NOW + 9 * YEAR).kind is kind


def test_without_anonymous_tenant_nobody_is_anonymous() -> None:
    verdict = classify(user(), AnonymousPolicy("", YEAR), last_sign_in=None, now=NOW)
    assert verdict.kind is Kind.ATTENTION
    assert "No anonymous tenant" in verdict.reason


def test_lifetime_counts_from_creation_when_never_signed_in() -> None:
    created = NOW - 400 * DAY
    verdict = classify(user(created_time=created), POLICY, last_sign_in=None, now=NOW)
    assert verdict.kind is Kind.ANONYMOUS
    assert verdict.last_active == created
    assert not verdict.active_since_sign_in
    assert verdict.expires_at == created + YEAR
    assert verdict.expired_for == 35 * DAY
    assert verdict.expired
    assert verdict.age_seconds == 400 * DAY
    assert "expired 35 days ago" in verdict.reason
    assert "never signed in" in verdict.reason


def test_lifetime_counts_from_last_sign_in() -> None:
    last = NOW - 300 * DAY
    verdict = classify(user(created_time=NOW - 700 * DAY), POLICY, last_sign_in=last, now=NOW)
    assert verdict.active_since_sign_in
    assert verdict.expires_at == last + YEAR
    assert verdict.expired_for == 0
    assert not verdict.expired
    assert "expires in 2 months" in verdict.reason


def test_grace_postpones_expiry() -> None:
    policy = AnonymousPolicy(ANON, YEAR, grace_seconds=30 * DAY)
    created = NOW - YEAR - 10 * DAY
    verdict = classify(user(created_time=created), policy, last_sign_in=None, now=NOW)
    assert not verdict.expired
    assert verdict.expires_at == created + YEAR + 30 * DAY


def test_exactly_at_expiry_is_not_expired_yet() -> None:
    verdict = classify(user(created_time=NOW - YEAR), POLICY, last_sign_in=None, now=NOW)
    assert verdict.expired_for == 0


def test_unknown_lifetime_is_said_not_guessed() -> None:
    verdict = classify(user(), AnonymousPolicy(ANON, None), last_sign_in=None, now=NOW)
    assert verdict.kind is Kind.ANONYMOUS
    assert verdict.expires_at is None
    assert not verdict.expired
    assert "no custom session management" in verdict.reason


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 seconds"),
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "1 minute"),
        (3 * 3600, "3 hours"),
        (DAY, "1 day"),
        (59 * DAY, "59 days"),
        (90 * DAY, "3 months"),
        (365 * DAY, "1 year"),
        (365 * DAY + 61 * DAY, "1 year 2 months"),
        (-5, "0 seconds"),
    ],
)
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


def test_kind_labels() -> None:
    assert [k.label for k in Kind] == ["Anonymous", "Regular", "Needs attention", "Test user"]


@pytest.mark.parametrize(
    "fields",
    [
        {"tenants": (UserTenant(ANON),)},  # would look anonymous
        {"tenants": (UserTenant(ANON),), "verified_email": True, "email": "t@example.com"},
        {"email": "t@example.com", "verified_email": True},  # would look regular
        {},
    ],
)
def test_test_users_are_their_own_kind(fields: dict[str, object]) -> None:
    """Descope test users exist for automated tests: not anonymous, not regular, nothing to look at."""
    verdict = classify(user(test=True, **fields), POLICY, last_sign_in=None, now=NOW)
    assert verdict.kind is Kind.TEST
    assert verdict.kind.label == "Test user"
    assert "test user" in verdict.reason.lower()
    assert kind_of(user(test=True, **fields), ANON) is Kind.TEST
