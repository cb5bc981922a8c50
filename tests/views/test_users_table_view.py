"""UsersTableView: rows appended out of sight do not repaint the screen; anything shown still does."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QObject, QPoint
from PySide6.QtGui import QImage, QStandardItem, QStandardItemModel
from pytestqt.qtbot import QtBot

from anonconsole.views.users_table_view import UsersTableView


class PaintCounter(QObject):
    """Counts the paint events a widget receives."""

    def __init__(self) -> None:
        super().__init__()
        self.paints = 0

    def eventFilter(self, _watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
        return False


Shown = tuple[UsersTableView, QStandardItemModel, PaintCounter]


def show_table(qtbot: QtBot, rows: int) -> Shown:
    """A 400x300 view of a two-column model with `rows` rows, once painted; its paints counted from then."""
    model = QStandardItemModel(0, 2)
    add_rows(model, rows)
    view = UsersTableView()
    view.setModel(model)
    view.resize(400, 300)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    counter = PaintCounter()
    view.viewport().installEventFilter(counter)
    # Until the first paints are over (a slow machine may paint late). No signal says painting is
    # over: 50 ms without a paint does, so this wait is a fixed one.
    for _ in range(20):
        counter.paints = 0
        qtbot.wait(50)
        if not counter.paints:
            break
    return view, model, counter


@pytest.fixture
def shown(qtbot: QtBot) -> Shown:
    """A screenful of rows out of 100."""
    return show_table(qtbot, 100)


def add_rows(model: QStandardItemModel, count: int) -> None:
    start = model.rowCount()
    for row in range(start, start + count):
        model.appendRow([QStandardItem(f"user {row:04d}"), QStandardItem(f"login {row}")])


def test_rows_appended_below_the_screen_update_the_scroll_bar_without_a_repaint(
    shown: Shown, qtbot: QtBot
) -> None:
    view, model, counter = shown
    maximum = view.verticalScrollBar().maximum()
    add_rows(model, 50)
    qtbot.wait(30)  # a repaint that must not come has no signal to wait for: give it time to come
    assert counter.paints == 0
    assert view.skipped_repaints >= 1
    assert view.verticalScrollBar().maximum() > maximum  # the layout itself did run


def test_rows_inserted_on_screen_or_removed_repaint(shown: Shown, qtbot: QtBot) -> None:
    view, model, counter = shown
    model.insertRow(0, [QStandardItem("new first"), QStandardItem("")])
    qtbot.waitUntil(lambda: counter.paints > 0)
    painted = counter.paints
    model.removeRows(90, 5)  # below the screen, but removals may move what is shown
    qtbot.waitUntil(lambda: counter.paints > painted)
    assert view.skipped_repaints == 0


def test_a_shown_cell_that_changes_with_an_append_is_repainted(shown: Shown, qtbot: QtBot) -> None:
    view, model, counter = shown
    add_rows(model, 10)  # a layout is now pending: Qt does not repaint changed cells meanwhile
    model.item(0, 0).setText("renamed")
    qtbot.waitUntil(lambda: counter.paints > 0)
    assert view.skipped_repaints == 0


def test_a_table_not_yet_full_repaints_as_rows_arrive(qtbot: QtBot) -> None:
    view, model, counter = show_table(qtbot, 2)
    add_rows(model, 3)  # these are on screen
    qtbot.waitUntil(lambda: counter.paints > 0)
    assert view.skipped_repaints == 0


def test_a_sorted_relayout_that_leaves_the_rows_on_screen_in_place_does_not_repaint(
    shown: Shown, qtbot: QtBot
) -> None:
    """A sorted view taking in a page: the new rows sort in below the screen."""
    view, model, counter = shown
    for row in (140, 120, 130):
        model.insertRow(50, [QStandardItem(f"user {row:04d}"), QStandardItem("")])
    model.sort(0)  # layoutChanged: rows 0..49 are still on screen, in place
    qtbot.wait(30)  # a repaint that must not come has no signal to wait for: give it time to come
    assert counter.paints == 0
    assert model.item(99, 0).text() == "user 0099"
    assert model.item(102, 0).text() == "user 0140"


def test_a_sorted_relayout_that_moves_a_row_on_screen_repaints(shown: Shown, qtbot: QtBot) -> None:
    view, model, counter = shown
    model.insertRow(99, [QStandardItem("user 0003a"), QStandardItem("")])
    qtbot.wait(30)  # any repaint of the insertion comes first (no signal says it will not): not counted
    painted = counter.paints
    model.sort(0)  # it sorts in at row 4: every row below it on screen moves down
    qtbot.waitUntil(lambda: counter.paints > painted)
    assert model.item(4, 0).text() == "user 0003a"


def on_screen(view: UsersTableView) -> QImage:
    """The viewport as the window system has it (the backing store), not a fresh render."""
    viewport = view.viewport()
    top_left = viewport.mapTo(view.window(), QPoint(0, 0))
    shot = (
        view.window()
        .windowHandle()
        .screen()
        .grabWindow(view.window().winId(), top_left.x(), top_left.y(), viewport.width(), viewport.height())
    )
    return shot.toImage().convertToFormat(QImage.Format.Format_RGB32)


def fresh(view: UsersTableView) -> QImage:
    return view.viewport().grab().toImage().convertToFormat(QImage.Format.Format_RGB32)


def test_a_sideways_scroll_while_rows_arrive_out_of_sight_repaints(qtbot: QtBot) -> None:
    """The user scrolls sideways while a page arrives below the screen: the layout that follows must
    repaint (the skip is for rows out of sight only), and the screen shows what a fresh render does."""
    view, model, counter = show_table(qtbot, 100)
    for column in range(2):
        view.horizontalHeader().resizeSection(column, 300)  # wider than the 400 px view
    qtbot.waitUntil(lambda: view.horizontalScrollBar().maximum() > 0)
    qtbot.wait(50)
    counter.paints = 0
    add_rows(model, 50)  # below the screen: a layout is pending, which alone would skip its repaint
    view.horizontalScrollBar().setValue(view.horizontalScrollBar().maximum())
    qtbot.waitUntil(lambda: counter.paints > 0)
    qtbot.wait(50)  # the layout after the scroll: no signal says it ran
    assert view.skipped_repaints == 0
    assert on_screen(view) == fresh(view)
    view.horizontalScrollBar().setValue(0)
    add_rows(model, 50)
    qtbot.wait(50)
    assert on_screen(view) == fresh(view)
