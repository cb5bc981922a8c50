"""All users of a connection in columns, filtered and sorted by computing index arrays (numpy).

Why not QSortFilterProxyModel: it calls back into Python per row and per comparison, which takes
seconds at 100k users. Here a filter is a handful of vectorised comparisons producing a mask, and a
sort is a cached permutation of the whole table intersected with that mask (`perm[mask[perm]]`), so a
filter + sort of 100k rows is a few milliseconds. Pure Python + numpy: no Qt, no I/O.

Rows are only ever appended (pages arriving) or updated in place (last sign-ins arriving, a refresh),
so a row number is stable for the life of the table; views map their rows to table rows through the
index array returned by `query`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from anonconsole.core.classify import AnonymousPolicy, Classification, Kind, classify, format_duration
from anonconsole.core.records import TestUsers, User

NONE = np.iinfo(np.int64).min  # "no value" in int64 columns (never signed in, no expiry known)
KIND_CODES: tuple[Kind, ...] = tuple(Kind)
STATUS_CODES: tuple[str, ...] = ("enabled", "invited", "disabled", "expired", "")
_SEPARATOR = "\x1f"  # between searchable fields, so a query cannot match across two of them

Rows = npt.NDArray[np.int64]


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
    def title(self) -> str:
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
    """

    kind: Kind | None = None
    text: str = ""
    statuses: frozenset[str] = frozenset()
    created_from: int | None = None
    created_to: int | None = None
    expired: bool | None = None
    test_users: TestUsers = "exclude"


@dataclass
class _Growable:
    """An int64 (or bool) array with amortised O(1) appends."""

    dtype: npt.DTypeLike
    data: np.ndarray = field(init=False)
    size: int = 0

    def __post_init__(self) -> None:
        self.data = np.zeros(1024, dtype=self.dtype)

    def extend(self, values: Sequence[int] | np.ndarray) -> None:
        needed = self.size + len(values)
        if needed > len(self.data):
            grown = np.zeros(max(needed, 2 * len(self.data)), dtype=self.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : needed] = values
        self.size = needed

    @property
    def view(self) -> np.ndarray:
        return self.data[: self.size]


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
        self._users: list[User] = []
        self._row_by_id: dict[str, int] = {}
        self._kind = _Growable(np.int8)
        self._status = _Growable(np.int8)
        self._test = _Growable(np.bool_)
        self._created = _Growable(np.int64)
        self._last_sign_in = _Growable(np.int64)
        self._expires = _Growable(np.int64)
        self._gone = _Growable(np.bool_)
        self._haystack = np.zeros(0, dtype="S1")
        self._sort_cache: dict[Column, Rows] = {}
        self._version = 0

    def __len__(self) -> int:
        return len(self._users)

    def append(self, users: Iterable[User]) -> range:
        """Add users (a page as it arrives); a user already present is updated in place instead.

        Returns the range of new rows; updated rows are reported by `upsert`.
        """
        return self.upsert(users)[0]

    def upsert(self, users: Iterable[User]) -> tuple[range, Rows]:
        """Add new users and update known ones. Returns (new rows, updated rows)."""
        first = len(self._users)
        fresh: list[User] = []
        updated: list[int] = []
        for user in users:
            row = self._row_by_id.get(user.user_id)
            if row is None:
                self._row_by_id[user.user_id] = first + len(fresh)
                fresh.append(user)
            else:
                self._users[row] = user
                updated.append(row)
        if fresh:
            self._users.extend(fresh)
            self._status.extend([_status_code(u.status) for u in fresh])
            self._test.extend([u.test for u in fresh])
            self._created.extend([u.created_time for u in fresh])
            self._last_sign_in.extend(np.full(len(fresh), NONE, dtype=np.int64))
            self._kind.extend(np.zeros(len(fresh), dtype=np.int8))
            self._expires.extend(np.full(len(fresh), NONE, dtype=np.int64))
            self._gone.extend(np.zeros(len(fresh), dtype=np.bool_))
            self._extend_haystack(fresh)
        changed = np.asarray(updated, dtype=np.int64)
        if len(changed):
            self._refresh_rows(changed)
        if len(changed):
            self._gone.view[changed] = False
        new_rows = range(first, len(self._users))
        self._reclassify(np.concatenate([changed, np.arange(first, len(self._users), dtype=np.int64)]))
        self._changed()
        return new_rows, changed

    def mark_missing(self, present: set[str]) -> Rows:
        """Hide users no longer on the server (deleted since they were loaded); returns those rows.

        Rows are never removed, so row numbers (and the views' selections) stay valid; a hidden row
        comes back if a later load finds the user again.
        """
        gone = np.asarray(
            [row for uid, row in self._row_by_id.items() if uid not in present and not self._gone.view[row]],
            dtype=np.int64,
        )
        if len(gone):
            self._gone.view[gone] = True
            self._changed()
        return gone

    def is_gone(self, row: int) -> bool:
        return bool(self._gone.view[row])

    def _changed(self) -> None:
        self._version += 1
        self._sort_cache.clear()

    def set_last_sign_ins(self, latest: Mapping[str, int]) -> Rows:
        """Record last sign-in times (epoch seconds) from login history; returns the rows changed."""
        rows = [self._row_by_id[uid] for uid in latest if uid in self._row_by_id]
        if not rows:
            return np.zeros(0, dtype=np.int64)
        index = np.asarray(rows, dtype=np.int64)
        self._last_sign_in.view[index] = [latest[self._users[r].user_id] for r in rows]
        self._reclassify(index)
        self._changed()
        return index

    def set_policy(self, policy: AnonymousPolicy) -> None:
        """Change the anonymous tenant or lifetime: every row is classified again."""
        self.policy = policy
        self._reclassify(np.arange(len(self._users), dtype=np.int64))
        self._changed()

    def _refresh_rows(self, rows: Rows) -> None:
        for row in rows.tolist():
            user = self._users[row]
            self._status.view[row] = _status_code(user.status)
            self._test.view[row] = user.test
            self._created.view[row] = user.created_time
            self._set_haystack(row, _searchable(user))

    def _reclassify(self, rows: Rows) -> None:
        now = int(self._now())
        kind, expires = self._kind.view, self._expires.view
        for row in rows.tolist():
            verdict = self._classify(row, now)
            kind[row] = KIND_CODES.index(verdict.kind)
            expires[row] = NONE if verdict.expires_at is None else verdict.expires_at

    def _classify(self, row: int, now: int) -> Classification:
        last = int(self._last_sign_in.view[row])
        return classify(self._users[row], self.policy, last_sign_in=None if last == NONE else last, now=now)

    def _extend_haystack(self, users: Sequence[User]) -> None:
        """Append search texts, growing capacity geometrically (and width when a text is longer)."""
        new = np.array([_searchable(u) for u in users], dtype=bytes)
        size = len(self._users) - len(users)
        needed = size + len(new)
        width = max(self._haystack.dtype.itemsize, new.dtype.itemsize)
        if needed > len(self._haystack) or width > self._haystack.dtype.itemsize:
            grown = np.zeros(max(needed, 2 * len(self._haystack), 1024), dtype=f"S{width}")
            grown[:size] = self._haystack[:size]
            self._haystack = grown
        self._haystack[size:needed] = new

    def _set_haystack(self, row: int, value: bytes) -> None:
        if len(value) > self._haystack.dtype.itemsize:
            self._haystack = self._haystack.astype(f"S{len(value)}")
        self._haystack[row] = value

    # ---- reading --------------------------------------------------------------------------------
    def user(self, row: int) -> User:
        return self._users[row]

    def row_of(self, user_id: str) -> int | None:
        return self._row_by_id.get(user_id)

    def kind(self, row: int) -> Kind:
        return KIND_CODES[int(self._kind.view[row])]

    def last_sign_in(self, row: int) -> int | None:
        value = int(self._last_sign_in.view[row])
        return None if value == NONE else value

    def classification(self, row: int) -> Classification:
        """The full verdict with its reason, computed on demand (reasons are not stored: memory)."""
        return self._classify(row, int(self._now()))

    def counts(self, test_users: TestUsers = "exclude") -> dict[Kind, int]:
        """Users per kind, for the navigation's live counts."""
        kinds = self._kind.view[self._test_mask(test_users) & ~self._gone.view]
        tally = np.bincount(kinds, minlength=len(KIND_CODES))
        return {kind: int(tally[i]) for i, kind in enumerate(KIND_CODES)}

    def display(self, row: int, column: Column) -> str:
        """The text a table cell shows."""
        user = self._users[row]
        match column:
            case Column.USER_ID:
                return user.user_id
            case Column.LOGIN_IDS:
                return ", ".join(user.login_ids)
            case Column.NAME:
                return user.name
            case Column.EMAIL:
                return user.email
            case Column.PHONE:
                return user.phone
            case Column.STATUS:
                return user.status
            case Column.TENANTS:
                return ", ".join(t.tenant_name or t.tenant_id for t in user.tenants)
            case Column.CREATED:
                return format_time(user.created_time)
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

    # ---- filter and sort ------------------------------------------------------------------------
    def mask(self, spec: TableFilter) -> npt.NDArray[np.bool_]:
        """Which rows `spec` keeps, as a boolean array over all rows."""
        keep = self._test_mask(spec.test_users) & ~self._gone.view
        if spec.kind is not None:
            keep &= self._kind.view == KIND_CODES.index(spec.kind)
        if spec.statuses:
            keep &= np.isin(self._status.view, [_status_code(s) for s in spec.statuses])
        if spec.created_from is not None:
            keep &= self._created.view >= spec.created_from
        if spec.created_to is not None:
            keep &= self._created.view <= spec.created_to
        if spec.expired is not None:
            expires = self._expires.view
            is_expired = (expires != NONE) & (expires < int(self._now()))
            keep &= is_expired if spec.expired else ~is_expired
        text = spec.text.strip().lower()
        if text and len(self._users):
            keep &= np.strings.find(self._haystack[: len(self._users)], text.encode()) >= 0
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
        """All rows ordered by `column` (ascending, stable), cached until the data changes.

        The first call for a text column sorts every row (100+ ms at 100k): the views call
        `prepare_sort` in a worker thread first, so the UI thread only ever uses the cache.
        """
        perm = self._sort_cache.get(column)
        if perm is None:
            perm = self.prepare_sort(column)
        return perm

    def prepare_sort(self, column: Column) -> Rows:
        """Compute (and cache, unless the table changed meanwhile) the permutation for `column`.

        Safe to run in a worker thread while the UI thread appends: it works on a snapshot and only
        caches its result if no change happened during the computation.
        """
        version = self._version
        size = len(self._users)
        perm = np.argsort(self._sort_keys(column, size), kind="stable").astype(np.int64)
        if version == self._version and size == len(self._users):
            self._sort_cache[column] = perm
        return perm

    def sort_ready(self, column: Column) -> bool:
        return column in self._sort_cache

    def _sort_keys(self, column: Column, size: int) -> np.ndarray:
        if column in _NUMERIC:
            return (
                {
                    Column.CREATED: self._created,
                    Column.LAST_SIGN_IN: self._last_sign_in,
                    Column.EXPIRES: self._expires,
                    Column.KIND: self._kind,
                    Column.STATUS: self._status,
                }[column]
                .data[:size]
                .copy()
            )
        return np.array([self.display(row, column).lower().encode() for row in range(size)], dtype=bytes)

    def _test_mask(self, test_users: TestUsers) -> npt.NDArray[np.bool_]:
        test = self._test.view
        if test_users == "only":
            return test.copy()
        if test_users == "exclude":
            return ~test
        return np.ones(len(test), dtype=np.bool_)


def _status_code(status: str) -> int:
    return STATUS_CODES.index(status) if status in STATUS_CODES else len(STATUS_CODES) - 1


def _searchable(user: User) -> bytes:
    fields = (user.user_id, *user.login_ids, user.name, user.email, user.phone)
    return _SEPARATOR.join(fields).lower().encode()


def format_time(epoch_seconds: int) -> str:
    """UTC time as the tables show it: sortable, unambiguous, no seconds."""
    if not epoch_seconds:
        return ""
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%d %H:%M")
