"""Password settings (the project's and tenants' own), wrong-password counts and password history.

The history (hashes only) answers both the reuse rule and the expiration rule (when the password was
set); counts of wrong passwords in a row answer the lock rule. A count is written although the sign-in
that made it fails (the handler's other writes roll back), as an audit record of a failed sign-in is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from anonconsole.sandbox import errors, passwords
from anonconsole.sandbox.store.tenants import TenantStore

PROJECT = ""


class PasswordSettingsStore(TenantStore):
    """Settings per tenant ("" = the project), and what the rules need to know about each user."""

    def _stored_settings(self, tenant_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT data FROM password_settings WHERE tenant_id = ?", (tenant_id,)
        ).fetchone()
        return None if row is None else {**passwords.DEFAULT_SETTINGS, **json.loads(row[0])}

    def password_settings(self, tenant_id: str = PROJECT) -> dict[str, Any]:
        """A tenant's own settings, else the project's (a new project's when never configured)."""
        if tenant_id and self.tenant(tenant_id) is None:
            raise errors.tenant_not_found(tenant_id)
        own = self._stored_settings(tenant_id) if tenant_id else None
        return own or self._stored_settings(PROJECT) or dict(passwords.DEFAULT_SETTINGS)

    def set_password_settings(self, tenant_id: str, settings: dict[str, Any]) -> None:
        """Store settings (already merged and checked) for a tenant, or for the project ("")."""
        if tenant_id and self.tenant(tenant_id) is None:
            raise errors.tenant_not_found(tenant_id)
        stored = {k: settings[k] for k in passwords.DEFAULT_SETTINGS}
        self.conn.execute(
            "INSERT OR REPLACE INTO password_settings (tenant_id, data) VALUES (?, ?)",
            (tenant_id, json.dumps(stored)),
        )

    def password_settings_for_tenants(self, tenant_ids: Iterable[str]) -> dict[str, Any]:
        """The settings a user of these tenants must meet: the strictest of the tenants' own, or the
        project's when none of them has its own."""
        own = [s for t in dict.fromkeys(tenant_ids) if (s := self._stored_settings(t)) is not None]
        return passwords.strictest(own) if own else self.password_settings(PROJECT)

    def password_settings_for_user(self, user: dict[str, Any]) -> dict[str, Any]:
        return self.password_settings_for_tenants(t["tenantId"] for t in user["userTenants"])

    # ------------------------------------------------------------------ wrong passwords in a row

    def password_failures(self, user_id: str) -> int:
        row = self.conn.execute(
            "SELECT count FROM password_failures WHERE user_id = ?", (user_id,)
        ).fetchone()
        return 0 if row is None else int(row[0])

    def add_password_failure(self, user_id: str) -> None:
        self.conn.execute(
            "INSERT INTO password_failures (user_id, count) VALUES (?, 1) "
            "ON CONFLICT(user_id) DO UPDATE SET count = count + 1",
            (user_id,),
        )

    def clear_password_failures(self, user_id: str) -> None:
        self.conn.execute("DELETE FROM password_failures WHERE user_id = ?", (user_id,))

    # ------------------------------------------------------------------ history

    def recent_password_hashes(self, user_id: str, amount: int) -> list[str]:
        """The hashes of the user's last `amount` passwords, newest first."""
        rows = self.conn.execute(
            "SELECT hash FROM password_history WHERE user_id = ? ORDER BY id DESC LIMIT ?", (user_id, amount)
        )
        return [str(r[0]) for r in rows]

    def password_set_seconds(self, user_id: str) -> float | None:
        """When the user's current password was set (epoch seconds), None when the sandbox never saw it
        set (a bulk-seeded user)."""
        row = self.conn.execute(
            "SELECT set_ms FROM password_history WHERE user_id = ? ORDER BY id DESC LIMIT 1", (user_id,)
        ).fetchone()
        return None if row is None else row[0] / 1000
