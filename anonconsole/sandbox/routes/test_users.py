"""Test users: the management calls that create, find and delete them and give them one-time codes."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from anonconsole.sandbox import errors
from anonconsole.sandbox.body import Body
from anonconsole.sandbox.routes import common, login_options
from anonconsole.sandbox.routes.users import create_handler, search_handler
from anonconsole.sandbox.store import Store

route = common.RouteTable()
routes = route.routes
# Creating and searching test users is what `users` does, kept to test users.
route.add(f"{common.USER}/create/test", create_handler(test=True), "POST")
route.add("/v2/mgmt/user/search/test", search_handler(test_only=True), "POST")


DELIVERY_METHODS = ("email", "sms", "voice", "whatsapp", "embedded")


def delivery_method(b: Body) -> str:
    method = (b.text("deliveryMethod", required=True) or "").lower()
    if method not in DELIVERY_METHODS:
        raise errors.invalid_argument(f"deliveryMethod must be one of: {', '.join(DELIVERY_METHODS)}")
    return method


def require_test_user(store: Store, login_id: str) -> dict[str, Any]:
    """The test user generate_*_for_test_user works on (regular users are refused, as by Descope)."""
    user = common.user_by_login_id(store, login_id)
    if not user["test"]:
        raise errors.invalid_argument("Codes and links can be generated for test users only")
    return user


@route(f"{common.USER}/test/delete/all", "DELETE")
async def delete_all_test_users(request: Request) -> JSONResponse:
    ctx = common.context(request)
    deleted = ctx.store.delete_test_users()
    common.audit(ctx, "TestUsersDeleted", count=deleted)
    return common.ok()


@route("/v1/mgmt/tests/generate/otp", "POST")
async def generate_otp(request: Request) -> JSONResponse:
    """A code for a test user (its login options' custom claims go into the tokens it signs in to).
    OTP sign-in calls for that user that follow leave it valid: they send nothing while it waits."""
    ctx, b = await common.context_and_body(request)
    login_id = b.text("loginId", required=True) or ""
    method = delivery_method(b)
    data = login_options.read(None, b, login_id)
    b.done()
    require_test_user(ctx.store, login_id)
    code = ctx.store.create_otp(login_id, method, at=ctx.clock(), data=data)
    return common.ok({"code": code, "loginId": login_id})
