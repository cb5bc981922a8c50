"""Sessions: JWTs for management sign-ins, their refresh, inspection and end, and the key to verify them."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from anonconsole.sandbox import errors
from anonconsole.sandbox.body import Body
from anonconsole.sandbox.context import DEFAULT_REFRESH_SECONDS, DEFAULT_SESSION_SECONDS
from anonconsole.sandbox.routes import signin
from anonconsole.sandbox.routes.common import (
    USER,
    RouteTable,
    audit,
    context,
    context_and_body,
    ok,
    read_body,
    target,
)
from anonconsole.sandbox.tokens import Minted

route = RouteTable()
routes = route.routes


@route("/v2/keys/{project_id}", "GET")
async def jwks(request: Request) -> Response:
    """Public: the key the SDK validates our JWTs with."""
    ctx = context(request)
    if request.path_params["project_id"] != ctx.project_id:
        raise errors.invalid_argument("Unknown project ID")
    return JSONResponse(ctx.tokens.jwks())


async def _empty_body(request: Request) -> None:
    (await read_body(request)).done()


@route("/v1/auth/refresh", "POST")
async def refresh(request: Request) -> Response:
    """A new session token for a valid refresh token (which is not rotated)."""
    await _empty_body(request)
    ctx = context(request)
    token, claims, user = signin.read_refresh_token(request)
    session_seconds = ctx.store.session_settings_for(user["userId"])[0] if user else DEFAULT_SESSION_SECONDS
    session = ctx.tokens.mint_session(user, claims, session_seconds=session_seconds)
    body = ctx.tokens.response(session, Minted(token, claims), user=user, first_seen=False)
    return JSONResponse(body)


@route("/v1/auth/logout", "POST")
async def logout(request: Request) -> Response:
    await _empty_body(request)
    _, claims, _ = signin.read_refresh_token(request)
    context(request).store.revoke_token(str(claims["jti"]), float(claims["exp"]))
    return JSONResponse({})


@route("/v1/auth/logoutall", "POST")
async def logout_all(request: Request) -> Response:
    await _empty_body(request)
    _, claims, user = signin.read_refresh_token(request)
    store = context(request).store
    if user is None:
        store.revoke_token(str(claims["jti"]), float(claims["exp"]))
    else:
        store.revoke_sessions(user["userId"])
    return JSONResponse({})


@route("/v1/auth/me", "GET")
async def me(request: Request) -> Response:
    _, user = signin.signed_in_user(request)
    return JSONResponse(user)


@route("/v1/auth/me/history", "GET")
async def me_history(request: Request) -> Response:
    _, user = signin.signed_in_user(request)
    return JSONResponse(context(request).store.history([user["userId"]]))


@route("/v1/auth/me/tenants", "POST")
async def me_tenants(request: Request) -> Response:
    body = await read_body(request)
    dct = bool(body.flag("dct", default=False))
    ids = body.strings("ids")
    body.done()
    claims, user = signin.signed_in_user(request)
    store = context(request).store
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


@route("/v1/auth/tenant/select", "POST")
async def select_tenant(request: Request) -> Response:
    """Re-issue both tokens with `dct` set to one of the user's tenants."""
    body = await read_body(request)
    tenant_id = body.text("tenant", required=True) or ""
    body.done()
    claims, user = signin.signed_in_user(request)
    if tenant_id not in {t["tenantId"] for t in user.get("userTenants", [])}:
        raise errors.invalid_argument(f"The user is not a member of tenant {tenant_id}")
    return signin.token_response(
        request,
        user,
        amr=list(claims.get("amr", [])),
        dct=tenant_id,
        extra={"dct": tenant_id},
        refresh_seconds=None,
        first_seen=False,
    )


# -- management sign-in ------------------------------------------------------------------------


def _token_options(body: Body) -> tuple[dict[str, Any], int | None]:
    """The custom claims (reserved ones dropped) and refresh seconds (None: default) a token call sends.

    `refreshDuration` is an int32 (Descope's API reference); a negative one, which would mint a pair
    already expired, is refused (chosen: Descope documents no minimum; 0 means the default).
    """
    claims = signin.custom_claims(body.obj("customClaims"))
    return claims, body.integer("refreshDuration", bits=32, minimum=0) or None


@route("/v1/mgmt/auth/signin", "POST")
async def mgmt_signin(request: Request) -> Response:
    """POST /v1/mgmt/auth/signin: JWTs for an existing user without credentials (descope-api.md §2.3)."""
    body = await read_body(request)
    login_id = body.text("loginId", required=True) or ""
    body.flag("stepup")
    body.flag("mfa")
    revoke_others = bool(body.flag("revokeOtherSessions", default=False))
    claims, refresh_seconds = _token_options(body)
    body.text("jwt")
    body.done()
    store = context(request).store
    user = store.user_by_login_id(login_id)
    if user is None:
        raise errors.user_not_found()
    signin.ensure_enabled(user)
    if revoke_others:
        store.revoke_sessions(user["userId"])
    return signin.issue(
        request,
        user,
        method="mgmt",
        amr=[],
        extra=claims,
        refresh_seconds=refresh_seconds,
    )


@route("/v1/mgmt/auth/anonymous", "POST")
async def mgmt_anonymous(request: Request) -> Response:
    """POST /v1/mgmt/auth/anonymous: a `danu` token pair with no user behind it.

    Its claims are the ones Descope documents for anonymous sessions (descope-api.md §6): `sub` (a
    new random ID), `iss`, `iat`, `exp`, `drn`, `danu`, the session's `rexp`, the custom claims (never
    over those) and `dct` for a selected tenant, which must exist; plus the sandbox's `jti` (logout).
    No `amr`, roles or tenants: nobody authenticated."""
    body = await read_body(request)
    claims, refresh_seconds = _token_options(body)
    tenant_id = body.text("selectedTenant")
    body.done()
    ctx = context(request)
    if tenant_id and ctx.store.tenant(tenant_id) is None:
        raise errors.tenant_not_found(tenant_id)
    subject = "U" + secrets.token_urlsafe(20)[:27]
    extra = {**claims, "danu": True}
    if tenant_id:
        extra["dct"] = tenant_id
    refresh_token = ctx.tokens.mint_refresh(
        None,
        amr=[],
        refresh_seconds=refresh_seconds or DEFAULT_REFRESH_SECONDS,
        extra=extra,
        subject=subject,
    )
    session = ctx.tokens.mint_session(
        None, refresh_token.claims, session_seconds=DEFAULT_SESSION_SECONDS, iat=refresh_token.claims["iat"]
    )
    return JSONResponse(ctx.tokens.response(session, refresh_token, user=None, first_seen=True))


async def _mgmt_signup_request(request: Request) -> tuple[str, dict[str, Any], dict[str, Any], int | None]:
    """(login id, create_user keywords, custom claims, refresh seconds) of a mgmt sign-up body."""
    body = await read_body(request)
    login_id = body.text("loginId", required=True) or ""
    user = Body(body.obj("user") or {})
    fields = signin.profile_fields(user)
    for kind, name in (("email", "emailVerified"), ("phone", "phoneVerified")):
        fields[f"verified_{kind}"] = any([user.flag(name), body.flag(name)])  # sent twice by the SDK
    sso_app_id = next((v for v in [user.text("ssoAppId"), body.text("ssoAppId")] if v), None)
    if sso_app_id:
        fields["sso_app_ids"] = [sso_app_id]
    user.done()
    claims, refresh_seconds = _token_options(body)
    body.done()
    return login_id, fields, claims, refresh_seconds


@route("/v1/mgmt/auth/signup", "POST")
async def mgmt_signup(request: Request) -> Response:
    """POST /v1/mgmt/auth/signup: create the user and answer JWTs (`firstSeen: true`)."""
    login_id, fields, claims, refresh_seconds = await _mgmt_signup_request(request)
    user = signin.create_signup_user(request, login_id, fields)
    return signin.issue(request, user, method="mgmt", amr=[], extra=claims, refresh_seconds=refresh_seconds)


@route("/v1/mgmt/auth/signup-in", "POST")
async def mgmt_signup_in(request: Request) -> Response:
    """POST /v1/mgmt/auth/signup-in: sign in an existing user (profile left as is), else sign up."""
    login_id, fields, claims, refresh_seconds = await _mgmt_signup_request(request)
    user = context(request).store.user_by_login_id(login_id)
    if user is None:
        user = signin.create_signup_user(request, login_id, fields)
    signin.ensure_enabled(user)
    return signin.issue(request, user, method="mgmt", amr=[], extra=claims, refresh_seconds=refresh_seconds)


@route(f"{USER}/logout", "POST")
async def user_logout(request: Request) -> JSONResponse:
    ctx = context(request)
    user = await target(request)
    if user is None:
        raise errors.user_not_found()
    ctx.store.revoke_sessions(user["userId"], at=ctx.clock())
    audit(ctx, "UserLoggedOut", user)
    return ok()


@route("/v1/mgmt/jwt/update", "POST")
async def jwt_update(request: Request) -> JSONResponse:
    """POST /v1/mgmt/jwt/update: the token re-signed with custom claims (identity claims protected)."""
    ctx, b = await context_and_body(request)
    token = b.text("jwt", required=True) or ""
    claims, _ = _token_options(b)  # a refresh duration is accepted; the token keeps its expiry
    b.done()
    return ok({"jwt": ctx.tokens.with_claims(token, claims)})
