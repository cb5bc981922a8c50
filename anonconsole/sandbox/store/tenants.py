"""Tenants of the sandbox and their session settings."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from anonconsole.sandbox import errors
from anonconsole.sandbox.store.base import marks, new_id
from anonconsole.sandbox.store.users import UserStore, tenant_key

UNIT_SECONDS = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 7 * 86400}

DEFAULT_TENANT_SETTINGS: dict[str, Any] = {
    "domains": [],
    "authType": "none",
    "enabled": False,
    "refreshTokenExpiration": 4,
    "refreshTokenExpirationUnit": "weeks",
    "sessionTokenExpiration": 10,
    "sessionTokenExpirationUnit": "minutes",
    "stepupTokenExpiration": 0,
    "stepupTokenExpirationUnit": "",
    "enableInactivity": False,
    "inactivityTime": 0,
    "inactivityTimeUnit": "",
    "JITDisabled": False,
    "ssoSetupSuiteSettings": {"enabled": False},
}

DEFAULT_TENANT_FIELDS: dict[str, Any] = {
    "selfProvisioningDomains": [],
    "customAttributes": {},
    "authType": "none",
    "domains": [],
    "disabled": False,
    "enforceSSO": False,
    "enforceSSOExclusions": [],
    "federatedAppIds": [],
    "parent": "",
    "successors": [],
    "defaultRoles": [],
    "roleInheritance": "",
}


class TenantStore(UserStore):
    """Tenants (descope-api.md §2.2); deleting one can cascade to its users."""

    def _api_tenant(self, row: sqlite3.Row) -> dict[str, Any]:
        data = json.loads(row["data"])
        return {
            "id": row["id"],
            "name": row["name"],
            **DEFAULT_TENANT_FIELDS,
            **data,
            "createdTime": row["created_ms"] // 1000,
        }

    def tenant(self, tenant_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM tenants WHERE id = ?", (tenant_id,)).fetchone()
        return None if row is None else self._api_tenant(row)

    def tenants(self) -> list[dict[str, Any]]:
        return [
            self._api_tenant(r) for r in self.conn.execute("SELECT * FROM tenants ORDER BY created_ms, id")
        ]

    def tenant_by_name(self, name: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM tenants WHERE name = ? COLLATE NOCASE", (name,)).fetchone()
        return None if row is None else self._api_tenant(row)

    def create_tenant(
        self,
        name: str,
        *,
        tenant_id: str | None = None,
        fields: dict[str, Any] | None = None,
        at: float | None = None,
    ) -> dict[str, Any]:
        """Create a tenant (id chosen by the caller or generated); names and ids are unique."""
        tenant_id = tenant_id or new_id(self.rng, "T")
        if any(ord(c) < 32 for c in tenant_id):
            raise errors.invalid_argument("A tenant ID must not contain control characters")
        if self.tenant(tenant_id) is not None:
            raise errors.invalid_argument(f"Tenant with ID {tenant_id} already exists")
        self._check_tenant_name(name, tenant_id)
        self.conn.execute(
            "INSERT INTO tenants (id, name, data, created_ms) VALUES (?, ?, ?, ?)",
            (tenant_id, name, json.dumps(fields or {}), self._ms(at)),
        )
        return self.tenant(tenant_id) or {}

    def _check_tenant_name(self, name: str, tenant_id: str) -> None:
        other = self.tenant_by_name(name)
        if other is not None and other["id"] != tenant_id:
            raise errors.invalid_argument(f"Tenant name {name!r} is already in use")

    def update_tenant(
        self, tenant_id: str, *, name: str | None, fields: dict[str, Any], replace: bool
    ) -> None:
        """Replace (update) or merge (patch) a tenant's fields; raises not found."""
        current = self.tenant(tenant_id)
        if current is None:
            raise errors.tenant_not_found(tenant_id)
        row = self.conn.execute("SELECT data FROM tenants WHERE id = ?", (tenant_id,)).fetchone()
        data = fields if replace else {**json.loads(row[0]), **fields}
        new_name = current["name"] if name is None else name
        self._check_tenant_name(new_name, tenant_id)
        self.conn.execute(
            "UPDATE tenants SET name = ?, data = ? WHERE id = ?", (new_name, json.dumps(data), tenant_id)
        )

    def delete_tenant(self, tenant_id: str, *, cascade: bool) -> list[str]:
        """Delete a tenant, its roles and settings (session, password, SSO); with cascade also users
        belonging only to it.

        Returns the ids of the users deleted.
        """
        if self.tenant(tenant_id) is None:
            raise errors.tenant_not_found(tenant_id)
        doomed: list[str] = []
        with self.transaction():
            if cascade:
                doomed = [
                    r[0]
                    for r in self.conn.execute(
                        "SELECT u.id FROM user_tenants ut JOIN users u ON u.seq = ut.user_seq "
                        "WHERE ut.tenant_id = ? "
                        "AND (SELECT count(*) FROM user_tenants o WHERE o.user_seq = ut.user_seq) = 1",
                        (tenant_id,),
                    )
                ]
                self.delete_users(doomed)
            self._detach_tenant(tenant_id)
            for sql in (
                "DELETE FROM tenants WHERE id = ?",
                "DELETE FROM tenant_settings WHERE tenant_id = ?",
                "DELETE FROM roles WHERE tenant_id = ?",
                "DELETE FROM password_settings WHERE tenant_id = ?",
                "DELETE FROM sso_settings WHERE tenant_id = ?",
            ):
                self.conn.execute(sql, (tenant_id,))
        return doomed

    def _detach_tenant(self, tenant_id: str) -> None:
        """Remove a tenant from every remaining member (both the side table and the JSON column)."""
        seqs = [
            r[0]
            for r in self.conn.execute("SELECT user_seq FROM user_tenants WHERE tenant_id = ?", (tenant_id,))
        ]
        self.conn.execute("DELETE FROM user_tenants WHERE tenant_id = ?", (tenant_id,))
        for start in range(0, len(seqs), 500):
            chunk = seqs[start : start + 500]
            rows = self.conn.execute(
                f"SELECT seq, tenants FROM users WHERE seq IN ({marks(chunk)})", chunk
            ).fetchall()
            kept = [(r[0], [p for p in json.loads(r[1]) if p[0] != tenant_id]) for r in rows]
            self.conn.executemany(
                "UPDATE users SET tenants = ?, tenant_key = ? WHERE seq = ?",
                [(json.dumps(pairs), tenant_key(t for t, _ in pairs), seq) for seq, pairs in kept],
            )

    def tenant_settings(self, tenant_id: str) -> dict[str, Any] | None:
        """Flat settings object (descope-api.md §2.2): `enabled`, mirrored as `sessionSettingsEnabled`."""
        tenant = self.tenant(tenant_id)
        if tenant is None:
            return None
        row = self.conn.execute(
            "SELECT data FROM tenant_settings WHERE tenant_id = ?", (tenant_id,)
        ).fetchone()
        settings = {**DEFAULT_TENANT_SETTINGS, **(json.loads(row[0]) if row else {})}
        for name in ("selfProvisioningDomains", "enforceSSO", "enforceSSOExclusions", "federatedAppIds"):
            settings[name] = tenant[name]
        settings["sessionSettingsEnabled"] = settings["enabled"]
        return settings

    def set_tenant_settings(
        self, tenant_id: str, settings: dict[str, Any], tenant_fields: dict[str, Any]
    ) -> None:
        """Store session settings (already merged and validated) and the tenant-level fields they carry."""
        with self.transaction():
            self.update_tenant(tenant_id, name=None, fields=tenant_fields, replace=False)
            stored = {k: v for k, v in settings.items() if k in DEFAULT_TENANT_SETTINGS}
            self.conn.execute(
                "INSERT OR REPLACE INTO tenant_settings (tenant_id, data) VALUES (?, ?)",
                (tenant_id, json.dumps(stored)),
            )
