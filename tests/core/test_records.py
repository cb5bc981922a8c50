"""Records built from API-shaped JSON (descope-api.md §3) and the user filter's time conversion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from anonconsole.core.records import (
    EMPTY_MAPPING,
    AuditEvent,
    LoginRecord,
    SessionSettings,
    Tenant,
    User,
    UserFilter,
    UserTenant,
    duration_seconds,
    latest_logins,
)

# The documented user object (descope-api.md §3.1).
API_USER = {
    "loginIds": ["desmond@descope.com", "alt"],
    "userId": "U2beIJHbmK04QQ0saNqnNmOTOJiv",
    "name": "Desmond Copeland",
    "givenName": "",
    "middleName": "",
    "familyName": "",
    "email": "desmond@descope.com",
    "phone": "",
    "verifiedEmail": True,
    "verifiedPhone": False,
    "roleNames": ["admin"],
    "userTenants": [
        {
            "tenantId": "T2IMjmRfYTQHlbaastz3im59ERS3",
            "roleNames": ["Test"],
            "tenantName": "Acme",
            "permissions": [],
        }
    ],
    "status": "enabled",
    "externalIds": ["desmond@descope.com"],
    "picture": "",
    "test": False,
    "customAttributes": {"plan": "free"},
    "createdTime": 1706569043,
    "password": True,
}


def test_user_from_documented_object() -> None:
    user = User.from_api(API_USER)
    assert user.user_id == "U2beIJHbmK04QQ0saNqnNmOTOJiv"
    assert user.primary_login_id == "desmond@descope.com"
    assert user.login_ids == ("desmond@descope.com", "alt")
    assert user.verified_email
    assert not user.verified_phone
    assert user.tenants == (UserTenant("T2IMjmRfYTQHlbaastz3im59ERS3", "Acme", ("Test",)),)
    assert user.tenant_ids == ("T2IMjmRfYTQHlbaastz3im59ERS3",)
    assert user.in_tenant("T2IMjmRfYTQHlbaastz3im59ERS3")
    assert not user.in_tenant("T-other")
    assert user.has_password
    assert user.custom_attributes == {"plan": "free"}
    assert user.created_at == datetime(2024, 1, 29, 22, 57, 23, tzinfo=UTC)


def test_users_share_repeated_values_and_keep_one_copy_of_the_address() -> None:
    """100k users from the API must not each carry their own status, tenant and empty mapping."""
    wire = [{**API_USER, "userId": f"U{i}", "customAttributes": {}} for i in range(2)]
    first, second = (User.from_api(dict(data)) for data in wire)
    assert first.tenants is second.tenants
    assert first.tenants[0].tenant_name is second.tenants[0].tenant_name
    assert first.status is second.status
    assert first.custom_attributes is second.custom_attributes is EMPTY_MAPPING
    assert first.email is first.login_ids[0]
    with pytest.raises(TypeError):
        EMPTY_MAPPING["x"] = 1  # type: ignore[index]
    own = User.from_api(API_USER)
    assert own.custom_attributes == {"plan": "free"}
    assert own.custom_attributes is not API_USER["customAttributes"]


def test_user_from_sparse_object_uses_defaults() -> None:
    user = User.from_api({"userId": "U1", "name": None, "userTenants": None})
    assert user == User("U1")
    assert user.primary_login_id == ""
    assert user.tenant_ids == ()


def test_tenant_from_documented_object() -> None:
    tenant = Tenant.from_api(
        {
            "id": "T2IMjmRfYTQHlbaastz3im59ERS3",
            "name": "Acme",
            "selfProvisioningDomains": ["acme.com"],
            "customAttributes": {},
            "authType": "none",
            "domains": [],
            "createdTime": 1726067547,
            "disabled": False,
        }
    )
    assert tenant.id == "T2IMjmRfYTQHlbaastz3im59ERS3"
    assert tenant.self_provisioning_domains == ("acme.com",)
    assert tenant.auth_type == "none"
    assert tenant.created_time == 1726067547


SETTINGS = {
    "domains": [],
    "selfProvisioningDomains": ["acme.com"],
    "authType": "none",
    "enabled": True,
    "refreshTokenExpiration": 4,
    "refreshTokenExpirationUnit": "weeks",
    "sessionTokenExpiration": 10,
    "sessionTokenExpirationUnit": "minutes",
    "stepupTokenExpiration": 0,
    "stepupTokenExpirationUnit": "",
    "enableInactivity": False,
    "inactivityTime": 0,
    "inactivityTimeUnit": "",
    "JITDisabled": False,
}


def test_settings_from_documented_object() -> None:
    settings = SessionSettings.from_api(SETTINGS, "T1")
    assert settings.tenant_id == "T1"
    assert settings.enabled
    assert settings.refresh_seconds == 4 * 7 * 86400
    assert settings.session_seconds == 600
    assert settings.self_provisioning_domains == ("acme.com",)


@pytest.mark.parametrize(
    ("body", "enabled"),
    [
        ({"enabled": True}, True),
        ({"enabled": False, "sessionSettingsEnabled": True}, False),  # `enabled` wins
        ({"sessionSettingsEnabled": True}, True),  # the SDK tests' mock spelling
        ({}, False),
    ],
)
def test_settings_enabled_falls_back_to_sdk_mock_spelling(body: dict[str, bool], enabled: bool) -> None:
    assert SessionSettings.from_api(body).enabled is enabled


@pytest.mark.parametrize(
    ("value", "unit", "seconds"),
    [
        (3, "minutes", 180),
        (2, "hours", 7200),
        (365, "days", 365 * 86400),
        (1, "weeks", 604800),
        (0, "days", None),
        (5, "", None),
        (5, "fortnights", None),
    ],
)
def test_duration_seconds(value: int, unit: str, seconds: int | None) -> None:
    assert duration_seconds(value, unit) == seconds


def test_unset_lifetimes_are_none() -> None:
    settings = SessionSettings()
    assert settings.refresh_seconds is None
    assert settings.session_seconds is None


def test_latest_logins_keeps_the_newest_per_user() -> None:
    records = [
        LoginRecord.from_api({"userId": "U1", "loginTime": 100, "city": "Paris"}),
        LoginRecord.from_api({"userId": "U1", "loginTime": 300}),
        LoginRecord.from_api({"userId": "U2", "loginTime": 200}),
        LoginRecord.from_api({"userId": "U1", "loginTime": 250}),
    ]
    assert records[0].city == "Paris"
    assert latest_logins(records) == {"U1": 300, "U2": 200}


def test_audit_event_from_sdk_record_is_utc_aware() -> None:
    naive = datetime(2025, 1, 2, 3, 4, 5)
    event = AuditEvent.from_sdk(
        {"action": "LoginSucceed", "occurred": naive, "userId": "U1", "loginIds": ["a"], "tenants": ["T1"]}
    )
    assert event.occurred == naive.replace(tzinfo=UTC)
    assert event.login_ids == ("a",)


def test_audit_event_from_raw_record_parses_string_milliseconds() -> None:
    event = AuditEvent.from_sdk({"action": "UserDeleted", "occurred": "1700000000000", "externalIds": ["x"]})
    assert event.occurred == datetime.fromtimestamp(1_700_000_000, UTC)
    assert event.login_ids == ("x",)


def test_filter_time_range_in_epoch_milliseconds() -> None:
    aware = datetime(2024, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    naive_utc = datetime(2024, 1, 2)
    f = UserFilter(created_after=aware, modified_before=naive_utc)
    assert f.time_range_ms() == {
        "from_created_time": 1_704_067_200_000,
        "to_modified_time": 1_704_153_600_000,
    }
    assert UserFilter().time_range_ms() == {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"statuses": ["enabled", "gone"]}, "gone"),
        ({"test_users": "some"}, "test_users"),
    ],
)
def test_filter_refuses_unknown_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        UserFilter(**kwargs)  # type: ignore[arg-type]
