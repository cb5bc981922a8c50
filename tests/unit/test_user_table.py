"""Columnar users table: classification per row, vectorised filters, cached sort permutations."""

from __future__ import annotations

import numpy as np
import pytest

from anonconsole.core.classify import AnonymousPolicy, Kind
from anonconsole.core.records import User, UserTenant
from anonconsole.core.user_table import Column, TableFilter, UserTable, format_time

ANON = "T2AnonymousUsers00000000000000"
DAY = 86400
NOW = 1_800_000_000
POLICY = AnonymousPolicy(ANON, 365 * DAY)


def anon(i: int, *, age_days: int = 10, **fields: object) -> User:
    base: dict[str, object] = {
        "user_id": f"U{i:027d}",
        "login_ids": (f"r{i:05d}x@q{i}z.com",),
        "status": "enabled",
        "tenants": (UserTenant(ANON, "Anonymous Users"),),
        "created_time": NOW - age_days * DAY,
    }
    base.update(fields)
    return User(**base)  # type: ignore[arg-type]


def regular(i: int, name: str, email: str, **fields: object) -> User:
    return anon(i, tenants=(), name=name, email=email, verified_email=True, login_ids=(email,), **fields)


@pytest.fixture
def table() -> UserTable:
    t = UserTable(POLICY, now=lambda: NOW)
    t.append(
        [
            anon(0, age_days=10),
            anon(1, age_days=400),
            anon(2, age_days=800, status="invited"),
            regular(3, "Zoë Zimmer", "zoe@example.com"),
            regular(4, "Adam Ant", "adam@example.org", status="disabled"),
            anon(5, email="found@example.com", verified_email=True),
            anon(6, test=True),
        ]
    )
    return t


def ids(table: UserTable, rows: np.ndarray) -> list[int]:
    return [int(table.user(int(r)).user_id[1:]) for r in rows]


def test_counts_per_kind_exclude_test_users(table: UserTable) -> None:
    assert table.counts() == {Kind.ANONYMOUS: 3, Kind.REGULAR: 2, Kind.ATTENTION: 1}
    assert table.counts("include")[Kind.ANONYMOUS] == 4
    assert table.counts("only") == {Kind.ANONYMOUS: 1, Kind.REGULAR: 0, Kind.ATTENTION: 0}


def test_filter_by_kind_status_expiry_and_creation(table: UserTable) -> None:
    assert ids(table, table.query(TableFilter(kind=Kind.ANONYMOUS))) == [0, 1, 2]
    assert ids(table, table.query(TableFilter(kind=Kind.ANONYMOUS, expired=True))) == [1, 2]
    assert ids(table, table.query(TableFilter(kind=Kind.ANONYMOUS, expired=False))) == [0]
    assert ids(table, table.query(TableFilter(statuses=frozenset({"disabled", "invited"})))) == [2, 4]
    window = TableFilter(created_from=NOW - 500 * DAY, created_to=NOW - 300 * DAY)
    assert ids(table, table.query(window)) == [1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ZOË", [3]),  # case-insensitive, non-ASCII
        ("example.org", [4]),
        ("U000000000000000000000000002", [2]),
        ("r00001x", [1]),
        ("nobody-has-this", []),
        ("  adam ", [4]),  # surrounding blanks ignored
    ],
)
def test_text_search(table: UserTable, text: str, expected: list[int]) -> None:
    assert ids(table, table.query(TableFilter(text=text))) == expected


def test_text_does_not_match_across_fields(table: UserTable) -> None:
    # user ID of row 3 ends with "3", its login id starts with "zoe": no row contains "3zoe".
    assert len(table.query(TableFilter(text="3zoe"))) == 0


def test_sort_ascending_descending_and_filtered(table: UserTable) -> None:
    everyone = TableFilter(test_users="include")
    assert ids(table, table.query(everyone, Column.CREATED)) == [2, 1, 0, 3, 4, 5, 6]
    by_name = ids(table, table.query(TableFilter(kind=Kind.REGULAR), Column.NAME, descending=True))
    assert by_name == [3, 4]
    expiring = table.query(TableFilter(kind=Kind.ANONYMOUS), Column.EXPIRES)
    assert ids(table, expiring) == [2, 1, 0]


def test_last_sign_in_moves_expiry_and_invalidates_sort(table: UserTable) -> None:
    assert table.expired(1)
    table.query(TableFilter(), Column.EXPIRES)
    assert table.sort_ready(Column.EXPIRES)
    changed = table.set_last_sign_ins({anon(1).user_id: NOW - DAY, "U-unknown": NOW})
    assert changed.tolist() == [1]
    assert not table.expired(1)
    assert not table.sort_ready(Column.EXPIRES)
    assert table.display(1, Column.LAST_SIGN_IN) == format_time(NOW - DAY)
    assert table.display(0, Column.LAST_SIGN_IN) == "never"
    assert "last sign-in" in table.classification(1).reason


def test_upsert_updates_in_place(table: UserTable) -> None:
    converted = anon(0, tenants=(), email="new@example.com", verified_email=True)
    new, updated = table.upsert([converted, anon(7)])
    assert list(new) == [7]
    assert updated.tolist() == [0]
    assert table.kind(0) is Kind.REGULAR
    assert ids(table, table.query(TableFilter(text="new@example"))) == [0]
    assert len(table) == 8


def test_display_texts(table: UserTable) -> None:
    assert table.display(3, Column.TENANTS) == ""
    assert table.display(0, Column.TENANTS) == "Anonymous Users"
    assert table.display(0, Column.KIND) == "Anonymous"
    assert table.display(0, Column.EXPIRES) == "in 11 months"
    assert table.display(1, Column.EXPIRES) == "expired 35 days ago"
    assert table.display(3, Column.EXPIRES) == ""
    assert "verified email zoe@example.com" in table.display(3, Column.REASON)
    assert [c.title for c in (Column.USER_ID, Column.EXPIRES)] == ["User ID", "Expires in / expired for"]


def test_policy_change_reclassifies(table: UserTable) -> None:
    table.set_policy(AnonymousPolicy("", None))
    assert table.counts()[Kind.ANONYMOUS] == 0


def test_empty_table_queries() -> None:
    empty = UserTable(POLICY, now=lambda: NOW)
    assert len(empty.query(TableFilter(text="x"), Column.NAME)) == 0
    assert empty.counts() == {Kind.ANONYMOUS: 0, Kind.REGULAR: 0, Kind.ATTENTION: 0}


def test_growth_past_initial_capacity() -> None:
    big = UserTable(POLICY, now=lambda: NOW)
    for start in range(0, 3000, 1000):
        big.append(anon(i, age_days=i % 700) for i in range(start, start + 1000))
    assert len(big) == 3000
    rows = big.query(TableFilter(kind=Kind.ANONYMOUS, expired=True), Column.CREATED)
    assert len(rows) == sum(1 for i in range(3000) if i % 700 > 365)
    created = [big.user(int(r)).created_time for r in rows]
    assert created == sorted(created)


def test_missing_users_are_hidden_not_removed(table: UserTable) -> None:
    present = {table.user(r).user_id for r in range(len(table)) if r != 1}
    gone = table.mark_missing(present)
    assert gone.tolist() == [1]
    assert table.is_gone(1)
    assert 1 not in table.query(TableFilter(test_users="include")).tolist()
    assert table.counts()[Kind.ANONYMOUS] == 2
    assert table.mark_missing(present).tolist() == []  # already hidden
    _, updated = table.upsert([table.user(1)])  # found again by a later load
    assert updated.tolist() == [1]
    assert not table.is_gone(1)


def test_prepare_sort_does_not_cache_a_stale_permutation(
    table: UserTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = table._sort_keys

    def keys_while_a_page_arrives(column: Column, size: int) -> np.ndarray:
        keys = original(column, size)
        table.append([anon(50)])  # the UI thread appends while a worker sorts
        return keys

    monkeypatch.setattr(table, "_sort_keys", keys_while_a_page_arrives)
    perm = table.prepare_sort(Column.NAME)
    assert len(perm) == len(table) - 1
    assert not table.sort_ready(Column.NAME)
    monkeypatch.undo()
    assert len(table.sort_permutation(Column.NAME)) == len(table)
    assert table.sort_ready(Column.NAME)
