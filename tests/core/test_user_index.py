"""User ID -> row without a dict per user: the answers of a dict, hash collisions included."""

from __future__ import annotations

import random

import numpy as np
import pytest

from anonconsole.core import user_index
from anonconsole.core.user_index import UserIndex


class Table:
    """A user ID column that grows by reallocation, as the users table's does."""

    def __init__(self) -> None:
        self.ids = np.empty(0, dtype=object)

    def append(self, ids: list[str]) -> None:
        grown = np.empty(len(self.ids) + len(ids), dtype=object)
        grown[: len(self.ids)] = self.ids
        grown[len(self.ids) :] = np.fromiter(ids, object, len(ids))
        self.ids = grown


@pytest.fixture(params=["python hash", "colliding hash"])
def collisions(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.param == "colliding hash":  # a handful of hash values: most IDs share theirs
        monkeypatch.setattr(user_index, "_hash", lambda text: sum(map(ord, text)) % 7)


@pytest.mark.usefixtures("collisions")
@pytest.mark.parametrize("merge_at", [3, user_index.MERGE_AT])
def test_answers_equal_a_dict(monkeypatch: pytest.MonkeyPatch, merge_at: int) -> None:
    monkeypatch.setattr(user_index, "MERGE_AT", merge_at)
    rng = random.Random(4)
    table = Table()
    first = [f"U{rng.getrandbits(40):x}" for _ in range(50)]
    table.append(first)
    index = UserIndex.of(first, lambda: table.ids)
    expected = {user_id: row for row, user_id in enumerate(first)}
    for _ in range(20):
        page = [f"U{rng.getrandbits(40):x}" for _ in range(rng.randrange(1, 9))]
        rows = range(len(table.ids), len(table.ids) + len(page))
        table.append(page)
        index.add_many(zip(page, rows, strict=True))
        expected.update(zip(page, rows, strict=True))
        asked = [*rng.sample(list(expected), 10), "U-unknown", page[0]]
        assert index.rows(asked).tolist() == [expected.get(u, -1) for u in asked]
        assert index.get(asked[0]) == expected[asked[0]]
        assert index.get("U-unknown") is None
    assert len(index) == len(expected)
    index.merge()
    assert index.rows(list(expected)).tolist() == list(expected.values())


def test_an_empty_index_finds_nothing() -> None:
    index = UserIndex(lambda: np.empty(0, dtype=object))
    assert index.rows(["U1"]).tolist() == [-1]
    assert index.get("U1") is None
    assert index.rows([]).tolist() == []


def test_rows_are_checked_against_the_bound_column() -> None:
    ids = np.fromiter(["U1", "U2"], object, 2)
    index = UserIndex.of(["U1", "U2"], lambda: ids)
    moved = np.fromiter(["U1", "U2", "U3"], object, 3)
    index.bind(lambda: moved)
    index.add("U3", 2)
    index.merge()
    assert index.rows(["U3", "U2", "U1"]).tolist() == [2, 1, 0]
    assert index.nbytes == 3 * 16
