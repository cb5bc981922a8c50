"""The main window and the app bootstrap, on the app's own qasync loop against real sandboxes."""

from __future__ import annotations

import asyncio
import os
import platform
import secrets as stdlib_secrets
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from descope import DescopeClient
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QToolButton
from pytestqt.qtbot import QtBot

from anonconsole import app as console_app
from anonconsole import messages, paths
from anonconsole.gateway import Connection, Gateway
from anonconsole.sandbox.process import SandboxOptions, ahealth
from anonconsole.views.error_dialog import ErrorDialog
from anonconsole.views.main_window import PAGES, MainWindow

DEMO = console_app.DEMO_PROFILE

# Any Qt warning from the window fails its test, except the offscreen platform's note on size hints.
pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints"),
]


@pytest.fixture
def window(qtbot: QtBot, console_qapp: QApplication) -> MainWindow:
    main = MainWindow(DEMO)
    qtbot.addWidget(main)
    main.show()
    return main


def gateway_for(sandbox: Any, key: str | None = None) -> Gateway:
    return Gateway(Connection(sandbox.project_id, sandbox.url, key or sandbox.management_key))


def direct_figures(sdk: DescopeClient) -> tuple[int, int, list[tuple[str, str]]]:
    """What the overview must show, asked of the SDK directly (sync client, outside the GUI)."""
    total = sdk.mgmt.user.search_all(limit=1)["total"]
    test_total = sdk.mgmt.user.search_all(limit=1, test_users_only=True, with_test_user=True)["total"]
    tenants = [(t["name"], t["id"]) for t in sdk.mgmt.tenant.load_all()["tenants"]]
    return total, test_total, sorted(tenants, key=lambda t: (t[0].casefold(), t[1]))


async def emitted(signal: Any) -> tuple[Any, ...]:
    """The arguments of the next emission of a Qt signal, awaited on the loop."""
    future: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

    def done(*args: Any) -> None:
        if not future.done():
            future.set_result(args)

    signal.connect(done)
    try:
        return await future
    finally:
        signal.disconnect(done)


def shown_tenants(window: MainWindow) -> list[tuple[str, str]]:
    table = window.overview.tenants
    return [(table.item(row, 0).text(), table.item(row, 1).text()) for row in range(table.rowCount())]


def all_visible_text(window: MainWindow) -> str:
    """Every label, the title and the status texts: where a key must never appear."""
    texts = [label.text() + label.toolTip() for label in window.findChildren(QLabel)]
    return "\n".join([window.windowTitle(), window.statusBar().currentMessage(), *texts])


# -- the window on a connection ----------------------------------------------------------------------


def test_overview_and_status_bar_show_the_sandbox_as_the_sdk_sees_it(
    window: MainWindow, arun: Callable[..., Any], sandbox: Any
) -> None:
    sdk = sandbox.client()
    suffix = stdlib_secrets.token_hex(4)
    tenant_id = sdk.mgmt.tenant.create(f"Overview tenant {suffix}")["id"]
    sdk.mgmt.user.create(f"overview-{suffix}@example.com", user_tenants=None)
    expected_total, expected_tests, expected_tenants = direct_figures(sdk)

    async def connect() -> None:
        gateway = gateway_for(sandbox)
        await window.set_connection(DEMO, gateway)
        await gateway.aclose()

    arun(connect())

    assert expected_total >= 1
    assert (f"Overview tenant {suffix}", tenant_id) in expected_tenants
    assert window.windowTitle() == "AnonConsole — Sandbox (demo)"
    assert window.overview.project_id.text() == sandbox.project_id
    assert window.overview.base_url.text() == sandbox.url
    assert window.overview.total_users.text() == f"{expected_total:,}"
    assert window.overview.test_users.text() == f"{expected_tests:,}"
    assert window.overview.tenant_count.text() == str(len(expected_tenants))
    assert shown_tenants(window) == expected_tenants
    assert window.connection_label.text() == (
        f"Sandbox (demo) · {sandbox.project_id} · {sandbox.url} · {expected_total:,} users"
    )
    assert not window.progress.isVisible()
    assert window.refresh_action.isEnabled()
    assert sandbox.management_key not in all_visible_text(window)


def test_refresh_disables_its_action_while_it_runs_and_shows_new_figures(
    window: MainWindow, arun: Callable[..., Any], sandbox: Any
) -> None:
    sdk = sandbox.client()

    async def scenario() -> list[bool]:
        gateway = gateway_for(sandbox)
        await window.set_connection(DEMO, gateway)
        sdk.mgmt.tenant.create(f"Added before F5 {stdlib_secrets.token_hex(4)}")
        enabled_during: list[bool] = []
        loaded = asyncio.ensure_future(emitted(window.overview_loaded))
        window.refresh_action.trigger()  # as F5 does; the slot's task starts on the next iteration
        await asyncio.sleep(0)
        enabled_during.append(window.refresh_action.isEnabled())
        enabled_during.append(window.progress.isVisible())
        await loaded
        await gateway.aclose()
        return enabled_during

    assert arun(scenario()) == [False, True]
    assert window.refresh_action.isEnabled()
    assert not window.progress.isVisible()
    assert shown_tenants(window) == direct_figures(sdk)[2]


def test_a_refused_key_is_explained_and_never_shown(
    window: MainWindow, arun: Callable[..., Any], sandbox: Any
) -> None:
    wrong_key = "K2-" + stdlib_secrets.token_urlsafe(24)
    messages.register_secret(wrong_key)
    failures: list[str] = []
    window.overview_failed.connect(failures.append)

    async def connect() -> None:
        gateway = gateway_for(sandbox, wrong_key)
        await window.set_connection(DEMO, gateway)
        await gateway.aclose()

    arun(connect())
    assert len(failures) == 1
    assert failures[0] in window.overview.state.text()
    assert window.connection_label.text() == "Sandbox (demo): not loaded"
    assert failures[0] in window.connection_label.toolTip()
    assert window.notice.isVisible()
    assert window.refresh_action.isEnabled()  # the user can retry with F5
    assert window.overview.total_users.text() == "—"
    assert wrong_key not in all_visible_text(window)


def test_users_pages_are_views_and_the_rest_say_they_are_not_available_yet(window: MainWindow) -> None:
    titles = [window.navigation.item(row).text() for row in range(window.navigation.count())]
    assert titles == ["Overview", "Anonymous", "Regular", "Needs attention", "All users", "Audit"]
    for key in ("anonymous", "regular", "attention", "all"):
        window.show_page(key)
        assert window.pages.currentWidget() is window.users.views[key]
        assert window.pages.currentWidget().state_text == "Loading users…" or window.gateway is None
    for spec in PAGES[5:]:
        window.show_page(spec.key)
        page = window.pages.currentWidget()
        assert page.objectName() == f"{spec.key}Page"
        empty = page.findChild(QLabel, f"{spec.key}EmptyState")
        assert "not available yet" in empty.text()
        assert spec.coming in empty.text()
        assert empty.accessibleName()


def test_set_page_puts_a_real_view_in_place_of_the_placeholder(window: MainWindow) -> None:
    view = QLabel("the real view")
    window.set_page("audit", view)
    window.show_page("audit")
    assert window.pages.currentWidget() is view
    assert window.pages.count() == len(PAGES)


def test_about_names_every_version(window: MainWindow, qtbot: QtBot) -> None:
    import PySide6

    window.about_action.trigger()
    box = window.findChild(QMessageBox, "aboutBox")
    assert box is not None
    assert box.isVisible()
    text = box.text() + box.informativeText()
    for version in (
        console_app.anonconsole.__version__,
        PySide6.__version__,
        metadata.version("descope"),
        platform.python_version(),
    ):
        assert version in text
    box.close()


def test_key_widgets_have_object_and_accessible_names(window: MainWindow) -> None:
    for widget in (
        window.navigation,
        window.pages,
        window.overview,
        window.overview.tenants,
        window.overview.total_users,
        window.connection_label,
        window.progress,
        window.notice,
    ):
        assert widget.objectName(), widget
        assert widget.accessibleName(), widget.objectName()
    for action in (window.quit_action, window.refresh_action, window.about_action):
        assert action.objectName()


# -- the message bridge --------------------------------------------------------------------------------


def test_bridge_messages_reach_the_status_bar_and_the_notice(window: MainWindow, qtbot: QtBot) -> None:
    secret = "K2-bridge-secret-" + stdlib_secrets.token_hex(8)
    messages.register_secret(secret)
    messages.info("Loaded 12 users.")
    assert window.statusBar().currentMessage() == "Loaded 12 users."
    assert not window.notice.isVisible()
    messages.error(f"The key {secret} was refused.")
    assert window.notice.isVisible()
    assert window.notice_text.text() == f"The key {messages.REDACTED} was refused."
    qtbot.mouseClick(window.notice.findChild(QToolButton, "dismissNotice"), Qt.MouseButton.LeftButton)
    assert not window.notice.isVisible()


def test_unexpected_errors_open_a_dialog_with_scrubbed_copyable_details(
    window: MainWindow, qtbot: QtBot
) -> None:
    secret = "K2-dialog-secret-" + stdlib_secrets.token_hex(8)
    messages.register_secret(secret)
    try:
        raise ValueError(f"bearer P2x:{secret} exploded")
    except ValueError as exc:
        messages.excepthook(type(exc), exc, exc.__traceback__)
    dialog = window.findChild(ErrorDialog, "errorDialog")
    assert dialog is not None
    assert dialog.isVisible()
    details = dialog.details.toPlainText()
    assert "Traceback" in details
    assert "ValueError" in details
    assert "test_unexpected_errors_open_a_dialog" in details
    assert secret not in details
    dialog.copy_details()
    assert QGuiApplication.clipboard().text() == details
    dialog.close()


# -- the bootstrap -------------------------------------------------------------------------------------


def test_bootstrap_starts_a_child_reuses_it_and_stops_only_its_own(arun: Callable[..., Any]) -> None:
    options = SandboxOptions(db=paths.sandbox_db(), rate_limits="off")
    state = paths.sandbox_state_file()
    key = stdlib_secrets.token_urlsafe(32)

    async def scenario() -> None:
        first = console_app.SandboxBootstrap(options, state)
        assert await first.areuse(key) is None  # nothing running yet
        url = await first.astart(key)
        assert first.started_here
        assert state.exists()

        second = console_app.SandboxBootstrap(options, state)
        assert await second.areuse(key) == url
        assert not second.started_here
        stranger = console_app.SandboxBootstrap(options, state)
        assert await stranger.areuse("another key entirely") is None

        await second.astop()  # a reused sandbox is not ours to stop
        assert await ahealth(url) is not None
        await first.astop()
        assert await ahealth(url) is None
        assert not state.exists()

    arun(scenario())


def test_first_run_starts_the_demo_sandbox_without_freezing_and_stops_it_on_exit(
    window: MainWindow, arun: Callable[..., Any], tmp_path: Path
) -> None:
    """The app's own path (amain, as `anonconsole gui --screenshot` runs it): a fresh data dir,
    no keyring, demo data seeded by the child (seconds of work) while the UI timer keeps ticking."""
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    window.overview_loaded.connect(timer.stop)  # measure the start, not the screenshot's rendering
    shot = tmp_path / "main.png"
    seen: dict[str, str] = {}
    window.connection_changed.connect(
        lambda gateway: gateway is not None and seen.setdefault("url", gateway.connection.base_url)
    )

    async def scenario() -> int:
        timer.start()
        try:
            return await console_app.amain(
                QApplication.instance(), window, console_app.GuiOptions(screenshot=shot)
            )
        finally:
            timer.stop()

    assert arun(scenario(), timeout=240) == 0

    # Seeding the demo data takes the child seconds; a blocking start would leave a gap that long.
    # The bounds leave room for a loaded 2-core CI machine (nominal: a tick every 10 ms).
    elapsed = ticks[-1] - ticks[0]
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert elapsed > 2.0, "the demo sandbox started too fast for this test to show anything"
    assert len(ticks) > elapsed / 0.05, f"the UI timer fired only {len(ticks)} times in {elapsed:.1f} s"
    assert max(gaps) < 1.0, f"the UI froze for {max(gaps):.2f} s while the sandbox started"

    image = QImage(str(shot))
    assert not image.isNull()
    assert image.width() >= 800
    assert "users" in window.connection_label.text()
    assert int(window.overview.total_users.text().replace(",", "")) > 0  # demo data
    assert "memory for this run" in window.notice_text.text()  # no keyring in GUI tests
    assert not paths.sandbox_state_file().exists()  # our child was stopped on exit
    assert arun(ahealth(seen["url"])) is None
    assert os.environ["QT_QPA_PLATFORM"] == "offscreen"


def test_closing_the_window_cancels_its_network_work(
    window: MainWindow, arun: Callable[..., Any], sandbox: Any
) -> None:
    async def scenario() -> asyncio.Task[None]:
        gateway = gateway_for(sandbox)
        task = window.set_connection(DEMO, gateway)
        await asyncio.sleep(0)  # the refresh now waits on the sandbox
        await window.shutdown()
        assert task.done()  # ended before shutdown returned, not just told to
        assert not window.users.loading
        await gateway.aclose()
        return task

    assert arun(scenario()).cancelled()
    assert window.overview.total_users.text() == "—"
    assert not window.notice.isVisible()
