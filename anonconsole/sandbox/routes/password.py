"""Sign-up, sign-in and password changes with a password, under the project's (or tenants') password
settings: policy, reuse, expiration and lock-out."""

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

WEEK_SECONDS = 7 * 24 * 3600


async def _login_request(request: Request) -> tuple[Body, str]:
    """The body and its login id, which sign-up, sign-in, replace and reset start with."""
    signin.check_project(request)
    body = await read_body(request)
    return body, body.text("loginId", required=True) or ""


@route("/v1/auth/password/policy", "GET")
async def password_policy(request: Request) -> Response:
    """The project's rules for a new password (its password settings)."""
    signin.check_project(request)
    return JSONResponse(passwords.policy(context(request).store.password_settings()))


def _usable_settings(request: Request, user: dict[str, Any] | None) -> dict[str, Any]:
    """The password settings a user (None: someone signing up) must meet, refused when passwords are
    disabled for them."""
    store = context(request).store
    settings = store.password_settings() if user is None else store.password_settings_for_user(user)
    if not settings["enabled"]:
        raise passwords.password_disabled()
    return settings


def check_new_password(request: Request, user: dict[str, Any], password: str) -> None:
    """The policy and the reuse rule of the user's settings, for a password the user sets."""
    store = context(request).store
    settings = store.password_settings_for_user(user)
    passwords.validate_password(password, settings)
    if settings["reuse"]:
        amount = settings["reuseAmount"]
        recent = store.recent_password_hashes(user["userId"], amount)
        if any(passwords.verify_password(password, h) for h in recent):
            raise passwords.reused_password(amount)


@route("/v1/auth/password/signup", "POST")
async def password_signup(request: Request) -> Response:
    body, login_id = await _login_request(request)
    password = body.text("password", required=True) or ""
    fields = signin.sign_up_fields(body.obj("user"))
    body.done()
    passwords.validate_password(password, _usable_settings(request, None))
    store = context(request).store
    if store.user_by_login_id(login_id) is not None:
        raise errors.user_already_exists()
    user = store.create_user(login_id, status="enabled", password=password, **fields)
    return signin.issue(request, user, method="password", amr=["pwd"])


def _password_user(request: Request, login_id: str, password: str) -> dict[str, Any]:
    """The user whose current password this is, or a Descope 401 (same answer for unknown users).

    Under a lock setting, wrong passwords in a row are counted (the count stands although the request
    fails) and, once `lockAttempts` is reached, even the right password is refused until the password
    is set again."""
    store = context(request).store
    user = store.user_by_login_id(login_id)
    if user is None:
        invalid = errors.unauthorized("Invalid login ID or password")
        raise signin.login_failed(request, None, login_id, "password", invalid)
    settings = _usable_settings(request, user)
    user_id = user["userId"]
    if settings["lock"] and store.password_failures(user_id) >= settings["lockAttempts"]:
        raise signin.login_failed(
            request, user, login_id, "password", passwords.locked_out(settings["lockAttempts"])
        )
    if not store.check_password(user_id, password):
        failed = signin.login_failed(
            request, user, login_id, "password", errors.unauthorized("Invalid login ID or password")
        )
        if settings["lock"]:
            failed.lasting.append(lambda: store.add_password_failure(user_id))
        raise failed
    signin.ensure_enabled(user)
    if store.password_failures(user_id):
        store.clear_password_failures(user_id)
    return user


def _expired(request: Request, user: dict[str, Any]) -> bool:
    """Expired by management (`expire_password`) or by the expiration setting (weeks since it was set)."""
    ctx = context(request)
    if ctx.store.password_state(user["userId"]) == "expired":
        return True
    settings = ctx.store.password_settings_for_user(user)
    set_at = ctx.store.password_set_seconds(user["userId"])
    if not settings["expiration"] or set_at is None:
        return False
    weeks: int = settings["expirationWeeks"]
    return ctx.clock() - set_at > weeks * WEEK_SECONDS


@route("/v1/auth/password/signin", "POST")
async def password_signin(request: Request) -> Response:
    body, login_id = await _login_request(request)
    password = body.text("password", required=True) or ""
    body.done()
    user = _password_user(request, login_id, password)
    if _expired(request, user):
        raise errors.password_expired()
    if context(request).store.password_state(user["userId"]) == "temporary":
        raise errors.unauthorized("This password is temporary: replace it before signing in")
    return signin.issue(request, user, method="password", amr=["pwd"])


@route("/v1/auth/password/replace", "POST")
async def password_replace(request: Request) -> Response:
    """Works with an expired or temporary password too: replacing it is how the user gets past it."""
    body, login_id = await _login_request(request)
    old_password = body.text("oldPassword", required=True) or ""
    new_password = body.text("newPassword", required=True) or ""
    body.done()
    user = _password_user(request, login_id, old_password)
    check_new_password(request, user, new_password)
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
    _usable_settings(request, user)
    check_new_password(request, user, new_password)
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
    _usable_settings(request, user)
    masked = send_code(
        request,
        login_id,
        "email",
        user.get("email") or login_id,
        subject="Reset your password",
        purpose="reset your password (verify it, then set a new password)",
    )
    return JSONResponse({"resetMethod": "email", "pendingRef": "", "linkId": "", **masked})
