"""Tenant endpoints and session settings through the real descope SDK."""

from __future__ import annotations

import json
import uuid

import pytest
from descope import AssociatedTenant, DescopeClient
from descope.exceptions import AuthException


def _name() -> str:
    return f"Tenant {uuid.uuid4().hex[:10]}"


def test_create_load_update_patch_search(sdk: DescopeClient) -> None:
    name = _name()
    tid = sdk.mgmt.tenant.create(name, self_provisioning_domains=["acme.example.com"])["id"]
    assert tid.startswith("T")
    assert len(tid) == 28
    loaded = sdk.mgmt.tenant.load(tid)
    assert loaded["name"] == name
    assert loaded["selfProvisioningDomains"] == ["acme.example.com"]
    assert isinstance(loaded["createdTime"], int)
    sdk.mgmt.tenant.patch_tenant(tid, custom_attributes={"tier": "gold"})
    assert sdk.mgmt.tenant.load(tid)["selfProvisioningDomains"] == ["acme.example.com"]
    sdk.mgmt.tenant.update(tid, name)
    replaced = sdk.mgmt.tenant.load(tid)
    assert replaced["selfProvisioningDomains"] == []
    assert replaced["customAttributes"] == {}
    assert tid in {t["id"] for t in sdk.mgmt.tenant.load_all()["tenants"]}
    assert [t["id"] for t in sdk.mgmt.tenant.search_all(names=[name])["tenants"]] == [tid]
    chosen = sdk.mgmt.tenant.create(_name(), id=f"Tchosen{uuid.uuid4().hex[:8]}")["id"]
    assert chosen.startswith("Tchosen")
    with pytest.raises(AuthException):
        sdk.mgmt.tenant.create(name)


def test_delete_with_and_without_cascade(sdk: DescopeClient) -> None:
    keep, drop = sdk.mgmt.tenant.create(_name())["id"], sdk.mgmt.tenant.create(_name())["id"]
    login = f"member-{uuid.uuid4().hex[:8]}"
    sdk.mgmt.user.create(login, user_tenants=[AssociatedTenant(keep)])
    sdk.mgmt.tenant.delete(keep)
    assert sdk.mgmt.user.load(login)["user"]["userTenants"] == []
    sdk.mgmt.user.add_tenant(login, drop)
    sdk.mgmt.tenant.delete(drop, cascade=True)
    with pytest.raises(AuthException):
        sdk.mgmt.user.load(login)
    with pytest.raises(AuthException):
        sdk.mgmt.tenant.load(drop)


def test_settings_defaults_update_and_enabled_mirror(sdk: DescopeClient) -> None:
    tid = sdk.mgmt.tenant.create(_name())["id"]
    settings = sdk.mgmt.tenant.load_settings(tid)
    assert settings["enabled"] is False
    assert settings["sessionSettingsEnabled"] is False
    assert (settings["refreshTokenExpiration"], settings["refreshTokenExpirationUnit"]) == (4, "weeks")
    sdk.mgmt.tenant.update_settings(
        tid,
        ["anon.example.com"],
        session_settings_enabled=True,
        refresh_token_expiration=52,
        refresh_token_expiration_unit="weeks",
        session_token_expiration=10,
        session_token_expiration_unit="minutes",
    )
    settings = sdk.mgmt.tenant.load_settings(tid)
    assert settings["enabled"] is True
    assert settings["sessionSettingsEnabled"] is True
    assert settings["refreshTokenExpiration"] == 52
    assert settings["selfProvisioningDomains"] == ["anon.example.com"]
    sdk.mgmt.tenant.update_settings(
        tid, [], enable_inactivity=True, inactivity_time=1, inactivity_time_unit="hours"
    )
    settings = sdk.mgmt.tenant.load_settings(tid)
    assert settings["refreshTokenExpiration"] == 52
    assert settings["selfProvisioningDomains"] == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"session_token_expiration": 2, "session_token_expiration_unit": "minutes"},
        {"session_token_expiration": 5, "session_token_expiration_unit": "weeks"},
        {"refresh_token_expiration": 1, "refresh_token_expiration_unit": "fortnights"},
        {"refresh_token_expiration": 5, "refresh_token_expiration_unit": "minutes"},
        {"auth_type": "kerberos"},
    ],
)
def test_settings_validation(sdk: DescopeClient, kwargs: dict[str, object]) -> None:
    tid = sdk.mgmt.tenant.create(_name())["id"]
    with pytest.raises(AuthException) as exc:
        sdk.mgmt.tenant.update_settings(tid, [], session_settings_enabled=True, **kwargs)
    assert exc.value.status_code == 400
    assert json.loads(exc.value.error_message)["errorCode"] == "E011004"
    assert sdk.mgmt.tenant.load_settings(tid)["enabled"] is False


def test_unknown_tenant_is_refused(sdk: DescopeClient) -> None:
    for call in (
        lambda: sdk.mgmt.tenant.load("Tnope"),
        lambda: sdk.mgmt.tenant.load_settings("Tnope"),
        lambda: sdk.mgmt.tenant.update_settings("Tnope", []),
        lambda: sdk.mgmt.tenant.delete("Tnope"),
    ):
        with pytest.raises(AuthException):
            call()
