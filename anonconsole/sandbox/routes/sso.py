"""SSO settings per tenant (`mgmt.sso`): SAML (by hand or by metadata URL) and OIDC, the v2 load and
the deprecated v1 calls, role mappings against existing roles.

What Descope answers is followed where its SDKs' end-to-end tests read it: the OIDC client secret is
never returned, the service provider's entity ID is `<projectId>-<tenantId>` and its ACS URL names
both, v1's `domain` is the first domain. A redirect URL or default roles not sent keep their value;
domains not sent are reset (as the SDK documents). The sandbox never fetches a metadata URL (it works
offline): the URL is kept and shown, the IdP's own fields stay as configured by hand, or empty. It
signs no SAML requests, so its SP certificate is empty. One configuration per tenant: multi-SSO and
cross-app access (XAA) calls are answered with a 404 that says so.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse

from anonconsole.sandbox import errors
from anonconsole.sandbox.body import Body
from anonconsole.sandbox.routes.common import RouteTable, bounded, context, context_and_body, ok
from anonconsole.sandbox.store import MANAGEMENT_ACTOR

route = RouteTable()
routes = route.routes

SSO = "/v1/mgmt/sso"
SAML_MAPPING_DEFAULT: dict[str, Any] = {
    "name": "name",
    "email": "email",
    "username": "",
    "phoneNumber": "phone",
    "group": "",
    "givenName": "",
    "middleName": "",
    "familyName": "",
    "picture": "",
    "customAttributes": {},
}
# v1's `userMapping` also names the verified flags.
V1_MAPPING_EXTRA = {"verifiedEmail": "", "verifiedPhone": ""}
OIDC_MAPPING_DEFAULT: dict[str, str] = {
    "loginId": "sub",
    "username": "",
    "name": "name",
    "email": "email",
    "phoneNumber": "phone_number",
    "verifiedEmail": "email_verified",
    "verifiedPhone": "phone_number_verified",
    "picture": "picture",
    "givenName": "given_name",
    "middleName": "middle_name",
    "familyName": "family_name",
}
SAML_TEXT = ("idpEntityId", "idpSSOUrl", "idpCertificate", "idpMetadataUrl", "redirectUrl")
OIDC_TEXT = (
    "name",
    "clientId",
    "redirectUrl",
    "authUrl",
    "tokenUrl",
    "userDataUrl",
    "JWKsUrl",
    "callbackDomain",
    "issuer",
)
GRANT_TYPES = ("authorization_code", "implicit")
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


# -- reading and checking what is sent ------------------------------------------------------------


def _url(name: str, value: str | None) -> str | None:
    """An http(s) URL with a host, or "" (cleared), or None (not sent)."""
    if value:
        try:
            parts = urlsplit(value)
            usable = parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:  # e.g. an unclosed IPv6 bracket
            usable = False
        if not usable:
            raise errors.invalid_argument(f"{name} must be an http(s) URL ({value[:80]!r} sent)")
    return value


def _domains(request: Request, tenant_id: str, value: list[str] | None) -> list[str]:
    """SSO domains as sent (None or [] resets them), each a host name no other tenant uses."""
    domains = [d.strip().lower() for d in value or []]
    bounded("domains", domains, 100)
    store = context(request).store
    for domain in domains:
        if not _DOMAIN.fullmatch(domain):
            raise errors.invalid_argument(f"domains: {domain[:80]!r} is no domain name (e.g. example.com)")
        owner = store.sso_domain_owner(domain, other_than=tenant_id)
        if owner is not None:
            raise errors.invalid_argument(f"domains: {domain} is already an SSO domain of tenant {owner}")
    return list(dict.fromkeys(domains))


def _known_roles(request: Request, tenant_id: str, names: list[str]) -> None:
    context(request).store.check_role_names(names, tenant_id)


def _role_mappings(request: Request, tenant_id: str, value: list[Any] | None) -> list[dict[str, Any]]:
    """`[{groups, roleName}]` as stored, each role an existing one (the project's or the tenant's)."""
    mappings: list[dict[str, Any]] = []
    for item in value or []:
        if not isinstance(item, dict):
            raise errors.validation_failed("roleMappings must be a list of objects")
        m = Body(item)
        groups = m.strings("groups") or []
        role = m.text("roleName", required=True) or ""
        m.done()
        mappings.append({"groups": groups, "roleName": role})
    bounded("roleMappings", mappings, 1000)
    _known_roles(request, tenant_id, [m["roleName"] for m in mappings])
    return mappings


def _mapping(b: Body, field: str, defaults: dict[str, Any]) -> dict[str, Any] | None:
    """An attribute mapping object: every known key as a string ("" for null), customAttributes an
    object of strings; None when not sent."""
    raw = b.obj(field)
    if raw is None:
        return None
    m = Body(raw)
    mapping: dict[str, Any] = {}
    for key in defaults:
        if key == "customAttributes":
            custom = m.obj(key) or {}
            if not all(isinstance(v, str) for v in custom.values()):
                raise errors.validation_failed(f"{field}.customAttributes must map names to strings")
            mapping[key] = custom
        else:
            mapping[key] = m.text(key) or ""
    m.ignore("verifiedEmail", "verifiedPhone")
    m.done()
    return mapping


def _strings_or_none(b: Body, name: str) -> list[str] | None:
    values = b.strings(name)
    if values is not None:
        bounded(name, values, 1000)
    return values


# -- answers ---------------------------------------------------------------------------------------


def _sp(request: Request, tenant_id: str, saml: dict[str, Any]) -> tuple[str, str]:
    """(SP entity ID, ACS URL): as configured (an SSO migration), else the project's for the tenant."""
    project_id = context(request).project_id
    acs = f"{request.base_url}v1/auth/saml/acs?projectId={project_id}&tenantId={tenant_id}"
    return saml.get("spEntityId") or f"{project_id}-{tenant_id}", saml.get("spACSUrl") or acs


def _groups_mapping(saml: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": {"name": m["roleName"]}, "groups": m["groups"]} for m in saml.get("roleMappings", [])]


def _saml_answer(request: Request, tenant_id: str, saml: dict[str, Any]) -> dict[str, Any]:
    sp_entity, sp_acs = _sp(request, tenant_id, saml)
    return {
        **{name: saml.get(name, "") for name in SAML_TEXT},
        "idpAdditionalCertificates": saml.get("idpAdditionalCertificates", []),
        "spEntityId": sp_entity,
        "spACSUrl": sp_acs,
        "spCertificate": "",
        "attributeMapping": {**SAML_MAPPING_DEFAULT, **saml.get("attributeMapping", {})},
        "groupsMapping": _groups_mapping(saml),
        "defaultSSORoles": saml.get("defaultSSORoles", []),
        "groupsPriority": saml.get("groupsPriority", []),
        "fgaMappings": saml.get("fgaMappings", {}),
        "configFGATenantIDResourcePrefix": saml.get("configFGATenantIDResourcePrefix", ""),
        "configFGATenantIDResourceSuffix": saml.get("configFGATenantIDResourceSuffix", ""),
        "disableSignRequest": bool(saml.get("disableSignRequest")),
        "lastSuccessTestTime": 0,
    }


def _oidc_answer(oidc: dict[str, Any]) -> dict[str, Any]:
    return {
        **{name: oidc.get(name, "") for name in OIDC_TEXT},
        "clientSecret": "",  # never returned (Descope redacts it)
        "scope": oidc.get("scope", []),
        "userAttrMapping": {**OIDC_MAPPING_DEFAULT, **oidc.get("userAttrMapping", {})},
        "manageProviderTokens": bool(oidc.get("manageProviderTokens")),
        "prompt": oidc.get("prompt", []),
        "grantType": oidc.get("grantType") or "authorization_code",
        "groupsPriority": oidc.get("groupsPriority", []),
        "fgaMappings": oidc.get("fgaMappings", {}),
        "usePkce": bool(oidc.get("usePkce")),
        "lastSuccessTestTime": 0,
    }


def _v2(request: Request, tenant_id: str) -> dict[str, Any]:
    store = context(request).store
    settings = store.sso_settings(tenant_id)
    return {
        "tenant": store.tenant(tenant_id),
        "saml": _saml_answer(request, tenant_id, settings["saml"]),
        "oidc": _oidc_answer(settings["oidc"]),
        "ssoId": "",
    }


def _tenant_id(request: Request) -> str:
    tenant_id = request.query_params.get("tenantId")
    if not tenant_id:
        raise errors.missing_argument("tenantId")
    _single_configuration(request.query_params.get("ssoId"))
    return tenant_id


def _single_configuration(sso_id: str | None) -> None:
    if sso_id:
        raise errors.not_found(
            f"SSO configuration {sso_id[:40]!r} not found: the sandbox keeps one SSO configuration per "
            "tenant (omit ssoId)"
        )


def _saved(
    request: Request, tenant_id: str, settings: dict[str, Any], *, auth_type: str, domains: list[str] | None
) -> None:
    ctx = context(request)
    ctx.store.set_sso_settings(tenant_id, settings, auth_type=auth_type, domains=domains)
    ctx.store.add_audit("SSOSettingsUpdated", tenants=[tenant_id], actor_id=MANAGEMENT_ACTOR, at=ctx.clock())


# -- v2 -------------------------------------------------------------------------------------------


@route("/v2/mgmt/sso/settings", "GET")
async def load_settings(request: Request) -> JSONResponse:
    return ok(_v2(request, _tenant_id(request)))


@route("/v2/mgmt/sso/settings/all", "GET")
async def load_all_settings(request: Request) -> JSONResponse:
    return ok({"SSOSettings": [_v2(request, _tenant_id(request))]})


@route(f"{SSO}/oidc", "POST")
async def configure_oidc(request: Request) -> JSONResponse:
    """Replaces the OIDC settings (a client secret not sent, or `usePkce` not sent, keeps its value)."""
    ctx, b = await context_and_body(request)
    tenant_id = b.text("tenantId", required=True) or ""
    s = Body(b.obj("settings", required=True) or {})
    current = ctx.store.sso_settings(tenant_id)
    oidc: dict[str, Any] = {
        name: s.text(name) or "" for name in ("name", "clientId", "callbackDomain", "issuer")
    }
    for name in ("redirectUrl", "authUrl", "tokenUrl", "userDataUrl", "JWKsUrl"):
        oidc[name] = _url(name, s.text(name)) or ""
    for name in ("name", "clientId"):
        if not oidc[name]:
            raise errors.missing_argument(f"settings.{name}")
    secret = s.text("clientSecret")
    oidc["clientSecret"] = current["oidc"].get("clientSecret", "") if secret is None else secret
    oidc["scope"] = _strings_or_none(s, "scope") or []
    oidc["prompt"] = _strings_or_none(s, "prompt") or []
    oidc["groupsPriority"] = _strings_or_none(s, "groupsPriority") or []
    oidc["userAttrMapping"] = _mapping(s, "userAttrMapping", OIDC_MAPPING_DEFAULT) or {}
    oidc["manageProviderTokens"] = bool(s.flag("manageProviderTokens"))
    oidc["fgaMappings"] = s.obj("fgaMappings") or {}
    grant = s.text("grantType") or "authorization_code"
    if grant not in GRANT_TYPES:
        raise errors.invalid_argument(f"settings.grantType must be one of: {', '.join(GRANT_TYPES)}")
    oidc["grantType"] = grant
    pkce = s.flag("usePkce")
    oidc["usePkce"] = bool(current["oidc"].get("usePkce")) if pkce is None else pkce
    if oidc["usePkce"] and grant == "implicit":
        raise errors.invalid_argument("settings.usePkce is not allowed with the implicit grant type")
    s.done()
    domains = _domains(request, tenant_id, _strings_or_none(b, "domains"))
    b.done()
    _saved(request, tenant_id, {**current, "oidc": oidc}, auth_type="oidc", domains=domains)
    return ok()


def _saml_common(request: Request, tenant_id: str, s: Body, current: dict[str, Any]) -> dict[str, Any]:
    """The fields SAML by hand and by metadata share: mappings, roles, SP overrides, FGA, signing."""
    saml: dict[str, Any] = {
        "idpEntityId": s.text("entityId") or "",
        "spACSUrl": _url("settings.spACSUrl", s.text("spACSUrl")) or "",
        "spEntityId": s.text("spEntityId") or "",
        "attributeMapping": _mapping(s, "attributeMapping", SAML_MAPPING_DEFAULT)
        or current.get("attributeMapping", {}),
        "roleMappings": _role_mappings(request, tenant_id, s.array("roleMappings")),
        "groupsPriority": _strings_or_none(s, "groupsPriority") or [],
        "fgaMappings": s.obj("fgaMappings") or {},
        "configFGATenantIDResourcePrefix": s.text("configFGATenantIDResourcePrefix") or "",
        "configFGATenantIDResourceSuffix": s.text("configFGATenantIDResourceSuffix") or "",
        "disableSignRequest": bool(s.flag("disableSignRequest")),
        "redirectUrl": current.get("redirectUrl", ""),
    }
    defaults = _strings_or_none(s, "defaultSSORoles")
    replace = bool(s.flag("replaceDefaultSSORoles"))
    if defaults or replace:
        _known_roles(request, tenant_id, defaults or [])
        saml["defaultSSORoles"] = defaults or []
    else:
        saml["defaultSSORoles"] = current.get("defaultSSORoles", [])
    return saml


async def _configure_saml(request: Request, *, by_metadata: bool) -> JSONResponse:
    ctx, b = await context_and_body(request)
    tenant_id = b.text("tenantId", required=True) or ""
    s = Body(b.obj("settings", required=True) or {})
    current = ctx.store.sso_settings(tenant_id)
    saml = _saml_common(request, tenant_id, s, current["saml"])
    if by_metadata:
        url = _url("settings.idpMetadataUrl", s.text("idpMetadataUrl"))
        if not url:
            raise errors.missing_argument("settings.idpMetadataUrl")
        saml.update(idpMetadataUrl=url, idpSSOUrl="", idpCertificate="", idpAdditionalCertificates=[])
    else:
        saml["idpSSOUrl"] = _url("settings.idpUrl", s.text("idpUrl")) or ""
        saml["idpCertificate"] = s.text("idpCert") or ""
        saml["idpAdditionalCertificates"] = _strings_or_none(s, "idpAdditionalCerts") or []
        for name, sent in (
            ("idpUrl", "idpSSOUrl"),
            ("entityId", "idpEntityId"),
            ("idpCert", "idpCertificate"),
        ):
            if not saml[sent]:
                raise errors.missing_argument(f"settings.{name}")
        saml["idpMetadataUrl"] = ""
    s.done()
    redirect = _url("redirectUrl", b.text("redirectUrl"))
    if redirect is not None:
        saml["redirectUrl"] = redirect
    domains = _domains(request, tenant_id, _strings_or_none(b, "domains"))
    b.done()
    _saved(request, tenant_id, {**current, "saml": saml}, auth_type="saml", domains=domains)
    return ok()


@route(f"{SSO}/saml", "POST")
async def configure_saml(request: Request) -> JSONResponse:
    return await _configure_saml(request, by_metadata=False)


@route(f"{SSO}/saml/metadata", "POST")
async def configure_saml_by_metadata(request: Request) -> JSONResponse:
    return await _configure_saml(request, by_metadata=True)


@route(f"{SSO}/redirect", "POST")
async def configure_redirect_urls(request: Request) -> JSONResponse:
    """Only the redirect URLs given change (SAML's and OIDC's)."""
    ctx, b = await context_and_body(request)
    tenant_id = b.text("tenantId", required=True) or ""
    _single_configuration(b.text("ssoId"))
    saml_url = _url("samlRedirectUrl", b.text("samlRedirectUrl"))
    oauth_url = _url("oauthRedirectUrl", b.text("oauthRedirectUrl"))
    b.done()
    current = ctx.store.sso_settings(tenant_id)
    if saml_url is not None:
        current["saml"] = {**current["saml"], "redirectUrl": saml_url}
    if oauth_url is not None:
        current["oidc"] = {**current["oidc"], "redirectUrl": oauth_url}
    tenant = ctx.store.tenant(tenant_id) or {}
    _saved(request, tenant_id, current, auth_type=tenant.get("authType") or "none", domains=None)
    return ok()


@route(f"{SSO}/settings/authtype", "POST")
async def configure_auth_type(request: Request) -> JSONResponse:
    """Switch the tenant's SSO between none, SAML and OIDC, leaving every stored setting in place."""
    ctx, b = await context_and_body(request)
    tenant_id = b.text("tenantId", required=True) or ""
    auth_type = b.text("authType", required=True) or ""
    _single_configuration(b.text("ssoId"))
    b.done()
    if auth_type not in ("none", "saml", "oidc"):
        raise errors.invalid_argument("authType must be none, saml or oidc")
    current = ctx.store.sso_settings(tenant_id)
    if auth_type != "none" and not current[auth_type]:
        raise errors.invalid_argument(
            f"The tenant has no {auth_type.upper()} settings to enable: configure them first"
        )
    _saved(request, tenant_id, current, auth_type=auth_type, domains=None)
    return ok()


@route(f"{SSO}/recalculate-mappings", "POST")
async def recalculate_mappings(request: Request) -> JSONResponse:
    """Sandbox users carry no IdP groups (nobody signs in by SSO here), so recalculating the group to
    role mappings of the tenant's users changes nothing; the tenant must exist."""
    ctx, b = await context_and_body(request)
    tenant_id = b.text("tenantId", required=True) or ""
    _single_configuration(b.text("ssoId"))
    b.done()
    ctx.store.sso_settings(tenant_id)
    return ok()


# -- v1 (deprecated in the SDK, still served) -------------------------------------------------------


@route(f"{SSO}/settings", "POST")
async def configure_v1(request: Request) -> JSONResponse:
    """`configure`: SAML by hand, the redirect URL as sent ("" resets), domains as sent."""
    ctx, b = await context_and_body(request)
    tenant_id = b.text("tenantId", required=True) or ""
    current = ctx.store.sso_settings(tenant_id)
    saml = dict(current["saml"])
    saml["idpSSOUrl"] = _url("idpURL", b.text("idpURL", required=True)) or ""
    saml["idpEntityId"] = b.text("entityId", required=True) or ""
    saml["idpCertificate"] = b.text("idpCert", required=True) or ""
    saml["idpMetadataUrl"] = ""
    saml["redirectUrl"] = _url("redirectURL", b.text("redirectURL")) or ""
    domains = _domains(request, tenant_id, _strings_or_none(b, "domains"))
    b.done()
    _saved(request, tenant_id, {**current, "saml": saml}, auth_type="saml", domains=domains)
    return ok()


@route(f"{SSO}/settings", "GET")
async def get_settings_v1(request: Request) -> JSONResponse:
    tenant_id = _tenant_id(request)
    store = context(request).store
    saml = store.sso_settings(tenant_id)["saml"]
    answer = _saml_answer(request, tenant_id, saml)
    domains = (store.tenant(tenant_id) or {}).get("domains", [])
    return ok(
        {
            "tenantId": tenant_id,
            **{
                name: answer[name]
                for name in ("idpEntityId", "idpSSOUrl", "idpCertificate", "idpMetadataUrl")
            },
            "spEntityId": answer["spEntityId"],
            "spACSUrl": answer["spACSUrl"],
            "spCertificate": "",
            "userMapping": {**SAML_MAPPING_DEFAULT, **V1_MAPPING_EXTRA, **saml.get("attributeMapping", {})},
            "groupsMapping": answer["groupsMapping"],
            "redirectUrl": answer["redirectUrl"],
            "domains": domains,
            "domain": domains[0] if domains else "",
        }
    )


@route(f"{SSO}/settings", "DELETE")
async def delete_settings(request: Request) -> JSONResponse:
    ctx = context(request)
    tenant_id = _tenant_id(request)
    ctx.store.delete_sso_settings(tenant_id)
    ctx.store.add_audit("SSOSettingsDeleted", tenants=[tenant_id], actor_id=MANAGEMENT_ACTOR, at=ctx.clock())
    return ok()


@route(f"{SSO}/metadata", "POST")
async def configure_via_metadata_v1(request: Request) -> JSONResponse:
    """`configure_via_metadata`: a redirect URL not sent keeps its value; domains as sent."""
    ctx, b = await context_and_body(request)
    tenant_id = b.text("tenantId", required=True) or ""
    current = ctx.store.sso_settings(tenant_id)
    saml = dict(current["saml"])
    saml["idpMetadataUrl"] = _url("idpMetadataURL", b.text("idpMetadataURL", required=True)) or ""
    redirect = _url("redirectURL", b.text("redirectURL"))
    if redirect is not None:
        saml["redirectUrl"] = redirect
    domains = _domains(request, tenant_id, _strings_or_none(b, "domains"))
    b.done()
    _saved(request, tenant_id, {**current, "saml": saml}, auth_type="saml", domains=domains)
    return ok()


@route(f"{SSO}/mapping", "POST")
async def mapping_v1(request: Request) -> JSONResponse:
    """`mapping`: replaces the role mappings and the attribute mapping (keys not sent are empty)."""
    ctx, b = await context_and_body(request)
    tenant_id = b.text("tenantId", required=True) or ""
    current = ctx.store.sso_settings(tenant_id)
    saml = dict(current["saml"])
    saml["roleMappings"] = _role_mappings(request, tenant_id, b.array("roleMappings"))
    attributes = _mapping(b, "attributeMapping", SAML_MAPPING_DEFAULT)
    if attributes is None:
        raise errors.missing_argument("attributeMapping")
    saml["attributeMapping"] = attributes
    b.done()
    tenant = ctx.store.tenant(tenant_id) or {}
    _saved(
        request,
        tenant_id,
        {**current, "saml": saml},
        auth_type=tenant.get("authType") or "saml",
        domains=None,
    )
    return ok()


# -- not served ---------------------------------------------------------------------------------------


async def _not_served(request: Request) -> JSONResponse:
    raise errors.not_found(
        "Not served by the sandbox: it keeps one SSO configuration per tenant (no multi-SSO) and no "
        "cross-app access (XAA) settings"
    )


for _path, _methods in (
    (f"{SSO}/settings/new", ("POST",)),
    (f"{SSO}/xaa/settings", ("GET", "POST", "DELETE")),
    (f"{SSO}/xaa/settings/all", ("GET",)),
):
    route.add(_path, _not_served, *_methods)
