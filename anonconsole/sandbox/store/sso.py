"""SSO settings per tenant (one configuration each): SAML and OIDC as configured, and what they make
of the tenant, its `authType` and SSO `domains` (kept on the tenant and in its settings alike)."""

from __future__ import annotations

import json
from typing import Any

from anonconsole.sandbox import errors
from anonconsole.sandbox.store.roles_audit import RoleAuditStore

AUTH_TYPES = ("none", "saml", "oidc")


class SsoStore(RoleAuditStore):
    """The stored SAML and OIDC settings of each tenant, shaped by `routes.sso`."""

    def _require_tenant(self, tenant_id: str) -> dict[str, Any]:
        tenant = self.tenant(tenant_id)
        if tenant is None:
            raise errors.tenant_not_found(tenant_id)
        return tenant

    def sso_settings(self, tenant_id: str) -> dict[str, Any]:
        """`{"saml": {...}, "oidc": {...}}` as last configured (empty parts when never)."""
        self._require_tenant(tenant_id)
        row = self.conn.execute("SELECT data FROM sso_settings WHERE tenant_id = ?", (tenant_id,)).fetchone()
        stored: dict[str, Any] = json.loads(row[0]) if row else {}
        return {"saml": stored.get("saml", {}), "oidc": stored.get("oidc", {})}

    def set_sso_settings(
        self, tenant_id: str, settings: dict[str, Any], *, auth_type: str, domains: list[str] | None
    ) -> None:
        """Store a tenant's SSO settings; its auth type, and its domains unless None (kept)."""
        if auth_type not in AUTH_TYPES:
            raise ValueError(f"bad auth type {auth_type!r}")
        tenant = self._require_tenant(tenant_id)
        with self.transaction():
            self.conn.execute(
                "INSERT OR REPLACE INTO sso_settings (tenant_id, data) VALUES (?, ?)",
                (tenant_id, json.dumps(settings)),
            )
            self.set_tenant_sso(tenant_id, auth_type, tenant["domains"] if domains is None else domains)

    def set_tenant_sso(self, tenant_id: str, auth_type: str, domains: list[str]) -> None:
        """The tenant's auth type and SSO domains, on the tenant and in its settings."""
        self.update_tenant(
            tenant_id, name=None, fields={"authType": auth_type, "domains": domains}, replace=False
        )
        settings = self.tenant_settings(tenant_id) or {}
        settings.update(authType=auth_type, domains=domains)
        self.set_tenant_settings(tenant_id, settings, {})

    def delete_sso_settings(self, tenant_id: str) -> None:
        """Forget the tenant's SSO configuration: no auth type, no SSO domains."""
        self._require_tenant(tenant_id)
        with self.transaction():
            self.conn.execute("DELETE FROM sso_settings WHERE tenant_id = ?", (tenant_id,))
            self.set_tenant_sso(tenant_id, "none", [])

    def sso_domain_owner(self, domain: str, *, other_than: str) -> str | None:
        """The tenant (other than `other_than`) that has `domain` among its SSO domains."""
        for tenant in self.tenants():
            if tenant["id"] != other_than and domain in tenant["domains"]:
                return str(tenant["id"])
        return None
