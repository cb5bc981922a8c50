"""The offer to finish a destructive run a crash or a kill interrupted (a cull, an action on users)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QMessageBox, QWidget

from anonconsole.views.widgets import named

_HOW = (
    "Resume it now? Every remaining user is checked again right before anything is done to it; the "
    "batch that was under way is settled by looking at its users."
)


def ask_to_resume(
    parent: QWidget, *, name: str, title: str, text: str, on_resume: Callable[[], None]
) -> QMessageBox:
    """Open (window-modal, non-blocking) the question; `on_resume()` when the person says Resume."""
    box = named(QMessageBox(parent), name, title)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle(title)
    box.setText(text)
    box.setInformativeText(_HOW)
    resume = box.addButton("Resume", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)

    def answered(_result: int) -> None:
        if box.clickedButton() is resume:
            on_resume()

    box.finished.connect(answered)
    box.open()
    return box
