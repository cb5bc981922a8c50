"""The sandbox's own endpoints under `/_sandbox/` (never Descope's paths): health, outbox and fault knobs."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

import anonconsole
from anonconsole.sandbox import errors
from anonconsole.sandbox.faults import Faults
from anonconsole.sandbox.routes.common import RouteTable, context

route = RouteTable()
routes = route.routes


@route("/_sandbox/health", "GET")
async def health(request: Request) -> Response:
    ctx = context(request)
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


@route("/_sandbox/outbox", "GET", "DELETE")
async def outbox(request: Request) -> Response:
    """What the real service would have e-mailed or texted, newest first."""
    store = context(request).store
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


@route("/_sandbox/faults", "GET", "POST")
async def faults(request: Request) -> Response:
    """Read or change the fault knobs of the running sandbox (demos and reliability tests).

    POST {"latencyMs": int, "errorRate": 0..1, "dropRate": 0..1, "rateLimitRate": 0..1,
    "paths": [path prefixes]}; every field optional (absent = off / all paths).
    """
    knobs: Faults = request.app.state.faults
    if request.method == "POST":
        data = await errors.read_json(request)
        body = errors.Body(data)
        latency = body.integer("latencyMs", default=0) or 0
        error_rate, drop_rate, limited = (_rate(data, n) for n in ("errorRate", "dropRate", "rateLimitRate"))
        body.ignore("errorRate", "dropRate", "rateLimitRate")
        prefixes = tuple(body.strings("paths") or ())
        body.done()
        try:
            knobs.set(
                latency_ms=latency,
                error_rate=error_rate,
                drop_rate=drop_rate,
                paths=prefixes,
                rate_limit_rate=limited,
            )
        except ValueError as exc:
            raise errors.invalid_argument(str(exc)) from None
    return JSONResponse(knobs.to_json())
