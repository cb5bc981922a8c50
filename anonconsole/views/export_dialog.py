"""Export from the window: a users page, a cull plan or a run's report, to CSV or JSON.

Each export asks where with a file dialog (its filter picks the format, unless the name's suffix
does), writes in the background (`operations.export.write_export`: a slice at a time on the loop,
nothing partial left behind) behind a window-modal progress dialog with Cancel, then says how it
ended: the status bar on success or Cancel, a message box naming what to do when the file cannot be
written, the error dialog (`views.error_dialog`) for anything unexpected.

The progress dialog is shown and updated without `QProgressDialog.setValue`: on a modal dialog that
call runs the event loop inside itself, which would re-enter the asyncio loop (qasync) from the
export's own task.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QLabel,
    QMessageBox,
    QProgressBar,
    QProgressDialog,
    QPushButton,
    QWidget,
)

from anonconsole.core.cull import CullPlan
from anonconsole.core.export import Export, ExportFormat, format_of, plan_export, users_export
from anonconsole.core.user_pages import PAGE_KINDS
from anonconsole.operations.batch_run import RunReport
from anonconsole.operations.export import SAVING, ExportReport, report_export, write_export
from anonconsole.runtime import messages
from anonconsole.views import style
from anonconsole.views.error_dialog import ErrorDialog
from anonconsole.views.widgets import named

if TYPE_CHECKING:
    from anonconsole.views.users_view import UsersView

log = logging.getLogger(__name__)

FILTERS = {ExportFormat.CSV: "CSV files (*.csv)", ExportFormat.JSON: "JSON files (*.json)"}
SHOW_PROGRESS_AFTER_MS = 300  # a quick export finishes before a dialog would flash up
# Qt's own file dialog (not the platform's): the same on every system, and drivable in tests.
NATIVE_FILE_DIALOG = False


async def export_view(
    parent: QWidget,
    view: UsersView,
    *,
    path: Path | None = None,
    fmt: ExportFormat | None = None,
    now: int | None = None,
) -> ExportReport | None:
    """Export what a users page shows: its rows after search and filters, in its order, and its
    visible columns in their order, as the page shows them at `now` (default: the present).

    `path` (and `fmt`) skip the file dialog. Returns how the export ended; None when the person
    chose no file or cancelled (nothing was written).
    """
    export = view_export(view, now=int(time.time()) if now is None else now)
    return await export_to_file(parent, export, "Export users", path=path, fmt=fmt)


async def told(export: Awaitable[ExportReport | None], status: QLabel) -> ExportReport | None:
    """Await an export and say on a dialog's status line how it ended (None: nothing was written)."""
    written = await export
    if written is not None:
        style.say(status, written.summary(), error=not written.ok)
    return written


async def export_plan(
    parent: QWidget, plan: CullPlan, *, path: Path | None = None, fmt: ExportFormat | None = None
) -> ExportReport | None:
    """Export a cull plan: JSON is the plan to approve (`anonconsole cull --approve`), CSV a sheet
    of who goes and who is kept, why."""
    return await export_to_file(parent, plan_export(plan), "Export the plan", path=path, fmt=fmt)


async def export_report(
    parent: QWidget, report: RunReport, *, path: Path | None = None, fmt: ExportFormat | None = None
) -> ExportReport | None:
    """Export a run's report (a cull's, or an action on chosen users): JSON or a CSV of each user."""
    return await export_to_file(parent, report_export(report), "Save the report", path=path, fmt=fmt)


def view_export(view: UsersView, *, now: int) -> Export:
    """The export of a users page as it is now: its shown rows, and its visible columns in the
    order the header shows them (moved and hidden columns included)."""
    header = view.view.horizontalHeader()
    visible = [section for section in range(header.count()) if not header.isSectionHidden(section)]
    columns = [view.model.columns[section] for section in sorted(visible, key=header.visualIndex)]
    page = next((key for key, kind in PAGE_KINDS.items() if kind == view.kind), None)
    about = {} if view.gateway is None else {"projectId": view.gateway.connection.project_id}
    return users_export(
        view.table,
        view.model.shown_rows(),
        columns,
        now=now,
        page=page,
        spec=view.model.spec,
        sort=view.model.sort_column,
        descending=view.model.sort_order == Qt.SortOrder.DescendingOrder,
        about=about,
    )


async def export_to_file(
    parent: QWidget, export: Export, title: str, *, path: Path | None = None, fmt: ExportFormat | None = None
) -> ExportReport | None:
    """Ask where (unless `path` is given), write with progress and Cancel, say how it ended."""
    if path is None:
        chosen = await choose_file(parent, title, export.name)
        if chosen is None:
            return None
        path, fmt = chosen
    fmt = fmt or format_of(path) or ExportFormat.CSV
    try:
        report = await run_export(parent, export, path, fmt, title=title)
    except Exception as exc:  # a bug, not a file that cannot be written: the error dialog, with details
        unexpected = messages.describe(type(exc), exc, exc.__traceback__)
        log.error("Export to %s failed unexpectedly: %s\n%s", path, unexpected.summary, unexpected.details)
        ErrorDialog(unexpected, parent).open()
        return None
    if report is None:
        messages.info(f"Export cancelled: nothing was written to {path}.")
    elif report.ok:
        messages.info(report.summary())
    else:
        _show_failure(parent, title, report.error)
    return report


async def choose_file(
    parent: QWidget, title: str, name: str, formats: tuple[ExportFormat, ...] = tuple(ExportFormat)
) -> tuple[Path, ExportFormat] | None:
    """The file to export to and its format, from a save dialog; None when the person cancels.

    The suffix of the name typed decides the format when it is one of `formats`; otherwise the
    filter chosen does (and its suffix is added to a name without one).
    """
    first = formats[0]
    dialog = QFileDialog(parent, title, str(Path.home() / f"{name}{first.suffix}"))
    named(dialog, "exportFileDialog", title)
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog, not NATIVE_FILE_DIALOG)
    dialog.setNameFilters([FILTERS[fmt] for fmt in formats])
    dialog.setDefaultSuffix(first.value)
    by_filter = {FILTERS[fmt]: fmt for fmt in formats}
    dialog.filterSelected.connect(lambda text: dialog.setDefaultSuffix(by_filter[text].value))
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    try:
        accepted = await finished(dialog) == QDialog.DialogCode.Accepted.value
        files, name_filter = dialog.selectedFiles(), dialog.selectedNameFilter()
    finally:
        dialog.deleteLater()  # read first: deleted on close, its choice would be gone
    if not accepted or not files:
        return None
    path = Path(files[0])
    named_format = format_of(path)
    return path, named_format if named_format in formats else by_filter[name_filter]


async def finished(dialog: QDialog) -> int:
    """Open a window-modal dialog and wait for its result without a nested event loop.

    If the waiting task is cancelled (its window closes), the dialog is closed with it.
    """
    result: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def done(code: int) -> None:
        if not result.done():
            result.set_result(code)

    dialog.finished.connect(done)
    dialog.open()
    try:
        return await result
    except asyncio.CancelledError:
        dialog.reject()
        raise


async def run_export(
    parent: QWidget, export: Export, path: Path, fmt: ExportFormat, *, title: str = "Export"
) -> ExportReport | None:
    """Write `export` behind a progress dialog with Cancel; None when cancelled (nothing written)."""
    progress = ExportProgress(parent, title, path)
    work = asyncio.ensure_future(write_export(export, path, fmt, progress=progress.update))
    progress.dialog.canceled.connect(work.cancel)
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        work.cancel()
        await asyncio.gather(work, return_exceptions=True)  # its temporary file removed first
        me = asyncio.current_task()
        if me is not None and me.cancelling():
            raise  # our own task was cancelled (the window closes), not the export alone
        return None
    finally:
        progress.close()


class ExportProgress(QObject):
    """The progress dialog of one export: shown once the export lasts, Cancel until it is complete.

    Attributes:
        dialog: the QProgressDialog (object name "exportProgress").
        bar: its progress bar, updated directly (see the module's docstring).
        cancel_button: its Cancel button (disabled while the finished file is put in place).
    """

    def __init__(self, parent: QWidget, title: str, path: Path) -> None:
        super().__init__(parent)
        self.dialog = dialog = named(QProgressDialog(parent), "exportProgress", title)
        dialog.setWindowTitle(title)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.bar = QProgressBar(dialog)
        self.bar.setObjectName("exportProgressBar")
        self.bar.setAccessibleName("Export progress")
        dialog.setBar(self.bar)
        self.cancel_button = named(QPushButton("Cancel", dialog), "exportCancel", "Cancel the export")
        dialog.setCancelButton(self.cancel_button)
        dialog.setLabelText(f"Exporting to {path}…")
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(dialog.open)
        self._timer.start(SHOW_PROGRESS_AFTER_MS)

    def update(self, done: int, total: int, text: str) -> None:
        """`write_export`'s progress: the bar and the sentence; no Cancel once the file is complete."""
        self.bar.setMaximum(max(total, 1))
        self.bar.setValue(min(done, max(total, 1)))
        self.dialog.setLabelText(text)
        if text == SAVING:
            self.cancel_button.setEnabled(False)

    def close(self) -> None:
        """Hide and delete the dialog (closing it must not count as a Cancel)."""
        self._timer.stop()
        self.dialog.canceled.disconnect()
        self.dialog.hide()
        self.dialog.deleteLater()
        self.deleteLater()


def _show_failure(parent: QWidget, title: str, error: str) -> QMessageBox:
    """The sentence of a file that could not be written, in a window-modal box (not waited for)."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, error, QMessageBox.StandardButton.Ok, parent)
    named(box, "exportError", "Export failed")
    box.setWindowModality(Qt.WindowModality.WindowModal)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
