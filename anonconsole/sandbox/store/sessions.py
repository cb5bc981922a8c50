"""Sign-ins and what sessions depend on: login history, session lifetimes, revocations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from anonconsole.sandbox.context import DEFAULT_REFRESH_SECONDS, DEFAULT_SESSION_SECONDS
from anonconsole.sandbox.store.base import insert_sql, marks
from anonconsole.sandbox.store.roles_audit import AUDIT_COLUMNS, sign_in_audit_row
from anonconsole.sandbox.store.tenants import UNIT_SECONDS, TenantStore

_HISTORY_COLUMNS = ("user_id", "login_time", "city", "country", "ip", "selected_tenant")


class SessionStore(TenantStore):
    """Sign-ins (history and audit) and the state session tokens are checked against."""

    # ------------------------------------------------------------------ sign-ins and history

    def record_sign_in(
        self,
        user_id: str,
        *,
        method: str,
        ip: str = "",
        tenant: str = "",
        at: float | None = None,
        city: str = "",
        country: str = "",
    ) -> bool:
        """History + LoginSucceed audit + invited→enabled; True when this is the first sign-in ever."""
        rec = self._require(user_id)
        ms = self._ms(at)
        first = not rec["signed_in"]
        with self.transaction():
            self.conn.execute(
                insert_sql("history", _HISTORY_COLUMNS),
                (user_id, ms // 1000, city, country, ip, tenant),
            )
            status = "enabled" if rec["status"] == "invited" else rec["status"]
            self.conn.execute("UPDATE users SET signed_in = 1, status = ? WHERE id = ?", (status, user_id))
            if not rec["test"]:
                tenants = [t for t, _ in rec["user_tenants"]]
                row = sign_in_audit_row(
                    user_id, rec["login_ids"], tenants, method=method, ip=ip, country=country, at_ms=ms
                )
                self.conn.execute(insert_sql("audit", AUDIT_COLUMNS), row)
        return first

    def history(self, user_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Login history of these users, oldest first (descope-api.md §3.2)."""
        out: list[dict[str, Any]] = []
        for start in range(0, len(user_ids), 500):
            chunk = list(user_ids[start : start + 500])
            rows = self.conn.execute(
                f"SELECT user_id, login_time, city, country, ip, selected_tenant FROM history "
                f"WHERE user_id IN ({marks(chunk)}) ORDER BY login_time, id",
                chunk,
            )
            out.extend(
                {
                    "userId": r[0],
                    "loginTime": r[1],
                    "city": r[2],
                    "country": r[3],
                    "ip": r[4],
                    "selectedTenant": r[5],
                }
                for r in rows
            )
        return out

    def session_settings_for(self, user_id: str) -> tuple[int, int]:
        """(session_seconds, refresh_seconds): project defaults unless a tenant enables its own.

        Several tenants with custom settings: the stricter (shorter) lifetimes win.
        """
        rec = self._require(user_id)
        chosen: tuple[int, int] | None = None
        for tenant_id, _ in rec["user_tenants"]:
            settings = self.tenant_settings(tenant_id)
            if not settings or not settings["enabled"]:
                continue
            session = (
                settings["sessionTokenExpiration"] * UNIT_SECONDS[settings["sessionTokenExpirationUnit"]]
            )
            refresh = (
                settings["refreshTokenExpiration"] * UNIT_SECONDS[settings["refreshTokenExpirationUnit"]]
            )
            chosen = (
                (session, refresh) if chosen is None else (min(chosen[0], session), min(chosen[1], refresh))
            )
        return chosen or (DEFAULT_SESSION_SECONDS, DEFAULT_REFRESH_SECONDS)

    # ------------------------------------------------------------------ sessions

    def revoke_sessions(self, user_id: str, *, at: float | None = None) -> None:
        """Tokens issued before `at` (now) are invalid from now on."""
        self._require(user_id)
        when = self.clock() if at is None else at
        self.conn.execute("UPDATE users SET sessions_valid_after = ? WHERE id = ?", (when, user_id))

    def sessions_valid_after(self, user_id: str) -> float:
        row = self.conn.execute("SELECT sessions_valid_after FROM users WHERE id = ?", (user_id,)).fetchone()
        return 0.0 if row is None else float(row[0])

    def revoke_token(self, jti: str, exp: float) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM revoked_tokens WHERE exp < ?", (self.clock(),))
            self.conn.execute("INSERT OR REPLACE INTO revoked_tokens (jti, exp) VALUES (?, ?)", (jti, exp))

    def is_token_revoked(self, jti: str) -> bool:
        return self.conn.execute("SELECT 1 FROM revoked_tokens WHERE jti = ?", (jti,)).fetchone() is not None

    def bulk_insert_history(self, rows: Sequence[tuple[str, int, str, str, str, str]]) -> None:
        """(user_id, login_time seconds, city, country, ip, selected_tenant) rows, one transaction."""
        with self.transaction():
            self.conn.executemany(
                insert_sql("history", _HISTORY_COLUMNS),
                rows,
            )
