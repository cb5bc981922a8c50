"""What every part of the sandbox store shares: one connection, nested transactions, ids and SQL helpers."""

from __future__ import annotations

import json
import sqlite3
import string
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from random import Random
from typing import Any

ID_ALPHABET = string.ascii_letters + string.digits


def new_id(rng: Random, prefix: str) -> str:
    """Descope-like id: one letter + 27 alphanumerics."""
    return prefix + "".join(rng.choices(ID_ALPHABET, k=27))


def marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


def insert_sql(table: str, columns: Sequence[str]) -> str:
    """INSERT statement for these columns, one placeholder each."""
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks(columns)})"


def dump_json(value: Any) -> str:
    """json.dumps with a shortcut for empty lists/objects (the bulk seed encodes a million values)."""
    if not value and isinstance(value, list | tuple | dict):
        return "{}" if isinstance(value, dict) else "[]"
    return json.dumps(value)


def load_json(text: str) -> Any:
    """json.loads with a shortcut for the empty list/object most JSON columns hold (pages of 1,000)."""
    if text == "[]":
        return []
    if text == "{}":
        return {}
    return json.loads(text)


class StoreBase:
    """The state every domain of the store works on; `Store.__init__` sets it up.

    Attributes:
        conn: the SQLite connection (autocommit; writes group statements in savepoints).
        project_id: the project this sandbox pretends to be.
        clock: seconds since the epoch for writes without an explicit `at`.
        rng: source of ids and codes (a seeded Random makes the demo seed deterministic).
    """

    conn: sqlite3.Connection
    project_id: str
    clock: Callable[[], float]
    rng: Random
    _savepoints: Iterator[int]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes atomically; nests (savepoints), so callers may wrap many store calls."""
        name = f"sp{next(self._savepoints)}"
        self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.conn.execute(f"ROLLBACK TO {name}")
            self.conn.execute(f"RELEASE {name}")
            raise
        self.conn.execute(f"RELEASE {name}")

    def _ms(self, at: float | None) -> int:
        return int((self.clock() if at is None else at) * 1000)

    # ------------------------------------------------------------------ meta

    def meta_get(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def meta_set(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
