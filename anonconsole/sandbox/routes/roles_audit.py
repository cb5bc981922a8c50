"""Management of roles and permissions, the audit trail, and the project's license."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from anonconsole.sandbox import errors
from anonconsole.sandbox.routes.common import (
    MAX_LIMIT,
    RouteTable,
    bounded,
    context,
    context_and_body,
    ok,
    read_body,
)
from anonconsole.sandbox.store import MANAGEMENT_ACTOR
from anonconsole.sandbox.store.defaults import DEFAULT_PERMISSIONS

route = RouteTable()
routes = route.routes


@route("/v1/mgmt/role/create", "POST")
async def role_create(request: Request) -> JSONResponse:
    ctx, b = await context_and_body(request)
    name = b.text("name", required=True) or ""
    ctx.store.create_role(
        name,
        description=b.text("description") or "",
        permission_names=b.strings("permissionNames") or [],
        tenant_id=b.text("tenantId") or "",
        default=bool(b.flag("default")),
        private=bool(b.flag("private")),
        at=ctx.clock(),
    )
    b.done()
    ctx.store.add_audit("RoleCreated", actor_id=MANAGEMENT_ACTOR, data={"name": name})
    return ok()


@route("/v1/mgmt/role/all", "GET")
async def role_all(request: Request) -> JSONResponse:
    return ok({"roles": context(request).store.roles()})


@route("/v1/mgmt/role/delete", "POST")
async def role_delete(request: Request) -> JSONResponse:
    ctx, b = await context_and_body(request)
    name = b.text("name", required=True) or ""
    tenant_id = b.text("tenantId") or ""
    b.done()
    ctx.store.delete_role(name, tenant_id=tenant_id)
    ctx.store.add_audit("RoleDeleted", actor_id=MANAGEMENT_ACTOR, data={"name": name})
    return ok()


@route("/v1/mgmt/role/search", "POST")
async def role_search(request: Request) -> JSONResponse:
    b = await read_body(request)
    tenant_ids = b.strings("tenantIds")
    names = b.strings("roleNames")
    like = (b.text("roleNameLike") or "").lower()
    permissions = b.strings("permissionNames")
    include_project = bool(b.flag("includeProjectRoles"))
    b.strings("roleIds")
    b.done()

    def matches(r: dict[str, Any]) -> bool:
        in_scope = not tenant_ids or r["tenantId"] in tenant_ids or (include_project and not r["tenantId"])
        return (
            in_scope
            and (not names or r["name"] in names)
            and like in r["name"].lower()
            and (not permissions or bool(set(permissions) & set(r["permissionNames"])))
        )

    return ok({"roles": [r for r in context(request).store.roles() if matches(r)]})


@route("/v1/mgmt/audit/search", "POST")
async def audit_search(request: Request) -> JSONResponse:
    store = context(request).store
    b = await read_body(request)
    limit = b.integer("limit", bits=32) or MAX_LIMIT
    page = b.integer("page", bits=32) or 0
    if not 0 < limit <= MAX_LIMIT or page < 0:
        raise errors.invalid_argument(f"limit must be 1..{MAX_LIMIT} and page non-negative")
    lists = {
        name: b.strings(name) or []
        for name in (
            "userIds",
            "actions",
            "excludedActions",
            "devices",
            "methods",
            "geos",
            "remoteAddresses",
            "externalIds",
            "tenants",
        )
    }
    for name, values in lists.items():
        bounded(name, values)
    audits = store.search_audit(
        user_ids=lists["userIds"],
        actions=lists["actions"],
        excluded_actions=lists["excludedActions"],
        devices=lists["devices"],
        methods=lists["methods"],
        geos=lists["geos"],
        remote_addresses=lists["remoteAddresses"],
        login_ids=lists["externalIds"],
        tenants=lists["tenants"],
        no_tenants=bool(b.flag("noTenants")),
        text=b.text("text") or "",
        from_ms=b.integer("from"),
        to_ms=b.integer("to"),
        limit=limit,
        page=page,
    )
    b.done()
    return ok({"audits": audits})


@route("/v1/mgmt/audit/event", "POST")
async def audit_event(request: Request) -> JSONResponse:
    ctx, b = await context_and_body(request)
    action = b.text("action", required=True) or ""
    kind = b.text("type") or "info"
    if kind not in ("info", "warn", "error"):
        raise errors.invalid_argument("type must be info, warn or error")
    actor = b.text("actorId", required=True) or ""
    tenant_id = b.text("tenantId") or ""
    ctx.store.add_audit(
        action,
        user_id=b.text("userId") or "",
        tenants=[tenant_id] if tenant_id else [],
        data=b.obj("data"),
        actor_id=actor,
        type=kind,
        at=ctx.clock(),
    )
    b.done()
    return ok()


@route("/v1/mgmt/permission/all", "GET")
async def permission_all(request: Request) -> JSONResponse:
    """Every permission some role grants (the sandbox has no separate permission objects); those a
    new project has (the Tenant Admin role's) are marked `systemDefault`, with their description."""
    names = sorted({p for role in context(request).store.roles() for p in role["permissionNames"]})
    return ok(
        {
            "permissions": [
                {
                    "name": n,
                    "description": DEFAULT_PERMISSIONS.get(n, ""),
                    "systemDefault": n in DEFAULT_PERMISSIONS,
                }
                for n in names
            ]
        }
    )


@route("/v1/mgmt/license", "GET")
async def license_get(request: Request) -> JSONResponse:
    return ok({"rateLimitTier": "tier2"})
