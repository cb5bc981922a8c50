"""descope-api.md §8 checklist items the first sandbox build missed, through the real SDK over HTTP."""

from __future__ import annotations

import json
import uuid

import pytest
from descope import AssociatedTenant, AuthException, DescopeClient
from descope.management.common import MgmtLoginOptions


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _error(caught: pytest.ExceptionInfo[AuthException]) -> tuple[int, str]:
    return caught.value.status_code, json.loads(caught.value.error_message)["errorCode"]


def test_role_permissions_reach_the_user_and_both_tokens(sdk: DescopeClient) -> None:
    """§8.3: tokens carry roles, permissions and tenants; permissions come from the roles."""
    project_role, tenant_role, shared = _name("pr"), _name("tr"), _name("sh")
    tenant = sdk.mgmt.tenant.create(_name("Perm tenant"))["id"]
    sdk.mgmt.role.create(project_role, permission_names=["read", "write"])
    sdk.mgmt.role.create(shared, permission_names=["project-level"])
    sdk.mgmt.role.create(shared, tenant_id=tenant, permission_names=["tenant-level"])
    sdk.mgmt.role.create(tenant_role, tenant_id=tenant, permission_names=["approve"])
    login_id = f"{_name('perm')}@example.com"
    user = sdk.mgmt.user.create(
        login_id,
        role_names=[project_role],
        user_tenants=[AssociatedTenant(tenant, [tenant_role, shared])],
    )["user"]
    assert user["permissions"] == ["read", "write"]
    assert user["userTenants"][0]["permissions"] == ["approve", "tenant-level"]

    response = sdk.mgmt.jwt.sign_in(login_id)
    for token in (response["sessionToken"], response["refreshSessionToken"]):
        assert token["roles"] == [project_role]
        assert token["permissions"] == ["read", "write"]
        assert token["tenants"] == {
            tenant: {"roles": [tenant_role, shared], "permissions": ["approve", "tenant-level"]}
        }
    names = {p["name"] for p in sdk.mgmt.permission.load_all()["permissions"]}
    assert {"read", "write", "approve", "tenant-level", "project-level"} <= names


def test_patch_phone_is_verified_unless_told_otherwise(sdk: DescopeClient) -> None:
    login_id = f"{_name('ph')}@example.com"
    sdk.mgmt.user.create(login_id)
    assert sdk.mgmt.user.patch(login_id, phone="+15555550171")["user"]["verifiedPhone"] is True
    patched = sdk.mgmt.user.patch(login_id, phone="+15555550172", verified_phone=False)["user"]
    assert (patched["phone"], patched["verifiedPhone"]) == ("+15555550172", False)


def test_credentials_the_sandbox_lacks_can_be_removed(sdk: DescopeClient) -> None:
    """§8.1: every §2.1 endpoint is served; passkeys/TOTP/recovery codes/families are no-ops."""
    login_id = f"{_name('cr')}@example.com"
    sdk.mgmt.user.create(login_id)
    sdk.mgmt.user.remove_all_passkeys(login_id)
    sdk.mgmt.user.remove_totp_seed(login_id)
    sdk.mgmt.user.remove_recovery_codes(login_id)
    assert sdk.mgmt.user.remove_families(login_id, ["F1"])["user"]["loginIds"] == [login_id]
    with pytest.raises(AuthException) as caught:
        sdk.mgmt.user.remove_totp_seed(f"{_name('none')}@example.com")
    assert _error(caught) == (400, "E112102")


def test_provider_token_is_a_descope_error(sdk: DescopeClient) -> None:
    login_id = f"{_name('pt')}@example.com"
    sdk.mgmt.user.create(login_id)
    with pytest.raises(AuthException) as caught:
        sdk.mgmt.user.get_provider_token(login_id, "google")
    assert _error(caught) == (404, "E011006")
    with pytest.raises(AuthException) as caught:
        sdk.mgmt.user.get_provider_token(f"{_name('none')}@example.com", "google")
    assert _error(caught) == (400, "E112102")


def test_update_jwt_adds_custom_claims(sdk: DescopeClient) -> None:
    login_id = f"{_name('uj')}@example.com"
    sdk.mgmt.user.create(login_id)
    response = sdk.mgmt.jwt.sign_in(login_id, MgmtLoginOptions(custom_claims={"a": 1}))
    updated = sdk.mgmt.jwt.update_jwt(response["sessionToken"]["jwt"], {"b": 2, "sub": "forged"})
    claims = sdk.validate_session(updated)
    assert (claims["a"], claims["b"], claims["sub"]) == (1, 2, response["userId"])
    with pytest.raises(AuthException) as caught:
        sdk.mgmt.jwt.update_jwt("not.a.jwt", {"b": 2})
    assert caught.value.status_code == 401
