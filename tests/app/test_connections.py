"""Connecting the window to profiles: start-up, switching (old work cancelled), failures opening
the Connect dialog, and the tenant wizard remembering its tenant in the profile."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from memory_keyring import MemoryKeyring, installed
from waiting import emitted, until, until_signal

from anonconsole.app import connections
from anonconsole.app.connections import ConnectionManager, EarlyStart, SandboxBootstrap
from anonconsole.launcher.process import SandboxOptions
from anonconsole.runtime import gc_policy
from anonconsole.settings import paths
from anonconsole.settings.profiles import Profile, ProfileStore
from anonconsole.settings.snapshot_reading import SnapshotReading
from anonconsole.settings.user_snapshot import snapshot_path
from anonconsole.views import users_area
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
            assert window.windowTitle() == "Sandbox (demo)"
            sandbox_gateway = window.gateway
            assert sandbox_gateway is not None
            await until_signal(window.users.loading_changed, lambda: window.users.loading)
            assert await manager.switch_to(staging)
            assert window.gateway is not sandbox_gateway
            assert window.gateway.connection.base_url == sandbox.url
            assert window.windowTitle() == "Staging"
            # The new load runs in a task of its own: wait for its end, not for a loader that may
            # not have started yet (`wait` alone returned at once when it had not: a flaky test).
            await until_signal(window.users.loading_changed, lambda: window.users.table_loaded)
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


def another_project(start_sandbox: Callable[..., Any]) -> Any:
    """A sandbox with a project ID of its own: profiles may not name the console's own sandbox."""
    return start_sandbox(project_id="P2ConnectionTests".ljust(28, "0"), users=120)


def staging_on_another_project(
    qtbot: Any, start_sandbox: Callable[..., Any], tmp_path: Path
) -> tuple[Any, ProfileStore, Profile, ConnectionManager]:
    """A sandbox of a project of its own, a "Staging" profile aimed at it (key in the keyring), and
    a window's manager over the profiles."""
    project = another_project(start_sandbox)
    store = ProfileStore.load()
    staging = remote_profile(project, store)
    return project, store, staging, manager_for(qtbot, store, tmp_path)


def test_a_failed_switch_shows_nothing_of_the_previous_project(
    qtbot: Any,
    arun: Callable[..., Any],
    start_sandbox: Callable[..., Any],
    tmp_path: Path,
    memory_keyring: MemoryKeyring,
) -> None:
    """Never one project's data under another's name: after a failed connection the overview, the
    users pages, their counts and the details are empty, and nothing can act on a connection."""
    sandbox = another_project(start_sandbox)
    store = ProfileStore.load()
    staging = remote_profile(sandbox, store)
    broken = store.put(
        Profile(name="Wrong project", project_id="P2NoSuchProject".ljust(28, "0"), base_url=sandbox.url),
        key=sandbox.management_key,
    )
    manager = manager_for(qtbot, store, tmp_path)
    window = manager.window

    async def scenario() -> None:
        try:
            assert await manager.switch_to(staging)
            await until_signal(window.overview_loaded, lambda: window.overview.project_id.text() != "—")
            users = window.users
            await until_signal(users.loading_changed, lambda: users.table_loaded)  # the load ended
            await users.wait()
            assert len(window.users.table) > 0
            window.show_page("all")
            page = window.users.views["all"]
            page.view.selectRow(0)
            assert page.details.user_id
            assert not await manager.switch_to(broken)
        finally:
            await window_idle(manager)

    arun(scenario(), timeout=120)
    overview = window.overview
    for value in (overview.project_id, overview.base_url, overview.total_users, overview.test_users):
        assert value.text() == "—", value.objectName()
    assert overview.tenants.rowCount() == 0
    assert len(window.users.table) == 0
    for key, page in window.users.views.items():
        assert page.model.rowCount() == 0, key
        assert page.details.user_id == "", key
        assert "Not connected" in page.state_text, key
        assert not page.copy_action.isEnabled()
    titles = [window.navigation.item(row).text() for row in range(window.navigation.count())]
    users = ["Anonymous", "Regular", "Needs attention", "All users"]
    assert titles == ["Overview", *users, "Lifecycle", "Audit"]
    assert window.lifecycle.picture is None  # no figure of the previous project either
    chosen = (window.convert_action, window.export_action, *window.user_actions.values())
    for action in (window.refresh_action, window.tenant_setup_action, window.verify_action, *chosen):
        assert not action.isEnabled(), action.objectName()
    assert sandbox.project_id not in window.connection_label.text()
    assert window.windowTitle() == "Wrong project"


def test_the_error_notice_goes_once_a_later_connection_succeeds(
    qtbot: Any,
    arun: Callable[..., Any],
    start_sandbox: Callable[..., Any],
    tmp_path: Path,
    memory_keyring: MemoryKeyring,
) -> None:
    sandbox = another_project(start_sandbox)
    store = ProfileStore.load()
    staging = remote_profile(sandbox, store)
    broken = store.put(
        Profile(name="Broken", project_id=sandbox.project_id, base_url=sandbox.url), key="K-wrong"
    )
    manager = manager_for(qtbot, store, tmp_path)
    window = manager.window

    async def scenario() -> None:
        try:
            assert not await manager.switch_to(broken)
            assert window.notice.isVisibleTo(window)
            assert "Not connected" in window.notice_text.text()
            assert await manager.switch_to(staging)
            assert not window.notice.isVisibleTo(window), window.notice_text.text()
            await window.users.wait()
        finally:
            await window_idle(manager)

    arun(scenario(), timeout=120)


def test_a_profile_s_second_connection_shows_its_snapshot_until_the_snapshot_is_turned_off(
    qtbot: Any,
    arun: Callable[..., Any],
    start_sandbox: Callable[..., Any],
    tmp_path: Path,
    memory_keyring: MemoryKeyring,
) -> None:
    """Issue "A million users": the snapshot written after a load is what the next connection of
    that profile shows at once; turned off, it is gone and never written again."""
    project, store, staging, manager = staging_on_another_project(qtbot, start_sandbox, tmp_path)
    window = manager.window
    freshness: list[str] = []
    window.users.freshness_changed.connect(lambda short, _whole: freshness.append(short))
    snapshot = snapshot_path("Staging")

    async def loaded() -> None:
        await until_signal(window.users.loading_changed, lambda: window.users.table_loaded)
        await window.users.wait()

    async def scenario() -> None:
        try:
            assert await manager.switch_to(staging)
            await loaded()
            await until(snapshot.exists)
            assert not any(f.startswith("Users as of") for f in freshness)
            assert await manager.switch_to(staging)
            await loaded()
            assert any(f.startswith("Users as of") for f in freshness), freshness
            assert window.freshness_label.text().startswith("Users up to date")
            store.put(dataclasses.replace(staging, keep_snapshot=False), replacing="Staging")
            assert not snapshot.exists()
            window.users.refresh()  # the same connection, loaded again: not written back
            await loaded()
            await window.users.close()
            assert not snapshot.exists()
            freshness.clear()
            assert await manager.switch_to(store.get("Staging"))
            await loaded()
            await window.users.close()
            assert not any(f.startswith("Users as of") for f in freshness)
            assert not snapshot.exists()
        finally:
            await window_idle(manager)

    arun(scenario(), timeout=240)


def test_what_is_read_as_the_process_starts_is_what_the_first_connection_uses(
    qtbot: Any,
    arun: Callable[..., Any],
    start_sandbox: Callable[..., Any],
    tmp_path: Path,
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`run_gui` begins reading the start-up profile's snapshot and key as the process starts:
    the first connection takes both (no second read); a profile without a snapshot reads none."""
    project, store, staging, first = staging_on_another_project(qtbot, start_sandbox, tmp_path)

    async def write_the_snapshot() -> None:
        try:
            assert await first.switch_to(staging)
            await until_signal(first.window.users.loading_changed, lambda: first.window.users.table_loaded)
            await first.window.users.close()  # waits for the snapshot's writing
        finally:
            await window_idle(first)

    never_loaded = EarlyStart(store, first.bootstrap)
    assert never_loaded.profile == "Sandbox (demo)"
    assert never_loaded.reading is None
    arun(write_the_snapshot(), timeout=240)
    early = EarlyStart(store, first.bootstrap)
    assert early.profile == "Staging"
    assert early.reading is not None
    assert early.reading.is_of(snapshot_path("Staging"), project.project_id)
    assert early.key.result(timeout=10) == project.management_key
    readings: list[SnapshotReading] = []
    monkeypatch.setattr(users_area, "SnapshotReading", lambda *a: readings.append(SnapshotReading(*a)))
    keys: list[str] = []
    monkeypatch.setattr(connections, "resolve_key", lambda profile, **_: keys.append(profile.name))
    window = MainWindow("…")
    qtbot.addWidget(window)
    manager = ConnectionManager(window, store, first.bootstrap, early=early)
    freshness: list[str] = []
    window.users.freshness_changed.connect(lambda short, _whole: freshness.append(short))

    async def second_start() -> None:
        try:
            await manager.start()
            await until_signal(window.users.loading_changed, lambda: window.users.table_loaded)
        finally:
            await window_idle(manager)

    arun(second_start(), timeout=240)
    assert any(f.startswith("Users as of") for f in freshness), freshness
    assert not readings  # what was begun at start was taken
    assert not keys
    assert not gc_policy._pauses  # and every reading's pause has ended
    store.put(dataclasses.replace(staging, keep_snapshot=False), replacing="Staging")
    assert EarlyStart(store, first.bootstrap).reading is None  # keeps none


def test_the_lifecycle_is_drawn_after_the_users_snapshot_is_written_not_beside_it(
    qtbot: Any,
    arun: Callable[..., Any],
    start_sandbox: Callable[..., Any],
    tmp_path: Path,
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both at once, the Lifecycle's steps on the UI thread waited for the GIL held by the writer's
    thread: at 1,000,000 users the window stalled 40-60 ms at a time."""
    project, store, staging, manager = staging_on_another_project(qtbot, start_sandbox, tmp_path)
    window = manager.window
    write = users_area.write_snapshot

    def slow_write(*args: Any, **kwargs: Any) -> bool:
        time.sleep(0.5)  # a write of many users
        return write(*args, **kwargs)

    monkeypatch.setattr(users_area, "write_snapshot", slow_write)
    writing_when_drawn: list[bool] = []
    window.lifecycle.shown.connect(
        lambda _picture: writing_when_drawn.append(
            window.users._writing is not None and not window.users._writing.done()
        )
    )

    async def scenario() -> None:
        try:
            assert await manager.switch_to(staging)
            await until_signal(window.users.loading_changed, lambda: window.users.table_loaded)
            await until(lambda: bool(writing_when_drawn), what="the lifecycle drawn")
        finally:
            await window_idle(manager)

    arun(scenario(), timeout=240)
    assert snapshot_path("Staging").exists()
    assert writing_when_drawn == [False]
