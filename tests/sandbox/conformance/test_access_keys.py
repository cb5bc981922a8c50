"""Access keys through both clients: create, load, search, update, activate/deactivate, rotate,
delete, and the exchange, whose session JWT the SDK itself validates."""

from __future__ import annotations

import time
from typing import Any

import pytest
from descope import AccessKeyLoginOptions, AssociatedTenant, AuthException

from sandbox.conformance.sdk import Sdk, refusal, unique, write_db

pytestmark = pytest.mark.asyncio


async def _roles_and_tenant(sdk: Sdk) -> tuple[str, str, str]:
    """(project role, tenant, tenant role), each new, the roles granting one permission each."""
    project_role, tenant_role = unique("ak-role"), unique("ak-trole")
    await sdk(sdk.client.mgmt.role.create(project_role, permission_names=["read:things"]))
    tenant = (await sdk(sdk.client.mgmt.tenant.create(unique("ak-tenant"))))["id"]
    await sdk(sdk.client.mgmt.role.create(tenant_role, permission_names=["write:things"], tenant_id=tenant))
    return project_role, tenant, tenant_role


async def _exchange(sdk: Sdk, cleartext: str, options: AccessKeyLoginOptions | None = None) -> dict[str, Any]:
    return await sdk(sdk.client.exchange_access_key(cleartext, login_options=options))  # type: ignore[no-any-return]


async def test_create_load_and_exchange_with_roles_tenants_and_claims(either: Sdk) -> None:
    keys = either.client.mgmt.access_key
    project_role, tenant, tenant_role = await _roles_and_tenant(either)
    created = await either(
        keys.create(
            "Service A",
            role_names=[project_role],
            key_tenants=[AssociatedTenant(tenant, [tenant_role])],
            custom_claims={"k1": "v1", "team": {"name": "ops"}},
            description="for the nightly job",
            permitted_ips=["127.0.0.0/8", "::1"],
            custom_attributes={"owner": "ops"},
        )
    )
    key = created["key"]
    assert key["id"].startswith("K")
    assert (key["name"], key["status"], key["description"]) == ("Service A", "active", "for the nightly job")
    assert key["roleNames"] == [project_role]
    assert [(t["tenantId"], t["roleNames"]) for t in key["keyTenants"]] == [(tenant, [tenant_role])]
    assert key["keyTenants"][0]["tenantName"].startswith("ak-tenant")
    assert key["customClaims"] == {"k1": "v1", "team": {"name": "ops"}}
    assert key["permittedIps"] == ["127.0.0.0/8", "::1"]
    assert (key["customAttributes"], key["expireTime"], key["boundUserId"]) == ({"owner": "ops"}, 0, "")
    assert (await either(keys.load(key["id"])))["key"] == key

    options = AccessKeyLoginOptions(custom_claims={"nsec-k1": "nsec-v1"}, selected_tenant=tenant)
    exchanged = await _exchange(either, created["cleartext"], options)
    token = exchanged["sessionToken"]
    assert (exchanged["keyId"], token["sub"]) == (key["id"], key["id"])
    assert exchanged["projectId"] == either.sandbox.project_id
    assert (token["k1"], token["team"], token["nsec"]) == ("v1", {"name": "ops"}, {"nsec-k1": "nsec-v1"})
    assert (token["roles"], token["permissions"]) == ([project_role], ["read:things"])
    assert token["tenants"] == {tenant: {"roles": [tenant_role], "permissions": ["write:things"]}}
    assert token["dct"] == tenant
    validated = await either(either.client.validate_session(token["jwt"]))
    assert validated["sessionToken"]["sub"] == key["id"]
    with pytest.raises(AuthException) as other_tenant:
        await _exchange(
            either, created["cleartext"], AccessKeyLoginOptions(selected_tenant="T2Other0000000000000000000")
        )
    assert refusal(other_tenant) == (400, "E011004")


async def test_search_update_keeps_what_is_not_sent(either: Sdk) -> None:
    keys = either.client.mgmt.access_key
    tenant = (await either(either.client.mgmt.tenant.create(unique("ak-search"))))["id"]
    mark = unique("mark")
    first = (await either(keys.create("AAA", key_tenants=[AssociatedTenant(tenant)], description="hey")))[
        "key"
    ]
    second = (await either(keys.create("BBB", custom_attributes={"mark": mark})))["key"]
    assert [k["id"] for k in (await either(keys.search_all_access_keys(tenant_ids=[tenant])))["keys"]] == [
        first["id"]
    ]
    found = (await either(keys.search_all_access_keys(custom_attributes={"mark": mark})))["keys"]
    assert [k["id"] for k in found] == [second["id"]]
    await either(keys.update(first["id"], "ABA", description="hello there"))
    loaded = (await either(keys.load(first["id"])))["key"]
    assert (loaded["name"], loaded["description"]) == ("ABA", "hello there")
    await either(
        keys.update(
            first["id"], "ABA1", description=None, custom_claims={"c": 1}, permitted_ips=["10.1.0.0/16"]
        )
    )
    loaded = (await either(keys.load(first["id"])))["key"]
    assert (loaded["name"], loaded["description"], loaded["customClaims"]) == (
        "ABA1",
        "hello there",
        {"c": 1},
    )
    assert (loaded["permittedIps"], loaded["keyTenants"][0]["tenantId"]) == (["10.1.0.0/16"], tenant)


async def test_deactivate_activate_rotate_delete(either: Sdk) -> None:
    keys = either.client.mgmt.access_key
    created = await either(keys.create(unique("ak-life")))
    key_id, cleartext = created["key"]["id"], created["cleartext"]
    await either(keys.deactivate(key_id))
    assert (await either(keys.load(key_id)))["key"]["status"] == "inactive"
    with pytest.raises(AuthException) as inactive:
        await _exchange(either, cleartext)
    assert refusal(inactive) == (401, "E011005")
    await either(keys.activate(key_id))
    assert (await _exchange(either, cleartext))["keyId"] == key_id
    rotated = await either(keys.rotate(key_id))
    assert rotated["key"]["id"] == key_id
    with pytest.raises(AuthException) as old_secret:
        await _exchange(either, cleartext)
    assert refusal(old_secret) == (401, "E011005")
    assert (await _exchange(either, rotated["cleartext"]))["keyId"] == key_id
    await either(keys.delete(key_id))
    with pytest.raises(AuthException) as gone:
        await either(keys.load(key_id))
    assert refusal(gone) == (404, "E011006")
    with pytest.raises(AuthException) as deleted:
        await _exchange(either, rotated["cleartext"])
    assert refusal(deleted) == (401, "E011005")


async def test_batch_operations_are_all_or_nothing(either: Sdk) -> None:
    keys = either.client.mgmt.access_key
    ids = [(await either(keys.create(unique("ak-batch"))))["key"]["id"] for _ in range(3)]
    await either(keys.deactivate_batch(ids))
    assert {(await either(keys.load(k)))["key"]["status"] for k in ids} == {"inactive"}
    with pytest.raises(AuthException) as unknown:
        await either(keys.activate_batch([*ids, "K2NoSuchKey000000000000000000"]))
    assert refusal(unknown) == (404, "E011006")
    assert {(await either(keys.load(k)))["key"]["status"] for k in ids} == {"inactive"}
    await either(keys.activate_batch(ids))
    assert {(await either(keys.load(k)))["key"]["status"] for k in ids} == {"active"}
    await either(keys.delete_batch(ids))
    for key_id in ids:
        with pytest.raises(AuthException):
            await either(keys.load(key_id))


async def test_permitted_ips_expiry_and_a_bound_user(either: Sdk) -> None:
    keys = either.client.mgmt.access_key
    elsewhere = await either(keys.create(unique("ak-ip"), permitted_ips=["10.0.0.1", "192.168.1.0/24"]))
    with pytest.raises(AuthException) as not_from_here:
        await _exchange(either, elsewhere["cleartext"])
    assert refusal(not_from_here) == (401, "E011005")
    soon = await either(keys.create(unique("ak-exp"), expire_time=int(time.time()) + 3600))
    exchanged = await _exchange(either, soon["cleartext"])
    assert exchanged["sessionToken"]["exp"] <= soon["key"]["expireTime"]
    expire = "UPDATE access_keys SET data = json_set(data, '$.expireTime', ?) WHERE id = ?"
    assert write_db(either.sandbox, expire, (int(time.time()) - 1, soon["key"]["id"]))
    with pytest.raises(AuthException) as expired:
        await _exchange(either, soon["cleartext"])
    assert refusal(expired) == (401, "E011005")

    role = unique("ak-user-role")
    await either(either.client.mgmt.role.create(role))
    login_id = unique("ak-user")
    user_id = (await either(either.client.mgmt.user.create(login_id, role_names=[role])))["user"]["userId"]
    bound = await either(keys.create(unique("ak-bound"), user_id=user_id, role_names=[role]))
    assert (bound["key"]["boundUserId"], bound["key"]["roleNames"]) == (user_id, [])
    assert [k["id"] for k in (await either(keys.search_all_access_keys(bound_user_id=user_id)))["keys"]] == [
        bound["key"]["id"]
    ]
    assert (await _exchange(either, bound["cleartext"]))["sessionToken"]["roles"] == [role]
    await either(either.client.mgmt.user.deactivate(login_id))
    with pytest.raises(AuthException) as disabled_user:
        await _exchange(either, bound["cleartext"])
    assert refusal(disabled_user) == (401, "E011005")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"role_names": ["no-such-role"]}, (400, "E011004")),
        ({"key_tenants": [AssociatedTenant("T2NoSuchTenant0000000000000")]}, (404, "E011006")),
        ({"custom_claims": {"sub": "spoofed"}}, (400, "E011004")),
        ({"custom_claims": {"roles": ["admin"]}}, (400, "E011004")),
        ({"permitted_ips": ["not-an-ip"]}, (400, "E011004")),
        ({"expire_time": 1000}, (400, "E011004")),
        ({"user_id": "U2NoSuchUser00000000000000000"}, (400, "E112102")),
    ],
)
async def test_create_refusals(either: Sdk, fields: dict[str, Any], expected: tuple[int, str]) -> None:
    name = unique("ak-bad")
    with pytest.raises(AuthException) as caught:
        await either(either.client.mgmt.access_key.create(name, **fields))
    assert refusal(caught) == expected
    every_key = (await either(either.client.mgmt.access_key.search_all_access_keys()))["keys"]
    assert all(k["name"] != name for k in every_key)


async def test_a_wrong_or_missing_key_is_refused(either: Sdk) -> None:
    with pytest.raises(AuthException) as wrong:
        await _exchange(either, "definitely-not-a-key")
    assert refusal(wrong) == (401, "E011005")
    with pytest.raises(AuthException) as unknown_update:
        await either(either.client.mgmt.access_key.update("K2NoSuchKey000000000000000000", "name"))
    assert refusal(unknown_update) == (404, "E011006")
