"""The lifecycle picture: how many anonymous users came, were converted and culled, how old they are,
when they expire, and what share of the monthly active users they are.

The KB (shared/kb, "Using my own data store") notes that Descope anonymous users count toward the
project's monthly active users, which is what an admin pays for; so the admin wants to see, from the
console alone, the flow anonymous -> converted -> culled and the anonymous share of the active users.

Figures come from two sources, each the only one that knows them:
- the users table (what Descope holds now): creation and last sign-in times, kinds, expiries;
- the console's own audit log (what this console did): conversions and culls, with their times.
  Entries are plain data (`LoggedChange`: `operations.audit_log.AuditEntry` has that shape); which
  actions count is given by `CONVERTED_ACTIONS` and `CULLED_ACTIONS`.

Months are calendar months in UTC, weeks ISO weeks (Monday 00:00 UTC), both ending with the one
holding `now`. Monthly active users are the users whose *last* sign-in falls in the month: the table
keeps only the last one, so the month holding `now` is exact and an earlier month counts only the
users who have not signed in since.

What the KB does not give is a mark that a regular user was once anonymous: a converted user keeps
its user ID and may keep a random login ID that looks like any address, so the only sure record of
a conversion is the audit entry the console wrote for it.

The work is a generator of short steps (`lifecycle_steps`) over a snapshot of the table's columns,
so the window can run it in CPU turns; `lifecycle` runs it at once (30-50 ms at 200,000 users:
benchmarks/bench_lifecycle.py).
Pure Python + numpy: no Qt, no I/O.
"""

from __future__ import annotations

import bisect
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from anonconsole.core.classify import Kind

# The cull's age buckets, so the lifecycle's histogram and the cull preview's speak alike.
# (Private in core.cull today: a public name there would be better; see the module's report.)
from anonconsole.core.cull import _BUCKET_BOUNDS, _BUCKET_EDGES, AgeBucket, cutoff_for
from anonconsole.core.user_table import NONE, Rows, TableFilter, UserTable

# Audit actions that mean "users were converted" / "users were culled" (prefixes of `action`).
# The conversion wizard writes one entry per conversion; a cull one `cull.delete` per batch, listing
# the users it deleted in `after["userIds"]` (whatever its result: a failed batch lists those done).
CONVERTED_ACTIONS: tuple[str, ...] = ("convert.",)
CULLED_ACTIONS: tuple[str, ...] = ("cull.delete",)

MONTHS = 12  # months of the funnel and of the monthly active users, the current one last
WEEKS = 12  # weeks of upcoming expirations, the current one first
# The size of a step: about 1 ms each (a CPU turn of the window is 4 ms, a frame 16 ms).
ROWS_PER_STEP = 8_192  # table rows counted
IDS_PER_STEP = 2_048  # user IDs of the log looked up in the table
ENTRIES_PER_STEP = 256  # audit entries read (a cull's lists 500 user IDs)
_WEEK = 7 * 86400
_ACTIVE_KINDS = (Kind.ANONYMOUS, Kind.REGULAR, Kind.ATTENTION)  # test users are no one's MAU


class LoggedChange(Protocol):
    """What the lifecycle reads of an audit entry (`operations.audit_log.AuditEntry` fits)."""

    @property
    def action(self) -> str: ...

    @property
    def target(self) -> str: ...

    @property
    def result(self) -> str: ...

    @property
    def time(self) -> str: ...

    @property
    def after(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Period:
    """A month or a week: [start, end) in epoch seconds, and a label ("2024-05", "2024-06-03")."""

    start: int
    end: int
    label: str

    def holds(self, epoch_seconds: int) -> bool:
        return self.start <= epoch_seconds < self.end


@dataclass(frozen=True)
class Funnel:
    """Per month: anonymous users created, users converted, users culled.

    Attributes:
        months: the months, oldest first; the last one holds `now`.
        created: users created in the month who are anonymous now (users deleted since the load
            too: their hidden rows keep their kind), or whom the log shows converted. Users deleted
            before the load are no longer in Descope, so no table counts them.
        converted / culled: users the log's entries of `converted_actions` / `culled_actions`
            name, by the entry's month (an entry without a list of user IDs counts its one target
            when its result is "ok").
        converted_actions / culled_actions: the action prefixes counted.
        unreadable: entries of those actions whose time could not be read (left out).
    """

    months: tuple[Period, ...]
    created: tuple[int, ...]
    converted: tuple[int, ...]
    culled: tuple[int, ...]
    converted_actions: tuple[str, ...]
    culled_actions: tuple[str, ...]
    unreadable: int = 0


@dataclass(frozen=True)
class Ages:
    """The anonymous users by time since their last activity, in the cull's age buckets.

    Attributes:
        buckets: `users` per bucket and, as `candidates`, those last active before the cull's cutoff
            (the cull may still keep some of them, for the reasons its preview lists).
        cutoff_age: the cutoff as an age (lifetime + grace + the cull's clock margin, seconds);
            None when the anonymous tenant's lifetime is unknown.
        now: the moment the ages are counted from.
    """

    buckets: tuple[AgeBucket, ...]
    cutoff_age: int | None
    now: int

    @property
    def total(self) -> int:
        return sum(bucket.users for bucket in self.buckets)

    @property
    def past_cutoff(self) -> int:
        return sum(bucket.candidates for bucket in self.buckets)


@dataclass(frozen=True)
class Expirations:
    """When the anonymous users' refresh tokens stop being valid (grace included), per week.

    Attributes:
        weeks: the current week (from `now` on) and the next ones.
        counts: anonymous users expiring in each week.
        overdue: anonymous users expired already (waiting for a cull).
        later: anonymous users expiring after the last week.
        known: False when the lifetime is unknown (then every count is 0).
    """

    weeks: tuple[Period, ...]
    counts: tuple[int, ...]
    overdue: int
    later: int
    known: bool


@dataclass(frozen=True)
class MonthlyActive:
    """Per month, the users whose last sign-in falls in it, by kind (test users left out)."""

    months: tuple[Period, ...]
    anonymous: tuple[int, ...]
    regular: tuple[int, ...]
    attention: tuple[int, ...]

    def total(self, index: int = -1) -> int:
        return self.anonymous[index] + self.regular[index] + self.attention[index]

    def share(self, index: int = -1) -> float | None:
        """The anonymous users' share of the month's active users (None: nobody was active)."""
        total = self.total(index)
        return self.anonymous[index] / total if total else None

    def share_text(self, index: int = -1) -> str:
        """ "anonymous: 38% of 12,345 monthly active users" (the month holding `now` by default)."""
        share = self.share(index)
        if share is None:
            return f"No user signed in during {self.months[index].label}."
        total = self.total(index)
        users = "monthly active user" if total == 1 else "monthly active users"
        return f"anonymous: {_percent(share)} of {total:,} {users}"


@dataclass(frozen=True)
class Lifecycle:
    """The four pictures at one moment.

    Attributes:
        now: epoch seconds they were counted at.
        users: users present in the table, test users left out.
        anonymous: anonymous users among them.
    """

    now: int
    users: int
    anonymous: int
    funnel: Funnel
    ages: Ages
    expirations: Expirations
    active: MonthlyActive


@dataclass(frozen=True)
class BarFilter:
    """The anonymous users of one bar, for the Anonymous view: what a click on a bar asks to show.

    Attributes:
        description: the bar in words ("Last active 1–3 months ago").
        active_from / active_to, expires_from / expires_to: `TableFilter`'s bounds of the same names.
    """

    description: str
    active_from: int | None = None
    active_to: int | None = None
    expires_from: int | None = None
    expires_to: int | None = None

    def table_filter(self, base: TableFilter | None = None) -> TableFilter:
        """`base` (the view's own filter) narrowed to this bar's anonymous users."""
        return replace(
            base or TableFilter(),
            kind=Kind.ANONYMOUS,
            active_from=self.active_from,
            active_to=self.active_to,
            expires_from=self.expires_from,
            expires_to=self.expires_to,
        )


def age_filter(ages: Ages, index: int) -> BarFilter:
    """The users of age bucket `index`: age = now - last activity, from <= age < to.

    As last-activity bounds (inclusive): after now - to, and at most now - from; the first bucket
    has no upper bound, as an activity later than now counts as age 0.
    """
    bucket = ages.buckets[index]
    upper = bucket.to_seconds
    words = bucket.label.replace("under ", "less than ").replace("over ", "more than ")
    return BarFilter(
        f"Anonymous users last active {words} ago",
        active_from=None if upper is None else ages.now - upper + 1,
        active_to=ages.now - bucket.from_seconds if bucket.from_seconds else None,
    )


def expiry_filter(expirations: Expirations, index: int) -> BarFilter:
    """The users expiring in week `index` (the current week: from its `now` on)."""
    week = expirations.weeks[index]
    when = "this week" if index == 0 else f"in the week of {week.label}"
    return BarFilter(f"Anonymous users expiring {when}", expires_from=week.start, expires_to=week.end - 1)


@dataclass(frozen=True)
class Options:
    """What the pictures span and which log entries count.

    Attributes:
        months: months of the funnel and of the monthly active users (the current one last).
        weeks: weeks of upcoming expirations (the current one first).
        converted_actions / culled_actions: audit action prefixes that mean converted / culled.
    """

    months: int = MONTHS
    weeks: int = WEEKS
    converted_actions: tuple[str, ...] = CONVERTED_ACTIONS
    culled_actions: tuple[str, ...] = CULLED_ACTIONS


def lifecycle(
    table: UserTable, entries: Sequence[LoggedChange], *, now: int, options: Options | None = None
) -> Lifecycle:
    """The four pictures of `table` and the log's `entries` at `now` (epoch s), computed at once."""
    steps = lifecycle_steps(table, entries, now=now, options=options)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


def lifecycle_steps(
    table: UserTable,
    entries: Sequence[LoggedChange],
    *,
    now: int,
    options: Options | None = None,
    rows_per_step: int = ROWS_PER_STEP,
) -> Generator[None, None, Lifecycle]:
    """`lifecycle` as short steps: each `next` does about a millisecond of work; the last returns
    the result.

    The table's columns are copied first, a column a step (each a few ms at 1,000,000 rows), and
    copied again should the table change between two of those steps: rows that arrive or change
    meanwhile do not mix two states of the table into one picture (they show in the next
    computation).
    """
    options = options or Options()
    months, weeks = options.months, options.weeks
    converted_actions, culled_actions = options.converted_actions, options.culled_actions
    if months < 1 or weeks < 1:
        raise ValueError("The lifecycle needs at least one month and one week.")
    now = int(now)
    snapshot = yield from _Snapshot.copied(table, now)
    month_periods = _months(now, months)
    week_periods = _weeks(now, weeks)

    # The log: users converted and culled per month; the converted ones count as created too.
    log = _LogCounts(month_periods)
    for first in range(0, len(entries), ENTRIES_PER_STEP):
        log.read(entries[first : first + ENTRIES_PER_STEP], converted_actions, culled_actions)
        yield
    for first in range(0, len(log.converted_ids), IDS_PER_STEP):
        rows = table.rows_of(log.converted_ids[first : first + IDS_PER_STEP])
        snapshot.came_anonymous[rows[rows < snapshot.size]] = True
        yield

    counts = _Counts(month_periods, week_periods, snapshot.cutoff)
    for first in range(0, snapshot.size, rows_per_step):
        counts.add(snapshot, slice(first, first + rows_per_step))
        yield

    policy_known = snapshot.cutoff is not None
    return Lifecycle(
        now=now,
        users=counts.users,
        anonymous=counts.anonymous,
        funnel=Funnel(
            months=month_periods,
            created=_ints(counts.created),
            converted=_ints(log.converted),
            culled=_ints(log.culled),
            converted_actions=converted_actions,
            culled_actions=culled_actions,
            unreadable=log.unreadable,
        ),
        ages=Ages(
            buckets=tuple(
                AgeBucket(label, lower, upper, int(counts.ages[i]), int(counts.past[i]))
                for i, (label, lower, upper) in enumerate(_BUCKET_BOUNDS)
            ),
            cutoff_age=None if snapshot.cutoff is None else now - snapshot.cutoff,
            now=now,
        ),
        expirations=Expirations(
            weeks=week_periods,
            counts=_ints(counts.expiring[1:-1]),
            overdue=int(counts.expiring[0]),
            later=int(counts.expiring[-1]),
            known=policy_known,
        ),
        active=MonthlyActive(
            months=month_periods,
            anonymous=_ints(counts.active[0]),
            regular=_ints(counts.active[1]),
            attention=_ints(counts.active[2]),
        ),
    )


# ---- periods ----------------------------------------------------------------------------------


def _months(now: int, count: int) -> tuple[Period, ...]:
    """The `count` calendar months (UTC) up to the one holding `now`, oldest first."""
    moment = datetime.fromtimestamp(now, UTC)
    index = moment.year * 12 + moment.month - 1 - (count - 1)  # months since year 0
    starts = [datetime(i // 12, i % 12 + 1, 1, tzinfo=UTC) for i in range(index, index + count + 1)]
    return tuple(
        Period(int(start.timestamp()), int(end.timestamp()), start.strftime("%Y-%m"))
        for start, end in zip(starts, starts[1:], strict=False)
    )


def _weeks(now: int, count: int) -> tuple[Period, ...]:
    """The week holding `now` (from `now` on: what is before has expired) and the next ones, each
    from Monday 00:00 UTC; labelled by their Monday."""
    moment = datetime.fromtimestamp(now, UTC)
    monday = datetime(moment.year, moment.month, moment.day, tzinfo=UTC) - timedelta(days=moment.weekday())
    mondays = [int((monday + timedelta(weeks=k)).timestamp()) for k in range(count + 1)]
    starts = [now, *mondays[1:-1]]
    return tuple(
        Period(start, end, datetime.fromtimestamp(monday_of, UTC).strftime("%Y-%m-%d"))
        for start, end, monday_of in zip(starts, mondays[1:], mondays[:-1], strict=True)
    )


def _bounds(periods: Sequence[Period]) -> Rows:
    """The periods' starts and the last one's end, for `np.searchsorted`."""
    return np.array([p.start for p in periods] + [periods[-1].end], dtype=np.int64)


def _period_index(bounds: Rows, times: Rows) -> Rows:
    """Per time: the index of the period holding it, -1 before the first, len(bounds) - 1 after the last."""
    return np.searchsorted(bounds, times, side="right").astype(np.int64) - 1


def _ints(values: npt.NDArray[np.int64]) -> tuple[int, ...]:
    return tuple(int(v) for v in values.tolist())


def _percent(share: float) -> str:
    """A share as a whole percentage, never rounded to 0% or 100% while it is not."""
    if 0 < share < 0.005:
        return "less than 1%"
    if 0.995 <= share < 1:
        return "more than 99%"
    return f"{share:.0%}"


# ---- the log ----------------------------------------------------------------------------------


class _LogCounts:
    """Users converted and culled per month, from audit entries; and the converted users' IDs."""

    def __init__(self, months: Sequence[Period]) -> None:
        self.bounds = _bounds(months).tolist()
        self.converted = np.zeros(len(months), dtype=np.int64)
        self.culled = np.zeros(len(months), dtype=np.int64)
        self.converted_ids: list[str] = []
        self.unreadable = 0

    def read(
        self, entries: Iterable[LoggedChange], converted: tuple[str, ...], culled: tuple[str, ...]
    ) -> None:
        for entry in entries:
            action = entry.action
            tally = self.converted if action.startswith(converted) else None
            if tally is None and action.startswith(culled):
                tally = self.culled
            if tally is None:
                continue
            when = _epoch(entry.time)
            if when is None:
                self.unreadable += 1
                continue
            ids = _user_ids(entry)
            if tally is self.converted:
                self.converted_ids += ids
            month = bisect.bisect_right(self.bounds, when) - 1
            if 0 <= month < len(tally):
                tally[month] += len(ids)


def _epoch(text: str) -> int | None:
    """An entry's ISO 8601 time in epoch seconds (no zone: UTC, as the log writes it); None if unreadable."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _user_ids(entry: LoggedChange) -> list[str]:
    """The users an entry acted on: its `after["userIds"]` list (a cull's batch), else its one user
    (`after["userId"]`, else the target) when it succeeded."""
    listed = entry.after.get("userIds")
    if isinstance(listed, list):
        return listed  # (not checked one by one: a cull's 500 IDs per entry, 200k in a big log)
    if entry.result != "ok":
        return []
    one = entry.after.get("userId")
    return [one if isinstance(one, str) and one else entry.target]


# ---- the table --------------------------------------------------------------------------------


class _Snapshot:
    """The columns the lifecycle reads, copied at one moment (`size` rows).

    Attributes:
        present: not hidden (a user this console deleted, or a reload did not find).
        slot: the row's place in `_ACTIVE_KINDS` when present, else -1 (test users: always -1).
        came_anonymous: anonymous when it came: anonymous now (hidden rows too: a deleted
            anonymous user keeps its kind), or converted by this console (filled in from the log).
    """

    @classmethod
    def copied(cls, table: UserTable, now: int) -> Generator[None, None, _Snapshot]:
        """The snapshot of `table`, a column a step; copied again if the table changed meanwhile."""
        snapshot = cls.__new__(cls)
        while True:
            version = table.version
            yield from snapshot._copy(table, now)
            if table.version == version:
                return snapshot

    def _copy(self, table: UserTable, now: int) -> Iterator[None]:
        size = len(table)
        self.size = size
        self.now = now
        policy = table.policy
        self.cutoff = (
            None
            if policy.refresh_seconds is None
            else cutoff_for(now, policy.refresh_seconds, policy.grace_seconds)
        )
        self.present = ~table.gone_mask()[:size]
        yield
        self.slot = np.full(size, -1, dtype=np.int8)
        for slot, kind in enumerate(_ACTIVE_KINDS):
            self.slot[table.kind_mask(kind)[:size] & self.present] = slot
            yield
        self.anonymous = self.slot == 0
        self.came_anonymous = table.kind_mask(Kind.ANONYMOUS)[:size]
        yield
        self.created = table.created_times()[:size].copy()
        yield
        self.last_sign_in = table.last_sign_ins()[:size].copy()
        yield
        self.expires = table.expiry_times()[:size].copy()
        yield


class _Counts:
    """The table's figures, added up slice by slice of rows."""

    def __init__(self, months: Sequence[Period], weeks: Sequence[Period], cutoff: int | None) -> None:
        self.month_bounds = _bounds(months)
        self.week_bounds = _bounds(weeks)
        self.months = len(months)
        self.cutoff = cutoff
        self.users = 0
        self.anonymous = 0
        self.created = np.zeros(len(months), dtype=np.int64)
        self.ages = np.zeros(len(_BUCKET_BOUNDS), dtype=np.int64)
        self.past = np.zeros(len(_BUCKET_BOUNDS), dtype=np.int64)
        # Overdue, one per week, later.
        self.expiring = np.zeros(len(weeks) + 2, dtype=np.int64)
        self.active = np.zeros((len(_ACTIVE_KINDS), len(months)), dtype=np.int64)

    def add(self, snap: _Snapshot, rows: slice) -> None:
        anonymous = snap.anonymous[rows]
        slot = snap.slot[rows]
        self.users += int(np.count_nonzero(slot >= 0))
        self.anonymous += int(np.count_nonzero(anonymous))
        created = snap.created[rows]
        self.created += self._per_period(self.month_bounds, created[snap.came_anonymous[rows]], self.months)

        last_sign_in = snap.last_sign_in[rows]
        last_active = np.where(last_sign_in > 0, last_sign_in, created)[anonymous]
        bucket = np.searchsorted(_BUCKET_EDGES, np.maximum(snap.now - last_active, 0), side="right")
        self.ages += np.bincount(bucket, minlength=len(self.ages))
        if self.cutoff is not None:
            self.past += np.bincount(bucket[last_active < self.cutoff], minlength=len(self.past))

        expires = snap.expires[rows][anonymous]
        expires = expires[expires != NONE]
        # -1 (before now: overdue) .. len(weeks) (after the last week): shifted by one to count.
        week = np.clip(_period_index(self.week_bounds, expires), -1, len(self.expiring) - 2) + 1
        self.expiring += np.bincount(week, minlength=len(self.expiring))

        # One pass for the three kinds: (kind, month) pairs numbered kind * months + month.
        active = (slot >= 0) & (last_sign_in > 0)
        month = _period_index(self.month_bounds, last_sign_in[active])
        inside = (month >= 0) & (month < self.months)
        pairs = slot[active][inside].astype(np.int64) * self.months + month[inside]
        self.active += np.bincount(pairs, minlength=self.active.size).reshape(self.active.shape)

    @staticmethod
    def _per_period(bounds: Rows, times: Rows, count: int) -> npt.NDArray[np.int64]:
        """How many of `times` fall in each of the `count` periods (the others are left out)."""
        index = _period_index(bounds, times)
        inside = index[(index >= 0) & (index < count)]
        return np.bincount(inside, minlength=count).astype(np.int64)
