"""All users of a connection in columns, filtered and sorted by computing index arrays (numpy).

Why not QSortFilterProxyModel: it calls back into Python per row and per comparison, which takes
seconds at 100k users. Here a filter is a handful of vectorised comparisons producing a mask (the
text search scans a column-major `Haystack`), and a sort is a kept permutation of the whole table
intersected with that mask (`perm[mask[perm]]`): a filter + sort of 1,000,000 rows is tens of ms.
Kept orders follow the table: new rows are merged in, changed rows moved, instead of sorting anew.
Text sort keys are not stored per row (140 bytes a user at 1,000,000): a kept order holds its keys
in order, and a first sort computes them from the fields. Pure Python + numpy: no Qt, no I/O.

Rows are only ever appended (pages arriving) or updated in place (last sign-ins arriving, a refresh),
so a row number is stable for the life of the table; views map their rows to table rows through the
index array returned by `query`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from anonconsole.core.classify import (
    AnonymousPolicy,
    Classification,
    Kind,
    classify,
    format_duration,
    kind_of,
)
from anonconsole.core.haystack import Haystack
from anonconsole.core.records import EMPTY_MAPPING, TestUsers, User, UserTenant
from anonconsole.core.slices import mapped
from anonconsole.core.user_index import UserIndex

NONE = np.iinfo(np.int64).min  # "no value" in int64 columns (never signed in, no expiry known)
KIND_CODES: tuple[Kind, ...] = tuple(Kind)
_KIND_CODE = {kind: code for code, kind in enumerate(KIND_CODES)}
STATUS_CODES: tuple[str, ...] = ("enabled", "invited", "disabled", "expired", "")
_SEPARATOR = "\x1f"  # between searchable fields, so a query cannot match across two of them

Rows = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]


class Column(StrEnum):
    """The columns a users table can show; each view picks the ones that fit it."""

    USER_ID = "user_id"
    LOGIN_IDS = "login_ids"
    NAME = "name"
    EMAIL = "email"
    PHONE = "phone"
    STATUS = "status"
    TENANTS = "tenants"
    CREATED = "created"
    LAST_SIGN_IN = "last_sign_in"
    EXPIRES = "expires"
    KIND = "kind"
    REASON = "reason"

    @property
    def heading(self) -> str:
        """The column's title in a table header (not `title`: that is `str.title`)."""
        return _TITLES[self]


_TITLES = {
    Column.USER_ID: "User ID",
    Column.LOGIN_IDS: "Login IDs",
    Column.NAME: "Name",
    Column.EMAIL: "Email",
    Column.PHONE: "Phone",
    Column.STATUS: "Status",
    Column.TENANTS: "Tenants",
    Column.CREATED: "Created",
    Column.LAST_SIGN_IN: "Last sign-in",
    Column.EXPIRES: "Expires in / expired for",
    Column.KIND: "Kind",
    Column.REASON: "Reason",
}

# Columns whose sort key is a number already kept in an int64 array.
_NUMERIC = {Column.CREATED, Column.LAST_SIGN_IN, Column.EXPIRES, Column.KIND, Column.STATUS}
# Text columns sorted by their lowercase UTF-8 text: the field each shows, and whether most rows share
# a few values of it (then each distinct value's key is made once).
_TEXT_FIELDS = {
    Column.USER_ID: ("user_id", False),
    Column.LOGIN_IDS: ("login_ids", False),
    Column.NAME: ("name", True),
    Column.EMAIL: ("email", True),
    Column.PHONE: ("phone", True),
    Column.TENANTS: ("tenants", True),
}
SORT_CACHE_SIZE = 2  # sorted orders kept up to date (the columns views were sorted by most recently)
# New rows wait outside a kept order until it is read or this many wait: a merge copies the whole
# order (~5-25 ms at 1,000,000 rows), so it is done once per views' update, not once per chunk.
SORT_MERGE_AT = 8192


@dataclass(frozen=True)
class TableFilter:
    """What a view shows. Empty fields filter nothing.

    Attributes:
        kind: only users of this kind (None: all kinds).
        text: case-insensitive substring of user ID, login IDs, name, email or phone.
        statuses: only these statuses.
        created_from / created_to: creation time bounds, epoch seconds, inclusive.
        expired: True only expired anonymous users, False only those not expired, None both.
        test_users: exclude (default), include or only test users.
        rows: only these table rows (None: any row), e.g. a cull plan's candidates. Kept as a
            read-only array of distinct rows; not compared (an array has no single truth value),
            so two filters that differ only in `rows` are equal.
        active_from / active_to: last activity bounds (the last sign-in, else the creation: the
            rule ages count from), epoch seconds, inclusive: the users of one bar of the
            lifecycle's ages histogram.
        expires_from / expires_to: refresh-token expiry bounds (`UserTable.expiry_times`), epoch
            seconds, inclusive; a user without a known expiry never matches them: the users of one
            bar of the lifecycle's expirations chart.
    """

    kind: Kind | None = None
    text: str = ""
    statuses: frozenset[str] = frozenset()
    created_from: int | None = None
    created_to: int | None = None
    expired: bool | None = None
    test_users: TestUsers = "exclude"
    rows: Rows | None = field(default=None, compare=False)
    active_from: int | None = None
    active_to: int | None = None
    expires_from: int | None = None
    expires_to: int | None = None

    def __post_init__(self) -> None:
        if self.rows is not None:
            rows = np.unique(np.asarray(self.rows, dtype=np.int64))  # a copy: the caller's may change
            if len(rows) and rows[0] < 0:
                raise ValueError("A table row number cannot be negative.")
            rows.flags.writeable = False
            object.__setattr__(self, "rows", rows)


@dataclass
class _Growable:
    """A numpy column with amortised O(1) appends; a bytes column also widens to its longest value.

    An `object` column holds Python values (strings, tuples) without the garbage collector seeing
    them: numpy arrays are not tracked, unlike lists, whose every item a full collection visits.
    """

    dtype: npt.DTypeLike
    data: np.ndarray = field(init=False)
    size: int = 0
    wanted: int = 0  # the capacity to grow to when it next grows (see `want`)

    def __post_init__(self) -> None:
        self.data = np.zeros(1024, dtype=self.dtype)

    def reserve(self, capacity: int) -> None:
        """Make room for `capacity` rows in one allocation (the loader knows the total up front)."""
        self.wanted = max(self.wanted, capacity)
        if capacity > len(self.data):
            self._resize(capacity, self.data.dtype)

    def want(self, capacity: int) -> None:
        """Grow straight to `capacity` rows when it next has to grow (`reserve` does it now)."""
        self.wanted = max(self.wanted, capacity)

    @property
    def short(self) -> bool:
        """Whether it holds less room than it was asked to (`want`)."""
        return len(self.data) < self.wanted

    def extend(self, values: Sequence[Any] | np.ndarray) -> None:
        if self.data.dtype.kind == "O":  # one element per value, a tuple included
            values = np.fromiter(values, object, len(values))
        else:
            values = np.asarray(values, dtype=self.data.dtype if self.data.dtype.kind != "S" else None)
        needed = self.size + len(values)
        dtype = self._dtype_for(values)
        if needed > len(self.data) or dtype != self.data.dtype:
            # Grow by half: amortised O(1) with less slack than doubling (memory at 100k users).
            grown = max(needed, self.wanted, len(self.data) * 3 // 2)
            capacity = len(self.data) if needed <= len(self.data) else grown
            self._resize(capacity, dtype)
        self.data[self.size : needed] = values
        self.size = needed

    def set(self, row: int, value: object) -> None:
        if self.data.dtype.kind == "O":
            self.data[row] = value
            return
        value = np.asarray(value, dtype=None if self.data.dtype.kind == "S" else self.data.dtype)
        dtype = self._dtype_for(value)
        if dtype != self.data.dtype:
            self._resize(len(self.data), dtype)
        self.data[row] = value

    def _dtype_for(self, values: np.ndarray) -> np.dtype:
        if self.data.dtype.kind == "S" and values.dtype.itemsize > self.data.dtype.itemsize:
            # Wider by a margin: each widening copies the column, so it should be rare.
            return np.dtype(f"S{values.dtype.itemsize + values.dtype.itemsize // 4}")
        return self.data.dtype

    def _resize(self, capacity: int, dtype: np.dtype) -> None:
        # An object column is filled with None by `empty` (`zeros` stores an int in every slot).
        grown = np.empty(capacity, dtype=dtype) if dtype.kind == "O" else np.zeros(capacity, dtype=dtype)
        grown[: self.size] = self.data[: self.size]
        self.data = grown

    @property
    def view(self) -> np.ndarray:
        return self.data[: self.size]


# A user's fields that are empty for nearly everyone, kept together; most rows share `_PLAIN`.
_Rest = tuple[str, str, str, tuple[str, ...], str, Mapping[str, object]]
_PLAIN: _Rest = ("", "", "", (), "", EMPTY_MAPPING)
PLAIN_REST = _PLAIN  # the `rest` field most rows share (see `TableColumns.fields`)


@dataclass
class _Fields:
    """A page of users' fields as parallel lists: no object per user (the table stores them as
    `_StoredFields`).

    100k `User` objects cost ~18 MB and give the cyclic garbage collector 100k more objects to walk
    in every full collection (100+ ms each, on the UI thread); `UserTable.user` builds a `User`
    when asked.
    """

    user_id: list[str] = field(default_factory=list)
    login_ids: list[str | tuple[str, ...]] = field(default_factory=list)  # one login ID: the string
    name: list[str] = field(default_factory=list)
    email: list[str] = field(default_factory=list)
    phone: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    tenants: list[tuple[UserTenant, ...]] = field(default_factory=list)
    rest: list[_Rest] = field(default_factory=list)

    @classmethod
    def of(cls, users: Sequence[User]) -> _Fields:
        rest = (
            (u.given_name, u.middle_name, u.family_name, u.role_names, u.picture, u.custom_attributes)
            for u in users
        )
        return cls(
            user_id=[u.user_id for u in users],
            login_ids=[u.login_ids[0] if len(u.login_ids) == 1 else u.login_ids for u in users],
            name=[u.name for u in users],
            email=[u.email for u in users],
            phone=[u.phone for u in users],
            status=[u.status for u in users],
            tenants=[u.tenants for u in users],
            rest=[_PLAIN if r == _PLAIN else r for r in rest],
        )


_FIELD_NAMES = tuple(f.name for f in fields(_Fields))


class _StoredFields:
    """The table's fields: one `object` column per `_Fields` list, out of the collector's sight.

    As lists, 100k users' fields are 800k references that every full collection visits: ~30 ms
    with the UI thread blocked, whenever one happens. Read a row as `fields.name.data[row]`.
    """

    def __init__(self) -> None:
        self.user_id = _Growable(object)
        self.login_ids = _Growable(object)
        self.name = _Growable(object)
        self.email = _Growable(object)
        self.phone = _Growable(object)
        self.status = _Growable(object)
        self.tenants = _Growable(object)
        self.rest = _Growable(object)
        assert tuple(vars(self)) == _FIELD_NAMES

    def __len__(self) -> int:
        return self.user_id.size

    def reserve(self, capacity: int) -> None:
        """Room for `capacity` rows, made one column per `reserve_step` (each fills ~8 MB of
        references at 1,000,000 rows: all eight at once stalled the first page's turn ~60 ms)."""
        for name in _FIELD_NAMES:
            getattr(self, name).want(capacity)

    def reserve_step(self) -> None:
        """Make the room one column was asked for (see `reserve`); nothing once all have it."""
        for name in _FIELD_NAMES:
            column: _Growable = getattr(self, name)
            if column.short:
                column.reserve(column.wanted)
                return

    def extend(self, page: _Fields, positions: Sequence[int] | None) -> None:
        """Append the page's rows (all, or those at `positions`)."""
        for name in _FIELD_NAMES:
            theirs = getattr(page, name)
            getattr(self, name).extend(theirs if positions is None else [theirs[i] for i in positions])


# The numeric columns of a table, as `TableColumns.numbers` names them, with their types.
NUMBER_TYPES: Mapping[str, type[np.generic]] = {
    "kind": np.int8,
    "status": np.int8,
    "test": np.bool_,
    "created": np.int64,
    "verified_email": np.bool_,
    "verified_phone": np.bool_,
    "has_password": np.bool_,
    "last_sign_in": np.int64,
    "expires": np.int64,
    "gone": np.bool_,
}
FIELD_NAMES = _FIELD_NAMES


@dataclass(frozen=True)
class TableColumns:
    """A table's rows as it holds them: what `UserTable.columns` gives (to save) and
    `UserTable.restore` takes back (a snapshot read off the UI thread).

    Arrays may be longer than `size` (room for rows to come); what lies past `size` means nothing.

    Attributes:
        size: the number of rows.
        tenant_id: the anonymous tenant the kinds were computed for.
        fields: per `FIELD_NAMES`, an object array: user IDs; login IDs (a string when one, else a
            tuple); name, email, phone, status (strings); tenants (tuples of `UserTenant`); the
            rest (given, middle and family name, role names, picture, custom attributes).
        numbers: per `NUMBER_TYPES`, an array of that type (kind and status codes, flags, times).
        haystack: the rows' search texts.
        index: user ID -> row (made where the columns are, off the UI thread); None: the table
            makes it later (`UserTable.index_to_make`, or on first use).
        expiries_for: the policy the expiries were computed for (`with_expiries`); `restore`
            computes them again unless it is the table's.
    """

    size: int
    tenant_id: str
    fields: Mapping[str, np.ndarray]
    numbers: Mapping[str, np.ndarray]
    haystack: Haystack
    index: UserIndex | None = None
    expiries_for: AnonymousPolicy | None = None

    def copy(self) -> TableColumns:
        """Columns of their own (`UserTable.columns` gives views; `restore` adopts what it is given)."""
        size = self.size
        return TableColumns(
            size=size,
            tenant_id=self.tenant_id,
            fields={name: values[:size].copy() for name, values in self.fields.items()},
            numbers={name: values[:size].copy() for name, values in self.numbers.items()},
            haystack=Haystack.of_matrix(self.haystack.matrix()),
        )


@dataclass(frozen=True)
class PreparedUsers:
    """A page of users turned into column values, ready for `UserTable.upsert`.

    Built by `UserTable.prepare`, which is pure: the loader runs it in short CPU turns, a chunk of a
    page at a time, then `upsert` only appends finished lists and arrays.

    Attributes:
        tenant_id: the anonymous tenant the kinds were computed for (if the policy changed since,
            `upsert` computes them again).
        fields: the users' text fields.
        arrays: the numeric columns, by `UserTable` column name.
    """

    tenant_id: str
    fields: _Fields
    arrays: Mapping[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.fields.user_id)


@dataclass(frozen=True)
class Upserted:
    """What `UserTable.upsert_page` did with a page.

    Attributes:
        new: the rows added.
        found: the rows of users the table held already (all of them: a load counts them as seen).
        changed: those of `found` whose values changed, or that were hidden: what views redraw.
    """

    new: range
    found: Rows
    changed: Rows


class UserTable:
    """The users of one connection, classified, with vectorised filter and sort.

    Attributes:
        policy: what makes a user anonymous and how long it lives (changing it reclassifies).
    """

    def __init__(self, policy: AnonymousPolicy, now: Callable[[], float]) -> None:
        self.policy = policy
        self._now = now
        self.clear()

    # ---- building -------------------------------------------------------------------------------
    def clear(self) -> None:
        self._fields = _StoredFields()
        self._made_index: UserIndex | None = UserIndex(self._user_id_column)  # None: not made yet
        # Columns a page brings (see `prepare`) ...
        self._kind = _Growable(np.int8)
        self._status = _Growable(np.int8)
        self._test = _Growable(np.bool_)
        self._created = _Growable(np.int64)
        self._verified_email = _Growable(np.bool_)
        self._verified_phone = _Growable(np.bool_)
        self._has_password = _Growable(np.bool_)
        self._haystack = Haystack()  # what the text search looks in (see `_searchable`)
        # ... and columns the table fills in.
        self._last_sign_in = _Growable(np.int64)
        self._expires = _Growable(np.int64)
        self._gone = _Growable(np.bool_)
        self._sort_cache: dict[Column, tuple[Rows, np.ndarray]] = {}  # (order, keys in that order)
        # Users by kind × test user × hidden (see `counts`); None: to count again from the columns.
        self._tally: npt.NDArray[np.intp] | None = None
        self._version = getattr(self, "_version", -1) + 1  # never back: see `prepare_sort`

    def _user_id_column(self) -> np.ndarray:
        """The user IDs by row (what the index checks a found row against)."""
        return self._fields.user_id.data

    @property
    def _arrays(self) -> dict[str, _Growable]:
        """The numeric columns a page brings, by the names `prepare` uses (its "haystack" goes to the
        `Haystack`)."""
        return {
            "kind": self._kind,
            "status": self._status,
            "test": self._test,
            "created": self._created,
            "verified_email": self._verified_email,
            "verified_phone": self._verified_phone,
            "has_password": self._has_password,
        }

    def __len__(self) -> int:
        return len(self._fields)

    @property
    def version(self) -> int:
        """Moves on with every change of the rows (a reader off the UI thread compares it)."""
        return self._version

    def columns(self) -> TableColumns:
        """The rows as the table holds them, as views (not copies): read them while the table does
        not change, e.g. in a worker thread that checks `version` before and after."""
        size = len(self)
        return TableColumns(
            size=size,
            tenant_id=self.policy.tenant_id,
            fields={name: getattr(self._fields, name).view for name in FIELD_NAMES},
            numbers={
                **{name: column.view for name, column in self._arrays.items()},
                "last_sign_in": self._last_sign_in.view,
                "expires": self._expires.view,
                "gone": self._gone.view,
            },
            haystack=self._haystack,
        )

    def restore(self, columns: TableColumns) -> None:
        """Replace every row with `columns` (a snapshot read back), adopting its arrays, not copying
        them (they are the table's from now on: `TableColumns.copy` another table's): no object per
        user is made here, a few ms at 1,000,000 rows.

        Kinds are taken as stored unless the anonymous tenant changed since (then every row is
        classified again); expiries are computed again for the current lifetime and grace.
        """
        missing = {*FIELD_NAMES, *NUMBER_TYPES} - {*columns.fields, *columns.numbers}
        if missing:
            raise ValueError(f"Table columns without {', '.join(sorted(missing))}.")
        size = columns.size
        self.clear()
        for name in FIELD_NAMES:
            _adopt(getattr(self._fields, name), columns.fields[name], size)
        adopted = {**self._arrays, "last_sign_in": self._last_sign_in, "expires": self._expires}
        for name, column in {**adopted, "gone": self._gone}.items():
            _adopt(column, columns.numbers[name].astype(NUMBER_TYPES[name], copy=False), size)
        self._haystack = columns.haystack
        self._made_index = columns.index  # None: made by `index_to_make`, or on first use
        if columns.index is not None:
            columns.index.bind(self._user_id_column)
        everyone = np.arange(size, dtype=np.int64)
        if columns.tenant_id != self.policy.tenant_id:
            self._reclassify(everyone)
        elif columns.expiries_for != self.policy:
            self._update_expiry(everyone)
        self._tally = None
        self._version += 1

    def _index(self) -> UserIndex:
        """User ID -> row; made now (~150 ms at 1,000,000 rows) if a restore left it unmade and
        `index_to_make` has not made it yet."""
        if self._made_index is None:
            self._made_index = UserIndex.of(self._fields.user_id.view[: len(self)], self._user_id_column)
        return self._made_index

    def index_to_make(self) -> Callable[[], UserIndex] | None:
        """A restore leaves the user ID index unmade, so that the rows show before it is (a read
        snapshot's users at once): then a function making it from the rows as they are now, for a
        worker thread (it only reads their IDs, which never change), to hand to `adopt_index`.
        None once it is made."""
        if self._made_index is not None:
            return None
        ids = self._fields.user_id.view[: len(self)]
        return lambda: UserIndex.of(ids, lambda: ids)

    def adopt_index(self, index: UserIndex) -> None:
        """Take `index` (from `index_to_make`) unless one was made meanwhile (rows were looked up or
        added: that one is as good, and newer)."""
        if self._made_index is None and len(index) == len(self):
            index.bind(self._user_id_column)
            self._made_index = index

    def reserve(self, total: int) -> None:
        """Allocate every column for `total` users at once (no regrowth while pages arrive), with 2%
        to spare: the first users created after a load of 1,000,000 would otherwise make every
        column grow, a copy of ~250 MB on the UI thread."""
        capacity = total + total // 50
        for column in (*self._arrays.values(), self._last_sign_in, self._expires, self._gone):
            column.reserve(capacity)
        self._fields.reserve(capacity)
        self._haystack.reserve(capacity)

    def prepare(self, users: Iterable[User]) -> PreparedUsers:
        """Compute a page's column values (kinds, search texts, ...) without touching the table.

        Pure and thread-safe: it reads only the policy's tenant ID.
        """
        page = list(users)
        tenant_id = self.policy.tenant_id
        count = len(page)

        def column(values: Iterable[object], dtype: npt.DTypeLike) -> np.ndarray:
            return np.fromiter(values, dtype, count)

        arrays = {
            "kind": column((_KIND_CODE[kind_of(u, tenant_id)] for u in page), np.int8),
            "status": column((_status_code(u.status) for u in page), np.int8),
            "test": column((u.test for u in page), np.bool_),
            "created": column((u.created_time for u in page), np.int64),
            "verified_email": column((u.verified_email for u in page), np.bool_),
            "verified_phone": column((u.verified_phone for u in page), np.bool_),
            "has_password": column((u.has_password for u in page), np.bool_),
            "haystack": np.array([_searchable(u) for u in page], dtype=bytes),
        }
        return PreparedUsers(tenant_id, _Fields.of(page), arrays)

    def append(self, users: Iterable[User] | PreparedUsers) -> range:
        """Add users (a page as it arrives); a user already present is updated in place instead.

        Returns the range of new rows; updated rows are reported by `upsert`.
        """
        return self.upsert(users)[0]

    def upsert(self, users: Iterable[User] | PreparedUsers) -> tuple[range, Rows]:
        """Add new users and update known ones. Returns (new rows, the known rows found again).

        Given a `PreparedUsers`, this is only list and array copies (see `upsert_page`).
        """
        done = self.upsert_page(users)
        return done.new, done.found

    def upsert_page(self, users: Iterable[User] | PreparedUsers) -> Upserted:
        """Add new users and update known ones; says which known rows actually changed.

        A reload finds nearly every user as it was: those rows are compared column by column (a few
        vectorised comparisons a page) and left alone, so neither the table nor the views redo
        anything for them (at 1,000,000 users a reload rewrote each row and redrew every view).
        """
        page = users if isinstance(users, PreparedUsers) else self.prepare(users)
        self._fields.reserve_step()
        first = len(self)
        fresh: list[int] = []  # positions in the page
        updated: dict[int, int] = {}  # table row: position in the page
        known = self._index().rows(page.fields.user_id).tolist()
        new_ids: dict[str, int] = {}  # new user ID: its row
        for position, (user_id, row) in enumerate(zip(page.fields.user_id, known, strict=True)):
            if row >= 0:
                updated[row] = position
            elif user_id in new_ids:  # twice in one page: the later copy wins
                fresh[new_ids[user_id] - first] = position
            else:
                new_ids[user_id] = first + len(fresh)
                fresh.append(position)
        found = np.fromiter(updated, np.int64, len(updated))
        positions = np.fromiter(updated.values(), np.int64, len(updated))
        differs = self._differs(found, page, positions)
        changed, positions = found[differs], positions[differs]
        self._version += 1  # before and after the change: a sort made meanwhile is not kept
        keys_before = self._kept_keys(changed)
        self._tally_rows(changed, -1)
        if fresh:
            self._extend(page, None if len(fresh) == len(page) else fresh)
            self._index().add_many(new_ids.items())
        if len(changed):
            self._overwrite(changed, page, positions)
        new_rows = range(first, len(self))
        touched = np.concatenate([changed, np.arange(first, len(self), dtype=np.int64)])
        if page.tenant_id != self.policy.tenant_id:
            self._reclassify(touched)  # the policy changed while the page was prepared
        else:
            self._update_expiry(touched)
        self._tally_rows(touched, +1)
        self._version += 1
        self._follow(changed, keys_before)
        self._merge_sorted(due_only=True)
        return Upserted(new_rows, found, changed)

    def _differs(self, rows: Rows, page: PreparedUsers, positions: Rows) -> Mask:
        """Per row of `rows`: whether the page's user at the same place of `positions` differs from
        what the row holds, or the row is hidden (found again, it is shown again: a change too).

        The kind and the search text are made from fields compared here, so they are not compared
        themselves (a page's kinds may even be stale: prepared for another anonymous tenant).
        """
        differs = self._gone.data[rows].copy()
        if not len(rows):
            return differs
        picked = positions.tolist()
        for name in _FIELD_NAMES[1:]:  # the user ID is what found the row
            values: list[Any] = getattr(page.fields, name)
            theirs = np.fromiter((values[p] for p in picked), object, len(picked))
            differs |= getattr(self._fields, name).data[rows] != theirs
        for name, column in self._arrays.items():
            if name != "kind":
                differs |= column.data[rows] != page.arrays[name][positions]
        return differs

    def _overwrite(self, rows: Rows, page: PreparedUsers, positions: Rows) -> None:
        """Rows found again with other values (a reload): the page's values, shown if hidden."""
        picked = positions.tolist()
        for name in _FIELD_NAMES:
            values: list[Any] = getattr(page.fields, name)
            getattr(self._fields, name).data[rows] = np.fromiter(
                (values[p] for p in picked), object, len(picked)
            )
        for name, column in self._arrays.items():
            column.data[rows] = page.arrays[name][positions]
        self._haystack.set_many(rows, page.arrays["haystack"][positions])
        self._gone.data[rows] = False

    def _extend(self, page: PreparedUsers, positions: list[int] | None) -> None:
        """Append the page's rows (all, or those at `positions`: the users new to the table)."""
        self._fields.extend(page.fields, positions)
        which = slice(None) if positions is None else np.asarray(positions, dtype=np.int64)
        for name, column in self._arrays.items():
            column.extend(page.arrays[name][which])
        self._haystack.extend(page.arrays["haystack"][which])
        count = len(page) if positions is None else len(positions)
        self._last_sign_in.extend(np.full(count, NONE, dtype=np.int64))
        self._expires.extend(np.full(count, NONE, dtype=np.int64))
        self._gone.extend(np.zeros(count, dtype=np.bool_))

    def mark_missing(self, seen: Rows | Mask) -> Rows:
        """Hide the users a load did not see (deleted since they were loaded); returns those rows.

        `seen`: the rows the load's pages added or updated (what `upsert` returned), or a boolean
        mask over rows (True: seen; rows past its end: not seen), so this is array work, not a
        comparison of 100k user IDs on the UI thread (18 ms); a mask spares the rows' list
        (~10 ms at 1,000,000 rows). Rows are never removed, so row numbers (and the views'
        selections) stay valid; a hidden row comes back if a later load finds the user again.
        """
        present = np.zeros(len(self), dtype=np.bool_)
        if seen.dtype == np.bool_:
            count = min(len(seen), len(self))
            present[:count] = seen[:count]
        else:
            present[seen] = True
        gone = np.flatnonzero(~present & ~self._gone.view)
        if len(gone):
            self._tally_rows(gone, -1)
            self._gone.view[gone] = True
            self._tally_rows(gone, +1)
            self._changed(())  # hidden, not reordered: the sorted orders stay
        return gone

    def rows_of(self, user_ids: Iterable[str]) -> Rows:
        """The rows of these users (IDs the table does not hold are left out)."""
        found = self._index().rows(list(user_ids))
        return found[found >= 0]

    def hide_users(self, user_ids: Iterable[str]) -> Rows:
        """Hide users this console just deleted, without a reload; returns the rows newly hidden.

        Like `mark_missing`: rows stay (selections stay valid) and come back if a load finds them.
        """
        rows = self.rows_of(user_ids)
        gone = rows[~self._gone.view[rows]]
        if len(gone):
            self._tally_rows(gone, -1)
            self._gone.view[gone] = True
            self._tally_rows(gone, +1)
            self._changed(())
        return gone

    def set_statuses(self, user_ids: Iterable[str], status: str) -> Rows:
        """Users this console just disabled or enabled: their status and kind, without a reload."""
        rows = np.unique(self.rows_of(user_ids))
        self._version += 1
        keys_before = self._kept_keys(rows)
        self._tally_rows(rows, -1)
        for row in rows.tolist():
            self._fields.status.set(row, status)
            self._status.set(row, _status_code(status))
        if len(rows):
            self._reclassify(rows)
            self._tally_rows(rows, +1)
            self._version += 1
            self._follow(rows, keys_before)
        return rows

    def is_gone(self, row: int) -> bool:
        return bool(self._gone.view[row])

    def _changed(self, stale: Iterable[Column] | None = None) -> None:
        """The data changed; sorted orders by the `stale` columns (None: all) are dropped."""
        self._version += 1
        for column in list(self._sort_cache) if stale is None else list(stale):
            self._sort_cache.pop(column, None)

    def _merge_sorted(self, *, due_only: bool = False, column: Column | None = None) -> None:
        """Put the rows appended since into the kept orders (all, or `column`'s): a merge, not a new
        sort of every row. A kept order holds rows 0… up to its length: rows only ever append.

        `due_only`: only orders that `SORT_MERGE_AT` rows wait for (reading an order merges it).
        """
        for kept_column, (order, sorted_keys) in list(self._sort_cache.items()):
            waiting = len(self) - len(order)
            if not waiting or (due_only and waiting < SORT_MERGE_AT) or column not in (None, kept_column):
                continue
            rows = np.arange(len(order), len(self), dtype=np.int64)
            fresh = self._sort_keys_of(kept_column, rows)
            if fresh is None:
                del self._sort_cache[kept_column]
                continue
            self._sort_cache[kept_column] = _insert_sorted(order, sorted_keys, rows, fresh, last=True)

    def _kept_keys(self, rows: Rows) -> dict[Column, np.ndarray | None]:
        """The keys of `rows` (distinct, ascending) in each kept order, before they change in place
        (see `_follow`); rows the order does not hold yet are left out."""
        rows = np.unique(rows)
        return {
            column: self._sort_keys_of(column, rows[rows < len(order)])
            for column, (order, _) in self._sort_cache.items()
        }

    def _follow(self, rows: Rows, before: Mapping[Column, np.ndarray | None]) -> None:
        """Rows changed in place: in each kept order where their keys changed, move them to where a
        new sort would put them (O(N) array copies instead of an O(N log N) sort on the UI thread);
        an order without keys (the reason) is dropped. Rows an order does not hold yet wait for
        its merge (`_merge_sorted`), which reads their keys then."""
        rows = np.unique(rows)
        if not len(rows):
            return
        for column, old in before.items():
            kept = self._sort_cache.get(column)
            if kept is None:
                continue
            order, keys = kept
            held = rows[rows < len(order)]
            new = self._sort_keys_of(column, held)
            if new is None:
                del self._sort_cache[column]
            elif len(held) and (old is None or not np.array_equal(old, new)):
                moved = np.zeros(len(order), dtype=np.bool_)
                moved[held] = True
                stay = ~moved[order]
                self._sort_cache[column] = _insert_sorted(order[stay], keys[stay], held, new, last=False)

    def set_last_sign_ins(self, latest: Mapping[str, int]) -> Rows:
        """Record last sign-in times (epoch seconds) from login history; returns the rows changed."""
        rows = self._index().rows(list(latest))
        known = rows >= 0
        if not known.any():
            return np.zeros(0, dtype=np.int64)
        times = np.fromiter(latest.values(), np.int64, len(latest))[known]
        index = rows[known]
        news = self._last_sign_in.view[index] != times  # a reload brings the same times again
        index, times = index[news], times[news]
        if not len(index):
            return np.zeros(0, dtype=np.int64)
        self._version += 1
        keys_before = self._kept_keys(index)
        self._last_sign_in.view[index] = times
        self._update_expiry(index)
        self._version += 1
        self._follow(index, keys_before)
        return index

    def set_policy(self, policy: AnonymousPolicy) -> None:
        """Change the anonymous tenant or lifetime. Another tenant: every row is classified again
        (per user, seconds at 1,000,000); the same tenant, another lifetime or grace (a snapshot
        shown before the tenant's settings are read): only the expiries, on whole columns."""
        everyone = np.arange(len(self), dtype=np.int64)
        same_tenant = policy.tenant_id == self.policy.tenant_id
        self.policy = policy
        if same_tenant:
            self._update_expiry(everyone)
            self._changed((Column.EXPIRES, Column.REASON))
        else:
            self._reclassify(everyone)
            self._tally = None
            self._changed()

    def _reclassify(self, rows: Rows) -> None:
        """Kinds (per user, pure Python) and then expiries (vectorised) of `rows`."""
        tenant_id = self.policy.tenant_id
        kind = self._kind.view
        for row in rows.tolist():
            kind[row] = _KIND_CODE[kind_of(self.user(row), tenant_id)]
        self._update_expiry(rows)

    def _update_expiry(self, rows: Rows) -> None:
        """When each anonymous user of `rows` expires: the rule of `classify`, on whole columns.

        Counted from the last sign-in, or from creation when the user never signed in; unknown
        (NONE) when the policy has no lifetime or the user is not anonymous.
        """
        if not len(rows):
            return
        whole = len(rows) == len(self)  # slices, not fancy indexing: at 1,000,000 rows a copy each
        pick: Rows | slice = slice(0, len(self)) if whole else rows
        self._expires.view[pick] = _expiries(
            self.policy, self._last_sign_in.view[pick], self._created.view[pick], self._kind.view[pick]
        )

    def _classify(self, row: int, now: int) -> Classification:
        last = int(self._last_sign_in.view[row])
        return classify(self.user(row), self.policy, last_sign_in=None if last == NONE else last, now=now)

    # ---- reading --------------------------------------------------------------------------------
    def user(self, row: int) -> User:
        """The user of a row, as a record (built from the columns: a new, equal object each time)."""
        f = self._fields
        given, middle, family, role_names, picture, custom = f.rest.data[row]
        return User(
            user_id=f.user_id.data[row],
            login_ids=self._login_ids(row),
            name=f.name.data[row],
            given_name=given,
            middle_name=middle,
            family_name=family,
            email=f.email.data[row],
            phone=f.phone.data[row],
            verified_email=bool(self._verified_email.data[row]),
            verified_phone=bool(self._verified_phone.data[row]),
            status=f.status.data[row],
            tenants=f.tenants.data[row],
            role_names=role_names,
            test=bool(self._test.data[row]),
            created_time=int(self._created.data[row]),
            has_password=bool(self._has_password.data[row]),
            picture=picture,
            custom_attributes=custom,
        )

    def user_id(self, row: int) -> str:
        return self._fields.user_id.data[row]

    def _login_ids(self, row: int) -> tuple[str, ...]:
        ids = self._fields.login_ids.data[row]
        return (ids,) if isinstance(ids, str) else ids

    def verified_email(self, row: int) -> bool:
        return bool(self._verified_email.data[row])

    def verified_phone(self, row: int) -> bool:
        return bool(self._verified_phone.data[row])

    def row_of(self, user_id: str) -> int | None:
        return self._index().get(user_id)

    def kind(self, row: int) -> Kind:
        return KIND_CODES[int(self._kind.view[row])]

    def last_sign_in(self, row: int) -> int | None:
        value = int(self._last_sign_in.view[row])
        return None if value == NONE else value

    def classification(self, row: int) -> Classification:
        """The full verdict with its reason, computed on demand (reasons are not stored: memory)."""
        return self._classify(row, int(self._now()))

    def counts(self, test_users: TestUsers = "exclude") -> dict[Kind, int]:
        """Users per kind, for the navigation's live counts.

        Kept by kind × test user × hidden, and moved by the rows each change touches: the navigation
        and every page ask after each batch of a load, and a count over every row is ~10 ms at
        1,000,000 (five of them were ~40 ms of a 134 ms stall).
        """
        if self._tally is None:
            codes = self._codes(slice(None))
            self._tally = np.bincount(codes, minlength=len(KIND_CODES) * 4).reshape(len(KIND_CODES), 2, 2)
        shown = self._tally[:, :, 0]  # kind × test user, hidden users left out
        tally = shown[:, {"exclude": [0], "only": [1], "include": [0, 1]}[test_users]].sum(axis=1)
        return {kind: int(tally[i]) for i, kind in enumerate(KIND_CODES)}

    def _codes(self, rows: Rows | slice) -> npt.NDArray[np.intp]:
        """Per row: its cell of the tally (kind × test user × hidden)."""
        return self._kind.view[rows].astype(np.intp) * 4 + self._test.view[rows] * 2 + self._gone.view[rows]

    def _tally_rows(self, rows: Rows, sign: int) -> None:
        """Take `rows` out of the tally (-1) before they change, or count them in (+1) after."""
        if self._tally is not None and len(rows):
            cells = np.bincount(self._codes(rows), minlength=len(KIND_CODES) * 4)
            self._tally += sign * cells.reshape(self._tally.shape)

    def display(self, row: int, column: Column) -> str:
        """The text a table cell shows."""
        f = self._fields
        match column:
            case Column.USER_ID:
                return f.user_id.data[row]
            case Column.LOGIN_IDS:
                return _login_ids_text(self._login_ids(row))
            case Column.NAME:
                return f.name.data[row]
            case Column.EMAIL:
                return f.email.data[row]
            case Column.PHONE:
                return f.phone.data[row]
            case Column.STATUS:
                return f.status.data[row]
            case Column.TENANTS:
                return _tenants_text(f.tenants.data[row])
            case Column.CREATED:
                return format_time(int(self._created.data[row]))
            case Column.LAST_SIGN_IN:
                last = self.last_sign_in(row)
                return "never" if last is None else format_time(last)
            case Column.EXPIRES:
                return self.expiry_text(row)
            case Column.KIND:
                return self.kind(row).label
            case Column.REASON:
                return self.classification(row).reason
        raise ValueError(column)

    def expiry_text(self, row: int) -> str:
        expires = int(self._expires.view[row])
        if expires == NONE:
            return ""
        left = expires - int(self._now())
        return f"in {format_duration(left)}" if left >= 0 else f"expired {format_duration(-left)} ago"

    def expired(self, row: int) -> bool:
        expires = int(self._expires.view[row])
        return expires != NONE and expires < int(self._now())

    # ---- whole columns, read-only (the cull plans over them) --------------------------------------
    # Views are marked read-only: a rule computed over the table must not be able to change it.
    def tenant_membership(self, tenant_id: str) -> tuple[Mask, Mask]:
        """Per row: (a member of `tenant_id`, a member of any other tenant).

        Each distinct tuple of memberships is looked at once (see `distinct_memberships`).
        """
        distinct, index = self.distinct_memberships()
        member = np.fromiter((any(t.tenant_id == tenant_id for t in ts) for ts in distinct), np.bool_)
        elsewhere = np.fromiter((any(t.tenant_id != tenant_id for t in ts) for ts in distinct), np.bool_)
        return member[index], elsewhere[index]

    def distinct_memberships(self, rows: Rows | None = None) -> tuple[list[tuple[UserTenant, ...]], Rows]:
        """The distinct tuples of tenant memberships among `rows` (None: all rows), and per row the
        position of its own in that list.

        Users loaded from the API share one tuple per distinct list (records interns them), so a
        rule over memberships tests a handful of tuples instead of 100k users. Distinct means
        distinct objects: equal tuples built apart may appear twice, which only costs a test.
        """
        return _distinct(self._fields.tenants.view, rows)

    def distinct_attributes_and_roles(
        self, rows: Rows | None = None
    ) -> tuple[list[tuple[Mapping[str, object], tuple[str, ...]]], Rows]:
        """The distinct (custom attributes, project role names) among `rows` (None: all rows), and
        per row the position of its own in that list; most users share one empty pair."""
        distinct, index = _distinct(self._fields.rest.view, rows)
        return [(rest[5], rest[3]) for rest in distinct], index

    def last_active(self) -> Rows:
        """Per row: the last sign-in, else the creation (epoch s): `classify`'s rule, on the columns.

        A new array (`NONE`, "never signed in", is negative, so `> 0` tells the two apart).
        """
        last = self._last_sign_in.view
        return np.where(last > 0, last, self._created.view)

    def last_sign_ins(self) -> Rows:
        """Per row: the last sign-in (epoch s), `NONE` when never; a read-only view."""
        return _read_only(self._last_sign_in.view)

    def created_times(self) -> Rows:
        """Per row: the creation time (epoch s); a read-only view."""
        return _read_only(self._created.view)

    def expiry_times(self) -> Rows:
        """Per row: when its refresh token can no longer be valid, grace included (epoch s),
        `NONE` when not anonymous or no lifetime is known; a read-only view."""
        return _read_only(self._expires.view)

    def kind_mask(self, kind: Kind) -> Mask:
        """Per row: whether its stored kind (computed by `classify.kind_of`) is `kind`."""
        return self._kind.view == _KIND_CODE[kind]

    def status_mask(self, status: str) -> Mask:
        """Per row: whether its status is `status` (one of `STATUS_CODES`)."""
        if status not in STATUS_CODES:
            raise ValueError(f"unknown user status {status!r}")
        return self._status.view == _status_code(status)

    def test_user_mask(self) -> Mask:
        """Per row: a test user; a read-only view."""
        return _read_only(self._test.view)

    def verified_mask(self) -> Mask:
        """Per row: the verified-email or verified-phone flag is set (address or not)."""
        return self._verified_email.view | self._verified_phone.view

    def gone_mask(self) -> Mask:
        """Per row: hidden because a later load did not find the user; a read-only view."""
        return _read_only(self._gone.view)

    def user_ids(self, rows: Rows) -> list[str]:
        """The user IDs of `rows`, in that order (one C-level copy, no `User` objects)."""
        return self._fields.user_id.view[rows].tolist()

    def primary_login_ids(self, rows: Rows) -> list[str]:
        """The first login ID of each of `rows` ("" when a user has none)."""
        return [
            ids if isinstance(ids, str) else ids[0] if ids else ""
            for ids in self._fields.login_ids.view[rows].tolist()
        ]

    def statuses(self, rows: Rows) -> list[str]:
        """The status of each of `rows`, as the API spells it."""
        return self._fields.status.view[rows].tolist()

    # ---- filter and sort ------------------------------------------------------------------------
    def mask(self, spec: TableFilter, start: int = 0) -> npt.NDArray[np.bool_]:
        """Which rows `spec` keeps, as a boolean array over rows `start`… (all rows by default).

        A page appended to a filtered view only needs its own rows tested (`start` = its first row).
        """
        rows = slice(start, len(self))
        keep = self._test_mask(spec.test_users, rows) & ~self._gone.view[rows]
        if spec.rows is not None:
            # Sorted distinct rows: those of this range are one slice (rows beyond the table: none).
            lower, upper = np.searchsorted(spec.rows, (start, len(self)))
            chosen = np.zeros(len(keep), dtype=np.bool_)
            chosen[spec.rows[lower:upper] - start] = True
            keep &= chosen
        if spec.kind is not None:
            keep &= self._kind.view[rows] == _KIND_CODE[spec.kind]
        if spec.statuses:
            keep &= np.isin(self._status.view[rows], [_status_code(s) for s in spec.statuses])
        created = self._created.view[rows]
        if spec.created_from is not None:
            keep &= created >= spec.created_from
        if spec.created_to is not None:
            keep &= created <= spec.created_to
        if spec.expired is not None:
            expires = self._expires.view[rows]
            is_expired = (expires != NONE) & (expires < int(self._now()))
            keep &= is_expired if spec.expired else ~is_expired
        if spec.active_from is not None or spec.active_to is not None:
            last = self._last_sign_in.view[rows]
            keep &= _within(np.where(last > 0, last, created), spec.active_from, spec.active_to)
        if spec.expires_from is not None or spec.expires_to is not None:
            expires = self._expires.view[rows]
            keep &= (expires != NONE) & _within(expires, spec.expires_from, spec.expires_to)
        text = spec.text.strip().lower()
        if text and len(keep):
            keep &= self._haystack.find(text.encode(), start, len(self))
        return keep

    def query(self, spec: TableFilter, sort: Column | None = None, descending: bool = False) -> Rows:
        """The table rows `spec` keeps, in display order (table order when `sort` is None)."""
        keep = self.mask(spec)
        if sort is None:
            return np.flatnonzero(keep)
        perm = self.sort_permutation(sort)
        if descending:
            perm = perm[::-1]
        return perm[keep[perm]]

    def sort_permutation(self, column: Column) -> Rows:
        """All rows ordered by `column` (ascending, stable), kept up to date as pages arrive.

        The first call for a column sorts every row (tens of ms at 100k): the views call
        `prepare_sort` in a worker thread first (numpy sorts without holding the GIL), so the UI
        thread uses the kept order, which new rows are merged into (`_merge_sorted`).
        """
        kept = self._sort_cache.pop(column, None)
        if kept is None:
            return self.prepare_sort(column)
        self._sort_cache[column] = kept  # the most recently used last (see `SORT_CACHE_SIZE`)
        self._merge_sorted(column=column)
        return self._sort_cache[column][0] if column in self._sort_cache else self.prepare_sort(column)

    def prepare_sort(self, column: Column) -> Rows:
        """Compute (and keep, unless the table changed meanwhile) the permutation for `column`.

        Safe to run in a worker thread while the UI thread appends: it works on a snapshot and only
        keeps its result if no change happened during the computation.
        """
        version = self._version
        size = len(self)
        keys = self._sort_keys_of(column, np.arange(size, dtype=np.int64))
        if keys is None:  # not stored per row (the reason): from the cells' text
            keys = np.array([self.display(row, column).lower().encode() for row in range(size)], dtype=bytes)
        order = np.argsort(keys, kind="stable").astype(np.int64)
        if version == self._version and size == len(self):
            self._sort_cache.pop(column, None)
            self._sort_cache[column] = (order, keys[order])
            while len(self._sort_cache) > SORT_CACHE_SIZE:
                del self._sort_cache[next(iter(self._sort_cache))]
        return order

    def sort_ready(self, column: Column) -> bool:
        return column in self._sort_cache

    def _sort_keys_of(self, column: Column, rows: Rows) -> np.ndarray | None:
        """The sort keys of `rows` (a copy), or None for a column without keys (the reason)."""
        numbers = {
            Column.CREATED: self._created,
            Column.LAST_SIGN_IN: self._last_sign_in,
            Column.EXPIRES: self._expires,
            Column.KIND: self._kind,
            Column.STATUS: self._status,
        }.get(column)
        if numbers is not None:
            return numbers.data[rows]
        if column in _TEXT_FIELDS:
            name, shared = _TEXT_FIELDS[column]
            return _text_keys(column, getattr(self._fields, name).data[rows].tolist(), shared=shared)
        return None

    def _test_mask(self, test_users: TestUsers, rows: slice = slice(None)) -> npt.NDArray[np.bool_]:
        test = self._test.view[rows]
        if test_users == "only":
            return test.copy()
        if test_users == "exclude":
            return ~test
        return np.ones(len(test), dtype=np.bool_)


def _adopt(column: _Growable, data: np.ndarray, size: int) -> None:
    """Make `data` (at least `size` long) the column's storage, without a copy."""
    if len(data) < size:
        raise ValueError(f"A table column holds {len(data)} rows, not {size}.")
    column.data = data
    column.size = size


def _within(values: Rows, lower: int | None, upper: int | None) -> Mask:
    """Per value: inside the inclusive bounds (None: unbounded on that side)."""
    keep = np.ones(len(values), dtype=np.bool_)
    if lower is not None:
        keep &= values >= lower
    if upper is not None:
        keep &= values <= upper
    return keep


def _text_keys(column: Column, values: list[Any], *, shared: bool) -> np.ndarray:
    """Sort keys of a text column: the text each value shows, lowercase UTF-8.

    `shared`: most values are a few shared objects (names, tenants: "" or interned): each distinct
    object's key is made once (the objects are alive meanwhile, so their ids stay theirs).
    """
    text = _value_text(column)
    if not shared:  # a string (nearly always: one login ID) without a call of `text`
        return np.array([(v if type(v) is str else text(v)).lower().encode() for v in values], dtype=bytes)
    made: dict[int, bytes] = {}
    keys = []
    for value in values:
        key = made.get(id(value))
        if key is None:
            key = made[id(value)] = text(value).lower().encode()
        keys.append(key)
    return np.array(keys, dtype=bytes)


def _value_text(column: Column) -> Callable[[Any], str]:
    """What a text column shows for the value its field holds (see `display`)."""
    if column is Column.LOGIN_IDS:
        return lambda ids: ids if isinstance(ids, str) else _login_ids_text(ids)
    if column is Column.TENANTS:
        return _tenants_text
    return str


def _insert_sorted(
    order: Rows, keys: np.ndarray, rows: Rows, new: np.ndarray, *, last: bool
) -> tuple[Rows, np.ndarray]:
    """A kept order (`order`, its `keys` in that order) with `rows` (keys `new`) put in place.

    Where a stable sort puts them: by key, equal keys by row. `last`: the rows are newer than any
    in `order` (appended), so they go after their equal keys.
    """
    by = np.lexsort((rows, new))
    rows, new = rows[by], new[by]
    if new.dtype != keys.dtype:  # a longer text key than any before
        wider = np.promote_types(new.dtype, keys.dtype)
        new, keys = new.astype(wider), keys.astype(wider)
    at = np.searchsorted(keys, new, side="right")
    if not last:  # among equal keys, by row: those are in row order already
        start = np.searchsorted(keys, new, side="left")
        for i in np.flatnonzero(at > start).tolist():
            low, high = int(start[i]), int(at[i])
            at[i] = low + np.searchsorted(order[low:high], rows[i])
    return np.insert(order, at, rows), np.insert(keys, at, new)


def _login_ids_text(login_ids: tuple[str, ...]) -> str:
    return ", ".join(login_ids)


def _tenants_text(tenants: tuple[UserTenant, ...]) -> str:
    return ", ".join(t.tenant_name or t.tenant_id for t in tenants)


def _status_code(status: str) -> int:
    return STATUS_CODES.index(status) if status in STATUS_CODES else len(STATUS_CODES) - 1


def _searchable(user: User) -> bytes:
    """The lowercase text a search looks in; each distinct field once (an email is often a login ID)."""
    fields = dict.fromkeys((user.user_id, *user.login_ids, user.name, user.email, user.phone))
    fields.pop("", None)
    return _SEPARATOR.join(fields).lower().encode()


def format_time(epoch_seconds: int) -> str:
    """UTC time as the tables show it: sortable, unambiguous, no seconds."""
    if not epoch_seconds:
        return ""
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%d %H:%M")


def _expiries(policy: AnonymousPolicy, last: Rows, created: Rows, kind: np.ndarray) -> Rows:
    """When each user expires: counted from the last sign-in, or from creation when the user never
    signed in; unknown (NONE) when the policy has no lifetime or the user is not anonymous."""
    refresh = policy.refresh_seconds
    if refresh is None:
        return np.full(len(last), NONE, dtype=np.int64)
    active = np.where(last > 0, last, created)
    return np.where(kind == _KIND_CODE[Kind.ANONYMOUS], active + refresh + policy.grace_seconds, NONE)


def with_expiries(columns: TableColumns, policy: AnonymousPolicy) -> TableColumns:
    """`columns` with their expiries computed for `policy`, which `UserTable.restore` then keeps:
    whole-column work (~30-110 ms at 1,000,000 rows with its page faults) done in a worker thread,
    not on the UI thread. Columns of another anonymous tenant are returned as they are (`restore`
    classifies them again)."""
    if columns.tenant_id != policy.tenant_id:
        return columns
    size = columns.size
    numbers = columns.numbers
    expires = numbers["expires"]
    expires[:size] = _expiries(
        policy, numbers["last_sign_in"][:size], numbers["created"][:size], numbers["kind"][:size]
    )
    return replace(columns, expiries_for=policy)


def distinct_objects(column: np.ndarray) -> tuple[list[Any], Rows]:
    """The distinct objects (by identity) of an `object` column, and per row its position among
    them (see `_distinct`)."""
    return _distinct(column, None)


def _distinct(column: np.ndarray, rows: Rows | None) -> tuple[list[Any], Rows]:
    """The distinct objects (by identity) of an `object` column's `rows`, and per row its position
    among them: a Python-level rule then runs once per distinct object."""
    values = column if rows is None else column[rows]
    if not len(values):
        return [], np.zeros(0, dtype=np.int64)
    identities = mapped(id, values, np.uint64)  # a slice at a time: a snapshot's writer runs it on 1,000,000
    _, first, index = np.unique(identities, return_index=True, return_inverse=True)
    return values[first].tolist(), index.astype(np.int64).reshape(-1)


def _read_only(column: np.ndarray) -> np.ndarray:
    """A view of `column` that cannot be written through (the table's data stays the table's)."""
    view = column.view()
    view.flags.writeable = False
    return view
