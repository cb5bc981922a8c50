"""The main window on the app's own qasync loop against real sandboxes."""

from __future__ import annotations

import asyncio
import os
import platform
import secrets as stdlib_secrets
import shutil
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from descope import DescopeClient
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QToolButton, QWidget
from pytestqt.qtbot import QtBot
from waiting import emitted

from anonconsole.app import run as console_app
from anonconsole.core.classify import AnonymousPolicy
from anonconsole.core.records import User, UserTenant
from anonconsole.core.user_table import Column
from anonconsole.gateway import Connection, Gateway
from anonconsole.runtime import messages
from anonconsole.views.error_dialog import ErrorDialog
from anonconsole.views.layout_store import layout_settings
from anonconsole.views.main_window import PAGES, MainWindow

DEMO = console_app.DEMO_PROFILE


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
    assert window.windowTitle() == "Sandbox (demo)"
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
        async with emitted(window.overview_loaded):
            window.refresh_action.trigger()  # as F5 does; the slot's task starts on the next iteration
            await asyncio.sleep(0)
            enabled_during.append(window.refresh_action.isEnabled())
            enabled_during.append(window.progress.isVisible())
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


def test_every_page_is_a_view_and_says_what_it_holds(window: MainWindow) -> None:
    titles = [window.navigation.item(row).text() for row in range(window.navigation.count())]
    assert titles == [
        "Overview",
        "Anonymous",
        "Regular",
        "Needs attention",
        "All users",
        "Lifecycle",
        "Audit",
    ]
    for key in ("anonymous", "regular", "attention", "all"):
        window.show_page(key)
        assert window.pages.currentWidget() is window.users.views[key]
        assert window.pages.currentWidget().state_text == "Loading users…" or window.gateway is None
    window.show_page("lifecycle")
    assert window.pages.currentWidget().widget() is window.lifecycle
    window.show_page("audit")
    assert window.pages.currentWidget() is window.audit_page
    tips = [window.navigation.item(row).toolTip() for row in range(window.navigation.count())]
    assert tips == [spec.about for spec in PAGES]
    assert all(tips)


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
    secret = "K2" + stdlib_secrets.token_hex(16)  # random, like a real key
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
    secret = "K2" + stdlib_secrets.token_hex(16)  # random, like a real key
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


# -- title, keyboard, layout (the support engineer's first hour) -------------------------------------------


def test_the_title_names_the_profile_and_leaves_the_app_name_to_the_platform(window: MainWindow) -> None:
    """Qt appends the application display name to a window title on X11 and Windows: the title is the
    profile alone, so the title bar says "Sandbox (demo) — AnonConsole", the name once."""
    assert QGuiApplication.applicationDisplayName() == "AnonConsole"
    assert window.windowTitle() == "Sandbox (demo)"
    window.set_connecting("Staging", "Connecting to Staging…")
    assert window.windowTitle() == "Staging"


TITLE_BAR = """
import subprocess, sys
from pathlib import Path
from PySide6.QtCore import QTimer
from anonconsole.app.run import DEMO_PROFILE, create_application
from anonconsole.settings import paths
from anonconsole.views.main_window import MainWindow
paths.init(Path(sys.argv[1]))
app = create_application("light")
window = MainWindow(DEMO_PROFILE)
window.show()
def read() -> None:
    wid = str(int(window.winId()))
    shown = subprocess.run(["xprop", "-id", wid, "-notype", "_NET_WM_NAME"], capture_output=True, text=True)
    print(shown.stdout.strip())
    app.exit(0)
QTimer.singleShot(500, read)
app.exec()
"""


@pytest.mark.skipif(
    not (shutil.which("xvfb-run") and shutil.which("xprop")), reason="needs xvfb-run and xprop (X11)"
)
def test_the_title_bar_of_a_real_x_window_names_anonconsole_once(tmp_path: Path) -> None:
    environment = {**os.environ, "QT_QPA_PLATFORM": "xcb", "LC_ALL": "C.UTF-8"}
    shown = subprocess.run(
        ["xvfb-run", "-a", sys.executable, "-c", TITLE_BAR, str(tmp_path)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert '_NET_WM_NAME = "Sandbox (demo) — AnonConsole"' in shown.stdout, shown.stdout + shown.stderr


def made_up_users(window: MainWindow, count: int = 80) -> None:
    """Fill the users area with anonymous and regular users, as a load would (no sandbox)."""
    anonymous = window.users.table.policy.tenant_id or "T2AnonymousUsers00000000000000"
    window.users.table.set_policy(AnonymousPolicy(anonymous, 365 * 86400))
    now = 1_800_000_000
    window.users.table.append(
        User(
            user_id=f"U{i:027d}",
            login_ids=(f"user{i}@example.com" if i % 4 == 0 else f"r{i:05d}x@q{i}z.com",),
            email=f"user{i}@example.com" if i % 4 == 0 else "",
            verified_email=i % 4 == 0,
            status="enabled",
            tenants=() if i % 4 == 0 else (UserTenant(anonymous, "Anonymous Users"),),
            created_time=now - (i * 37 % 800) * 86400,
        )
        for i in range(count)
    )
    for view in window.users.views.values():
        view.model.table_reset()


def test_tab_walks_from_the_navigation_through_the_filters_and_the_table_to_the_details(
    window: MainWindow, qtbot: QtBot
) -> None:
    made_up_users(window)
    window.show_page("anonymous")
    page = window.users.views["anonymous"]
    page.view.selectRow(0)
    assert page.details.user_id
    window.activateWindow()
    qtbot.waitActive(window)
    window.navigation.setFocus(Qt.FocusReason.OtherFocusReason)
    visited: list[QWidget] = []
    for _ in range(80):
        focused = QApplication.focusWidget()
        assert focused is not None, f"the focus was lost after {visited[-1:]}"
        QTest.keyClick(focused, Qt.Key.Key_Tab)
        visited.append(QApplication.focusWidget() or window)
        if visited[-1] is window.navigation:
            break
    assert visited[-1] is window.navigation, "Tab comes back to the navigation"
    order = visited
    assert order.index(page.search) < order.index(page.status_filter) < order.index(page.view)
    assert order.count(page.view) == 1, "Tab leaves the table instead of moving from cell to cell"
    in_details = [i for i, w in enumerate(order) if page.details.isAncestorOf(w)]
    assert in_details, "the details can be reached by Tab"
    assert in_details[0] > order.index(page.view)
    for widget in order:
        assert widget.accessibleName() or widget.objectName(), widget


def test_the_anonymous_page_shows_age_and_expiry_without_scrolling_at_1280_px(
    window: MainWindow, qtbot: QtBot
) -> None:
    from anonconsole.models import users_model

    window.resize(1280, 800)
    made_up_users(window)
    for key in ("anonymous", "all"):
        window.show_page(key)
        page = window.users.views[key]
        qtbot.waitUntil(lambda page=page: page.view.viewport().width() > 0)
        header = page.view.horizontalHeader()
        for column in (Column.EXPIRES, users_model.ModelColumn.AGE):
            section = page.model.columns.index(column)
            left = header.sectionViewportPosition(section)
            assert not header.isSectionHidden(section)
            assert left >= 0, (key, column)
            assert left + header.sectionSize(section) <= page.view.viewport().width(), (key, column)


def test_column_layout_and_window_geometry_are_remembered(qtbot: QtBot, console_qapp: QApplication) -> None:
    first = MainWindow(DEMO)
    qtbot.addWidget(first)
    first.resize(first.width(), 530)  # offscreen, the screen is 800 px wide: only the height can change
    first.show()
    first.show_page("anonymous")
    header = first.users.views["anonymous"].view.horizontalHeader()
    header.resizeSection(2, 222)
    header.moveSection(0, 3)
    header.setSectionHidden(4, True)
    layout = [
        (header.visualIndex(i), header.sectionSize(i), header.isSectionHidden(i))
        for i in range(header.count())
    ]
    first.close()

    second = MainWindow(DEMO)
    qtbot.addWidget(second)
    second.show()
    second.show_page("anonymous")
    again = second.users.views["anonymous"].view.horizontalHeader()
    assert [
        (again.visualIndex(i), again.sectionSize(i), again.isSectionHidden(i)) for i in range(again.count())
    ] == layout
    assert second.height() == 530
    other = second.users.views["all"].view.horizontalHeader()
    assert not any(other.isSectionHidden(i) for i in range(other.count())), "each page keeps its own"


def test_a_lifecycle_bar_shows_its_users_on_the_anonymous_page_until_removed(window: MainWindow) -> None:
    from anonconsole.core.lifecycle import BarFilter

    page = window.users.views["anonymous"]
    window.lifecycle.filter_requested.emit(
        BarFilter("Last active 1–3 months ago", active_from=10, active_to=20)
    )
    assert window.pages.currentWidget() is page
    assert page.bar_chip.isVisibleTo(page)
    assert "1–3 months" in page.bar_chip.text()
    spec = page.current_filter()
    assert (spec.active_from, spec.active_to) == (10, 20)
    page.bar_chip.click()
    assert not page.bar_chip.isVisibleTo(page)
    assert page.current_filter().active_from is None


def test_the_page_shown_the_navigation_width_and_the_theme_are_remembered(
    qtbot: QtBot, console_qapp: QApplication
) -> None:
    first = MainWindow(DEMO)
    qtbot.addWidget(first)
    first.show()
    assert first.last_page() == "overview"  # nothing remembered yet
    first.show_page("lifecycle")
    total = sum(first.splitter.sizes())
    first.splitter.setSizes([220, total - 220])
    width = first.navigation.width()
    assert width == 220
    themes: list[str] = []
    first.theme_changed.connect(themes.append)
    first.theme_actions["dark"].trigger()
    assert themes == ["dark"]
    first.close()

    second = MainWindow(DEMO)
    qtbot.addWidget(second)
    second.show()
    assert second.last_page() == "lifecycle"
    # Offscreen the screen is 800 px wide, so the pages' minimum width may cap the navigation.
    assert layout_settings().value("mainWindow/navigationWidth") in (width, str(width))
    assert second.theme_actions["dark"].isChecked()
    assert not second.theme_actions["system"].isChecked()
    second.set_theme("system")
    second.close()
    assert MainWindow(DEMO).theme_actions["system"].isChecked()
