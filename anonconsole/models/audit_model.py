"""Qt table model over the console's audit log, fast at 100k entries.

`AuditIndex` (no Qt) holds the entries and, one array per facet, what filtering and sorting need:
it is built in a worker thread when the log is read, and only grows (the log is append-only).
`AuditModel` shows the rows of one index array: a filter is a few numpy masks and one substring
pass over pre-folded search texts; a sort is a permutation computed once per column (in a worker
thread, through `prepare_sort`), so neither stalls the window. Filters, sorts and appends are
relayouts that carry the selection along, not resets.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from anonconsole.operations.audit_log import (
    AuditEntry,
    AuditQuery,
    action_kind,
    entry_time,
    search_terms,
    search_text,
)
from anonconsole.runtime.cpu_turns import map_in_slices

Index = QModelIndex | QPersistentModelIndex
Rows = npt.NDArray[np.int64]


class AuditColumn(StrEnum):
    """The columns of the audit table, in their default order."""

    TIME = "time"
    ACTOR = "actor"
    PROFILE = "profile"
    ACTION = "action"
    TARGET = "target"
    RESULT = "result"
    CHANGE = "change"
    DETAIL = "detail"

    @property
    def heading(self) -> str:
        return _HEADINGS[self]


_HEADINGS = {
    AuditColumn.TIME: "When",
    AuditColumn.ACTOR: "OS user",
    AuditColumn.PROFILE: "Profile",
    AuditColumn.ACTION: "Action",
    AuditColumn.TARGET: "Target",
    AuditColumn.CHANGE: "Before → after",
    AuditColumn.RESULT: "Result",
    AuditColumn.DETAIL: "Detail",
}
COLUMNS = tuple(AuditColumn)

ENTRY_ROLE = Qt.ItemDataRole.UserRole + 1  # the AuditEntry of the row
LOG_ROW_ROLE = Qt.ItemDataRole.UserRole + 2  # the entry's position in the log (0 = oldest)

_DISPLAY = Qt.ItemDataRole.DisplayRole.value
_TOOLTIP = Qt.ItemDataRole.ToolTipRole.value
_FOREGROUND = Qt.ItemDataRole.ForegroundRole.value
_ACCESSIBLE_TEXT = Qt.ItemDataRole.AccessibleTextRole.value
_ENTRY, _LOG_ROW = int(ENTRY_ROLE), int(LOG_ROW_ROLE)
_ROW_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren
_NO_ROWS: Rows = np.zeros(0, dtype=np.int64)
# Longest text a cell shows; the tooltip and the details pane have the whole of it.
_CELL_CHARS = 160
_VALUE_CHARS = 48
_TERMS_KEPT = 16  # search words whose hits an index keeps


# -- the index (no Qt: built and sorted in worker threads) ----------------------------------------


class AuditIndex:
    """The log's entries and their facets as columns, oldest first.

    Attributes:
        entries: every readable entry of the log, oldest first (a row is its position here).
        times: epoch seconds per entry (NaN when the time cannot be read).
        kinds, results, profiles: per entry, a code into `kind_names`, `result_names`,
            `profile_names` (the distinct values, in order of first appearance).
        texts: per entry, its case-folded `search_text`.
    """

    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []
        self.times: npt.NDArray[np.float64] = np.zeros(0)
        self.kind_names: list[str] = []
        self.result_names: list[str] = []
        self.profile_names: list[str] = []
        self.kinds: npt.NDArray[np.int32] = np.zeros(0, dtype=np.int32)
        self.results: npt.NDArray[np.int32] = np.zeros(0, dtype=np.int32)
        self.profiles: npt.NDArray[np.int32] = np.zeros(0, dtype=np.int32)
        self.texts: list[str] = []
        self._orders: dict[AuditColumn, Rows] = {}
        self._hits: dict[str, npt.NDArray[np.bool_]] = {}  # UI thread only (the model's filter)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.entries)

    @classmethod
    def build(cls, entries: Sequence[AuditEntry]) -> AuditIndex:
        return cls().extended(entries)

    def extended(self, more: Sequence[AuditEntry]) -> AuditIndex:
        """A new index with `more` appended (this one is left as it is: a view may still show it)."""
        builder = _Builder(self)
        for entry in more:
            builder.add(entry)
        return builder.index(more)

    async def extended_in_turns(self, more: Sequence[AuditEntry]) -> AuditIndex:
        """`extended`, its per-entry work in CPU turns on the running loop: a worker thread doing
        it would hold the GIL that every paint of the window waits for."""
        builder = _Builder(self)
        await map_in_slices(builder.add, more)
        return builder.index(more)

    def rows(self, query: AuditQuery, order: Rows | None = None) -> Rows:
        """The rows `query` keeps (as `AuditQuery.matches` would), in `order` (default: log order)."""
        candidates = np.arange(len(self.entries), dtype=np.int64) if order is None else order
        mask = np.ones(len(self.entries), dtype=np.bool_)
        for names, codes, wanted in (
            (self.kind_names, self.kinds, query.kinds),
            (self.result_names, self.results, query.results),
            (self.profile_names, self.profiles, query.profiles),
        ):
            if wanted:
                mask &= np.isin(codes, [code for code, name in enumerate(names) if name in wanted])
        if query.since is not None:
            mask &= self.times >= query.since  # NaN compares False: an unreadable time is left out
        if query.until is not None:
            mask &= self.times < query.until
        for term in search_terms(query.text):
            mask &= self.term_hits(term)
        return candidates[mask[candidates]] if len(candidates) else candidates

    def term_hits(self, term: str) -> npt.NDArray[np.bool_]:
        """Per entry, whether its search text holds `term` (case-folded).

        The last few terms are kept: typing "fail" after "fai" looks only at the entries that held
        "fai", and a second word leaves the first one's answer as it was.
        """
        found = self._hits.get(term)
        if found is not None:
            return found
        texts = self.texts
        base = max((known for known in self._hits if known in term), key=len, default=None)
        if base is None:
            found = np.fromiter((term in text for text in texts), dtype=np.bool_, count=len(texts))
        else:
            rows = np.flatnonzero(self._hits[base])
            found = np.zeros(len(texts), dtype=np.bool_)
            found[rows] = np.fromiter((term in texts[row] for row in rows.tolist()), np.bool_, len(rows))
        if len(self._hits) >= _TERMS_KEPT:
            del self._hits[next(iter(self._hits))]  # the oldest
        self._hits[term] = found
        return found

    def sort_ready(self, column: AuditColumn) -> bool:
        return column in self._orders

    def order(self, column: AuditColumn) -> Rows:
        """Every row, ascending by `column`; equal values in log order. Computed once per column
        (a text column of 100k entries takes a while: `prepare_sort` it in a worker thread first)."""
        found = self._orders.get(column)
        if found is not None:
            return found
        if column is AuditColumn.TIME:
            # NaN (unknown time) first; a stable sort keeps the log order of equal times.
            order = np.argsort(np.nan_to_num(self.times, nan=-np.inf), kind="stable").astype(np.int64)
        else:
            keys = [sort_key(entry, column) for entry in self.entries]
            order = np.array(sorted(range(len(keys)), key=keys.__getitem__), dtype=np.int64)
        with self._lock:
            return self._orders.setdefault(column, order)

    def prepare_sort(self, column: AuditColumn) -> None:
        """Compute `column`'s order now (from a worker thread: nothing here touches Qt)."""
        self.order(column)


def _extends(grown: AuditIndex, base: AuditIndex) -> bool:
    """Whether `grown` is `base` with entries appended (`extended` shares the entry objects: their
    identity says so without comparing 100k entries)."""
    if len(grown) < len(base):
        return False
    return not len(base) or (
        grown.entries[0] is base.entries[0] and grown.entries[len(base) - 1] is base.entries[-1]
    )


class _Builder:
    """Grows an index: the facets of each new entry, as columns (codes shared with the base)."""

    def __init__(self, base: AuditIndex) -> None:
        self.base = base
        self.kinds = {name: code for code, name in enumerate(base.kind_names)}
        self.results = {name: code for code, name in enumerate(base.result_names)}
        self.profiles = {name: code for code, name in enumerate(base.profile_names)}
        self.times: list[float] = []
        self.kind_codes: list[int] = []
        self.result_codes: list[int] = []
        self.profile_codes: list[int] = []
        self.texts: list[str] = []

    def add(self, entry: AuditEntry) -> None:
        """One new entry's time, codes and search text (appended to the columns, in order)."""
        moment = entry_time(entry)
        self.times.append(np.nan if moment is None else moment)
        self.kind_codes.append(self.kinds.setdefault(action_kind(entry.action), len(self.kinds)))
        self.result_codes.append(self.results.setdefault(entry.result, len(self.results)))
        self.profile_codes.append(self.profiles.setdefault(entry.profile, len(self.profiles)))
        self.texts.append(search_text(entry))

    def index(self, more: Sequence[AuditEntry]) -> AuditIndex:
        """The base with `more` appended (each of them `add`ed first)."""
        base, grown = self.base, AuditIndex()
        grown.entries = base.entries + list(more)
        grown.times = np.concatenate([base.times, np.array(self.times, dtype=np.float64)])
        grown.kinds = np.concatenate([base.kinds, np.array(self.kind_codes, dtype=np.int32)])
        grown.results = np.concatenate([base.results, np.array(self.result_codes, dtype=np.int32)])
        grown.profiles = np.concatenate([base.profiles, np.array(self.profile_codes, dtype=np.int32)])
        grown.texts = base.texts + self.texts
        grown.kind_names, grown.result_names = list(self.kinds), list(self.results)  # dicts keep order
        grown.profile_names = list(self.profiles)
        return grown


def sort_key(entry: AuditEntry, column: AuditColumn) -> str:
    """What a text column sorts by: its text, case-folded."""
    if column is AuditColumn.CHANGE:
        return change_summary(entry.before, entry.after).casefold()
    return str(getattr(entry, column.value)).casefold()


# -- how an entry reads ---------------------------------------------------------------------------

_MISSING = object()


def change_summary(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """Before → after in one line: "refresh_token_expiration: 4 → 52; session_…: 5 → 10".

    Values the change left equal are left out (unless nothing changed); a long list reads as its
    length ("500 items"), so a cull batch's user IDs do not flood the cell.
    """
    parts = []
    keys = list(dict.fromkeys([*before, *after]))
    for key in keys:
        old, new = before.get(key, _MISSING), after.get(key, _MISSING)
        if old is _MISSING:
            parts.append(f"{key}: {_short(new)}")
        elif new is _MISSING:
            parts.append(f"{key}: {_short(old)} → —")
        elif old != new:
            parts.append(f"{key}: {_short(old)} → {_short(new)}")
    if not parts and after:  # nothing changed (or no before): say what it is
        parts = [f"{key}: {_short(value)}" for key, value in after.items()]
    text = "; ".join(parts)
    return text if len(text) <= _CELL_CHARS else text[: _CELL_CHARS - 1] + "…"


def _short(value: Any) -> str:
    if isinstance(value, list):
        if len(value) > 3:
            return f"{len(value):,} items"
        text = ", ".join(_short(item) for item in value) or "none"
    elif isinstance(value, Mapping):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    elif isinstance(value, str):
        text = value or '""'
    else:
        text = json.dumps(value, default=str)
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…"


def local_time(entry: AuditEntry) -> str:
    """The entry's time in the local time zone, to the second ("2025-03-01 14:02:07"); the raw text
    when it cannot be read."""
    moment = entry_time(entry)
    if moment is None:
        return entry.time
    return datetime.fromtimestamp(moment).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def cell_text(entry: AuditEntry, column: AuditColumn) -> str:
    """What a cell of `column` shows for `entry`."""
    if column is AuditColumn.TIME:
        return local_time(entry)
    if column is AuditColumn.CHANGE:
        return change_summary(entry.before, entry.after)
    text = str(getattr(entry, column.value))
    return text if len(text) <= _CELL_CHARS else text[: _CELL_CHARS - 1] + "…"


# -- the Qt model ---------------------------------------------------------------------------------


class AuditModel(QAbstractTableModel):
    """The entries of an `AuditIndex` that a query keeps, in the order of one column.

    Attributes:
        audit: the index shown (replace it with `set_index`).
        query: the current filter.
    """

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.audit = AuditIndex()
        self.query = AuditQuery()
        self._sort = AuditColumn.TIME
        self._descending = True  # newest first
        self._rows: Rows = _NO_ROWS
        self._brushes: dict[str, QBrush] = {}

    # ---- Qt model API ---------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(COLUMNS):
            if role == _DISPLAY:
                return COLUMNS[section].heading
            if role == _TOOLTIP:
                if COLUMNS[section] is AuditColumn.TIME:
                    return "When the console wrote the entry (local time; the details give UTC)"
                return f"Sort by {COLUMNS[section].heading.lower()}"
        elif orientation == Qt.Orientation.Vertical and role == _DISPLAY:
            return section + 1
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        return _ROW_FLAGS if index.isValid() else Qt.ItemFlag.NoItemFlags

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        row = int(self._rows[index.row()])
        entry = self.audit.entries[row]
        column = COLUMNS[index.column()]
        if role == _DISPLAY:
            return cell_text(entry, column)
        if role == _FOREGROUND:
            return self._brushes.get(entry.result) if column is AuditColumn.RESULT else None
        if role == _TOOLTIP:
            return self._tooltip(entry, column)
        if role == _ENTRY:
            return entry
        if role == _LOG_ROW:
            return row
        if role == _ACCESSIBLE_TEXT:
            return f"{column.heading}: {cell_text(entry, column)}"
        return None

    def _tooltip(self, entry: AuditEntry, column: AuditColumn) -> str | None:
        if column is AuditColumn.TIME:
            return f"{entry.time} (UTC)"
        shown = cell_text(entry, column)
        full = str(getattr(entry, column.value)) if column is not AuditColumn.CHANGE else shown
        return full if len(shown) > 40 or full != shown else None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort by a column (Qt's API). Cheap once the column's order is prepared (`prepare_sort`)."""
        if not 0 <= column < len(COLUMNS):
            return
        self._sort = COLUMNS[column]
        self._descending = order == Qt.SortOrder.DescendingOrder
        self._relayout()

    # ---- what the page calls --------------------------------------------------------------------
    @property
    def sort_column(self) -> AuditColumn:
        return self._sort

    @property
    def sort_order(self) -> Qt.SortOrder:
        return Qt.SortOrder.DescendingOrder if self._descending else Qt.SortOrder.AscendingOrder

    def set_result_colors(self, colors: Mapping[str, QColor]) -> None:
        """Colours of the Result column per result ("failed" red, say), from the style sheet."""
        self._brushes = {result: QBrush(color) for result, color in colors.items()}
        if len(self._rows):
            column = COLUMNS.index(AuditColumn.RESULT)
            self.dataChanged.emit(
                self.index(0, column),
                self.index(len(self._rows) - 1, column),
                [Qt.ItemDataRole.ForegroundRole],
            )

    def set_index(self, audit: AuditIndex) -> None:
        """Show another index. One that extends the shown one (the log grew) is a relayout that keeps
        the selection; any other (the log was replaced) resets the model."""
        if not _extends(audit, self.audit):
            self.beginResetModel()
            self.audit = audit
            self._rows = self._query()
            self.endResetModel()
            return
        self.audit = audit
        self._relayout()

    def set_query(self, query: AuditQuery) -> None:
        """Show the entries `query` keeps; selected entries still shown stay selected."""
        self.query = query
        self._relayout()

    def sort_ready(self, column: AuditColumn) -> bool:
        return self.audit.sort_ready(column)

    def entry(self, view_row: int) -> AuditEntry:
        return self.audit.entries[int(self._rows[view_row])]

    def log_row(self, view_row: int) -> int:
        """The position in the log of the entry shown at `view_row`."""
        return int(self._rows[view_row])

    def view_row(self, log_row: int) -> int | None:
        """Where the entry at `log_row` of the log is shown; None when it is filtered out."""
        hits = np.flatnonzero(self._rows == log_row)
        return int(hits[0]) if len(hits) else None

    # ---- internals ------------------------------------------------------------------------------
    def _query(self) -> Rows:
        order = self.audit.order(self._sort)
        rows = self.audit.rows(self.query, order)
        return rows[::-1].copy() if self._descending else rows

    def _relayout(self) -> None:
        """Recompute the rows shown; persistent indexes (selection, current) follow their entries."""
        new_rows = self._query()
        if np.array_equal(new_rows, self._rows):
            return
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        if persistent:
            where = np.full(len(self.audit), -1, dtype=np.int64)
            where[new_rows] = np.arange(len(new_rows))
            moved = []
            for index in persistent:
                log_row = int(self._rows[index.row()]) if 0 <= index.row() < len(self._rows) else -1
                row = int(where[log_row]) if 0 <= log_row < len(where) else -1
                moved.append(self.createIndex(row, index.column()) if row >= 0 else QModelIndex())
            self._rows = new_rows
            self.changePersistentIndexList(persistent, moved)
        else:
            self._rows = new_rows
        self.layoutChanged.emit()
