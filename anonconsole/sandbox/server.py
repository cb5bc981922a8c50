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
from anonconsole.sandbox.faults import Fault, Faults, injected_error, injected_error_after, server_error
from anonconsole.sandbox.ratelimit import RateLimiter
from anonconsole.sandbox.routes import (
    access_keys,
    flows,
    link_signin,
    links,
    otp,
    password,
    password_settings,
    roles_audit,
    sandbox,
    sessions,
    sso,
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
# The largest request body accepted (chosen: Descope documents none). A batch of 10,000 users with
# every field fits; more is answered 413 before it is parsed.
MAX_BODY_BYTES = 4 * 1024 * 1024
# How much of a refused body is still read (and dropped) so the client reads the 413.
DRAIN_BYTES = 64 * 1024 * 1024


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


def _same(given: str, expected: str) -> bool:
    """Constant-time equality of two header values, whatever characters they hold (as bytes:
    `hmac.compare_digest` refuses non-ASCII strings with a TypeError)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


def check_management_bearer(ctx: SandboxContext, headers: dict[str, str]) -> None:
    """`Authorization: Bearer <projectId>:<managementKey>` (descope-api.md §1.5), or a Descope 401."""
    bearer = parse_bearer(headers.get("authorization"))
    if not bearer.project_id or not bearer.key:
        raise errors.unauthorized("Missing management key")
    header_project = headers.get("x-descope-project-id")
    if not _same(bearer.project_id, ctx.project_id) or (
        header_project is not None and not _same(header_project, ctx.project_id)
    ):
        raise errors.unauthorized("Project ID does not match")
    if not _same(hash_key(bearer.key), ctx.management_key_hash):
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


class _LimitedBody:
    """The request body as it arrives, refused (413) past MAX_BODY_BYTES, whatever Content-Length says."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.received = 0
        self.complete = False

    async def _next(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.complete = not message.get("more_body", False)
        else:
            self.complete = True
        return message

    async def receive(self) -> Message:
        message = await self._next()
        if self.received > MAX_BODY_BYTES:
            raise errors.too_large(MAX_BODY_BYTES)
        return message

    async def drain(self) -> None:
        """Read and drop the rest of a refused body (up to DRAIN_BYTES), so that a client still
        sending it reads the 413 instead of a connection reset."""
        while not self.complete and self.received <= DRAIN_BYTES:
            await self._next()


async def _discard(message: Message) -> None:
    """`send` for a request whose answer a fault loses."""


class SandboxMiddleware:
    """Edge behaviour for every HTTP request, one per request and no per-request task (pure ASGI).

    It normalises a leading `//`, bounds the body, injects faults, authenticates management calls
    and then enforces rate limits (a request that fails authentication counts against its client's
    own budget, never the project's), and turns every failure into Descope's error body. Handlers
    therefore only raise `DescopeError` and never see unauthenticated management calls. Tracebacks go
    to the server log only.
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
        body = _LimitedBody(receive)
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            fault = await self._guard(scope)
            if fault is Fault.DROP:
                await _drop(scope, receive, injected_error())
            elif fault is not None and fault.after:
                await self.app(scope, body.receive, _discard)  # served in full; the answer is lost
                if fault is Fault.DROP_AFTER:
                    await _drop(scope, receive, injected_error_after())
                else:
                    raise injected_error_after()
            else:
                await self.app(scope, body.receive, tracking_send)
        except DescopeError as exc:
            if exc.status == 413:
                await body.drain()
            if not started:
                await exc.response()(scope, receive, send)
        except Exception:
            logger.exception("Unhandled error on %s %s", scope.get("method"), scope["path"])
            if not started:
                await server_error("Internal server error").response()(scope, receive, send)

    async def _guard(self, scope: Scope) -> Fault | None:
        """Size, faults, authentication and limits before routing; the fault left to apply, if any."""
        path: str = scope["path"]
        headers = _headers(scope)
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            raise errors.too_large(MAX_BODY_BYTES)
        if path.startswith(SANDBOX_PREFIX) and not path.startswith(MANAGEMENT_PREFIXES):
            return None
        fault = None
        if not path.startswith(SANDBOX_PREFIX) and self.faults.applies_to(path):
            fault = await self.faults.apply()
            if fault is Fault.DROP:
                return fault
            if fault is Fault.ERROR:
                raise injected_error()
            if fault is Fault.RATE_LIMITED:
                raise errors.rate_limited(1)
        self._admit(scope, path, headers)
        return fault

    def _admit(self, scope: Scope, path: str, headers: dict[str, str]) -> None:
        """Authenticate management calls, then count the request in its rate-limit bucket."""
        client_ip = (scope.get("client") or ("", 0))[0]
        if not path.startswith(MANAGEMENT_PREFIXES):
            self._count(path, parse_bearer(headers.get("authorization")).project_id or None, client_ip)
            return
        try:
            check_management_bearer(self.ctx, headers)
        except DescopeError:
            self._count(path, None, client_ip)  # the caller's own budget, never the project's
            raise
        self._count(path, self.ctx.project_id, client_ip)

    def _count(self, path: str, project_id: str | None, client_ip: str) -> None:
        if self.limiter is not None:
            self.limiter.check(path, project_id=project_id, client_ip=client_ip)


async def _drop(scope: Scope, receive: Receive, instead: DescopeError) -> None:
    """Close the connection without a response: the client sees a transport error.

    Needs the server's transport (uvicorn's, recorded by SandboxApp); in-process ASGI clients
    have none, and then get `instead` (an injected 500).
    """
    transport = scope.get(TRANSPORT_SCOPE_KEY)
    if transport is None:
        raise instead
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
        *password_settings.routes(),
        *otp.routes(),
        *links.routes(),
        *link_signin.routes(),
        *access_keys.routes(),
        *flows.routes(),
        *sso.routes(),
        *sandbox.routes(),
    ]
    app = SandboxApp(routes=routes, exception_handlers={HTTPException: _http_error})
    app.router.redirect_slashes = False  # Descope routes exact paths: `/search/` is unknown, not a 307
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
