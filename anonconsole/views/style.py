"""The console's look: the one style sheet in resources/, with the colours of the palette in use.

The sheet names its colours once per palette (`@palette` lines) and uses them as `@name` in rules
keyed by object name and by the dynamic properties views set (`set_state`). It is applied to the
few widgets that have rules (`apply`), not to the whole application: a style sheet on the users
tables would route every painted cell through Qt's style-sheet style (0.2 s more at start-up alone).
The tables' badge colours are read from the same palette (`badge_colors`).
"""

from __future__ import annotations

import functools
import re
from importlib import resources

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QLabel, QWidget

STYLE_SHEET = "style.qss"
_STYLED = "styled"  # the property that marks a widget `apply` gave the sheet to
_PALETTE_LINE = re.compile(r"/\*\s*@palette\s+(\w+):\s*(.*?)\s*\*/")
_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_TOKEN = re.compile(r"@(\w+)")


def scheme_of(palette: QPalette) -> str:
    """ "dark" when the palette's windows are dark, else "light"."""
    return "dark" if palette.color(QPalette.ColorRole.Window).lightness() < 128 else "light"


@functools.cache
def _source() -> str:
    return (resources.files("anonconsole.resources") / STYLE_SHEET).read_text(encoding="utf-8")


def palette_colors(scheme: str, text: str | None = None) -> dict[str, str]:
    """The colours the sheet names for `scheme` ("light" or "dark")."""
    for name, pairs in _PALETTE_LINE.findall(_source() if text is None else text):
        if name == scheme:
            return {key: value for key, value in (pair.split() for pair in pairs.split(";") if pair.strip())}
    raise ValueError(f"{STYLE_SHEET} has no {scheme} palette")


@functools.cache
def style_sheet(scheme: str, text: str | None = None) -> str:
    """The rules with the colours of `scheme` filled in.

    Raises ValueError naming an `@token` the palette does not define (a typo in the sheet).
    """
    colors = palette_colors(scheme, text)

    def color(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in colors:
            raise ValueError(f"{STYLE_SHEET}: the {scheme} palette has no colour @{name}")
        return colors[name]

    return _TOKEN.sub(color, _COMMENT.sub("", _source() if text is None else text))


def apply(widget: QWidget, scheme: str | None = None) -> None:
    """Give `widget` (and its children) the sheet, in the colours of `scheme` (default: its palette's)."""
    widget.setProperty(_STYLED, True)
    widget.setStyleSheet(style_sheet(scheme or scheme_of(widget.palette())))


def reapply_all(app: QApplication) -> None:
    """After the palette changed (light <-> dark): every styled widget again, in the new colours.

    The scheme is the application's: a widget hears of the new palette only from a posted event,
    so its own palette still has the old colours here.
    """
    scheme = scheme_of(app.palette())
    for widget in app.allWidgets():
        if widget.property(_STYLED):
            apply(widget, scheme)


def badge_colors(widget: QWidget) -> tuple[QColor, QColor]:
    """The colours of a verified address and of an expired refresh token, for `widget`'s palette."""
    colors = palette_colors(scheme_of(widget.palette()))
    return QColor(colors["verified"]), QColor(colors["expired"])


def set_state(widget: QWidget, name: str, value: str) -> None:
    """Set a dynamic property the sheet keys on (`state`, `level`, `role`) and restyle the widget."""
    if widget.property(name) == value:
        return
    widget.setProperty(name, value)
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)


def say(label: QLabel, text: str, *, error: bool = False) -> None:
    """A dialog's status line: the text (also for screen readers), red when it is an error."""
    label.setText(text)
    label.setAccessibleDescription(text)
    set_state(label, "level", "error" if error else "info")
