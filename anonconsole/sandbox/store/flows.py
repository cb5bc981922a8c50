"""Flows and the theme, as the management API exports and imports them (the sandbox runs no flows).

A flow is kept as Descope exports it: `{id, name, description, disabled, etag, dsl}` and its screens;
the etag changes with every import. A new project's flows are installed once (`store.defaults`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from anonconsole.sandbox import errors
from anonconsole.sandbox.store.base import StoreBase

THEME_META = "theme"


def flow_not_found(flow_id: str) -> errors.DescopeError:
    return errors.not_found(f"Flow {flow_id} not found")


def _etag(flow: dict[str, Any], screens: list[Any]) -> str:
    """A tag of the flow's content: what an exporter compares to tell whether it changed."""
    content = json.dumps([flow, screens], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(content.encode()).hexdigest()[:20]


class FlowStore(StoreBase):
    """Flows by id, and the project's theme (one, in the meta table)."""

    def flows(self) -> list[dict[str, Any]]:
        """Every flow's summary `{id, name, description, disabled}`, by id."""
        rows = self.conn.execute("SELECT id, data FROM flows ORDER BY id")
        summaries = []
        for flow_id, data in rows:
            flow = json.loads(data)
            summaries.append(
                {
                    "id": flow_id,
                    "name": flow["name"],
                    "description": flow["description"],
                    "disabled": flow["disabled"],
                }
            )
        return summaries

    def flow(self, flow_id: str) -> dict[str, Any] | None:
        """`{"flow": {...}, "screens": [...]}` as exported, None when there is no such flow."""
        row = self.conn.execute("SELECT data, screens FROM flows WHERE id = ?", (flow_id,)).fetchone()
        if row is None:
            return None
        return {"flow": {"id": flow_id, **json.loads(row[0])}, "screens": json.loads(row[1])}

    def put_flow(self, flow_id: str, flow: dict[str, Any], screens: list[Any]) -> dict[str, Any]:
        """Create or replace a flow (name, description, disabled, dsl) and its screens; a new etag."""
        data = {
            "name": flow.get("name") or flow_id,
            "description": flow.get("description") or "",
            "disabled": bool(flow.get("disabled")),
            "dsl": flow.get("dsl") or {},
        }
        data["etag"] = _etag(data, screens)
        self.conn.execute(
            "INSERT OR REPLACE INTO flows (id, data, screens) VALUES (?, ?, ?)",
            (flow_id, json.dumps(data), json.dumps(screens)),
        )
        return self.flow(flow_id) or {}

    def delete_flows(self, flow_ids: list[str]) -> None:
        """Delete flows; all must exist (none is deleted otherwise)."""
        known = {f["id"] for f in self.flows()}
        missing = [f for f in dict.fromkeys(flow_ids) if f not in known]
        if missing:
            raise errors.not_found(f"Flow(s) not found: {', '.join(missing[:20])}")
        self.conn.executemany("DELETE FROM flows WHERE id = ?", [(f,) for f in flow_ids])

    def theme(self) -> dict[str, Any]:
        stored = self.meta_get(THEME_META)
        theme: dict[str, Any] = json.loads(stored) if stored else {}
        return theme

    def set_theme(self, theme: dict[str, Any]) -> None:
        self.meta_set(THEME_META, json.dumps(theme))
