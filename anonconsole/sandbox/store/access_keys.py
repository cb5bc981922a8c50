"""Access keys: machine credentials with roles, tenants and claims, exchanged for session JWTs.

Only the SHA-256 hash of a key's secret (the cleartext shown once at creation or rotation) is kept.
A key bound to a user takes that user's authorization when exchanged, not its own (SDK docstring).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from anonconsole.sandbox import errors
from anonconsole.sandbox.store.base import new_id
from anonconsole.sandbox.store.roles_audit import MANAGEMENT_ACTOR, RoleAuditStore

KEY_STATUSES = ("active", "inactive")
# Fields `update_access_key` may change (the rest is set at creation).
KEY_UPDATABLE = frozenset({"name", "description", "customClaims", "permittedIps", "customAttributes"})


def secret_hash(cleartext: str) -> str:
    return hashlib.sha256(cleartext.encode("utf-8", "surrogatepass")).hexdigest()


def access_key_not_found(key_id: str) -> errors.DescopeError:
    return errors.not_found(f"Access key {key_id} not found")


class AccessKeyStore(RoleAuditStore):
    """Access keys (descope-api.md §2; the SDK's `mgmt.access_key`)."""

    def _api_key(self, row: sqlite3.Row, tenant_names: dict[str, str]) -> dict[str, Any]:
        data = json.loads(row["data"])
        return {
            "id": row["id"],
            "name": data["name"],
            "roleNames": list(data["roleNames"]),
            "keyTenants": [
                {"tenantId": t, "tenantName": tenant_names.get(t, ""), "roleNames": list(roles)}
                for t, roles in data["keyTenants"]
            ],
            "status": data["status"],
            "createdTime": row["created_ms"] // 1000,
            "expireTime": data["expireTime"],
            "createdBy": data["createdBy"],
            "clientId": row["id"],
            "boundUserId": data["boundUserId"],
            "customClaims": dict(data["customClaims"]),
            "description": data["description"],
            "permittedIps": list(data["permittedIps"]),
            "customAttributes": dict(data["customAttributes"]),
            "editable": True,
        }

    def _key_rows(self, where: str = "", params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        names = self._tenant_names()
        rows = self.conn.execute(f"SELECT * FROM access_keys {where} ORDER BY created_ms, id", params)
        return [self._api_key(row, names) for row in rows]

    def access_key(self, key_id: str) -> dict[str, Any] | None:
        found = self._key_rows("WHERE id = ?", (key_id,))
        return found[0] if found else None

    def _require_key(self, key_id: str) -> dict[str, Any]:
        key = self.access_key(key_id)
        if key is None:
            raise access_key_not_found(key_id)
        return key

    def check_role_names(self, role_names: Iterable[str], tenant_id: str = "") -> None:
        """Refuse roles that do not exist (in the project, or as the tenant's own when `tenant_id`)."""
        known = {r["name"] for r in self.roles() if r["tenantId"] in ("", tenant_id)}
        unknown = sorted(set(role_names) - known)
        if unknown:
            where = f" for tenant {tenant_id}" if tenant_id else ""
            raise errors.invalid_argument(f"Unknown role(s){where}: {', '.join(unknown)}; create them first")

    def create_access_key(
        self,
        name: str,
        *,
        expire_time: int = 0,
        role_names: Sequence[str] = (),
        key_tenants: Sequence[tuple[str, list[str]]] = (),
        bound_user_id: str = "",
        custom_claims: dict[str, Any] | None = None,
        description: str = "",
        permitted_ips: Sequence[str] = (),
        custom_attributes: dict[str, Any] | None = None,
        at: float | None = None,
    ) -> tuple[dict[str, Any], str]:
        """A new active key and its cleartext (the only time it is known). Tenants, roles and the
        bound user must exist; a bound key keeps no roles or tenants of its own."""
        if bound_user_id:
            self._require(bound_user_id)
            role_names, key_tenants = (), ()
        self.check_role_names(role_names)
        for tenant_id, roles in key_tenants:
            if self.tenant(tenant_id) is None:
                raise errors.tenant_not_found(tenant_id)
            self.check_role_names(roles, tenant_id)
        key_id = new_id(self.rng, "K")
        cleartext = secrets.token_urlsafe(48)
        data = {
            "name": name,
            "roleNames": list(role_names),
            "keyTenants": [[t, list(roles)] for t, roles in key_tenants],
            "status": "active",
            "expireTime": expire_time,
            "createdBy": MANAGEMENT_ACTOR,
            "boundUserId": bound_user_id,
            "customClaims": dict(custom_claims or {}),
            "description": description,
            "permittedIps": list(permitted_ips),
            "customAttributes": dict(custom_attributes or {}),
        }
        self.conn.execute(
            "INSERT INTO access_keys (id, secret_hash, data, created_ms) VALUES (?, ?, ?, ?)",
            (key_id, secret_hash(cleartext), json.dumps(data), self._ms(at)),
        )
        return self._require_key(key_id), cleartext

    def access_key_by_secret(self, cleartext: str) -> dict[str, Any] | None:
        found = self._key_rows("WHERE secret_hash = ?", (secret_hash(cleartext),))
        return found[0] if found else None

    def search_access_keys(
        self,
        *,
        tenant_ids: Sequence[str] = (),
        bound_user_id: str = "",
        creating_user: str = "",
        custom_attributes: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Keys matching every filter given: in one of the tenants, bound to the user, created by,
        holding each custom attribute."""

        def matches(key: dict[str, Any]) -> bool:
            return (
                (not tenant_ids or any(t["tenantId"] in tenant_ids for t in key["keyTenants"]))
                and (not bound_user_id or key["boundUserId"] == bound_user_id)
                and (not creating_user or key["createdBy"] == creating_user)
                and all(key["customAttributes"].get(k) == v for k, v in (custom_attributes or {}).items())
            )

        return [key for key in self._key_rows() if matches(key)]

    def _write_key(self, key_id: str, change: dict[str, Any]) -> None:
        row = self.conn.execute("SELECT data FROM access_keys WHERE id = ?", (key_id,)).fetchone()
        if row is None:
            raise access_key_not_found(key_id)
        self.conn.execute(
            "UPDATE access_keys SET data = ? WHERE id = ?",
            (json.dumps({**json.loads(row[0]), **change}), key_id),
        )

    def update_access_key(self, key_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change the fields given (keys from KEY_UPDATABLE); the others keep their value."""
        unknown = set(changes) - KEY_UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        self._write_key(key_id, changes)
        return self._require_key(key_id)

    def set_access_key_status(self, key_ids: Sequence[str], status: str) -> None:
        """Activate or deactivate keys; all must exist (none changes otherwise)."""
        if status not in KEY_STATUSES:
            raise ValueError(f"bad key status {status!r}")
        self._require_keys(key_ids)
        for key_id in key_ids:
            self._write_key(key_id, {"status": status})

    def delete_access_keys(self, key_ids: Sequence[str]) -> None:
        """Delete keys; all must exist (none is deleted otherwise)."""
        self._require_keys(key_ids)
        self.conn.executemany("DELETE FROM access_keys WHERE id = ?", [(k,) for k in key_ids])

    def _require_keys(self, key_ids: Sequence[str]) -> None:
        missing = [k for k in dict.fromkeys(key_ids) if self.access_key(k) is None]
        if missing:
            raise errors.not_found(f"Access key(s) not found: {', '.join(missing[:20])}")

    def rotate_access_key(self, key_id: str) -> tuple[dict[str, Any], str]:
        """A new secret for the key (the old one stops working at once); everything else is kept."""
        key = self._require_key(key_id)
        cleartext = secrets.token_urlsafe(48)
        self.conn.execute(
            "UPDATE access_keys SET secret_hash = ? WHERE id = ?", (secret_hash(cleartext), key_id)
        )
        return key, cleartext

    def key_authorization(self, key: dict[str, Any]) -> dict[str, Any]:
        """What a key's token grants, shaped as a user's (roleNames, permissions, userTenants), for
        `tokens.authorization_claims`; a bound key grants its user's."""
        if key["boundUserId"]:
            user = self.user_by_id(key["boundUserId"])
            if user is None:
                raise errors.unauthorized("The access key's user no longer exists")
            return user
        names = self._names()
        return {
            "roleNames": key["roleNames"],
            "permissions": names.permissions("", key["roleNames"]),
            "userTenants": [
                {
                    "tenantId": t["tenantId"],
                    "roleNames": t["roleNames"],
                    "permissions": names.permissions(t["tenantId"], t["roleNames"]),
                }
                for t in key["keyTenants"]
            ],
        }

    def remove_tenant_from_keys(self, tenant_id: str) -> None:
        """A deleted tenant leaves every key that named it."""
        for key in self._key_rows():
            kept = [[t["tenantId"], t["roleNames"]] for t in key["keyTenants"] if t["tenantId"] != tenant_id]
            if len(kept) != len(key["keyTenants"]):
                self._write_key(key["id"], {"keyTenants": kept})
