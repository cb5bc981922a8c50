"""A console window connected to a test sandbox as a person's profile would be, for the app tests:
the connection manager on a real window, waiting for its load, and closing it as the app does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from waiting import until_signal

from anonconsole.app.connections import ConnectionManager
from anonconsole.launcher.bootstrap import SandboxBootstrap
from anonconsole.launcher.process import SandboxOptions
from anonconsole.settings.profiles import Profile, ProfileStore
from anonconsole.views.main_window import MainWindow


def connected(qtbot: Any, sandbox: Any, tmp_path: Path) -> tuple[ConnectionManager, Profile]:
    """A window and its manager, and a "Staging" profile (key in the keyring) aimed at `sandbox`."""
    store = ProfileStore.load()
    profile = store.put(
        Profile(name="Staging", project_id=sandbox.project_id, base_url=sandbox.url),
        key=sandbox.management_key,
    )
    window = MainWindow("…")
    qtbot.addWidget(window)
    options = SandboxOptions(db=tmp_path / "demo" / "sandbox.db", users=10, rate_limits="off")
    manager = ConnectionManager(window, store, SandboxBootstrap(options, tmp_path / "demo" / "state.json"))
    return manager, profile


async def loaded(manager: ConnectionManager) -> None:
    """Until the window's users load ended, and its task with it."""
    users = manager.window.users
    await until_signal(users.loading_changed, lambda: users.table_loaded, timeout=120)
    await users.wait()


async def closed(manager: ConnectionManager) -> None:
    """Close as the app does: the manager, the window's work, then its connection."""
    window = manager.window
    await manager.aclose()
    await window.shutdown()
    if window.gateway is not None:
        await window.gateway.aclose()
