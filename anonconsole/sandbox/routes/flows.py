"""Flows and the theme (`mgmt.flow`): list, export, import, delete; the sandbox has no flow engine.

Running a flow (`run_flow`, `run_flow_async`, `get_flow_async_result`) is answered with a 404 that
says so, rather than an unknown path: the call is Descope's, the sandbox just cannot serve it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from anonconsole.sandbox import errors
from anonconsole.sandbox.routes.common import RouteTable, bounded, context, context_and_body, ok, read_body
from anonconsole.sandbox.store import MANAGEMENT_ACTOR
from anonconsole.sandbox.store.flows import flow_not_found

route = RouteTable()
routes = route.routes

FLOW = "/v1/mgmt/flow"


@route(f"{FLOW}/list", "POST")
async def list_flows(request: Request) -> JSONResponse:
    (await read_body(request)).done()
    flows = context(request).store.flows()
    return ok({"flows": flows, "total": len(flows)})


@route(f"{FLOW}/export", "POST")
async def export_flow(request: Request) -> JSONResponse:
    b = await read_body(request)
    flow_id = b.text("flowId", required=True) or ""
    b.done()
    exported = context(request).store.flow(flow_id)
    if exported is None:
        raise flow_not_found(flow_id)
    return ok(exported)


def _screens(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(s, dict) for s in value):
        raise errors.validation_failed("screens must be a list of objects")
    bounded("screens", value, 1000)
    return value


@route(f"{FLOW}/import", "POST")
async def import_flow(request: Request) -> JSONResponse:
    """Creates or replaces the flow `flowId` (the Python SDK's body; the Go SDK's newer one names the
    flow inside `flow` and may carry its screens there too). Answers the flow as exported."""
    ctx, b = await context_and_body(request)
    flow = b.obj("flow", required=True) or {}
    flow_id = b.text("flowId") or flow.get("flowId") or flow.get("id")
    screens = _screens(b.raw("screens") if b.has("screens") else flow.get("screens"))
    b.done()
    if not isinstance(flow_id, str) or not flow_id.strip():
        raise errors.missing_argument("flowId")
    for name in ("name", "description"):
        if flow.get(name) is not None and not isinstance(flow[name], str):
            raise errors.validation_failed(f"flow.{name} must be a string")
    if flow.get("dsl") is not None and not isinstance(flow["dsl"], dict):
        raise errors.validation_failed("flow.dsl must be an object")
    imported = ctx.store.put_flow(flow_id, flow, screens)
    ctx.store.add_audit("FlowImported", actor_id=MANAGEMENT_ACTOR, data={"flowId": flow_id}, at=ctx.clock())
    return ok(imported)


@route(f"{FLOW}/delete", "POST")
async def delete_flows(request: Request) -> JSONResponse:
    ctx, b = await context_and_body(request)
    ids = b.strings("ids", required=True) or []
    if not ids:
        raise errors.missing_argument("ids")
    bounded("ids", ids, 1000)
    b.done()
    ctx.store.delete_flows(ids)
    ctx.store.add_audit("FlowsDeleted", actor_id=MANAGEMENT_ACTOR, data={"flowIds": ids}, at=ctx.clock())
    return ok()


@route("/v1/mgmt/theme/export", "POST")
async def export_theme(request: Request) -> JSONResponse:
    (await read_body(request)).done()
    return ok({"theme": context(request).store.theme()})


@route("/v1/mgmt/theme/import", "POST")
async def import_theme(request: Request) -> JSONResponse:
    ctx, b = await context_and_body(request)
    theme = b.obj("theme", required=True) or {}
    b.done()
    ctx.store.set_theme(theme)
    ctx.store.add_audit("ThemeImported", actor_id=MANAGEMENT_ACTOR, at=ctx.clock())
    return ok({"theme": theme})


async def _no_flow_engine(request: Request) -> JSONResponse:
    await read_body(request)
    raise errors.not_found(
        "The sandbox does not run flows (it has no flow engine): it lists, exports and imports them. "
        "Run the calls a flow would make (OTP, magic link, password...) instead."
    )


for _path in (f"{FLOW}/run", f"{FLOW}/async/run", f"{FLOW}/async/result"):
    route.add(_path, _no_flow_engine, "POST")
