"""SSO settings per tenant through both clients: OIDC, SAML by hand and by metadata URL, the v2 load
and the deprecated v1 calls, role mappings against existing roles (the default Tenant Admin too)."""

from __future__ import annotations

from typing import Any

import pytest
from descope import (
    AttributeMapping,
    AuthException,
    OIDCAttributeMapping,
    RoleMapping,
    SSOOIDCSettings,
    SSOSAMLSettings,
    SSOSAMLSettingsByMetadata,
)

from sandbox.conformance.sdk import Sdk, refusal, unique

pytestmark = pytest.mark.asyncio

NO_TENANT = "T2NoSuchTenant0000000000000"


async def _tenant(sdk: Sdk) -> str:
    return str((await sdk(sdk.client.mgmt.tenant.create(unique("sso"))))["id"])


def _domain() -> str:
    return unique("d", "example.org").split("@")[0] + ".example.org"


def _saml(role: str, **more: Any) -> SSOSAMLSettings:
    return SSOSAMLSettings(
        idp_url="https://idp.example.com/saml",
        idp_entity_id="entity1234",
        idp_cert="my certificate",
        attribute_mapping=AttributeMapping(
            name="name", email="email", group="groups", given_name="givenName"
        ),
        role_mappings=[RoleMapping(groups=["grp1", "grp2"], role_name=role)],
        **more,
    )


async def test_oidc_settings(either: Sdk) -> None:
    tenant, domain = await _tenant(either), _domain()
    settings = SSOOIDCSettings(
        name="myProvider",
        client_id="client-id",
        client_secret="secret",
        auth_url="https://idp.example.com/auth",
        token_url="https://idp.example.com/token",
        user_data_url="https://idp.example.com/userInfo",
        scope=["openid", "profile", "email"],
        attribute_mapping=OIDCAttributeMapping(
            login_id="subject",
            name="name",
            given_name="givenName",
            middle_name="middleName",
            family_name="familyName",
            email="email",
            verified_email="verifiedEmail",
            username="username",
            phone_number="phoneNumber",
            verified_phone="verifiedPhone",
            picture="picture",
        ),
    )
    await either(either.client.mgmt.sso.configure_oidc_settings(tenant, settings, [domain]))
    loaded = await either(either.client.mgmt.sso.load_settings(tenant))
    oidc = loaded["oidc"]
    assert (oidc["name"], oidc["clientId"], oidc["clientSecret"]) == ("myProvider", "client-id", "")
    assert (oidc["authUrl"], oidc["tokenUrl"], oidc["userDataUrl"]) == (
        "https://idp.example.com/auth",
        "https://idp.example.com/token",
        "https://idp.example.com/userInfo",
    )
    assert (oidc["scope"], oidc["grantType"]) == (["openid", "profile", "email"], "authorization_code")
    assert oidc["userAttrMapping"]["loginId"] == "subject"
    assert oidc["userAttrMapping"]["verifiedPhone"] == "verifiedPhone"
    assert (loaded["tenant"]["id"], loaded["tenant"]["authType"], loaded["tenant"]["domains"]) == (
        tenant,
        "oidc",
        [domain],
    )
    assert (await either(either.client.mgmt.tenant.load(tenant)))["authType"] == "oidc"
    assert (await either(either.client.mgmt.tenant.load_settings(tenant)))["authType"] == "oidc"


async def test_saml_settings_with_role_mappings_and_default_roles(either: Sdk) -> None:
    role, tenant = unique("sso-role"), await _tenant(either)
    await either(either.client.mgmt.role.create(role))
    saml_settings = _saml(role, default_sso_roles=["Tenant Admin"])
    await either(
        either.client.mgmt.sso.configure_saml_settings(tenant, saml_settings, "https://app.example.com/sso")
    )
    saml = (await either(either.client.mgmt.sso.load_settings(tenant)))["saml"]
    project_id = either.sandbox.project_id
    assert (saml["idpSSOUrl"], saml["idpEntityId"], saml["idpCertificate"]) == (
        "https://idp.example.com/saml",
        "entity1234",
        "my certificate",
    )
    assert saml["spEntityId"] == f"{project_id}-{tenant}"
    assert f"projectId={project_id}" in saml["spACSUrl"]
    assert f"tenantId={tenant}" in saml["spACSUrl"]
    assert (saml["attributeMapping"]["group"], saml["attributeMapping"]["givenName"]) == (
        "groups",
        "givenName",
    )
    assert saml["groupsMapping"] == [{"role": {"name": role}, "groups": ["grp1", "grp2"]}]
    assert (saml["defaultSSORoles"], saml["redirectUrl"]) == (["Tenant Admin"], "https://app.example.com/sso")
    await either(either.client.mgmt.sso.configure_saml_settings(tenant, _saml(role)))
    kept = (await either(either.client.mgmt.sso.load_settings(tenant)))["saml"]
    assert (kept["defaultSSORoles"], kept["redirectUrl"]) == (["Tenant Admin"], "https://app.example.com/sso")
    await either(either.client.mgmt.sso.configure_saml_settings(tenant, _saml(role, default_sso_roles=[])))
    assert (await either(either.client.mgmt.sso.load_settings(tenant)))["saml"]["defaultSSORoles"] == []


async def test_saml_by_metadata_url(either: Sdk) -> None:
    tenant = await _tenant(either)
    settings = SSOSAMLSettingsByMetadata(
        idp_metadata_url="https://idp.example.com/metadata",
        attribute_mapping=AttributeMapping(name="name", group="groups"),
        role_mappings=[RoleMapping(groups=["admins"], role_name="Tenant Admin")],
    )
    await either(either.client.mgmt.sso.configure_saml_settings_by_metadata(tenant, settings))
    saml = (await either(either.client.mgmt.sso.load_settings(tenant)))["saml"]
    assert (saml["idpMetadataUrl"], saml["idpSSOUrl"]) == ("https://idp.example.com/metadata", "")
    assert saml["spEntityId"] == f"{either.sandbox.project_id}-{tenant}"
    assert saml["groupsMapping"] == [{"role": {"name": "Tenant Admin"}, "groups": ["admins"]}]
    all_settings = await either(either.client.mgmt.sso.load_all_settings(tenant))
    assert [s["saml"]["idpMetadataUrl"] for s in all_settings["SSOSettings"]] == [
        "https://idp.example.com/metadata"
    ]


async def test_deprecated_v1_calls(either: Sdk) -> None:
    sso, tenant = either.client.mgmt.sso, await _tenant(either)
    project_id = either.sandbox.project_id
    empty = await either(sso.get_settings(tenant))
    assert (empty["tenantId"], empty["idpEntityId"], empty["idpSSOUrl"], empty["idpCertificate"]) == (
        tenant,
        "",
        "",
        "",
    )
    assert (empty["spEntityId"], empty["groupsMapping"], empty["domains"], empty["domain"]) == (
        f"{project_id}-{tenant}",
        [],
        [],
        "",
    )
    assert empty["userMapping"] == {
        "name": "name",
        "email": "email",
        "username": "",
        "phoneNumber": "phone",
        "group": "",
        "givenName": "",
        "middleName": "",
        "familyName": "",
        "picture": "",
        "verifiedEmail": "",
        "verifiedPhone": "",
        "customAttributes": {},
    }
    first, second = _domain(), _domain()
    await either(
        sso.configure(
            tenant,
            "http://idp.example.com",
            "entity",
            "mycert",
            "https://redirect.example.com",
            [first, second],
        )
    )
    configured = await either(sso.get_settings(tenant))
    assert (configured["idpEntityId"], configured["idpSSOUrl"], configured["idpCertificate"]) == (
        "entity",
        "http://idp.example.com",
        "mycert",
    )
    assert (configured["redirectUrl"], configured["domain"], set(configured["domains"])) == (
        "https://redirect.example.com",
        first,
        {first, second},
    )
    await either(sso.configure_via_metadata(tenant, "http://idp.example.com/metadata", domains=[second]))
    await either(sso.mapping(tenant, [RoleMapping(["a"], "Tenant Admin")], AttributeMapping(name="MyName")))
    mapped = await either(sso.get_settings(tenant))
    assert (mapped["idpMetadataUrl"], mapped["redirectUrl"], mapped["domain"]) == (
        "http://idp.example.com/metadata",
        "https://redirect.example.com",
        second,
    )
    assert mapped["userMapping"]["name"] == "MyName"
    assert (mapped["userMapping"]["email"], mapped["userMapping"]["phoneNumber"]) == ("", "")
    assert mapped["groupsMapping"] == [{"role": {"name": "Tenant Admin"}, "groups": ["a"]}]
    await either(sso.delete_settings(tenant))
    deleted = await either(sso.get_settings(tenant))
    assert (deleted["idpEntityId"], deleted["idpSSOUrl"], deleted["idpCertificate"], deleted["domains"]) == (
        "",
        "",
        "",
        [],
    )
    assert (await either(either.client.mgmt.tenant.load(tenant)))["authType"] == "none"


async def test_redirect_urls_auth_type_and_recalculation(either: Sdk) -> None:
    sso, tenant = either.client.mgmt.sso, await _tenant(either)
    await either(sso.configure_saml_settings(tenant, _saml("Tenant Admin")))
    await either(sso.configure_sso_redirect_url(tenant, saml_redirect_url="https://app.example.com/saml"))
    assert (await either(sso.load_settings(tenant)))["saml"]["redirectUrl"] == "https://app.example.com/saml"
    await either(sso.configure_auth_type(tenant, "none"))
    loaded = await either(sso.load_settings(tenant))
    assert (loaded["tenant"]["authType"], loaded["saml"]["idpEntityId"]) == ("none", "entity1234")
    await either(sso.configure_auth_type(tenant, "saml"))
    assert (await either(either.client.mgmt.tenant.load(tenant)))["authType"] == "saml"
    with pytest.raises(AuthException) as no_oidc:
        await either(sso.configure_auth_type(tenant, "oidc"))
    assert refusal(no_oidc) == (400, "E011004")
    await either(sso.recalculate_sso_mappings(tenant))
    with pytest.raises(AuthException) as multi:
        await either(sso.new_settings(tenant, "Second IdP"))
    assert refusal(multi) == (404, "E011006")


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unknown role", (400, "E011004")),
        ("unknown default role", (400, "E011004")),
        ("unknown tenant", (404, "E011006")),
        ("bad url", (400, "E011004")),
        ("unclosed IPv6 url", (400, "E011004")),
        ("no idp url", (400, "E011002")),
        ("bad domain", (400, "E011004")),
    ],
)
async def test_refusals_change_nothing(either: Sdk, case: str, expected: tuple[int, str]) -> None:
    sso, tenant = either.client.mgmt.sso, await _tenant(either)
    settings, target, domains = _saml("Tenant Admin"), tenant, None
    if case == "unknown role":
        settings = _saml("no-such-role")
    elif case == "unknown default role":
        settings = _saml("Tenant Admin", default_sso_roles=["no-such-role"])
    elif case == "unknown tenant":
        target = NO_TENANT
    elif case == "bad url":
        settings.idp_url = "ftp://idp.example.com"
    elif case == "unclosed IPv6 url":
        settings.idp_url = "http://[::1/saml"
    elif case == "no idp url":
        settings.idp_url = ""
    elif case == "bad domain":
        domains = ["https://not a domain"]
    with pytest.raises(AuthException) as caught:
        await either(sso.configure_saml_settings(target, settings, domains=domains))
    assert refusal(caught) == expected
    if target == tenant:
        loaded = await either(sso.load_settings(tenant))
        assert (loaded["saml"]["idpSSOUrl"], loaded["tenant"]["authType"]) == ("", "none")


async def test_a_domain_belongs_to_one_tenant(either: Sdk) -> None:
    first, second, domain = await _tenant(either), await _tenant(either), _domain()
    await either(
        either.client.mgmt.sso.configure_saml_settings(first, _saml("Tenant Admin"), domains=[domain])
    )
    with pytest.raises(AuthException) as taken:
        await either(
            either.client.mgmt.sso.configure_saml_settings(second, _saml("Tenant Admin"), domains=[domain])
        )
    assert refusal(taken) == (400, "E011004")
    await either(either.client.mgmt.tenant.delete(first))
    await either(
        either.client.mgmt.sso.configure_saml_settings(second, _saml("Tenant Admin"), domains=[domain])
    )
