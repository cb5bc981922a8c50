"""User management endpoints through the real descope SDK over HTTP against a sandbox process."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import httpx
import pytest
from descope import AssociatedTenant, DeliveryMethod, DescopeClient, UserObj
from descope.exceptions import AuthException
from descope.management.common import Sort

if TYPE_CHECKING:
    from conftest import RunningSandbox


def _uid() -> str:
    return uuid.uuid4().hex[:10]


def _code(exc: pytest.ExceptionInfo[AuthException]) -> str:
    assert exc.value.status_code == 400
    return str(json.loads(exc.value.error_message)["errorCode"])


def test_create_fills_email_from_login_id_and_starts_invited(sdk: DescopeClient) -> None:
    login = f"c-{_uid()}@example.com"
    user = sdk.mgmt.user.create(login, display_name="Cee")["user"]
    assert user["email"] == login
    assert user["verifiedEmail"] is True
    assert user["status"] == "invited"
    assert user["name"] == "Cee"
    with pytest.raises(AuthException) as exc:
        sdk.mgmt.user.create(login)
    assert _code(exc) == "E062107"


def test_patch_is_partial_update_is_full_replace(sdk: DescopeClient) -> None:
    tenant = sdk.mgmt.tenant.create(f"PU {_uid()}")["id"]
    login = f"p-{_uid()}@example.com"
    sdk.mgmt.user.create(login, phone="+15550100", role_names=["r"], user_tenants=[AssociatedTenant(tenant)])
    patched = sdk.mgmt.user.patch(login, display_name="Pat")["user"]
    assert patched["phone"] == "+15550100"
    assert patched["roleNames"] == ["r"]
    assert patched["name"] == "Pat"
    assert patched["userTenants"][0]["tenantName"].startswith("PU ")
    replaced = sdk.mgmt.user.update(login, email=login)["user"]
    assert replaced["phone"] == ""
    assert replaced["roleNames"] == []
    assert replaced["userTenants"] == []
    assert replaced["name"] == ""


def test_delete_by_login_and_id_then_load_fails(sdk: DescopeClient) -> None:
    a = sdk.mgmt.user.create(f"d-{_uid()}")["user"]
    b = sdk.mgmt.user.create(f"d-{_uid()}")["user"]
    c = sdk.mgmt.user.create(f"d-{_uid()}")["user"]
    sdk.mgmt.user.delete(a["loginIds"][0])
    sdk.mgmt.user.delete_by_user_id(b["userId"])
    sdk.mgmt.user.delete_batch([c["userId"]])
    for user in (a, b, c):
        with pytest.raises(AuthException) as exc:
            sdk.mgmt.user.load_by_user_id(user["userId"])
        assert _code(exc) == "E112102"


def test_search_filters_one_by_one(sdk: DescopeClient) -> None:
    tag = _uid()
    tenant = sdk.mgmt.tenant.create(f"S {tag}")["id"]
    base = dict(custom_attributes={"tag": tag})
    a = sdk.mgmt.user.create(f"a-{tag}@example.com", display_name="Alpha", status="enabled", **base)["user"]
    b = sdk.mgmt.user.create(
        f"b-{tag}",
        phone="+15550177",
        role_names=["admin"],
        user_tenants=[AssociatedTenant(tenant, ["ed"])],
        **base,
    )["user"]
    sdk.mgmt.user.create_test_user(f"t-{tag}", custom_attributes={"tag": tag})

    def ids(**filters: object) -> set[str]:
        found = sdk.mgmt.user.search_all(custom_attributes={"tag": tag}, **filters)["users"]
        return {u["userId"] for u in found}

    assert ids() == {a["userId"], b["userId"]}
    assert len(ids(with_test_user=True)) == 3
    assert ids(tenant_ids=[tenant]) == {b["userId"]}
    assert ids(role_names=["admin"]) == {b["userId"]}
    assert ids(statuses=["enabled"]) == {a["userId"]}
    assert ids(text=f"A-{tag.upper()}") == {a["userId"]}
    assert ids(login_ids=[f"b-{tag}"]) == {b["userId"]}
    assert ids(user_ids=[a["userId"]]) == {a["userId"]}
    assert ids(emails=[f"a-{tag}@example.com"]) == {a["userId"]}
    assert ids(phones=["+15550177"]) == {b["userId"]}
    assert ids(tenant_role_names={tenant: {"values": ["ed"], "and": True}}) == {b["userId"]}
    created_ms = a["createdTime"] * 1000
    assert a["userId"] in ids(from_created_time=created_ms, to_created_time=created_ms + 999)
    assert ids(to_created_time=created_ms - 10_000) == set()
    assert ids(from_modified_time=created_ms) == {a["userId"], b["userId"]}
    tests = sdk.mgmt.user.search_all_test_users(custom_attributes={"tag": tag})
    assert [u["loginIds"] for u in tests["users"]] == [[f"t-{tag}"]]


def test_search_paging_total_and_sort(sdk: DescopeClient) -> None:
    tag = _uid()
    for i in range(7):
        sdk.mgmt.user.create(f"pg{i}-{tag}", display_name=f"N{6 - i}", custom_attributes={"pg": tag})
    pages = [
        sdk.mgmt.user.search_all(custom_attributes={"pg": tag}, limit=3, page=p, sort=[Sort("name")])
        for p in range(3)
    ]
    assert {p["total"] for p in pages} == {7}
    assert [u["name"] for p in pages for u in p["users"]] == [f"N{i}" for i in range(7)]
    desc = sdk.mgmt.user.search_all(custom_attributes={"pg": tag}, sort=[Sort("createdTime", desc=True)])
    assert desc["users"][0]["loginIds"] == [f"pg6-{tag}"]


@pytest.mark.parametrize(
    "body",
    [
        {"limit": 1001},
        {"limit": -1},
        {"page": -2},
        {"sort": [{"field": "favouriteColour"}]},
        {"statuses": ["sleeping"]},
        {"tenantIds": "T1"},
        {"unknownField": 1},
        {"limit": "ten"},
    ],
)
def test_bad_search_bodies_are_descope_400s(sandbox: RunningSandbox, body: dict[str, object]) -> None:
    response = httpx.post(f"{sandbox.url}/v2/mgmt/user/search", json=body, headers=sandbox.mgmt_headers())
    assert response.status_code == 400
    assert response.json()["errorCode"].startswith("E01")


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("/v1/mgmt/user/create", b"{not json"),
        ("/v1/mgmt/user/create", b'{"loginId": 5}'),
        ("/v1/mgmt/user/create", b'{"loginId": "x", "userTenants": [7]}'),
        ("/v1/mgmt/user/create", b'{"loginId": "x", "status": "asleep"}'),
        ("/v1/mgmt/user/update/status", b'{"loginId": null, "status": "enabled"}'),
        ("/v1/mgmt/user/history", b'{"a": 1}'),
        ("/v1/mgmt/user/history", b"[1, 2]"),
        ("/v1/mgmt/user/delete/batch", b'{"userIds": [null]}'),
        ("/v1/mgmt/tenant/settings", b'{"tenantId": ["x"]}'),
        ("/v1/mgmt/audit/search", b'{"from": "yesterday"}'),
        (
            "/v1/mgmt/user/update/customAttribute",
            b'{"loginId": "x", "attributeKey": "k", "attributeValue": {}}',
        ),
    ],
)
def test_bad_input_is_never_a_500(sandbox: RunningSandbox, path: str, content: bytes) -> None:
    response = httpx.post(f"{sandbox.url}{path}", content=content, headers=sandbox.mgmt_headers())
    assert response.status_code == 400
    assert response.json()["errorCode"].startswith("E")


def test_granular_updates(sdk: DescopeClient) -> None:
    tag = _uid()
    tenant = sdk.mgmt.tenant.create(f"G {tag}")["id"]
    login = f"g-{tag}@0ahsd8f.com"
    user = sdk.mgmt.user
    user.create(login, email=login, verified_email=False)
    assert user.deactivate(login)["user"]["status"] == "disabled"
    assert user.activate(login)["user"]["status"] == "enabled"
    assert user.update_display_name(login, "Gee", given_name="G")["user"]["givenName"] == "G"
    assert user.update_picture(login, "http://p")["user"]["picture"] == "http://p"
    assert user.update_custom_attribute(login, "plan", "pro")["user"]["customAttributes"] == {"plan": "pro"}
    assert user.add_roles(login, ["a", "b"])["user"]["roleNames"] == ["a", "b"]
    assert user.remove_roles(login, ["a"])["user"]["roleNames"] == ["b"]
    assert user.set_roles(login, ["c"])["user"]["roleNames"] == ["c"]
    assert user.add_tenant(login, tenant)["user"]["userTenants"][0]["tenantId"] == tenant
    assert user.add_tenant_roles(login, tenant, ["x"])["user"]["userTenants"][0]["roleNames"] == ["x"]
    assert user.remove_tenant(login, tenant)["user"]["userTenants"] == []
    with pytest.raises(AuthException):
        user.add_tenant(login, "Tmissing")
    real = f"real-{tag}@example.com"
    converted = user.update_email(login, real, verified=True, fail_on_conflict=True)["user"]
    assert converted["loginIds"] == [real]
    assert converted["verifiedEmail"] is True
    assert user.update_phone(real, "+15550142", verified=False)["user"]["loginIds"] == [real]
    other = f"o-{tag}@example.com"
    user.create(other)
    with pytest.raises(AuthException) as exc:
        user.update_email(other, real, verified=True, fail_on_conflict=True)
    assert _code(exc) == "E062107"
    assert user.update_login_id(real, f"new-{tag}")["user"]["loginIds"] == [f"new-{tag}"]
    with pytest.raises(AuthException):
        user.update_login_id(f"new-{tag}", None)
    with pytest.raises(AuthException):
        user.update_login_id(f"new-{tag}", other)


def test_passwords_logout_history(sdk: DescopeClient) -> None:
    login = f"pw-{_uid()}"
    user = sdk.mgmt.user.create(login)["user"]
    sdk.mgmt.user.set_active_password(login, "Abcdefg123")
    assert sdk.mgmt.user.load(login)["user"]["password"] is True
    with pytest.raises(AuthException) as exc:
        sdk.mgmt.user.set_temporary_password(login, "weak")
    assert _code(exc) == "E062902"
    sdk.mgmt.user.expire_password(login)
    sdk.mgmt.user.logout_user(login)
    sdk.mgmt.user.logout_user_by_user_id(user["userId"])
    assert sdk.mgmt.user.history([user["userId"]]) == []


def test_batch_create_and_patch(sdk: DescopeClient) -> None:
    tag = _uid()
    created = sdk.mgmt.user.invite_batch([UserObj(f"b1-{tag}"), UserObj(f"b1-{tag}")], send_mail=False)
    assert len(created["createdUsers"]) == 1
    assert len(created["failedUsers"]) == 1
    patched = sdk.mgmt.user.patch_batch([UserObj(f"b1-{tag}", display_name="B"), UserObj(f"missing-{tag}")])
    assert [u["name"] for u in patched["patchedUsers"]] == ["B"]
    assert patched["failedUsers"][0]["user"]["loginId"] == f"missing-{tag}"
    loaded = sdk.mgmt.user.load_users([created["createdUsers"][0]["userId"], "Unope"])
    assert len(loaded["users"]) == 1


def test_test_users_otp_and_delete_all(sandbox: RunningSandbox, sdk: DescopeClient) -> None:
    login = f"tu-{_uid()}"
    sdk.mgmt.user.create_test_user(login)
    code = sdk.mgmt.user.generate_otp_for_test_user(DeliveryMethod.EMAIL, login)
    assert code["loginId"] == login
    assert len(code["code"]) == 6
    regular = f"reg-{_uid()}"
    sdk.mgmt.user.create(regular)
    with pytest.raises(AuthException):
        sdk.mgmt.user.generate_otp_for_test_user(DeliveryMethod.EMAIL, regular)
    sdk.mgmt.user.delete_all_test_users()
    assert sdk.mgmt.user.search_all_test_users()["total"] == 0
    assert sdk.mgmt.user.load(regular)["user"]["loginIds"] == [regular]


@pytest.mark.asyncio
async def test_async_client_search(sandbox: RunningSandbox) -> None:
    async with sandbox.async_client() as client:
        login = f"as-{_uid()}"
        await client.mgmt.user.create(login)
        found = await client.mgmt.user.search_all(login_ids=[login])
    assert found["total"] == 1
