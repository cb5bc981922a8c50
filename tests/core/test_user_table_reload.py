"""A reload over a full table: users found as they were change nothing; kept orders merge lazily;
room reserved for every user is made a column at a time."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from anonconsole.core import user_table
from anonconsole.core.classify import AnonymousPolicy, Kind
from anonconsole.core.records import User
from anonconsole.core.user_table import FIELD_NAMES, Column, TableFilter, UserTable
from tests.core.test_user_table import DAY, NOW, POLICY, anon, regular


def loaded(count: int) -> tuple[UserTable, list[User]]:
    users = [
        anon(i, age_days=i % 50) if i % 4 else regular(i, f"Name {i}", f"m{i}@x.org") for i in range(count)
    ]
    table = UserTable(POLICY, now=lambda: NOW)
    table.append(users)
    return table, users


def fresh_order(table: UserTable, column: Column) -> list[int]:
    again = UserTable(table.policy, now=lambda: NOW)
    again.append([table.user(row) for row in range(len(table))])
    again.set_last_sign_ins(
        {
            table.user_id(row): last
            for row in range(len(table))
            if (last := table.last_sign_in(row)) is not None
        }
    )
    return again.prepare_sort(column).tolist()


def test_users_found_as_they_were_are_found_but_not_changed() -> None:
    table, users = loaded(40)
    version = table.version
    done = table.upsert_page(table.prepare(users[::-1]))  # a reload: every user, in another order
    assert len(done.new) == 0
    assert sorted(done.found.tolist()) == list(range(40))
    assert done.changed.tolist() == []
    new, found = table.upsert(users[:3])
    assert list(new) == []
    assert sorted(found.tolist()) == [0, 1, 2]  # `upsert` still says found
    assert table.version > version  # still a change of version: a sort made meanwhile is not kept


def test_only_the_users_that_differ_are_changed_and_rewritten() -> None:
    table, users = loaded(40)
    page = list(users)
    page[3] = replace(users[3], name="Renamed")  # a text field
    page[5] = replace(users[5], login_ids=("first@x.org", "second@x.org"))  # one login ID -> two
    page[6] = replace(users[6], verified_email=True, email="now@x.org")  # a flag: another kind
    page[9] = replace(users[9], status="disabled")
    page[10] = replace(users[10], custom_attributes={"plan": "pro"})  # in the rest of the fields
    page.append(anon(40))
    done = table.upsert_page(table.prepare(page))
    assert list(done.new) == [40]
    assert done.changed.tolist() == [3, 5, 6, 9, 10]
    for row in (3, 5, 6, 9, 10):
        assert table.user(row) == page[row]
    assert table.kind(6) is Kind.ATTENTION
    assert table.display(5, Column.LOGIN_IDS) == "first@x.org, second@x.org"
    assert [int(r) for r in table.query(TableFilter(text="second@x"))] == [5]
    assert [int(r) for r in table.query(TableFilter(text="renamed"))] == [3]


def test_a_hidden_user_found_again_is_changed_and_shown() -> None:
    table, users = loaded(10)
    table.mark_missing(np.arange(1, 10, dtype=np.int64))
    assert table.is_gone(0)
    done = table.upsert_page(table.prepare(users))
    assert done.changed.tolist() == [0]
    assert not table.is_gone(0)
    assert table.counts() == UserTable.counts(loaded(10)[0])


def test_a_page_prepared_for_another_tenant_classifies_again() -> None:
    table, users = loaded(12)
    page = table.prepare(users)
    table.set_policy(AnonymousPolicy("T-other", 30 * DAY))  # while the page was prepared
    kinds = [table.kind(row) for row in range(12)]
    assert Kind.ANONYMOUS not in kinds  # none is in the anonymous tenant any more
    done = table.upsert_page(page)  # its kinds say "anonymous": stale, not compared, not stored
    assert done.changed.tolist() == []
    assert [table.kind(row) for row in range(12)] == kinds


def test_sign_ins_known_already_are_not_changes() -> None:
    table, users = loaded(10)
    first = table.set_last_sign_ins({users[1].user_id: NOW - DAY, users[2].user_id: NOW - 2 * DAY})
    assert first.tolist() == [1, 2]
    again = table.set_last_sign_ins({users[1].user_id: NOW - DAY, users[2].user_id: NOW - 3 * DAY})
    assert again.tolist() == [2]
    assert table.set_last_sign_ins({users[1].user_id: NOW - DAY}).tolist() == []
    assert table.last_sign_in(2) == NOW - 3 * DAY


@pytest.mark.parametrize("seed", range(4))
def test_counts_follow_reloads_that_change_kinds_flags_and_hidden_users(seed: int) -> None:
    rng = random.Random(seed)
    table, users = loaded(60)

    def brute(test_users: str) -> dict[Kind, int]:
        counted = dict.fromkeys(Kind, 0)
        for row in range(len(table)):
            test = table.user(row).test
            if (
                table.is_gone(row)
                or (test_users == "exclude" and test)
                or (test_users == "only" and not test)
            ):
                continue
            counted[table.kind(row)] += 1
        return counted

    for step in range(12):
        chosen = rng.sample(range(len(table)), 15)
        page = [
            replace(
                table.user(row),
                test=rng.random() < 0.3,
                tenants=() if rng.random() < 0.3 else users[1].tenants,
            )
            for row in chosen
        ]
        page.append(anon(1000 + step, test=rng.random() < 0.5))
        table.upsert(page)
        if step % 4 == 3:
            table.mark_missing(np.array(rng.sample(range(len(table)), 50), dtype=np.int64))
        for test_users in ("exclude", "include", "only"):
            assert table.counts(test_users) == brute(test_users)  # type: ignore[arg-type]


def test_kept_orders_take_new_rows_when_read_and_follow_rows_changed_before() -> None:
    table, users = loaded(30)
    table.set_last_sign_ins({users[2].user_id: NOW - DAY})
    for column in (Column.LOGIN_IDS, Column.LAST_SIGN_IN):
        table.prepare_sort(column)
    kept_before = table._sort_cache[Column.LOGIN_IDS][0]
    more = [anon(i) for i in range(30, 50)]
    table.append(more)
    assert table._sort_cache[Column.LOGIN_IDS][0] is kept_before  # not merged per page...
    # ...rows not merged yet change in place; rows merged already move:
    table.upsert([replace(more[3], login_ids=("aaa-first",)), replace(users[7], login_ids=("aab-second",))])
    table.set_last_sign_ins({more[4].user_id: NOW - 2 * DAY, users[3].user_id: NOW - 3 * DAY})
    for column in (Column.LOGIN_IDS, Column.LAST_SIGN_IN):
        assert table.sort_permutation(column).tolist() == fresh_order(table, column)  # ...but when read
    assert table.sort_permutation(Column.LOGIN_IDS)[:2].tolist() == [33, 7]


def test_many_rows_waiting_are_merged_without_a_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(user_table, "SORT_MERGE_AT", 8)
    table, _ = loaded(10)
    table.prepare_sort(Column.LOGIN_IDS)
    table.append([anon(i) for i in range(10, 15)])
    assert len(table._sort_cache[Column.LOGIN_IDS][0]) == 10  # 5 waiting
    table.append([anon(i) for i in range(15, 20)])
    assert len(table._sort_cache[Column.LOGIN_IDS][0]) == 20  # 10 waiting: merged
    assert table.sort_permutation(Column.LOGIN_IDS).tolist() == fresh_order(table, Column.LOGIN_IDS)


def test_room_reserved_is_made_a_field_column_per_page(monkeypatch: pytest.MonkeyPatch) -> None:
    table = UserTable(POLICY, now=lambda: NOW)
    table.reserve(5000)
    capacity = 5000 + 5000 // 50
    fields = [getattr(table._fields, name) for name in FIELD_NAMES]
    assert [len(f.data) >= capacity for f in fields] == [False] * len(fields)  # none at once
    for page in range(len(FIELD_NAMES)):
        table.append([anon(page * 100 + i) for i in range(100)])
        assert sum(len(f.data) >= capacity for f in fields) == page + 1
    resized: list[int] = []
    original = user_table._Growable._resize
    monkeypatch.setattr(
        user_table._Growable,
        "_resize",
        lambda self, cap, dtype: (resized.append(cap), original(self, cap, dtype)),
    )
    for start in range(800, 5000, 700):
        table.append([anon(i) for i in range(start, min(start + 700, 5000))])
    assert resized == []  # every column had its room: none grew
    assert len(table) == 5000
    assert table.user(4999) == anon(4999)


def test_a_column_short_of_its_room_grows_to_it_at_once() -> None:
    table = UserTable(POLICY, now=lambda: NOW)
    table.reserve(3000)  # then pages bigger than the first columns' room, before their turn
    table.append([anon(i) for i in range(2000)])
    assert all(len(getattr(table._fields, name).data) >= 3000 for name in FIELD_NAMES)
    assert [int(r) for r in table.query(TableFilter(text="r01999x"))] == [1999]
    assert table.user(1234) == anon(1234)


def test_users_not_seen_are_hidden_by_rows_or_by_mask() -> None:
    by_rows, _ = loaded(12)
    by_mask, _ = loaded(12)
    seen = np.ones(10, dtype=np.bool_)  # rows 10 and 11: past the mask's end, not seen
    seen[[2, 5]] = False
    assert by_mask.mark_missing(seen).tolist() == [2, 5, 10, 11]
    assert by_rows.mark_missing(np.flatnonzero(seen)).tolist() == [2, 5, 10, 11]
    assert by_mask.mark_missing(seen).tolist() == []  # hidden already
    assert by_mask.counts() == by_rows.counts()
    assert [by_mask.is_gone(row) for row in range(12)] == [by_rows.is_gone(row) for row in range(12)]
