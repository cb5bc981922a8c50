"""Authentication API: JWKS, password, OTP, links, sessions, management sign-in/up (descope-api.md §2.3-§2.4).

Every successful authentication goes through `_issue`, so history, audit, the invited→enabled switch
and `firstSeen` are handled in one place (`Store.record_sign_in`). Refresh tokens are not rotated.
One-time codes are written to the outbox: what the real service would e-mail or text.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from anonconsole.sandbox import errors, passwords
from anonconsole.sandbox.context import DEFAULT_REFRESH_SECONDS, DEFAULT_SESSION_SECONDS, SandboxContext
from anonconsole.sandbox.errors import Body, DescopeError, read_json
from anonconsole.sandbox.tokens import Minted, parse_bearer

OTP_METHODS = ("email", "sms", "voice", "whatsapp")
PHONE_METHODS = ("sms", "voice", "whatsapp")
# Claims a caller's customClaims may not override: they carry identity and validity.
RESERVED_CLAIMS = frozenset(
    {"sub", "iss", "exp", "iat", "nbf", "jti", "drn", "aud", "amr", "rexp", "tu", "danu"}
)
PENDING_UPDATE_META = "pending-contact-update:{method}:{login_id}"


def _ctx(request: Request) -> SandboxContext:
    return request.app.state.ctx


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


async def _body(request: Request) -> Body:
    return Body(await read_json(request))


def logged_out() -> DescopeError:
    """A refresh token revoked by a logout (code documented in descope-api.md §1.7)."""
    return DescopeError(401, "E064001", "Token expired by logged out", "The session was logged out")


def _check_project(request: Request) -> None:
    project_id = parse_bearer(request.headers.get("authorization")).project_id
    if project_id != _ctx(request).project_id:
        raise errors.unauthorized("Unknown project ID")


def _custom_claims(claims: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (claims or {}).items() if k not in RESERVED_CLAIMS}


def _ensure_enabled(user: dict[str, Any]) -> None:
    if user.get("status") == "disabled":
        raise errors.unauthorized("User is disabled")


def _issue(
    request: Request,
    user: dict[str, Any],
    *,
    method: str,
    amr: list[str],
    dct: str | None = None,
    extra: dict[str, Any] | None = None,
    refresh_seconds: int | None = None,
) -> Response:
    """Record a successful authentication and answer the JWT response."""
    first_seen = _ctx(request).store.record_sign_in(
        user["userId"], method=method, ip=_client_ip(request), tenant=dct or ""
    )
    return _token_response(
        request, user, amr=amr, dct=dct, extra=extra, refresh_seconds=refresh_seconds, first_seen=first_seen
    )


def _token_response(
    request: Request,
    user: dict[str, Any],
    *,
    amr: list[str],
    dct: str | None,
    extra: dict[str, Any] | None,
    refresh_seconds: int | None,
    first_seen: bool,
) -> Response:
    """A new token pair for the user as stored now (roles, tenants, status) and the JWT response."""
    ctx = _ctx(request)
    user = ctx.store.user_by_id(user["userId"]) or user
    session_seconds, default_refresh = ctx.store.session_settings_for(user["userId"])
    refresh = ctx.tokens.mint_refresh(
        user, amr=amr, refresh_seconds=refresh_seconds or default_refresh, extra=extra
    )
    session = ctx.tokens.mint_session(
        user, refresh.claims, session_seconds=session_seconds, dct=dct, iat=refresh.claims["iat"]
    )
    return JSONResponse(ctx.tokens.response(session, refresh, user=user, first_seen=first_seen))


def _refresh_token(request: Request) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    """The bearer's refresh token, its verified claims and its user (None for anonymous tokens)."""
    ctx = _ctx(request)
    bearer = parse_bearer(request.headers.get("authorization"))
    if bearer.project_id != ctx.project_id:
        raise errors.unauthorized("Unknown project ID")
    if not bearer.token:
        raise errors.unauthorized("A refresh token is required")
    claims = ctx.tokens.verify(bearer.token)
    if ctx.store.is_token_revoked(str(claims.get("jti", ""))):
        raise logged_out()
    if claims.get("danu"):
        return bearer.token, claims, None
    user = ctx.store.user_by_id(claims["sub"])
    if user is None:
        raise errors.unauthorized("User not found")
    if claims["iat"] < ctx.store.sessions_valid_after(user["userId"]):
        raise logged_out()
    _ensure_enabled(user)
    return bearer.token, claims, user


def _signed_in_user(request: Request) -> tuple[dict[str, Any], dict[str, Any]]:
    """Claims and user of a refresh token that must belong to a real (non-anonymous) user."""
    _, claims, user = _refresh_token(request)
    if user is None:
        raise errors.unauthorized("Anonymous tokens have no user")
    return claims, user


def _owned_login_id(user: dict[str, Any], login_id: str) -> None:
    if login_id not in user.get("loginIds", []):
        raise errors.unauthorized("The login ID does not belong to the signed-in user")


# -- keys and password -------------------------------------------------------------------------


async def jwks(request: Request) -> Response:
    """Public: the key the SDK validates our JWTs with."""
    ctx = _ctx(request)
    if request.path_params["project_id"] != ctx.project_id:
        raise errors.invalid_argument("Unknown project ID")
    return JSONResponse(ctx.tokens.jwks())


async def password_policy(request: Request) -> Response:
    _check_project(request)
    return JSONResponse(passwords.POLICY)


# create_user keyword -> its spellings in a sign-up `user` object. The snake_case ones come from
# `generate_sign_up_embedded_link`, which posts `CreateUserObj.__dict__`.
PROFILE_FIELDS = {
    "name": ("name",),
    "given_name": ("givenName", "given_name"),
    "middle_name": ("middleName", "middle_name"),
    "family_name": ("familyName", "family_name"),
    "email": ("email",),
    "phone": ("phone",),
}


def profile_fields(body: Body) -> dict[str, Any]:
    """The non-empty profile fields of a sign-up `user` object, as `Store.create_user` keywords."""
    fields = {}
    for key, names in PROFILE_FIELDS.items():
        value = next((v for v in [body.text(n) for n in names] if v), None)
        if value:
            fields[key] = value
    return fields


def _user_fields(user: dict[str, Any] | None) -> dict[str, Any]:
    """Profile fields of a sign-up `user` object, as `Store.create_user` keywords."""
    body = Body(user or {})
    fields = profile_fields(body)
    body.done()
    return fields


def _login_failed(request: Request, user: dict[str, Any] | None, login_id: str, method: str) -> None:
    if user is not None:
        _ctx(request).store.add_audit(
            "LoginFailed",
            user_id=user["userId"],
            login_ids=[login_id],
            type="warn",
            method=method,
            remote_address=_client_ip(request),
        )


async def password_signup(request: Request) -> Response:
    _check_project(request)
    body = await _body(request)
    login_id = body.text("loginId", required=True) or ""
    password = body.text("password", required=True) or ""
    fields = _user_fields(body.obj("user"))
    body.done()
    passwords.validate_password(password)
    store = _ctx(request).store
    if store.user_by_login_id(login_id) is not None:
        raise errors.user_already_exists()
    user = store.create_user(login_id, status="enabled", password=password, **fields)
    return _issue(request, user, method="password", amr=["pwd"])


def _password_user(request: Request, login_id: str, password: str) -> dict[str, Any]:
    """The user whose current password this is, or a Descope 401 (same answer for unknown users)."""
    store = _ctx(request).store
    user = store.user_by_login_id(login_id)
    if user is None or not store.check_password(user["userId"], password):
        _login_failed(request, user, login_id, "password")
        raise errors.unauthorized("Invalid login ID or password")
    _ensure_enabled(user)
    return user


async def password_signin(request: Request) -> Response:
    _check_project(request)
    body = await _body(request)
    login_id = body.text("loginId", required=True) or ""
    password = body.text("password", required=True) or ""
    body.done()
    user = _password_user(request, login_id, password)
    state = _ctx(request).store.password_state(user["userId"])
    if state == "expired":
        raise errors.password_expired()
    if state == "temporary":
        raise errors.unauthorized("This password is temporary: replace it before signing in")
    return _issue(request, user, method="password", amr=["pwd"])


async def password_replace(request: Request) -> Response:
    _check_project(request)
    body = await _body(request)
    login_id = body.text("loginId", required=True) or ""
    old_password = body.text("oldPassword", required=True) or ""
    new_password = body.text("newPassword", required=True) or ""
    body.done()
    user = _password_user(request, login_id, old_password)
    passwords.validate_password(new_password)
    _ctx(request).store.set_password(user["userId"], new_password, state="active")
    return _issue(request, user, method="password", amr=["pwd"])


async def password_update(request: Request) -> Response:
    body = await _body(request)
    login_id = body.text("loginId", required=True) or ""
    new_password = body.text("newPassword", required=True) or ""
    body.done()
    _, user = _signed_in_user(request)
    _owned_login_id(user, login_id)
    passwords.validate_password(new_password)
    _ctx(request).store.set_password(user["userId"], new_password, state="active")
    return JSONResponse({})


def mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else f"{address[:1]}***"


def mask_phone(number: str) -> str:
    return "*" * max(0, len(number) - 4) + number[-4:]


def _send_code(
    request: Request,
    login_id: str,
    method: str,
    address: str,
    *,
    subject: str,
    purpose: str,
) -> dict[str, str]:
    """Create a one-time code, put the message in the outbox, answer the masked address."""
    if not address:
        raise errors.invalid_argument(f"The user has no address for {method}")
    store = _ctx(request).store
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


async def password_reset(request: Request) -> Response:
    """Sends a code (not a link): verify it with OTP, then `password.update` with the new session."""
    _check_project(request)
    body = await _body(request)
    login_id = body.text("loginId", required=True) or ""
    body.text("redirectUrl")
    body.obj("templateOptions")
    body.ignore("templateId", "providerId")
    body.done()
    user = _ctx(request).store.user_by_login_id(login_id)
    if user is None:
        raise errors.user_not_found()
    masked = _send_code(
        request,
        login_id,
        "email",
        user.get("email") or login_id,
        subject="Reset your password",
        purpose="reset your password (verify it, then set a new password)",
    )
    return JSONResponse({"resetMethod": "email", "pendingRef": "", "linkId": "", **masked})


# -- OTP ---------------------------------------------------------------------------------------


def _otp_method(request: Request) -> str:
    method = request.path_params["method"]
    if method not in OTP_METHODS:
        raise errors.not_found(f"Unknown delivery method {method}")
    return method


def _address(user: dict[str, Any], method: str, login_id: str) -> str:
    if method in PHONE_METHODS:
        return user.get("phone") or (login_id if login_id.startswith("+") else "")
    return user.get("email") or (login_id if "@" in login_id else "")


def _read_login_options(body: Body) -> None:
    """loginOptions are accepted (stepup/mfa/customClaims/templates) without effect on the code."""
    body.obj("loginOptions")


async def otp_signin(request: Request) -> Response:
    method = _otp_method(request)
    _check_project(request)
    body = await _body(request)
    login_id = body.text("loginId", required=True) or ""
    _read_login_options(body)
    body.done()
    user = _ctx(request).store.user_by_login_id(login_id)
    if user is None:
        raise errors.user_not_found()
    _ensure_enabled(user)
    address = _address(user, method, login_id)
    return JSONResponse(
        _send_code(request, login_id, method, address, subject="Your sign-in code", purpose="sign in")
    )


def _create_otp_user(request: Request, login_id: str, method: str, fields: dict[str, Any]) -> dict[str, Any]:
    store = _ctx(request).store
    if store.user_by_login_id(login_id) is not None:
        raise errors.user_already_exists()
    if method in PHONE_METHODS and "phone" not in fields and login_id.startswith("+"):
        fields["phone"] = login_id
    if method == "email" and "email" not in fields and "@" in login_id:
        fields["email"] = login_id
    return store.create_user(login_id, **fields)


async def otp_signup(request: Request) -> Response:
    method = _otp_method(request)
    _check_project(request)
    body = await _body(request)
    login_id = body.text("loginId", required=True) or ""
    fields = _user_fields(body.obj("user"))
    address = body.text("phone" if method == "sms" else method)
    if address:
        fields["phone" if method in PHONE_METHODS else "email"] = address
    _read_login_options(body)
    body.done()
    user = _create_otp_user(request, login_id, method, fields)
    address = _address(user, method, login_id)
    return JSONResponse(
        _send_code(request, login_id, method, address, subject="Your sign-up code", purpose="sign up")
    )


async def otp_signup_in(request: Request) -> Response:
    method = _otp_method(request)
    _check_project(request)
    body = await _body(request)
    login_id = body.text("loginId", required=True) or ""
    _read_login_options(body)
    body.done()
    user = _ctx(request).store.user_by_login_id(login_id) or _create_otp_user(request, login_id, method, {})
    _ensure_enabled(user)
    address = _address(user, method, login_id)
    return JSONResponse(
        _send_code(request, login_id, method, address, subject="Your sign-in code", purpose="sign in")
    )


def _pending_key(method: str, login_id: str) -> str:
    return PENDING_UPDATE_META.format(
        method="phone" if method in PHONE_METHODS else "email", login_id=login_id
    )


def _verify_address(
    request: Request, user: dict[str, Any], method: str, value: str, *, add: bool = False
) -> dict[str, Any]:
    """Mark an e-mail address or phone (by delivery method) verified, optionally as a login id."""
    store = _ctx(request).store
    if not value:
        return user
    if method in PHONE_METHODS:
        return store.update_contact(user["userId"], phone=value, verified_phone=True, add_login_id=add)
    return store.update_contact(user["userId"], email=value, verified_email=True, add_login_id=add)


def _apply_verified_contact(
    request: Request, user: dict[str, Any], method: str, login_id: str
) -> dict[str, Any]:
    """After a good code: apply a pending e-mail/phone update, or mark the address used as verified."""
    store = _ctx(request).store
    key = _pending_key(method, login_id)
    pending = store.meta_get(key)
    if not pending:
        return _verify_address(request, user, method, _address(user, method, login_id))
    store.meta_set(key, "")
    update = json.loads(pending)
    return _verify_address(request, user, method, update["value"], add=bool(update["addToLoginIds"]))


async def otp_verify(request: Request) -> Response:
    method = _otp_method(request)
    _check_project(request)
    body = await _body(request)
    login_id = body.text("loginId", required=True) or ""
    code = body.text("code", required=True) or ""
    body.done()
    store = _ctx(request).store
    user = store.user_by_login_id(login_id)
    if user is None or not store.consume_otp(login_id, method, code):
        _login_failed(request, user, login_id, "otp")
        raise errors.invalid_otp()
    _ensure_enabled(user)
    user = _apply_verified_contact(request, user, method, login_id)
    return _issue(request, user, method="otp", amr=["sms" if method in PHONE_METHODS else method])


async def _otp_update(request: Request, method: str, field: str) -> Response:
    """Send a code to a new address of the signed-in user; verifying it applies the change."""
    body = await _body(request)
    login_id = body.text("loginId", required=True) or ""
    value = body.text(field, required=True) or ""
    add = bool(body.flag("addToLoginIDs", default=False))
    body.flag("onMergeUseExisting")
    body.flag("mfa")
    body.obj("templateOptions")
    body.text("templateId")
    body.text("providerId")
    body.done()
    _, user = _signed_in_user(request)
    _owned_login_id(user, login_id)
    store = _ctx(request).store
    if add:
        other = store.user_by_login_id(value)
        if other is not None and other["userId"] != user["userId"]:
            raise errors.user_already_exists(f"{value} is already another user's login ID")
    store.meta_set(_pending_key(method, login_id), json.dumps({"value": value, "addToLoginIds": add}))
    masked = _send_code(
        request, login_id, method, value, subject=f"Confirm your new {field}", purpose=f"confirm {value}"
    )
    return JSONResponse(masked)


async def otp_update_email(request: Request) -> Response:
    return await _otp_update(request, "email", "email")


async def otp_update_phone(request: Request) -> Response:
    method = _otp_method(request)
    if method not in PHONE_METHODS:
        raise errors.not_found(f"Unknown delivery method {method}")
    return await _otp_update(request, method, "phone")


# -- sessions ----------------------------------------------------------------------------------


async def _empty_body(request: Request) -> None:
    (await _body(request)).done()


async def refresh(request: Request) -> Response:
    """A new session token for a valid refresh token (which is not rotated)."""
    await _empty_body(request)
    ctx = _ctx(request)
    token, claims, user = _refresh_token(request)
    session_seconds = ctx.store.session_settings_for(user["userId"])[0] if user else DEFAULT_SESSION_SECONDS
    session = ctx.tokens.mint_session(user, claims, session_seconds=session_seconds)
    body = ctx.tokens.response(session, Minted(token, claims), user=user, first_seen=False)
    return JSONResponse(body)


async def logout(request: Request) -> Response:
    await _empty_body(request)
    _, claims, _ = _refresh_token(request)
    _ctx(request).store.revoke_token(str(claims["jti"]), float(claims["exp"]))
    return JSONResponse({})


async def logout_all(request: Request) -> Response:
    await _empty_body(request)
    _, claims, user = _refresh_token(request)
    store = _ctx(request).store
    if user is None:
        store.revoke_token(str(claims["jti"]), float(claims["exp"]))
    else:
        store.revoke_sessions(user["userId"])
    return JSONResponse({})


async def me(request: Request) -> Response:
    _, user = _signed_in_user(request)
    return JSONResponse(user)


async def me_history(request: Request) -> Response:
    _, user = _signed_in_user(request)
    return JSONResponse(_ctx(request).store.history([user["userId"]]))


async def me_tenants(request: Request) -> Response:
    body = await _body(request)
    dct = bool(body.flag("dct", default=False))
    ids = body.strings("ids")
    body.done()
    claims, user = _signed_in_user(request)
    store = _ctx(request).store
    wanted = {claims.get("dct")} if dct else set(ids or [])
    tenants = []
    for association in user.get("userTenants", []):
        if association["tenantId"] in wanted:
            tenant = store.tenant(association["tenantId"]) or {}
            tenants.append(
                {
                    "id": association["tenantId"],
                    "name": association.get("tenantName", ""),
                    "customAttributes": tenant.get("customAttributes", {}),
                }
            )
    return JSONResponse({"tenants": tenants})


async def select_tenant(request: Request) -> Response:
    """Re-issue both tokens with `dct` set to one of the user's tenants."""
    body = await _body(request)
    tenant_id = body.text("tenant", required=True) or ""
    body.done()
    claims, user = _signed_in_user(request)
    if tenant_id not in {t["tenantId"] for t in user.get("userTenants", [])}:
        raise errors.invalid_argument(f"The user is not a member of tenant {tenant_id}")
    return _token_response(
        request,
        user,
        amr=list(claims.get("amr", [])),
        dct=tenant_id,
        extra={"dct": tenant_id},
        refresh_seconds=None,
        first_seen=False,
    )


# -- management sign-in ------------------------------------------------------------------------


async def mgmt_signin(request: Request) -> Response:
    """POST /v1/mgmt/auth/signin: JWTs for an existing user without credentials (descope-api.md §2.3)."""
    body = await _body(request)
    login_id = body.text("loginId", required=True) or ""
    body.flag("stepup")
    body.flag("mfa")
    revoke_others = bool(body.flag("revokeOtherSessions", default=False))
    custom_claims = body.obj("customClaims")
    body.text("jwt")
    refresh_duration = body.integer("refreshDuration")
    body.done()
    store = _ctx(request).store
    user = store.user_by_login_id(login_id)
    if user is None:
        raise errors.user_not_found()
    _ensure_enabled(user)
    if revoke_others:
        store.revoke_sessions(user["userId"])
    return _issue(
        request,
        user,
        method="mgmt",
        amr=[],
        extra=_custom_claims(custom_claims),
        refresh_seconds=refresh_duration or None,
    )


async def mgmt_anonymous(request: Request) -> Response:
    """POST /v1/mgmt/auth/anonymous: a `danu` token pair with no user behind it."""
    body = await _body(request)
    custom_claims = body.obj("customClaims")
    tenant_id = body.text("selectedTenant")
    refresh_duration = body.integer("refreshDuration")
    body.done()
    ctx = _ctx(request)
    subject = "U" + secrets.token_urlsafe(20)[:27]
    extra = {**_custom_claims(custom_claims), "danu": True}
    if tenant_id:
        extra["dct"] = tenant_id
    refresh_token = ctx.tokens.mint_refresh(
        None,
        amr=[],
        refresh_seconds=refresh_duration or DEFAULT_REFRESH_SECONDS,
        extra=extra,
        subject=subject,
    )
    session = ctx.tokens.mint_session(
        None, refresh_token.claims, session_seconds=DEFAULT_SESSION_SECONDS, iat=refresh_token.claims["iat"]
    )
    return JSONResponse(ctx.tokens.response(session, refresh_token, user=None, first_seen=True))


def create_signup_user(request: Request, login_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A user signing up through the management API or a sign-up link (fields: create_user keywords).

    An e-mail (phone) login id without an explicit address becomes the address, verified only when the
    request says so, as with the other sign-up methods.
    """
    store = _ctx(request).store
    if store.user_by_login_id(login_id) is not None:
        raise errors.user_already_exists()
    fields = dict(fields)
    if "email" not in fields and "@" in login_id:
        fields["email"] = login_id
    if "phone" not in fields and login_id.startswith("+"):
        fields["phone"] = login_id
    for kind in ("email", "phone"):
        fields[f"verified_{kind}"] = bool(fields.get(f"verified_{kind}")) and bool(fields.get(kind))
    return store.create_user(login_id, **fields)


async def _mgmt_signup_request(request: Request) -> tuple[str, dict[str, Any], dict[str, Any], int | None]:
    """(login id, create_user keywords, custom claims, refresh seconds) of a mgmt sign-up body."""
    body = await _body(request)
    login_id = body.text("loginId", required=True) or ""
    user = Body(body.obj("user") or {})
    fields = profile_fields(user)
    for kind, name in (("email", "emailVerified"), ("phone", "phoneVerified")):
        fields[f"verified_{kind}"] = any([user.flag(name), body.flag(name)])  # sent twice by the SDK
    sso_app_id = next((v for v in [user.text("ssoAppId"), body.text("ssoAppId")] if v), None)
    if sso_app_id:
        fields["sso_app_ids"] = [sso_app_id]
    user.done()
    claims = _custom_claims(body.obj("customClaims"))
    refresh_duration = body.integer("refreshDuration")
    body.done()
    return login_id, fields, claims, refresh_duration


async def mgmt_signup(request: Request) -> Response:
    """POST /v1/mgmt/auth/signup: create the user and answer JWTs (`firstSeen: true`)."""
    login_id, fields, claims, refresh_duration = await _mgmt_signup_request(request)
    user = create_signup_user(request, login_id, fields)
    return _issue(
        request, user, method="mgmt", amr=[], extra=claims, refresh_seconds=refresh_duration or None
    )


async def mgmt_signup_in(request: Request) -> Response:
    """POST /v1/mgmt/auth/signup-in: sign in an existing user (profile left as is), else sign up."""
    login_id, fields, claims, refresh_duration = await _mgmt_signup_request(request)
    user = _ctx(request).store.user_by_login_id(login_id)
    if user is None:
        user = create_signup_user(request, login_id, fields)
    _ensure_enabled(user)
    return _issue(
        request, user, method="mgmt", amr=[], extra=claims, refresh_seconds=refresh_duration or None
    )


# -- links (test-user magic and enchanted links, embedded links) --------------------------------


async def _token(request: Request, name: str) -> str:
    _check_project(request)
    body = await _body(request)
    value = body.text(name, required=True) or ""
    body.done()
    return value


def _sign_in_by_link(request: Request, link: dict[str, Any], *, method: str) -> Response:
    """Sign in (or, for a sign-up link, create) the link's user; its address is now verified."""
    store = _ctx(request).store
    login_id, delivery = link["loginId"], link["method"]
    if link["kind"] == "signup":
        user = create_signup_user(request, login_id, link["data"].get("fields", {}))
    else:
        found = store.user_by_login_id(login_id)
        if found is None:
            raise errors.user_not_found()
        user = found
    _ensure_enabled(user)
    amr: list[str] = []
    if delivery in OTP_METHODS:
        user = _verify_address(request, user, delivery, _address(user, delivery, login_id))
        amr = ["sms" if delivery in PHONE_METHODS else "email"]
    extra = _custom_claims(link["data"].get("customClaims"))
    return _issue(request, user, method=method, amr=amr, extra=extra)


async def magiclink_verify(request: Request) -> Response:
    """POST /v1/auth/magiclink/verify: a magic-link, embedded-link or sign-up-link token, once."""
    token = await _token(request, "token")
    link = _ctx(request).store.use_link(token, ("magiclink", "embedded", "signup"))
    if link is None:
        raise errors.unauthorized("The magic link token is invalid, already used or expired")
    return _sign_in_by_link(request, link, method="magiclink")


async def enchantedlink_verify(request: Request) -> Response:
    """POST /v1/auth/enchantedlink/verify: the user clicked; the pending session can be collected."""
    token = await _token(request, "token")
    if _ctx(request).store.use_link(token, ("enchantedlink",)) is None:
        raise errors.unauthorized("The enchanted link token is invalid, already used or expired")
    return JSONResponse({})


async def enchantedlink_pending_session(request: Request) -> Response:
    """POST /v1/auth/enchantedlink/pending-session: JWTs once the link is verified (E062503 before)."""
    pending_ref = await _token(request, "pendingRef")
    link = _ctx(request).store.collect_pending(pending_ref)
    if link is None:
        raise errors.enchanted_link_pending()
    return _sign_in_by_link(request, link, method="enchantedlink")


def routes() -> list[BaseRoute]:
    return [
        Route("/v2/keys/{project_id}", jwks, methods=["GET"]),
        Route("/v1/auth/password/policy", password_policy, methods=["GET"]),
        Route("/v1/auth/password/signup", password_signup, methods=["POST"]),
        Route("/v1/auth/password/signin", password_signin, methods=["POST"]),
        Route("/v1/auth/password/replace", password_replace, methods=["POST"]),
        Route("/v1/auth/password/update", password_update, methods=["POST"]),
        Route("/v1/auth/password/reset", password_reset, methods=["POST"]),
        Route("/v1/auth/otp/signin/{method}", otp_signin, methods=["POST"]),
        Route("/v1/auth/otp/signup/{method}", otp_signup, methods=["POST"]),
        Route("/v1/auth/otp/signup-in/{method}", otp_signup_in, methods=["POST"]),
        Route("/v1/auth/otp/verify/{method}", otp_verify, methods=["POST"]),
        Route("/v1/auth/otp/update/email", otp_update_email, methods=["POST"]),
        Route("/v1/auth/otp/update/phone/{method}", otp_update_phone, methods=["POST"]),
        Route("/v1/auth/refresh", refresh, methods=["POST"]),
        Route("/v1/auth/logout", logout, methods=["POST"]),
        Route("/v1/auth/logoutall", logout_all, methods=["POST"]),
        Route("/v1/auth/me", me, methods=["GET"]),
        Route("/v1/auth/me/history", me_history, methods=["GET"]),
        Route("/v1/auth/me/tenants", me_tenants, methods=["POST"]),
        Route("/v1/auth/tenant/select", select_tenant, methods=["POST"]),
        Route("/v1/auth/magiclink/verify", magiclink_verify, methods=["POST"]),
        Route("/v1/auth/enchantedlink/verify", enchantedlink_verify, methods=["POST"]),
        Route("/v1/auth/enchantedlink/pending-session", enchantedlink_pending_session, methods=["POST"]),
        Route("/v1/mgmt/auth/signin", mgmt_signin, methods=["POST"]),
        Route("/v1/mgmt/auth/signup", mgmt_signup, methods=["POST"]),
        Route("/v1/mgmt/auth/signup-in", mgmt_signup_in, methods=["POST"]),
        Route("/v1/mgmt/auth/anonymous", mgmt_anonymous, methods=["POST"]),
    ]
