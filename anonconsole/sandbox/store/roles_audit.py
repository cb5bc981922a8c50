"""Roles and the audit trail: what users may do, and what was done."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, TypedDict, Unpack

from anonconsole.sandbox import errors
from anonconsole.sandbox.store.base import dump_json, insert_sql, marks
from anonconsole.sandbox.store.tenants import TenantStore

AUDIT_WINDOW_MS = 30 * 24 * 3600 * 1000
MANAGEMENT_ACTOR = "management key"

AUDIT_COLUMNS = (
    "occurred_ms",
    "action",
    "user_id",
    "login_ids",
    "tenants",
    "data",
    "actor_id",
    "type",
    "method",
    "device",
    "geo",
    "remote_address",
)


class AuditFields(TypedDict, total=False):
    """What an audit record may say besides its action and time (Descope's audit fields, snake_case)."""

    user_id: str
    login_ids: Iterable[str]
    tenants: Iterable[str]
    data: dict[str, Any] | None
    actor_id: str
    type: str
    method: str
    device: str
    geo: str
    remote_address: str


def audit_row(action: str, *, at_ms: int, **fields: Unpack[AuditFields]) -> tuple[Any, ...]:
    """One audit table row, in AUDIT_COLUMNS order; absent fields are empty, device "Desktop", type "info"."""
    return (
        at_ms,
        action,
        fields.get("user_id", ""),
        dump_json(list(fields.get("login_ids", ()))),
        dump_json(list(fields.get("tenants", ()))),
        dump_json(fields.get("data") or {}),
        fields.get("actor_id", ""),
        fields.get("type", "info"),
        fields.get("method", ""),
        fields.get("device", "Desktop"),
        fields.get("geo", ""),
        fields.get("remote_address", ""),
    )


def sign_in_audit_row(
    user_id: str,
    login_ids: Sequence[str],
    tenants: Sequence[str],
    *,
    method: str,
    ip: str,
    country: str,
    at_ms: int,
) -> tuple[Any, ...]:
    """The LoginSucceed record of a sign-in (actor: the primary login id), as real sign-ins write it."""
    return audit_row(
        "LoginSucceed",
        at_ms=at_ms,
        user_id=user_id,
        login_ids=login_ids,
        tenants=tenants,
        actor_id=login_ids[0] if login_ids else user_id,
        method=method,
        geo=country,
        remote_address=ip,
    )


class RoleAuditStore(TenantStore):
    """Roles (project-wide or a tenant's) and the audit records of the last 30 days."""

    # ------------------------------------------------------------------ roles

    def create_role(
        self,
        name: str,
        *,
        description: str = "",
        permission_names: Sequence[str] = (),
        tenant_id: str = "",
        default: bool = False,
        private: bool = False,
        at: float | None = None,
    ) -> None:
        if tenant_id and self.tenant(tenant_id) is None:
            raise errors.tenant_not_found(tenant_id)
        try:
            self.conn.execute(
                insert_sql(
                    "roles",
                    (
                        "name",
                        "tenant_id",
                        "description",
                        "permission_names",
                        "is_default",
                        "private",
                        "created_ms",
                    ),
                ),
                (
                    name,
                    tenant_id,
                    description,
                    json.dumps(list(permission_names)),
                    int(default),
                    int(private),
                    self._ms(at),
                ),
            )
        except sqlite3.IntegrityError:
            raise errors.invalid_argument(f"Role {name!r} already exists") from None

    def roles(self) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT * FROM roles ORDER BY tenant_id, created_ms, name")
        return [
            {
                "name": r["name"],
                "description": r["description"],
                "permissionNames": json.loads(r["permission_names"]),
                "createdTime": r["created_ms"] // 1000,
                "tenantId": r["tenant_id"],
                "default": bool(r["is_default"]),
                "private": bool(r["private"]),
            }
            for r in rows
        ]

    def delete_role(self, name: str, *, tenant_id: str = "") -> None:
        cur = self.conn.execute("DELETE FROM roles WHERE name = ? AND tenant_id = ?", (name, tenant_id))
        if cur.rowcount == 0:
            raise errors.not_found(f"Role {name!r} not found")

    # ------------------------------------------------------------------ audit

    def add_audit(self, action: str, *, at: float | None = None, **fields: Unpack[AuditFields]) -> None:
        row = audit_row(action, at_ms=self._ms(at), **fields)
        self.conn.execute(insert_sql("audit", AUDIT_COLUMNS), row)

    def bulk_insert_audit(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Audit rows built by `audit_row` / `sign_in_audit_row`, one transaction (the bulk seed)."""
        with self.transaction():
            self.conn.executemany(insert_sql("audit", AUDIT_COLUMNS), rows)

    def search_audit(
        self,
        *,
        user_ids: Sequence[str] = (),
        actions: Sequence[str] = (),
        excluded_actions: Sequence[str] = (),
        devices: Sequence[str] = (),
        methods: Sequence[str] = (),
        geos: Sequence[str] = (),
        remote_addresses: Sequence[str] = (),
        login_ids: Sequence[str] = (),
        tenants: Sequence[str] = (),
        no_tenants: bool = False,
        text: str = "",
        from_ms: int | None = None,
        to_ms: int | None = None,
        limit: int = 1000,
        page: int = 0,
    ) -> list[dict[str, Any]]:
        """Audit records of the last 30 days matching every given filter, newest first.

        With `tenants`, records naming one of them match; `no_tenants` also lets records without any
        tenant through (Go SDK: "should audits without any tenants always be included").
        """
        floor = self._ms(None) - AUDIT_WINDOW_MS
        clauses = ["occurred_ms >= ?"]
        params: list[Any] = [max(floor, from_ms or 0)]
        if to_ms is not None:
            clauses.append("occurred_ms <= ?")
            params.append(to_ms)
        for column, values, negate in (
            ("user_id", user_ids, False),
            ("action", actions, False),
            ("action", excluded_actions, True),
            ("device", devices, False),
            ("method", methods, False),
            ("geo", geos, False),
            ("remote_address", remote_addresses, False),
        ):
            if values:
                clauses.append(f"{column} {'NOT ' if negate else ''}IN ({marks(values)})")
                params.extend(values)
        if login_ids:
            clauses.append(
                f"EXISTS (SELECT 1 FROM json_each(audit.login_ids) WHERE value IN ({marks(login_ids)}))"
            )
            params.extend(login_ids)
        if tenants:
            empty = " OR tenants = '[]'" if no_tenants else ""
            clauses.append(
                f"(EXISTS (SELECT 1 FROM json_each(audit.tenants) WHERE value IN ({marks(tenants)})){empty})"
            )
            params.extend(tenants)
        if text:
            clauses.append("instr(lower(action || ' ' || login_ids || ' ' || user_id || ' ' || data), ?) > 0")
            params.append(text.lower())
        rows = self.conn.execute(
            f"SELECT * FROM audit WHERE {' AND '.join(clauses)} "
            "ORDER BY occurred_ms DESC, id DESC LIMIT ? OFFSET ?",
            [*params, limit, page * limit],
        )
        return [self._api_audit(row) for row in rows]

    def _api_audit(self, row: sqlite3.Row) -> dict[str, Any]:
        return {
            "projectId": self.project_id,
            "userId": row["user_id"],
            "action": row["action"],
            "occurred": str(row["occurred_ms"]),
            "device": row["device"],
            "method": row["method"],
            "geo": row["geo"],
            "remoteAddress": row["remote_address"],
            "externalIds": json.loads(row["login_ids"]),
            "tenants": json.loads(row["tenants"]),
            "data": json.loads(row["data"]),
            "type": row["type"],
            "actorId": row["actor_id"],
        }
