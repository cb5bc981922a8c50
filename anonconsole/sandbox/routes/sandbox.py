"""The sandbox's own endpoints under `/_sandbox/` (never Descope's paths): health, outbox and fault knobs."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

import anonconsole
from anonconsole.sandbox import errors
from anonconsole.sandbox.body import Body, checked_integer, read_json
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
    return checked_integer(name, raw, bits=32, minimum=0)


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


RATES = {
    "errorRate": "error_rate",
    "dropRate": "drop_rate",
    "rateLimitRate": "rate_limit_rate",
    "errorAfterRate": "error_after_rate",
    "dropAfterRate": "drop_after_rate",
}


def _rate(body: Body, name: str) -> float:
    value = body.raw(name) or 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise errors.validation_failed(f"{name} must be a number between 0 and 1")
    return float(value)


@route("/_sandbox/faults", "GET", "POST")
async def faults(request: Request) -> Response:
    """Read or change the fault knobs of the running sandbox (demos and reliability tests).

    POST {"latencyMs": int, "errorRate", "dropRate", "rateLimitRate", "errorAfterRate",
    "dropAfterRate": 0..1, "paths": [path prefixes], "times": int}; every field optional (absent = off,
    all paths, no limit on the number of faults). See `Faults` for which knob fails before the change
    and which after it.
    """
    knobs: Faults = request.app.state.faults
    if request.method == "POST":
        body = Body(await read_json(request))
        latency = body.integer("latencyMs", default=0, bits=32) or 0
        rates = {field: _rate(body, name) for name, field in RATES.items()}
        prefixes = tuple(body.strings("paths") or ())
        times = body.integer("times", bits=32, minimum=0)
        body.done()
        try:
            knobs.set(latency_ms=latency, paths=prefixes, times=times, **rates)
        except ValueError as exc:
            raise errors.invalid_argument(str(exc)) from None
    return JSONResponse(knobs.to_json())
