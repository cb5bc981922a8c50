"""What every way of signing in shares, so that each one answers and records a sign-in the same way."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from anonconsole.sandbox import errors
from anonconsole.sandbox import fields as user_fields
from anonconsole.sandbox.body import Body
from anonconsole.sandbox.errors import DescopeError
from anonconsole.sandbox.routes.common import context
from anonconsole.sandbox.tokens import parse_bearer

# Claims a caller's customClaims may not override: they carry identity and validity.
RESERVED_CLAIMS = frozenset(
    {"sub", "iss", "exp", "iat", "nbf", "jti", "drn", "aud", "amr", "rexp", "tu", "danu"}
)


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def logged_out() -> DescopeError:
    """A refresh token revoked by a logout (code documented in descope-api.md §1.7)."""
    return DescopeError(401, "E064001", "Token expired by logged out", "The session was logged out")


def check_project(request: Request) -> None:
    project_id = parse_bearer(request.headers.get("authorization")).project_id
    if project_id != context(request).project_id:
        raise errors.unauthorized("Unknown project ID")


def custom_claims(claims: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (claims or {}).items() if k not in RESERVED_CLAIMS}


def ensure_enabled(user: dict[str, Any]) -> None:
    if user.get("status") == "disabled":
        raise errors.unauthorized("User is disabled")


def issue(
    request: Request,
    user: dict[str, Any],
    *,
    method: str,
    amr: list[str],
    dct: str | None = None,
    extra: dict[str, Any] | None = None,
    refresh_seconds: int | None = None,
) -> Response:
    """Record a successful authentication and answer the JWT response.

    Every successful authentication goes through here, so history, audit, the invited→enabled switch
    and `firstSeen` are handled in one place (`Store.record_sign_in`).
    """
    first_seen = context(request).store.record_sign_in(
        user["userId"], method=method, ip=_client_ip(request), tenant=dct or ""
    )
    return token_response(
        request, user, amr=amr, dct=dct, extra=extra, refresh_seconds=refresh_seconds, first_seen=first_seen
    )


def token_response(
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
    ctx = context(request)
    user = ctx.store.user_by_id(user["userId"]) or user
    session_seconds, default_refresh = ctx.store.session_settings_for(user["userId"])
    refresh = ctx.tokens.mint_refresh(
        user, amr=amr, refresh_seconds=refresh_seconds or default_refresh, extra=extra
    )
    session = ctx.tokens.mint_session(
        user, refresh.claims, session_seconds=session_seconds, dct=dct, iat=refresh.claims["iat"]
    )
    return JSONResponse(ctx.tokens.response(session, refresh, user=user, first_seen=first_seen))


def read_refresh_token(request: Request) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    """The bearer's refresh token, its verified claims and its user (None for anonymous tokens)."""
    ctx = context(request)
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
    ensure_enabled(user)
    return bearer.token, claims, user


def signed_in_user(request: Request) -> tuple[dict[str, Any], dict[str, Any]]:
    """Claims and user of a refresh token that must belong to a real (non-anonymous) user."""
    _, claims, user = read_refresh_token(request)
    if user is None:
        raise errors.unauthorized("Anonymous tokens have no user")
    return claims, user


def owned_login_id(user: dict[str, Any], login_id: str) -> None:
    if login_id not in user.get("loginIds", []):
        raise errors.unauthorized("The login ID does not belong to the signed-in user")


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


def sign_up_fields(user: dict[str, Any] | None) -> dict[str, Any]:
    """Profile fields of a sign-up `user` object, as `Store.create_user` keywords."""
    body = Body(user or {})
    fields = profile_fields(body)
    body.done()
    return fields


def login_failed(
    request: Request, user: dict[str, Any] | None, login_id: str, method: str, error: DescopeError
) -> DescopeError:
    """`error`, carrying the LoginFailed audit record of a known user: it stands although the
    request fails (its other writes are rolled back), as Descope audits failed sign-ins."""
    if user is not None:
        store, user_id, ip = context(request).store, user["userId"], _client_ip(request)
        error.lasting.append(
            lambda: store.add_audit(
                "LoginFailed",
                user_id=user_id,
                login_ids=[login_id],
                type="warn",
                method=method,
                remote_address=ip,
            )
        )
    return error


def create_signup_user(request: Request, login_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A user signing up through the management API or a sign-up link (fields: create_user keywords).

    An e-mail (phone) login id without an explicit address becomes the address, verified only when the
    request says so, as with the other sign-up methods.
    """
    store = context(request).store
    if store.user_by_login_id(login_id) is not None:
        raise errors.user_already_exists()
    fields = dict(fields)
    if "email" not in fields and "@" in login_id and user_fields.is_email(login_id):
        fields["email"] = login_id
    if "phone" not in fields and user_fields.is_e164(login_id):
        fields["phone"] = login_id
    for kind in ("email", "phone"):
        fields[f"verified_{kind}"] = bool(fields.get(f"verified_{kind}")) and bool(fields.get(kind))
    return store.create_user(login_id, **fields)
