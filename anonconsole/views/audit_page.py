"""The Audit page: every change this console made (the local audit log), searchable and filterable,
one entry in full, and Descope's own audit events for a user beside it.

The log is read the first time the page is shown and then only what was appended since (`reload`:
after an action, on F5 or the Reload button, and when the file changes), never on the UI thread's
time: the file in a worker thread, the parsing in short CPU turns on the loop.
Filtering and sorting run on the model's columns, so they stay quick at 100k entries. Descope's
events are fetched with the window's connection, in the background, newest lookup first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, datetime, timedelta
from datetime import time as day_start
from typing import TYPE_CHECKING

from PySide6.QtCore import (
    QByteArray,
    QDate,
    QEvent,
    QFileSystemWatcher,
    QItemSelection,
    QKeyCombination,
    QSettings,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QColor, QGuiApplication, QKeyEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from anonconsole.core.errors import GatewayError
from anonconsole.models.audit_model import COLUMNS, AuditColumn, AuditIndex, AuditModel
from anonconsole.operations.audit_log import (
    KIND_LABELS,
    AuditLog,
    AuditQuery,
    LogChunk,
    LogPosition,
    descope_events,
    entry_user_ids,
    kind_label,
)
from anonconsole.runtime.cpu_turns import cpu_turn, map_in_slices
from anonconsole.runtime.gc_policy import no_full_collections
from anonconsole.runtime.tasks import TaskOwner, in_thread
from anonconsole.views import style
from anonconsole.views.audit_details import EVENTS_HINT, NOT_CONNECTED_TEXT, EntryDetails, UserEvents
from anonconsole.views.state_stack import StateStack
from anonconsole.views.widgets import named, tab_chain

if TYPE_CHECKING:
    from anonconsole.gateway import Gateway

SEARCH_DELAY_MS = 120  # as the users pages: a burst of keystrokes filters once
EVENTS_DELAY_MS = 300  # arrowing through entries asks Descope once, for the entry it stops on
CHANGED_DELAY_MS = 250  # a cull appends an entry per batch: read them together
RESULT_CHOICES = (
    ("Any result", ""),
    ("OK", "ok"),
    ("Failed", "failed"),
    ("Started (no result yet)", "started"),
)
DATE_CHOICES = (
    ("Any time", ""),
    ("Today", "today"),
    ("Last 7 days", "7"),
    ("Last 30 days", "30"),
    ("Between dates…", "between"),
)
COLUMN_WIDTHS = {
    AuditColumn.TIME: 140,
    AuditColumn.ACTOR: 80,
    AuditColumn.PROFILE: 120,
    AuditColumn.ACTION: 110,
    AuditColumn.TARGET: 160,
    AuditColumn.RESULT: 60,
    AuditColumn.CHANGE: 320,
}
_F5 = QKeyCombination(Qt.Key.Key_F5).toCombined()


def empty_text(log: AuditLog) -> str:
    return (
        "Nothing recorded yet.\n\nEvery change this console makes to Descope — the tenant setup, "
        "conversions, culls, and chosen users deleted, disabled or enabled — is written to "
        f"{log.path} and shown here."
    )


def damaged_text(count: int, log: AuditLog) -> str:
    lines, verb = ("1 line", "is") if count == 1 else (f"{count:,} lines", "are")
    return (
        f"{lines} of {log.path} could not be read (cut short by a crash, or not an audit entry) and "
        f"{verb} left out; every other entry is shown. The file is left as it is."
    )


class AuditPage(QWidget):
    """The local audit log, a search and filters over it, one entry in full and Descope's events.

    Attributes:
        audit: the log shown.
        gateway: the window's connection, for Descope's events (None when not connected).
        model: the table's model.
        details: the selected entry in full.
        events: Descope's audit events for a user.

    Signals:
        reloaded(int): the log was read (again); the argument is how many entries it holds.
        read_failed(str): the log could not be read; the sentence shown.
        events_loaded(str, int): Descope's events for a user are shown (user ID, how many).
        events_failed(str, str): they could not be loaded (user ID, the sentence shown).
    """

    reloaded = Signal(int)
    read_failed = Signal(str)
    events_loaded = Signal(str, int)
    events_failed = Signal(str, str)

    def __init__(self, audit: AuditLog, parent: QWidget | None = None, *, watch: bool = True) -> None:
        """`watch`: read the log again when its file changes (off: only `reload`, F5 and showing)."""
        super().__init__(parent)
        named(self, "auditPage", "Audit page")
        self.audit = audit
        self._watching = watch
        self.gateway: Gateway | None = None
        self._position: LogPosition | None = None  # where the last read stopped; None: never read
        self._damaged = 0  # whole damaged lines read so far
        self._torn = False  # the file ends in an unfinished line
        self._reading = False
        self._read_again = False
        self._error = ""
        self._tasks = TaskOwner("audit page")
        self.model = AuditModel(self)
        self._set_result_colors()

        title = QLabel("Audit")
        title.setProperty("role", "pageTitle")
        style.apply(title)
        self.file_label = named(
            QLabel(f"Changes made from this console, recorded in {audit.path}"), "auditFile", "Audit log file"
        )
        self.file_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.file_label.setWordWrap(True)
        self.damaged_label = named(QLabel(), "auditDamaged", "Damaged lines in the audit log")
        self.damaged_label.setWordWrap(True)
        self.damaged_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        style.apply(self.damaged_label)
        self.damaged_label.hide()

        filters = self._build_filters()
        self._build_table()
        self.details = EntryDetails(self)
        self.events = UserEvents(self)
        self.events.requested.connect(self.show_events)
        # The log on top, full width (its rows are wide); the entry and Descope's events below it.
        below = named(QSplitter(Qt.Orientation.Horizontal, self), "auditDetailsSplitter", "Entry and events")
        below.addWidget(self.details)
        below.addWidget(self.events)
        below.setChildrenCollapsible(False)
        below.setSizes([550, 450])
        self.splitter = named(QSplitter(Qt.Orientation.Vertical, self), "auditSplitter", "Log and details")
        self.splitter.addWidget(self._stack)
        self.splitter.addWidget(below)
        self.splitter.setSizes([450, 350])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(title)
        layout.addWidget(self.file_label)
        layout.addWidget(self.damaged_label)
        layout.addLayout(filters)
        layout.addWidget(self.splitter, 1)

        self._search_timer = self._timer(SEARCH_DELAY_MS, self.apply_filters)
        self._events_timer = self._timer(EVENTS_DELAY_MS, self._events_of_selection)
        self._changed_timer = self._timer(CHANGED_DELAY_MS, self._log_changed)
        self._watcher = QFileSystemWatcher(self)
        self._watcher.fileChanged.connect(lambda _path: self._changed_timer.start())
        self._watcher.directoryChanged.connect(lambda _path: self._changed_timer.start())
        for signal in (self.model.layoutChanged, self.model.modelReset):
            signal.connect(self._update_state)
            signal.connect(self._sync_details)
        self._set_tab_order()
        self.set_gateway(None)
        self._update_state()

    # ---- construction ---------------------------------------------------------------------------
    def _timer(self, interval: int, slot: Callable[[], None]) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(interval)
        timer.timeout.connect(slot)
        return timer

    def _combo(self, name: str, accessible: str, choices: tuple[tuple[str, str], ...]) -> QComboBox:
        combo = named(QComboBox(self), name, accessible)
        for label, value in choices:
            combo.addItem(label, value)
        combo.currentIndexChanged.connect(self.apply_filters)
        return combo

    def _build_filters(self) -> QVBoxLayout:
        self.search = named(QLineEdit(self), "auditSearch", "Search the audit log")
        self.search.setPlaceholderText("Search action, target, user ID, profile, detail, before and after")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _text: self._search_timer.start())
        self.kind_filter = self._combo(
            "auditKindFilter",
            "Kind of change",
            (("Every kind of change", ""), *((v, k) for k, v in KIND_LABELS.items())),
        )
        self.result_filter = self._combo("auditResultFilter", "Result", RESULT_CHOICES)
        self.profile_filter = self._combo("auditProfileFilter", "Profile", (("Every profile", ""),))
        self.date_filter = self._combo("auditDateFilter", "When", DATE_CHOICES)
        self.date_filter.currentIndexChanged.connect(self._show_dates)
        today = QDate.currentDate()
        self.from_date = self._date("auditFromDate", "From date", today.addDays(-30))
        self.to_date = self._date("auditToDate", "To date", today)
        self.from_date.dateChanged.connect(lambda day: self.to_date.setMinimumDate(day))
        self.to_date.setMinimumDate(self.from_date.date())
        self.clear_button = named(QPushButton("Clear filters", self), "auditClearFilters", "Clear filters")
        self.clear_button.clicked.connect(self.clear_filters)
        self.count_label = named(QLabel(self), "auditCount", "Entries shown")
        self.reload_button = named(QPushButton("Reload", self), "auditReload", "Reload the audit log")
        self.reload_button.setToolTip("Read what was added to the audit log since it was last read (F5)")
        self.reload_button.clicked.connect(self.reload)
        self.search.setMinimumWidth(260)
        row = QHBoxLayout()
        for widget in (self.kind_filter, self.result_filter, self.profile_filter, self.date_filter):
            row.addWidget(widget)
        row.addWidget(self.from_date)
        row.addWidget(self.to_date)
        row.addWidget(self.clear_button)
        row.addStretch(1)
        row.addWidget(self.count_label)
        row.addWidget(self.reload_button)
        filters = QVBoxLayout()
        filters.addWidget(self.search)
        filters.addLayout(row)
        self._show_dates()
        return filters

    def _date(self, name: str, accessible: str, day: QDate) -> QDateEdit:
        edit = named(QDateEdit(day, self), name, accessible)
        edit.setCalendarPopup(True)
        edit.setDisplayFormat("yyyy-MM-dd")
        edit.dateChanged.connect(self.apply_filters)
        return edit

    def _build_table(self) -> None:
        view = named(QTableView(self), "auditTable", "Audit log")
        self.view = view
        view.setModel(self.model)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        view.setAlternatingRowColors(True)
        view.setWordWrap(False)
        view.setTabKeyNavigation(False)
        view.setSortingEnabled(False)  # sorting goes through `sort_by`: a column's first sort in a thread
        vertical = view.verticalHeader()
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(view.fontMetrics().height() + 8)
        vertical.hide()
        header = view.horizontalHeader()
        named(header, "auditHeader", "Audit log columns")
        header.setSectionsClickable(True)
        header.setSectionsMovable(True)
        header.setSortIndicatorShown(True)
        header.setSortIndicator(COLUMNS.index(self.model.sort_column), self.model.sort_order)
        header.setStretchLastSection(True)
        header.sectionClicked.connect(self._header_clicked)
        for section, column in enumerate(COLUMNS):
            header.resizeSection(section, COLUMN_WIDTHS.get(column, 200))
        view.selectionModel().selectionChanged.connect(self._selection_changed)
        self.copy_action = QAction("Copy", self)
        self.copy_action.setShortcut(QKeySequence.StandardKey.Copy)
        self.copy_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.copy_action.triggered.connect(self.copy_selection)
        view.addAction(self.copy_action)

        self._stack = StateStack(
            view, names=("auditStack", "auditEmptyState", "auditEmptyAction"), parent=self
        )
        self._stack.setAccessibleName("Audit log")
        self._stack.action_clicked.connect(self._message_action)

    def _set_tab_order(self) -> None:
        """Search, filters, Reload, the table, then the entry and Descope's events: reading order."""
        tab_chain(
            [
                self.search,
                self.kind_filter,
                self.result_filter,
                self.profile_filter,
                self.date_filter,
                self.from_date,
                self.to_date,
                self.clear_button,
                self.reload_button,
                self.view,
                self._stack.action,
                *self.details.focus_chain(),
                *self.events.focus_chain(),
            ]
        )

    def _set_result_colors(self) -> None:
        colors = style.palette_colors(style.scheme_of(self.palette()))
        self.model.set_result_colors({"failed": QColor(colors["error"])})

    # ---- the connection -------------------------------------------------------------------------
    def set_gateway(self, gateway: Gateway | None) -> None:
        """The window's connection changed (connect this to `MainWindow.connection_changed`)."""
        self.gateway = gateway
        self._tasks.cancel("events")
        self._events_timer.stop()
        self.events.show_message(NOT_CONNECTED_TEXT if gateway is None else EVENTS_HINT)

    # ---- reading the log ------------------------------------------------------------------------
    def reload(self) -> None:
        """Read what was appended to the log since the last read (all of it the first time), in the
        background. Call it after an action that writes entries; F5 and Reload call it too.
        Without a running loop (a window shown before the loop runs) it waits for the next call."""
        if not _loop_running():
            return
        if self._reading:
            self._read_again = True  # the read under way may have missed the newest lines
            return
        self._reading = True
        self._update_state()
        self._tasks.start(self._read(), key="read")

    async def _read(self) -> None:
        try:
            while True:
                self._read_again = False
                try:
                    chunk, grown = await self._read_more()
                except OSError as exc:
                    self._error = f"Could not read the audit log {self.audit.path}: {exc.strerror or exc}."
                    self.read_failed.emit(self._error)
                    return
                self._error = ""
                self._take(chunk, grown)
                if not self._read_again:
                    break
        finally:
            self._reading = False
            self._update_state()
            self._watch()
        self.reloaded.emit(len(self.model.audit))

    async def _read_more(self) -> tuple[LogChunk, AuditIndex]:
        """What was appended since the last read, and the index to show next (its sort ready).

        The file is read in a worker thread, a block at a time; the blocks are split into lines, and
        the lines parsed and indexed, in CPU turns on the loop: a worker thread doing that would hold
        the GIL every paint waits for (a 100k-entry log stalled the window 0.2–0.4 s so).
        """
        log, position, shown = self.audit, self._position, self.model.audit
        reader = await in_thread(lambda: log.open_since(position))
        with reader:
            while block := await in_thread(reader.read_block):
                async with cpu_turn():
                    reader.take(block)
        raw = reader.raw()
        with no_full_collections():  # 100k new entries: no full collection walking them every slice
            parser = raw.parser()
            await map_in_slices(parser.feed, raw.lines)
            chunk = parser.chunk()
            base = AuditIndex() if chunk.restarted else shown
            grown = (
                await base.extended_in_turns(chunk.entries) if chunk.entries or base is not shown else shown
            )
        column = self.model.sort_column
        if not grown.sort_ready(column):
            await in_thread(lambda: grown.prepare_sort(column))
        return chunk, grown

    def _take(self, chunk: LogChunk, grown: AuditIndex) -> None:
        if chunk.restarted:
            self._damaged = 0
        self._damaged += chunk.damaged
        self._torn = chunk.torn
        self._position = chunk.position
        if grown is not self.model.audit:
            self.model.set_index(grown)
            self._refresh_choices()
        damaged = self._damaged + int(self._torn)
        self.damaged_label.setText(damaged_text(damaged, self.audit) if damaged else "")
        self.damaged_label.setVisible(bool(damaged))

    @property
    def damaged(self) -> int:
        """Lines of the log that could not be read (a torn last line included)."""
        return self._damaged + int(self._torn)

    def _watch(self) -> None:
        """Watch the log file (or, until it exists, its folder) for entries written elsewhere."""
        path = self.audit.path
        wanted = str(path) if path.exists() else str(path.parent) if path.parent.exists() else ""
        if not self._watching:
            wanted = ""
        watched = self._watcher.files() + self._watcher.directories()
        if watched == [wanted] or not wanted and not watched:
            return
        if watched:
            self._watcher.removePaths(watched)
        if wanted:
            self._watcher.addPath(wanted)

    def _log_changed(self) -> None:
        if self.isVisible():
            self.reload()
        # Hidden: the next showEvent reads it.

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.reload()  # cheap when nothing was appended: one stat and an empty read

    def event(self, event: QEvent) -> bool:
        """F5 on this page reloads the log: the page takes the key before the window's F5 shortcut
        (two F5 shortcuts would be ambiguous, and neither would fire)."""
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and isinstance(event, QKeyEvent)
            and event.keyCombination().toCombined() == _F5
        ):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.keyCombination().toCombined() == _F5:
            self.reload()
            event.accept()
            return
        super().keyPressEvent(event)

    # ---- filters --------------------------------------------------------------------------------
    def current_query(self) -> AuditQuery:
        kind, result, profile = (
            combo.currentData() for combo in (self.kind_filter, self.result_filter, self.profile_filter)
        )
        since, until = self._date_bounds()
        return AuditQuery(
            text=self.search.text(),
            kinds=frozenset({kind}) if kind else frozenset(),
            results=frozenset({result}) if result else frozenset(),
            profiles=frozenset({profile}) if profile else frozenset(),
            since=since,
            until=until,
        )

    def _date_bounds(self) -> tuple[float | None, float | None]:
        """The date filter as epoch seconds [since, until), in local days."""
        choice = self.date_filter.currentData()
        if not choice:
            return None, None
        if choice == "today":
            return _midnight(date.today()), None
        if choice == "between":
            first, last = self.from_date.date().toPython(), self.to_date.date().toPython()
            assert isinstance(first, date)
            assert isinstance(last, date)
            return _midnight(first), _midnight(last + timedelta(days=1))
        return datetime.now().timestamp() - int(choice) * 86400, None

    def _show_dates(self) -> None:
        between = self.date_filter.currentData() == "between"
        self.from_date.setVisible(between)
        self.to_date.setVisible(between)

    def apply_filters(self) -> None:
        self._search_timer.stop()
        self.model.set_query(self.current_query())
        self._update_state()

    def clear_filters(self) -> None:
        for combo in (self.kind_filter, self.result_filter, self.profile_filter, self.date_filter):
            combo.blockSignals(True)
            combo.setCurrentIndex(0)
            combo.blockSignals(False)
        self._show_dates()
        self.search.blockSignals(True)
        self.search.clear()
        self.search.blockSignals(False)
        self.apply_filters()

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def _refresh_choices(self) -> None:
        """Kinds, results and profiles the log holds join the filters' choices (the choice made stays)."""
        audit = self.model.audit
        known = {value for _label, value in RESULT_CHOICES}
        _extend(self.kind_filter, [(kind_label(k), k) for k in audit.kind_names if k not in KIND_LABELS])
        _extend(self.result_filter, [(r, r) for r in audit.result_names if r not in known])
        _extend(self.profile_filter, [(p, p) for p in sorted(audit.profile_names)])

    # ---- sorting --------------------------------------------------------------------------------
    def _header_clicked(self, section: int) -> None:
        """A new column sorts ascending (When: newest first), the sorted one again reverses."""
        column = COLUMNS[section]
        if column is self.model.sort_column:
            ascending = self.model.sort_order == Qt.SortOrder.DescendingOrder
        else:
            ascending = column is not AuditColumn.TIME
        order = Qt.SortOrder.AscendingOrder if ascending else Qt.SortOrder.DescendingOrder
        self._tasks.start(self.sort_by(column, order), key="sort")

    async def sort_by(self, column: AuditColumn, order: Qt.SortOrder) -> None:
        """Sort by a column; its first sort computes the order in a worker thread."""
        audit = self.model.audit
        if not audit.sort_ready(column):
            self.count_label.setText("Sorting…")
            await in_thread(lambda: audit.prepare_sort(column))
        section = COLUMNS.index(column)
        self.model.sort(section, order)
        self.view.horizontalHeader().setSortIndicator(section, order)
        self._update_state()

    # ---- what the page says ---------------------------------------------------------------------
    def _update_state(self, *_args: object) -> None:
        shown, total = self.model.rowCount(), len(self.model.audit)
        noun = "entry" if total == 1 else "entries"
        self.count_label.setText(f"{shown:,} of {total:,} {noun}")
        if shown:
            self._stack.show_content()
        elif self._error:
            self._stack.show_message(f"Could not read the audit log.\n\n{self._error}", "Retry")
        elif self._reading and not total:
            self._stack.show_message("Reading the audit log…")
        elif total:
            self._stack.show_message("No entries match the search and filters.", "Clear filters")
        else:
            self._stack.show_message(empty_text(self.audit))

    def _message_action(self, action: str) -> None:
        if action == "Retry":
            self.reload()
        else:
            self.clear_filters()

    @property
    def state_text(self) -> str:
        """What the page says instead of the table ("" when it shows entries)."""
        return self._stack.state_text

    # ---- selection and details ------------------------------------------------------------------
    def selected_rows(self) -> list[int]:
        return sorted(index.row() for index in self.view.selectionModel().selectedRows())

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._sync_details()

    def _sync_details(self, *_args: object) -> None:
        """The details show the current selected entry, else the first selected one, else nothing."""
        current = self.view.selectionModel().currentIndex()
        rows = self.selected_rows()
        row = current.row() if current.isValid() and current.row() in rows else rows[0] if rows else None
        if row is None:
            self.details.clear()
            return
        entry = self.model.entry(row)
        if entry is self.details.entry:
            return
        self.details.show_entry(entry)
        users = entry_user_ids(entry)
        self.events.offer(users)
        if users:
            self._events_timer.start()

    def _events_of_selection(self) -> None:
        entry = self.details.entry
        users = entry_user_ids(entry) if entry is not None else ()
        if users and users[0] != self.events.user_id:
            self.show_events(users[0])

    def select_log_row(self, log_row: int) -> bool:
        """Select the entry at `log_row` of the log (0 = oldest); False when it is filtered out."""
        row = self.model.view_row(log_row)
        if row is None:
            return False
        self.view.selectRow(row)
        self.view.scrollTo(self.model.index(row, 0))
        return True

    def copy_selection(self) -> None:
        """The selected entries as tab-separated rows (a spreadsheet pastes them as cells)."""
        rows = self.selected_rows()
        lines = [
            "\t".join(
                str(self.model.data(self.model.index(row, column)) or "") for column in range(len(COLUMNS))
            )
            for row in rows
        ]
        if lines:
            QGuiApplication.clipboard().setText("\n".join(lines))

    # ---- Descope's events -----------------------------------------------------------------------
    def show_events(self, user_id: str = "") -> None:
        """Fetch and show Descope's audit events for `user_id` (default: the one in the box)."""
        user_id = (user_id or self.events.typed).strip()
        self._events_timer.stop()
        if not user_id:
            self.events.show_message(
                "Type a user ID (or select an entry that names users), then Show events."
            )
            return
        if self.gateway is None:
            self.events.show_message(NOT_CONNECTED_TEXT, user_id=user_id)
            self.events_failed.emit(user_id, NOT_CONNECTED_TEXT)
            return
        self.events.set_loading(user_id)
        self._tasks.start(self._load_events(self.gateway, user_id), key="events")

    async def _load_events(self, gateway: Gateway, user_id: str) -> None:
        try:
            found = await descope_events(gateway, user_id)
        except GatewayError as exc:
            self.events.set_failed(user_id, exc.user_message)
            self.events_failed.emit(user_id, self.events.state.text())
            return
        self.events.set_events(user_id, found)
        self.events_loaded.emit(user_id, len(found))

    # ---- the rest -------------------------------------------------------------------------------
    def changeEvent(self, event: QEvent) -> None:
        """Light <-> dark: the Result column takes the colours of the new palette."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._set_result_colors()

    async def aclose(self) -> None:
        """Stop reading and fetching, and wait until both have ended."""
        self._watching = False
        watched = self._watcher.files() + self._watcher.directories()
        if watched:
            self._watcher.removePaths(watched)
        for timer in (self._changed_timer, self._events_timer, self._search_timer):
            timer.stop()  # none of them may start work after this
        await self._tasks.aclose()

    def _layout_key(self, name: str) -> str:
        return f"auditPage/{name}"

    def save_layout(self, settings: QSettings) -> None:
        """Remember the columns (order, widths, shown or hidden) and the splitter."""
        settings.setValue(self._layout_key("columns"), ",".join(c.value for c in COLUMNS))
        settings.setValue(self._layout_key("header"), self.view.horizontalHeader().saveState())
        settings.setValue(self._layout_key("splitter"), self.splitter.saveState())

    def restore_layout(self, settings: QSettings) -> None:
        """Take back what `save_layout` remembered, if it was for these very columns."""
        if settings.value(self._layout_key("columns")) != ",".join(c.value for c in COLUMNS):
            return
        header = self.view.horizontalHeader()
        state = settings.value(self._layout_key("header"))
        if isinstance(state, QByteArray) and header.restoreState(state):
            header.setSortIndicator(COLUMNS.index(self.model.sort_column), self.model.sort_order)
        splitter = settings.value(self._layout_key("splitter"))
        if isinstance(splitter, QByteArray):
            self.splitter.restoreState(splitter)


def _midnight(day: date) -> float:
    """The start of a local day, in epoch seconds."""
    return datetime.combine(day, day_start()).timestamp()


def _extend(combo: QComboBox, choices: list[tuple[str, str]]) -> None:
    """Add the choices `combo` does not have yet, after its fixed ones; the current one stays."""
    have = {combo.itemData(i) for i in range(combo.count())}
    combo.blockSignals(True)
    for label, value in choices:
        if value not in have:
            combo.addItem(label, value)
    combo.blockSignals(False)


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
