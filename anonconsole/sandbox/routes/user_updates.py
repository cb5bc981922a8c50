"""Management calls that change one thing about a user: status, login ids, contacts, roles, password."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from anonconsole.sandbox import errors, passwords
from anonconsole.sandbox.body import Body
from anonconsole.sandbox.context import SandboxContext
from anonconsole.sandbox.routes import common
from anonconsole.sandbox.routes.users import checked_status

route = common.RouteTable()
routes = route.routes

UserOp = Callable[[SandboxContext, dict[str, Any], Body], "dict[str, Any] | None"]


def _user_op(op: UserOp, *, respond_user: bool = True) -> common.Handler:
    """Handler for `{loginId, ...}` endpoints: find the user, apply `op` atomically, audit, answer."""

    async def handler(request: Request) -> JSONResponse:
        ctx = common.context(request)
        b = await common.read_body(request)
        login_id = b.text("loginId", required=True) or ""
        with ctx.store.transaction():
            user = common.user_by_login_id(ctx.store, login_id)
            new = op(ctx, user, b) or ctx.store.user_by_id(user["userId"]) or user
            b.done()
            common.audit(ctx, "UserModified", new)
        return common.ok({"user": new} if respond_user else None)

    return handler


def _update(ctx: SandboxContext, user: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    return ctx.store.update_user(user["userId"], changes, at=ctx.clock())


def op_status(ctx: SandboxContext, user: dict[str, Any], b: Body) -> dict[str, Any]:
    status = checked_status(b.text("status", required=True), ("enabled", "disabled"))
    return _update(ctx, user, {"status": status})


def op_login_id(ctx: SandboxContext, user: dict[str, Any], b: Body) -> dict[str, Any]:
    old = b.text("loginId") or ""
    new = b.text("newLoginId") or ""
    ids = [x for x in user["loginIds"] if x.lower() != old.lower()]
    if new:
        owner = ctx.store.login_id_owner(new)
        if owner and owner != user["userId"]:
            raise errors.user_already_exists(f"Login ID {new} is already in use")
        ids = list(user["loginIds"])
        ids[[x.lower() for x in ids].index(old.lower())] = new
    elif not ids:
        raise errors.invalid_argument("Cannot remove the user's last login ID")
    return _update(ctx, user, {"login_ids": list(dict.fromkeys(ids))})


def _contact_op(kind: str) -> UserOp:
    """`update/email` / `update/phone` (Descope leaves these choices undocumented).

    With `verified: true` the new address becomes a login id: it replaces the old address where that
    was a login id, else it is added. Unverified addresses never touch login ids. A conflict is another
    user having the address as a login id or as a verified address; it is refused with E062107 when
    `failOnConflict` is true, and always when the address would become a login id.
    """

    def op(ctx: SandboxContext, user: dict[str, Any], b: Body) -> dict[str, Any]:
        value = b.text(kind) or ""
        verified = bool(b.flag("verified"))
        fail_on_conflict = bool(b.flag("failOnConflict"))
        if (
            value
            and fail_on_conflict
            and ctx.store.address_owner(kind, value, exclude_user_id=user["userId"])
        ):
            raise errors.user_already_exists(f"{kind} {value} is already used by another user")
        mode = "replace" if verified else "none"
        return ctx.store.set_contact(
            user["userId"], kind, value, verified=verified, login_id_mode=mode, at=ctx.clock()
        )

    return op


def op_name(ctx: SandboxContext, user: dict[str, Any], b: Body) -> dict[str, Any]:
    read = {
        "name": common.first_of(b, b.text, "displayName", "name"),
        "given_name": b.text("givenName"),
        "middle_name": b.text("middleName"),
        "family_name": b.text("familyName"),
    }
    return _update(ctx, user, {k: v for k, v in read.items() if v is not None})


def op_picture(ctx: SandboxContext, user: dict[str, Any], b: Body) -> dict[str, Any]:
    return _update(ctx, user, {"picture": b.text("picture") or ""})


def op_custom_attribute(ctx: SandboxContext, user: dict[str, Any], b: Body) -> dict[str, Any]:
    key = b.text("attributeKey", required=True) or ""
    b.ignore("attributeValue")
    value = b._data.get("attributeValue")  # any JSON value: read raw, type-checked below
    if not isinstance(value, str | int | float | bool | list | type(None)):
        raise errors.validation_failed("attributeValue must be a string, number, boolean or list")
    return _update(ctx, user, {"custom_attributes": {**user["customAttributes"], key: value}})


def _role_op(mode: str) -> UserOp:
    def op(ctx: SandboxContext, user: dict[str, Any], b: Body) -> dict[str, Any]:
        names = b.strings("roleNames", required=True) or []
        tenant_id = b.text("tenantId")
        if not tenant_id:
            return _update(ctx, user, {"role_names": _combine(user["roleNames"], names, mode)})
        if ctx.store.tenant(tenant_id) is None:
            raise errors.tenant_not_found(tenant_id)
        tenants = {t["tenantId"]: t["roleNames"] for t in user["userTenants"]}
        tenants[tenant_id] = _combine(tenants.get(tenant_id, []), names, mode)
        return _update(ctx, user, {"user_tenants": list(tenants.items())})

    return op


def _combine(current: list[str], names: list[str], mode: str) -> list[str]:
    if mode == "set":
        return list(dict.fromkeys(names))
    if mode == "add":
        return list(dict.fromkeys([*current, *names]))
    return [r for r in current if r not in names]


def _tenant_op(add: bool) -> UserOp:
    def op(ctx: SandboxContext, user: dict[str, Any], b: Body) -> dict[str, Any]:
        tenant_id = b.text("tenantId", required=True) or ""
        if ctx.store.tenant(tenant_id) is None:
            raise errors.tenant_not_found(tenant_id)
        tenants = {t["tenantId"]: t["roleNames"] for t in user["userTenants"]}
        if add:
            tenants.setdefault(tenant_id, [])
        else:
            tenants.pop(tenant_id, None)
        return _update(ctx, user, {"user_tenants": list(tenants.items())})

    return op


def _sso_op(mode: str) -> UserOp:
    def op(ctx: SandboxContext, user: dict[str, Any], b: Body) -> dict[str, Any]:
        ids = common.first_of(b, b.strings, "ssoAppIds", "ssoAppIDs") or []
        return _update(ctx, user, {"sso_app_ids": _combine(user["ssoAppIds"], ids, mode)})

    return op


def _password_op(default_state: str) -> UserOp:
    def op(ctx: SandboxContext, user: dict[str, Any], b: Body) -> None:
        password = b.text("password", required=True) or ""
        active = b.flag("setActive")
        passwords.validate_password(password, ctx.store.password_settings_for_user(user))
        state = "active" if active else default_state
        ctx.store.set_password(user["userId"], password, state=state, at=ctx.clock())

    return op


def op_expire(ctx: SandboxContext, user: dict[str, Any], b: Body) -> None:
    ctx.store.expire_password(user["userId"])


def op_nothing_to_remove(ctx: SandboxContext, user: dict[str, Any], b: Body) -> None:
    """Passkeys, TOTP seeds and recovery codes: sandbox users have none, so removing them succeeds."""


def _family_op(field: str) -> UserOp:
    """Families are not modelled (descope-api.md §2.1 allows ignoring them): accepted, no effect."""

    def op(ctx: SandboxContext, user: dict[str, Any], b: Body) -> None:
        b.array(field, required=True)

    return op


# Every endpoint here is a POST of `{loginId, ...}` that changes one thing about that user.
USER_OPS: dict[str, common.Handler] = {
    f"{common.USER}/update/status": _user_op(op_status),
    f"{common.USER}/update/loginid": _user_op(op_login_id),
    f"{common.USER}/update/email": _user_op(_contact_op("email")),
    f"{common.USER}/update/phone": _user_op(_contact_op("phone")),
    f"{common.USER}/update/name": _user_op(op_name),
    f"{common.USER}/update/picture": _user_op(op_picture),
    f"{common.USER}/update/customAttribute": _user_op(op_custom_attribute),
    f"{common.USER}/update/role/set": _user_op(_role_op("set")),
    "/v2/mgmt/user/update/role/add": _user_op(_role_op("add")),
    f"{common.USER}/update/role/add": _user_op(_role_op("add")),
    f"{common.USER}/update/role/remove": _user_op(_role_op("remove")),
    f"{common.USER}/update/tenant/add": _user_op(_tenant_op(add=True)),
    f"{common.USER}/update/tenant/remove": _user_op(_tenant_op(add=False)),
    f"{common.USER}/update/ssoapp/set": _user_op(_sso_op("set")),
    f"{common.USER}/update/ssoapp/add": _user_op(_sso_op("add")),
    f"{common.USER}/update/ssoapp/remove": _user_op(_sso_op("remove")),
    f"{common.USER}/password/set/temporary": _user_op(_password_op("temporary"), respond_user=False),
    f"{common.USER}/password/set/active": _user_op(_password_op("active"), respond_user=False),
    f"{common.USER}/password/set": _user_op(_password_op("temporary"), respond_user=False),
    f"{common.USER}/password/expire": _user_op(op_expire, respond_user=False),
    f"{common.USER}/passkeys/delete": _user_op(op_nothing_to_remove, respond_user=False),
    f"{common.USER}/totp/delete": _user_op(op_nothing_to_remove, respond_user=False),
    f"{common.USER}/recovery-codes/delete": _user_op(op_nothing_to_remove, respond_user=False),
    f"{common.USER}/update/family/add": _user_op(_family_op("familyAssociations")),
    f"{common.USER}/update/family/remove": _user_op(_family_op("familyIds")),
}
for path, handler in USER_OPS.items():
    route.add(path, handler, "POST")
