"""Sign-up, sign-in and password changes with a password, under the sandbox's password policy."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from anonconsole.sandbox import errors, passwords
from anonconsole.sandbox.body import Body
from anonconsole.sandbox.routes import signin
from anonconsole.sandbox.routes.common import RouteTable, context, read_body
from anonconsole.sandbox.routes.otp import send_code

route = RouteTable()
routes = route.routes


async def _login_request(request: Request) -> tuple[Body, str]:
    """The body and its login id, which sign-up, sign-in, replace and reset start with."""
    signin.check_project(request)
    body = await read_body(request)
    return body, body.text("loginId", required=True) or ""


@route("/v1/auth/password/policy", "GET")
async def password_policy(request: Request) -> Response:
    signin.check_project(request)
    return JSONResponse(passwords.POLICY)


@route("/v1/auth/password/signup", "POST")
async def password_signup(request: Request) -> Response:
    body, login_id = await _login_request(request)
    password = body.text("password", required=True) or ""
    fields = signin.sign_up_fields(body.obj("user"))
    body.done()
    passwords.validate_password(password)
    store = context(request).store
    if store.user_by_login_id(login_id) is not None:
        raise errors.user_already_exists()
    user = store.create_user(login_id, status="enabled", password=password, **fields)
    return signin.issue(request, user, method="password", amr=["pwd"])


def _password_user(request: Request, login_id: str, password: str) -> dict[str, Any]:
    """The user whose current password this is, or a Descope 401 (same answer for unknown users)."""
    store = context(request).store
    user = store.user_by_login_id(login_id)
    if user is None or not store.check_password(user["userId"], password):
        invalid = errors.unauthorized("Invalid login ID or password")
        raise signin.login_failed(request, user, login_id, "password", invalid)
    signin.ensure_enabled(user)
    return user


@route("/v1/auth/password/signin", "POST")
async def password_signin(request: Request) -> Response:
    body, login_id = await _login_request(request)
    password = body.text("password", required=True) or ""
    body.done()
    user = _password_user(request, login_id, password)
    state = context(request).store.password_state(user["userId"])
    if state == "expired":
        raise errors.password_expired()
    if state == "temporary":
        raise errors.unauthorized("This password is temporary: replace it before signing in")
    return signin.issue(request, user, method="password", amr=["pwd"])


@route("/v1/auth/password/replace", "POST")
async def password_replace(request: Request) -> Response:
    body, login_id = await _login_request(request)
    old_password = body.text("oldPassword", required=True) or ""
    new_password = body.text("newPassword", required=True) or ""
    body.done()
    user = _password_user(request, login_id, old_password)
    passwords.validate_password(new_password)
    context(request).store.set_password(user["userId"], new_password, state="active")
    return signin.issue(request, user, method="password", amr=["pwd"])


@route("/v1/auth/password/update", "POST")
async def password_update(request: Request) -> Response:
    body = await read_body(request)
    login_id = body.text("loginId", required=True) or ""
    new_password = body.text("newPassword", required=True) or ""
    body.done()
    _, user = signin.signed_in_user(request)
    signin.owned_login_id(user, login_id)
    passwords.validate_password(new_password)
    context(request).store.set_password(user["userId"], new_password, state="active")
    return JSONResponse({})


@route("/v1/auth/password/reset", "POST")
async def password_reset(request: Request) -> Response:
    """Sends a code (not a link): verify it with OTP, then `password.update` with the new session."""
    body, login_id = await _login_request(request)
    body.text("redirectUrl")
    body.obj("templateOptions")
    body.ignore("templateId", "providerId")
    body.done()
    user = context(request).store.user_by_login_id(login_id)
    if user is None:
        raise errors.user_not_found()
    masked = send_code(
        request,
        login_id,
        "email",
        user.get("email") or login_id,
        subject="Reset your password",
        purpose="reset your password (verify it, then set a new password)",
    )
    return JSONResponse({"resetMethod": "email", "pendingRef": "", "linkId": "", **masked})
