"""Sign-in and contact changes by one-time code (OTP): codes go to the outbox instead of e-mail or text."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from anonconsole.sandbox import errors
from anonconsole.sandbox import fields as user_fields
from anonconsole.sandbox.body import Body
from anonconsole.sandbox.routes import signin
from anonconsole.sandbox.routes.common import RouteTable, context, read_body

route = RouteTable()
routes = route.routes


OTP_METHODS = ("email", "sms", "voice", "whatsapp")
PHONE_METHODS = ("sms", "voice", "whatsapp")
PENDING_UPDATE_META = "pending-contact-update:{method}:{login_id}"


def mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else f"{address[:1]}***"


def mask_phone(number: str) -> str:
    return "*" * max(0, len(number) - 4) + number[-4:]


def send_code(
    request: Request,
    login_id: str,
    method: str,
    address: str,
    *,
    subject: str,
    purpose: str,
) -> dict[str, str]:
    """Create a one-time code, put the message in the outbox, answer the masked address.

    The outbox holds what the real service would e-mail or text.
    """
    if not address:
        raise errors.invalid_argument(f"The user has no address for {method}")
    store = context(request).store
    code = store.create_otp(login_id, method)
    store.add_outbox(
        method,
        address,
        login_id=login_id,
        subject=subject,
        body=f"Your code to {purpose} is {code}.",
        code=code,
    )
    if method in PHONE_METHODS:
        return {"maskedPhone": mask_phone(address)}
    return {"maskedEmail": mask_email(address)}


def _otp_method(request: Request) -> str:
    method: str = request.path_params["method"]
    if method not in OTP_METHODS:
        raise errors.not_found(f"Unknown delivery method {method}")
    return method


def delivery_address(user: dict[str, Any], method: str, login_id: str) -> str:
    if method in PHONE_METHODS:
        return user.get("phone") or (login_id if user_fields.is_phone(login_id) else "")
    return user.get("email") or (login_id if "@" in login_id and user_fields.is_email(login_id) else "")


def _read_login_options(body: Body) -> None:
    """loginOptions are accepted (stepup/mfa/customClaims/templates) without effect on the code."""
    body.obj("loginOptions")


async def _otp_request(request: Request) -> tuple[str, Body, str]:
    """The delivery method, the body and its login id, which every OTP call starts with."""
    method = _otp_method(request)
    signin.check_project(request)
    body = await read_body(request)
    return method, body, body.text("loginId", required=True) or ""


def _send_user_code(
    request: Request, user: dict[str, Any], method: str, login_id: str, *, sign_up: bool = False
) -> Response:
    """Send a sign-in (or sign-up) code to the user's address for `method`; answer the masked address."""
    address = delivery_address(user, method, login_id)
    subject, purpose = ("Your sign-up code", "sign up") if sign_up else ("Your sign-in code", "sign in")
    return JSONResponse(send_code(request, login_id, method, address, subject=subject, purpose=purpose))


@route("/v1/auth/otp/signin/{method}", "POST")
async def otp_signin(request: Request) -> Response:
    method, body, login_id = await _otp_request(request)
    _read_login_options(body)
    body.done()
    user = context(request).store.user_by_login_id(login_id)
    if user is None:
        raise errors.user_not_found()
    signin.ensure_enabled(user)
    return _send_user_code(request, user, method, login_id)


def _create_otp_user(request: Request, login_id: str, method: str, fields: dict[str, Any]) -> dict[str, Any]:
    store = context(request).store
    if store.user_by_login_id(login_id) is not None:
        raise errors.user_already_exists()
    if method in PHONE_METHODS and "phone" not in fields and user_fields.is_phone(login_id):
        fields["phone"] = login_id
    if method == "email" and "email" not in fields and "@" in login_id and user_fields.is_email(login_id):
        fields["email"] = login_id
    return store.create_user(login_id, **fields)


@route("/v1/auth/otp/signup/{method}", "POST")
async def otp_signup(request: Request) -> Response:
    method, body, login_id = await _otp_request(request)
    fields = signin.sign_up_fields(body.obj("user"))
    address = body.text("phone" if method == "sms" else method)
    if address:
        fields["phone" if method in PHONE_METHODS else "email"] = address
    _read_login_options(body)
    body.done()
    user = _create_otp_user(request, login_id, method, fields)
    return _send_user_code(request, user, method, login_id, sign_up=True)


@route("/v1/auth/otp/signup-in/{method}", "POST")
async def otp_signup_in(request: Request) -> Response:
    method, body, login_id = await _otp_request(request)
    _read_login_options(body)
    body.done()
    user = context(request).store.user_by_login_id(login_id) or _create_otp_user(
        request, login_id, method, {}
    )
    signin.ensure_enabled(user)
    return _send_user_code(request, user, method, login_id)


def _pending_key(method: str, login_id: str) -> str:
    return PENDING_UPDATE_META.format(
        method="phone" if method in PHONE_METHODS else "email", login_id=login_id
    )


def verify_address(
    request: Request, user: dict[str, Any], method: str, value: str, *, add: bool = False
) -> dict[str, Any]:
    """Mark an e-mail address or phone (by delivery method) verified, optionally as a login id."""
    store = context(request).store
    if not value:
        return user
    kind = "phone" if method in PHONE_METHODS else "email"
    mode = "add" if add else "none"
    return store.set_contact(user["userId"], kind, value, verified=True, login_id_mode=mode)


def _apply_verified_contact(
    request: Request, user: dict[str, Any], method: str, login_id: str
) -> dict[str, Any]:
    """After a good code: apply a pending e-mail/phone update, or mark the address used as verified."""
    store = context(request).store
    key = _pending_key(method, login_id)
    pending = store.meta_get(key)
    if not pending:
        return verify_address(request, user, method, delivery_address(user, method, login_id))
    store.meta_set(key, "")
    update = json.loads(pending)
    return verify_address(request, user, method, update["value"], add=bool(update["addToLoginIds"]))


@route("/v1/auth/otp/verify/{method}", "POST")
async def otp_verify(request: Request) -> Response:
    method, body, login_id = await _otp_request(request)
    code = body.text("code", required=True) or ""
    body.done()
    store = context(request).store
    user = store.user_by_login_id(login_id)
    if user is None or not store.consume_otp(login_id, method, code):
        raise signin.login_failed(request, user, login_id, "otp", errors.invalid_otp())
    signin.ensure_enabled(user)
    user = _apply_verified_contact(request, user, method, login_id)
    return signin.issue(request, user, method="otp", amr=["sms" if method in PHONE_METHODS else method])


async def _otp_update(request: Request, method: str, field: str) -> Response:
    """Send a code to a new address of the signed-in user; verifying it applies the change."""
    body = await read_body(request)
    login_id = body.text("loginId", required=True) or ""
    value = body.text(field, required=True) or ""
    add = bool(body.flag("addToLoginIDs", default=False))
    body.flag("onMergeUseExisting")
    body.flag("mfa")
    body.obj("templateOptions")
    body.text("templateId")
    body.text("providerId")
    body.done()
    (user_fields.check_email if field == "email" else user_fields.check_phone)(value)
    if add:
        user_fields.check_login_id(value)
    _, user = signin.signed_in_user(request)
    signin.owned_login_id(user, login_id)
    store = context(request).store
    if add:
        other = store.user_by_login_id(value)
        if other is not None and other["userId"] != user["userId"]:
            raise errors.user_already_exists(f"{value} is already another user's login ID")
    store.meta_set(_pending_key(method, login_id), json.dumps({"value": value, "addToLoginIds": add}))
    masked = send_code(
        request, login_id, method, value, subject=f"Confirm your new {field}", purpose=f"confirm {value}"
    )
    return JSONResponse(masked)


@route("/v1/auth/otp/update/email", "POST")
async def otp_update_email(request: Request) -> Response:
    return await _otp_update(request, "email", "email")


@route("/v1/auth/otp/update/phone/{method}", "POST")
async def otp_update_phone(request: Request) -> Response:
    method = _otp_method(request)
    if method not in PHONE_METHODS:
        raise errors.not_found(f"Unknown delivery method {method}")
    return await _otp_update(request, method, "phone")
