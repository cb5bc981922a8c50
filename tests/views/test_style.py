"""The one style sheet: every colour it uses exists in both palettes, and views take its colours."""

from __future__ import annotations

import re

import pytest
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QLabel
from pytestqt.qtbot import QtBot

from anonconsole.app.palette import apply_color_scheme
from anonconsole.core.classify import AnonymousPolicy
from anonconsole.core.user_table import UserTable
from anonconsole.views import style
from anonconsole.views.users_view import UsersView


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_colour_token_resolves_in_both_palettes(scheme: str) -> None:
    sheet = style.style_sheet(scheme)
    assert "@" not in sheet
    assert re.search(r"QFrame#notice\[level=\"error\"\] \{ background: #[0-9a-f]{6};", sheet)


def test_an_unknown_colour_is_named() -> None:
    text = "/* @palette light: error #c62828 */\nQLabel { color: @eror; }"
    with pytest.raises(ValueError, match="@eror"):
        style.style_sheet("light", text)


def test_badges_follow_the_palette(qtbot: QtBot, console_qapp: QApplication) -> None:
    view = UsersView(UserTable(AnonymousPolicy("", None), now=lambda: 0.0), None)
    qtbot.addWidget(view)
    light = style.palette_colors("light")
    assert view.model._verified_brush is not None
    assert view.model._verified_brush.color() == QColor(light["verified"])
    try:
        apply_color_scheme(console_qapp, "dark")  # the palette change reaches widgets as a posted event
        dark = QColor(style.palette_colors("dark")["verified"])
        qtbot.waitUntil(lambda: view.model._verified_brush.color() == dark)
    finally:
        apply_color_scheme(console_qapp, "light")


def test_a_state_change_restyles_the_widget(qtbot: QtBot, console_qapp: QApplication) -> None:
    label = QLabel("Not connected")
    label.setObjectName("connectionLabel")
    qtbot.addWidget(label)
    style.apply(label)
    label.show()
    normal = label.palette().color(label.foregroundRole())
    style.set_state(label, "state", "error")
    error = QColor(style.palette_colors("light")["error"])
    assert label.palette().color(label.foregroundRole()) == error != normal


def test_a_live_switch_restyles_state_labels_at_once(qtbot: QtBot, console_qapp: QApplication) -> None:
    """The palette reaches widgets in a posted event: the sheet must not wait for it (a label with a
    state kept the old scheme's colour until the sheet was applied a second time)."""
    label = QLabel("Connected")
    label.setObjectName("testResult")
    qtbot.addWidget(label)
    style.apply(label)
    style.set_state(label, "state", "ok")
    label.show()
    try:
        apply_color_scheme(console_qapp, "dark")
        assert label.styleSheet() == style.style_sheet("dark")
    finally:
        apply_color_scheme(console_qapp, "light")
    assert label.styleSheet() == style.style_sheet("light")
