"""Management API routes: users, tenants, roles, audit, license, test-user OTP (descope-api.md §2.1-2.3).

The server's middleware has already checked the management bearer; handlers parse bodies strictly
(`errors.Body`), raise `DescopeError`s and audit every write (actor "management key").

Choices where Descope's behaviour is not documented:
* `update/email` / `update/phone` with `verified: true` make the new address a login id: it replaces
  the old address where that was a login id, else it is added. Unverified addresses never touch login
  ids. A conflict is another user having the address as a login id or as a verified address; it is
  refused with E062107 when `failOnConflict` is true, and always when the address would become a
  login id.
* `update` (full replace) keeps the login ids unless `additionalLoginIds` is sent; `status` is kept.
* `patch` with a phone and no `verifiedPhone` marks it verified (descope-api.md §2.1, live service).
* Families, passkeys, TOTP seeds and recovery codes are not modelled: their removal and family
  association calls succeed without effect; no user has an OAuth provider token (404).
* User search `limit`: 0/absent = 100, at most 1000 (larger → 400); `sort.field` one of SORT_FIELDS.
* `tenantRoleIds` is matched like `tenantRoleNames` (sandbox roles have no separate ids); family and
  lock filters are accepted and ignored (the sandbox has neither).
* Deleting a user that does not exist succeeds (idempotent); loading it fails with E112102.
* Tenant settings POST merges into the current settings (fields the SDK drops as None keep their
  value), except `selfProvisioningDomains`, which is overwritten as sent.
* Links: test-user magic/enchanted links need a `URI` (the sandbox has no project redirect URL) and
  put the token in its `t` parameter; link and embedded tokens are valid once, for `timeout` seconds
  or 10 minutes, and kept only hashed. Embedded links work for any enabled user; a sign-up embedded
  link refuses an existing login id and creates the user when verified.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from anonconsole.sandbox import errors, passwords, routes_auth
from anonconsole.sandbox.context import SandboxContext
from anonconsole.sandbox.errors import Body, DescopeError
from anonconsole.sandbox.store import (
    MANAGEMENT_ACTOR,
    SORT_FIELDS,
    UNIT_SECONDS,
    USER_STATUSES,
    Store,
    UserQuery,
    tenant_not_found,
)

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
TEST_USER_LIMIT = 100
PHONE_RE = re.compile(r"^\+\d{6,15}$")
Handler = Callable[[Request], Awaitable[JSONResponse]]


def _ctx(request: Request) -> SandboxContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


def _ok(data: Any = None) -> JSONResponse:
    return JSONResponse({} if data is None else data)


async def _body(request: Request) -> Body:
    return Body(await errors.read_json(request))


def _audit(ctx: SandboxContext, action: str, user: dict[str, Any] | None = None, **data: Any) -> None:
    ctx.store.add_audit(
        action,
        user_id=user["userId"] if user else "",
        login_ids=user["loginIds"] if user else (),
        tenants=[t["tenantId"] for t in user["userTenants"]] if user else (),
        data=data or None,
        actor_id=MANAGEMENT_ACTOR,
        at=ctx.clock(),
    )


def _user_by_login_id(store: Store, login_id: str) -> dict[str, Any]:
    user = store.user_by_login_id(login_id)
    if user is None:
        raise errors.user_not_found(f"User {login_id} not found")
    return user


def _target(store: Store, b: Body) -> dict[str, Any] | None:
    """The user named by `loginId` or `userId` (delete/logout), None when it does not exist."""
    login_id, user_id = b.text("loginId"), b.text("userId")
    if login_id:
        return store.user_by_login_id(login_id)
    if user_id:
        return store.user_by_id(user_id)
    raise errors.missing_argument("loginId")


# --------------------------------------------------------------------------- user fields


def _tenants(b: Body, name: str = "userTenants") -> list[tuple[str, list[str]]] | None:
    items = b.array(name)
    if items is None:
        return None
    pairs = []
    for item in items:
        if not isinstance(item, dict):
            raise errors.validation_failed(f"{name} must be a list of objects")
        t = Body(item)
        pairs.append((t.text("tenantId", required=True) or "", t.strings("roleNames") or []))
        t.done()
    return pairs


def _status(value: str | None, allowed: tuple[str, ...] = USER_STATUSES) -> str | None:
    if value is not None and value not in allowed:
        raise errors.invalid_argument(f"status must be one of: {', '.join(allowed)}")
    return value


def _first(b: Body, read: Callable[[str], Any], *names: str) -> Any:
    """First non-null of several spellings of one field (SDK vs docs names); all are marked read."""
    values = [read(n) for n in names]
    return next((v for v in values if v is not None), None)


def _user_fields(b: Body) -> dict[str, Any]:
    """Fields present in a create/update/patch body, as store changes (snake_case); absent → omitted."""
    read: dict[str, Any] = {
        "email": b.text("email"),
        "phone": b.text("phone"),
        "name": _first(b, b.text, "displayName", "name"),
        "given_name": b.text("givenName"),
        "middle_name": b.text("middleName"),
        "family_name": b.text("familyName"),
        "role_names": b.strings("roleNames"),
        "user_tenants": _tenants(b),
        "picture": b.text("picture"),
        "custom_attributes": b.obj("customAttributes"),
        "verified_email": b.flag("verifiedEmail"),
        "verified_phone": b.flag("verifiedPhone"),
        "sso_app_ids": _first(b, b.strings, "ssoAppIDs", "ssoAppIds"),
        "status": _status(b.text("status")),
        "test": b.flag("test"),
        "additional_login_ids": _first(b, b.strings, "additionalLoginIds", "additionalIdentifiers"),
    }
    b.ignore("familyAssociations")
    return {k: v for k, v in read.items() if v is not None}


FULL_DEFAULTS: dict[str, Any] = {
    "email": "",
    "phone": "",
    "name": "",
    "given_name": "",
    "middle_name": "",
    "family_name": "",
    "role_names": [],
    "user_tenants": [],
    "picture": "",
    "custom_attributes": {},
    "verified_email": False,
    "verified_phone": False,
    "sso_app_ids": [],
    "test": False,
}


def _infer_contact(login_id: str, fields: dict[str, Any]) -> None:
    """Live-service create rule: an email (phone) login id without `email` (`phone`) fills it, verified."""
    if "email" not in fields and "@" in login_id:
        fields["email"] = login_id
        fields.setdefault("verified_email", True)
    if "phone" not in fields and PHONE_RE.match(login_id):
        fields["phone"] = login_id
        fields.setdefault("verified_phone", True)


def _check_test_limit(store: Store) -> None:
    if store.test_user_count() >= TEST_USER_LIMIT:
        raise DescopeError(400, "E111111", "Failed to create user", "E013002: Test users limit exceeded")


def _create(ctx: SandboxContext, login_id: str, fields: dict[str, Any], *, test: bool) -> dict[str, Any]:
    """Create one user from parsed fields (shared by create, create/test and create/batch)."""
    fields = dict(fields)
    fields.pop("test", None)
    password = fields.pop("password", None)
    additional = fields.pop("additional_login_ids", [])
    _infer_contact(login_id, fields)
    if test:
        _check_test_limit(ctx.store)
    user = ctx.store.create_user(
        login_id,
        **fields,
        test=test,
        additional_login_ids=additional,
        password=password,
        at=ctx.clock(),
    )
    _audit(ctx, "UserCreated", user)
    return user


def _create_handler(*, test: bool) -> Handler:
    async def handler(request: Request) -> JSONResponse:
        ctx = _ctx(request)
        b = await _body(request)
        login_id = b.text("loginId", required=True) or ""
        fields = _user_fields(b)
        b.ignore("invite", "inviteUrl", "sendMail", "sendSMS", "templateId", "locale", "templateOptions")
        b.done()
        fields.setdefault("status", "invited")
        with ctx.store.transaction():
            user = _create(ctx, login_id, fields, test=test or bool(fields.get("test")))
        return _ok({"user": user})

    return handler


async def create_batch(request: Request) -> JSONResponse:
    ctx = _ctx(request)
    b = await _body(request)
    items = b.array("users", required=True) or []
    b.ignore("invite", "inviteUrl", "sendMail", "sendSMS", "templateId", "locale", "templateOptions")
    b.done()
    created, failed = [], []
    for item in items:
        try:
            if not isinstance(item, dict):
                raise errors.validation_failed("users must be a list of objects")
            u = Body(item)
            login_id = u.text("loginId", required=True) or ""
            fields = _user_fields(u)
            password = u.text("password")
            u.ignore("hashedPassword", "seed")
            u.done()
            if password is not None:
                passwords.validate_password(password)
                fields["password"] = password
            fields.setdefault("status", "invited")
            with ctx.store.transaction():
                created.append(_create(ctx, login_id, fields, test=False))
        except DescopeError as exc:
            failed.append({"failure": exc.message or exc.description, "user": item})
    return _ok({"createdUsers": created, "failedUsers": failed, "additionalErrors": {}})


def _changes_for(user: dict[str, Any], fields: dict[str, Any], *, full: bool) -> dict[str, Any]:
    """Store changes for update (full replace) or patch (only what was sent)."""
    changes = {**FULL_DEFAULTS, **fields} if full else dict(fields)
    additional = changes.pop("additional_login_ids", None)
    if additional is not None:
        changes["login_ids"] = list(dict.fromkeys([user["loginIds"][0], *additional]))
    if not full and not changes.get("test", True):
        changes.pop("test")  # patch sends `test` only when true
    return changes


async def _apply(ctx: SandboxContext, b: Body, *, full: bool) -> dict[str, Any]:
    """Parse one update/patch body and apply it; returns the new user."""
    login_id = b.text("loginId", required=True) or ""
    fields = _user_fields(b)
    if full:
        fields.pop("status", None)
    elif "phone" in fields and "verified_phone" not in fields:
        fields["verified_phone"] = bool(fields["phone"])  # live service: patch(phone=…) is verified
    b.done()
    user = _user_by_login_id(ctx.store, login_id)
    new = ctx.store.update_user(user["userId"], _changes_for(user, fields, full=full), at=ctx.clock())
    _audit(ctx, "UserModified", new)
    return new


async def update(request: Request) -> JSONResponse:
    ctx = _ctx(request)
    b = await _body(request)
    with ctx.store.transaction():
        return _ok({"user": await _apply(ctx, b, full=True)})


async def patch(request: Request) -> JSONResponse:
    ctx = _ctx(request)
    b = await _body(request)
    with ctx.store.transaction():
        return _ok({"user": await _apply(ctx, b, full=False)})


async def patch_batch(request: Request) -> JSONResponse:
    ctx = _ctx(request)
    b = await _body(request)
    items = b.array("users", required=True) or []
    b.done()
    patched, failed = [], []
    for item in items:
        try:
            if not isinstance(item, dict):
                raise errors.validation_failed("users must be a list of objects")
            with ctx.store.transaction():
                patched.append(await _apply(ctx, Body(item), full=False))
        except DescopeError as exc:
            failed.append({"failure": exc.message or exc.description, "user": item})
    return _ok({"patchedUsers": patched, "failedUsers": failed})


async def delete(request: Request) -> JSONResponse:
    ctx = _ctx(request)
    b = await _body(request)
    user = _target(ctx.store, b)
    b.done()
    if user is not None:
        ctx.store.delete_users([user["userId"]])
        _audit(ctx, "UserDeleted", user)
    return _ok()


async def delete_batch(request: Request) -> JSONResponse:
    ctx = _ctx(request)
    b = await _body(request)
    user_ids = b.strings("userIds", required=True) or []
    b.done()
    deleted = ctx.store.delete_users(user_ids)
    _audit(ctx, "UsersDeleted", count=deleted)
    return _ok()


async def delete_all_test_users(request: Request) -> JSONResponse:
    ctx = _ctx(request)
    deleted = ctx.store.delete_test_users()
    _audit(ctx, "TestUsersDeleted", count=deleted)
    return _ok()


async def load(request: Request) -> JSONResponse:
    store = _ctx(request).store
    login_id, user_id = request.query_params.get("loginId"), request.query_params.get("userId")
    if login_id:
        return _ok({"user": _user_by_login_id(store, login_id)})
    if user_id:
        user = store.user_by_id(user_id)
        if user is None:
            raise errors.user_not_found(f"User {user_id} not found")
        return _ok({"user": user})
    raise errors.missing_argument("loginId")


async def load_users(request: Request) -> JSONResponse:
    store = _ctx(request).store
    b = await _body(request)
    user_ids = b.strings("userIds", required=True) or []
    b.flag("includeInvalidUsers")
    b.done()
    if not user_ids:
        raise errors.missing_argument("userIds")
    return _ok({"users": store.users_by_ids(user_ids)})


# --------------------------------------------------------------------------- search


def _sort(b: Body) -> list[tuple[str, bool]]:
    terms = []
    for item in b.array("sort") or []:
        if not isinstance(item, dict):
            raise errors.validation_failed("sort must be a list of {field, desc}")
        s = Body(item)
        name = s.text("field", required=True) or ""
        desc = bool(s.flag("desc"))
        s.done()
        if name not in SORT_FIELDS:
            raise errors.invalid_argument(f"Cannot sort by {name!r}; allowed: {', '.join(SORT_FIELDS)}")
        terms.append((name, desc))
    return terms


def _role_filter(b: Body, name: str) -> dict[str, tuple[list[str], bool]]:
    out = {}
    for tenant_id, spec in (b.obj(name) or {}).items():
        if not isinstance(spec, dict):
            raise errors.validation_failed(f"{name} values must be objects")
        s = Body(spec)
        out[tenant_id] = (s.strings("values") or [], bool(s.flag("and")))
        s.done()
    return out


def _page(b: Body) -> tuple[int, int]:
    limit = b.integer("limit") or DEFAULT_LIMIT
    page = b.integer("page") or 0
    if limit < 0 or page < 0:
        raise errors.invalid_argument("limit and page must be non-negative")
    if limit > MAX_LIMIT:
        raise errors.invalid_argument(f"limit must be at most {MAX_LIMIT}")
    return limit, page


def _query(b: Body, *, test_only: bool) -> UserQuery:
    """A UserQuery from a search body (descope-api.md §4); every SDK field is read."""
    statuses = b.strings("statuses") or []
    for status in statuses:
        _status(status)
    limit, page = _page(b)
    role_filters = {**_role_filter(b, "tenantRoleIds"), **_role_filter(b, "tenantRoleNames")}
    b.ignore("familyIds", "dependent", "lockReasons", "tempLockReasons")
    return UserQuery(
        tenant_ids=b.strings("tenantIds") or [],
        role_names=b.strings("roleNames") or [],
        statuses=statuses,
        text=b.text("text") or "",
        login_ids=b.strings("loginIds") or [],
        user_ids=b.strings("userIds") or [],
        emails=b.strings("emails") or [],
        phones=b.strings("phones") or [],
        sso_app_ids=_first(b, b.strings, "ssoAppIds", "ssoAppIDs") or [],
        custom_attributes=b.obj("customAttributes") or {},
        tenant_role_names=role_filters,
        from_created_ms=b.integer("fromCreatedTime"),
        to_created_ms=b.integer("toCreatedTime"),
        from_modified_ms=b.integer("fromModifiedTime"),
        to_modified_ms=b.integer("toModifiedTime"),
        test_users_only=bool(b.flag("testUsersOnly")) or test_only,
        with_test_user=bool(b.flag("withTestUser")) or test_only,
        sort=_sort(b),
        page=page,
        limit=limit,
    )


def _search_handler(*, test_only: bool) -> Handler:
    async def handler(request: Request) -> JSONResponse:
        store = _ctx(request).store
        b = await _body(request)
        query = _query(b, test_only=test_only)
        b.done()
        users, total = store.search_users(query)
        return _ok({"users": users, "total": total})

    return handler


# --------------------------------------------------------------------------- granular user updates

UserOp = Callable[[SandboxContext, dict[str, Any], Body], "dict[str, Any] | None"]


def _user_op(op: UserOp, *, respond_user: bool = True) -> Handler:
    """Handler for `{loginId, ...}` endpoints: find the user, apply `op` atomically, audit, answer."""

    async def handler(request: Request) -> JSONResponse:
        ctx = _ctx(request)
        b = await _body(request)
        login_id = b.text("loginId", required=True) or ""
        with ctx.store.transaction():
            user = _user_by_login_id(ctx.store, login_id)
            new = op(ctx, user, b) or ctx.store.user_by_id(user["userId"]) or user
            b.done()
            _audit(ctx, "UserModified", new)
        return _ok({"user": new} if respond_user else None)

    return handler


def _update(ctx: SandboxContext, user: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    return ctx.store.update_user(user["userId"], changes, at=ctx.clock())


def op_status(ctx: SandboxContext, user: dict[str, Any], b: Body) -> dict[str, Any]:
    status = _status(b.text("status", required=True), ("enabled", "disabled"))
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
        "name": _first(b, b.text, "displayName", "name"),
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
            raise tenant_not_found(tenant_id)
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
            raise tenant_not_found(tenant_id)
        tenants = {t["tenantId"]: t["roleNames"] for t in user["userTenants"]}
        if add:
            tenants.setdefault(tenant_id, [])
        else:
            tenants.pop(tenant_id, None)
        return _update(ctx, user, {"user_tenants": list(tenants.items())})

    return op


def _sso_op(mode: str) -> UserOp:
    def op(ctx: SandboxContext, user: dict[str, Any], b: Body) -> dict[str, Any]:
        ids = _first(b, b.strings, "ssoAppIds", "ssoAppIDs") or []
        return _update(ctx, user, {"sso_app_ids": _combine(user["ssoAppIds"], ids, mode)})

    return op


def _password_op(default_state: str) -> UserOp:
    def op(ctx: SandboxContext, user: dict[str, Any], b: Body) -> None:
        password = b.text("password", required=True) or ""
        active = b.flag("setActive")
        passwords.validate_password(password)
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


async def logout(request: Request) -> JSONResponse:
    ctx = _ctx(request)
    b = await _body(request)
    user = _target(ctx.store, b)
    b.done()
    if user is None:
        raise errors.user_not_found()
    ctx.store.revoke_sessions(user["userId"], at=ctx.clock())
    _audit(ctx, "UserLoggedOut", user)
    return _ok()


async def history(request: Request) -> JSONResponse:
    ids = await errors.read_json(request, array=True)
    if not all(isinstance(i, str) for i in ids):
        raise errors.validation_failed("body must be a list of user IDs")
    return JSONResponse(_ctx(request).store.history(ids))


DELIVERY_METHODS = ("email", "sms", "voice", "whatsapp", "embedded")


def _delivery_method(b: Body) -> str:
    method = (b.text("deliveryMethod", required=True) or "").lower()
    if method not in DELIVERY_METHODS:
        raise errors.invalid_argument(f"deliveryMethod must be one of: {', '.join(DELIVERY_METHODS)}")
    return method


def _test_user(store: Store, login_id: str) -> dict[str, Any]:
    """The test user generate_*_for_test_user works on (regular users are refused, as by Descope)."""
    user = _user_by_login_id(store, login_id)
    if not user["test"]:
        raise errors.invalid_argument("Codes and links can be generated for test users only")
    return user


def _link_data(b: Body, claims_field: str = "loginOptions") -> dict[str, Any]:
    """What a link carries to its verification: the custom claims of `loginOptions` (or `customClaims`)."""
    raw = b.obj(claims_field) or {}
    claims = raw.get("customClaims") if claims_field == "loginOptions" else raw
    if claims is not None and not isinstance(claims, dict):
        raise errors.validation_failed("customClaims must be an object")
    return {"customClaims": claims} if claims else {}


def _link_url(uri: str, token: str) -> str:
    """The link as it would be sent: the redirect URI with the token in `t`."""
    return f"{uri}{'&' if '?' in uri else '?'}t={token}"


async def generate_otp(request: Request) -> JSONResponse:
    ctx = _ctx(request)
    b = await _body(request)
    login_id = b.text("loginId", required=True) or ""
    method = _delivery_method(b)
    b.obj("loginOptions")
    b.done()
    _test_user(ctx.store, login_id)
    return _ok({"code": ctx.store.create_otp(login_id, method, at=ctx.clock()), "loginId": login_id})


async def generate_magic_link(request: Request) -> JSONResponse:
    """A magic link for a test user; `magiclink.verify` accepts its token once."""
    ctx = _ctx(request)
    b = await _body(request)
    login_id = b.text("loginId", required=True) or ""
    method = _delivery_method(b)
    uri = b.text("URI", required=True) or ""
    data = _link_data(b)
    b.done()
    _test_user(ctx.store, login_id)
    token, _ = ctx.store.create_link("magiclink", login_id, method=method, data=data)
    return _ok({"link": _link_url(uri, token), "loginId": login_id})


async def generate_enchanted_link(request: Request) -> JSONResponse:
    """An enchanted link for a test user: verify its token, then collect the session by `pendingRef`."""
    ctx = _ctx(request)
    b = await _body(request)
    login_id = b.text("loginId", required=True) or ""
    uri = b.text("URI", required=True) or ""
    data = _link_data(b)
    b.done()
    _test_user(ctx.store, login_id)
    token, pending_ref = ctx.store.create_link("enchantedlink", login_id, method="email", data=data)
    return _ok({"link": _link_url(uri, token), "loginId": login_id, "pendingRef": pending_ref})


def _timeout(b: Body) -> int:
    seconds = b.integer("timeout") or 0
    if seconds < 0:
        raise errors.invalid_argument("timeout must not be negative")
    return seconds


async def embedded_link(request: Request) -> JSONResponse:
    """A sign-in token for any enabled user, verified like a magic link (default 10 minutes)."""
    ctx = _ctx(request)
    b = await _body(request)
    login_id = b.text("loginId", required=True) or ""
    data = _link_data(b, "customClaims")
    seconds = _timeout(b)
    b.done()
    user = _user_by_login_id(ctx.store, login_id)
    if user["status"] == "disabled":
        raise errors.invalid_argument("The user is disabled")
    token, _ = ctx.store.create_link("embedded", login_id, data=data, seconds=seconds)
    return _ok({"token": token})


async def signup_embedded_link(request: Request) -> JSONResponse:
    """A sign-up token for a new login id: verifying it creates the user and signs it in."""
    ctx = _ctx(request)
    b = await _body(request)
    login_id = b.text("loginId", required=True) or ""
    user = Body(b.obj("user") or {})
    fields = routes_auth.profile_fields(user)
    user.done()
    fields["verified_email"] = bool(b.flag("emailVerified"))
    fields["verified_phone"] = bool(b.flag("phoneVerified"))
    data = _link_data(b)
    seconds = _timeout(b)
    b.done()
    if ctx.store.login_id_owner(login_id) is not None:
        raise errors.user_already_exists()
    token, _ = ctx.store.create_link("signup", login_id, data={**data, "fields": fields}, seconds=seconds)
    return _ok({"token": token})


# --------------------------------------------------------------------------- tenants


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


async def tenant_create(request: Request) -> JSONResponse:
    ctx = _ctx(request)
    b = await _body(request)
    name = b.text("name", required=True) or ""
    tenant_id = b.text("id")
    fields = _tenant_fields(b)
    b.done()
    tenant = ctx.store.create_tenant(name, tenant_id=tenant_id, fields=fields, at=ctx.clock())
    ctx.store.add_audit(
        "TenantCreated", tenants=[tenant["id"]], actor_id=MANAGEMENT_ACTOR, data={"name": name}
    )
    return _ok({"id": tenant["id"]})


def _tenant_writer(*, replace: bool) -> Handler:
    async def handler(request: Request) -> JSONResponse:
        ctx = _ctx(request)
        b = await _body(request)
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
        return _ok()

    return handler


async def tenant_delete(request: Request) -> JSONResponse:
    ctx = _ctx(request)
    b = await _body(request)
    tenant_id = b.text("id", required=True) or ""
    cascade = bool(b.flag("cascade"))
    b.done()
    deleted = ctx.store.delete_tenant(tenant_id, cascade=cascade)
    data = {"cascade": cascade, "deletedUsers": len(deleted)}
    ctx.store.add_audit("TenantDeleted", tenants=[tenant_id], actor_id=MANAGEMENT_ACTOR, data=data)
    return _ok()


def _tenant_or_404(store: Store, request: Request) -> dict[str, Any]:
    tenant_id = request.query_params.get("id")
    if not tenant_id:
        raise errors.missing_argument("id")
    tenant = store.tenant(tenant_id)
    if tenant is None:
        raise tenant_not_found(tenant_id)
    return tenant


async def tenant_load(request: Request) -> JSONResponse:
    return _ok(_tenant_or_404(_ctx(request).store, request))


async def tenant_all(request: Request) -> JSONResponse:
    return _ok({"tenants": _ctx(request).store.tenants()})


async def tenant_search(request: Request) -> JSONResponse:
    b = await _body(request)
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

    return _ok({"tenants": [t for t in _ctx(request).store.tenants() if matches(t)]})


async def tenant_settings_load(request: Request) -> JSONResponse:
    store = _ctx(request).store
    tenant = _tenant_or_404(store, request)
    return _ok(store.tenant_settings(tenant["id"]))


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


def _validate_settings(s: dict[str, Any]) -> None:
    """Units, auth type and the documented lifetime rule (session ≥ 3 minutes and ≤ refresh)."""
    if s["authType"] not in ("none", "saml", "oidc"):
        raise errors.invalid_argument("authType must be none, saml or oidc")
    for prefix in ("refreshToken", "sessionToken", "stepupToken", "inactivity"):
        amount_key = f"{prefix}Expiration" if prefix != "inactivity" else "inactivityTime"
        unit = s[f"{amount_key}Unit"]
        if s[amount_key] < 0:
            raise errors.invalid_argument(f"{amount_key} must not be negative")
        if unit not in UNIT_SECONDS and not (unit == "" and prefix in ("stepupToken", "inactivity")):
            raise errors.invalid_argument(f"{amount_key}Unit must be one of: {', '.join(UNIT_SECONDS)}")
    session = s["sessionTokenExpiration"] * UNIT_SECONDS[s["sessionTokenExpirationUnit"]]
    refresh = s["refreshTokenExpiration"] * UNIT_SECONDS[s["refreshTokenExpirationUnit"]]
    if session < 180:
        raise errors.invalid_argument("Session token expiration must be at least 3 minutes")
    if session > refresh:
        raise errors.invalid_argument(
            "Session token expiration must not be longer than refresh token expiration"
        )


async def tenant_settings_update(request: Request) -> JSONResponse:
    ctx = _ctx(request)
    b = await _body(request)
    tenant_id = b.text("tenantId", required=True) or ""
    current = ctx.store.tenant_settings(tenant_id)
    if current is None:
        raise tenant_not_found(tenant_id)
    sent = {name: getattr(b, kind)(name) for name, kind in SETTINGS_FIELDS.items()}
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
    return _ok()


async def tenant_default_roles(request: Request) -> JSONResponse:
    ctx = _ctx(request)
    b = await _body(request)
    tenant_id = b.text("id", required=True) or ""
    roles = b.strings("defaultRoles") or []
    b.done()
    ctx.store.update_tenant(tenant_id, name=None, fields={"defaultRoles": roles}, replace=False)
    ctx.store.add_audit("TenantUpdated", tenants=[tenant_id], actor_id=MANAGEMENT_ACTOR)
    return _ok()


# --------------------------------------------------------------------------- roles, audit, license


async def role_create(request: Request) -> JSONResponse:
    ctx = _ctx(request)
    b = await _body(request)
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
    return _ok()


async def role_all(request: Request) -> JSONResponse:
    return _ok({"roles": _ctx(request).store.roles()})


async def role_delete(request: Request) -> JSONResponse:
    ctx = _ctx(request)
    b = await _body(request)
    name = b.text("name", required=True) or ""
    tenant_id = b.text("tenantId") or ""
    b.done()
    ctx.store.delete_role(name, tenant_id=tenant_id)
    ctx.store.add_audit("RoleDeleted", actor_id=MANAGEMENT_ACTOR, data={"name": name})
    return _ok()


async def role_search(request: Request) -> JSONResponse:
    b = await _body(request)
    tenant_ids = b.strings("tenantIds")
    names = b.strings("roleNames")
    like = (b.text("roleNameLike") or "").lower()
    permissions = b.strings("permissionNames")
    include_project = b.flag("includeProjectRoles")
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

    return _ok({"roles": [r for r in _ctx(request).store.roles() if matches(r)]})


async def audit_search(request: Request) -> JSONResponse:
    store = _ctx(request).store
    b = await _body(request)
    limit = b.integer("limit") or MAX_LIMIT
    page = b.integer("page") or 0
    if not 0 < limit <= MAX_LIMIT or page < 0:
        raise errors.invalid_argument(f"limit must be 1..{MAX_LIMIT} and page non-negative")
    audits = store.search_audit(
        user_ids=b.strings("userIds") or [],
        actions=b.strings("actions") or [],
        excluded_actions=b.strings("excludedActions") or [],
        devices=b.strings("devices") or [],
        methods=b.strings("methods") or [],
        geos=b.strings("geos") or [],
        remote_addresses=b.strings("remoteAddresses") or [],
        login_ids=b.strings("externalIds") or [],
        tenants=b.strings("tenants") or [],
        no_tenants=bool(b.flag("noTenants")),
        text=b.text("text") or "",
        from_ms=b.integer("from"),
        to_ms=b.integer("to"),
        limit=limit,
        page=page,
    )
    b.done()
    return _ok({"audits": audits})


async def audit_event(request: Request) -> JSONResponse:
    ctx = _ctx(request)
    b = await _body(request)
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
    return _ok()


async def permission_all(request: Request) -> JSONResponse:
    """Every permission some role grants (the sandbox has no separate permission objects)."""
    names = sorted({p for role in _ctx(request).store.roles() for p in role["permissionNames"]})
    return _ok({"permissions": [{"name": n, "description": "", "systemDefault": False} for n in names]})


async def jwt_update(request: Request) -> JSONResponse:
    """POST /v1/mgmt/jwt/update: the token re-signed with custom claims (identity claims protected)."""
    ctx = _ctx(request)
    b = await _body(request)
    token = b.text("jwt", required=True) or ""
    claims = b.obj("customClaims") or {}
    b.integer("refreshDuration")
    b.done()
    extra = {k: v for k, v in claims.items() if k not in routes_auth.RESERVED_CLAIMS}
    return _ok({"jwt": ctx.tokens.with_claims(token, extra)})


async def provider_token(request: Request) -> JSONResponse:
    """Sandbox users never sign in with an OAuth provider, so no user has a provider token."""
    login_id = request.query_params.get("loginId") or ""
    provider = request.query_params.get("provider") or ""
    if not login_id or not provider:
        raise errors.missing_argument("loginId" if not login_id else "provider")
    _user_by_login_id(_ctx(request).store, login_id)
    raise errors.not_found(f"The user has no {provider} token (the sandbox has no OAuth providers)")


async def license_get(request: Request) -> JSONResponse:
    return _ok({"rateLimitTier": "tier2"})


def routes() -> list[BaseRoute]:
    """Every management route, with Descope's exact methods and paths."""
    user = "/v1/mgmt/user"
    post: dict[str, Handler] = {
        f"{user}/create": _create_handler(test=False),
        f"{user}/create/test": _create_handler(test=True),
        f"{user}/create/batch": create_batch,
        f"{user}/update": update,
        f"{user}/delete": delete,
        f"{user}/delete/batch": delete_batch,
        "/v1/mgmt/users/load": load_users,
        "/v2/mgmt/user/search": _search_handler(test_only=False),
        "/v1/mgmt/user/search": _search_handler(test_only=False),
        "/v2/mgmt/user/search/test": _search_handler(test_only=True),
        f"{user}/update/status": _user_op(op_status),
        f"{user}/update/loginid": _user_op(op_login_id),
        f"{user}/update/email": _user_op(_contact_op("email")),
        f"{user}/update/phone": _user_op(_contact_op("phone")),
        f"{user}/update/name": _user_op(op_name),
        f"{user}/update/picture": _user_op(op_picture),
        f"{user}/update/customAttribute": _user_op(op_custom_attribute),
        f"{user}/update/role/set": _user_op(_role_op("set")),
        "/v2/mgmt/user/update/role/add": _user_op(_role_op("add")),
        f"{user}/update/role/add": _user_op(_role_op("add")),
        f"{user}/update/role/remove": _user_op(_role_op("remove")),
        f"{user}/update/tenant/add": _user_op(_tenant_op(add=True)),
        f"{user}/update/tenant/remove": _user_op(_tenant_op(add=False)),
        f"{user}/update/ssoapp/set": _user_op(_sso_op("set")),
        f"{user}/update/ssoapp/add": _user_op(_sso_op("add")),
        f"{user}/update/ssoapp/remove": _user_op(_sso_op("remove")),
        f"{user}/password/set/temporary": _user_op(_password_op("temporary"), respond_user=False),
        f"{user}/password/set/active": _user_op(_password_op("active"), respond_user=False),
        f"{user}/password/set": _user_op(_password_op("temporary"), respond_user=False),
        f"{user}/password/expire": _user_op(op_expire, respond_user=False),
        f"{user}/passkeys/delete": _user_op(op_nothing_to_remove, respond_user=False),
        f"{user}/totp/delete": _user_op(op_nothing_to_remove, respond_user=False),
        f"{user}/recovery-codes/delete": _user_op(op_nothing_to_remove, respond_user=False),
        f"{user}/update/family/add": _user_op(_family_op("familyAssociations")),
        f"{user}/update/family/remove": _user_op(_family_op("familyIds")),
        "/v1/mgmt/jwt/update": jwt_update,
        f"{user}/logout": logout,
        f"{user}/history": history,
        "/v1/mgmt/tests/generate/otp": generate_otp,
        "/v1/mgmt/tests/generate/magiclink": generate_magic_link,
        "/v1/mgmt/tests/generate/enchantedlink": generate_enchanted_link,
        f"{user}/signin/embeddedlink": embedded_link,
        f"{user}/signup/embeddedlink": signup_embedded_link,
        "/v1/mgmt/tenant/create": tenant_create,
        "/v1/mgmt/tenant/update": _tenant_writer(replace=True),
        "/v1/mgmt/tenant/delete": tenant_delete,
        "/v1/mgmt/tenant/search": tenant_search,
        "/v1/mgmt/tenant/settings": tenant_settings_update,
        "/v1/mgmt/tenant/updateDefaultRoles": tenant_default_roles,
        "/v1/mgmt/role/create": role_create,
        "/v1/mgmt/role/delete": role_delete,
        "/v1/mgmt/role/search": role_search,
        "/v1/mgmt/audit/search": audit_search,
        "/v1/mgmt/audit/event": audit_event,
    }
    other: list[tuple[str, str, Handler]] = [
        ("PATCH", f"{user}/patch", patch),
        ("PATCH", f"{user}/patch/batch", patch_batch),
        ("DELETE", f"{user}/test/delete/all", delete_all_test_users),
        ("GET", user, load),
        ("PATCH", "/v1/mgmt/tenant/patch", _tenant_writer(replace=False)),
        ("GET", "/v1/mgmt/tenant", tenant_load),
        ("GET", "/v1/mgmt/tenant/all", tenant_all),
        ("GET", "/v1/mgmt/tenant/settings", tenant_settings_load),
        ("GET", "/v1/mgmt/role/all", role_all),
        ("GET", "/v1/mgmt/permission/all", permission_all),
        ("GET", f"{user}/provider/token", provider_token),
        ("GET", "/v1/mgmt/license", license_get),
    ]
    return [
        *(Route(path, handler, methods=["POST"]) for path, handler in post.items()),
        *(Route(path, handler, methods=[method]) for method, path, handler in other),
    ]
