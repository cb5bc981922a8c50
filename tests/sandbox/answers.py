"""What sandbox tests check about an answer: Descope's error shape, and whether the store moved."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from types import TracebackType

import httpx

ERROR_KEYS = {"errorCode", "errorDescription", "errorMessage", "message"}


def descope_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, str]:
    """The body of a Descope-shaped error with this status (and code), or a failed assertion."""
    assert response.status_code == status, response.text[:500]
    body = response.json()
    assert set(body) == ERROR_KEYS, body
    assert body["errorCode"].startswith("E")
    assert len(body["errorCode"]) == 7
    if code:
        assert body["errorCode"] == code, body
    return body


class StoreWatch:
    """Tells whether a running sandbox committed anything to its database since the last look.

    SQLite's `data_version` moves, for one connection, whenever another connection commits a change;
    reading it costs microseconds, so a test can check every request. Use as a context manager.
    """

    def __init__(self, db: Path) -> None:
        self._conn = sqlite3.connect(db, isolation_level=None)
        self._seen = self._version()

    def _version(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def changed(self) -> bool:
        """True when something was committed since the last call (or since the watch began)."""
        now = self._version()
        moved, self._seen = now != self._seen, now
        return moved

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Rows of a read-only query on the sandbox's database (to see what a change was)."""
        return [tuple(row) for row in self._conn.execute(sql, params)]

    def digest(
        self, *, leaving_out_audit: tuple[str, ...] = (), leaving_out_tables: tuple[str, ...] = ()
    ) -> str:
        """A hash of every row of every table, audit records of the actions given and the tables given
        left out (for a small database: it reads everything)."""
        tables = [row[0] for row in self.query("SELECT name FROM sqlite_master WHERE type = 'table'")]
        tables = [t for t in tables if t not in leaving_out_tables]
        digest = hashlib.sha256()
        for table in sorted(str(t) for t in tables):
            sql, params = f"SELECT * FROM {table}", leaving_out_audit
            if table == "audit" and leaving_out_audit:
                sql += f" WHERE action NOT IN ({','.join('?' * len(leaving_out_audit))})"
            else:
                params = ()
            digest.update(table.encode())
            for row in sorted(repr(row) for row in self.query(sql, params)):
                digest.update(row.encode("utf-8", "surrogatepass"))
        return digest.hexdigest()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> StoreWatch:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
