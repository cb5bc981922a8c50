"""SQLite connection for the sandbox: one file, WAL, schema owned module by module.

A damaged file (not a database, truncated, pages garbled) is found when it is opened, by SQLite's
quick check (a fraction of a second for 100,000 users), and reported as `DatabaseUnusable`: one
sentence naming the file and what to do, rather than a traceback now or 500s later.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

# SQLite's own names for "this is not (or no longer) a database".
_DAMAGE = ("SQLITE_NOTADB", "SQLITE_CORRUPT")

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
    "PRAGMA temp_store=MEMORY",
)


class DatabaseUnusable(Exception):
    """The sandbox database cannot be used; `sentence` names the file and says what to do."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


def damaged_sentence(path: str | Path) -> str:
    """What a user reads about a damaged database: which file, and how to start afresh."""
    return (
        f"The sandbox database {path} is damaged and cannot be used. Move it aside (with its "
        f"{Path(path).name}-wal and -shm files, if any), then start again: a fresh one is created."
    )


def unusable(path: str | Path, exc: sqlite3.Error) -> DatabaseUnusable:
    """The `DatabaseUnusable` for an SQLite error met while opening or first reading `path`."""
    if getattr(exc, "sqlite_errorname", "") in _DAMAGE or type(exc) is sqlite3.DatabaseError:
        return DatabaseUnusable(damaged_sentence(path))
    return DatabaseUnusable(
        f"The sandbox database {path} cannot be opened ({exc}); check that it is a file you may write to."
    )


def connect(path: str | Path) -> sqlite3.Connection:
    """Open the sandbox database (":memory:" allowed) with the pragmas every module relies on.

    Rows come back as sqlite3.Row. The connection is used from the server's single event-loop
    thread only (check_same_thread stays on so a misuse fails loudly). Raises DatabaseUnusable
    when the file is damaged or cannot be opened.
    """
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(str(path), isolation_level=None)
    except sqlite3.Error as exc:
        raise unusable(path, exc) from exc
    try:
        conn.row_factory = sqlite3.Row
        for pragma in _PRAGMAS:
            conn.execute(pragma)
        verdict = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
    except sqlite3.Error as exc:
        conn.close()
        raise unusable(path, exc) from exc
    if verdict != "ok":
        conn.close()
        raise DatabaseUnusable(damaged_sentence(path))
    return conn


def apply_schema(conn: sqlite3.Connection, ddl: str) -> None:
    """Create a module's tables and indexes; DDL must use IF NOT EXISTS so restarts keep data."""
    conn.executescript(ddl)
