"""The main window: navigation, a page per area, and a status bar that always says where we are connected.

Pages get the connection through `set_connection` and the `connection_changed` signal.
"""

from __future__ import annotations

import asyncio
import logging
import platform
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from typing import TYPE_CHECKING

import PySide6
from PySide6.QtCore import QByteArray, Qt, QTimer, Signal, qVersion
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

import anonconsole
from anonconsole.core.chosen import UserAction
from anonconsole.core.classify import ANONYMOUS_TENANT_NAME
from anonconsole.core.errors import GatewayError
from anonconsole.core.lifecycle import BarFilter
from anonconsole.operations.audit_log import AuditLog
from anonconsole.operations.overview import Overview, load_overview
from anonconsole.runtime import messages
from anonconsole.runtime.tasks import TaskOwner
from anonconsole.views import style
from anonconsole.views.audit_page import AuditPage
from anonconsole.views.error_dialog import ErrorDialog
from anonconsole.views.export_dialog import export_view
from anonconsole.views.layout_store import layout_settings, store_theme, stored_theme
from anonconsole.views.lifecycle_page import LifecyclePage
from anonconsole.views.users_area import UsersArea
from anonconsole.views.users_view import UsersView
from anonconsole.views.widgets import camel, named

if TYPE_CHECKING:
    from anonconsole.gateway import Gateway

log = logging.getLogger(__name__)

LIFECYCLE_DELAY_MS = 1000  # after the last count change, so a cull's batches redraw it once

# What an error notice is about, so the success that makes it untrue can hide it.
CONNECTION, OVERVIEW, USERS = "connection", "overview", "users"


@dataclass(frozen=True)
class PageSpec:
    """One entry of the navigation and what its page holds (the item's tooltip)."""

    key: str
    title: str
    about: str


PAGES = (
    PageSpec("overview", "Overview", "The connected project at a glance: its ID, users and tenants."),
    PageSpec(
        "anonymous",
        "Anonymous",
        "The anonymous users: members of the anonymous tenant with no verified email or phone, "
        "with their age, their remaining lifetime and whether they are due to be culled.",
    ),
    PageSpec(
        "regular",
        "Regular",
        "The regular users: a verified email or phone and no longer in the anonymous tenant, "
        "including the ones converted from anonymous users.",
    ),
    PageSpec(
        "attention",
        "Needs attention",
        "Users that are neither clearly anonymous nor clearly regular (for example verified but still "
        "in the anonymous tenant), each with the reason and what to do about it.",
    ),
    PageSpec(
        "all",
        "All users",
        "Every user of the project in one searchable, sortable table, loaded page by page.",
    ),
    PageSpec(
        "lifecycle",
        "Lifecycle",
        "How many anonymous users came, were converted and culled; their ages and expirations; the "
        "anonymous share of the monthly active users.",
    ),
    PageSpec(
        "audit",
        "Audit",
        "What this console changed (tenant setup, conversions, culls, chosen-user actions), who did "
        "it and when; and Descope's own events for a user.",
    ),
)


class OverviewPage(QWidget):
    """The connected project at a glance: ID, base URL, user count and tenants.

    Attributes:
        state: one line saying whether the figures are loading, loaded or failed.
        tenants: table of the project's tenants (name, ID).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "overviewPage", "Overview page")
        title = QLabel("Overview")
        title.setProperty("role", "pageTitle")
        style.apply(title)
        self.state = named(QLabel("Not connected."), "overviewState", "Overview state")
        self.state.setWordWrap(True)

        self.project_id = self._value("overviewProjectId", "Project ID")
        self.base_url = self._value("overviewBaseUrl", "Base URL")
        self.total_users = self._value("overviewTotalUsers", "Total users")
        self.test_users = self._value("overviewTestUsers", "Test users")
        self.tenant_count = self._value("overviewTenantCount", "Tenants")
        project = QGroupBox("Project")
        form = QFormLayout(project)
        form.addRow("Project ID:", self.project_id)
        form.addRow("Base URL:", self.base_url)
        form.addRow("Users:", self.total_users)
        form.addRow("Test users:", self.test_users)
        form.addRow("Tenants:", self.tenant_count)

        self.tenants = named(QTableWidget(0, 2), "overviewTenants", "Tenants")
        self.tenants.setHorizontalHeaderLabels(["Name", "Tenant ID"])
        self.tenants.verticalHeader().setVisible(False)
        self.tenants.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tenants.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tenants.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tenants.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        tenants_box = QGroupBox("Tenants")
        QVBoxLayout(tenants_box).addWidget(self.tenants)

        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.state)
        layout.addWidget(project)
        layout.addWidget(tenants_box, stretch=1)

    def _value(self, name: str, accessible: str) -> QLabel:
        """A selectable value label (IDs and URLs get copied)."""
        label = QLabel("—")
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        named(label, name, accessible)
        return label

    def show_state(self, text: str) -> None:
        """Say what is going on (connecting, loading, failed) without touching the last figures."""
        self.state.setText(text)

    def clear(self, text: str) -> None:
        """No figures: no project is connected (or another is being connected). `text` says why."""
        for value in (self.project_id, self.base_url, self.total_users, self.test_users, self.tenant_count):
            value.setText("—")
        self.tenants.setRowCount(0)
        self.state.setText(text)

    def show_overview(self, overview: Overview) -> None:
        """Fill the page with freshly loaded figures."""
        self.project_id.setText(overview.project_id)
        self.base_url.setText(overview.base_url)
        self.total_users.setText(f"{overview.total_users:,}")
        self.test_users.setText(f"{overview.test_users:,}")
        self.tenant_count.setText(str(len(overview.tenants)))
        self.tenants.setRowCount(len(overview.tenants))
        for row, tenant in enumerate(overview.tenants):
            self.tenants.setItem(row, 0, QTableWidgetItem(tenant.name))
            self.tenants.setItem(row, 1, QTableWidgetItem(tenant.id))
        loaded_at = datetime.now().strftime("%H:%M:%S")
        self.state.setText(f"Figures loaded at {loaded_at}; press F5 to refresh.")


class MainWindow(QMainWindow):
    """The console's shell.

    Attributes:
        navigation: the list of areas on the left; its rows match the pages of `pages`.
        pages: the stacked pages, one per entry of PAGES.
        overview: the Overview page.
        connection_label: permanent status-bar label naming the connection (never a key).
        progress: busy indicator in the status bar while connecting or loading.
        refresh_action: View → Refresh (F5), disabled while a refresh runs or when not connected.

    Signals:
        closed: the window was closed (the app quits and stops what it started).
        connection_changed(object): a new Gateway (or None) is in use; views listen to reload.
        overview_loaded: the Overview shows figures fresh from the connection.
        overview_failed(str): loading the Overview failed; the argument is the user sentence.
    """

    closed = Signal()
    connect_dialog_requested = Signal()
    tenant_setup_requested = Signal()
    verify_requested = Signal()
    cull_requested = Signal()
    user_action_requested = Signal(object)
    convert_requested = Signal()
    theme_changed = Signal(str)
    connection_changed = Signal(object)
    overview_loaded = Signal()
    overview_failed = Signal(str)
    _message_arrived = Signal(object)
    _unexpected_arrived = Signal(object)

    def __init__(self, profile_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setAccessibleName("AnonConsole main window")
        self.resize(1100, 700)
        self._profile_name = profile_name
        self._gateway: Gateway | None = None
        self._connecting = False
        self._refreshing = False
        self._notice_topic = ""  # what the error notice shown is about (CONNECTION, ...), "" other
        self._tasks = TaskOwner("main window")  # network work to cancel when the window closes
        self._closed = False
        self._build_actions()
        self._build_central()
        self._build_status_bar()
        self._set_title()
        self._show_not_connected("Not connected.")
        self._restore_layout()
        self._message_arrived.connect(self._show_message)
        self._unexpected_arrived.connect(self._show_unexpected)
        # Listeners may be called from worker threads: the signals hop onto the UI thread.
        self._unsubscribe = [
            messages.subscribe(self._message_arrived.emit),
            messages.subscribe_unexpected(self._unexpected_arrived.emit),
        ]

    # -- building -------------------------------------------------------------------------------

    def _build_actions(self) -> None:
        """Menus and toolbar; every action named for tests and accessibility."""
        self.quit_action = QAction("&Quit", self, shortcut=QKeySequence("Ctrl+Q"))
        self.quit_action.setObjectName("quitAction")
        self.quit_action.triggered.connect(self.close)
        self.refresh_action = QAction("&Refresh", self, shortcut=QKeySequence("F5"))
        self.refresh_action.setObjectName("refreshAction")
        self.refresh_action.setToolTip("Reload the overview and the users from the connected project (F5)")
        self.refresh_action.setEnabled(False)
        self.refresh_action.triggered.connect(self.refresh)
        self.about_action = QAction("&About AnonConsole", self)
        self.about_action.setObjectName("aboutAction")
        self.about_action.triggered.connect(self.show_about)
        self.connect_action = QAction("&Connect…", self, shortcut=QKeySequence("Ctrl+Shift+O"))
        self.connect_action.setObjectName("connectAction")
        self.connect_action.setToolTip("Choose, add or edit a Descope project connection (Ctrl+Shift+O)")
        self.connect_action.triggered.connect(self.connect_dialog_requested)
        self.find_action = QAction("&Find users", self, shortcut=QKeySequence(QKeySequence.StandardKey.Find))
        self.find_action.setObjectName("findAction")
        self.find_action.setToolTip("Search the users of the page shown (Ctrl+F)")
        self.find_action.triggered.connect(self.focus_search)
        self.tenant_setup_action = QAction("Set up the &anonymous tenant…", self)
        self.tenant_setup_action.setObjectName("tenantSetupAction")
        self.tenant_setup_action.setToolTip("Create or adopt the anonymous tenant and its session settings")
        self.tenant_setup_action.triggered.connect(self.tenant_setup_requested)
        self.verify_action = QAction("&Verify the setup", self)
        self.verify_action.setObjectName("verifyAction")
        self.verify_action.setToolTip("Create a probe anonymous user, check its tokens, delete it")
        self.verify_action.triggered.connect(self.verify_requested)
        self.cull_action = QAction(
            "&Cull expired anonymous users…", self, shortcut=QKeySequence("Ctrl+Shift+K")
        )
        self.cull_action.setObjectName("cullAction")
        self.cull_action.setToolTip(
            "Preview, approve and run the deletion of anonymous users whose refresh token can no longer "
            "be valid (Ctrl+Shift+K)"
        )
        self.cull_action.triggered.connect(self.cull_requested)
        self.user_actions = {
            UserAction.DELETE: self._user_action(
                UserAction.DELETE, "&Delete users…", QKeySequence(QKeySequence.StandardKey.Delete)
            ),
            UserAction.DISABLE: self._user_action(
                UserAction.DISABLE, "D&isable users…", QKeySequence("Ctrl+Shift+D")
            ),
            UserAction.ENABLE: self._user_action(
                UserAction.ENABLE, "&Enable users…", QKeySequence("Ctrl+Shift+E")
            ),
        }
        self.convert_action = QAction(
            "Con&vert to a regular user…", self, shortcut=QKeySequence("Ctrl+Shift+V")
        )
        self.convert_action.setObjectName("convertAction")
        self.convert_action.setToolTip(
            "Give the selected anonymous user an email or phone Descope verified, keeping its user ID "
            "(Ctrl+Shift+V)"
        )
        self.convert_action.setEnabled(False)
        self.convert_action.triggered.connect(self.convert_requested)
        self.export_action = QAction("&Export the page…", self, shortcut=QKeySequence("Ctrl+E"))
        self.export_action.setObjectName("exportAction")
        self.export_action.setToolTip(
            "Write the users the page shows (after search and filters, visible columns in order) to CSV "
            "or JSON (Ctrl+E)"
        )
        self.export_action.setEnabled(False)
        self.export_action.triggered.connect(self.export_page)
        for action in self._project_actions():
            action.setEnabled(False)

        menus = self.menuBar()
        menus.setObjectName("menuBar")
        file_menu = menus.addMenu("&File")
        file_menu.addAction(self.connect_action)
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        view_menu = menus.addMenu("&View")
        view_menu.addAction(self.refresh_action)
        view_menu.addAction(self.find_action)
        view_menu.addSeparator()
        theme_menu = view_menu.addMenu("&Theme")
        theme_menu.setObjectName("themeMenu")
        self.theme_actions: dict[str, QAction] = {}
        themes = QActionGroup(self)
        for theme, text in (("system", "Follow the &system"), ("light", "&Light"), ("dark", "&Dark")):
            action = theme_menu.addAction(text)
            action.setObjectName(camel("theme", theme, "action"))
            action.setCheckable(True)
            action.setChecked(theme == stored_theme())
            action.triggered.connect(lambda _checked, chosen=theme: self.set_theme(chosen))
            themes.addAction(action)
            self.theme_actions[theme] = action
        tools = menus.addMenu("&Tools")
        tools.addAction(self.tenant_setup_action)
        tools.addAction(self.verify_action)
        tools.addSeparator()
        tools.addAction(self.cull_action)
        users_menu = menus.addMenu("&Users")
        users_menu.setObjectName("usersMenu")
        users_menu.addAction(self.convert_action)
        users_menu.addSeparator()
        users_menu.addActions(list(self.user_actions.values()))
        menus.addMenu("&Help").addAction(self.about_action)
        toolbar = self.addToolBar("Main")
        named(toolbar, "mainToolBar", "Main toolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        toolbar.addAction(self.connect_action)
        toolbar.addAction(self.refresh_action)
        toolbar.addAction(self.tenant_setup_action)
        toolbar.addAction(self.cull_action)
        toolbar.addSeparator()
        toolbar.addAction(self.convert_action)
        toolbar.addActions(list(self.user_actions.values()))
        toolbar.addAction(self.export_action)

    def _user_action(self, action: UserAction, text: str, shortcut: QKeySequence) -> QAction:
        """An action on the users selected in the page shown (menu, toolbar, context menu, key)."""
        qaction = QAction(text, self, shortcut=shortcut)
        qaction.setObjectName(camel(action.value, "users_action"))
        key = shortcut.toString(QKeySequence.SequenceFormat.NativeText)
        qaction.setToolTip(
            f"{action.value.capitalize()} the users selected in the page shown: previewed, confirmed, "
            f"checked again right before, journaled ({key})"
        )
        qaction.setEnabled(False)
        qaction.triggered.connect(lambda: self.user_action_requested.emit(action))
        return qaction

    def set_theme(self, theme: str) -> None:
        """View → Theme: remembered for the next start, applied by the app (`theme_changed`)."""
        store_theme(theme)
        self.theme_actions[theme].setChecked(True)
        self.theme_changed.emit(theme)

    def current_users_view(self) -> UsersView | None:
        """The users page shown, if the page shown is one."""
        page = self.pages.currentWidget()
        return page if isinstance(page, UsersView) else None

    def _update_user_actions(self, *_args: object) -> None:
        """Delete/Disable/Enable are on when connected and the page shown has users selected;
        Convert when exactly one is; Export when a users page is shown."""
        view = self.current_users_view()
        live = self._gateway is not None and not self._connecting
        selected = len(view.selected_rows()) if view is not None else 0
        for action in self.user_actions.values():
            action.setEnabled(live and selected > 0)
        self.convert_action.setEnabled(live and selected == 1)
        self.export_action.setEnabled(live and view is not None)

    def export_page(self) -> None:
        """File → Export: the users page shown, to a file chosen in a dialog (progress, Cancel)."""
        view = self.current_users_view()
        if view is not None:
            self._tasks.start(export_view(self, view), key="export")

    def _project_actions(self) -> tuple[QAction, ...]:
        """The actions that act on the connected project: off whenever none is connected."""
        return (self.tenant_setup_action, self.verify_action, self.cull_action)

    def _build_central(self) -> None:
        """Navigation on the left, the stacked pages on the right."""
        self.navigation = named(QListWidget(), "navigation", "Navigation")
        style.apply(self.navigation)
        self.navigation.setMinimumWidth(170)
        self.navigation.setMaximumWidth(240)
        self.pages = named(QStackedWidget(), "pages", "Pages")
        self.overview = OverviewPage()
        self.users = UsersArea(self)
        self.lifecycle = LifecyclePage()
        self.audit_page = AuditPage(AuditLog())
        for spec in PAGES:
            self.navigation.addItem(spec.title)
            if spec.key == "overview":
                page: QWidget = self.overview
            elif spec.key == "audit":
                page = self.audit_page
            elif spec.key == "lifecycle":  # four charts: scrolled, so the window can stay small
                page = named(QScrollArea(), "lifecycleScroll", "Lifecycle")
                page.setWidget(self.lifecycle)
                page.setWidgetResizable(True)
                page.setFrameShape(QFrame.Shape.NoFrame)
            else:
                page = self.users.views[spec.key]
            self.pages.addWidget(page)
            self.navigation.item(self.navigation.count() - 1).setToolTip(spec.about)
        self.users.counts_changed.connect(self._show_counts)
        self.users.progress.connect(self._show_load_progress)
        self.users.loading_changed.connect(self._show_loading)
        self.users.message.connect(self._users_message)
        self.users.freshness_changed.connect(self._show_freshness)
        self.users.load_succeeded.connect(lambda: self.clear_notice(CONNECTION, USERS))
        self.users.load_succeeded.connect(self.refresh_lifecycle)
        # Users acted on here (a cull's batch, a chosen-user action) change the counts without a
        # load: the lifecycle follows once they settle.
        self._lifecycle_timer = QTimer(self)
        self._lifecycle_timer.setSingleShot(True)
        self._lifecycle_timer.setInterval(LIFECYCLE_DELAY_MS)
        self._lifecycle_timer.timeout.connect(self.refresh_lifecycle)
        self.users.counts_changed.connect(self._counts_settling)
        self.lifecycle.filter_requested.connect(self.show_bar)
        self.connection_changed.connect(self.audit_page.set_gateway)
        self.navigation.currentRowChanged.connect(self.pages.setCurrentIndex)
        self.navigation.currentRowChanged.connect(lambda row: self.users.set_active(PAGES[row].key))
        self.navigation.currentRowChanged.connect(self._update_user_actions)
        for view in self.users.views.values():
            view.user_actions = [self.convert_action, *self.user_actions.values()]
            view.selection_changed.connect(self._update_user_actions)
        self.navigation.setCurrentRow(0)
        self.splitter = splitter = named(QSplitter(), "mainSplitter", "Main area")
        splitter.addWidget(self.navigation)
        splitter.addWidget(self.pages)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 0)
        layout.addWidget(self._build_notice())
        layout.addWidget(splitter, stretch=1)
        self.setCentralWidget(central)

    def _build_notice(self) -> QFrame:
        """A hidden banner for warnings and errors that must not scroll away with the status bar."""
        self.notice = named(QFrame(), "notice", "Notice")
        style.apply(self.notice)
        self.notice_text = named(QLabel(), "noticeText", "Notice text")
        self.notice_text.setWordWrap(True)
        self.notice_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        dismiss = named(QToolButton(), "dismissNotice", "Dismiss notice")
        dismiss.setText("✕")
        dismiss.setAutoRaise(True)
        dismiss.clicked.connect(lambda: self.clear_notice())
        row = QHBoxLayout(self.notice)
        row.setContentsMargins(10, 6, 6, 6)
        row.addWidget(self.notice_text, stretch=1)
        row.addWidget(dismiss, alignment=Qt.AlignmentFlag.AlignTop)
        self.notice.hide()
        return self.notice

    def _build_status_bar(self) -> None:
        """Temporary messages on the left; progress and the connection label on the right."""
        bar = self.statusBar()
        named(bar, "statusBar", "Status bar")
        self.progress = named(QProgressBar(), "busyIndicator", "Working")
        self.progress.setRange(0, 0)
        self.progress.setMaximumWidth(120)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.connection_label = named(QLabel("Not connected"), "connectionLabel", "Connection")
        style.apply(self.connection_label)
        self.connection_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.load_progress = named(QProgressBar(), "loadProgress", "Loading users")
        self.load_progress.setMaximumWidth(220)
        self.load_progress.setFormat("%v / %m")
        self.load_progress.hide()
        self.freshness_label = named(QLabel(), "usersFreshness", "How fresh the users shown are")
        self.freshness_label.setContentsMargins(0, 0, 12, 0)  # apart from the connection label
        self.freshness_label.hide()
        self.cancel_load = named(QPushButton("Cancel"), "cancelLoad", "Cancel loading users")
        self.cancel_load.setToolTip("Stop loading; the users loaded so far stay shown")
        self.cancel_load.clicked.connect(self.users.cancel)
        self.cancel_load.hide()
        bar.addPermanentWidget(self.freshness_label)
        bar.addPermanentWidget(self.load_progress)
        bar.addPermanentWidget(self.cancel_load)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.connection_label)

    # -- pages ------------------------------------------------------------------------------------

    def page_index(self, key: str) -> int:
        """Row of the page `key` (one of PAGES) in the navigation and the stack."""
        return next(i for i, spec in enumerate(PAGES) if spec.key == key)

    def set_page(self, key: str, widget: QWidget) -> None:
        """Put another view in place of a page."""
        index = self.page_index(key)
        old = self.pages.widget(index)
        self.pages.insertWidget(index, widget)
        if old is not None:
            self.pages.removeWidget(old)
            old.deleteLater()
        self.pages.setCurrentIndex(self.navigation.currentRow())

    def refresh_lifecycle(self) -> None:
        """Draw the Lifecycle page from the users loaded now and this profile's audit entries."""
        if self._gateway is None or not self.users.table_loaded or self._closed:
            return
        self._tasks.start(self._draw_lifecycle(), key="lifecycle")

    async def _draw_lifecycle(self) -> None:
        # After the users snapshot's writing, not beside it: the Lifecycle's many short numpy calls
        # on the UI thread each waited for the GIL from the writer's thread (stalls of 40-60 ms
        # with 3 ms of work, at 1,000,000 users).
        await self.users.snapshot_written()
        if self._gateway is None or not self.users.table_loaded or self._closed:
            return  # gone meanwhile: what comes next draws its own
        await self.lifecycle.show_from_log(self.users.table, AuditLog(), self._profile_name)

    def _counts_settling(self, _counts: object) -> None:
        if self.users.table_loaded and not self.users.loading:
            self._lifecycle_timer.start()

    def show_bar(self, wanted: BarFilter) -> None:
        """A bar clicked on the Lifecycle page: the Anonymous page shows that bar's users."""
        self.users.views["anonymous"].show_bar_filter(wanted)
        self.show_page("anonymous")

    def show_page(self, key: str) -> None:
        """Select a page as the user would by clicking it in the navigation."""
        self.navigation.setCurrentRow(self.page_index(key))

    # -- connection -------------------------------------------------------------------------------

    @property
    def gateway(self) -> Gateway | None:
        """The connection in use, if any."""
        return self._gateway

    def set_connecting(self, profile_name: str, text: str) -> None:
        """Show that a connection is being made (the sandbox starting, a check running).

        What the previous connection showed goes at once: it must never appear under this title.
        Its gateway stays `gateway` (for its owner to close) until `set_connection` or
        `set_connection_failed`.
        """
        self._profile_name = profile_name
        self._set_title()
        self._set_connection_text(text)
        self._set_busy(connecting=True)
        self._tasks.cancel_all()  # the previous connection's overview and users work
        self.audit_page.set_gateway(None)  # the previous gateway is about to be closed
        self._show_not_connected(text)

    def set_connection(
        self,
        profile_name: str,
        gateway: Gateway,
        *,
        tenant_id: str = "",
        tenant_name: str = ANONYMOUS_TENANT_NAME,
        grace_days: int = 0,
    ) -> asyncio.Task[None]:
        """Use `gateway` from now on: load the overview (returned task) and all users."""
        self._set_busy(connecting=False)
        self._profile_name = profile_name
        self._gateway = gateway
        self._set_title()
        self._set_connection_text(self._connection_summary(None))
        self.clear_notice(CONNECTION, OVERVIEW, USERS)  # they were about another attempt
        for action in self._project_actions():
            action.setEnabled(True)
        self._update_user_actions()
        self.connection_changed.emit(gateway)
        self.load_users(tenant_id=tenant_id, tenant_name=tenant_name, grace_days=grace_days)
        return self.refresh_overview()  # type: ignore[no-any-return]

    def load_users(
        self, *, tenant_id: str = "", tenant_name: str = ANONYMOUS_TENANT_NAME, grace_days: int = 0
    ) -> None:
        """(Re)load the users of the connection with this anonymous tenant; cancelled on close."""
        if self._gateway is None:
            return
        self._tasks.start(
            self.users.connect_to(
                self._gateway, tenant_id=tenant_id, tenant_name=tenant_name, grace_days=grace_days
            )
        )

    def refresh(self) -> None:
        """F5: reload the overview and the users; views keep their filters, sort and selection."""
        self.refresh_overview()
        self.users.refresh()
        self.audit_page.reload()

    def focus_search(self) -> None:
        """Ctrl+F: the search box of the users page shown (All users when another page is shown)."""
        page = self.pages.currentWidget()
        if page is self.audit_page:
            self.audit_page.focus_search()
            return
        if not isinstance(page, UsersView):
            self.show_page("all")
            page = self.users.views["all"]
        page.focus_search()

    def _show_counts(self, counts: dict[str, int]) -> None:
        if self._gateway is None or self._connecting:  # a count of no connection's users: none
            return
        for key, count in counts.items():
            spec = PAGES[self.page_index(key)]
            item = self.navigation.item(self.page_index(key))
            item.setText(f"{spec.title}  ({count:,})")
            item.setData(Qt.ItemDataRole.AccessibleTextRole, f"{spec.title}, {count:,} users")

    def _show_load_progress(self, phase: str, done: int, total: int) -> None:
        self.load_progress.setMaximum(max(total, 1))
        self.load_progress.setValue(done)
        what = {"users": "users", "changes": "changes since the snapshot"}.get(phase, "last sign-ins")
        self.load_progress.setFormat(f"Loading {what}: %v / %m")
        self.load_progress.setToolTip(f"Loading {what}: {done:,} of {total:,}")

    def _show_freshness(self, short: str, whole: str) -> None:
        """How fresh the users shown are ("Users as of 14:02" while a snapshot is brought up to date)."""
        self.freshness_label.setText(short)
        self.freshness_label.setToolTip(whole)
        self.freshness_label.setAccessibleDescription(whole)
        self.freshness_label.setVisible(bool(short))

    def _show_loading(self, loading: bool) -> None:
        self.load_progress.setVisible(loading)
        self.cancel_load.setVisible(loading)
        if loading:
            self.load_progress.setValue(0)

    def _reset_counts(self) -> None:
        """The navigation without counts (no connection)."""
        for row, spec in enumerate(PAGES):
            item = self.navigation.item(row)
            item.setText(spec.title)
            item.setData(Qt.ItemDataRole.AccessibleTextRole, spec.title)

    def _users_message(self, text: str, error: bool) -> None:
        if error:
            self.show_notice(messages.Message(messages.Level.ERROR, text), topic=USERS)
        else:
            self.statusBar().showMessage(text, 15000)

    def set_connection_failed(self, profile_name: str, text: str) -> None:
        """Show that no connection could be made, and what to do (`text` is a user sentence)."""
        self._set_busy(connecting=False)
        self._profile_name = profile_name
        self._gateway = None
        self._set_title()
        self._tasks.cancel_all()
        self._show_not_connected(text)
        self._set_connection_text(f"{profile_name}: not connected", error=True, details=text)
        self.show_notice(messages.Message(messages.Level.ERROR, f"Not connected: {text}"), topic=CONNECTION)
        self.connection_changed.emit(None)

    def _show_not_connected(self, text: str) -> None:
        """Nothing of any project shown, nothing to act on: the overview, the four users pages and
        their counts, the details; refresh, tenant setup and verify off."""
        chosen = (self.convert_action, self.export_action, *self.user_actions.values())
        for action in (self.refresh_action, *self._project_actions(), *chosen):
            action.setEnabled(False)
        self.overview.clear(text)
        self.users.clear()
        self._lifecycle_timer.stop()
        self.lifecycle.clear(text)
        self._reset_counts()
        self.statusBar().clearMessage()  # "Loaded 3,005 users": about the project that went

    @asyncSlot()
    async def refresh_overview(self) -> None:
        """Reload the overview from the connection; the refresh action is off while it runs."""
        gateway = self._gateway
        task = asyncio.current_task()
        if gateway is None or task is None:
            return
        self._tasks.adopt(task)
        self.refresh_action.setEnabled(False)
        self._set_busy(refreshing=True)
        self.overview.show_state("Loading figures from the project…")
        try:
            overview = await load_overview(gateway)
        except GatewayError as exc:
            if self._shows(gateway):
                self.overview.show_state(exc.user_message)
                self._set_connection_text(
                    f"{self._profile_name}: not loaded", error=True, details=exc.user_message
                )
                log.error("%s", messages.scrub(exc.user_message))
                self.show_notice(messages.Message(messages.Level.ERROR, exc.user_message), topic=OVERVIEW)
            self.overview_failed.emit(exc.user_message)
            return
        finally:
            self._set_busy(refreshing=False)
            self.refresh_action.setEnabled(self._gateway is not None and not self._connecting)
        if not self._shows(gateway):  # the connection changed while loading: stale figures
            return
        self.overview.show_overview(overview)
        self._set_connection_text(self._connection_summary(overview.total_users))
        self.clear_notice(CONNECTION, OVERVIEW)
        self.overview_loaded.emit()

    def _shows(self, gateway: Gateway) -> bool:
        """Whether the window shows `gateway`'s project (not another's, nor one being connected)."""
        return gateway is self._gateway and not self._connecting

    def _connection_summary(self, total_users: int | None) -> str:
        """'Profile · project · URL · N users' — what the status bar says once connected."""
        assert self._gateway is not None
        connection = self._gateway.connection
        users = "…" if total_users is None else f"{total_users:,} users"
        return f"{self._profile_name} · {connection.project_id} · {connection.base_url} · {users}"

    def _set_connection_text(self, text: str, *, error: bool = False, details: str = "") -> None:
        """The permanent label (short), red when it reports a failure; details in its tooltip."""
        self.connection_label.setText(messages.scrub(text))
        self.connection_label.setToolTip(messages.scrub(details or text))
        style.set_state(self.connection_label, "state", "error" if error else "")

    def _set_busy(self, *, connecting: bool | None = None, refreshing: bool | None = None) -> None:
        """The busy indicator shows while connecting or while a refresh runs."""
        if connecting is not None:
            self._connecting = connecting
        if refreshing is not None:
            self._refreshing = refreshing
        self.progress.setVisible(self._connecting or self._refreshing)

    def _set_title(self) -> None:
        """The profile's name (never a key). The platform adds the application's display name
        ("Sandbox (demo) — AnonConsole" on X11 and Windows), so the title does not repeat it."""
        self.setWindowTitle(self._profile_name)

    # -- messages ---------------------------------------------------------------------------------

    def _show_message(self, message: messages.Message) -> None:
        """A message from the bridge: info in the status bar, warnings and errors in the notice."""
        if message.level is messages.Level.INFO:
            self.statusBar().showMessage(message.text, 15000)
        else:
            self.show_notice(message)

    def show_notice(self, message: messages.Message, *, topic: str = "") -> None:
        """The banner above the pages: a warning or error that stays until dismissed, or, for one
        about a `topic` (CONNECTION, OVERVIEW, USERS), until that goes well."""
        style.set_state(self.notice, "level", message.level.value)
        self.notice_text.setText(messages.scrub(message.text))
        self._notice_topic = topic
        self.notice.show()

    def clear_notice(self, *topics: str) -> None:
        """Hide the notice (dismissed); with `topics`, only if it is about one of them."""
        if topics and self._notice_topic not in topics:
            return
        self._notice_topic = ""
        self.notice.hide()

    def _show_unexpected(self, report: messages.Unexpected) -> None:
        """An unexpected exception from the bridge: a non-modal dialog with copyable details."""
        ErrorDialog(report, self).open()

    def show_about(self) -> None:
        """Versions of everything that matters in a bug report (non-modal)."""
        box = QMessageBox(self)
        box.setObjectName("aboutBox")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setWindowTitle("About AnonConsole")
        icon = QApplication.windowIcon()
        if icon.isNull():
            box.setIcon(QMessageBox.Icon.Information)
        else:
            box.setIconPixmap(icon.pixmap(64, 64))
        box.setText(f"<b>AnonConsole {anonconsole.__version__}</b>")
        box.setInformativeText(about_text())
        box.open()

    # -- closing ----------------------------------------------------------------------------------

    def close_quietly(self) -> None:
        """`close` for a signal handler (Ctrl+C, SIGTERM), which has no use for its result."""
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop listening to the bridge and tell the app, which stops what it started."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        self._save_layout()
        self._closed = True  # a lifecycle redraw still due must not start now
        self._lifecycle_timer.stop()
        self._tasks.cancel_all()
        self.users.cancel()
        super().closeEvent(event)
        self.closed.emit()

    def _restore_layout(self) -> None:
        """The geometry and columns of the last run (nothing the first time)."""
        settings = layout_settings()
        geometry = settings.value("mainWindow/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        width = settings.value("mainWindow/navigationWidth")
        # Applied once the window is shown: before that, the first layout redistributes the sizes.
        self._navigation_width = (
            int(width) if isinstance(width, (int, str)) and str(width).isdigit() else None
        )
        for view in self.users.views.values():
            view.restore_layout(settings)
        self.audit_page.restore_layout(settings)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._navigation_width is not None:
            total = sum(self.splitter.sizes())
            self.splitter.setSizes([self._navigation_width, max(0, total - self._navigation_width)])
            self._navigation_width = None

    def last_page(self) -> str:
        """The page shown when the console was last closed ("overview" the first time)."""
        page = layout_settings().value("mainWindow/page", "overview")
        return next((spec.key for spec in PAGES if spec.key == page), "overview")

    def _save_layout(self) -> None:
        settings = layout_settings()
        settings.setValue("mainWindow/geometry", self.saveGeometry())
        settings.setValue("mainWindow/navigationWidth", self.splitter.sizes()[0])
        settings.setValue("mainWindow/page", PAGES[max(0, self.navigation.currentRow())].key)
        for view in self.users.views.values():
            view.save_layout(settings)
        self.audit_page.save_layout(settings)
        settings.sync()

    async def shutdown(self) -> None:
        """Close, then wait until the network work the window started has ended.

        The loop must outlive that work: qasync steps what is left once more after it stops, with no
        running loop, where a task's cleanup would fail.
        """
        self.close()
        await self._tasks.aclose()
        await self.users.close()
        await self.lifecycle.aclose()
        await self.audit_page.aclose()


def about_text() -> str:
    """Versions of AnonConsole, PySide6/Qt, the Descope SDK and Python, one per line."""
    try:
        sdk = metadata.version("descope")
    except metadata.PackageNotFoundError:
        sdk = "not installed"
    return (
        "A console for the lifecycle of anonymous users in a Descope project.<br><br>"
        f"PySide6 {PySide6.__version__} (Qt {qVersion()})<br>"
        f"Descope Python SDK {sdk}<br>"
        f"Python {platform.python_version()} on {platform.system()}"
    )
