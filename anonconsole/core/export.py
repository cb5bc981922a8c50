"""What an export holds, and its CSV and JSON text, produced a slice at a time.

An export is a table (headings, rows of cell texts: the CSV) and a document (the JSON). Long lists
(200,000 users' rows, a plan's candidates) are `Chunked`: their items are made and encoded a slice
at a time, so the writer (`operations.export`) can report progress, take turns with the window and
stop at Cancel, and no export needs all its rows in memory at once.

A users view's cells are the text the view shows (`UserTable.display`, the Age column of
`core.user_pages`), computed for whole columns at once where the table's arrays allow it, at one
moment (`now`) for every row.

Pure Python + numpy: no Qt, no I/O.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from pathlib import PurePath
from typing import Any

import numpy as np

from anonconsole.core.classify import Kind, classify, format_duration
from anonconsole.core.cull import CullPlan, Exclusion, Stage
from anonconsole.core.user_pages import AnyColumn, ComputedColumn
from anonconsole.core.user_table import NONE, Column, Rows, TableFilter, UserTable, format_time

_MINUTE, _HOUR, _DAY = 60, 3600, 86400
CHUNK = 128  # items made and encoded at a time: ~3 ms for a page of 12 columns, within a CPU turn
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False)  # one encoder: `encode` uses the C one

# A piece of an export's text, and how many of its items (rows, list entries) that piece completes.
Piece = tuple[str, int]


class ExportFormat(StrEnum):
    """The formats an export is written in."""

    CSV = "csv"
    JSON = "json"

    @property
    def suffix(self) -> str:
        return f".{self.value}"

    @property
    def label(self) -> str:
        return self.value.upper()


def format_of(path: PurePath) -> ExportFormat | None:
    """The format a file name asks for by its suffix (".csv", ".json"), None for any other."""
    suffix = path.suffix.lower().removeprefix(".")
    return next((fmt for fmt in ExportFormat if fmt.value == suffix), None)


@dataclass(frozen=True)
class Chunked:
    """A long list whose items are made a slice at a time: `fetch(start, stop)` returns them."""

    count: int
    fetch: Callable[[int, int], Sequence[Any]]

    @classmethod
    def of(cls, items: Sequence[Any]) -> Chunked:
        return cls(len(items), lambda start, stop: items[start:stop])


@dataclass(frozen=True)
class Export:
    """One thing to export.

    Attributes:
        name: a file name stem to suggest ("users-anonymous", "cull-plan-…").
        headings: the CSV's header row.
        rows: the CSV's rows, each a sequence of cell texts in the order of `headings`.
        document: builds the JSON document (a mapping; its `Chunked` values and long lists are
            streamed). Called once per JSON export, so a CSV export never builds it.
    """

    name: str
    headings: tuple[str, ...]
    rows: Chunked
    document: Callable[[], Mapping[str, Any]]


class RowsChanged(Exception):
    """The table no longer holds the users an export started with (it was cleared and filled again,
    for another connection): the export stops rather than mix two projects' users in one file. The
    message is a sentence for the person."""


@dataclass
class Encoded:
    """An export's text in pieces: `total` items in all, each piece saying how many it completes."""

    total: int
    pieces: Iterator[Piece]


def encode(export: Export, fmt: ExportFormat, *, chunk: int = CHUNK) -> Encoded:
    """The text of `export` in `fmt`, as pieces made one after the other (lazily)."""
    if fmt is ExportFormat.CSV:
        return Encoded(export.rows.count, _csv_pieces(export.headings, export.rows, chunk))
    document = export.document()
    return Encoded(_streamed_items(document, chunk), _document_pieces(document, chunk))


# ---- CSV ----------------------------------------------------------------------------------------


def _csv_pieces(headings: Sequence[str], rows: Chunked, chunk: int) -> Iterator[Piece]:
    """RFC 4180 (the csv module's excel dialect: CRLF, quotes only where needed), UTF-8 without BOM."""
    yield _csv_text([headings]), 0
    for start in range(0, rows.count, chunk):
        part = rows.fetch(start, min(rows.count, start + chunk))
        yield _csv_text(part), len(part)


def _csv_text(rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


# ---- JSON ---------------------------------------------------------------------------------------


def _long(value: Any, chunk: int) -> bool:
    """Whether `value` is written a slice at a time (a `Chunked`, or a list longer than a chunk)."""
    return isinstance(value, Chunked) or (isinstance(value, list | tuple) and len(value) > chunk)


def _holds_long(value: Any, chunk: int) -> bool:
    if _long(value, chunk):
        return True
    return isinstance(value, Mapping) and any(_holds_long(item, chunk) for item in value.values())


def _streamed_items(value: Any, chunk: int) -> int:
    """How many items the long lists in `value` hold (what the pieces' counts add up to)."""
    if isinstance(value, Chunked):
        return value.count
    if _long(value, chunk):
        return len(value)
    if isinstance(value, Mapping):
        return sum(_streamed_items(item, chunk) for item in value.values())
    return 0


def _document_pieces(document: Mapping[str, Any], chunk: int) -> Iterator[Piece]:
    """The document as JSON: one top-level key a line, each item of a long list on a line of its own
    (readable, and tools that read a line at a time can), the rest compact."""
    yield from _mapping_pieces(document, chunk)
    yield "\n", 0


def _json_pieces(value: Any, chunk: int) -> Iterator[Piece]:
    if isinstance(value, Chunked):
        yield from _list_pieces(value, chunk)
    elif _long(value, chunk):
        yield from _list_pieces(Chunked.of(value), chunk)
    elif isinstance(value, Mapping) and _holds_long(value, chunk):
        yield from _mapping_pieces(value, chunk)
    else:
        yield _JSON.encode(value), 0


def _mapping_pieces(value: Mapping[str, Any], chunk: int) -> Iterator[Piece]:
    yield "{", 0
    for index, (key, item) in enumerate(value.items()):
        yield ("\n" if index == 0 else ",\n") + _JSON.encode(str(key)) + ": ", 0
        yield from _json_pieces(item, chunk)
    yield "\n}" if value else "}", 0


def _list_pieces(items: Chunked, chunk: int) -> Iterator[Piece]:
    if not items.count:
        yield "[]", 0
        return
    for start in range(0, items.count, chunk):
        part = items.fetch(start, min(items.count, start + chunk))
        text = ",\n".join(map(_JSON.encode, part))
        yield ("[\n" if start == 0 else ",\n") + text, len(part)
    yield "\n]", 0


def iso_time(epoch_seconds: int) -> str:
    """UTC time, to the second, as JSON documents carry it ("2026-01-31T12:00:00Z")."""
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- a users view ---------------------------------------------------------------------------------


def users_export(
    table: UserTable,
    rows: Rows,
    columns: Sequence[AnyColumn],
    *,
    now: int,
    page: str | None = None,
    spec: TableFilter | None = None,
    sort: AnyColumn | None = None,
    descending: bool = False,
    about: Mapping[str, str] | None = None,
) -> Export:
    """The rows of a users view (table rows, in view order) with its columns, as the view shows them
    at `now`.

    `page`, `spec`, `sort` and `about` (e.g. profile, project ID) only describe the view in the
    JSON; the rows and columns are what is written.
    """
    if not columns:
        raise ValueError("An export needs at least one column.")
    rows = np.array(rows, dtype=np.int64)  # a copy: the caller's view may change meanwhile
    columns = tuple(columns)
    keys = tuple(column.value for column in columns)
    texts = CellTexts(table, now)
    user_ids = table.user_ids(rows)  # who the rows are now: each slice checks they still are

    def fetch(start: int, stop: int) -> list[tuple[str, ...]]:
        part = rows[start:stop]
        if len(part) and (int(part.max()) >= len(table) or table.user_ids(part) != user_ids[start:stop]):
            raise RowsChanged(
                "The users were replaced while they were being exported (another connection was "
                "opened): nothing was written. Export again."
            )
        return texts.rows(part, columns)

    def records(start: int, stop: int) -> list[dict[str, str]]:
        return [dict(zip(keys, row, strict=True)) for row in fetch(start, stop)]

    def document() -> dict[str, Any]:
        return {
            "export": "users",
            "view": page,
            **(about or {}),
            "exportedAt": iso_time(now),
            "now": now,
            "filter": filter_json(spec or TableFilter()),
            "sort": None if sort is None else {"column": sort.value, "descending": descending},
            "columns": [{"key": column.value, "heading": column.heading} for column in columns],
            "count": len(rows),
            "rows": Chunked(len(rows), records),
        }

    name = f"users-{page}" if page else "users"
    return Export(name, tuple(column.heading for column in columns), Chunked(len(rows), fetch), document)


def filter_json(spec: TableFilter) -> dict[str, Any]:
    """A view's filter as the JSON export describes it: every field, camelCase (the rows it may be
    restricted to are not listed, only how many)."""
    described: dict[str, Any] = {}
    for item in fields(spec):
        value = getattr(spec, item.name)
        if isinstance(value, Kind):
            value = value.value
        elif isinstance(value, frozenset):
            value = sorted(value)
        elif isinstance(value, np.ndarray):
            value = len(value)
        described["search" if item.name == "text" else _camel(item.name)] = value
    return described


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def cells(table: UserTable, rows: Rows, columns: Sequence[AnyColumn], now: int) -> list[tuple[str, ...]]:
    """The cell texts of `rows` (table rows) in `columns`, as a view shows them at `now`."""
    return CellTexts(table, now).rows(rows, columns)


class CellTexts:
    """The cell texts of a table's rows at one moment, as the views show them.

    Time columns are computed over the table's arrays at once (the rules of `UserTable` and
    `classify`, on columns: tests hold them equal to `display` cell by cell), the others a cell at a
    time from `display`, which is cheap for them. The whole-table arrays they need are read once,
    so an export's slices each cost only their own rows.
    """

    def __init__(self, table: UserTable, now: int) -> None:
        self.table = table
        self.now = now
        self._durations: dict[int, str] = {}  # duration texts made so far (see `durations`)

    def rows(self, rows: Rows, columns: Sequence[AnyColumn]) -> list[tuple[str, ...]]:
        return list(zip(*(self.column(rows, column) for column in columns), strict=True))

    def column(self, rows: Rows, column: AnyColumn) -> list[str]:
        """One column's texts for `rows`: `UserTable.display`'s (and the Age column's)."""
        table = self.table
        match column:
            case ComputedColumn.AGE:
                return self._ages(rows)
            case Column.USER_ID:
                return table.user_ids(rows)
            case Column.CREATED:
                return _times(self._created[rows], never="")
            case Column.LAST_SIGN_IN:
                return _times(self._last_sign_in[rows], never="never")
            case Column.EXPIRES:
                return self._expiries(rows)
            case Column.KIND:
                return self._kind_labels[rows].tolist()  # type: ignore[no-any-return]
            case Column.STATUS:
                return table.statuses(rows)
            case Column.TENANTS:
                return self._tenants(rows)
            case Column.REASON:
                policy, now = table.policy, self.now
                return [
                    classify(table.user(row), policy, last_sign_in=table.last_sign_in(row), now=now).reason
                    for row in rows.tolist()
                ]
        return [table.display(row, column) for row in rows.tolist()]

    def _tenants(self, rows: Rows) -> list[str]:
        """The Tenants column, its text made once per distinct membership (most users share one)."""
        distinct, where = self.table.distinct_memberships(rows)
        first = np.zeros(len(distinct), dtype=np.int64)
        first[where[::-1]] = rows[::-1]  # for each membership, a row that has it
        texts = np.array([self.table.display(row, Column.TENANTS) for row in first.tolist()], dtype=object)
        return texts[where].tolist()  # type: ignore[no-any-return]

    @cached_property
    def _created(self) -> np.ndarray:
        return self.table.created_times()

    @cached_property
    def _last_sign_in(self) -> np.ndarray:
        return self.table.last_sign_ins()

    @cached_property
    def _expires(self) -> np.ndarray:
        return self.table.expiry_times()

    @cached_property
    def _anonymous(self) -> np.ndarray:
        return self.table.kind_mask(Kind.ANONYMOUS)

    @cached_property
    def _last_active(self) -> np.ndarray:
        """The last sign-in, else the creation: what an anonymous user's age and expiry count from."""
        return self.table.last_active()

    @cached_property
    def _kind_labels(self) -> np.ndarray:
        labels = np.empty(len(self.table), dtype=object)
        for kind in Kind:
            labels[self.table.kind_mask(kind)] = kind.label
        return labels

    def _ages(self, rows: Rows) -> list[str]:
        """The Age column: since the last activity, for anonymous users only (`classify`'s age)."""
        ages = np.maximum(0, self.now - self._last_active[rows])
        texts = durations(ages, self._durations)
        return [
            text if anonymous else ""
            for text, anonymous in zip(texts, self._anonymous[rows].tolist(), strict=True)
        ]

    def _expiries(self, rows: Rows) -> list[str]:
        """`UserTable.expiry_text` for whole arrays: when a refresh token expires (or did), from the
        expiry the table keeps; blank for users without one (not anonymous, no known lifetime)."""
        expires = self._expires[rows]
        known = expires != NONE
        left = np.where(known, expires - self.now, 0)
        ahead = durations(left, self._durations)
        ago = durations(-left, self._durations)
        return [
            "" if not has else f"in {a}" if seconds >= 0 else f"expired {b} ago"
            for has, seconds, a, b in zip(known.tolist(), left.tolist(), ahead, ago, strict=True)
        ]


def _times(values: np.ndarray, *, never: str) -> list[str]:
    """`format_time` for whole arrays: "YYYY-MM-DD HH:MM" UTC, "" for 0, `never` for `NONE`."""
    known = (values != NONE) & (values != 0)
    stamps = np.datetime_as_string(np.where(known, values, 0).astype("datetime64[s]"), unit="m")
    blank = np.where(values == NONE, never, "").tolist()
    texts = zip(stamps.tolist(), known.tolist(), blank, strict=True)
    return [text.replace("T", " ") if ok else other for text, ok, other in texts]


def durations(seconds: np.ndarray, known: dict[int, str] | None = None) -> list[str]:
    """`format_duration` of each value, computed once per distinct text (not once per value).

    `format_duration` reads only the unit it shows (whole days from a day up, whole hours, whole
    minutes, seconds), so values are first rounded down to that unit; 200,000 ages then share a
    few thousand distinct values. `known` keeps the texts made from one call to the next.
    """
    values = np.maximum(0, seconds.astype(np.int64))
    unit = np.select([values >= _DAY, values >= _HOUR, values >= _MINUTE], [_DAY, _HOUR, _MINUTE], 1)
    distinct, where = np.unique(values - values % unit, return_inverse=True)
    known = {} if known is None else known
    for value in distinct.tolist():
        if value not in known:
            known[value] = format_duration(value)
    texts = np.array([known[value] for value in distinct.tolist()], dtype=object)
    return texts[where.reshape(-1)].tolist()  # type: ignore[no-any-return]


# ---- a cull plan ----------------------------------------------------------------------------------

PLAN_HEADINGS = (
    "User ID",
    "Login ID",
    "Decision",
    "Reason",
    "Created",
    "Last sign-in",
    "Last active",
    "Age",
)
_DECISION = {Stage.DELETE: "delete", Stage.DISABLE: "disable", Stage.DELETE_DISABLED: "delete"}


def plan_export(plan: CullPlan) -> Export:
    """A cull plan: its JSON is the plan itself (`CullPlan.to_json`, what `anonconsole cull
    --approve` reads); its CSV lists each candidate with the decision, then each user kept, why."""
    kept = [(user_id, reason) for reason in Exclusion for user_id in plan.exclusions.get(reason, ())]
    candidates = plan.candidates
    decision = _DECISION[plan.stage]

    def fetch(start: int, stop: int) -> list[tuple[str, ...]]:
        out: list[tuple[str, ...]] = []
        for index in range(start, stop):
            if index < len(candidates):
                c = candidates[index]
                last = "never" if c.last_sign_in is None else format_time(c.last_sign_in)
                out.append(
                    (
                        c.user_id,
                        c.login_id,
                        decision,
                        "",
                        format_time(c.created_time),
                        last,
                        format_time(c.last_active),
                        format_duration(c.age_seconds),
                    )
                )
            else:
                user_id, reason = kept[index - len(candidates)]
                out.append((user_id, "", "keep", reason.reason, "", "", "", ""))
        return out

    digest = plan.plan_hash.removeprefix("sha256:")[:12]
    return Export(
        f"cull-plan-{plan.project_id}-{digest}",
        PLAN_HEADINGS,
        Chunked(len(candidates) + len(kept), fetch),
        plan.to_json,
    )
