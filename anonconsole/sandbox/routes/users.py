"""Management of users: create, update, patch, delete, load and search them, one by one or in batches."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from anonconsole.sandbox import errors, passwords
from anonconsole.sandbox import fields as user_fields
from anonconsole.sandbox.body import Body, read_json
from anonconsole.sandbox.context import SandboxContext
from anonconsole.sandbox.errors import DescopeError
from anonconsole.sandbox.routes.common import (
    MAX_FILTER_TERMS,
    MAX_LIMIT,
    USER,
    Handler,
    RouteTable,
    audit,
    bounded,
    context,
    context_and_body,
    first_of,
    ok,
    read_body,
    target,
    user_by_login_id,
)
from anonconsole.sandbox.store import SORT_FIELDS, USER_STATUSES, Store, UserQuery

route = RouteTable()
routes = route.routes


DEFAULT_LIMIT = 100
TEST_USER_LIMIT = 100
# A batch gives the loop back to other requests after this much work (the longest they wait on it).
SLICE_SECONDS = 0.01

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


def checked_status(value: str | None, allowed: tuple[str, ...] = USER_STATUSES) -> str | None:
    if value is not None and value not in allowed:
        raise errors.invalid_argument(f"status must be one of: {', '.join(allowed)}")
    return value


def _user_fields(b: Body) -> dict[str, Any]:
    """Fields present in a create/update/patch body, as store changes (snake_case); absent → omitted."""
    read: dict[str, Any] = {
        "email": b.text("email"),
        "phone": b.text("phone"),
        "name": first_of(b, b.text, "displayName", "name"),
        "given_name": b.text("givenName"),
        "middle_name": b.text("middleName"),
        "family_name": b.text("familyName"),
        "role_names": b.strings("roleNames"),
        "user_tenants": _tenants(b),
        "picture": b.text("picture"),
        "custom_attributes": b.obj("customAttributes"),
        "verified_email": b.flag("verifiedEmail"),
        "verified_phone": b.flag("verifiedPhone"),
        "sso_app_ids": first_of(b, b.strings, "ssoAppIDs", "ssoAppIds"),
        "status": checked_status(b.text("status")),
        "test": b.flag("test"),
        "additional_login_ids": first_of(b, b.strings, "additionalLoginIds", "additionalIdentifiers"),
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
    """Live-service create rule: an email (phone) login id without `email` (`phone`) fills it, verified.

    Only a login ID that is an address by the SDK's own checks counts (not the KB recipe's random
    `…@….invalid` IDs, which `email_validator` refuses)."""
    if "email" not in fields and "@" in login_id and user_fields.is_email(login_id):
        fields["email"] = login_id
        fields.setdefault("verified_email", True)
    if "phone" not in fields and user_fields.is_e164(login_id):
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
    audit(ctx, "UserCreated", user)
    return user


def create_handler(*, test: bool) -> Handler:
    async def handler(request: Request) -> JSONResponse:
        ctx, b = await context_and_body(request)
        login_id = b.text("loginId", required=True) or ""
        fields = _user_fields(b)
        b.ignore("invite", "inviteUrl", "sendMail", "sendSMS", "templateId", "locale", "templateOptions")
        b.done()
        fields.setdefault("status", "invited")
        with ctx.store.transaction():
            user = _create(ctx, login_id, fields, test=test or bool(fields.get("test")))
        return ok({"user": user})

    return handler


route.add(f"{USER}/create", create_handler(test=False), "POST")


async def _each_user(
    items: list[Any], apply: Callable[[dict[str, Any]], dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A batch: `apply` to every user object; a failing one is reported with the others, not raised.

    Each user is its own transaction, and every SLICE_SECONDS of work the loop serves other requests:
    a batch of thousands (with password hashes) would otherwise hold every other client for seconds.
    """
    done, failed = [], []
    slice_ends = time.perf_counter() + SLICE_SECONDS
    for item in items:
        try:
            if not isinstance(item, dict):
                raise errors.validation_failed("users must be a list of objects")
            done.append(apply(item))
        except DescopeError as exc:
            failed.append({"failure": exc.message or exc.description, "user": item})
        if time.perf_counter() > slice_ends:
            await asyncio.sleep(0)
            slice_ends = time.perf_counter() + SLICE_SECONDS
    return done, failed


@route(f"{USER}/create/batch", "POST", atomic=False)
async def create_batch(request: Request) -> JSONResponse:
    ctx, b = await context_and_body(request)
    items = b.array("users", required=True) or []
    b.ignore("invite", "inviteUrl", "sendMail", "sendSMS", "templateId", "locale", "templateOptions")
    b.done()

    def create(item: dict[str, Any]) -> dict[str, Any]:
        u = Body(item)
        login_id = u.text("loginId", required=True) or ""
        fields = _user_fields(u)
        password = u.text("password")
        u.ignore("hashedPassword", "seed")
        u.done()
        if password is not None:
            tenant_ids = [t for t, _ in fields.get("user_tenants", ())]
            passwords.validate_password(password, ctx.store.password_settings_for_tenants(tenant_ids))
            fields["password"] = password
        fields.setdefault("status", "invited")
        with ctx.store.transaction():
            return _create(ctx, login_id, fields, test=False)

    created, failed = await _each_user(items, create)
    return ok({"createdUsers": created, "failedUsers": failed, "additionalErrors": {}})


def _changes_for(user: dict[str, Any], fields: dict[str, Any], *, full: bool) -> dict[str, Any]:
    """Store changes for update (full replace) or patch (only what was sent)."""
    changes = {**FULL_DEFAULTS, **fields} if full else dict(fields)
    additional = changes.pop("additional_login_ids", None)
    if additional is not None:
        changes["login_ids"] = list(dict.fromkeys([user["loginIds"][0], *additional]))
    if not full and not changes.get("test", True):
        changes.pop("test")  # patch sends `test` only when true
    return changes


def _apply(ctx: SandboxContext, b: Body, *, full: bool) -> dict[str, Any]:
    """Parse one update/patch body and apply it atomically; returns the new user.

    `update` (full replace) keeps the login ids unless `additionalLoginIds` is sent, and keeps
    `status`. `patch` with a phone and no `verifiedPhone` marks it verified (descope-api.md §2.1,
    live service).
    """
    with ctx.store.transaction():
        login_id = b.text("loginId", required=True) or ""
        fields = _user_fields(b)
        if full:
            fields.pop("status", None)
        elif "phone" in fields and "verified_phone" not in fields:
            fields["verified_phone"] = bool(fields["phone"])  # live service: patch(phone=…) is verified
        b.done()
        user = user_by_login_id(ctx.store, login_id)
        new = ctx.store.update_user(user["userId"], _changes_for(user, fields, full=full), at=ctx.clock())
        audit(ctx, "UserModified", new)
        return new


@route(f"{USER}/update", "POST")
async def update(request: Request) -> JSONResponse:
    ctx, b = await context_and_body(request)
    return ok({"user": _apply(ctx, b, full=True)})


@route(f"{USER}/patch", "PATCH")
async def patch(request: Request) -> JSONResponse:
    ctx, b = await context_and_body(request)
    return ok({"user": _apply(ctx, b, full=False)})


@route(f"{USER}/patch/batch", "PATCH", atomic=False)
async def patch_batch(request: Request) -> JSONResponse:
    ctx, b = await context_and_body(request)
    items = b.array("users", required=True) or []
    b.done()
    patched, failed = await _each_user(items, lambda item: _apply(ctx, Body(item), full=False))
    return ok({"patchedUsers": patched, "failedUsers": failed})


@route(f"{USER}/delete", "POST")
async def delete(request: Request) -> JSONResponse:
    """Deleting a user that does not exist succeeds (idempotent); loading it fails with E112102."""
    ctx = context(request)
    user = await target(request)
    if user is not None:
        ctx.store.delete_users([user["userId"]])
        audit(ctx, "UserDeleted", user)
    return ok()


@route(f"{USER}/delete/batch", "POST")
async def delete_batch(request: Request) -> JSONResponse:
    ctx, b = await context_and_body(request)
    user_ids = b.strings("userIds", required=True) or []
    b.done()
    deleted = ctx.store.delete_users(user_ids)
    audit(ctx, "UsersDeleted", count=deleted)
    return ok()


@route(USER, "GET")
async def load(request: Request) -> JSONResponse:
    store = context(request).store
    login_id, user_id = request.query_params.get("loginId"), request.query_params.get("userId")
    if login_id:
        return ok({"user": user_by_login_id(store, login_id)})
    if user_id:
        user = store.user_by_id(user_id)
        if user is None:
            raise errors.user_not_found(f"User {user_id} not found")
        return ok({"user": user})
    raise errors.missing_argument("loginId")


@route("/v1/mgmt/users/load", "POST")
async def load_users(request: Request) -> JSONResponse:
    store = context(request).store
    b = await read_body(request)
    user_ids = b.strings("userIds", required=True) or []
    b.flag("includeInvalidUsers")
    b.done()
    if not user_ids:
        raise errors.missing_argument("userIds")
    return ok({"users": store.users_by_ids(user_ids)})


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
    """(limit, page): a `limit` of 0 or none is 100, more than 1000 is refused (400)."""
    limit = b.integer("limit", bits=32) or DEFAULT_LIMIT
    page = b.integer("page", bits=32) or 0
    if limit < 0 or page < 0:
        raise errors.invalid_argument("limit and page must be non-negative")
    if limit > MAX_LIMIT:
        raise errors.invalid_argument(f"limit must be at most {MAX_LIMIT}")
    return limit, page


def _query(b: Body, *, test_only: bool) -> UserQuery:
    """A UserQuery from a search body (descope-api.md §4); every SDK field is read."""
    statuses = b.strings("statuses") or []
    for status in statuses:
        checked_status(status)
    limit, page = _page(b)
    # Sandbox roles have no separate ids: `tenantRoleIds` is matched like `tenantRoleNames`. The
    # sandbox has no families and no locks, so their filters are accepted and ignored.
    role_filters = {**_role_filter(b, "tenantRoleIds"), **_role_filter(b, "tenantRoleNames")}
    b.ignore("familyIds", "dependent", "lockReasons", "tempLockReasons")
    query = UserQuery(
        tenant_ids=b.strings("tenantIds") or [],
        role_names=b.strings("roleNames") or [],
        statuses=statuses,
        text=b.text("text") or "",
        login_ids=b.strings("loginIds") or [],
        user_ids=b.strings("userIds") or [],
        emails=b.strings("emails") or [],
        phones=b.strings("phones") or [],
        sso_app_ids=first_of(b, b.strings, "ssoAppIds", "ssoAppIDs") or [],
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
    _check_sizes(query)
    return query


def _check_sizes(q: UserQuery) -> None:
    """Every filter within the bounds `common.bounded` states (and one sort term per sort field)."""
    for name, values in (
        ("roleNames", q.role_names),
        ("statuses", q.statuses),
        ("loginIds", q.login_ids),
        ("userIds", q.user_ids),
        ("emails", q.emails),
        ("phones", q.phones),
        ("ssoAppIds", q.sso_app_ids),
    ):
        bounded(name, values)
    bounded("tenantIds", q.tenant_ids, MAX_FILTER_TERMS)
    bounded("customAttributes", q.custom_attributes, MAX_FILTER_TERMS)
    for key, wanted in q.custom_attributes.items():
        bounded(f"customAttributes.{key}", wanted if isinstance(wanted, list) else [wanted])
    bounded("tenantRoleNames", q.tenant_role_names, MAX_FILTER_TERMS)
    for tenant_id, (names, _) in q.tenant_role_names.items():
        bounded(f"tenantRoleNames.{tenant_id}", names)
    bounded("sort", q.sort, len(SORT_FIELDS))


def search_handler(*, test_only: bool) -> Handler:
    async def handler(request: Request) -> JSONResponse:
        store = context(request).store
        b = await read_body(request)
        query = _query(b, test_only=test_only)
        b.done()
        users, total = store.search_users(query)
        return ok({"users": users, "total": total})

    return handler


route.add("/v2/mgmt/user/search", search_handler(test_only=False), "POST")
route.add("/v1/mgmt/user/search", search_handler(test_only=False), "POST")


@route(f"{USER}/history", "POST")
async def history(request: Request) -> JSONResponse:
    ids = await read_json(request, array=True)
    if not all(isinstance(i, str) for i in ids):
        raise errors.validation_failed("body must be a list of user IDs")
    return JSONResponse(context(request).store.history(ids))


@route(f"{USER}/provider/token", "GET")
async def provider_token(request: Request) -> JSONResponse:
    """Sandbox users never sign in with an OAuth provider, so no user has a provider token."""
    login_id = request.query_params.get("loginId") or ""
    provider = request.query_params.get("provider") or ""
    if not login_id or not provider:
        raise errors.missing_argument("loginId" if not login_id else "provider")
    user_by_login_id(context(request).store, login_id)
    raise errors.not_found(f"The user has no {provider} token (the sandbox has no OAuth providers)")
