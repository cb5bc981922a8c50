"""Where AnonConsole keeps its files: the one place that computes them (platformdirs, or a test base)."""

from __future__ import annotations

from pathlib import Path

import platformdirs

APP_NAME = "anonconsole"

_base: Path | None = None


def init(base: Path | None = None) -> None:
    """Point every location under `base` (tests, portable runs), or back at the user's dirs with None."""
    global _base
    _base = Path(base) if base is not None else None


def _dir(kind: str) -> Path:
    """The directory of one kind, created on first use so callers never race on mkdir."""
    if _base is not None:
        path = _base / kind
    else:
        path = {
            "config": platformdirs.user_config_path,
            "data": platformdirs.user_data_path,
            "cache": platformdirs.user_cache_path,
            "log": platformdirs.user_log_path,
        }[kind](APP_NAME, appauthor=False)
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    """Connection profiles and settings (never secrets)."""
    return _dir("config")


def data_dir() -> Path:
    """Sandbox database, journals: state worth keeping."""
    return _dir("data")


def cache_dir() -> Path:
    """Anything that can be rebuilt."""
    return _dir("cache")


def log_dir() -> Path:
    """Log files (scrubbed of secrets)."""
    return _dir("log")


def sandbox_dir() -> Path:
    """The built-in sandbox's database, log and state file live together here."""
    path = data_dir() / "sandbox"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sandbox_db() -> Path:
    """Default SQLite file of the built-in sandbox (docs/contracts.md §1)."""
    return sandbox_dir() / "sandbox.db"


def sandbox_state_file(db: Path | None = None) -> Path:
    """Where the sandbox serving `db` (default: the built-in one) is recorded so another run can reuse it."""
    if db is None or db == sandbox_db():
        return sandbox_dir() / "state.json"
    return db.with_name(db.name + ".state.json")
