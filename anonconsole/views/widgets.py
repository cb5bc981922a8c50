"""Small helpers every view uses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QWidget

W = TypeVar("W", bound=QObject)


def named(widget: W, name: str, accessible: str = "") -> W:
    """Give a key widget its objectName (style and test hook) and accessible name."""
    widget.setObjectName(name)
    if accessible and isinstance(widget, QWidget):
        widget.setAccessibleName(accessible)
    return widget


def camel(*parts: str) -> str:
    """An object name from snake_case parts, in the console's one convention: camelCase."""
    words = [word for part in parts for word in part.split("_") if word]
    return words[0] + "".join(word[:1].upper() + word[1:] for word in words[1:])


def tab_chain(widgets: Sequence[QWidget]) -> None:
    """Tab moves through `widgets` in this order (the order a person reads them in)."""
    for first, second in zip(widgets, widgets[1:], strict=False):
        QWidget.setTabOrder(first, second)
