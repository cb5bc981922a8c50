"""A non-modal dialog for an unexpected error: what happened in one line, details to copy for a report."""

from __future__ import annotations

import PySide6
from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from anonconsole.runtime.messages import Unexpected
from anonconsole.views import style
from anonconsole.views.widgets import named


class ErrorDialog(QDialog):
    """Shows one `messages.Unexpected` (already scrubbed of secrets).

    Attributes:
        details: the read-only, selectable details (versions and traceback).
    """

    def __init__(self, report: Unexpected, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        style.apply(named(self, "errorDialog", "Unexpected error"))
        self.setWindowTitle("AnonConsole — unexpected error")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(640, 420)

        intro = QLabel(
            "AnonConsole ran into an error it did not expect. You can keep working; if it happens again, "
            "copy the details into a bug report (management keys are already removed from them)."
        )
        intro.setWordWrap(True)
        summary = QLabel(report.summary)
        summary.setObjectName("errorSummary")
        summary.setAccessibleName("Error summary")
        summary.setWordWrap(True)
        summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        qt_versions = f"PySide6 {PySide6.__version__}, Qt {qVersion()}\n"
        self.details = QPlainTextEdit(qt_versions + report.details)
        self.details.setObjectName("errorDetails")
        self.details.setAccessibleName("Error details")
        self.details.setReadOnly(True)
        self.details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = buttons.addButton("Copy details", QDialogButtonBox.ButtonRole.ActionRole)
        copy.setObjectName("copyDetailsButton")
        copy.setAccessibleName("Copy details")
        copy.clicked.connect(self.copy_details)
        buttons.rejected.connect(self.close)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(summary)
        layout.addWidget(self.details, stretch=1)
        layout.addWidget(buttons)

    def copy_details(self) -> None:
        """Put the details on the clipboard for a bug report."""
        QGuiApplication.clipboard().setText(self.details.toPlainText())
