"""Substring search over one short text per row, the texts stored column-major for vectorised scans.

Why not `np.strings.find` over a fixed-width bytes column (what the users table did first): it costs
~100 ns a row, 80-130 ms a query at 1,000,000 users. Stored column-major (character position × row),
a query is a few comparisons of contiguous byte vectors per character position, taken 256k rows at a
time so the vectors stay in the CPU's cache: ~12-35 ms at 1,000,000 rows, and a longer query costs
little more than its first two characters (where those match, the rest is compared at those rows).

Texts are bytes (the users table gives lowercase UTF-8); a match never spans two rows. The matrix
is as wide as the longest text seen (plus a margin), like the fixed-width column it replaces.
Pure numpy: no Qt, no I/O.

A large matrix is mapped without transparent huge pages (`_allocate`): room reserved for 1,000,000
rows is 60+ rows of 1 MB, and the first rows written touch every one of them; with huge pages
each touch made the kernel zero 2 MB at once, ~30-80 ms in one turn of the UI thread. With
4 KB pages the zeroing is spread over the load, a page now and then. The mapping also holds
character positions to spare (`ROOM_POSITIONS`), untouched until used: a text longer than any
before widens the matrix in place, where a copy of it took 30-60 ms at 1,000,000 rows.
"""

from __future__ import annotations

import mmap

import numpy as np
import numpy.typing as npt

BLOCK = 1 << 18  # rows scanned together: a 256 KB vector per character position (fits the L2 cache)
FEW = 16  # below 1/FEW of a block's rows, the rest of a query is compared at those rows alone
MAPPED_BYTES = 1 << 22  # matrices this large are mapped without huge pages (see the module's doc)
ROOM_POSITIONS = 256  # character positions a mapped matrix has room for (address space, not memory)

Mask = npt.NDArray[np.bool_]


class Haystack:
    """Bytes per row, searched for a substring; rows are appended or replaced, never removed.

    Attributes:
        size: the number of rows.
    """

    def __init__(self) -> None:
        # Character position × row: the first rows of `_room`, which may hold more (see `_fit`).
        self._room = self._data = np.zeros((8, 1024), dtype=np.uint8)
        # Per block of BLOCK rows: the longest text in it, so a scan stops at the block's last column.
        self._block_width = np.zeros(1, dtype=np.int64)
        self.size = 0

    def __len__(self) -> int:
        return self.size

    @property
    def nbytes(self) -> int:
        return int(self._data.nbytes + self._block_width.nbytes)

    @classmethod
    def of_matrix(cls, matrix: npt.NDArray[np.uint8], capacity: int = 0) -> Haystack:
        """A haystack holding `matrix` (character position × row, as `matrix()` gives it), with room
        for `capacity` rows in all (at least its own)."""
        positions, size = matrix.shape
        haystack = cls()
        haystack._allocate(max(positions, 8), max(size, capacity, 1024))
        haystack._data[:positions, :size] = matrix
        haystack._block_width = np.zeros(size // BLOCK + 1, dtype=np.int64)
        for block, low in enumerate(range(0, size, BLOCK)):
            used = np.flatnonzero(matrix[:, low : low + BLOCK].any(axis=1))
            haystack._block_width[block] = used[-1] + 1 if len(used) else 0
        haystack.size = size
        return haystack

    def matrix(self) -> npt.NDArray[np.uint8]:
        """The texts, character position × row, NUL-padded (a view: copy it to keep it)."""
        return self._data[:, : self.size]

    def reserve(self, capacity: int) -> None:
        """Make room for `capacity` rows in one allocation."""
        if capacity > self._data.shape[1]:
            self._resize(self._data.shape[0], capacity)

    def extend(self, texts: np.ndarray) -> None:
        """Append one text per row: a fixed-width bytes array (`dtype=bytes`), NULs as padding."""
        count = len(texts)
        if not count:
            return
        width = texts.dtype.itemsize
        needed = self.size + count
        capacity = self._data.shape[1]
        if needed > capacity:  # grow by half: amortised O(1) appends with modest slack
            capacity = max(needed, capacity * 3 // 2)
        self._fit(width, capacity)
        matrix = np.ascontiguousarray(texts).view(np.uint8).reshape(count, width)
        self._data[:width, self.size : needed] = matrix.T
        self._note_widths(np.arange(self.size, needed), np.strings.str_len(texts))
        self.size = needed

    def set(self, row: int, text: bytes) -> None:
        """Replace the text of an existing row."""
        self.set_many(np.array([row], dtype=np.int64), np.array([text], dtype=bytes))

    def set_many(self, rows: npt.NDArray[np.integer], texts: np.ndarray) -> None:
        """Replace the texts of existing rows (distinct), one per row: a fixed-width bytes array."""
        if not len(rows):
            return
        width = texts.dtype.itemsize
        self._fit(width, self._data.shape[1])
        matrix = np.ascontiguousarray(texts).view(np.uint8).reshape(len(rows), width)
        self._data[:, rows] = 0
        self._data[:width, rows] = matrix.T
        self._note_widths(rows, np.strings.str_len(texts))

    def find(self, needle: bytes, start: int = 0, stop: int | None = None) -> Mask:
        """Per row of `start`…`stop` (all rows by default): whether its text contains `needle`.

        An empty needle is in every text; one with a NUL byte in none (NUL is the padding).
        """
        stop = self.size if stop is None else min(stop, self.size)
        hits = np.zeros(max(0, stop - start), dtype=np.bool_)
        if not needle:
            hits[:] = True
            return hits
        if 0 in needle:  # NUL pads the texts: no text is searched for it
            return hits
        chars = np.frombuffer(needle, dtype=np.uint8)
        first = np.empty(min(BLOCK, len(hits)), dtype=np.bool_)
        other = np.empty_like(first)
        low = start
        while low < stop:
            high = min(stop, (low // BLOCK + 1) * BLOCK)  # blocks are aligned, for their widths
            width = int(self._block_width[low // BLOCK])
            self._scan(chars, low, high, width, hits[low - start : high - start], first, other)
            low = high
        return hits

    def _scan(
        self, chars: np.ndarray, low: int, high: int, width: int, hits: Mask, first: Mask, other: Mask
    ) -> None:
        """`hits` |= which rows `low`…`high` contain `chars`, one character position at a time.

        Each position compares the first two characters over the whole block; the rest only where
        those matched: over the block while many rows match, else at those rows alone (a long query
        costs little more than a short one).
        """
        count = high - low
        at, follow = first[:count], other[:count]
        data = self._data
        length = len(chars)
        for position in range(width - length + 1):
            np.equal(data[position, low:high], chars[0], out=at)
            if length > 1:
                np.equal(data[position + 1, low:high], chars[1], out=follow)
                np.logical_and(at, follow, out=at)
            if length <= 2:
                np.logical_or(hits, at, out=hits)
                continue
            matched = int(np.count_nonzero(at))
            if not matched:
                continue
            if length > 3 and matched * FEW < count:
                rows = np.flatnonzero(at)
                for offset in range(2, length):
                    rows = rows[data[position + offset, low + rows] == chars[offset]]
                hits[rows] = True
                continue
            for offset in range(2, length):
                np.equal(data[position + offset, low:high], chars[offset], out=follow)
                np.logical_and(at, follow, out=at)
            np.logical_or(hits, at, out=hits)

    def _note_widths(self, rows: npt.NDArray[np.integer], lengths: npt.NDArray[np.integer]) -> None:
        """Widen the block widths of `rows` to cover these lengths (one per row)."""
        if not len(lengths):
            return
        blocks = rows // BLOCK
        if blocks.max() >= len(self._block_width):
            grown = np.zeros(int(blocks.max()) + 1, dtype=np.int64)
            grown[: len(self._block_width)] = self._block_width
            self._block_width = grown
        np.maximum.at(self._block_width, blocks, lengths.astype(np.int64))

    def _fit(self, width: int, capacity: int) -> None:
        """Room for texts of `width` bytes in `capacity` rows (wider by a margin: each widening copies)."""
        positions = self._data.shape[0]
        if width > positions:
            positions = width + width // 4
        if positions > self._room.shape[0] or capacity > self._data.shape[1]:
            self._resize(positions, capacity)
        elif positions > self._data.shape[0]:
            self._data = self._room[:positions]  # rows of the room never written: zeros

    def _resize(self, positions: int, capacity: int) -> None:
        old = self._data
        self._allocate(positions, capacity)
        self._data[: old.shape[0], : self.size] = old[:, : self.size]

    def _allocate(self, positions: int, capacity: int) -> None:
        """A zeroed matrix of `positions` × `capacity` as `_data`: when large and the system can be
        told not to use huge pages, the first rows of a mapping with room to widen (`_fit`)."""
        if positions * capacity < MAPPED_BYTES or _NO_HUGE_PAGES is None:
            self._room = self._data = np.zeros((positions, capacity), dtype=np.uint8)
            return
        rows = max(positions, ROOM_POSITIONS)
        flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS  # zero pages, touched only when written
        memory = mmap.mmap(-1, rows * capacity, flags=flags)
        memory.madvise(_NO_HUGE_PAGES)
        # The arrays keep the mapping alive; it is unmapped with the last of them.
        self._room = np.frombuffer(memory, dtype=np.uint8).reshape(rows, capacity)
        self._data = self._room[:positions]


_NO_HUGE_PAGES: int | None = getattr(mmap, "MADV_NOHUGEPAGE", None)  # Linux only
