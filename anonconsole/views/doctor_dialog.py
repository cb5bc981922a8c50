"""Verify the setup from the main window: the doctor's checks as they complete."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from anonconsole.operations.doctor import Check, DoctorReport
from anonconsole.runtime.tasks import TaskOwner


class DoctorDialog(QDialog):
    """Lists the checks of a doctor run live; closing it while running lets the probe be removed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("doctorDialog")
        self.setAccessibleName("Verify the setup")
        self.setWindowTitle("Verify the anonymous-user setup")
        intro = QLabel(
            "A probe anonymous user is created by the recipe, its tokens are checked against the "
            "tenant's settings, and it is deleted."
        )
        intro.setWordWrap(True)
        self.checks = QListWidget(self)
        self.checks.setObjectName("doctorChecks")
        self.checks.setAccessibleName("Checks")
        self.outcome = QLabel("Verifying…", self)
        self.outcome.setObjectName("doctorOutcome")
        self.outcome.setAccessibleName("Outcome")
        self.outcome.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.checks, 1)
        layout.addWidget(self.outcome)
        layout.addWidget(buttons)
        self.resize(640, 420)
        self.report: DoctorReport | None = None
        self.tasks = TaskOwner("doctor dialog")
        self.task: asyncio.Task[None] | None = None

    def add_check(self, check: Check) -> None:
        item = QListWidgetItem(f"{'✓' if check.passed else '✗'}  {check.name}: {check.detail}")
        item.setData(Qt.ItemDataRole.UserRole, check.passed)
        self.checks.addItem(item)

    def run(self, verify: Coroutine[Any, Any, DoctorReport]) -> None:
        """Run the doctor; the outcome line says how it ended."""

        async def runner() -> None:
            self.report = await verify
            if not self.isVisible():  # closed while running: the probe is gone, so is the dialog
                self.deleteLater()
                return
            self.outcome.setText(
                "Everything works: new anonymous users get the tenant's lifetime."
                if self.report.ok
                else "The setup has a problem: see the failed check above."
            )

        self.task = self.tasks.start(runner(), key="verify")
