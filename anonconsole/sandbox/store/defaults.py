"""What a new Descope project comes with, installed once per sandbox database.

- Roles: "Tenant Admin", with the permissions Descope preconfigures for a tenant's administrators
  ("User Admin", "SSO Admin", "Impersonate"; docs.descope.com, Role-Based Access Control).
- Flows: the sign-up-or-in, sign-up, sign-in, step-up and update-user flows a project lists from
  the start (their ids are the ones Descope's quick-starts run). Their DSL describes the steps by
  one-time code by email; the sandbox stores, lists and exports flows but runs none.
- A theme (light and dark primary colours) for `export_theme`.

Each is installed once (a meta flag), so that deleting a default role or flow sticks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anonconsole.sandbox.store import Store

INSTALLED_META = "defaults-installed"
DEFAULT_PERMISSIONS = {
    "User Admin": "Read and modify the users of a tenant",
    "SSO Admin": "Read and modify the SSO configuration of a tenant",
    "Impersonate": "Act on behalf of another user",
}
# (name, description, permissions) of the project-level roles a new project has.
DEFAULT_ROLES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Tenant Admin", "Administers a tenant: its users and its SSO configuration", tuple(DEFAULT_PERMISSIONS)),
)
DEFAULT_THEME: dict[str, Any] = {
    "id": "",
    "cssTemplate": {
        "light": {"colors": {"primary": {"main": "#006af5"}, "surface": {"main": "#ffffff"}}},
        "dark": {"colors": {"primary": {"main": "#6ca5ff"}, "surface": {"main": "#1e1e1e"}}},
    },
}


def _screen(screen_id: str, inputs: list[str], interaction: str) -> dict[str, Any]:
    return {
        "id": screen_id,
        "inputs": [{"name": name, "type": "string"} for name in inputs],
        "interactions": [{"id": interaction, "type": "submit"}],
    }


def _dsl(steps: list[tuple[str, str, str]]) -> dict[str, Any]:
    """A linear DSL: start → each (id, type, action or screen) → the end (logged in)."""
    tasks: dict[str, Any] = {}
    ids = [step_id for step_id, _, _ in steps] + ["end"]
    tasks["start"] = {
        "id": "start",
        "name": "start",
        "next": {"rules": [{"interactionId": "", "taskId": ids[0]}]},
    }
    for (step_id, kind, what), following in zip(steps, ids[1:], strict=True):
        task: dict[str, Any] = {"id": step_id, "type": kind, "name": what}
        if kind == "automated":
            task["action"] = what
        else:
            task["screenId"] = what
        task["next"] = {
            "rules": [{"interactionId": "success" if kind == "automated" else "submit", "taskId": following}]
        }
        tasks[step_id] = task
    tasks["end"] = {"id": "end", "name": "End", "type": "automated", "action": "logged-in", "next": {}}
    return {"startTask": "start", "tasks": tasks}


def _code_flow(start_action: str, *, ask_email: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    steps = [("1", "interactive", "email-screen")] if ask_email else []
    steps += [
        ("2", "automated", start_action),
        ("3", "interactive", "code-screen"),
        ("4", "automated", "otp-verify-email"),
    ]
    screens = [_screen("code-screen", ["code"], "submit")]
    if ask_email:
        screens.insert(0, _screen("email-screen", ["email"], "submit"))
    return _dsl(steps), screens


def _default_flows() -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    flows = []
    for flow_id, name, description, action, ask_email in (
        (
            "sign-up-or-in",
            "Sign Up or In",
            "Sign up or sign in with a one-time code by email",
            "otp-sign-up-or-in-email",
            True,
        ),
        ("sign-up", "Sign Up", "Sign up with a one-time code by email", "otp-sign-up-email", True),
        ("sign-in", "Sign In", "Sign in with a one-time code by email", "otp-sign-in-email", True),
        (
            "step-up",
            "Step Up",
            "Step up a signed-in session with a one-time code by email",
            "otp-step-up-email",
            False,
        ),
    ):
        dsl, screens = _code_flow(action, ask_email=ask_email)
        flows.append((flow_id, {"name": name, "description": description, "dsl": dsl}, screens))
    profile = _screen("profile-screen", ["name", "givenName", "familyName"], "submit")
    update = _dsl([("1", "interactive", "profile-screen"), ("2", "automated", "update-user")])
    flows.append(
        (
            "update-user",
            {"name": "Update User", "description": "Update the signed-in user's profile", "dsl": update},
            [profile],
        )
    )
    return flows


def install_defaults(store: Store) -> None:
    """Install what a new project has, once: the default roles, flows and theme."""
    if store.meta_get(INSTALLED_META):
        return
    with store.transaction():
        existing = {(r["name"], r["tenantId"]) for r in store.roles()}
        for name, description, permissions in DEFAULT_ROLES:
            if (name, "") not in existing:
                store.create_role(name, description=description, permission_names=permissions)
        known = {f["id"] for f in store.flows()}
        for flow_id, flow, screens in _default_flows():
            if flow_id not in known:
                store.put_flow(flow_id, flow, screens)
        if not store.theme():
            store.set_theme(DEFAULT_THEME)
        store.meta_set(INSTALLED_META, "1")
