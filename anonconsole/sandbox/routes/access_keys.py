"""Access keys: their management (`mgmt.access_key`) and their exchange for a session JWT.

The exchange (`exchange_access_key`) answers `{keyId, sessionJwt, expiration}`; the token's `sub` is
the key, its roles, permissions and tenants are the key's (its user's when bound), its custom claims
are at the top level and those of the exchange's login options under `nsec` (as Descope's own SDK
tests read them), `dct` the selected tenant. Inactive, expired or unknown keys, and callers outside
the key's permitted IPs, are refused with a 401.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from anonconsole.sandbox import errors
from anonconsole.sandbox import fields as user_fields
from anonconsole.sandbox.body import Body
from anonconsole.sandbox.context import DEFAULT_SESSION_SECONDS
from anonconsole.sandbox.routes import signin
from anonconsole.sandbox.routes.common import (
    MAX_FILTER_VALUES,
    Handler,
    RouteTable,
    bounded,
    context,
    context_and_body,
    ok,
    read_body,
)
from anonconsole.sandbox.store import MANAGEMENT_ACTOR
from anonconsole.sandbox.store.access_keys import access_key_not_found
from anonconsole.sandbox.tokens import parse_bearer

route = RouteTable()
routes = route.routes

KEY = "/v1/mgmt/accesskey"
# Claims a key may not set: identity and validity (signin.RESERVED_CLAIMS) and what the key's roles,
# tenants and the exchange put in the token.
KEY_RESERVED_CLAIMS = signin.RESERVED_CLAIMS | {"roles", "permissions", "tenants", "dct", "nsec", "su"}


def _name(b: Body, *, required: bool) -> str | None:
    name = b.text("name", required=required)
    if name is not None:
        if not name.strip():
            raise errors.missing_argument("name")
        user_fields.check_name("name", name)
    return name


def _claims(b: Body) -> dict[str, Any] | None:
    claims = b.obj("customClaims")
    reserved = sorted(set(claims or {}) & KEY_RESERVED_CLAIMS)
    if reserved:
        raise errors.invalid_argument(f"customClaims may not set {', '.join(reserved)}: the token sets them")
    return claims


def _permitted_ips(b: Body) -> list[str] | None:
    """IP addresses or CIDR ranges (v4 or v6), each checked."""
    values = b.strings("permittedIps")
    if values is None:
        return None
    bounded("permittedIps", values, 1000)
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise errors.invalid_argument(
                f"permittedIps: {value[:60]!r} is no IP address or CIDR range"
            ) from None
    return values


def _key_tenants(b: Body) -> list[tuple[str, list[str]]]:
    items = b.array("keyTenants") or []
    bounded("keyTenants", items, 100)
    pairs = []
    for item in items:
        if not isinstance(item, dict):
            raise errors.validation_failed("keyTenants must be a list of objects")
        t = Body(item)
        pairs.append((t.text("tenantId", required=True) or "", t.strings("roleNames") or []))
        t.ignore("tenantName")
        t.done()
    return pairs


def _audit(request: Request, action: str, *key_ids: str) -> None:
    ctx = context(request)
    ctx.store.add_audit(action, actor_id=MANAGEMENT_ACTOR, data={"keyIds": list(key_ids)}, at=ctx.clock())


@route(f"{KEY}/create", "POST")
async def create(request: Request) -> JSONResponse:
    ctx, b = await context_and_body(request)
    name = _name(b, required=True) or ""
    expire_time = b.integer("expireTime", minimum=0) or 0
    if expire_time and expire_time <= ctx.clock():
        raise errors.invalid_argument("expireTime is in the past (epoch seconds; 0 = never)")
    role_names = b.strings("roleNames") or []
    bounded("roleNames", role_names, 1000)
    fields: dict[str, Any] = {
        "expire_time": expire_time,
        "role_names": role_names,
        "key_tenants": _key_tenants(b),
        "bound_user_id": b.text("userId") or "",
        "custom_claims": _claims(b),
        "description": b.text("description") or "",
        "permitted_ips": _permitted_ips(b) or [],
        "custom_attributes": b.obj("customAttributes"),
    }
    b.done()
    if fields["bound_user_id"] and ctx.store.user_by_id(fields["bound_user_id"]) is None:
        raise errors.user_not_found(f"User {fields['bound_user_id']} not found")
    key, cleartext = ctx.store.create_access_key(name, at=ctx.clock(), **fields)
    _audit(request, "AccessKeyCreated", key["id"])
    return ok({"key": key, "cleartext": cleartext})


@route(KEY, "GET")
async def load(request: Request) -> JSONResponse:
    key_id = request.query_params.get("id")
    if not key_id:
        raise errors.missing_argument("id")
    key = context(request).store.access_key(key_id)
    if key is None:
        raise access_key_not_found(key_id)
    return ok({"key": key})


@route(f"{KEY}/search", "POST")
async def search(request: Request) -> JSONResponse:
    b = await read_body(request)
    tenant_ids = b.strings("tenantIds") or []
    bounded("tenantIds", tenant_ids, MAX_FILTER_VALUES)
    found = context(request).store.search_access_keys(
        tenant_ids=tenant_ids,
        bound_user_id=b.text("boundUserId") or "",
        creating_user=b.text("creatingUser") or "",
        custom_attributes=b.obj("customAttributes"),
    )
    b.ignore("sort")
    b.done()
    return ok({"keys": found})


@route(f"{KEY}/update", "POST")
async def update(request: Request) -> JSONResponse:
    """`id` and `name` are required; the other fields keep their value when not sent."""
    ctx, b = await context_and_body(request)
    key_id = b.text("id", required=True) or ""
    sent = {
        "name": _name(b, required=True),
        "description": b.text("description"),
        "customClaims": _claims(b),
        "permittedIps": _permitted_ips(b),
        "customAttributes": b.obj("customAttributes"),
    }
    b.done()
    ctx.store.update_access_key(key_id, {k: v for k, v in sent.items() if v is not None})
    _audit(request, "AccessKeyUpdated", key_id)
    return ok()


def _one_or_many(action: str, *, batch: bool) -> Handler:
    async def handler(request: Request) -> JSONResponse:
        ctx, b = await context_and_body(request)
        if batch:
            ids = b.strings("ids", required=True) or []
            if not ids:
                raise errors.missing_argument("ids")
            bounded("ids", ids, 1000)
        else:
            ids = [b.text("id", required=True) or ""]
        b.done()
        if action == "delete":
            ctx.store.delete_access_keys(ids)
        else:
            ctx.store.set_access_key_status(ids, "active" if action == "activate" else "inactive")
        _audit(request, f"AccessKey{action.capitalize()}d", *ids)
        return ok()

    return handler


for _action in ("activate", "deactivate", "delete"):
    route.add(f"{KEY}/{_action}", _one_or_many(_action, batch=False), "POST")
    route.add(f"{KEY}/{_action}/batch", _one_or_many(_action, batch=True), "POST")


@route(f"{KEY}/rotate", "POST")
async def rotate(request: Request) -> JSONResponse:
    """A new secret (shown once); the old one stops working at once."""
    ctx, b = await context_and_body(request)
    key_id = b.text("id", required=True) or ""
    b.done()
    key, cleartext = ctx.store.rotate_access_key(key_id)
    _audit(request, "AccessKeyRotated", key_id)
    return ok({"key": key, "cleartext": cleartext})


def _permitted(key: dict[str, Any], client_ip: str) -> bool:
    if not key["permittedIps"]:
        return True
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(allowed, strict=False) for allowed in key["permittedIps"])


@route("/v1/auth/accesskey/exchange", "POST")
async def exchange(request: Request) -> Response:
    """`Bearer <projectId>:<access key>`; the body's `loginOptions` may name a tenant and claims."""
    ctx = context(request)
    bearer = parse_bearer(request.headers.get("authorization"))
    if bearer.project_id != ctx.project_id:
        raise errors.unauthorized("Unknown project ID")
    secret = bearer.token or bearer.key  # with an auth-management key too, the access key comes first
    b = await read_body(request)
    options = Body(b.obj("loginOptions") or {})
    claims = options.obj("customClaims")
    tenant_id = options.text("selectedTenant")
    options.done()
    b.done()
    key = ctx.store.access_key_by_secret(secret) if secret else None
    if key is None:
        raise errors.unauthorized("Invalid access key")
    if key["status"] != "active":
        raise errors.unauthorized("The access key is deactivated")
    now = ctx.clock()
    if key["expireTime"] and now >= key["expireTime"]:
        raise errors.unauthorized("The access key has expired")
    if not _permitted(key, request.client.host if request.client else ""):
        raise errors.unauthorized("The access key may not be used from this IP address")
    granted = ctx.store.key_authorization(key)
    if key["boundUserId"]:
        signin.ensure_enabled(granted)
    extra: dict[str, Any] = dict(key["customClaims"])
    if claims:
        extra["nsec"] = claims
    if tenant_id:
        if tenant_id not in {t["tenantId"] for t in granted["userTenants"]}:
            raise errors.invalid_argument(f"The access key has no tenant {tenant_id}")
        extra["dct"] = tenant_id
    seconds = DEFAULT_SESSION_SECONDS
    if key["expireTime"]:
        seconds = min(seconds, int(key["expireTime"] - now))
    session = ctx.tokens.mint_key_session(key["id"], granted, seconds=seconds, extra=extra)
    return JSONResponse({"keyId": key["id"], "sessionJwt": session.jwt, "expiration": session.claims["exp"]})
