"""Connecting the window to profiles: start-up, switching (old work cancelled), failures opening
the Connect dialog, and the tenant wizard remembering its tenant in the profile."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from memory_keyring import MemoryKeyring, installed
from waiting import emitted, until, until_signal

from anonconsole.app.connections import ConnectionManager, SandboxBootstrap
from anonconsole.launcher.process import SandboxOptions
from anonconsole.settings import paths
from anonconsole.settings.profiles import Profile, ProfileStore
from anonconsole.views.connect_dialog import ConnectDialog
from anonconsole.views.main_window import MainWindow


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    with installed() as backend:
        yield backend


def remote_profile(sandbox: Any, store: ProfileStore, name: str = "Staging") -> Profile:
    """A profile for a 'real' project: another sandbox reached by URL, its key in the keyring."""
    profile = Profile(name=name, project_id=sandbox.project_id, base_url=sandbox.url)
    return store.put(profile, key=sandbox.management_key)


def manager_for(qtbot: Any, store: ProfileStore, tmp_path: Path) -> ConnectionManager:
    window = MainWindow("…")
    qtbot.addWidget(window)
    options = SandboxOptions(db=tmp_path / "demo" / "sandbox.db", users=300, rate_limits="off")
    return ConnectionManager(window, store, SandboxBootstrap(options, tmp_path / "demo" / "state.json"))


def test_switching_profile_cancels_the_old_work_and_shows_the_new_users(
    qtbot: Any,
    arun: Callable[..., Any],
    sandbox: Any,
    tmp_path: Path,
    memory_keyring: MemoryKeyring,
) -> None:
    store = ProfileStore.load()
    staging = remote_profile(sandbox, store)
    manager = manager_for(qtbot, store, tmp_path)
    window = manager.window

    async def scenario() -> None:
        try:
            await manager.start()  # first start: the built-in sandbox
            assert manager.profile is not None
            assert manager.profile.is_sandbox
            assert window.windowTitle() == "AnonConsole — Sandbox (demo)"
            sandbox_gateway = window.gateway
            assert sandbox_gateway is not None
            await until_signal(window.users.loading_changed, lambda: window.users.loading)
            assert await manager.switch_to(staging)
            assert window.gateway is not sandbox_gateway
            assert window.gateway.connection.base_url == sandbox.url
            assert window.windowTitle() == "AnonConsole — Staging"
            await window.users.wait()
            expected = sandbox.client().mgmt.user.search_all(limit=1, with_test_user=True)["total"]
            assert len(window.users.table) == expected
        finally:
            await window_idle(manager)

    arun(scenario(), timeout=240)
    assert ProfileStore.load().last_profile == "Staging"
    assert memory_keyring.entries[("anonconsole", "Staging")] == sandbox.management_key
    # The key is in the keyring only: not in the config, data or cache directories.
    for folder in (paths.config_dir(), paths.data_dir(), paths.cache_dir(), paths.log_dir()):
        for file in folder.rglob("*"):
            if file.is_file():
                assert sandbox.management_key.encode() not in file.read_bytes(), file


def test_a_failing_start_up_profile_opens_the_connect_dialog_saying_why(
    qtbot: Any,
    arun: Callable[..., Any],
    sandbox: Any,
    tmp_path: Path,
    memory_keyring: MemoryKeyring,
) -> None:
    store = ProfileStore.load()
    broken = store.put(
        Profile(name="Broken", project_id=sandbox.project_id, base_url=sandbox.url), key="K-wrong"
    )
    store.set_last_profile(broken.name)
    manager = manager_for(qtbot, store, tmp_path)

    async def scenario() -> None:
        await manager.start()

    arun(scenario())
    assert manager.window.gateway is None
    assert "refused" in manager.last_failure
    dialogs = manager.window.findChildren(ConnectDialog)
    assert len(dialogs) == 1
    assert dialogs[0].isVisible()
    assert dialogs[0].selected_name() == "Broken"
    assert "Broken" in manager.window.connection_label.text()


def test_the_tenant_wizard_remembers_its_tenant_in_the_profile(
    qtbot: Any,
    arun: Callable[..., Any],
    start_sandbox: Callable[..., Any],
    tmp_path: Path,
    memory_keyring: MemoryKeyring,
) -> None:
    fresh = start_sandbox()
    store = ProfileStore.load()
    profile = remote_profile(fresh, store, "Fresh project")
    manager = manager_for(qtbot, store, tmp_path)

    async def scenario() -> None:
        assert await manager.switch_to(profile)
        wizard = manager.open_tenant_wizard()
        assert wizard is not None
        await until_signal(wizard.tenant_page.completeChanged, wizard.tenant_page.isComplete)
        async with emitted(wizard.applied):
            for _ in range(3):  # tenant → lifetimes → review → apply
                button = wizard.button(wizard.WizardButton.CommitButton)
                if not button.isVisible():
                    button = wizard.button(wizard.WizardButton.NextButton)
                await until_signal(wizard.currentPage().completeChanged, button.isEnabled)
                button.click()
        assert wizard.apply_page.result.ok
        # No signal says the profile changed (the apply page remembers it before `applied`): poll.
        await until(lambda: manager.profile.anonymous_tenant_id != "")
        await wizard.wait_idle()
        await window_idle(manager)

    arun(scenario(), timeout=180)
    tenant_id = ProfileStore.load().get("Fresh project").anonymous_tenant_id
    assert tenant_id.startswith("T")
    assert fresh.client().mgmt.tenant.load(tenant_id)["name"] == "Anonymous Users"


async def window_idle(manager: ConnectionManager) -> None:
    """Close the window as the app does: its network work cancelled and awaited, connection closed."""
    window = manager.window
    await window.shutdown()
    if window.gateway is not None:
        await window.gateway.aclose()
    await manager.bootstrap.astop()
