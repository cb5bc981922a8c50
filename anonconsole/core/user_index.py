"""Which table row holds a user ID, for a million users, without a dict of a million entries.

A dict of 1,000,000 user IDs costs ~70 bytes a user (its entry and an int object per row) and
~0.45 s to build, which a table read back from a snapshot would pay before showing anyone. Here the
rows are kept in the order of their IDs' 64-bit hashes (16 bytes a user, built in ~0.15 s): a
lookup is a binary search, checked against the ID the table holds (a collision of hashes only costs
a look at its neighbours). Rows added since the last merge wait in a small dict and are merged in
once they are many, so appending pages stays cheap.

Hashes are Python's own `hash(str)`: salted per process, which is fine for an index that lives in
memory and is never saved. Pure Python + numpy: no Qt, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import numpy.typing as npt

from anonconsole.core.slices import mapped

Rows = npt.NDArray[np.int64]

# Rows waiting in the dict before they are merged into the sorted arrays. A merge copies both arrays
# (O(N)) and sorts the waiting hashes: at 1,000,000 rows, 65,536 of them took ~35 ms of one turn of
# the UI thread; 8,192 take ~5 ms, every eighth page.
MERGE_AT = 1 << 13
_hash = hash  # (tests put a poorer one here to make IDs collide)


class UserIndex:
    """User ID -> row. Rows are only added (a table's rows are never removed).

    `ids` gives the table's user ID column (an `object` array, by row) to check a found row against.
    """

    def __init__(self, ids: Callable[[], np.ndarray]) -> None:
        self._ids = ids
        self._hashes = np.zeros(0, dtype=np.int64)  # ascending
        self._rows = np.zeros(0, dtype=np.int64)  # the row of each hash
        self._recent: dict[str, int] = {}

    @classmethod
    def of(cls, user_ids: Sequence[str] | np.ndarray, ids: Callable[[], np.ndarray]) -> UserIndex:
        """The index of rows 0… holding `user_ids` (distinct), e.g. a table read back."""
        index = cls(ids)
        hashes = mapped(_hash, user_ids, np.int64)  # a slice at a time: it runs in a worker thread
        order = np.argsort(hashes)
        index._hashes, index._rows = hashes[order], order.astype(np.int64)
        return index

    def bind(self, ids: Callable[[], np.ndarray]) -> None:
        """Check found rows against this user ID column from now on (a table adopting the index)."""
        self._ids = ids

    def __len__(self) -> int:
        return len(self._rows) + len(self._recent)

    @property
    def nbytes(self) -> int:
        return int(self._hashes.nbytes + self._rows.nbytes)

    def get(self, user_id: str) -> int | None:
        """The row of `user_id`, None when no row holds it."""
        row = self._recent.get(user_id)
        if row is not None:
            return row
        found = int(self.rows(np.array([user_id], dtype=object))[0])
        return None if found < 0 else found

    def rows(self, user_ids: Sequence[str] | np.ndarray) -> Rows:
        """The row of each of `user_ids`, -1 where no row holds it (vectorised: a page at once)."""
        wanted = user_ids if isinstance(user_ids, np.ndarray) else _objects(user_ids)
        found = np.full(len(wanted), -1, dtype=np.int64)
        if len(self._hashes) and len(wanted):
            hashes = np.fromiter(map(_hash, wanted.tolist()), np.int64, len(wanted))
            at = np.minimum(np.searchsorted(self._hashes, hashes), len(self._hashes) - 1)
            candidates = np.flatnonzero(self._hashes[at] == hashes)
            rows = self._rows[at[candidates]]
            same = self._ids()[rows] == wanted[candidates]
            found[candidates[same]] = rows[same]
            for i in candidates[~same].tolist():  # another ID with the same hash: look further on
                found[i] = self._along(int(at[i]), int(hashes[i]), wanted[i])
        if self._recent:
            recent = self._recent
            found = np.fromiter(
                (recent.get(u, f) for u, f in zip(wanted.tolist(), found.tolist(), strict=True)),
                np.int64,
                len(wanted),
            )
        return found

    def add(self, user_id: str, row: int) -> None:
        """Record the row of a user ID no row held before."""
        self._recent[user_id] = row
        if len(self._recent) >= MERGE_AT:
            self.merge()

    def add_many(self, pairs: Iterable[tuple[str, int]]) -> None:
        self._recent.update(pairs)
        if len(self._recent) >= MERGE_AT:
            self.merge()

    def merge(self) -> None:
        """Move the rows waiting in the dict into the sorted arrays (O(N) copies)."""
        if not self._recent:
            return
        hashes = np.fromiter(map(_hash, self._recent), np.int64, len(self._recent))
        rows = np.fromiter(self._recent.values(), np.int64, len(self._recent))
        order = np.argsort(hashes, kind="stable")
        hashes, rows = hashes[order], rows[order]
        at = np.searchsorted(self._hashes, hashes)
        self._hashes = np.insert(self._hashes, at, hashes)
        self._rows = np.insert(self._rows, at, rows)
        self._recent = {}

    def _along(self, at: int, wanted_hash: int, user_id: str) -> int:
        """The row of `user_id` among the rows whose hash equals `wanted_hash`, from `at` on."""
        ids = self._ids()
        while at < len(self._hashes) and self._hashes[at] == wanted_hash:
            row = int(self._rows[at])
            if ids[row] == user_id:
                return row
            at += 1
        return -1


def _objects(values: Sequence[str]) -> np.ndarray:
    return np.fromiter(values, object, len(values))
