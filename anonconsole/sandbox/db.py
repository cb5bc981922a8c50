"""SQLite connection for the sandbox: one file, WAL, schema owned module by module."""

from __future__ import annotations

import sqlite3
from pathlib import Path

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
    "PRAGMA temp_store=MEMORY",
)


def connect(path: str | Path) -> sqlite3.Connection:
    """Open the sandbox database (":memory:" allowed) with the pragmas every module relies on.

    Rows come back as sqlite3.Row. The connection is used from the server's single event-loop
    thread only (check_same_thread stays on so a misuse fails loudly).
    """
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.row_factory = sqlite3.Row
    for pragma in _PRAGMAS:
        conn.execute(pragma)
    return conn


def apply_schema(conn: sqlite3.Connection, ddl: str) -> None:
    """Create a module's tables and indexes; DDL must use IF NOT EXISTS so restarts keep data."""
    conn.executescript(ddl)
