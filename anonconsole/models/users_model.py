"""Qt table model over a `UserTable`: a thin adapter that shows the rows of one index array.

The table (core) does the filtering and sorting; this model only maps view rows to table rows, turns
cells into roles, and tells attached views what changed without resetting them: pages that arrive
are inserted (or, when sorted, laid out again with persistent indexes carried over), so scroll
position and selection survive loading and refreshes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QModelRoleData,
    QModelRoleDataSpan,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QPalette
from PySide6.QtWidgets import QApplication

from anonconsole.core import user_pages
from anonconsole.core.classify import Kind
from anonconsole.core.user_pages import AnyColumn as AnyColumn
from anonconsole.core.user_pages import ComputedColumn, age_text
from anonconsole.core.user_table import Column, Rows, TableFilter, UserTable

Index = QModelIndex | QPersistentModelIndex


# The pages' computed column (Age) is defined in core with the pages' columns; the views know it by
# this name.
ModelColumn = ComputedColumn

USER_ROLE = Qt.ItemDataRole.UserRole + 1  # the core.records.User of the row
SORT_ROLE = Qt.ItemDataRole.UserRole + 2  # a native value to sort or compare by
TABLE_ROW_ROLE = Qt.ItemDataRole.UserRole + 3  # the row in the UserTable

# Roles as plain ints: `data` and `multiData` run for every painted cell, and each access to a
# PySide enum member (`Qt.ItemDataRole.DisplayRole`) goes through the enum machinery.
_DISPLAY = Qt.ItemDataRole.DisplayRole.value
_TOOLTIP = Qt.ItemDataRole.ToolTipRole.value
_FOREGROUND = Qt.ItemDataRole.ForegroundRole.value
_ACCESSIBLE_TEXT = Qt.ItemDataRole.AccessibleTextRole.value
_SORT, _USER, _TABLE_ROW = int(SORT_ROLE), int(USER_ROLE), int(TABLE_ROW_ROLE)

# Roles `data` answers besides DisplayRole (painting asks for several others, answered None at once).
_OTHER_ROLES = frozenset({_TOOLTIP, _FOREGROUND, _ACCESSIBLE_TEXT, _SORT, _USER, _TABLE_ROW})
_ROW_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

# Columns whose cell carries a verified (green) or expired (red) badge colour.
_VERIFIED_COLUMNS = frozenset({Column.EMAIL, Column.PHONE})
_EXPIRY_COLUMNS = frozenset({Column.EXPIRES, Column.KIND})

_NO_ROWS: Rows = np.zeros(0, dtype=np.int64)


class UsersModel(QAbstractTableModel):
    """One view's slice of the users table.

    Attributes:
        table: the shared UserTable (several models may show the same table).
        columns: the columns this view shows, in order.
        spec: the current filter.
    """

    def __init__(
        self,
        table: UserTable,
        columns: Sequence[AnyColumn],
        spec: TableFilter | None = None,
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self.table = table
        self.columns: tuple[AnyColumn, ...] = tuple(columns)
        self.spec = spec or TableFilter()
        self._sort: AnyColumn | None = None
        self._descending = False
        self._order: Rows = table.query(self.spec)
        # Badge colours come from the style sheet through the view (`set_badge_colors`); none until then.
        self._verified_brush: QBrush | None = None
        self._expired_brush: QBrush | None = None

    def set_badge_colors(self, verified: QColor, expired: QColor) -> None:
        """The colours of a verified address and of an expired refresh token (from the style sheet)."""
        self._verified_brush, self._expired_brush = QBrush(verified), QBrush(expired)
        if self._order.size and self.columns:
            last = self.index(len(self._order) - 1, len(self.columns) - 1)
            self.dataChanged.emit(self.index(0, 0), last, [Qt.ItemDataRole.ForegroundRole])

    # ---- Qt model API ---------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._order)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.columns):
            if role == Qt.ItemDataRole.DisplayRole:
                return self.columns[section].heading
            if role == Qt.ItemDataRole.ToolTipRole:
                if self.columns[section] is ModelColumn.AGE:
                    return "Time since the last sign-in (or the creation, for users who never signed in)"
                return f"Sort by {self.columns[section].heading.lower()}"
            if role == Qt.ItemDataRole.InitialSortOrderRole:
                return Qt.SortOrder.AscendingOrder
        elif orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole:
            return section + 1
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._order)):
            return None
        return self._value(int(self._order[index.row()]), self.columns[index.column()], role)

    def multiData(self, index: Index, roleDataSpan: QModelRoleDataSpan | QModelRoleData) -> None:
        """All the roles a delegate asks for (seven per painted cell) in one call from C++.

        Painting calls this instead of `data` once per role; each call from C++ into Python costs
        more than the value itself, so a screenful of cells is a few ms instead of tens. Every role
        is written, the ones without a value cleared: the delegate hands the same role data from cell
        to cell (without clearing, one red "expired" colour spread to every cell after it).
        """
        valid = index.isValid() and 0 <= index.row() < len(self._order)
        row = int(self._order[index.row()]) if valid else -1
        column = self.columns[index.column()] if valid else None
        items = roleDataSpan if isinstance(roleDataSpan, QModelRoleDataSpan) else (roleDataSpan,)
        # QModelRoleDataSpan has len() and [] at run time; PySide6's stub leaves them out.
        for i in range(len(items)):  # type: ignore[arg-type]
            item = items[i]  # type: ignore[index]
            role = item.role()
            if column is None:
                value = None
            elif role == _DISPLAY and column is not ModelColumn.AGE:  # the common case, without a call
                value = self.table.display(row, column)
            else:
                value = self._value(row, column, role) if role in _OTHER_ROLES or role == _DISPLAY else None
            if value is None:
                item.clearData()
            else:
                item.setData(value)

    def _value(self, row: int, column: AnyColumn, role: int) -> Any:
        """What `data` answers for table row `row` (not a view row)."""
        if column is ModelColumn.AGE:
            return self._age_value(row, role)
        if role == _DISPLAY:
            return self.table.display(row, column)
        if role not in _OTHER_ROLES:
            return None
        if role == _FOREGROUND:
            return self._foreground(row, column)
        if role == _TOOLTIP:
            return self._tooltip(row, column)
        if role == _SORT:
            return self._sort_value(row, column)
        if role == _USER:
            return self.table.user(row)
        if role == _TABLE_ROW:
            return row
        return f"{column.heading}: {self.table.display(row, column)}"  # AccessibleTextRole

    def _age_value(self, row: int, role: int) -> Any:
        """The Age column's roles, from the row's classification (built only for rows painted)."""
        if role not in (_DISPLAY, _TOOLTIP, _SORT, _ACCESSIBLE_TEXT, _USER, _TABLE_ROW):
            return None
        if role == _USER:
            return self.table.user(row)
        if role == _TABLE_ROW:
            return row
        verdict = self.table.classification(row)
        age = verdict.age_seconds
        if role == _SORT:
            return -1 if age is None else age
        text = age_text(age)
        if role == _DISPLAY:
            return text
        if role == _ACCESSIBLE_TEXT:
            return f"Age: {text or 'not applicable'}"
        if age is None:
            return None
        since = "last sign-in" if verdict.active_since_sign_in else "creation (never signed in)"
        return f"{text} since its {since}"

    def flags(self, index: Index) -> Qt.ItemFlag:
        return _ROW_FLAGS if index.isValid() else Qt.ItemFlag.NoItemFlags

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort by a column (-1: table order). Cheap once the column's permutation is prepared."""
        self._sort = self.columns[column] if 0 <= column < len(self.columns) else None
        self._descending = order == Qt.SortOrder.DescendingOrder
        self._relayout()

    # ---- what the views call --------------------------------------------------------------------
    @property
    def sort_column(self) -> AnyColumn | None:
        return self._sort

    @property
    def sort_order(self) -> Qt.SortOrder:
        """The order of the current sort (ascending when unsorted)."""
        return Qt.SortOrder.DescendingOrder if self._descending else Qt.SortOrder.AscendingOrder

    def table_column(self, column: AnyColumn) -> Column:
        """The table column whose order a model column sorts by (`core.user_pages.sort_column`)."""
        return user_pages.sort_column(column, self.table.policy)[0]

    def _query(self) -> Rows:
        """The rows to show, in the order of the current sort."""
        return user_pages.query(self.table, self.spec, self._sort, self._descending)

    def shown_rows(self) -> Rows:
        """The table rows shown, in view order (a copy: an export reads it while the view changes)."""
        return self._order.copy()

    def set_filter(self, spec: TableFilter) -> None:
        """Show the rows `spec` keeps; selection of rows still shown is kept."""
        self.spec = spec
        self._relayout()

    def table_row(self, view_row: int) -> int:
        return int(self._order[view_row])

    def view_row(self, table_row: int) -> int | None:
        """Where a table row is shown, None when filtered out."""
        hits = np.flatnonzero(self._order == table_row)
        return int(hits[0]) if len(hits) else None

    def table_rows_appended(self, new_rows: range) -> None:
        """Rows were added to the table (a page arrived): show those the filter keeps."""
        if not len(new_rows):
            return
        if self._sort is None:
            # Table order: new rows come after every shown row, so they are a plain append.
            keep = self.table.mask(self.spec, new_rows.start)[: len(new_rows)]
            added = np.flatnonzero(keep) + new_rows.start
            if len(added):
                first = len(self._order)
                self.beginInsertRows(QModelIndex(), first, first + len(added) - 1)
                self._order = np.concatenate([self._order, added])
                self.endInsertRows()
            return
        self._relayout(_NO_ROWS)  # sorted: new rows move in; the values of the others stay

    def resync(self) -> None:
        """Catch up with every change of the table since this model last followed it."""
        self._relayout()

    def table_rows_changed(self, rows: Rows) -> None:
        """Rows changed in place (last sign-ins, a refresh): they may now sort or filter differently."""
        if not len(rows):
            return
        self._relayout(rows)

    def table_reset(self) -> None:
        """The table was cleared or rebuilt (another connection)."""
        self.beginResetModel()
        self._order = self._query()
        self.endResetModel()

    # ---- internals ------------------------------------------------------------------------------
    def _relayout(self, changed: Rows | None = None) -> None:
        """Recompute the index array; carry persistent indexes (selection, current) across.

        `changed`: the table rows whose values changed (None: any may have). Only the view rows from
        the first to the last of them are announced, so a view repaints only if those are on
        screen (a relayout that leaves the rows on screen in place need not repaint either).
        """
        new_order = self._query()
        if not np.array_equal(new_order, self._order):
            self._move_rows(new_order)
        shown = self._view_rows(changed)
        if len(shown):
            self.dataChanged.emit(
                self.index(int(shown[0]), 0), self.index(int(shown[-1]), len(self.columns) - 1)
            )

    def _move_rows(self, new_order: Rows) -> None:
        """Show `new_order`, with persistent indexes (selection, current) carried to their rows."""
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        if persistent:
            where = np.full(len(self.table), -1, dtype=np.int64)
            where[new_order] = np.arange(len(new_order))
            old_rows = [int(self._order[p.row()]) for p in persistent]
            moved = [
                self.createIndex(int(where[t]), p.column()) if where[t] >= 0 else QModelIndex()
                for p, t in zip(persistent, old_rows, strict=True)
            ]
            self._order = new_order
            self.changePersistentIndexList(persistent, moved)
        else:
            self._order = new_order
        self.layoutChanged.emit()

    def _view_rows(self, table_rows: Rows | None) -> Rows:
        """The view rows (ascending) showing these table rows; all of them for None."""
        if table_rows is None:
            return np.arange(len(self._order))
        if self._sort is None:  # in table order `_order` ascends: a binary search per row, no pass
            rows = np.unique(table_rows)
            at = np.searchsorted(self._order, rows)
            inside = at < len(self._order)
            at, rows = at[inside], rows[inside]
            shown: Rows = at[self._order[at] == rows]
            return shown
        hit = np.zeros(len(self.table), dtype=np.bool_)
        hit[table_rows] = True
        return np.flatnonzero(hit[self._order])

    def _tooltip(self, row: int, column: Column) -> str | None:  # not the Age column (`_age_value`)
        if column in _VERIFIED_COLUMNS and self.table.display(row, column):
            return "Verified" if self._verified(row, column) else "Not verified"
        if column in (Column.KIND, Column.REASON, Column.EXPIRES):
            return self.table.classification(row).reason
        text = self.table.display(row, column)
        return text if len(text) > 40 else None

    def _foreground(self, row: int, column: Column) -> QBrush | None:
        if column in _VERIFIED_COLUMNS:
            return self._verified_brush if self._verified(row, column) else None
        if column in _EXPIRY_COLUMNS and self.table.expired(row):
            return self._expired_brush
        if column is Column.STATUS and self.table.display(row, column) == "disabled":
            return QApplication.palette().brush(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        return None

    def _verified(self, row: int, column: Column) -> bool:
        if column == Column.EMAIL:
            return self.table.verified_email(row)
        return self.table.verified_phone(row)

    def _sort_value(self, row: int, column: Column) -> Any:
        match column:
            case Column.CREATED:
                return self.table.user(row).created_time
            case Column.LAST_SIGN_IN:
                return self.table.last_sign_in(row) or 0
            case Column.EXPIRES:
                return self.table.classification(row).expires_at or 0
            case Column.KIND:
                return list(Kind).index(self.table.kind(row))
        return self.table.display(row, column).lower()
