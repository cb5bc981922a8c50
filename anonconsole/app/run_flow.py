"""What the window's flows of destructive runs share: their dialog, the offer to resume, and the
background finish of a run a crash interrupted (a cull, an action on chosen users)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Generic, Protocol, TypeVar

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox

from anonconsole.operations.audit_log import AuditLog
from anonconsole.operations.batch_run import RunReport
from anonconsole.operations.shape import Progress
from anonconsole.runtime import messages
from anonconsole.runtime.tasks import TaskOwner
from anonconsole.views.main_window import MainWindow


class RunDialog(Protocol):
    async def aclose(self) -> None: ...

    def deleteLater(self) -> None: ...


D = TypeVar("D", bound=RunDialog)


class RunFlow(QObject, Generic[D]):
    """Base of `CullFlow` and `UserActionFlow`.

    Attributes:
        dialog: the flow's dialog open now, if any.
        question: the offer to resume an interrupted run, once made.

    Signals:
        opened(object): the dialog, once shown.
        resumed(object): the RunReport of an interrupted run finished in the background.
    """

    opened = Signal(object)
    resumed = Signal(object)

    def __init__(self, window: MainWindow, audit: AuditLog | None, name: str) -> None:
        super().__init__(window)
        self.window = window
        self.audit = audit or AuditLog()
        self.dialog: D | None = None
        self.question: QMessageBox | None = None
        self._tasks = TaskOwner(name)

    def _forget(self, dialog: D) -> None:
        """The dialog closed: a new one may open."""
        if self.dialog is dialog:
            self.dialog = None
            dialog.deleteLater()

    @staticmethod
    def _resume_progress(what: str) -> Progress:
        return lambda _done, _total, text: messages.info(f"Resuming the {what}: {text}")

    async def _finish_resumed(self, run: Awaitable[RunReport], what: str) -> RunReport:
        """Await a resumed run; its end in the status bar, and `resumed`."""
        report = await run
        (messages.info if report.ok else messages.warning)(
            f"The interrupted {what} ended: {report.summary()}"
        )
        self.resumed.emit(report)
        return report

    async def aclose(self) -> None:
        """Stop what runs (after its batch) and wait: the window is closing or the project changes."""
        if self.dialog is not None:
            await self.dialog.aclose()
        await self._tasks.aclose()
