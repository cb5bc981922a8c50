"""The lifecycle picture: every figure of a small hand-built project against values computed by hand,
at the boundaries of months, weeks and the cutoff; empty tables; the steps; the bars' filters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from anonconsole.core.classify import AnonymousPolicy, Kind
from anonconsole.core.cull import CLOCK_SKEW_SECONDS
from anonconsole.core.lifecycle import (
    CONVERTED_ACTIONS,
    CULLED_ACTIONS,
    BarFilter,
    Lifecycle,
    Options,
    Period,
    age_filter,
    expiry_filter,
    lifecycle,
    lifecycle_steps,
)
from anonconsole.core.records import User, UserTenant
from anonconsole.core.user_table import TableFilter, UserTable

ANON = "T2AnonymousUsers00000000000000"
DAY = 86400
LIFETIME = 30 * DAY
GRACE = 2 * DAY
POLICY = AnonymousPolicy(ANON, LIFETIME, GRACE)
IN_ANON = (UserTenant(ANON, "Anonymous Users"),)


def at(*parts: int) -> int:
    """Epoch seconds of a UTC date and time."""
    return int(datetime(*parts, tzinfo=UTC).timestamp())  # type: ignore[arg-type, misc]


NOW = at(2024, 5, 15, 12)  # a Wednesday; the week began on Monday 2024-05-13
CUTOFF = NOW - LIFETIME - GRACE - CLOCK_SKEW_SECONDS


def anon(name: str, created: int, **fields: Any) -> User:
    """As the KB recipe leaves it: a random login ID (also the unverified email), in the tenant."""
    login = f"{name}@r4nd0m.com"
    return User(
        f"U{name}", (login,), email=login, status="enabled", tenants=IN_ANON, created_time=created, **fields
    )


def regular(name: str, created: int) -> User:
    email = f"{name}@example.com"
    return User(
        f"U{name}", (email,), email=email, verified_email=True, status="enabled", created_time=created
    )


# name: (user, last sign-in or None)
USERS: dict[str, tuple[User, int | None]] = {
    # Created at the first second of May: May. Never signed in: 14.5 days old, expires Jun 2 00:00.
    "a0": (anon("a0", at(2024, 5, 1)), None),
    # Created at the last second of April: April. Signed in on Monday May 13 00:00: expires Jun 14.
    "a1": (anon("a1", at(2024, 4, 30, 23, 59, 59)), at(2024, 5, 13)),
    # Last active 56.5 days ago: 1–3 months, past the cutoff, expired on Apr 21.
    "a2": (anon("a2", at(2024, 1, 10)), at(2024, 3, 20)),
    # Created before the twelve months shown; over 2 years old.
    "a3": (anon("a3", at(2022, 1, 1)), None),
    # Last active exactly lifetime + grace ago: expires at NOW (not yet expired), inside the
    # cull's clock margin (not past the cutoff).
    "a4": (anon("a4", at(2023, 12, 1)), NOW - LIFETIME - GRACE),
    # One second older: expired one second ago (overdue), still inside the margin.
    "a5": (anon("a5", at(2023, 12, 1)), NOW - LIFETIME - GRACE - 1),
    # Expires at Monday May 20 00:00 exactly: the second week, not the first.
    "a6": (anon("a6", at(2024, 2, 1)), at(2024, 5, 20) - LIFETIME - GRACE),
    "r0": (regular("r0", at(2024, 5, 2)), at(2024, 5, 14)),
    "r1": (regular("r1", at(2023, 3, 1)), at(2024, 4, 30, 23, 59, 59)),
    # Converted by this console (the log says so): counted as created in February.
    "r2": (regular("r2", at(2024, 2, 10)), None),
    # A test user: in no figure.
    "t0": (anon("t0", at(2024, 5, 2), test=True), at(2024, 5, 3)),
    # Needs attention (a verified email, still in the tenant): active in May.
    "n0": (anon("n0", at(2024, 3, 1), verified_email=True), at(2024, 5, 10)),
    # Culled by this console in May (hidden from the table): created at the window's first second.
    "g0": (anon("g0", at(2023, 6, 1)), None),
}


@dataclass(frozen=True)
class Entry:
    """An audit entry as the log gives it (the fields `LoggedChange` reads)."""

    action: str
    time: str
    result: str = "ok"
    target: str = ""
    after: Mapping[str, Any] = field(default_factory=dict)


ENTRIES = [
    Entry("cull.run", "2024-05-01T00:00:00+00:00", after={"userIds": 2}),  # a count: not a cull
    Entry("cull.delete", "2024-05-01T00:00:00+00:00", after={"userIds": ["Ug0", "Ugone-before"]}),
    Entry("cull.delete", "2023-05-31T23:59:59+00:00", result="failed", after={"userIds": ["Uold"]}),
    Entry("convert.verified", "2024-04-05T10:00:00+00:00", target="Ur2"),
    Entry("convert.attested", "2024-03-01T00:00:00", after={"userId": "Ugone-since"}),  # no zone: UTC
    Entry("convert.verified", "2024-05-02T10:00:00+00:00", result="failed", target="Ua0"),
    Entry("convert.verified", "yesterday", target="Ua1"),  # unreadable
    Entry("user.delete", "2024-05-03T00:00:00+00:00", after={"userIds": ["Ua3"]}),  # not a cull
    Entry("tenant.create", "2024-05-03T00:00:00+00:00", target="Anonymous Users"),
]


def table_of(users: Mapping[str, tuple[User, int | None]], policy: AnonymousPolicy = POLICY) -> UserTable:
    table = UserTable(policy, now=lambda: NOW)
    table.append([user for user, _ in users.values()])
    table.set_last_sign_ins({user.user_id: last for user, last in users.values() if last is not None})
    table.hide_users(["Ug0"])
    return table


@pytest.fixture
def table() -> UserTable:
    return table_of(USERS)


@pytest.fixture
def picture(table: UserTable) -> Lifecycle:
    return lifecycle(table, ENTRIES, now=NOW)


def by_month(counts: tuple[int, ...]) -> dict[str, int]:
    """The months with a count, by label (the others are 0)."""
    return {f"{2023 + (5 + i) // 12}-{(5 + i) % 12 + 1:02d}": n for i, n in enumerate(counts) if n}


def test_the_months_end_with_the_one_holding_now(picture: Lifecycle) -> None:
    months = picture.funnel.months
    assert [m.label for m in months] == [f"2023-{m:02d}" for m in range(6, 13)] + [
        f"2024-{m:02d}" for m in range(1, 6)
    ]
    assert (months[0].start, months[-1].end) == (at(2023, 6, 1), at(2024, 6, 1))
    assert all(a.end == b.start for a, b in zip(months, months[1:], strict=False))
    assert months[-1].holds(NOW)
    assert not months[-1].holds(at(2024, 6, 1))
    assert picture.active.months == months


def test_funnel_per_month(picture: Lifecycle) -> None:
    funnel = picture.funnel
    # a0 (first second of May), a1 (last second of April), a4 and a5 (December), a2 (January),
    # a6 and r2 (converted, February), g0 (culled, the window's first second); a3 is older.
    assert by_month(funnel.created) == {
        "2023-06": 1,
        "2023-12": 2,
        "2024-01": 1,
        "2024-02": 2,
        "2024-04": 1,
        "2024-05": 1,
    }
    # The May batch names 2 users (one no longer in the table); the failed conversion and the
    # batch of the month before the window are not counted.
    assert by_month(funnel.culled) == {"2024-05": 2}
    assert by_month(funnel.converted) == {"2024-03": 1, "2024-04": 1}
    assert funnel.unreadable == 1
    assert (funnel.converted_actions, funnel.culled_actions) == (CONVERTED_ACTIONS, CULLED_ACTIONS)
    assert CONVERTED_ACTIONS == ("convert.",)
    assert CULLED_ACTIONS == ("cull.delete",)


def test_other_action_prefixes_are_taken_as_given(table: UserTable) -> None:
    picture = lifecycle(
        table,
        ENTRIES,
        now=NOW,
        options=Options(converted_actions=("user.delete",), culled_actions=("nothing",)),
    )
    assert by_month(picture.funnel.converted) == {"2024-05": 1}
    assert sum(picture.funnel.culled) == 0
    assert picture.funnel.converted_actions == ("user.delete",)


def test_users_and_anonymous_leave_out_test_and_hidden_users(picture: Lifecycle) -> None:
    assert (picture.users, picture.anonymous) == (11, 7)
    assert picture.now == NOW


def test_ages_in_the_cull_buckets_with_the_cutoff(picture: Lifecycle) -> None:
    ages = picture.ages
    assert [b.label for b in ages.buckets] == [
        "under 1 month",
        "1–3 months",
        "3–6 months",
        "6–12 months",
        "1–2 years",
        "2–3 years",
        "over 3 years",
    ]
    # a0 (14.5 d), a1 (2.5 d), a6 (27.5 d) | a2 (56.5 d), a4 and a5 (32 d) | a3 (2.4 years)
    assert [b.users for b in ages.buckets] == [3, 3, 0, 0, 0, 1, 0]
    # Past the cutoff: a2 and a3; a4 and a5 are within the cull's clock margin.
    assert [b.candidates for b in ages.buckets] == [0, 1, 0, 0, 0, 1, 0]
    assert ages.cutoff_age == LIFETIME + GRACE + CLOCK_SKEW_SECONDS == NOW - CUTOFF
    assert (ages.total, ages.past_cutoff) == (7, 2)


def test_expirations_per_week(picture: Lifecycle) -> None:
    exp = picture.expirations
    assert exp.known
    assert exp.weeks[0] == Period(NOW, at(2024, 5, 20), "2024-05-13")
    assert exp.weeks[1] == Period(at(2024, 5, 20), at(2024, 5, 27), "2024-05-20")
    assert len(exp.weeks) == 12
    assert exp.weeks[-1].end == at(2024, 8, 5)
    # a4 at NOW: this week; a6 at Monday 00:00: the next; a0 on Jun 2 (week of May 27); a1 on
    # Jun 14 (week of Jun 10). a2, a3 and a5 (one second ago) are overdue.
    assert exp.counts == (1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0)
    assert (exp.overdue, exp.later) == (3, 0)


def test_expirations_after_the_last_week_are_later(table: UserTable) -> None:
    exp = lifecycle(table, ENTRIES, now=NOW, options=Options(weeks=2)).expirations
    assert exp.counts == (1, 1)
    assert (exp.overdue, exp.later) == (3, 2)


def test_monthly_active_users_split_by_kind(picture: Lifecycle) -> None:
    active = picture.active
    assert by_month(active.anonymous) == {"2024-03": 1, "2024-04": 3, "2024-05": 1}  # a2 | a4 a5 a6 | a1
    assert by_month(active.regular) == {"2024-04": 1, "2024-05": 1}  # r1 (last second) | r0
    assert by_month(active.attention) == {"2024-05": 1}  # n0; the test user t0 is nobody's
    assert active.total() == 3
    assert active.share() == pytest.approx(1 / 3)
    assert active.share_text() == "anonymous: 33% of 3 monthly active users"
    assert active.share_text(-2) == "anonymous: 75% of 4 monthly active users"
    assert active.share(0) is None
    assert active.share_text(0) == "No user signed in during 2023-06."


@pytest.mark.parametrize(
    ("anonymous", "regulars", "text"),
    [
        (1, 0, "anonymous: 100% of 1 monthly active user"),
        (1, 999, "anonymous: less than 1% of 1,000 monthly active users"),
        (999, 1, "anonymous: more than 99% of 1,000 monthly active users"),
        (0, 5, "anonymous: 0% of 5 monthly active users"),
        (5, 7, "anonymous: 42% of 12 monthly active users"),
    ],
)
def test_share_text_is_never_rounded_to_all_or_nothing(anonymous: int, regulars: int, text: str) -> None:
    users: dict[str, tuple[User, int | None]] = {}
    for i in range(anonymous):
        users[f"a{i}"] = (anon(f"a{i}", at(2024, 1, 1)), at(2024, 5, 2))
    for i in range(regulars):
        users[f"r{i}"] = (regular(f"r{i}", at(2024, 1, 1)), at(2024, 5, 3))
    assert lifecycle(table_of(users), [], now=NOW).active.share_text() == text


def test_an_unknown_lifetime_gives_ages_without_a_cutoff_and_no_expirations() -> None:
    picture = lifecycle(table_of(USERS, AnonymousPolicy(ANON, None)), ENTRIES, now=NOW)
    assert [b.users for b in picture.ages.buckets] == [3, 3, 0, 0, 0, 1, 0]
    assert picture.ages.cutoff_age is None
    assert picture.ages.past_cutoff == 0
    exp = picture.expirations
    assert not exp.known
    assert (sum(exp.counts), exp.overdue, exp.later) == (0, 0, 0)


def test_an_empty_table_gives_zeros_everywhere() -> None:
    picture = lifecycle(UserTable(POLICY, now=lambda: NOW), [], now=NOW)
    assert (picture.users, picture.anonymous) == (0, 0)
    for counts in (picture.funnel.created, picture.funnel.converted, picture.funnel.culled):
        assert counts == (0,) * 12
    assert picture.ages.total == 0
    assert picture.ages.cutoff_age == NOW - CUTOFF
    assert picture.expirations.counts == (0,) * 12
    assert picture.active.total() == 0
    assert picture.active.share() is None
    assert picture.active.share_text() == "No user signed in during 2024-05."


def test_the_log_alone_still_counts_on_an_empty_table() -> None:
    picture = lifecycle(UserTable(POLICY, now=lambda: NOW), ENTRIES, now=NOW)
    assert by_month(picture.funnel.culled) == {"2024-05": 2}
    assert sum(picture.funnel.created) == 0


def test_months_across_a_new_year_and_weeks_from_a_monday_midnight() -> None:
    monday = at(2024, 1, 1)  # a Monday
    picture = lifecycle(
        UserTable(POLICY, now=lambda: monday), [], now=monday, options=Options(months=3, weeks=2)
    )
    assert [m.label for m in picture.funnel.months] == ["2023-11", "2023-12", "2024-01"]
    assert picture.funnel.months[0].start == at(2023, 11, 1)
    assert picture.expirations.weeks == (
        Period(monday, at(2024, 1, 8), "2024-01-01"),
        Period(at(2024, 1, 8), at(2024, 1, 15), "2024-01-08"),
    )


def test_at_least_one_month_and_one_week(table: UserTable) -> None:
    with pytest.raises(ValueError, match="at least one month"):
        lifecycle(table, [], now=NOW, options=Options(months=0))


def finish(steps: Any) -> tuple[Lifecycle, int]:
    """The picture `steps` return, and how many steps that took."""
    count = 0
    while True:
        try:
            next(steps)
            count += 1
        except StopIteration as done:
            return done.value, count


COPY_STEPS = 10  # more than the steps copying the table's columns (a column a step)


def test_steps_give_the_same_picture_and_read_a_snapshot(table: UserTable, picture: Lifecycle) -> None:
    steps = lifecycle_steps(table, ENTRIES, now=NOW, rows_per_step=2)
    for _ in range(COPY_STEPS):
        next(steps)  # the snapshot is taken
    table.append([anon("late", at(2024, 5, 14))])  # arrives meanwhile: left for the next picture
    table.set_last_sign_ins({"Ua3": at(2024, 5, 14)})
    result, count = finish(steps)
    assert result == picture
    assert count > len(USERS) // 2  # the rows were counted in several steps
    assert lifecycle(table, ENTRIES, now=NOW) != picture  # the new state shows next time


def test_a_change_while_the_columns_are_copied_copies_them_again(table: UserTable) -> None:
    """The copy takes a step a column: a change between two of them would mix two states."""
    steps = lifecycle_steps(table, ENTRIES, now=NOW, rows_per_step=2)
    next(steps)  # one column copied
    table.append([anon("late", at(2024, 5, 14))])
    table.set_last_sign_ins({"Ua3": at(2024, 5, 14)})
    result, _count = finish(steps)
    assert result == lifecycle(table, ENTRIES, now=NOW)  # the new state, whole


def test_the_same_input_gives_the_same_picture(table: UserTable, picture: Lifecycle) -> None:
    assert lifecycle(table, list(ENTRIES), now=NOW) == picture


def test_a_bar_of_the_ages_shows_exactly_its_users(table: UserTable, picture: Lifecycle) -> None:
    for index, bucket in enumerate(picture.ages.buckets):
        rows = table.query(age_filter(picture.ages, index).table_filter())
        assert len(rows) == bucket.users, bucket.label
    young = age_filter(picture.ages, 0)
    assert young == BarFilter(
        "Anonymous users last active less than 1 month ago", active_from=NOW - 30 * DAY + 1
    )
    assert sorted(table.user_ids(table.query(young.table_filter()))) == ["Ua0", "Ua1", "Ua6"]
    older = age_filter(picture.ages, 1)
    assert (older.active_from, older.active_to) == (NOW - 90 * DAY + 1, NOW - 30 * DAY)
    assert sorted(table.user_ids(table.query(older.table_filter()))) == ["Ua2", "Ua4", "Ua5"]
    oldest = age_filter(picture.ages, 6)
    assert oldest.description == "Anonymous users last active more than 3 years ago"
    assert (oldest.active_from, oldest.active_to) == (None, NOW - 3 * 365 * DAY)


def test_a_bar_of_the_expirations_shows_exactly_its_users(table: UserTable, picture: Lifecycle) -> None:
    exp = picture.expirations
    for index, count in enumerate(exp.counts):
        rows = table.query(expiry_filter(exp, index).table_filter())
        assert len(rows) == count, exp.weeks[index]
    this_week = expiry_filter(exp, 0)
    assert this_week == BarFilter(
        "Anonymous users expiring this week", expires_from=NOW, expires_to=at(2024, 5, 20) - 1
    )
    assert table.user_ids(table.query(this_week.table_filter())) == ["Ua4"]
    assert expiry_filter(exp, 1).description == "Anonymous users expiring in the week of 2024-05-20"


def test_a_bar_filter_narrows_the_views_own_filter(table: UserTable, picture: Lifecycle) -> None:
    base = TableFilter(kind=Kind.REGULAR, text="a0", statuses=frozenset({"enabled"}))
    spec = age_filter(picture.ages, 0).table_filter(base)
    assert (spec.kind, spec.text, spec.statuses) == (Kind.ANONYMOUS, "a0", frozenset({"enabled"}))
    assert table.user_ids(table.query(spec)) == ["Ua0"]


def test_past_the_cutoff_means_last_active_strictly_before_it() -> None:
    """The cull's rule (`cutoff_for`, a candidate when last active strictly before the cutoff)."""
    users: dict[str, tuple[User, int | None]] = {
        "at": (anon("at", CUTOFF - 5 * DAY), CUTOFF),
        "before": (anon("before", CUTOFF - 1), None),
    }
    ages = lifecycle(table_of(users), [], now=NOW).ages
    assert [b.candidates for b in ages.buckets] == [0, 1, 0, 0, 0, 0, 0]
    assert [b.users for b in ages.buckets] == [0, 2, 0, 0, 0, 0, 0]
