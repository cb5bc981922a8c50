"""Column-major substring search: the same answers as a per-row search, across blocks and updates."""

from __future__ import annotations

import mmap
import random

import numpy as np
import pytest

from anonconsole.core import haystack
from anonconsole.core.haystack import Haystack

NEEDLES = [
    b"a",
    b"ab",
    b"abc",
    b"cab",
    b"zz",
    b"\x1fx",
    b"q",
    b"zzzzabcabcabcabc",
    b"abcabcabcabcabcabcabcabcabc",
]


def reference(texts: list[bytes], needle: bytes) -> list[bool]:
    return [needle in text for text in texts]


def filled(texts: list[bytes], page: int = 97) -> Haystack:
    h = Haystack()
    for start in range(0, len(texts), page):
        h.extend(np.array(texts[start : start + page], dtype=bytes))
    return h


@pytest.fixture
def texts() -> list[bytes]:
    rng = random.Random(3)
    return [("".join(rng.choices("abc\x1fxyz", k=rng.randrange(0, 12)))).encode() for _ in range(1000)]


@pytest.mark.parametrize("few", [1, haystack.FEW, 10**9])  # rest of a query: over the block, mixed, per row
def test_answers_equal_a_search_row_by_row(
    texts: list[bytes], few: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(haystack, "BLOCK", 64)  # many blocks, ranges across their edges
    monkeypatch.setattr(haystack, "FEW", few)
    h = filled(texts)
    for needle in NEEDLES:
        for start, stop in [(0, None), (63, 129), (500, 1000), (999, 1000), (1000, 1000)]:
            expected = reference(texts[start:stop], needle)
            assert h.find(needle, start, stop).tolist() == expected, (needle, start, stop)


def test_replaced_and_longer_texts_are_searched(texts: list[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(haystack, "BLOCK", 64)
    h = filled(texts)
    for row in (5, 64, 500):  # wider than any before: the matrix widens
        texts[row] = b"zzzzabcabcabcabcabcabc"
        h.set(row, texts[row])
    texts[7] = b""
    h.set(7, b"")
    h.extend(np.array([b"x" * 40 + b"tail"], dtype=bytes))
    texts.append(b"x" * 40 + b"tail")
    for needle in [*NEEDLES, b"tail", b"xtai"]:
        for start, stop in [(0, None), (63, 129), (60, 66), (1000, 1001)]:
            expected = reference(texts[start:stop], needle)
            assert h.find(needle, start, stop).tolist() == expected, (needle, start, stop)
    assert len(h) == 1001


def test_empty_and_nul_needles() -> None:
    h = filled([b"a", b"", b"ba"])
    assert h.find(b"").tolist() == [True, True, True]
    assert h.find(b"a\0").tolist() == [False, False, False]  # NUL pads the texts
    assert h.find(b"\0").tolist() == [False, False, False]
    assert Haystack().find(b"a").tolist() == []


def test_reserve_keeps_rows_and_room() -> None:
    h = filled([b"one", b"two"])
    h.reserve(10_000)
    h.extend(np.array([b"three"], dtype=bytes))
    assert h.find(b"t").tolist() == [False, True, True]
    assert h.nbytes >= 10_000


def test_a_range_across_blocks_scans_each_block_to_its_own_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(haystack, "BLOCK", 64)
    texts = [b"short"] * 128
    texts[70] = b"short" * 4 + b"needle"  # the only long text, in the second block
    h = filled(texts)
    assert h.find(b"needle", 60, 80).tolist() == reference(texts[60:80], b"needle")


def test_texts_replaced_together_equal_texts_replaced_one_by_one(
    texts: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(haystack, "BLOCK", 64)
    one_by_one, together = filled(texts), filled(texts)
    rows = np.array([3, 64, 65, 700, 999], dtype=np.int64)
    new = [b"abcabcabcabcabcabcabcabcabcz", b"", b"q", b"zz", b"cab"]  # one wider than any before
    for row, text in zip(rows.tolist(), new, strict=True):
        one_by_one.set(row, text)
        texts[row] = text
    together.set_many(rows, np.array(new, dtype=bytes))
    assert np.array_equal(together.matrix(), one_by_one.matrix())
    for needle in [*NEEDLES, b"cabz", b"bcz"]:
        assert together.find(needle).tolist() == reference(texts, needle), needle


def test_a_large_matrix_is_mapped_zeroed_and_searched(monkeypatch: pytest.MonkeyPatch) -> None:
    """Room for many rows comes from anonymous memory (no huge pages): zeroed, writable, searched,
    with character positions to spare: a longer text widens it without a copy."""
    monkeypatch.setattr(haystack, "MAPPED_BYTES", 1 << 12)
    h = Haystack()
    h.reserve(50_000)
    h.extend(np.array([b"first", b"second"], dtype=bytes))
    owner: object = h.matrix()
    while isinstance(owner, np.ndarray | memoryview):
        owner = owner.base if isinstance(owner, np.ndarray) else owner.obj
    assert isinstance(owner, mmap.mmap)  # a view of the mapping
    room = h._room
    h.extend(np.array([b"x" * 30 + b"needle"], dtype=bytes))  # wider: in the room it has
    assert h._room is room
    h.extend(np.array([b"y" * haystack.ROOM_POSITIONS + b"needle"], dtype=bytes))  # beyond: mapped again
    assert h._room is not room
    assert h.find(b"needle").tolist() == [False, False, True, True]
    assert h.find(b"sec").tolist() == [False, True, False, False]
    assert h.find(b"yyyyyyyyyy").tolist() == [False, False, False, True]
    assert not h._data[:, 4:].any()  # the room past the rows is zeros
