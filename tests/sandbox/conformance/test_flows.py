"""Flows and the theme through both clients: a new project's flows listed and exported, import,
delete, and the calls that would run a flow (refused: the sandbox has no flow engine)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from descope import AuthException

from sandbox.conformance.sdk import Sdk, refusal, refusal_message, unique

if TYPE_CHECKING:
    from conftest import RunningSandbox

pytestmark = pytest.mark.asyncio

NEW_PROJECT_FLOWS = {"sign-in", "sign-up", "sign-up-or-in", "step-up", "update-user"}


async def test_a_new_project_lists_and_exports_its_default_flows(
    start_sandbox: Callable[..., RunningSandbox], sdk_for: Callable[[RunningSandbox], Sdk]
) -> None:
    sdk = sdk_for(start_sandbox())
    listed = await sdk(sdk.client.mgmt.flow.list_flows())
    assert listed["total"] == len(listed["flows"]) == len(NEW_PROJECT_FLOWS)
    assert {f["id"] for f in listed["flows"]} == NEW_PROJECT_FLOWS
    assert all(
        set(f) == {"id", "name", "description", "disabled"} and not f["disabled"] for f in listed["flows"]
    )
    exported = await sdk(sdk.client.mgmt.flow.export_flow("sign-up-or-in"))
    flow = exported["flow"]
    assert (flow["id"], flow["name"]) == ("sign-up-or-in", "Sign Up or In")
    assert set(flow) == {"id", "name", "description", "disabled", "etag", "dsl"}
    assert flow["dsl"]["startTask"] in flow["dsl"]["tasks"]
    assert {s["id"] for s in exported["screens"]} == {"email-screen", "code-screen"}
    theme = await sdk(sdk.client.mgmt.flow.export_theme())
    assert set(theme["theme"]) == {"id", "cssTemplate"}
    roles = {r["name"]: r for r in (await sdk(sdk.client.mgmt.role.load_all()))["roles"]}
    assert roles["Tenant Admin"]["permissionNames"] == ["User Admin", "SSO Admin", "Impersonate"]
    permissions = {p["name"]: p for p in (await sdk(sdk.client.mgmt.permission.load_all()))["permissions"]}
    assert all(permissions[name]["systemDefault"] for name in ("User Admin", "SSO Admin", "Impersonate"))


async def test_import_export_and_delete(either: Sdk) -> None:
    flows = either.client.mgmt.flow
    flow_id = unique("flow", "x").replace("@", "-").replace(".", "-")
    dsl = {"startTask": "start", "tasks": {"start": {"id": "start", "next": {}}}}
    screens = [{"id": "screen-1", "inputs": [], "interactions": []}]
    imported = await either(
        flows.import_flow(flow_id, {"name": "Mine", "description": "d", "dsl": dsl}, screens)
    )
    assert (imported["flow"]["id"], imported["flow"]["name"], imported["flow"]["dsl"]) == (
        flow_id,
        "Mine",
        dsl,
    )
    assert imported["screens"] == screens
    assert await either(flows.export_flow(flow_id)) == imported
    again = await either(flows.import_flow(flow_id, {"name": "Mine, renamed", "dsl": dsl}, screens))
    assert again["flow"]["etag"] != imported["flow"]["etag"]
    assert flow_id in {f["id"] for f in (await either(flows.list_flows()))["flows"]}
    await either(flows.delete_flows([flow_id]))
    with pytest.raises(AuthException) as gone:
        await either(flows.export_flow(flow_id))
    assert refusal(gone) == (404, "E011006")
    with pytest.raises(AuthException) as unknown:
        await either(flows.delete_flows([flow_id]))
    assert refusal(unknown) == (404, "E011006")


async def test_theme_import_and_export(
    start_sandbox: Callable[..., RunningSandbox], sdk_for: Callable[[RunningSandbox], Sdk]
) -> None:
    sdk = sdk_for(start_sandbox())
    theme = {"id": "mine", "cssTemplate": {"light": {"colors": {"primary": {"main": "#123456"}}}}}
    assert (await sdk(sdk.client.mgmt.flow.import_theme(theme)))["theme"] == theme
    assert (await sdk(sdk.client.mgmt.flow.export_theme()))["theme"] == theme


async def test_running_a_flow_is_refused_saying_why(either: Sdk) -> None:
    with pytest.raises(AuthException) as run:
        await either(either.client.mgmt.flow.run_flow("sign-up-or-in"))
    assert refusal(run) == (404, "E011006")
    assert "does not run flows" in refusal_message(run)
    with pytest.raises(AuthException) as bad_import:
        await either(either.client.mgmt.flow.import_flow("bad", {"dsl": "not an object"}, []))
    assert refusal(bad_import) == (400, "E011003")
