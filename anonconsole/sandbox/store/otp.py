"""One-time codes: issued, checked once, and kept only hashed."""

from __future__ import annotations

import hashlib
import hmac

from anonconsole.sandbox.store.base import StoreBase

OTP_SECONDS = 5 * 60


class OtpStore(StoreBase):
    """6-digit codes per (login id, delivery method)."""

    @staticmethod
    def _code_hash(login_id: str, method: str, code: str) -> str:
        return hashlib.sha256(f"{login_id.lower()}\n{method}\n{code}".encode()).hexdigest()

    def create_otp(self, login_id: str, method: str, *, at: float | None = None) -> str:
        """A fresh 6-digit code for (login id, method), valid 5 minutes, replacing any earlier one."""
        code = f"{self.rng.randrange(1_000_000):06d}"
        now = self.clock() if at is None else at
        method = method.lower()
        self.conn.execute(
            "INSERT OR REPLACE INTO otp_codes (login_id, method, code_hash, expires) VALUES (?, ?, ?, ?)",
            (login_id, method, self._code_hash(login_id, method, code), now + OTP_SECONDS),
        )
        return code

    def consume_otp(self, login_id: str, method: str, code: str, *, at: float | None = None) -> bool:
        """True (and the code is used up) when it matches and has not expired."""
        now = self.clock() if at is None else at
        method = method.lower()
        row = self.conn.execute(
            "SELECT code_hash, expires FROM otp_codes WHERE login_id = ? AND method = ?", (login_id, method)
        ).fetchone()
        if row is None or row[1] < now:
            return False
        if not hmac.compare_digest(row[0], self._code_hash(login_id, method, code)):
            return False
        self.conn.execute("DELETE FROM otp_codes WHERE login_id = ? AND method = ?", (login_id, method))
        return True
