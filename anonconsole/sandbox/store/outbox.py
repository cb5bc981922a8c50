"""The outbox: what the real service would have e-mailed or texted, kept for users and tests to read."""

from __future__ import annotations

from typing import Any

from anonconsole.sandbox.store.base import StoreBase, insert_sql


class OutboxStore(StoreBase):
    """Messages the sandbox would have sent, newest first."""

    def add_outbox(
        self, channel: str, to: str, *, login_id: str, subject: str, body: str, code: str = ""
    ) -> None:
        self.conn.execute(
            insert_sql("outbox", ("time", "channel", "to_addr", "login_id", "subject", "body", "code")),
            (self.clock(), channel, to, login_id, subject, body, code),
        )

    def list_outbox(self, *, limit: int = 100, login_id: str | None = None) -> list[dict[str, Any]]:
        """Newest first."""
        where, params = ("WHERE login_id = ? COLLATE NOCASE", [login_id]) if login_id else ("", [])
        rows = self.conn.execute(
            f"SELECT id, time, channel, to_addr, login_id, subject, body, code FROM outbox {where} "
            "ORDER BY id DESC LIMIT ?",
            [*params, limit],
        )
        keys = ("id", "time", "channel", "to", "loginId", "subject", "body", "code")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def clear_outbox(self) -> None:
        self.conn.execute("DELETE FROM outbox")
