"""Sign-in and contact changes by one-time code (OTP): codes go to the outbox instead of e-mail or text.

Test users are treated as Descope treats them: they receive no messages, so a code generated for one
by management (`generate_otp_for_test_user`) stays valid through the sign-in, sign-up and sign-up-or-in
calls that follow (they send nothing while it waits), and signing up a test user that exists signs it
in. A wrong code counts against the code (E061102, and E061103 once too many were tried); an expired
one is answered E061104.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from anonconsole.sandbox import errors
from anonconsole.sandbox import fields as user_fields
from anonconsole.sandbox.body import Body
from anonconsole.sandbox.routes import login_options, signin
from anonconsole.sandbox.routes.common import RouteTable, context, read_body
from anonconsole.sandbox.store.otp import MAX_OTP_ATTEMPTS

route = RouteTable()
routes = route.routes


OTP_METHODS = ("email", "sms", "voice", "whatsapp")
PHONE_METHODS = ("sms", "voice", "whatsapp")


def mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else f"{address[:1]}***"


def mask_phone(number: str) -> str:
    return "*" * max(0, len(number) - 4) + number[-4:]


def masked(method: str, address: str) -> dict[str, str]:
    """The masked address an answer names (maskedPhone for phone methods, maskedEmail for email)."""
    if method in PHONE_METHODS:
        return {"maskedPhone": mask_phone(address)}
    return {"maskedEmail": mask_email(address)}


def send_code(
    request: Request,
    login_id: str,
    method: str,
    address: str,
    *,
    subject: str,
    purpose: str,
    data: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Create a one-time code, put the message in the outbox, answer the masked address.

    The outbox holds what the real service would e-mail or text. `data` travels with the code to its
    verification (login options, an address to change).
    """
    if not address:
        raise errors.invalid_argument(f"The user has no address for {method}")
    store = context(request).store
    code = store.create_otp(login_id, method, data=data)
    store.add_outbox(
        method,
        address,
        login_id=login_id,
        subject=subject,
        body=f"Your code to {purpose} is {code}.",
        code=code,
    )
    return masked(method, address)


def delivery_method(request: Request, allowed: tuple[str, ...] = OTP_METHODS) -> str:
    """The `{method}` of the path: one of `allowed`, else a 404 (as for any unknown path)."""
    method: str = request.path_params["method"]
    if method not in allowed:
        raise errors.not_found(f"Unknown delivery method {method}")
    return method


def delivery_address(user: dict[str, Any], method: str, login_id: str) -> str:
    if method in PHONE_METHODS:
        return user.get("phone") or (login_id if user_fields.is_phone(login_id) else "")
    return user.get("email") or (login_id if "@" in login_id and user_fields.is_email(login_id) else "")


async def auth_request(request: Request, allowed: tuple[str, ...] = OTP_METHODS) -> tuple[str, Body, str]:
    """The delivery method, the body and its login id, which sign-in calls by code or link start with."""
    method = delivery_method(request, allowed)
    signin.check_project(request)
    body = await read_body(request)
    return method, body, body.text("loginId", required=True) or ""


def sign_up_user(request: Request, login_id: str, method: str, body: Body) -> dict[str, Any]:
    """The user a sign-up by code or link names: created from its `user` object and the address of
    its method, or, for a test user that exists, that user as it is (Descope signs it in)."""
    fields = signin.sign_up_fields(body.obj("user"))
    address = body.text("phone" if method == "sms" else method)
    if address:
        fields["phone" if method in PHONE_METHODS else "email"] = address
    store = context(request).store
    existing = store.user_by_login_id(login_id)
    if existing is not None:
        if not existing["test"]:
            raise errors.user_already_exists()
        return existing
    if method in PHONE_METHODS and "phone" not in fields and user_fields.is_phone(login_id):
        fields["phone"] = login_id
    if method == "email" and "email" not in fields and "@" in login_id and user_fields.is_email(login_id):
        fields["email"] = login_id
    return store.create_user(login_id, **fields)


def sign_up_or_in_user(request: Request, login_id: str, method: str) -> dict[str, Any]:
    """The user of a sign-up-or-in: the one with this login id, else a new one with its address."""
    store = context(request).store
    user = store.user_by_login_id(login_id)
    if user is None:
        fields: dict[str, Any] = {}
        address = delivery_address({}, method, login_id)
        if address:
            fields["phone" if method in PHONE_METHODS else "email"] = address
        user = store.create_user(login_id, **fields)
    signin.ensure_enabled(user)
    return user


def existing_user(request: Request, login_id: str) -> dict[str, Any]:
    """The enabled user a sign-in by code or link names (E112102 for an unknown one)."""
    user = context(request).store.user_by_login_id(login_id)
    if user is None:
        raise errors.user_not_found()
    signin.ensure_enabled(user)
    return user


def _send_user_code(
    request: Request, user: dict[str, Any], method: str, login_id: str, data: dict[str, Any], *, sign_up: bool
) -> Response:
    """Send a sign-in (or sign-up) code to the user's address for `method`; answer the masked address.

    A test user with a code waiting (generated by management) is sent nothing: that code stays valid."""
    address = delivery_address(user, method, login_id)
    if user["test"] and context(request).store.pending_otp(login_id, method):
        if not address:
            raise errors.invalid_argument(f"The user has no address for {method}")
        return JSONResponse(masked(method, address))
    subject, purpose = ("Your sign-up code", "sign up") if sign_up else ("Your sign-in code", "sign in")
    return JSONResponse(
        send_code(request, login_id, method, address, subject=subject, purpose=purpose, data=data)
    )


@route("/v1/auth/otp/signin/{method}", "POST")
async def otp_signin(request: Request) -> Response:
    method, body, login_id = await auth_request(request)
    data = login_options.read(request, body, login_id)
    body.done()
    user = existing_user(request, login_id)
    return _send_user_code(request, user, method, login_id, data, sign_up=False)


@route("/v1/auth/otp/signup/{method}", "POST")
async def otp_signup(request: Request) -> Response:
    method, body, login_id = await auth_request(request)
    data = login_options.read(request, body, login_id)
    user = sign_up_user(request, login_id, method, body)
    body.done()
    return _send_user_code(request, user, method, login_id, data, sign_up=True)


@route("/v1/auth/otp/signup-in/{method}", "POST")
async def otp_signup_in(request: Request) -> Response:
    method, body, login_id = await auth_request(request)
    data = login_options.read(request, body, login_id)
    body.done()
    user = sign_up_or_in_user(request, login_id, method)
    return _send_user_code(request, user, method, login_id, data, sign_up=False)


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


def apply_verified_contact(
    request: Request, user: dict[str, Any], method: str, login_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    """After a good code or link: make the address change it was sent for, else mark the address it
    went to verified."""
    update = data.get("update")
    if not update:
        return verify_address(request, user, method, delivery_address(user, method, login_id))
    store = context(request).store
    if update["addToLoginIds"]:
        other = store.login_id_owner(update["value"])
        if other is not None and other != user["userId"]:
            raise errors.user_already_exists(f"{update['value']} became another user's login ID meanwhile")
    return verify_address(request, user, method, update["value"], add=bool(update["addToLoginIds"]))


def amr_of(method: str) -> list[str]:
    """The factor a code or link by this method adds to `amr` (Descope documents email, sms and
    whatsapp; a voice call is a phone factor, recorded as sms)."""
    return ["sms" if method == "voice" else method]


def _refused_code(
    request: Request, user: dict[str, Any] | None, login_id: str, method: str, code: str
) -> None:
    """Raise the refusal of a code that is not good (counting a wrong one), if it is not."""
    store = context(request).store
    verdict = store.otp_verdict(login_id, method, code) if user is not None else "missing"
    if verdict == "ok":
        return
    error = {
        "expired": errors.otp_expired,
        "too_many": errors.too_many_otp_attempts,
    }.get(verdict, errors.invalid_otp)()
    if verdict == "wrong":
        if store.otp_failures(login_id, method) + 1 >= MAX_OTP_ATTEMPTS:
            error = errors.too_many_otp_attempts()
        error.lasting.append(lambda: store.add_otp_failure(login_id, method))
    raise signin.login_failed(request, user, login_id, "otp", error)


@route("/v1/auth/otp/verify/{method}", "POST")
async def otp_verify(request: Request) -> Response:
    method, body, login_id = await auth_request(request)
    code = body.text("code", required=True) or ""
    body.done()
    store = context(request).store
    user = store.user_by_login_id(login_id)
    _refused_code(request, user, login_id, method, code)
    assert user is not None  # a code is good only for a user
    data = store.use_otp(login_id, method)
    signin.ensure_enabled(user)
    user = apply_verified_contact(request, user, method, login_id, data)
    return login_options.issue(request, user, data, method="otp", amr=amr_of(method))


def read_update(body: Body, field: str) -> tuple[str, str, bool]:
    """(login id, new address, add to login IDs) of an update-email/phone body by code or link;
    the template and merge options are read (no effect in the sandbox)."""
    login_id = body.text("loginId", required=True) or ""
    value = body.text(field, required=True) or ""
    add = bool(body.flag("addToLoginIDs", default=False))
    body.flag("onMergeUseExisting")
    body.obj("templateOptions")
    body.text("templateId")
    body.text("providerId")
    (user_fields.check_email if field == "email" else user_fields.check_phone)(value)
    if add:
        user_fields.check_login_id(value)
    return login_id, value, add


def updating_user(request: Request, login_id: str, value: str, add: bool) -> dict[str, Any]:
    """The signed-in user (refresh token) whose address an update changes; its new address may not
    be another user's login ID when it is to become one."""
    _, user = signin.signed_in_user(request)
    signin.owned_login_id(user, login_id)
    if add:
        other = context(request).store.login_id_owner(value)
        if other is not None and other != user["userId"]:
            raise errors.user_already_exists(f"{value} is already another user's login ID")
    return user


async def _otp_update(request: Request, method: str, field: str) -> Response:
    """Send a code to a new address of the signed-in user; verifying it applies the change."""
    body = await read_body(request)
    login_id, value, add = read_update(body, field)
    mfa = bool(body.flag("mfa"))
    body.done()
    updating_user(request, login_id, value, add)
    data: dict[str, Any] = {"update": {"value": value, "addToLoginIds": add}}
    if mfa:
        session, _ = signin.signed_in_user(request)
        data.update(mfa=True, amr=list(session.get("amr", [])))
    sent = send_code(
        request,
        login_id,
        method,
        value,
        subject=f"Confirm your new {field}",
        purpose=f"confirm {value}",
        data=data,
    )
    return JSONResponse(sent)


@route("/v1/auth/otp/update/email", "POST")
async def otp_update_email(request: Request) -> Response:
    return await _otp_update(request, "email", "email")


@route("/v1/auth/otp/update/phone/{method}", "POST")
async def otp_update_phone(request: Request) -> Response:
    return await _otp_update(request, delivery_method(request, PHONE_METHODS), "phone")
