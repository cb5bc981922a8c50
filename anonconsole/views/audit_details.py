"""The Audit page's right-hand side: one entry in full, and Descope's own audit events for a user.

Both are read-only views; the page decides what they show and does the network work.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from anonconsole.core.records import AuditEvent
from anonconsole.models.audit_model import local_time
from anonconsole.operations.audit_log import AuditEntry, action_kind, entry_user_ids, kind_label
from anonconsole.views import style
from anonconsole.views.widgets import named

ENTRY_EMPTY_TEXT = "Select an entry to see it in full."
EVENTS_HINT = (
    "Select an entry that names users, or type a user ID, to see what Descope itself recorded for "
    "that user (sign-ins, changes made elsewhere)."
)
NOT_CONNECTED_TEXT = "Not connected: Descope's own audit events need a connection (File → Connect…)."
EVENT_COLUMNS = ("When", "Action", "Method", "Device", "Geo", "IP address", "Tenants", "Data")
# Keyboard users reach every value with Tab and select it to copy, as mouse users do.
_SELECTABLE = Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard


def pretty(state: Mapping[str, Any]) -> str:
    """A before/after state as indented JSON, keys sorted; "—" when nothing was recorded."""
    if not state:
        return "—"
    return json.dumps(state, indent=2, ensure_ascii=False, sort_keys=True, default=str)


class EntryDetails(QGroupBox):
    """Every field of one audit entry, before and after pretty-printed; all of it selectable."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Entry", parent)
        named(self, "auditEntry", "Audit entry")
        self._entry: AuditEntry | None = None
        self._stack = QStackedWidget(self)
        empty = named(QLabel(ENTRY_EMPTY_TEXT), "auditEntryEmpty", ENTRY_EMPTY_TEXT)
        empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        empty.setWordWrap(True)
        empty.setEnabled(False)
        self._stack.addWidget(empty)

        body = QWidget()
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.fields: dict[str, QLabel] = {}
        for key, label in (
            ("when", "When"),
            ("who", "Who"),
            ("action", "Action"),
            ("target", "Target"),
            ("result", "Result"),
            ("detail", "Detail"),
            ("users", "User IDs"),
        ):
            value = named(QLabel(), f"auditEntry{key.capitalize()}", label)
            value.setWordWrap(True)
            value.setTextInteractionFlags(_SELECTABLE)
            self.fields[key] = value
            form.addRow(f"{label}:", value)
        style.apply(self.fields["result"])
        self.before = self._state_label("auditEntryBefore", "Before")
        self.after = self._state_label("auditEntryAfter", "After")
        states = QHBoxLayout()
        for title, state in (("Before", self.before), ("After", self.after)):
            column = QVBoxLayout()
            column.addWidget(QLabel(f"<b>{title}</b>"))
            column.addWidget(state)
            column.addStretch(1)
            states.addLayout(column, 1)
        layout = QVBoxLayout(body)
        layout.addLayout(form)
        layout.addLayout(states)
        layout.addStretch(1)
        # One scroll for the whole entry: a cull batch's 500 user IDs make a long "after".
        scroll = named(QScrollArea(self), "auditEntryScroll", "Audit entry")
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # its values take the focus (and scroll into view)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        self._stack.addWidget(scroll)
        outer = QVBoxLayout(self)
        outer.addWidget(self._stack)

    def _state_label(self, name: str, accessible: str) -> QLabel:
        label = named(QLabel(self), name, accessible)
        label.setTextFormat(Qt.TextFormat.PlainText)
        label.setTextInteractionFlags(_SELECTABLE)
        label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        label.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        return label

    def focus_chain(self) -> list[QWidget]:
        """The widgets Tab visits, in reading order."""
        return [*self.fields.values(), self.before, self.after]

    @property
    def entry(self) -> AuditEntry | None:
        """The entry shown, None when none."""
        return self._entry

    def clear(self) -> None:
        self._entry = None
        self._stack.setCurrentIndex(0)

    def show_entry(self, entry: AuditEntry) -> None:
        self._entry = entry
        f = self.fields
        f["when"].setText(f"{local_time(entry)} (local time) — {entry.time}")
        f["who"].setText(f"{entry.actor or 'unknown'} (OS user), profile “{entry.profile}”")
        f["action"].setText(f"{entry.action} ({kind_label(action_kind(entry.action))})")
        f["target"].setText(entry.target or "—")
        f["result"].setText(entry.result)
        style.set_state(f["result"], "state", "error" if entry.result == "failed" else "")
        f["detail"].setText(entry.detail or "—")
        users = entry_user_ids(entry)
        f["users"].setText(
            "none" if not users else users[0] if len(users) == 1 else f"{len(users):,} (see below)"
        )
        self.before.setText(pretty(entry.before))
        self.after.setText(pretty(entry.after))
        self._stack.setCurrentIndex(1)


class UserEvents(QGroupBox):
    """Descope's own audit events for one user: which user (picked from the entry or typed), the
    state of the lookup, and the events.

    Signals:
        requested(str): the person asked for this user's events (Enter, a pick, or the button).
    """

    requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Descope's audit events for a user", parent)
        named(self, "auditEvents", "Descope's audit events for a user")
        self.user = named(QComboBox(self), "auditEventsUser", "User ID")
        self.user.setEditable(True)
        self.user.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.user.setMinimumContentsLength(28)
        self.user.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        line = self.user.lineEdit()
        assert line is not None  # an editable combo box has one
        line.setPlaceholderText("User ID")
        line.setClearButtonEnabled(True)
        line.returnPressed.connect(self._request)
        self.user.activated.connect(lambda _index: self._request())
        self.lookup = named(QPushButton("Show events", self), "auditEventsLookup", "Show Descope's events")
        self.lookup.setToolTip("Ask Descope for this user's audit events of the last 30 days")
        self.lookup.clicked.connect(self._request)
        self.state = named(QLabel(EVENTS_HINT, self), "auditEventsState", "Descope events state")
        self.state.setWordWrap(True)
        self.state.setTextInteractionFlags(_SELECTABLE)
        style.apply(self.state)
        self.table = named(QTableWidget(0, len(EVENT_COLUMNS), self), "auditEventsTable", "Descope's events")
        self.table.setHorizontalHeaderLabels(list(EVENT_COLUMNS))
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 8)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setTabKeyNavigation(False)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((140, 130, 70, 70, 50, 110, 120)):
            header.resizeSection(column, width)
        row = QHBoxLayout()
        row.addWidget(self.user, 1)
        row.addWidget(self.lookup)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.state)
        layout.addWidget(self.table, 1)
        self._shown = ""  # the user whose events (or lookup state) are shown

    def focus_chain(self) -> list[QWidget]:
        return [self.user, self.lookup, self.state, self.table]

    @property
    def user_id(self) -> str:
        """The user whose events are shown or being loaded, "" when none."""
        return self._shown

    @property
    def typed(self) -> str:
        return self.user.currentText().strip()

    def _request(self) -> None:
        self.requested.emit(self.typed)

    def offer(self, user_ids: Sequence[str]) -> None:
        """The users an entry names, to pick from; the first is put in the box. With none, whatever
        was typed stays."""
        typed = self.user.currentText()
        self.user.blockSignals(True)
        self.user.clear()  # the previous entry's users go
        if user_ids:
            self.user.addItems(list(user_ids))
            self.user.setCurrentIndex(0)
        else:
            self.user.setEditText(typed)
        self.user.blockSignals(False)

    def show_message(self, text: str, *, error: bool = False, user_id: str = "") -> None:
        """No events shown: a hint, not connected, or a failure (`error`) for `user_id`."""
        self._shown = user_id
        self.table.setRowCount(0)
        self.state.setText(text)
        self.state.setAccessibleName(text)
        style.set_state(self.state, "state", "error" if error else "")

    def set_loading(self, user_id: str) -> None:
        if self.typed != user_id:
            self.user.setEditText(user_id)
        self.show_message(f"Loading Descope's audit events for {user_id}…", user_id=user_id)

    def set_events(self, user_id: str, events: Sequence[AuditEvent]) -> None:
        """Show `user_id`'s events, newest first (ignored when another user's are shown by now)."""
        if user_id != self._shown:
            return
        if not events:
            self.show_message(
                f"Descope recorded no events for {user_id} in the last 30 days (all it keeps).",
                user_id=user_id,
            )
            return
        sorting = self.table.isSortingEnabled()
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(events))
        for row, event in enumerate(events):
            cells = (
                event.occurred.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
                event.action,
                event.method,
                event.device,
                event.geo,
                event.remote_address,
                ", ".join(event.tenants),
                json.dumps(dict(event.data), ensure_ascii=False, sort_keys=True, default=str)
                if event.data
                else "",
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == 0:
                    item.setToolTip(event.occurred.isoformat(timespec="seconds"))
                self.table.setItem(row, column, item)
        self.table.setSortingEnabled(sorting)
        noun = "event" if len(events) == 1 else "events"
        text = f"{len(events):,} {noun} Descope recorded for {user_id} in the last 30 days, newest first."
        self.state.setText(text)
        self.state.setAccessibleName(text)
        style.set_state(self.state, "state", "")

    def set_failed(self, user_id: str, message: str) -> None:
        if user_id == self._shown:
            self.show_message(
                f"Could not load Descope's audit events for {user_id}: {message}", error=True, user_id=user_id
            )

    def event_actions(self) -> list[str]:
        """The Action column of the events shown, top to bottom."""
        items = (self.table.item(row, 1) for row in range(self.table.rowCount()))
        return [item.text() if item is not None else "" for item in items]
