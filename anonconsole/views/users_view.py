"""One users page (Anonymous, Regular, Needs attention or All): search, filters, table, details.

Every page shows the same `UserTable` through its own `UsersModel`; the table does the filtering and
sorting, so a keystroke in the search box costs milliseconds even at 100k users. A text column's
first sort prepares its key in a worker thread, so the window never stalls on it.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from PySide6.QtCore import (
    QByteArray,
    QEvent,
    QItemSelection,
    QModelIndex,
    QPoint,
    QSettings,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from anonconsole.core.classify import Kind
from anonconsole.core.errors import GatewayError
from anonconsole.core.lifecycle import BarFilter
from anonconsole.core.records import TestUsers, User
from anonconsole.core.user_pages import AGE, AnyColumn, page_filter
from anonconsole.core.user_pages import PAGE_COLUMNS as COLUMNS
from anonconsole.core.user_table import Column, TableFilter, UserTable
from anonconsole.models.users_model import USER_ROLE, UsersModel
from anonconsole.operations.sign_ins import recent_sign_ins
from anonconsole.runtime.tasks import TaskOwner
from anonconsole.views import style
from anonconsole.views.state_stack import StateStack
from anonconsole.views.user_details import UserDetails
from anonconsole.views.users_table_view import UsersTableView
from anonconsole.views.widgets import camel, tab_chain

if TYPE_CHECKING:
    from anonconsole.gateway import Gateway

EMPTY_KIND_TEXT = {
    Kind.ANONYMOUS: "No anonymous users in this project.",
    Kind.REGULAR: "No regular users in this project.",
    Kind.ATTENTION: "No users need attention. Every user is clearly anonymous or regular.",
    None: "This project has no users.",
}
NOT_CONNECTED_TEXT = "Not connected.\n\nChoose a connection with File → Connect… (Ctrl+Shift+O)."

# (label, days): created within the last N days (positive) or more than N days ago (negative).
CREATED_CHOICES: tuple[tuple[str, int | None], ...] = (
    ("Created any time", None),
    ("Created in the last 7 days", 7),
    ("Created in the last 30 days", 30),
    ("Created in the last 365 days", 365),
    ("Created over a year ago", -365),
)
STATUS_CHOICES = (
    ("Any status", ""),
    ("Enabled", "enabled"),
    ("Invited", "invited"),
    ("Disabled", "disabled"),
)
EXPIRY_CHOICES: tuple[tuple[str, bool | None], ...] = (
    ("Expired or not", None),
    ("Expired", True),
    ("Not expired", False),
)
TEST_CHOICES: tuple[tuple[str, TestUsers], ...] = (
    ("Without test users", "exclude"),
    ("With test users", "include"),
    ("Only test users", "only"),
)
SEARCH_DELAY_MS = 120
COLUMN_WIDTHS: dict[AnyColumn, int] = {
    Column.USER_ID: 235,
    Column.LOGIN_IDS: 190,
    Column.STATUS: 75,
    Column.CREATED: 125,
    Column.LAST_SIGN_IN: 125,
    Column.EXPIRES: 200,
    AGE: 125,
    Column.KIND: 105,
    Column.REASON: 380,
}
DEFAULT_WIDTH = 160


class UsersView(QWidget):
    """A page of users of one kind (or all).

    Signals:
        retry_requested(): the user asked to load again after an error.
        count_changed(int): rows shown after filters.
        selection_changed(int): how many rows are selected now.
    """

    retry_requested = Signal()
    count_changed = Signal(int)
    selection_changed = Signal(int)

    def __init__(self, table: UserTable, kind: Kind | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = table
        self.kind = kind
        self.gateway: Gateway | None = None
        self._loading = False
        self._error = ""
        self._connected = True  # False: the window has no connection, the page says so
        self.user_actions: list[QAction] = []  # the window's actions on chosen users, for the context menu
        self.bar_filter: BarFilter | None = None  # a bar clicked on the Lifecycle page, until removed
        name = kind.value if kind else "all"
        self.setObjectName(camel("usersView", name))
        self.setAccessibleName(f"{kind.label if kind else 'All'} users")
        self.model = UsersModel(table, COLUMNS[kind], page_filter(kind), self)
        self.model.set_badge_colors(*style.badge_colors(self))

        self._filters = QVBoxLayout()
        self._build_filters()
        self._build_table()
        self.details = UserDetails(self)
        self.splitter = splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.setObjectName("usersSplitter")
        splitter.addWidget(self._stack)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([1000, 300])
        self._set_tab_order()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(self._filters)
        layout.addWidget(splitter, 1)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.apply_filters)
        self._tasks = TaskOwner(f"users view {kind or 'all'}")
        for signal in (self.model.rowsInserted, self.model.layoutChanged, self.model.modelReset):
            signal.connect(self._update_state)
        for signal in (self.model.layoutChanged, self.model.modelReset):  # rows may have gone
            signal.connect(self._sync_details)
        self._update_state()

    # ---- construction ---------------------------------------------------------------------------
    def _combo(self, name: str, accessible: str, choices: tuple[tuple[str, object], ...]) -> QComboBox:
        combo = QComboBox(self)
        combo.setObjectName(name)
        combo.setAccessibleName(accessible)
        for label, value in choices:
            combo.addItem(label, value)
        combo.currentIndexChanged.connect(self.apply_filters)
        return combo

    def _build_filters(self) -> None:
        self.search = QLineEdit(self)
        self.search.setObjectName("search")
        self.search.setAccessibleName("Search users")
        self.search.setPlaceholderText("Search login ID, name, email, phone or user ID  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _text: self._search_timer.start())
        self.status_filter = self._combo("statusFilter", "Status filter", STATUS_CHOICES)
        self.created_filter = self._combo("createdFilter", "Created filter", CREATED_CHOICES)
        self.expiry_filter = self._combo("expiryFilter", "Expiry filter", EXPIRY_CHOICES)
        self.expiry_filter.setVisible(self.kind in (Kind.ANONYMOUS, None))
        self.test_filter = self._combo("testFilter", "Test users filter", TEST_CHOICES)
        self.clear_button = QPushButton("Clear filters", self)
        self.clear_button.setObjectName("clearFilters")
        self.clear_button.setAccessibleName("Clear filters")
        self.clear_button.clicked.connect(self.clear_filters)
        self.bar_chip = QPushButton(self)
        self.bar_chip.setObjectName("barFilter")
        self.bar_chip.setAccessibleName("Filter from the Lifecycle page: press to remove it")
        self.bar_chip.setToolTip("Users of the bar clicked on the Lifecycle page; press to show all again")
        self.bar_chip.hide()
        self.bar_chip.clicked.connect(lambda: self.show_bar_filter(None))
        self.count_label = QLabel(self)
        self.count_label.setObjectName("countLabel")
        self.count_label.setAccessibleName("Rows shown")
        self.search.setMinimumWidth(260)
        row = QHBoxLayout()
        for widget in (self.status_filter, self.created_filter, self.expiry_filter, self.test_filter):
            row.addWidget(widget)
        row.addWidget(self.bar_chip)
        row.addWidget(self.clear_button)
        row.addStretch(1)
        row.addWidget(self.count_label)
        self._filters.addWidget(self.search)
        self._filters.addLayout(row)

    def _build_table(self) -> None:
        view = UsersTableView(self)
        self.view = view
        view.setObjectName("usersTable")
        view.setAccessibleName(f"{self.accessibleName()} table")
        view.setModel(self.model)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        view.setAlternatingRowColors(True)
        view.setWordWrap(False)
        view.setTabKeyNavigation(False)  # Tab leaves the table (arrows move between cells)
        view.setSortingEnabled(False)  # sorting goes through `sort_by`, off the UI thread when needed
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        view.customContextMenuRequested.connect(self._context_menu)
        vertical = view.verticalHeader()
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(view.fontMetrics().height() + 8)
        vertical.hide()
        header = view.horizontalHeader()
        header.setObjectName("usersHeader")
        header.setSectionsClickable(True)
        header.setSectionsMovable(True)  # drag a column to reorder; the order is remembered
        header.setSortIndicatorShown(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        header.setStretchLastSection(True)
        header.sectionClicked.connect(self._header_clicked)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._header_menu)
        for section, column in enumerate(COLUMNS[self.kind]):
            header.resizeSection(section, COLUMN_WIDTHS.get(column, DEFAULT_WIDTH))
        view.selectionModel().selectionChanged.connect(self._selection_changed)

        self.copy_action = QAction("Copy", self)
        self.copy_action.setShortcut(QKeySequence.StandardKey.Copy)
        self.copy_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.copy_action.triggered.connect(self.copy_selection)
        self.copy_ids_action = QAction("Copy user IDs", self)
        self.copy_ids_action.triggered.connect(self.copy_user_ids)
        self.details_action = QAction("Show details", self)
        self.details_action.setShortcuts([QKeySequence(Qt.Key.Key_Return), QKeySequence(Qt.Key.Key_Enter)])
        self.details_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.details_action.triggered.connect(self.show_details)
        view.addAction(self.copy_action)
        view.addAction(self.details_action)
        self.addAction(self.copy_action)

        self._stack = StateStack(view, names=("tableStack", "emptyState", "emptyStateAction"), parent=self)
        self._stack.action_clicked.connect(self._message_action)

    # ---- filters --------------------------------------------------------------------------------
    def current_filter(self) -> TableFilter:
        status = self.status_filter.currentData()
        created_days = self.created_filter.currentData()
        created_from = created_to = None
        if created_days:
            bound = int((datetime.now(UTC) - timedelta(days=abs(created_days))).timestamp())
            created_from, created_to = (bound, None) if created_days > 0 else (None, bound)
        spec = TableFilter(
            kind=self.kind,
            text=self.search.text(),
            statuses=frozenset({status}) if status else frozenset(),
            created_from=created_from,
            created_to=created_to,
            expired=self.expiry_filter.currentData() if not self.expiry_filter.isHidden() else None,
            test_users=self.test_filter.currentData(),
        )
        return spec if self.bar_filter is None else self.bar_filter.table_filter(spec)

    def show_bar_filter(self, wanted: BarFilter | None) -> None:
        """Show only the users of a Lifecycle bar (None: remove it); the other filters still apply."""
        self.bar_filter = wanted
        self.bar_chip.setText(f"{wanted.description}  ✕" if wanted else "")
        self.bar_chip.setVisible(wanted is not None)
        self.apply_filters()

    def apply_filters(self) -> None:
        self._search_timer.stop()
        self.model.set_filter(self.current_filter())
        self._update_state()

    def clear_filters(self) -> None:
        for combo in (self.status_filter, self.created_filter, self.expiry_filter, self.test_filter):
            combo.blockSignals(True)
            combo.setCurrentIndex(0)
            combo.blockSignals(False)
        self.search.blockSignals(True)
        self.search.clear()
        self.search.blockSignals(False)
        self.bar_filter = None
        self.bar_chip.hide()
        self.apply_filters()

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def _set_tab_order(self) -> None:
        """Search, filters, table, then the details: the order they are read in."""
        chain: list[QWidget] = [
            self.search,
            self.status_filter,
            self.created_filter,
            self.expiry_filter,
            self.test_filter,
            self.bar_chip,
            self.clear_button,
            self.view,
            self._stack.action,
            *self.details.focus_chain(),
        ]
        tab_chain(chain)

    # ---- sorting --------------------------------------------------------------------------------
    @asyncSlot(int)
    async def _header_clicked(self, section: int) -> None:
        """Qt's convention: a new column sorts ascending, the sorted one again reverses its order.

        (The header has flipped its indicator already when it says the section was clicked: the
        model's own sort says what the order was.)
        """
        same = self.model.sort_column == self.model.columns[section]
        reverse = same and self.model.sort_order == Qt.SortOrder.AscendingOrder
        await self.sort_by(section, Qt.SortOrder.DescendingOrder if reverse else Qt.SortOrder.AscendingOrder)

    async def sort_by(self, section: int, order: Qt.SortOrder) -> None:
        """Sort by a column; a column's first sort key is computed in a worker thread."""
        column = self.model.table_column(self.model.columns[section])
        if not self.table.sort_ready(column):
            self.count_label.setText("Sorting…")
            await asyncio.to_thread(self.table.prepare_sort, column)
        self.model.sort(section, order)
        self.view.horizontalHeader().setSortIndicator(section, order)
        self._update_state()

    # ---- loading states -------------------------------------------------------------------------
    def set_loading(self, loading: bool) -> None:
        self._loading = loading
        if loading:
            self._error = ""
        self._update_state()

    def set_error(self, message: str) -> None:
        self._error = message
        self._loading = False
        self._update_state()

    def set_connected(self, connected: bool) -> None:
        """Whether the window has a connection: without one the page says so and nothing acts."""
        self._connected = connected
        if not connected:
            self._loading = False
            self._error = ""
            self.gateway = None
            self._tasks.cancel("sign-ins")
            self.details.clear()
        for action in (self.copy_action, self.copy_ids_action, self.details_action):
            action.setEnabled(connected)
        self._update_state()

    def _update_state(self, *_args: object) -> None:
        shown = self.model.rowCount()
        counts = self.table.counts(self.current_filter().test_users)
        total = counts[self.kind] if self.kind is not None else sum(counts.values())
        self.count_label.setText(f"{shown:,} of {total:,} users")
        self.count_changed.emit(shown)
        if shown:
            self._stack.show_content()
        elif not self._connected:
            self._stack.show_message(NOT_CONNECTED_TEXT)
        elif self._error:
            self._stack.show_message(f"Could not load the users.\n\n{self._error}", "Retry")
        elif self._loading:
            self._stack.show_message("Loading users…")
        elif total:
            self._stack.show_message("No users match the search and filters.", "Clear filters")
        else:
            self._stack.show_message(EMPTY_KIND_TEXT[self.kind])

    def _message_action(self, action: str) -> None:
        if action == "Retry":
            self.retry_requested.emit()
        else:
            self.clear_filters()

    @property
    def state_text(self) -> str:
        """What the page says when it shows no rows ("" when it shows rows)."""
        return self._stack.state_text

    # ---- selection, details, copy ---------------------------------------------------------------
    def selected_rows(self) -> list[int]:
        """Selected view rows, in view order."""
        return sorted(index.row() for index in self.view.selectionModel().selectedRows())

    def selected_users(self) -> list[User]:
        return [self.model.data(self.model.index(row, 0), USER_ROLE) for row in self.selected_rows()]

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._sync_details(clear=True)
        self.selection_changed.emit(len(self.view.selectionModel().selectedRows()))

    def _sync_details(self, *_args: object, clear: bool = False) -> None:
        """The details show the current selected row, else the first selected one; never a user the
        search or filters have removed (Qt drops such rows from the selection without a signal).

        `clear`: with no row selected, clear the details even if their user is still shown.
        """
        current = self.view.selectionModel().currentIndex()
        rows = self.selected_rows()
        if current.isValid() and current.row() in rows:
            self._show(current.row())
        elif rows:
            self._show(rows[0])
        elif clear or (self.details.user_id and not self.index_of_user(self.details.user_id).isValid()):
            self._tasks.cancel("sign-ins")
            self.details.clear()

    def show_details(self) -> None:
        """Enter: show the current row's details and move focus there."""
        current = self.view.currentIndex()
        if current.isValid():
            self._show(current.row())
            self.details.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _show(self, view_row: int) -> None:
        row = self.model.table_row(view_row)
        user = self.table.user(row)
        if self.details.user_id == user.user_id:
            return
        self.details.show_user(
            user, self.table.classification(row), self.table.last_sign_in(row), int(time.time())
        )
        if self.gateway is not None:
            self._tasks.start(self._load_sign_ins(self.gateway, user.user_id), key="sign-ins")
        else:
            self._tasks.cancel("sign-ins")
            self.details.set_sign_ins_failed(user.user_id, "not connected")

    def changeEvent(self, event: QEvent) -> None:
        """Light <-> dark: the badges take the colours of the new palette."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self.model.set_badge_colors(*style.badge_colors(self))

    async def aclose(self) -> None:
        """Stop the details' background work and wait for its end."""
        await self._tasks.aclose()

    async def _load_sign_ins(self, gateway: Gateway, user_id: str) -> None:
        try:
            records = await recent_sign_ins(gateway, user_id)
        except GatewayError as exc:
            self.details.set_sign_ins_failed(user_id, exc.user_message)
            return
        self.details.set_sign_ins(user_id, records)

    def copy_selection(self) -> None:
        """Selected cells as tab-separated text (a spreadsheet pastes it as cells)."""
        indexes = self.view.selectionModel().selectedIndexes()
        if not indexes:
            return
        rows: dict[int, dict[int, str]] = {}
        for index in indexes:
            rows.setdefault(index.row(), {})[index.column()] = str(self.model.data(index) or "")
        columns = sorted({c for cells in rows.values() for c in cells})
        lines = ["\t".join(rows[r].get(c, "") for c in columns) for r in sorted(rows)]
        QGuiApplication.clipboard().setText("\n".join(lines))

    def copy_user_ids(self) -> None:
        ids = [user.user_id for user in self.selected_users()]
        QGuiApplication.clipboard().setText("\n".join(ids))

    def _context_menu(self, position: QPoint) -> None:
        menu = QMenu(self)
        menu.setObjectName("usersContextMenu")
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        for action in (self.copy_action, self.copy_ids_action, self.details_action):
            action.setEnabled(self._connected and bool(self.selected_rows()))
            menu.addAction(action)
        if self.user_actions:
            menu.addSeparator()
            menu.addActions(self.user_actions)
        menu.popup(self.view.viewport().mapToGlobal(position))

    def _header_menu(self, position: QPoint) -> None:
        """Right-click on the header: show or hide columns (the last shown one stays)."""
        header = self.view.horizontalHeader()
        menu = QMenu(self)
        menu.setObjectName("columnsMenu")
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        shown = [s for s in range(header.count()) if not header.isSectionHidden(s)]
        for section in sorted(range(header.count()), key=header.visualIndex):
            action = menu.addAction(self.model.columns[section].heading)
            action.setCheckable(True)
            action.setChecked(not header.isSectionHidden(section))
            action.setEnabled(shown != [section])
            action.toggled.connect(lambda on, s=section: header.setSectionHidden(s, not on))
        menu.popup(header.mapToGlobal(position))

    # ---- remembered layout ----------------------------------------------------------------------
    def _layout_key(self, name: str) -> str:
        return f"usersPages/{self.objectName()}/{name}"

    def save_layout(self, settings: QSettings) -> None:
        """Remember the columns (order, widths, shown or hidden) and the details' width."""
        settings.setValue(self._layout_key("columns"), ",".join(c.value for c in self.model.columns))
        settings.setValue(self._layout_key("header"), self.view.horizontalHeader().saveState())
        settings.setValue(self._layout_key("splitter"), self.splitter.saveState())

    def restore_layout(self, settings: QSettings) -> None:
        """Take back what `save_layout` remembered, if it was for these very columns."""
        if settings.value(self._layout_key("columns")) != ",".join(c.value for c in self.model.columns):
            return
        header = self.view.horizontalHeader()
        state = settings.value(self._layout_key("header"))
        if isinstance(state, QByteArray) and header.restoreState(state):
            header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # the sort itself is not kept
        splitter = settings.value(self._layout_key("splitter"))
        if isinstance(splitter, QByteArray):
            self.splitter.restoreState(splitter)

    def index_of_user(self, user_id: str) -> QModelIndex:
        row = self.table.row_of(user_id)
        view_row = None if row is None else self.model.view_row(row)
        return QModelIndex() if view_row is None else self.model.index(view_row, 0)
