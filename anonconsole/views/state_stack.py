"""A table, or instead of it one sentence and maybe one button: the empty, loading and error states
of a page (users pages, the audit page)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QStackedWidget, QVBoxLayout, QWidget

from anonconsole.views.widgets import named


class StateStack(QStackedWidget):
    """Shows `content` (`show_content`) or a message with an optional action (`show_message`).

    Signals:
        action_clicked(str): the action button was pressed; its text ("Retry", "Clear filters").
    """

    action_clicked = Signal(str)

    def __init__(
        self, content: QWidget, *, names: tuple[str, str, str], parent: QWidget | None = None
    ) -> None:
        """`names`: object names of the stack, the message and the action button (style and tests)."""
        super().__init__(parent)
        stack_name, message_name, action_name = names
        self.setObjectName(stack_name)
        self.message = named(QLabel(self), message_name, "Page state")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.action = named(QPushButton(self), action_name, "Empty state action")
        self.action.clicked.connect(lambda: self.action_clicked.emit(self.action.text()))
        page = QWidget(self)
        layout = QVBoxLayout(page)
        layout.addStretch(1)
        layout.addWidget(self.message)
        layout.addWidget(self.action, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)
        self.addWidget(content)
        self.addWidget(page)

    def show_content(self) -> None:
        self.setCurrentIndex(0)

    def show_message(self, text: str, action: str = "") -> None:
        """`text` instead of the content; a button labelled `action` under it, unless empty."""
        self.message.setText(text)
        self.message.setAccessibleName(text)
        self.action.setText(action)
        self.action.setAccessibleName(action or "Empty state action")
        self.action.setVisible(bool(action))
        self.setCurrentIndex(1)

    @property
    def state_text(self) -> str:
        """What shows instead of the content ("" while the content shows)."""
        return "" if self.currentIndex() == 0 else self.message.text()
