"""What the sandbox's route modules share: route tables, the server's context, strict bodies, answers."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sized
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from anonconsole.sandbox import errors
from anonconsole.sandbox.body import Body, read_json
from anonconsole.sandbox.context import SandboxContext
from anonconsole.sandbox.store import MANAGEMENT_ACTOR, Store

USER = "/v1/mgmt/user"
MAX_LIMIT = 1000
# Chosen bounds of search filters (Descope documents none): every value is an SQL parameter, under
# the smallest limit SQLite builds have (32,766); every tenant, attribute or tenant-role entry is one
# more SQL term, kept far under SQLite's expression depth (1,000).
MAX_FILTER_VALUES = 10_000
MAX_FILTER_TERMS = 100
Handler = Callable[[Request], Awaitable[JSONResponse]]
Endpoint = Callable[[Request], Awaitable[Response]]
E = TypeVar("E", bound=Endpoint)


class RouteTable:
    """One module's routes, declared next to their handlers and mounted in the order declared.

    Order matters only where routes share a path: Starlette's 405 lists the first one's methods.
    Every handler runs in one transaction (`atomic`) unless declared with `atomic=False`.
    """

    def __init__(self) -> None:
        self._entries: list[tuple[str, Endpoint, tuple[str, ...], bool]] = []

    def __call__(self, path: str, *methods: str, atomic: bool = True) -> Callable[[E], E]:
        """Decorator: serve the handler below at `path` for `methods`."""

        def register(handler: E) -> E:
            self.add(path, handler, *methods, atomic=atomic)
            return handler

        return register

    def add(self, path: str, handler: Endpoint, *methods: str, atomic: bool = True) -> None:
        """Serve `handler` at `path` for `methods`; for handlers a factory makes.

        `atomic=False` is for a handler that yields to the event loop while it writes (a big batch):
        it must group its own writes, each in a transaction that does not span an `await`.
        """
        if not methods:
            raise ValueError(f"No HTTP method for {path}")
        self._entries.append((path, handler, methods, atomic))

    def routes(self) -> list[BaseRoute]:
        """New Starlette routes for one app, in the order they were declared."""
        return [
            Route(path, atomic_handler(handler) if atomic else handler, methods=list(methods))
            for path, handler, methods, atomic in self._entries
        ]


def atomic_handler(handler: Endpoint) -> Endpoint:
    """`handler` with all its writes in one transaction: a request that fails changes nothing.

    The body is read first, so nothing inside the transaction waits on the network: the handler's own
    reads of the body return at once, and no other request runs on the shared connection meanwhile.
    Writes an error marks as lasting (a failed sign-in's audit record) are made after the rollback.
    """

    @functools.wraps(handler)
    async def atomic(request: Request) -> Response:
        await request.body()
        store = context(request).store
        try:
            with store.transaction():
                return await handler(request)
        except errors.DescopeError as exc:
            for write in exc.lasting:
                write()
            raise

    return atomic


def bounded(name: str, values: Sized, most: int = MAX_FILTER_VALUES) -> None:
    """Refuse a filter with more than `most` values or entries (a Descope-shaped 400)."""
    if len(values) > most:
        raise errors.invalid_argument(f"{name} may hold at most {most} values ({len(values)} sent)")


def context(request: Request) -> SandboxContext:
    """The `SandboxContext` that `build_app` keeps on the app's state."""
    ctx: SandboxContext = request.app.state.ctx
    return ctx


async def read_body(request: Request) -> Body:
    return Body(await read_json(request))


async def context_and_body(request: Request) -> tuple[SandboxContext, Body]:
    """What most management handlers start with: the server's context and the strict request body."""
    return context(request), await read_body(request)


def ok(data: Any = None) -> JSONResponse:
    return JSONResponse({} if data is None else data)


def first_of(b: Body, read: Callable[[str], Any], *names: str) -> Any:
    """First non-null of several spellings of one field (SDK vs docs names); all are marked read."""
    values = [read(n) for n in names]
    return next((v for v in values if v is not None), None)


def audit(ctx: SandboxContext, action: str, user: dict[str, Any] | None = None, **data: Any) -> None:
    ctx.store.add_audit(
        action,
        user_id=user["userId"] if user else "",
        login_ids=user["loginIds"] if user else (),
        tenants=[t["tenantId"] for t in user["userTenants"]] if user else (),
        data=data or None,
        actor_id=MANAGEMENT_ACTOR,
        at=ctx.clock(),
    )


def user_by_login_id(store: Store, login_id: str) -> dict[str, Any]:
    user = store.user_by_login_id(login_id)
    if user is None:
        raise errors.user_not_found(f"User {login_id} not found")
    return user


async def target(request: Request) -> dict[str, Any] | None:
    """The user a delete/logout body names by `loginId` or `userId`, None when it does not exist."""
    store = context(request).store
    b = await read_body(request)
    login_id, user_id = b.text("loginId"), b.text("userId")
    if login_id:
        user = store.user_by_login_id(login_id)
    elif user_id:
        user = store.user_by_id(user_id)
    else:
        raise errors.missing_argument("loginId")
    b.done()
    return user
