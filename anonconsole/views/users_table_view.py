"""The users table widget: a QTableView that does not repaint what rows added out of sight leave alone.

Only a layout that follows rows added out of sight (or a relayout that left the rows on screen in
place) skips its repaint; a scroll in between, or a layout that scrolls, repaints as Qt would.

While a load adds pages, Qt answers every row insertion (and every relayout of a sorted view) with
a delayed layout that repaints the whole viewport (`QAbstractItemView::doItemsLayout`), though rows
added below the last visible one change only the scroll bar. At 100k users that is a repaint of the
screenful (15-40 ms) each time the loader hands on new rows: most of the window's longest stalls
during a load.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, SignalInstance
from PySide6.QtWidgets import QTableView, QWidget

Index = QModelIndex | QPersistentModelIndex


class UsersTableView(QTableView):
    """A table view whose layout skips its repaint when the rows on screen stayed where they were.

    Attributes:
        skipped_repaints: layouts that kept the screen as it was (for the tests).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._viewport = self.viewport()  # asked at every insertion: PySide's lookup is not free
        # Whether the pending layout may skip its repaint: None (no insertion since the last
        # layout), True (only rows out of sight were added), False (something shown changed).
        self._out_of_sight: bool | None = None
        self._shown: list[QPersistentModelIndex] = []  # the rows on screen before a relayout
        self._shown_from = 0
        self.skipped_repaints = 0

    def setModel(self, model: QAbstractItemModel | None) -> None:
        old = self.model()
        if old is not None:
            for signal in _structure_signals(old):
                signal.disconnect(self._shown_rows_moved)
            old.layoutAboutToBeChanged.disconnect(self._remember_shown_rows)
            old.layoutChanged.disconnect(self._check_shown_rows)
        self._out_of_sight = False
        super().setModel(model)
        if model is not None:
            for signal in _structure_signals(model):
                signal.connect(self._shown_rows_moved)
            model.layoutAboutToBeChanged.connect(self._remember_shown_rows)
            model.layoutChanged.connect(self._check_shown_rows)

    def _shown_rows_moved(self) -> None:
        self._out_of_sight = False

    def _on_screen(self) -> range | None:
        """The rows on screen; None while they do not fill the viewport (then any change shows)."""
        top = self.rowAt(0)
        bottom = self.rowAt(self._viewport.height() - 1)
        return range(top, bottom + 1) if top >= 0 and bottom >= 0 else None

    def _remember_shown_rows(self) -> None:
        """Before a relayout (a sorted view taking in new rows): which rows are on screen."""
        shown = self._on_screen()
        model = self.model()
        self._shown = [] if shown is None else [QPersistentModelIndex(model.index(row, 0)) for row in shown]
        self._shown_from = shown.start if shown else 0

    def _check_shown_rows(self) -> None:
        """After it: when the same rows are still on screen in the same places, only the scroll bar
        changed (new rows sorted in below them), and the layout need not repaint."""
        shown, self._shown = self._shown, []
        same = bool(shown) and all(index.row() == self._shown_from + i for i, index in enumerate(shown))
        self._out_of_sight = same and self._out_of_sight is not False

    def rowsInserted(self, parent: Index, start: int, end: int) -> None:
        """Note whether the rows come after the last visible one (then nothing shown moves)."""
        shown = self._on_screen()
        below = not parent.isValid() and shown is not None and start > shown[-1]
        self._out_of_sight = below and self._out_of_sight is not False
        super().rowsInserted(parent, start, end)

    def dataChanged(self, top_left: Index, bottom_right: Index, roles: Sequence[int] = ()) -> None:
        """Qt does not repaint changed cells while a layout is pending (the layout repaints): the
        pending layout must then repaint if the changed rows are on screen."""
        if self._out_of_sight:
            shown = self._on_screen()
            if shown is None or (top_left.row() <= shown[-1] and bottom_right.row() >= shown.start):
                self._out_of_sight = False
        super().dataChanged(top_left, bottom_right, list(roles))

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        """A scroll (sideways above all) moves what is shown: the layout pending, if any, repaints."""
        self._out_of_sight = False
        super().scrollContentsBy(dx, dy)

    def doItemsLayout(self) -> None:
        """Qt's layout (scroll bar and header geometry), without its repaint when nothing shown moved."""
        skip, self._out_of_sight = self._out_of_sight, None
        if not skip:
            super().doItemsLayout()
            return
        before = self._scroll_state()
        self.updateGeometries()
        if self._scroll_state() != before:  # the layout itself scrolled (a range shrank): repaint
            self._viewport.update()
            return
        self.skipped_repaints += 1

    def _scroll_state(self) -> tuple[int, int, int, int]:
        """Where the view is scrolled to, by the scroll bars and by the headers' offsets."""
        return (
            self.horizontalScrollBar().value(),
            self.verticalScrollBar().value(),
            self.horizontalHeader().offset(),
            self.verticalHeader().offset(),
        )


def _structure_signals(model: QAbstractItemModel) -> tuple[SignalInstance, ...]:
    """Changes after which the rows on screen may be others: the next layout must repaint."""
    return (
        model.modelReset,
        model.rowsRemoved,
        model.rowsMoved,
        model.columnsInserted,
        model.columnsRemoved,
    )
