"""One-time codes: issued, checked, used once, and kept only hashed.

A code lives OTP_SECONDS; wrong codes count against it (`otp_failures`, kept apart so that the count
stands although the verification that made it fails) and after MAX_OTP_ATTEMPTS of them the code is
no longer accepted, the right one neither, until a new one is sent. What the request that sent the
code asked for (custom claims, step-up, an address to change) travels with it in `data`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, Literal

from anonconsole.sandbox.store.base import StoreBase

OTP_SECONDS = 5 * 60
# Wrong codes a code survives (chosen: Descope's limit is a project setting it does not document).
MAX_OTP_ATTEMPTS = 5

Verdict = Literal["ok", "missing", "expired", "too_many", "wrong"]


class OtpStore(StoreBase):
    """6-digit codes per (login id, delivery method)."""

    @staticmethod
    def _code_hash(login_id: str, method: str, code: str) -> str:
        return hashlib.sha256(f"{login_id.lower()}\n{method}\n{code}".encode()).hexdigest()

    def create_otp(
        self, login_id: str, method: str, *, at: float | None = None, data: dict[str, Any] | None = None
    ) -> str:
        """A fresh 6-digit code for (login id, method), valid 5 minutes, replacing any earlier one
        (and its count of wrong codes). `data` comes back from `use_otp`."""
        code = f"{self.rng.randrange(1_000_000):06d}"
        now = self.clock() if at is None else at
        method = method.lower()
        self.conn.execute(
            "INSERT OR REPLACE INTO otp_codes (login_id, method, code_hash, expires, data) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                login_id,
                method,
                self._code_hash(login_id, method, code),
                now + OTP_SECONDS,
                json.dumps(data or {}),
            ),
        )
        self.conn.execute("DELETE FROM otp_failures WHERE login_id = ? AND method = ?", (login_id, method))
        return code

    def otp_failures(self, login_id: str, method: str) -> int:
        row = self.conn.execute(
            "SELECT count FROM otp_failures WHERE login_id = ? AND method = ?", (login_id, method.lower())
        ).fetchone()
        return 0 if row is None else int(row[0])

    def add_otp_failure(self, login_id: str, method: str) -> None:
        self.conn.execute(
            "INSERT INTO otp_failures (login_id, method, count) VALUES (?, ?, 1) "
            "ON CONFLICT(login_id, method) DO UPDATE SET count = count + 1",
            (login_id, method.lower()),
        )

    def otp_verdict(self, login_id: str, method: str, code: str, *, at: float | None = None) -> Verdict:
        """What a code typed for (login id, method) is worth now; reads only (see `use_otp`)."""
        now = self.clock() if at is None else at
        method = method.lower()
        row = self.conn.execute(
            "SELECT code_hash, expires FROM otp_codes WHERE login_id = ? AND method = ?", (login_id, method)
        ).fetchone()
        if row is None:
            return "missing"
        if row[1] < now:
            return "expired"
        if self.otp_failures(login_id, method) >= MAX_OTP_ATTEMPTS:
            return "too_many"
        if not hmac.compare_digest(row[0], self._code_hash(login_id, method, code)):
            return "wrong"
        return "ok"

    def use_otp(self, login_id: str, method: str) -> dict[str, Any]:
        """Use up the code of (login id, method): it is gone; its `data` is returned."""
        method = method.lower()
        row = self.conn.execute(
            "SELECT data FROM otp_codes WHERE login_id = ? AND method = ?", (login_id, method)
        ).fetchone()
        for table in ("otp_codes", "otp_failures"):
            self.conn.execute(f"DELETE FROM {table} WHERE login_id = ? AND method = ?", (login_id, method))
        data: dict[str, Any] = json.loads(row[0]) if row else {}
        return data

    def consume_otp(self, login_id: str, method: str, code: str, *, at: float | None = None) -> bool:
        """True (and the code is used up) when it is the right, unexpired code."""
        if self.otp_verdict(login_id, method, code, at=at) != "ok":
            return False
        self.use_otp(login_id, method)
        return True

    def pending_otp(self, login_id: str, method: str, *, at: float | None = None) -> bool:
        """A code for (login id, method) is waiting: unexpired and not worn out by wrong codes."""
        now = self.clock() if at is None else at
        row = self.conn.execute(
            "SELECT expires FROM otp_codes WHERE login_id = ? AND method = ?", (login_id, method.lower())
        ).fetchone()
        return row is not None and row[0] >= now and self.otp_failures(login_id, method) < MAX_OTP_ATTEMPTS
