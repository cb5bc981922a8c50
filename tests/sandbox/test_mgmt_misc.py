"""Roles, audit and license endpoints through the real descope SDK."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from descope import DescopeClient
from descope.exceptions import AuthException


def test_license(sdk: DescopeClient) -> None:
    assert sdk.mgmt.license.get() == {"rateLimitTier": "tier2"}


def test_roles_create_list_delete_tenant_scoped(sdk: DescopeClient) -> None:
    name = f"role-{uuid.uuid4().hex[:8]}"
    tenant = sdk.mgmt.tenant.create(f"R {name}")["id"]
    sdk.mgmt.role.create(name, description="d", permission_names=["p"])
    sdk.mgmt.role.create(name, tenant_id=tenant)
    roles = [r for r in sdk.mgmt.role.load_all()["roles"] if r["name"] == name]
    assert sorted(r["tenantId"] for r in roles) == sorted(["", tenant])
    assert [r["name"] for r in sdk.mgmt.role.search(tenant_ids=[tenant])["roles"]] == [name]
    with pytest.raises(AuthException):
        sdk.mgmt.role.create(name)
    sdk.mgmt.role.delete(name)
    sdk.mgmt.role.delete(name, tenant_id=tenant)
    assert all(r["name"] != name for r in sdk.mgmt.role.load_all()["roles"])


def test_audit_records_management_writes(sdk: DescopeClient) -> None:
    login = f"au-{uuid.uuid4().hex[:8]}"
    user = sdk.mgmt.user.create(login)["user"]
    sdk.mgmt.user.deactivate(login)
    found = sdk.mgmt.audit.search(user_ids=[user["userId"]])["audits"]
    assert [a["action"] for a in found] == ["UserModified", "UserCreated"]
    assert found[0]["loginIds"] == [login]
    assert isinstance(found[0]["occurred"], datetime)
    assert (
        sdk.mgmt.audit.search(login_ids=[login], actions=["UserCreated"])["audits"][0]["userId"]
        == user["userId"]
    )
    assert sdk.mgmt.audit.search(
        user_ids=[user["userId"]], excluded_actions=["UserModified", "UserCreated"]
    ) == {"audits": []}
    past = datetime.now(UTC) - timedelta(days=1)
    assert sdk.mgmt.audit.search(user_ids=[user["userId"]], to_ts=past) == {"audits": []}
    sdk.mgmt.audit.create_event("CustomThing", "info", "me", "", user_id=user["userId"], data={"k": 1})
    assert sdk.mgmt.audit.search(actions=["CustomThing"], user_ids=[user["userId"]])["audits"][0]["data"] == {
        "k": 1
    }
