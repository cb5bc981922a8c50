"""Management of password settings (`mgmt.password`): the project's, and a tenant's own."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from anonconsole.sandbox import errors, passwords
from anonconsole.sandbox.body import Body
from anonconsole.sandbox.routes.common import RouteTable, context, context_and_body, ok
from anonconsole.sandbox.store import MANAGEMENT_ACTOR

route = RouteTable()
routes = route.routes

PATH = "/v1/mgmt/password/settings"
# Fields Descope's API reference lists besides the SDK's twelve; the sandbox does not apply them, so it
# refuses them rather than store settings it would then ignore.
UNSUPPORTED = (
    "tempLock",
    "tempLockAttempts",
    "tempLockDuration",
    "enablePasswordStrength",
    "passwordStrengthScore",
    "anyLetter",
    "disallowedCharacters",
    "disallowEmailMatch",
)


def _sent_settings(b: Body) -> dict[str, Any]:
    """The settings fields present in the body (flags as booleans, amounts as int32)."""
    sent: dict[str, Any] = {}
    for name in passwords.DEFAULT_SETTINGS:
        value = b.flag(name) if name in passwords.FLAGS else b.integer(name, bits=32)
        if value is not None:
            sent[name] = value
    return sent


# Declared before the GET of the same path: a 405 there lists the first route's methods (POST).
@route(PATH, "POST")
async def configure_settings(request: Request) -> JSONResponse:
    """Merges into the current settings (fields not sent keep their value; chosen, as for tenant
    settings), then checks the ranges. A tenant's first settings start from the project's."""
    ctx, b = await context_and_body(request)
    tenant_id = b.text("tenantId") or ""
    sent = _sent_settings(b)
    unsupported = [name for name in UNSUPPORTED if b.has(name)]
    if unsupported:
        raise errors.invalid_argument(
            f"{', '.join(unsupported)}: not supported by the sandbox (it applies the settings the "
            "Python SDK documents: enabled, minLength, character classes, expiration, reuse, lock)"
        )
    b.done()
    merged = {**ctx.store.password_settings(tenant_id), **sent}
    passwords.check_settings(merged)
    ctx.store.set_password_settings(tenant_id, merged)
    ctx.store.add_audit(
        "PasswordSettingsUpdated",
        tenants=[tenant_id] if tenant_id else [],
        actor_id=MANAGEMENT_ACTOR,
        data=sent,
        at=ctx.clock(),
    )
    return ok()


@route(PATH, "GET")
async def get_settings(request: Request) -> JSONResponse:
    """The tenant's own settings, else the project's (`tenantId` absent or empty: the project's)."""
    ctx = context(request)
    tenant_id = request.query_params.get("tenantId", "")
    return ok(ctx.store.password_settings(tenant_id))
