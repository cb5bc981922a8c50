"""Columnar users table: classification per row, vectorised filters, cached sort permutations."""

from __future__ import annotations

import gc
import random
from dataclasses import replace

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
    assert table.counts() == {Kind.ANONYMOUS: 3, Kind.REGULAR: 2, Kind.ATTENTION: 1, Kind.TEST: 0}
    assert table.counts("include")[Kind.ANONYMOUS] == 3  # the test user is a kind of its own
    assert table.counts("include")[Kind.TEST] == 1
    assert table.counts("only") == {Kind.ANONYMOUS: 0, Kind.REGULAR: 0, Kind.ATTENTION: 0, Kind.TEST: 1}


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


def kept_equals_fresh(table: UserTable, column: Column) -> bool:
    """The kept order of `column` is ready and equals a sort of every row made now."""
    if not table.sort_ready(column):
        return False
    kept = table.sort_permutation(column).tolist()
    return kept == table.prepare_sort(column).tolist()


def test_last_sign_in_moves_expiry_and_the_user_in_the_kept_order(table: UserTable) -> None:
    assert table.expired(1)
    before = table.query(TableFilter(), Column.EXPIRES).tolist()
    assert table.sort_ready(Column.EXPIRES)
    changed = table.set_last_sign_ins({anon(1).user_id: NOW - DAY, "U-unknown": NOW})
    assert changed.tolist() == [1]
    assert not table.expired(1)
    after = table.query(TableFilter(), Column.EXPIRES).tolist()
    assert after != before  # moved, without a new sort
    assert kept_equals_fresh(table, Column.EXPIRES)
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
    assert [c.heading for c in (Column.USER_ID, Column.EXPIRES)] == ["User ID", "Expires in / expired for"]


def test_policy_change_reclassifies(table: UserTable) -> None:
    table.set_policy(AnonymousPolicy("", None))
    assert table.counts()[Kind.ANONYMOUS] == 0


def test_empty_table_queries() -> None:
    empty = UserTable(POLICY, now=lambda: NOW)
    assert len(empty.query(TableFilter(text="x"), Column.NAME)) == 0
    assert empty.counts() == {Kind.ANONYMOUS: 0, Kind.REGULAR: 0, Kind.ATTENTION: 0, Kind.TEST: 0}


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
    present = np.array([r for r in range(len(table)) if r != 1], dtype=np.int64)
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
    original = table._sort_keys_of

    def keys_while_a_page_arrives(column: Column, rows: np.ndarray) -> np.ndarray | None:
        keys = original(column, rows)
        table.append([anon(50)])  # the UI thread appends while a worker sorts
        return keys

    monkeypatch.setattr(table, "_sort_keys_of", keys_while_a_page_arrives)
    perm = table.prepare_sort(Column.NAME)
    assert len(perm) == len(table) - 1
    assert not table.sort_ready(Column.NAME)
    monkeypatch.undo()
    assert len(table.sort_permutation(Column.NAME)) == len(table)
    assert table.sort_ready(Column.NAME)


def test_expiry_column_follows_the_classify_rule() -> None:
    """The vectorised expiry equals `classify`'s for every row, with and without sign-ins."""
    policy = AnonymousPolicy(ANON, 30 * DAY, grace_seconds=2 * DAY)
    t = UserTable(policy, now=lambda: NOW)
    users = [anon(i, age_days=i * 7) for i in range(40)] + [regular(100, "Reg", "reg@example.com")]
    t.append(users)
    t.set_last_sign_ins({u.user_id: NOW - i * DAY for i, u in enumerate(users) if i % 3 == 0})
    for row in range(len(t)):
        verdict = t.classification(row)
        assert verdict.kind is t.kind(row)
        assert t.expired(row) == (verdict.expires_at is not None and verdict.expires_at < NOW)
        assert (t.display(row, Column.EXPIRES) == "") == (verdict.expires_at is None)
    t.set_policy(AnonymousPolicy(ANON, None))
    assert not any(t.expired(row) for row in range(len(t)))
    assert all(t.classification(row).expires_at is None for row in range(len(t)))


def test_prepared_page_is_reclassified_when_the_policy_changed_meanwhile() -> None:
    t = UserTable(AnonymousPolicy("", None), now=lambda: NOW)
    page = t.prepare([anon(0), anon(1)])  # in the app: a worker thread, before the policy is known
    t.set_policy(POLICY)
    new, updated = t.upsert(page)
    assert list(new) == [0, 1]
    assert len(updated) == 0
    assert t.counts() == {Kind.ANONYMOUS: 2, Kind.REGULAR: 0, Kind.ATTENTION: 0, Kind.TEST: 0}
    assert t.expired(0) is False


def test_rows_give_back_equal_users_with_every_field() -> None:
    rich = User(
        user_id="U-rich",
        login_ids=("rich@example.com", "+15550100"),
        name="Rich Person",
        given_name="Rich",
        middle_name="M",
        family_name="Person",
        email="rich@example.com",
        phone="+15550100",
        verified_email=True,
        verified_phone=True,
        status="disabled",
        tenants=(UserTenant("T1", "One", ("admin",)),),
        role_names=("viewer",),
        test=True,
        created_time=NOW - 5,
        has_password=True,
        picture="https://example.com/p.png",
        custom_attributes={"plan": "pro"},
    )
    t = UserTable(POLICY, now=lambda: NOW)
    t.append([anon(0), rich])
    assert t.user(0) == anon(0)
    assert t.user(1) == rich
    assert t.user_id(1) == "U-rich"
    assert t.verified_email(1)
    assert t.verified_phone(1)
    assert not t.verified_email(0)


def test_same_user_twice_in_one_page_keeps_the_later_copy() -> None:
    t = UserTable(POLICY, now=lambda: NOW)
    new, updated = t.upsert([anon(0), anon(1), anon(0, status="disabled")])
    assert list(new) == [0, 1]
    assert len(updated) == 0
    assert t.user(0).status == "disabled"
    assert t.row_of(anon(1).user_id) == 1


def test_reloaded_user_with_a_longer_search_text_is_found_by_it() -> None:
    t = UserTable(POLICY, now=lambda: NOW)
    t.append([anon(0), anon(1)])
    long_name = "Maximilian Alexander von Wittelsbach-Hohenzollern"
    t.upsert([anon(1, name=long_name)])
    assert ids(t, t.query(TableFilter(text="hohenzollern"))) == [1]
    assert ids(t, t.query(TableFilter(text=anon(0).login_ids[0]))) == [0]


def test_mask_from_a_row_equals_the_tail_of_the_full_mask(table: UserTable) -> None:
    spec = TableFilter(kind=Kind.ANONYMOUS, text="x@q", expired=True, test_users="include")
    assert table.mask(spec, 3).tolist() == table.mask(spec)[3:].tolist()
    assert table.mask(spec, len(table)).tolist() == []


def test_reserve_then_pages_give_the_same_table() -> None:
    reserved = UserTable(POLICY, now=lambda: NOW)
    reserved.reserve(2500)
    grown = UserTable(POLICY, now=lambda: NOW)
    for start in range(0, 2500, 1000):
        page = [anon(i, age_days=i % 700) for i in range(start, min(2500, start + 1000))]
        reserved.append(page)
        grown.append(page)
    spec = TableFilter(kind=Kind.ANONYMOUS, expired=True)
    assert reserved.query(spec, Column.CREATED).tolist() == grown.query(spec, Column.CREATED).tolist()
    assert reserved.user(2499) == grown.user(2499)


def test_rows_are_not_objects_for_the_garbage_collector() -> None:
    """100k users must not add 100k objects to every full collection (100+ ms on the UI thread)."""
    t = UserTable(POLICY, now=lambda: NOW)
    pages = [t.prepare([anon(i) for i in range(start, start + 1000)]) for start in range(0, 5000, 1000)]
    gc.collect()
    before = len(gc.get_objects())
    for page in pages:
        t.upsert(page)
    del pages
    gc.collect()
    assert len(gc.get_objects()) - before < 100
    assert len(t) == 5000


@pytest.mark.parametrize("column", [Column.LOGIN_IDS, Column.NAME, Column.CREATED, Column.TENANTS])
def test_a_kept_order_takes_new_pages_in_as_a_full_sort_would(column: Column) -> None:
    """Pages arriving while a view is sorted are merged into the kept order: equal to sorting anew."""
    rng = random.Random(5)
    t = UserTable(AnonymousPolicy(ANON, 30 * DAY), now=lambda: NOW)
    t.append([anon(i, age_days=rng.randrange(60)) for i in range(0, 300, 3)])
    t.prepare_sort(column)
    for start in (1, 2):
        page = [anon(i, age_days=rng.randrange(60)) for i in range(start, 300, 3)]
        page += [regular(1000 + start, "Zoë Émile" * start, f"X{start}@Example.com")]  # longer keys
        t.append(page)
        assert t.sort_ready(column)  # merged, not dropped
        merged = t.sort_permutation(column)
        fresh = UserTable(t.policy, now=lambda: NOW)
        fresh.append([t.user(row) for row in range(len(t))])
        assert merged.tolist() == fresh.prepare_sort(column).tolist()


def test_kept_orders_follow_changes_of_their_keys_only() -> None:
    t = UserTable(AnonymousPolicy(ANON, 30 * DAY), now=lambda: NOW)
    users = [anon(i, age_days=i) for i in range(20)]
    t.append(users)
    for column in (Column.LOGIN_IDS, Column.LAST_SIGN_IN):
        t.prepare_sort(column)
    logins = t.sort_permutation(Column.LOGIN_IDS)
    t.set_last_sign_ins({users[3].user_id: NOW - DAY})
    assert t.sort_permutation(Column.LOGIN_IDS) is logins  # sign-ins do not reorder login IDs...
    assert kept_equals_fresh(t, Column.LAST_SIGN_IN)  # ...but move the user among last sign-ins
    t.upsert([users[5]])  # found again, unchanged (a refresh)
    assert t.sort_permutation(Column.LOGIN_IDS) is logins
    t.upsert([replace(users[5], login_ids=("aaa-first",))])
    assert t.sort_permutation(Column.LOGIN_IDS)[0] == 5
    assert kept_equals_fresh(t, Column.LOGIN_IDS)


@pytest.mark.parametrize("seed", range(6))
def test_kept_orders_equal_a_new_sort_after_any_changes(seed: int) -> None:
    """Pages, refreshed users, sign-ins and status changes, in any order: every kept order (text,
    numbers, many equal keys) stays what sorting every row anew gives."""
    rng = random.Random(seed)
    t = UserTable(AnonymousPolicy(ANON, 30 * DAY), now=lambda: NOW)
    columns = (Column.LOGIN_IDS, Column.NAME, Column.KIND, Column.EXPIRES, Column.TENANTS)

    def someone(i: int) -> User:
        if rng.random() < 0.3:
            return regular(i, rng.choice(["Ann", "bob", "Émile", ""]), f"{rng.choice('abc')}{i}@x.org")
        return anon(i, age_days=rng.randrange(60), status=rng.choice(["enabled", "disabled"]))

    t.append([someone(i) for i in range(40)])
    for step in range(30):
        t.prepare_sort(columns[step % len(columns)])
        t.prepare_sort(columns[(step + 2) % len(columns)])
        action = rng.randrange(4)
        if action == 0:
            start = len(t)
            t.append([someone(i) for i in range(start, start + rng.randrange(1, 8))])
        elif action == 1:
            t.upsert([someone(rng.randrange(len(t))) for _ in range(rng.randrange(1, 6))])
        elif action == 2:
            chosen = rng.sample(range(len(t)), 5)
            t.set_last_sign_ins({t.user_id(row): NOW - rng.randrange(90) * DAY for row in chosen})
        else:
            t.set_statuses(
                [t.user_id(rng.randrange(len(t))) for _ in range(3)], rng.choice(["disabled", "enabled"])
            )
        for column in columns:
            if t.sort_ready(column):
                assert kept_equals_fresh(t, column), (step, column)


def test_users_deleted_by_the_console_are_hidden_without_a_reload(table: UserTable) -> None:
    ids = [table.user_id(0), table.user_id(2), "U-not-loaded"]
    hidden = table.hide_users(ids)
    assert hidden.tolist() == [0, 2]
    assert table.is_gone(0)
    assert table.is_gone(2)
    assert 0 not in table.query(TableFilter()).tolist()
    assert table.hide_users(ids).tolist() == []  # already hidden: nothing new


def test_users_disabled_by_the_console_change_status_and_kind(table: UserTable) -> None:
    user_id = table.user_id(0)
    assert table.kind(0) is Kind.ANONYMOUS
    rows = table.set_statuses([user_id], "disabled")
    assert rows.tolist() == [0]
    assert table.user(0).status == "disabled"
    assert table.kind(0) is Kind.ATTENTION  # a disabled anonymous user needs a look
    assert 0 in table.query(TableFilter(statuses=("disabled",))).tolist()
    table.set_statuses([user_id], "enabled")
    assert table.kind(0) is Kind.ANONYMOUS


def test_restore_takes_the_columns_back_as_they_were(table: UserTable) -> None:
    table.set_last_sign_ins({anon(0).user_id: NOW - 2 * DAY})
    copy = UserTable(POLICY, now=lambda: NOW)
    copy.restore(table.columns().copy())
    assert len(copy) == len(table)
    for row in range(len(table)):
        assert copy.user(row) == table.user(row)
        assert [copy.display(row, c) for c in Column] == [table.display(row, c) for c in Column]
    assert copy.counts("include") == table.counts("include")
    assert copy.row_of(anon(4).user_id) == 4
    assert ids(copy, copy.query(TableFilter(text="example.org"))) == [4]
    new, updated = copy.upsert([anon(8), anon(0, status="disabled")])  # a refresh after the restore
    assert list(new) == [len(table)]
    assert updated.tolist() == [0]


def test_restore_under_another_policy_classifies_and_expires_again(table: UserTable) -> None:
    other = UserTable(AnonymousPolicy("T-other", 30 * DAY), now=lambda: NOW)
    other.restore(table.columns().copy())
    assert other.counts()[Kind.ANONYMOUS] == 0  # not in that tenant: nobody is anonymous there
    shorter = UserTable(AnonymousPolicy(ANON, 5 * DAY), now=lambda: NOW)
    shorter.restore(table.columns().copy())
    assert shorter.expired(0)  # 10 days old, a 5-day lifetime
    assert not table.expired(0)  # the copies were changed, not the table's own columns
    assert table.counts()[Kind.ANONYMOUS] == 3


def test_another_lifetime_only_moves_expiries(table: UserTable, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same tenant with another lifetime: no user is classified again (seconds at 1M users)."""
    table.prepare_sort(Column.LOGIN_IDS)
    monkeypatch.setattr(table, "_reclassify", lambda rows: pytest.fail("classified again"))
    table.set_policy(AnonymousPolicy(ANON, 5 * DAY))
    assert table.expired(0)
    assert table.counts()[Kind.ANONYMOUS] == 3
    assert table.sort_ready(Column.LOGIN_IDS)  # the orders that do not hang on expiries stay
    assert not table.sort_ready(Column.EXPIRES)


def test_counts_follow_every_change_and_are_tallied_once_per_change(table: UserTable) -> None:
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

    changes = [
        lambda: table.append([anon(20), regular(21, "New", "new@example.com")]),
        lambda: table.set_statuses([table.user_id(0)], "disabled"),
        lambda: table.hide_users([table.user_id(3)]),
        lambda: table.upsert([anon(3, test=True)]),
        lambda: table.mark_missing(np.arange(2, len(table), dtype=np.int64)),
        lambda: table.set_policy(AnonymousPolicy("T-other", 30 * DAY)),
    ]
    for change in changes:
        change()
        for test_users in ("exclude", "include", "only"):
            assert table.counts(test_users) == brute(test_users)  # type: ignore[arg-type]
