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

from PySide6.QtCore import QEvent, QItemSelection, QModelIndex, QPoint, Qt, QTimer, Signal
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
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from anonconsole.core.classify import Kind
from anonconsole.core.errors import GatewayError
from anonconsole.core.records import TestUsers, User
from anonconsole.core.user_table import Column, TableFilter, UserTable
from anonconsole.models.users_model import USER_ROLE, UsersModel
from anonconsole.operations.sign_ins import recent_sign_ins
from anonconsole.runtime.tasks import TaskOwner
from anonconsole.views import style
from anonconsole.views.user_details import UserDetails
from anonconsole.views.users_table_view import UsersTableView
from anonconsole.views.widgets import camel

if TYPE_CHECKING:
    from anonconsole.gateway import Gateway

# Who the user is and when it came and last signed in: the regular page, and the heart of "All".
_WHO_AND_WHEN = (
    Column.USER_ID,
    Column.LOGIN_IDS,
    Column.NAME,
    Column.EMAIL,
    Column.PHONE,
    Column.STATUS,
    Column.TENANTS,
    Column.CREATED,
    Column.LAST_SIGN_IN,
)
COLUMNS: dict[Kind | None, tuple[Column, ...]] = {
    Kind.ANONYMOUS: (
        Column.USER_ID,
        Column.LOGIN_IDS,
        Column.STATUS,
        Column.CREATED,
        Column.LAST_SIGN_IN,
        Column.EXPIRES,
    ),
    Kind.REGULAR: _WHO_AND_WHEN,
    Kind.ATTENTION: (
        Column.REASON,
        Column.USER_ID,
        Column.LOGIN_IDS,
        Column.EMAIL,
        Column.NAME,
        Column.STATUS,
        Column.TENANTS,
    ),
    None: (Column.KIND, *_WHO_AND_WHEN, Column.EXPIRES),
}

EMPTY_KIND_TEXT = {
    Kind.ANONYMOUS: "No anonymous users in this project.",
    Kind.REGULAR: "No regular users in this project.",
    Kind.ATTENTION: "No users need attention. Every user is clearly anonymous or regular.",
    None: "This project has no users.",
}

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
COLUMN_WIDTHS = {
    Column.USER_ID: 235,
    Column.LOGIN_IDS: 210,
    Column.STATUS: 75,
    Column.CREATED: 125,
    Column.LAST_SIGN_IN: 125,
    Column.EXPIRES: 170,
    Column.KIND: 120,
    Column.REASON: 380,
}


class UsersView(QWidget):
    """A page of users of one kind (or all).

    Signals:
        retry_requested(): the user asked to load again after an error.
        count_changed(int): rows shown after filters.
    """

    retry_requested = Signal()
    count_changed = Signal(int)

    def __init__(self, table: UserTable, kind: Kind | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = table
        self.kind = kind
        self.gateway: Gateway | None = None
        self._loading = False
        self._error = ""
        name = kind.value if kind else "all"
        self.setObjectName(camel("usersView", name))
        self.setAccessibleName(f"{kind.label if kind else 'All'} users")
        self.model = UsersModel(table, COLUMNS[kind], TableFilter(kind=kind), self)
        self.model.set_badge_colors(*style.badge_colors(self))

        self._filters = QVBoxLayout()
        self._build_filters()
        self._build_table()
        self.details = UserDetails(self)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.setObjectName("usersSplitter")
        splitter.addWidget(self._stack)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([1000, 300])

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
        self.status_filter = self._combo("status_filter", "Status filter", STATUS_CHOICES)
        self.created_filter = self._combo("created_filter", "Created filter", CREATED_CHOICES)
        self.expiry_filter = self._combo("expiry_filter", "Expiry filter", EXPIRY_CHOICES)
        self.expiry_filter.setVisible(self.kind in (Kind.ANONYMOUS, None))
        self.test_filter = self._combo("test_filter", "Test users filter", TEST_CHOICES)
        self.clear_button = QPushButton("Clear filters", self)
        self.clear_button.setObjectName("clearFilters")
        self.clear_button.setAccessibleName("Clear filters")
        self.clear_button.clicked.connect(self.clear_filters)
        self.count_label = QLabel(self)
        self.count_label.setObjectName("countLabel")
        self.count_label.setAccessibleName("Rows shown")
        self.search.setMinimumWidth(260)
        row = QHBoxLayout()
        for widget in (self.status_filter, self.created_filter, self.expiry_filter, self.test_filter):
            row.addWidget(widget)
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
        view.setSortingEnabled(False)  # sorting goes through `sort_by`, off the UI thread when needed
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        view.customContextMenuRequested.connect(self._context_menu)
        vertical = view.verticalHeader()
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(view.fontMetrics().height() + 8)
        vertical.hide()
        header = view.horizontalHeader()
        header.setSectionsClickable(True)
        header.setSortIndicatorShown(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        header.setStretchLastSection(True)
        header.sectionClicked.connect(self._header_clicked)
        for section, column in enumerate(COLUMNS[self.kind]):
            width = {Column.USER_ID: 240, Column.REASON: 360, Column.EXPIRES: 170, Column.KIND: 120}.get(
                column, 160
            )
            header.resizeSection(section, width)
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

        self._message = QLabel(self)
        self._message.setObjectName("emptyState")
        self._message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._message.setWordWrap(True)
        self._message_button = QPushButton(self)
        self._message_button.setObjectName("emptyStateAction")
        self._message_button.clicked.connect(self._message_action)
        message_page = QWidget(self)
        message_layout = QVBoxLayout(message_page)
        message_layout.addStretch(1)
        message_layout.addWidget(self._message)
        message_layout.addWidget(self._message_button, 0, Qt.AlignmentFlag.AlignHCenter)
        message_layout.addStretch(2)
        self._stack = QStackedWidget(self)
        self._stack.setObjectName("tableStack")
        self._stack.addWidget(view)
        self._stack.addWidget(message_page)

    # ---- filters --------------------------------------------------------------------------------
    def current_filter(self) -> TableFilter:
        status = self.status_filter.currentData()
        created_days = self.created_filter.currentData()
        created_from = created_to = None
        if created_days:
            bound = int((datetime.now(UTC) - timedelta(days=abs(created_days))).timestamp())
            created_from, created_to = (bound, None) if created_days > 0 else (None, bound)
        return TableFilter(
            kind=self.kind,
            text=self.search.text(),
            statuses=frozenset({status}) if status else frozenset(),
            created_from=created_from,
            created_to=created_to,
            expired=self.expiry_filter.currentData() if not self.expiry_filter.isHidden() else None,
            test_users=self.test_filter.currentData(),
        )

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
        self.apply_filters()

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    # ---- sorting --------------------------------------------------------------------------------
    @asyncSlot(int)
    async def _header_clicked(self, section: int) -> None:
        header = self.view.horizontalHeader()
        same = self.model.sort_column == self.model.columns[section]
        ascending = not same or header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
        await self.sort_by(
            section, Qt.SortOrder.AscendingOrder if ascending else Qt.SortOrder.DescendingOrder
        )

    async def sort_by(self, section: int, order: Qt.SortOrder) -> None:
        """Sort by a column; a column's first sort key is computed in a worker thread."""
        column = self.model.columns[section]
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

    def _update_state(self, *_args: object) -> None:
        shown = self.model.rowCount()
        counts = self.table.counts(self.current_filter().test_users)
        total = counts[self.kind] if self.kind is not None else sum(counts.values())
        self.count_label.setText(f"{shown:,} of {total:,} users")
        self.count_changed.emit(shown)
        if shown:
            self._stack.setCurrentIndex(0)
            return
        if self._error:
            self._show_message(f"Could not load the users.\n\n{self._error}", "Retry")
        elif self._loading:
            self._show_message("Loading users…", "")
        elif total:
            self._show_message("No users match the search and filters.", "Clear filters")
        else:
            self._show_message(EMPTY_KIND_TEXT[self.kind], "")

    def _show_message(self, text: str, action: str) -> None:
        self._message.setText(text)
        self._message.setAccessibleName(text)
        self._message_button.setText(action)
        self._message_button.setAccessibleName(action)
        self._message_button.setVisible(bool(action))
        self._stack.setCurrentIndex(1)

    def _message_action(self) -> None:
        if self._message_button.text() == "Retry":
            self.retry_requested.emit()
        else:
            self.clear_filters()

    @property
    def state_text(self) -> str:
        """What the page says when it shows no rows ("" when it shows rows)."""
        return "" if self._stack.currentIndex() == 0 else self._message.text()

    # ---- selection, details, copy ---------------------------------------------------------------
    def selected_rows(self) -> list[int]:
        """Selected view rows, in view order."""
        return sorted(index.row() for index in self.view.selectionModel().selectedRows())

    def selected_users(self) -> list[User]:
        return [self.model.data(self.model.index(row, 0), USER_ROLE) for row in self.selected_rows()]

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        current = self.view.selectionModel().currentIndex()
        rows = self.selected_rows()
        if current.isValid() and current.row() in rows:
            self._show(current.row())
        elif rows:
            self._show(rows[0])
        else:
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
        for action in (self.copy_action, self.copy_ids_action, self.details_action):
            action.setEnabled(bool(self.selected_rows()))
            menu.addAction(action)
        menu.popup(self.view.viewport().mapToGlobal(position))

    def index_of_user(self, user_id: str) -> QModelIndex:
        row = self.table.row_of(user_id)
        view_row = None if row is None else self.model.view_row(row)
        return QModelIndex() if view_row is None else self.model.index(view_row, 0)
