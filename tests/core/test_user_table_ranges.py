"""TableFilter's last-activity and expiry bounds (what a bar of the lifecycle page shows): inclusive at
both ends, open on a side left None, and combined with the other fields."""

from __future__ import annotations

from typing import Any

import pytest

from anonconsole.core.classify import AnonymousPolicy, Kind
from anonconsole.core.records import User, UserTenant
from anonconsole.core.user_table import NONE, TableFilter, UserTable

ANON = "T2AnonymousUsers00000000000000"
DAY = 86400
NOW = 1_800_000_000
LIFETIME = 100 * DAY
IN_ANON = (UserTenant(ANON, "Anonymous Users"),)


def user(i: int, created: int, **fields: Any) -> User:
    login = f"r{i:05d}x@q{i}z.com"
    plain: dict[str, Any] = {"status": "enabled", "tenants": IN_ANON, "created_time": created}
    return User(f"U{i:027d}", (login,), **(plain | fields))


@pytest.fixture
def table() -> UserTable:
    t = UserTable(AnonymousPolicy(ANON, LIFETIME, 5 * DAY), now=lambda: NOW)
    t.append(
        [
            user(0, NOW - 50 * DAY),  # never signed in: active at creation
            user(1, NOW - 300 * DAY),  # signed in 10 days ago (below)
            user(2, NOW - 20 * DAY),
            user(3, NOW - 20 * DAY, tenants=(), verified_email=True, email="a@example.com"),  # regular
            user(4, NOW - 20 * DAY, test=True),
        ]
    )
    t.set_last_sign_ins({"U000000000000000000000000001": NOW - 10 * DAY})
    return t


def rows(table: UserTable, **bounds: int | None) -> list[int]:
    found: list[int] = table.query(TableFilter(**bounds)).tolist()  # type: ignore[arg-type]
    return found


def test_last_activity_bounds_are_inclusive_and_count_from_the_last_sign_in(table: UserTable) -> None:
    assert rows(table, active_from=NOW - 20 * DAY) == [1, 2, 3]
    assert rows(table, active_from=NOW - 20 * DAY + 1) == [1]
    assert rows(table, active_to=NOW - 20 * DAY) == [0, 2, 3]
    assert rows(table, active_from=NOW - 50 * DAY, active_to=NOW - 50 * DAY) == [0]
    assert rows(table, active_to=NOW - 300 * DAY) == []  # user 1's creation is not its activity


def test_expiry_bounds_are_inclusive_and_need_a_known_expiry(table: UserTable) -> None:
    expires = table.expiry_times()
    assert expires[:3].tolist() == [NOW + 55 * DAY, NOW + 95 * DAY, NOW + 85 * DAY]
    assert expires[3] == NONE  # regular: no expiry
    assert rows(table, expires_from=NOW + 85 * DAY) == [1, 2]
    assert rows(table, expires_to=NOW + 85 * DAY) == [0, 2]
    assert rows(table, expires_from=NOW + 85 * DAY, expires_to=NOW + 85 * DAY) == [2]
    assert rows(table, expires_from=0) == [0, 1, 2]  # the regular user has none


def test_bounds_combine_with_the_other_fields(table: UserTable) -> None:
    assert table.query(TableFilter(kind=Kind.ANONYMOUS, active_from=NOW - 20 * DAY)).tolist() == [1, 2]
    assert table.query(TableFilter(test_users="include", active_from=NOW - 20 * DAY)).tolist() == [1, 2, 3, 4]
    # A test user is never anonymous, so it has no expiry.
    assert table.query(TableFilter(test_users="only", expires_from=0)).tolist() == []


def test_expiry_times_is_a_read_only_view(table: UserTable) -> None:
    with pytest.raises(ValueError, match="read-only"):
        table.expiry_times()[0] = 0


def test_filters_without_bounds_are_unchanged(table: UserTable) -> None:
    assert TableFilter() == TableFilter(active_from=None, expires_to=None)
    assert rows(table) == [0, 1, 2, 3]
