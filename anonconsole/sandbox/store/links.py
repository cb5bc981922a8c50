"""Link tokens (magic, enchanted, embedded and sign-up links): valid once, kept only hashed."""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from collections.abc import Sequence
from typing import Any

from anonconsole.sandbox.store.base import StoreBase, insert_sql

LINK_SECONDS = 10 * 60
LINK_KINDS = ("magiclink", "enchantedlink", "embedded", "signup")


class LinkStore(StoreBase):
    """One-time link tokens and the pending sessions of enchanted links."""

    def create_link(
        self,
        kind: str,
        login_id: str,
        *,
        method: str = "",
        data: dict[str, Any] | None = None,
        seconds: int = LINK_SECONDS,
    ) -> tuple[str, str]:
        """A one-time link token (only its hash is kept) and, for an enchanted link, its pending ref.

        `data` travels with the token to its verification (custom claims, a sign-up's user fields).
        """
        if kind not in LINK_KINDS:
            raise ValueError(f"bad link kind {kind!r}")
        token = secrets.token_urlsafe(32)
        pending_ref = secrets.token_urlsafe(16) if kind == "enchantedlink" else ""
        self.conn.execute("DELETE FROM link_tokens WHERE expires < ?", (self.clock(),))
        self.conn.execute(
            insert_sql(
                "link_tokens", ("token_hash", "kind", "login_id", "method", "data", "pending_ref", "expires")
            ),
            (
                hashlib.sha256(token.encode()).hexdigest(),
                kind,
                login_id,
                method,
                json.dumps(data or {}),
                pending_ref,
                self.clock() + (seconds or LINK_SECONDS),
            ),
        )
        return token, pending_ref

    def use_link(self, token: str, kinds: Sequence[str]) -> dict[str, Any] | None:
        """The link of a valid, unused, unexpired token of one of `kinds`, which is then used up.

        An enchanted link stays behind, verified, until its pending session is collected.
        """
        token_hash = hashlib.sha256(token.encode()).hexdigest()
        row = self.conn.execute("SELECT * FROM link_tokens WHERE token_hash = ?", (token_hash,)).fetchone()
        if row is None or row["kind"] not in kinds or row["verified"] or row["expires"] < self.clock():
            return None
        if row["kind"] == "enchantedlink":
            self.conn.execute("UPDATE link_tokens SET verified = 1 WHERE token_hash = ?", (token_hash,))
        else:
            self.conn.execute("DELETE FROM link_tokens WHERE token_hash = ?", (token_hash,))
        return self._link(row)

    def collect_pending(self, pending_ref: str) -> dict[str, Any] | None:
        """The enchanted link behind `pending_ref` once verified (then forgotten), else None."""
        row = self.conn.execute(
            "SELECT * FROM link_tokens WHERE pending_ref = ? AND kind = 'enchantedlink'", (pending_ref,)
        ).fetchone()
        if row is None or not row["verified"] or row["expires"] < self.clock():
            return None
        self.conn.execute("DELETE FROM link_tokens WHERE token_hash = ?", (row["token_hash"],))
        return self._link(row)

    @staticmethod
    def _link(row: sqlite3.Row) -> dict[str, Any]:
        return {
            "kind": row["kind"],
            "loginId": row["login_id"],
            "method": row["method"],
            "data": json.loads(row["data"]),
        }
