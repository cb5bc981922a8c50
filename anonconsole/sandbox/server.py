"""The sandbox's ASGI app: Descope's routes behind one middleware that does what Descope's edge does."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from anonconsole.sandbox import errors
from anonconsole.sandbox.context import SandboxContext
from anonconsole.sandbox.db import connect
from anonconsole.sandbox.errors import DescopeError
from anonconsole.sandbox.faults import Fault, Faults, injected_error, server_error
from anonconsole.sandbox.ratelimit import RateLimiter
from anonconsole.sandbox.routes import (
    links,
    otp,
    password,
    roles_audit,
    sandbox,
    sessions,
    tenants,
    test_users,
    user_updates,
    users,
)
from anonconsole.sandbox.store import Store
from anonconsole.sandbox.tokens import TokenIssuer, parse_bearer

logger = logging.getLogger("anonconsole.sandbox")

MANAGEMENT_PREFIXES = ("/v1/mgmt/", "/v2/mgmt/", "/_sandbox/outbox", "/_sandbox/faults")
SANDBOX_PREFIX = "/_sandbox/"
TRANSPORT_SCOPE_KEY = "anonconsole.transport"
_DROP_WAIT_SECONDS = 5.0


def hash_key(management_key: str) -> str:
    """SHA-256 hex of a management key: the only form the sandbox keeps."""
    return hashlib.sha256(management_key.encode("utf-8")).hexdigest()


def create_context(
    db: str | Path,
    project_id: str,
    management_key_hash: str,
    *,
    clock: Callable[[], float] = time.time,
) -> SandboxContext:
    """Open (or create) a sandbox database and everything a server needs around it."""
    store = Store(connect(db), project_id, clock=clock)
    tokens = TokenIssuer(store, project_id, clock=clock)
    return SandboxContext(
        store=store,
        tokens=tokens,
        project_id=project_id,
        management_key_hash=management_key_hash,
        clock=clock,
    )


def check_management_bearer(ctx: SandboxContext, headers: dict[str, str]) -> None:
    """`Authorization: Bearer <projectId>:<managementKey>` (descope-api.md §1.5), or a Descope 401."""
    bearer = parse_bearer(headers.get("authorization"))
    if not bearer.project_id or not bearer.key:
        raise errors.unauthorized("Missing management key")
    header_project = headers.get("x-descope-project-id")
    if not hmac.compare_digest(bearer.project_id, ctx.project_id) or (
        header_project is not None and not hmac.compare_digest(header_project, ctx.project_id)
    ):
        raise errors.unauthorized("Project ID does not match")
    if not hmac.compare_digest(hash_key(bearer.key), ctx.management_key_hash):
        raise errors.unauthorized("Invalid management key")


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _normalised(scope: Scope) -> Scope:
    """Tolerate a trailing slash in the SDK's base URL, which yields `//v1/...` paths."""
    path: str = scope["path"]
    if not path.startswith("//"):
        return scope
    scope = dict(scope)
    scope["path"] = "/" + path.lstrip("/")
    raw = scope.get("raw_path")
    if raw:
        scope["raw_path"] = b"/" + raw.lstrip(b"/")
    return scope


class SandboxMiddleware:
    """Edge behaviour for every HTTP request, one per request and no per-request task (pure ASGI).

    It normalises a leading `//`, injects faults, enforces rate limits, checks the management bearer,
    and turns every failure into Descope's error body. Handlers therefore only raise `DescopeError`
    and never see unauthenticated management calls. Tracebacks go to the server log only.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        ctx: SandboxContext,
        faults: Faults,
        limiter: RateLimiter | None,
    ) -> None:
        self.app = app
        self.ctx = ctx
        self.faults = faults
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope = _normalised(scope)
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            if await self._guard(scope):
                await _drop(scope, receive)
                return
            await self.app(scope, receive, tracking_send)
        except DescopeError as exc:
            if not started:
                await exc.response()(scope, receive, send)
        except Exception:
            logger.exception("Unhandled error on %s %s", scope.get("method"), scope["path"])
            if not started:
                await server_error("Internal server error").response()(scope, receive, send)

    async def _guard(self, scope: Scope) -> bool:
        """Faults, limits and authentication before routing; True means drop the connection."""
        path: str = scope["path"]
        if path.startswith(SANDBOX_PREFIX) and not path.startswith(MANAGEMENT_PREFIXES):
            return False
        headers = _headers(scope)
        if not path.startswith(SANDBOX_PREFIX) and self.faults.applies_to(path):
            fault = await self.faults.apply()
            if fault is Fault.DROP:
                return True
            if fault is Fault.ERROR:
                raise injected_error()
            if fault is Fault.RATE_LIMITED:
                raise errors.rate_limited(1)
        if self.limiter is not None:
            client = scope.get("client") or ("", 0)
            project = parse_bearer(headers.get("authorization")).project_id or self.ctx.project_id
            self.limiter.check(path, project_id=project, client_ip=client[0])
        if path.startswith(MANAGEMENT_PREFIXES):
            check_management_bearer(self.ctx, headers)
        return False


async def _drop(scope: Scope, receive: Receive) -> None:
    """Close the connection without a response: the client sees a transport error.

    Needs the server's transport (uvicorn's, recorded by SandboxApp); in-process ASGI clients
    have none, and then get an injected 500 instead.
    """
    transport = scope.get(TRANSPORT_SCOPE_KEY)
    if transport is None:
        raise injected_error()
    transport.close()
    try:
        async with asyncio.timeout(_DROP_WAIT_SECONDS):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        logger.warning("Dropped connection did not report a disconnect")


class SandboxApp(Starlette):
    """Starlette app that records the connection's transport so a fault can drop it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            owner = getattr(send, "__self__", None)
            scope[TRANSPORT_SCOPE_KEY] = getattr(owner, "transport", None)
        await super().__call__(scope, receive, send)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Router 404/405 in Descope's shape."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return errors.not_found(f"Unknown path {request.url.path}").response()
    if exc.status_code == 405:
        error = DescopeError(405, "E011007", "Method not allowed", f"{request.method} is not allowed here")
        error.headers.update(exc.headers or {})
        return error.response()
    return DescopeError(exc.status_code, "E011001", "Bad request", str(exc.detail)).response()


def build_app(
    ctx: SandboxContext,
    *,
    faults: Faults | None = None,
    rate_limits: bool = False,
) -> Starlette:
    """The sandbox app. Rate limits are off unless asked for (the CLI turns them on by default)."""
    routes: list[BaseRoute] = [
        *users.routes(),
        *user_updates.routes(),
        *test_users.routes(),
        *tenants.routes(),
        *roles_audit.routes(),
        *sessions.routes(),
        *password.routes(),
        *otp.routes(),
        *links.routes(),
        *sandbox.routes(),
    ]
    app = SandboxApp(routes=routes, exception_handlers={HTTPException: _http_error})
    knobs = faults or Faults()
    app.state.faults = knobs
    app.add_middleware(
        SandboxMiddleware,
        ctx=ctx,
        faults=knobs,
        limiter=RateLimiter() if rate_limits else None,
    )
    app.state.ctx = ctx
    return app
