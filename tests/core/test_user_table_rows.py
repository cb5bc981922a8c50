"""`TableFilter.rows`: a filter restricted to given table rows (the cull preview's candidates)."""

from __future__ import annotations

import numpy as np
import pytest

from anonconsole.core.classify import AnonymousPolicy, Kind
from anonconsole.core.records import User, UserTenant
from anonconsole.core.user_table import Column, TableFilter, UserTable

ANON = "T2AnonymousUsers00000000000000"
DAY = 86400
NOW = 1_800_000_000


def anon(i: int, *, test: bool = False) -> User:
    return User(
        user_id=f"U{i:027d}",
        login_ids=(f"guest-{i:03d}",),
        status="enabled",
        tenants=(UserTenant(ANON, "Anonymous Users"),),
        created_time=NOW - (100 - i) * DAY,
        test=test,
    )


@pytest.fixture
def table() -> UserTable:
    t = UserTable(AnonymousPolicy(ANON, 365 * DAY), now=lambda: NOW)
    t.append([anon(i, test=i == 7) for i in range(10)])
    return t


def test_only_the_given_rows_are_kept_with_the_other_fields_applied(table: UserTable) -> None:
    chosen = TableFilter(rows=np.array([8, 2, 5, 7]), test_users="include")
    assert table.query(chosen).tolist() == [2, 5, 7, 8]
    assert table.query(TableFilter(rows=np.array([8, 2, 5, 7]))).tolist() == [2, 5, 8]  # no test users
    assert table.query(TableFilter(rows=np.array([2, 5, 8]), text="guest-005")).tolist() == [5]
    assert table.query(TableFilter(rows=np.array([2, 5, 8]), kind=Kind.REGULAR)).tolist() == []
    by_created = table.query(TableFilter(rows=np.array([2, 5, 8])), Column.CREATED, descending=True)
    assert by_created.tolist() == [8, 5, 2]


def test_no_rows_keeps_none_and_none_keeps_all(table: UserTable) -> None:
    assert table.query(TableFilter(rows=np.zeros(0, dtype=np.int64))).tolist() == []
    assert len(table.query(TableFilter(rows=None, test_users="include"))) == 10


def test_a_partial_mask_from_a_start_row_and_rows_beyond_the_table(table: UserTable) -> None:
    spec = TableFilter(rows=np.array([1, 6, 9, 12, 40]))  # 12 and 40 are not rows (yet)
    assert table.mask(spec, start=5).tolist() == [False, True, False, False, True]
    table.append([anon(i) for i in range(10, 13)])  # a page arrives: row 12 now exists
    assert table.mask(spec, start=10).tolist() == [False, False, True]
    assert table.query(spec).tolist() == [1, 6, 9, 12]


def test_gone_rows_stay_hidden(table: UserTable) -> None:
    table.mark_missing(np.array([0, 1, 2, 4, 5, 6, 7, 8, 9]))  # row 3 was not seen again
    assert table.query(TableFilter(rows=np.array([2, 3, 4]))).tolist() == [2, 4]


def test_the_rows_are_a_read_only_copy_and_not_compared(table: UserTable) -> None:
    given = np.array([3, 1, 3], dtype=np.int64)
    spec = TableFilter(rows=given)
    given[0] = 9  # the caller's array changing later does not change the filter
    assert spec.rows is not None
    assert spec.rows.tolist() == [1, 3]
    with pytest.raises(ValueError, match="read-only"):
        spec.rows[0] = 4
    assert spec == TableFilter(rows=np.array([5]))  # compared by the other fields only
    assert hash(spec) == hash(TableFilter())
    with pytest.raises(ValueError, match="negative"):
        TableFilter(rows=np.array([-1, 2]))
