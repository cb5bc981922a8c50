"""Management of tenants and of their session settings."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from anonconsole.sandbox import errors
from anonconsole.sandbox.body import Body
from anonconsole.sandbox.routes.common import Handler, RouteTable, context, context_and_body, ok, read_body
from anonconsole.sandbox.store import MANAGEMENT_ACTOR, UNIT_SECONDS, Store

route = RouteTable()
routes = route.routes


def _tenant_fields(b: Body) -> dict[str, Any]:
    read = {
        "selfProvisioningDomains": b.strings("selfProvisioningDomains"),
        "customAttributes": b.obj("customAttributes"),
        "enforceSSO": b.flag("enforceSSO"),
        "enforceSSOExclusions": b.strings("enforceSSOExclusions"),
        "federatedAppIds": b.strings("federatedAppIds"),
        "disabled": b.flag("disabled"),
        "parent": b.text("parent"),
    }
    return {k: v for k, v in read.items() if v is not None}


@route("/v1/mgmt/tenant/create", "POST")
async def tenant_create(request: Request) -> JSONResponse:
    ctx, b = await context_and_body(request)
    name = b.text("name", required=True) or ""
    tenant_id = b.text("id")
    fields = _tenant_fields(b)
    b.done()
    tenant = ctx.store.create_tenant(name, tenant_id=tenant_id, fields=fields, at=ctx.clock())
    ctx.store.add_audit(
        "TenantCreated", tenants=[tenant["id"]], actor_id=MANAGEMENT_ACTOR, data={"name": name}
    )
    return ok({"id": tenant["id"]})


def _tenant_writer(*, replace: bool) -> Handler:
    async def handler(request: Request) -> JSONResponse:
        ctx, b = await context_and_body(request)
        tenant_id = b.text("id", required=True) or ""
        name = b.text("name", required=replace)
        fields = _tenant_fields(b)
        if not replace and (inheritance := b.text("roleInheritance")) is not None:
            if inheritance not in ("", "none", "userOnly"):
                raise errors.invalid_argument("roleInheritance must be none or userOnly")
            fields["roleInheritance"] = inheritance
        b.done()
        ctx.store.update_tenant(tenant_id, name=name, fields=fields, replace=replace)
        ctx.store.add_audit("TenantUpdated", tenants=[tenant_id], actor_id=MANAGEMENT_ACTOR)
        return ok()

    return handler


route.add("/v1/mgmt/tenant/update", _tenant_writer(replace=True), "POST")
route.add("/v1/mgmt/tenant/patch", _tenant_writer(replace=False), "PATCH")


@route("/v1/mgmt/tenant/delete", "POST")
async def tenant_delete(request: Request) -> JSONResponse:
    ctx, b = await context_and_body(request)
    tenant_id = b.text("id", required=True) or ""
    cascade = bool(b.flag("cascade"))
    b.done()
    deleted = ctx.store.delete_tenant(tenant_id, cascade=cascade)
    ctx.store.remove_tenant_from_keys(tenant_id)
    data = {"cascade": cascade, "deletedUsers": len(deleted)}
    ctx.store.add_audit("TenantDeleted", tenants=[tenant_id], actor_id=MANAGEMENT_ACTOR, data=data)
    return ok()


def _tenant_or_404(store: Store, request: Request) -> dict[str, Any]:
    tenant_id = request.query_params.get("id")
    if not tenant_id:
        raise errors.missing_argument("id")
    tenant = store.tenant(tenant_id)
    if tenant is None:
        raise errors.tenant_not_found(tenant_id)
    return tenant


@route("/v1/mgmt/tenant", "GET")
async def tenant_load(request: Request) -> JSONResponse:
    return ok(_tenant_or_404(context(request).store, request))


@route("/v1/mgmt/tenant/all", "GET")
async def tenant_all(request: Request) -> JSONResponse:
    return ok({"tenants": context(request).store.tenants()})


@route("/v1/mgmt/tenant/search", "POST")
async def tenant_search(request: Request) -> JSONResponse:
    b = await read_body(request)
    ids = b.strings("tenantIds")
    names = b.strings("tenantNames")
    domains = b.strings("tenantSelfProvisioningDomains")
    attributes = b.obj("customAttributes")
    b.done()

    def matches(t: dict[str, Any]) -> bool:
        return (
            (not ids or t["id"] in ids)
            and (not names or t["name"] in names)
            and (not domains or bool(set(domains) & set(t["selfProvisioningDomains"])))
            and all(t["customAttributes"].get(k) == v for k, v in (attributes or {}).items())
        )

    return ok({"tenants": [t for t in context(request).store.tenants() if matches(t)]})


SETTINGS_FIELDS: dict[str, str] = {
    "domains": "strings",
    "authType": "text",
    "enabled": "flag",
    "refreshTokenExpiration": "integer",
    "refreshTokenExpirationUnit": "text",
    "sessionTokenExpiration": "integer",
    "sessionTokenExpirationUnit": "text",
    "stepupTokenExpiration": "integer",
    "stepupTokenExpirationUnit": "text",
    "enableInactivity": "flag",
    "inactivityTime": "integer",
    "inactivityTimeUnit": "text",
    "JITDisabled": "flag",
    "ssoSetupSuiteSettings": "obj",
}


# The longest lifetime accepted (chosen: Descope documents no maximum): 2^31-1 seconds, about 68
# years, which every token's `exp` and every date derived from it can still express.
MAX_LIFETIME_SECONDS = 2**31 - 1


def _validate_settings(s: dict[str, Any]) -> None:
    """Units, auth type, the documented lifetime rule (session ≥ 3 minutes and ≤ refresh) and the
    sandbox's bound on any lifetime (MAX_LIFETIME_SECONDS)."""
    if s["authType"] not in ("none", "saml", "oidc"):
        raise errors.invalid_argument("authType must be none, saml or oidc")
    for prefix in ("refreshToken", "sessionToken", "stepupToken", "inactivity"):
        amount_key = f"{prefix}Expiration" if prefix != "inactivity" else "inactivityTime"
        unit = s[f"{amount_key}Unit"]
        if s[amount_key] < 0:
            raise errors.invalid_argument(f"{amount_key} must not be negative")
        if unit not in UNIT_SECONDS and not (unit == "" and prefix in ("stepupToken", "inactivity")):
            raise errors.invalid_argument(f"{amount_key}Unit must be one of: {', '.join(UNIT_SECONDS)}")
        if s[amount_key] * UNIT_SECONDS.get(unit, 0) > MAX_LIFETIME_SECONDS:
            raise errors.invalid_argument(
                f"{amount_key} is too long: at most {MAX_LIFETIME_SECONDS} seconds (about 68 years)"
            )
    session = s["sessionTokenExpiration"] * UNIT_SECONDS[s["sessionTokenExpirationUnit"]]
    refresh = s["refreshTokenExpiration"] * UNIT_SECONDS[s["refreshTokenExpirationUnit"]]
    if session < 180:
        raise errors.invalid_argument("Session token expiration must be at least 3 minutes")
    if session > refresh:
        raise errors.invalid_argument(
            "Session token expiration must not be longer than refresh token expiration"
        )


# Declared before the GET route of the same path: a 405 there lists the first route's methods (POST).
@route("/v1/mgmt/tenant/settings", "POST")
async def tenant_settings_update(request: Request) -> JSONResponse:
    """Merges into the current settings (fields the SDK drops as None keep their value), except
    `selfProvisioningDomains`, which is overwritten as sent."""
    ctx, b = await context_and_body(request)
    tenant_id = b.text("tenantId", required=True) or ""
    current = ctx.store.tenant_settings(tenant_id)
    if current is None:
        raise errors.tenant_not_found(tenant_id)
    sent = {
        name: b.integer(name, bits=32) if kind == "integer" else getattr(b, kind)(name)
        for name, kind in SETTINGS_FIELDS.items()
    }
    tenant_fields = {
        "selfProvisioningDomains": b.strings("selfProvisioningDomains") or [],
        **{
            k: v
            for k, v in _tenant_fields(b).items()
            if k in ("enforceSSO", "enforceSSOExclusions", "federatedAppIds")
        },
    }
    b.done()
    merged = {**current, **{k: v for k, v in sent.items() if v is not None}}
    _validate_settings(merged)
    ctx.store.set_tenant_settings(tenant_id, merged, tenant_fields)
    ctx.store.add_audit(
        "TenantSettingsUpdated",
        tenants=[tenant_id],
        actor_id=MANAGEMENT_ACTOR,
        data={k: v for k, v in sent.items() if v is not None},
    )
    return ok()


@route("/v1/mgmt/tenant/settings", "GET")
async def tenant_settings_load(request: Request) -> JSONResponse:
    store = context(request).store
    tenant = _tenant_or_404(store, request)
    return ok(store.tenant_settings(tenant["id"]))


@route("/v1/mgmt/tenant/updateDefaultRoles", "POST")
async def tenant_default_roles(request: Request) -> JSONResponse:
    ctx, b = await context_and_body(request)
    tenant_id = b.text("id", required=True) or ""
    roles = b.strings("defaultRoles") or []
    b.done()
    ctx.store.update_tenant(tenant_id, name=None, fields={"defaultRoles": roles}, replace=False)
    ctx.store.add_audit("TenantUpdated", tenants=[tenant_id], actor_id=MANAGEMENT_ACTOR)
    return ok()
