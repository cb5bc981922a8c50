"""The details panel: every field of the selected user, why it is classified so, its recent sign-ins."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QFrame,
    QHeaderView,
    QLabel,
    QScrollArea,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from anonconsole.core.classify import Classification, format_duration
from anonconsole.core.records import LoginRecord, User
from anonconsole.core.user_table import format_time
from anonconsole.views.widgets import camel

EMPTY_TEXT = "Select a user to see the details."
# Keyboard users reach every value with Tab and select it to copy, as mouse users do.
_SELECTABLE = Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard


def _verified(value: str, verified: bool) -> str:
    if not value:
        return "—"
    return f"{value}  ✓ verified" if verified else f"{value}  (not verified)"


class UserDetails(QWidget):
    """Read-only details of one user; text is selectable so support staff can copy any of it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("userDetails")
        self.setAccessibleName("User details")
        self._user_id = ""

        self._stack = QStackedWidget(self)
        empty = QLabel(EMPTY_TEXT)
        empty.setObjectName("detailsEmpty")
        empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        empty.setWordWrap(True)
        empty.setEnabled(False)
        self._stack.addWidget(empty)

        body = QWidget()
        layout = QVBoxLayout(body)
        self._verdict = QLabel()
        self._verdict.setObjectName("detailsVerdict")
        self._verdict.setAccessibleName("Classification")
        self._verdict.setWordWrap(True)
        self._verdict.setTextInteractionFlags(_SELECTABLE)
        layout.addWidget(self._verdict)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self._fields: dict[str, QLabel] = {}
        for key, label in (
            ("user_id", "User ID"),
            ("login_ids", "Login IDs"),
            ("name", "Name"),
            ("email", "Email"),
            ("phone", "Phone"),
            ("status", "Status"),
            ("tenants", "Tenants"),
            ("roles", "Roles"),
            ("created", "Created"),
            ("last_sign_in", "Last sign-in"),
            ("lifetime", "Lifetime"),
            ("credentials", "Credentials"),
            ("test", "Test user"),
            ("attributes", "Custom attributes"),
        ):
            value = QLabel()
            value.setObjectName(camel("details", key))
            value.setAccessibleName(label)
            value.setWordWrap(True)
            value.setTextInteractionFlags(_SELECTABLE)
            self._fields[key] = value
            form.addRow(f"{label}:", value)
        layout.addLayout(form)

        heading = QLabel("<b>Recent sign-ins</b>")
        layout.addWidget(heading)
        self._sign_ins = QTableWidget(0, 4)
        self._sign_ins.setObjectName("detailsSignIns")
        self._sign_ins.setAccessibleName("Recent sign-ins")
        self._sign_ins.setHorizontalHeaderLabels(["Time (UTC)", "City", "Country", "IP"])
        self._sign_ins.verticalHeader().hide()
        self._sign_ins.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._sign_ins.setTabKeyNavigation(False)
        self._sign_ins.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self._sign_ins.horizontalHeader().setStretchLastSection(True)
        self._sign_ins.setMinimumHeight(120)
        layout.addWidget(self._sign_ins)
        self._sign_ins_state = QLabel()
        self._sign_ins_state.setObjectName("detailsSignInsState")
        self._sign_ins_state.setEnabled(False)
        layout.addWidget(self._sign_ins_state)
        layout.addStretch(1)

        scroll = QScrollArea()
        scroll.setObjectName("detailsScroll")
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # its values take the focus (and scroll into view)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        self._stack.addWidget(scroll)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self._stack)

    def focus_chain(self) -> list[QWidget]:
        """The widgets Tab visits, in reading order (the window puts them after the table)."""
        return [self._verdict, *self._fields.values(), self._sign_ins]

    @property
    def user_id(self) -> str:
        """The user shown, "" when none."""
        return self._user_id

    def field_text(self, key: str) -> str:
        return self._fields[key].text()

    @property
    def verdict_text(self) -> str:
        return self._verdict.text()

    def clear(self) -> None:
        self._user_id = ""
        self._stack.setCurrentIndex(0)

    def show_user(self, user: User, verdict: Classification, last_sign_in: int | None, now: int) -> None:
        """Show a user; recent sign-ins follow through `set_sign_ins` when they arrive."""
        self._user_id = user.user_id
        self._verdict.setText(f"<b>{verdict.kind.label}</b> — {verdict.reason}")
        f = self._fields
        f["user_id"].setText(user.user_id)
        f["login_ids"].setText("\n".join(user.login_ids) or "—")
        full = " ".join(p for p in (user.given_name, user.middle_name, user.family_name) if p)
        f["name"].setText(user.name + (f" ({full})" if full and full != user.name else "") or "—")
        f["email"].setText(_verified(user.email, user.verified_email))
        f["phone"].setText(_verified(user.phone, user.verified_phone))
        f["status"].setText(user.status or "—")
        f["tenants"].setText(
            "\n".join(
                f"{t.tenant_name or '(unnamed)'} — {t.tenant_id}"
                + (f" [roles: {', '.join(t.role_names)}]" if t.role_names else "")
                for t in user.tenants
            )
            or "none"
        )
        f["roles"].setText(", ".join(user.role_names) or "none")
        f["created"].setText(format_time(user.created_time) + " UTC")
        f["last_sign_in"].setText("never" if last_sign_in is None else format_time(last_sign_in) + " UTC")
        f["lifetime"].setText(self._lifetime(verdict, now))
        f["credentials"].setText("password" if user.has_password else "no password")
        f["test"].setText("yes" if user.test else "no")
        f["attributes"].setText(
            "\n".join(f"{k}: {v}" for k, v in sorted(user.custom_attributes.items())) or "none"
        )
        self._sign_ins.setRowCount(0)
        self._sign_ins_state.setText("Loading recent sign-ins…")
        self._stack.setCurrentIndex(1)

    @staticmethod
    def _lifetime(verdict: Classification, now: int) -> str:
        if verdict.last_active is None:
            return "not applicable (not an anonymous user)"
        since = "last sign-in" if verdict.active_since_sign_in else "creation (never signed in)"
        age = f"age {format_duration(verdict.age_seconds or 0)}, counted from {since}"
        if verdict.expires_at is None:
            return f"{age}; no expiry known (the anonymous tenant has no custom session management)"
        when = format_time(verdict.expires_at) + " UTC"
        if verdict.expired:
            return f"{age}; refresh token expired at {when}, {format_duration(verdict.expired_for)} ago"
        return f"{age}; refresh token expires at {when}, in {format_duration(verdict.expires_at - now)}"

    def set_sign_ins(self, user_id: str, records: Sequence[LoginRecord], limit: int = 20) -> None:
        """Fill the recent sign-ins of `user_id` (ignored when another user is shown by now)."""
        if user_id != self._user_id:
            return
        recent = sorted(records, key=lambda r: r.login_time, reverse=True)[:limit]
        self._sign_ins.setRowCount(len(recent))
        for row, record in enumerate(recent):
            for column, text in enumerate(
                (format_time(record.login_time), record.city, record.country, record.ip)
            ):
                self._sign_ins.setItem(row, column, QTableWidgetItem(text))
        self._sign_ins_state.setText(
            "No sign-ins recorded." if not recent else f"{len(records):,} sign-ins recorded, newest first."
        )

    def set_sign_ins_failed(self, user_id: str, message: str) -> None:
        if user_id == self._user_id:
            self._sign_ins_state.setText(f"Could not load sign-ins: {message}")
