"""The sandbox's ASGI app: Descope's routes behind one middleware that does what Descope's edge does.

The middleware (pure ASGI, one per request, no per-request task) normalises a leading `//`, injects
faults, enforces rate limits, checks the management bearer, and turns every failure into Descope's
error body. Handlers therefore only raise `DescopeError` and never see unauthenticated management
calls. Tracebacks go to the server log only.
"""

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
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import anonconsole
from anonconsole.sandbox import errors, routes_auth, routes_mgmt
from anonconsole.sandbox.context import SandboxContext
from anonconsole.sandbox.db import connect
from anonconsole.sandbox.errors import DescopeError
from anonconsole.sandbox.faults import Fault, Faults, injected_error, server_error
from anonconsole.sandbox.ratelimit import RateLimiter
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
    """Edge behaviour for every HTTP request (see the module docstring)."""

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


def _ctx(request: Request) -> SandboxContext:
    return request.app.state.ctx


async def health(request: Request) -> Response:
    ctx = _ctx(request)
    return JSONResponse(
        {
            "status": "ok",
            "projectId": ctx.project_id,
            "users": ctx.store.user_count(),
            "version": anonconsole.__version__,
        }
    )


def _query_int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise errors.validation_failed(f"{name} must be an integer") from None
    if value < 0:
        raise errors.invalid_argument(f"{name} must not be negative")
    return value


async def outbox(request: Request) -> Response:
    """What the real service would have e-mailed or texted, newest first."""
    store = _ctx(request).store
    if request.method == "DELETE":
        store.clear_outbox()
        return JSONResponse({})
    limit = _query_int(request, "limit", 100)
    login_id = request.query_params.get("loginId") or None
    return JSONResponse({"messages": store.list_outbox(limit=limit, login_id=login_id)})


def _rate(data: dict[str, object], name: str) -> float:
    value = data.get(name) or 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise errors.validation_failed(f"{name} must be a number between 0 and 1")
    return float(value)


async def faults(request: Request) -> Response:
    """Read or change the fault knobs of the running sandbox (demos and reliability tests).

    POST {"latencyMs": int, "errorRate": 0..1, "dropRate": 0..1, "paths": [path prefixes]}; every
    field optional (absent = off / all paths).
    """
    knobs: Faults = request.app.state.faults
    if request.method == "POST":
        data = await errors.read_json(request)
        body = errors.Body(data)
        latency = body.integer("latencyMs", default=0) or 0
        error_rate, drop_rate = (_rate(data, name) for name in ("errorRate", "dropRate"))
        body.ignore("errorRate", "dropRate")
        prefixes = tuple(body.strings("paths") or ())
        body.done()
        try:
            knobs.set(latency_ms=latency, error_rate=error_rate, drop_rate=drop_rate, paths=prefixes)
        except ValueError as exc:
            raise errors.invalid_argument(str(exc)) from None
    return JSONResponse(knobs.to_json())


def sandbox_routes() -> list[BaseRoute]:
    return [
        Route("/_sandbox/health", health, methods=["GET"]),
        Route("/_sandbox/outbox", outbox, methods=["GET", "DELETE"]),
        Route("/_sandbox/faults", faults, methods=["GET", "POST"]),
    ]


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
    routes: list[BaseRoute] = [*routes_mgmt.routes(), *routes_auth.routes(), *sandbox_routes()]
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
