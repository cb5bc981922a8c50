"""Planning the anonymous tenant: create or adopt, the diff, validation, no-op re-runs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from anonconsole.core.records import SessionSettings, Tenant
from anonconsole.core.tenant_setup import (
    PRESETS,
    Action,
    Desired,
    Lifetime,
    doubts,
    plan,
    validate,
)

TENANT = Tenant(id="T2Anon", name="Anonymous Users")
CONFIGURED = SessionSettings(
    tenant_id="T2Anon",
    enabled=True,
    refresh_token_expiration=365,
    refresh_token_expiration_unit="days",
    session_token_expiration=10,
    session_token_expiration_unit="minutes",
    self_provisioning_domains=("anon.example.com",),
    domains=("example.com",),
    auth_type="none",
    stepup_token_expiration=5,
    stepup_token_expiration_unit="minutes",
)


def test_fresh_project_creates_with_defaults() -> None:
    result = plan(None, None, Desired())
    assert result.action is Action.CREATE
    assert result.tenant_id is None
    assert result.tenant_name == "Anonymous Users"
    assert not result.is_noop
    assert {c.setting: (c.before, c.after) for c in result.changes} == {
        "Custom session management": ("off", "on"),
        "Refresh token lifetime (anonymous user lifetime)": ("not set", "365 days"),
        "Session token lifetime": ("not set", "10 minutes"),
    }
    assert result.settings.enabled
    assert "culled 1 year after their last sign-in" in " ".join(result.summary())


def test_adopting_a_configured_tenant_is_a_noop() -> None:
    result = plan(TENANT, CONFIGURED, Desired())
    assert result.action is Action.ADOPT
    assert result.is_noop
    assert result.changes == ()
    assert "nothing will change" in result.summary()[0]


def test_same_duration_in_other_units_is_no_change() -> None:
    weeks = replace(CONFIGURED, refresh_token_expiration=52, refresh_token_expiration_unit="weeks")
    assert plan(TENANT, weeks, Desired(refresh=Lifetime(364, "days"))).is_noop


def test_adopt_with_other_settings_shows_diff_and_keeps_the_rest() -> None:
    other = replace(
        CONFIGURED, enabled=False, refresh_token_expiration=4, refresh_token_expiration_unit="weeks"
    )
    result = plan(TENANT, other, Desired(refresh=PRESETS["90 days"]))
    assert result.action is Action.ADOPT
    assert [(c.setting, c.before, c.after) for c in result.changes] == [
        ("Custom session management", "off", "on"),
        ("Refresh token lifetime (anonymous user lifetime)", "4 weeks", "90 days"),
    ]
    kept = result.settings
    assert kept.self_provisioning_domains == ("anon.example.com",)
    assert kept.domains == ("example.com",)
    assert kept.auth_type == "none"
    assert (kept.stepup_token_expiration, kept.stepup_token_expiration_unit) == (5, "minutes")
    assert "adopted and changed" in result.summary()[0]


def test_inactivity_on_and_off() -> None:
    on = plan(TENANT, CONFIGURED, Desired(inactivity=Lifetime(1, "days")))
    assert [(c.setting, c.before, c.after) for c in on.changes] == [("Inactivity timeout", "off", "1 day")]
    assert on.settings.enable_inactivity
    assert "without activity" in on.summary()[-1]
    was_on = replace(on.settings)
    off = plan(TENANT, was_on, Desired())
    assert [(c.before, c.after) for c in off.changes] == [("1 day", "off")]
    assert not off.settings.enable_inactivity


@pytest.mark.parametrize(
    ("desired", "message"),
    [
        (Desired(session=Lifetime(2, "minutes")), "at least 3 minutes"),
        (
            Desired(refresh=Lifetime(1, "hours"), session=Lifetime(2, "hours")),
            "cannot be longer than the refresh",
        ),
        (Desired(refresh=Lifetime(1, "months")), "unit must be one of minutes, hours, days, weeks"),
        (Desired(refresh=Lifetime(0, "days")), "positive whole number"),
        (Desired(session=Lifetime(-5, "minutes")), "positive whole number"),
        (Desired(inactivity=Lifetime(400, "days")), "Inactivity timeout (400 days) cannot be longer"),
    ],
)
def test_invalid_settings_are_refused(desired: Desired, message: str) -> None:
    problems = validate(desired)
    assert any(message in p for p in problems), problems
    with pytest.raises(ValueError, match="."):
        plan(None, None, desired)


@pytest.mark.parametrize(
    "desired",
    [
        Desired(),
        Desired(session=Lifetime(3, "minutes")),
        Desired(refresh=Lifetime(10, "minutes"), session=Lifetime(10, "minutes")),
        *(Desired(refresh=preset) for preset in PRESETS.values()),
    ],
)
def test_valid_settings(desired: Desired) -> None:
    assert validate(desired) == []


def test_lifetime_text() -> None:
    assert str(Lifetime(1, "days")) == "1 day"
    assert str(Lifetime(2, "weeks")) == "2 weeks"
    assert Lifetime.of(0, "days") is None
    assert Lifetime.of(5, "") is None
    assert Lifetime(2, "hours").seconds == 7200


# -- harmful values (the support engineer's first hour) ------------------------------------------------


def test_a_lifetime_of_centuries_is_refused() -> None:
    """Descope documents no maximum refresh-token lifetime; the console refuses more than 10 years."""
    problems = validate(Desired(refresh=Lifetime(99_999, "days")))
    assert any("at most 10 years" in p for p in problems), problems
    assert validate(Desired(refresh=Lifetime(520, "weeks"))) == []  # 9.97 years: allowed (with a warning)


@pytest.mark.parametrize(
    ("desired", "message"),
    [
        (Desired(refresh=Lifetime(1200, "days")), "more than 3 years"),
        (
            Desired(session=Lifetime(10, "minutes"), inactivity=Lifetime(1, "minutes")),
            "shorter than the session token lifetime (10 minutes)",
        ),
    ],
)
def test_legal_but_surely_mistaken_values_are_warned_about(desired: Desired, message: str) -> None:
    assert validate(desired) == []
    found = doubts(desired)
    assert any(message in d for d in found), found


@pytest.mark.parametrize(
    "desired",
    [
        Desired(),
        Desired(refresh=Lifetime(3 * 365, "days")),
        Desired(session=Lifetime(10, "minutes"), inactivity=Lifetime(10, "minutes")),
        Desired(inactivity=Lifetime(1, "days")),
        *(Desired(refresh=preset) for preset in PRESETS.values()),
    ],
)
def test_sensible_values_raise_no_doubt(desired: Desired) -> None:
    assert doubts(desired) == []
