"""A read of every user a search matches that skips no living user and shows none twice while users
are created and deleted meanwhile (issue 21). Sans-I/O: `Sweep` says which searches to send (`Ask`s)
and takes their answers; the gateway sends them, concurrently, and hands on what each answer adds or
removes.

Why this way (Descope's user search, descope-api.md §4; docs/contracts.md, "Search order"):

- `page`/`limit` is an offset into the matches *at the moment of each request*: a deletion ahead of
  the reader shifts every later page, and users fall into the gap (300 of 20,000 when 600 early users
  were deleted during a load).
- The search also filters by creation time (`fromCreatedTime`/`toCreatedTime`, epoch ms, both
  inclusive; the SDK's README names them for paging) and sorts by user fields (`createdTime`). A
  creation time never changes, and a new user is created *now*, after every user there is. So "created
  at or after c, oldest first" answers the users after c whatever was deleted before c: keyset paging
  ("walking") on the creation time, which no deletion can shift.
- Answers give `createdTime` in whole seconds, so the cursor is a second and each page starts again at
  the last second of the one before (users seen twice are kept once). A page whose users all share one
  second cannot move the cursor: that second is read on its own ("dense"), by offset pages whose
  totals must not change from the first to the last, else it is halved by milliseconds (or, for one
  millisecond, read again). Nothing else depends on the order of users created in the same instant,
  which Descope does not document.
- Lanes: the creation axis is cut where a few offset pages ("probes") start, so several lanes are
  walked at once. Any cut is correct; probes only make the lanes about equal.
- Verification: users deleted after their page was read would stay. Once every lane is walked, two
  one-user searches count the users created up to the newest one held and those created after it;
  where a count differs from the users held, the span is halved at the held users' median creation
  time and both halves counted, until a span fits one answer, which is read again: users held but not
  found are gone (deleted, or no longer matching), users found but not held are new. A swap within one
  span between its read and its count (one user leaving a filtered search, another entering it) is
  invisible to a count; without a filter on changing fields (the console's loads) users only enter a
  search by being created, after everyone else, where nothing is held.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import partial

import numpy as np
import numpy.typing as npt

from anonconsole.core.errors import ServerError
from anonconsole.core.records import User
from anonconsole.core.user_index import UserIndex

MS_PER_SECOND = 1000
PAGES_PER_LANE = 3  # a lane costs about one request more than its pages: worth it from this many pages
DENSE_ATTEMPTS = 5  # reads of one crowded millisecond whose answers keep changing, before giving up


class Purpose(Enum):
    """Why a search is sent (the benchmark counts requests by purpose: the cost of the guarantee)."""

    FIRST = "first"  # page 0 of the whole search: the first rows and the total
    PROBE = "probe"  # an offset page of the whole search: where a lane starts
    WALK = "walk"  # the next page of a lane: the users created at or after its cursor
    DENSE = "dense"  # an offset page of one crowded second (or part of one)
    COUNT = "count"  # verification: how many users a span holds now
    REREAD = "reread"  # verification: a span whose count differs, read again whole


@dataclass(frozen=True)
class Span:
    """Creation times in epoch milliseconds, both ends inclusive; None: unbounded on that side."""

    lo: int | None = None
    hi: int | None = None


@dataclass(frozen=True)
class Ask:
    """One user search to send: the users created within `span`, oldest first (`createdTime`
    ascending), page `page` of `limit` users. `id` pairs the answer with the ask."""

    id: int
    purpose: Purpose
    span: Span
    page: int
    limit: int


@dataclass
class Outcome:
    """What one answer changed. `added`: users new to this sweep. `gone`: IDs of users it handed on
    before that no longer exist (or no longer match)."""

    added: list[User] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)


Seconds = int | None  # an inclusive bound in epoch seconds; None: unbounded


class _Ledger:
    """The users handed on and not gone: ID -> creation second, in arrays for counts over spans.

    No Python object per user: at 1,000,000 users a dict of IDs took 25-50 ms to resize at once,
    and freeing it with its int rows ~50-70 ms at the end of every pass (both on the UI thread).
    IDs are found by `UserIndex` (hashes kept sorted) in an `object` column, unseen by the collector.
    """

    def __init__(self) -> None:
        self._column = _IdColumn(np.empty(1024, dtype=object))
        self._count = 0
        self._index = UserIndex(self._column.now)  # not a method of the ledger: no cycle
        self._created = np.zeros(1024, dtype=np.int64)
        self._alive = np.zeros(1024, dtype=np.bool_)
        self.held = 0

    def reserve(self, total: int) -> None:
        """Room for `total` users (the first answer tells it): no copy while a load runs."""
        if total > len(self._created):
            self._grow(total + total // 50)

    def _grow(self, capacity: int) -> None:
        count = self._count
        ids = np.empty(capacity, dtype=object)
        ids[:count] = self._column.data[:count]
        created = np.zeros(capacity, dtype=np.int64)
        created[:count] = self._created[:count]
        alive = np.zeros(capacity, dtype=np.bool_)
        alive[:count] = self._alive[:count]
        self._column.data, self._created, self._alive = ids, created, alive

    def add(self, users: Iterable[User]) -> list[User]:
        """Record users; returns those not held before (first copy kept, a gone one found again)."""
        users = list(users)
        rows = self._index.rows([u.user_id for u in users]).tolist()
        fresh: dict[str, int] = {}  # IDs new in this call (a page may hold one twice)
        new: list[User] = []
        for user, row in zip(users, rows, strict=True):
            if row < 0:
                row = fresh.get(user.user_id, -1)
            if row < 0:
                row = self._count
                if row == len(self._created):
                    self._grow(row + row // 2)
                self._column.data[row] = user.user_id
                self._created[row] = user.created_time
                self._count += 1
                fresh[user.user_id] = row
            elif self._alive[row]:
                continue
            self._alive[row] = True
            self.held += 1
            new.append(user)
        self._index.add_many(fresh.items())
        return new

    def remove(self, user_ids: Iterable[str]) -> list[str]:
        """Forget users (found gone); returns the IDs that were held."""
        user_ids = list(user_ids)
        removed = []
        for user_id, row in zip(user_ids, self._index.rows(user_ids).tolist(), strict=True):
            if row >= 0 and self._alive[row]:
                self._alive[row] = False
                self.held -= 1
                removed.append(user_id)
        return removed

    def _within(self, lo: Seconds, hi: Seconds) -> npt.NDArray[np.bool_]:
        keep = self._alive[: self._count].copy()
        created = self._created[: self._count]
        if lo is not None:
            keep &= created >= lo
        if hi is not None:
            keep &= created <= hi
        return keep

    def count(self, lo: Seconds, hi: Seconds) -> int:
        return int(np.count_nonzero(self._within(lo, hi)))

    def ids(self, lo: Seconds, hi: Seconds) -> set[str]:
        return set(self._column.data[: self._count][self._within(lo, hi)].tolist())

    def seconds(self, lo: Seconds, hi: Seconds) -> npt.NDArray[np.int64]:
        created: npt.NDArray[np.int64] = self._created[: self._count]
        return created[self._within(lo, hi)]


class _IdColumn:
    """The ledger's user IDs by row, as its index reads them (the array is replaced as it grows)."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data

    def now(self) -> np.ndarray:
        return self.data


@dataclass
class _Lane:
    """A span of creation seconds walked page after page from `cursor` (None: from its start)."""

    lo: Seconds
    hi: Seconds
    cursor: Seconds = None


@dataclass
class _Group:
    """The reads of one crowded second; `done` gets every user ID read once all of them settle."""

    done: Callable[[set[str], Outcome], None] | None
    open: int = 0
    ids: set[str] = field(default_factory=set)


@dataclass
class _SpanRead:
    """One offset read of a millisecond span: its pages' user IDs and totals."""

    span: Span
    attempt: int
    total: int = 0
    pages_left: int = 0
    ids: set[str] = field(default_factory=set)
    totals: set[int] = field(default_factory=set)


Handler = Callable[[list[User], int, Outcome], None]


class Sweep:
    """Which user searches to send, and what their answers add and remove (see the module docstring).

    Drive it: send `next_ask()`s (any number at once) until it returns None, hand each answer to
    `answer`, ask again; `finished` once every ask is answered and nothing is left to ask.

    Attributes:
        limit: users per page (the search's `limit`).
        bounds: the creation times the caller's search is limited to.
        asked: searches asked so far, by purpose.
    """

    def __init__(self, *, limit: int, lanes: int = 1, bounds: Span | None = None) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.bounds = bounds or Span()
        self.asked: Counter[Purpose] = Counter()
        self._most_lanes = max(1, lanes)
        self._lo = None if self.bounds.lo is None else self.bounds.lo // MS_PER_SECOND
        self._hi = None if self.bounds.hi is None else self.bounds.hi // MS_PER_SECOND
        self._ledger = _Ledger()
        self._ready: deque[Ask] = deque()
        self._handlers: dict[int, Handler] = {}
        self._next_id = 0
        self._whole_total = 0
        self._verifying = False
        self._one_answer = False  # the first answer held every match: nothing to verify
        self._first: list[User] = []
        self._probes: list[list[User]] = []
        self._probes_left = 0
        self._ask(Purpose.FIRST, self.bounds, 0, limit, self._on_first)

    # ---- driving --------------------------------------------------------------------------------

    def next_ask(self) -> Ask | None:
        """The next search to send, or None when every search needed now is out."""
        return self._ready.popleft() if self._ready else None

    @property
    def finished(self) -> bool:
        """Every search is answered and none is left: the users held are the result."""
        return not self._handlers

    @property
    def held(self) -> int:
        """Users handed on and not gone."""
        return self._ledger.held

    @property
    def total(self) -> int:
        """The best estimate of the matches: exact once finished."""
        return self.held if self.finished else max(self._whole_total, self.held)

    def answer(self, ask: Ask, users: Sequence[User], total: int) -> Outcome:
        """Take the answer to `ask` (its users in the order received, the total it reported)."""
        handler = self._handlers.pop(ask.id, None)
        if handler is None:
            raise ValueError(f"ask {ask.id} is not outstanding")
        _check_order(ask, users)
        outcome = Outcome()
        handler(list(users), total, outcome)
        if not self._handlers and not self._verifying and not self._one_answer:
            self._verifying = True
            self._verify()
        return outcome

    # ---- asking ---------------------------------------------------------------------------------

    def _ask(self, purpose: Purpose, span: Span, page: int, limit: int, handler: Handler) -> None:
        ask = Ask(self._next_id, purpose, span, page, limit)
        self._next_id += 1
        self._handlers[ask.id] = handler
        self._ready.append(ask)
        self.asked[purpose] += 1

    def _span(self, lo: Seconds, hi: Seconds) -> Span:
        """The milliseconds of seconds `lo`..`hi`, within the caller's bounds."""
        start = None if lo is None else lo * MS_PER_SECOND
        end = None if hi is None else hi * MS_PER_SECOND + MS_PER_SECOND - 1
        if self.bounds.lo is not None:
            start = self.bounds.lo if start is None else max(start, self.bounds.lo)
        if self.bounds.hi is not None:
            end = self.bounds.hi if end is None else min(end, self.bounds.hi)
        return Span(start, end)

    def _take(self, users: Iterable[User], outcome: Outcome) -> None:
        outcome.added += self._ledger.add(users)

    # ---- the first page and the lanes -----------------------------------------------------------

    def _on_first(self, users: list[User], total: int, outcome: Outcome) -> None:
        self._ledger.reserve(total)
        self._take(users, outcome)
        self._whole_total = total
        if len(users) < self.limit:
            self._one_answer = True  # one answer, one instant: exact as it stands
            return
        pages = math.ceil(max(total, len(users) + 1) / self.limit)
        lanes = min(self._most_lanes, max(1, pages // PAGES_PER_LANE))
        if lanes == 1:
            self._after_page(_Lane(self._lo, self._hi), users, self._lo)
            return
        self._first = users
        probes = sorted({round(i * pages / lanes) for i in range(1, lanes)} - {0})
        self._probes_left = len(probes)
        for page in probes:
            self._ask(Purpose.PROBE, self.bounds, page, self.limit, self._on_probe)

    def _on_probe(self, users: list[User], total: int, outcome: Outcome) -> None:
        self._take(users, outcome)
        self._whole_total = total
        if users:
            self._probes.append(users)
        self._probes_left -= 1
        if not self._probes_left:
            self._start_lanes()

    def _start_lanes(self) -> None:
        """Lanes from the probes' first seconds: lane j spans [start j, start j+1] (the next lane's
        first second is read by both, because a probe holds only part of its first second)."""
        by_start: dict[int, list[User]] = {}
        for page in self._probes:
            start = page[0].created_time
            if self._lo is None or start > self._lo:
                best = by_start.get(start)
                if best is None or page[-1].created_time > best[-1].created_time:
                    by_start[start] = page
        starts = sorted(by_start)
        ends: list[Seconds] = [*starts, self._hi]
        self._after_page(_Lane(self._lo, ends[0]), self._first, self._lo)
        for start, end in zip(starts, ends[1:], strict=True):
            page = by_start[start]
            if len(page) < self.limit:
                continue  # the offset page ran to the end: every user after its first second is in it
            first, last = page[0].created_time, page[-1].created_time
            # The page holds every user created strictly between its first and last seconds.
            self._walk(_Lane(start, end, last if last > first else first + 1))
        self._first, self._probes = [], []

    def _after_page(self, lane: _Lane, users: list[User], cursor: Seconds) -> None:
        """A full page of users created at or after `cursor`: move the cursor, or read a crowded
        second on its own when the whole page fell into it."""
        first, last = users[0].created_time, users[-1].created_time
        since = first if cursor is None else cursor
        if last > since:
            lane.cursor = last  # the last second may hold more users: the next page starts there
        else:
            self._read_second(last, None)
            lane.cursor = last + 1
        self._walk(lane)

    def _walk(self, lane: _Lane) -> None:
        if lane.hi is not None and lane.cursor is not None and lane.cursor > lane.hi:
            return
        start = lane.lo if lane.cursor is None else lane.cursor
        self._ask(Purpose.WALK, self._span(start, lane.hi), 0, self.limit, partial(self._on_walk, lane))

    def _on_walk(self, lane: _Lane, users: list[User], _total: int, outcome: Outcome) -> None:
        self._take(users, outcome)
        if len(users) >= self.limit:
            self._after_page(lane, users, lane.cursor)

    # ---- crowded seconds ------------------------------------------------------------------------

    def _read_second(self, second: int, done: Callable[[set[str], Outcome], None] | None) -> None:
        """Read every user created in `second` (more than a page of them)."""
        group = _Group(done)
        self._read_span(group, self._span(second, second), 1)

    def _read_span(self, group: _Group, span: Span, attempt: int) -> None:
        group.open += 1
        read = _SpanRead(span, attempt)
        self._ask(Purpose.DENSE, span, 0, self.limit, partial(self._on_span_first, group, read))

    def _on_span_first(
        self, group: _Group, read: _SpanRead, users: list[User], total: int, outcome: Outcome
    ) -> None:
        self._take(users, outcome)
        read.ids.update(u.user_id for u in users)
        read.total = total
        pages = math.ceil(total / self.limit)
        if len(users) < self.limit or pages <= 1:
            self._settle(group, read, outcome)
            return
        read.pages_left = pages - 1
        for page in range(1, pages):
            self._ask(Purpose.DENSE, read.span, page, self.limit, partial(self._on_span_page, group, read))

    def _on_span_page(
        self, group: _Group, read: _SpanRead, users: list[User], total: int, outcome: Outcome
    ) -> None:
        self._take(users, outcome)
        read.ids.update(u.user_id for u in users)
        read.totals.add(total)
        read.pages_left -= 1
        if read.pages_left:
            return
        if read.totals == {read.total} and len(read.ids) == read.total:
            self._settle(group, read, outcome)  # nothing changed from the first page to the last
            return
        group.open -= 1
        lo, hi = read.span.lo, read.span.hi
        assert lo is not None  # a crowded span lies within one second
        assert hi is not None
        if lo < hi:
            middle = (lo + hi) // 2
            self._read_span(group, Span(lo, middle), 1)
            self._read_span(group, Span(middle + 1, hi), 1)
        elif read.attempt < DENSE_ATTEMPTS:
            self._read_span(group, read.span, read.attempt + 1)
        else:
            raise ServerError(
                "Descope's answers for the users created in one millisecond kept changing, so this "
                "load cannot be sure it read them all. Load again; if it happens again, report it.",
                f"{read.total} users created at {lo} ms (epoch); totals {sorted(read.totals)}, "
                f"{len(read.ids)} distinct users read, {read.attempt} attempts",
            )

    def _settle(self, group: _Group, read: _SpanRead, outcome: Outcome) -> None:
        group.ids |= read.ids
        group.open -= 1
        if not group.open and group.done is not None:
            group.done(group.ids, outcome)

    # ---- verification ---------------------------------------------------------------------------

    def _verify(self) -> None:
        """Count the users created up to the newest user held, and those created after it apart (users
        created meanwhile are there): two requests when nothing changed."""
        newest = self._ledger.seconds(self._lo, self._hi)
        if not len(newest):
            self._count(self._lo, self._hi)
            return
        top = int(newest.max())
        self._count(self._lo, top)
        if self._hi is None or top < self._hi:
            self._count(top + 1, self._hi)

    def _count(self, lo: Seconds, hi: Seconds) -> None:
        self._ask(Purpose.COUNT, self._span(lo, hi), 0, 1, partial(self._on_count, lo, hi))

    def _on_count(self, lo: Seconds, hi: Seconds, users: list[User], total: int, outcome: Outcome) -> None:
        self._take(users, outcome)
        if total != self._ledger.count(lo, hi):
            self._reconcile(lo, hi, total, outcome)

    def _reconcile(self, lo: Seconds, hi: Seconds, total: int, outcome: Outcome) -> None:
        """Find what changed in a span whose count differs from the users held there."""
        held = self._ledger.count(lo, hi)
        if not total:
            self._replace(lo, hi, (), outcome)  # none left there: no need to read it
        elif total <= self.limit:
            self._ask(Purpose.REREAD, self._span(lo, hi), 0, self.limit, partial(self._on_reread, lo, hi))
        elif lo is not None and lo == hi:
            self._read_second(lo, partial(self._replace, lo, hi))
        elif not held:
            self._walk(_Lane(lo, hi))  # only new users there: read them all
        else:
            middle = int(np.median(self._ledger.seconds(lo, hi)))
            if hi is not None:
                middle = min(middle, hi - 1)
            if lo is not None:
                middle = max(middle, lo)
            self._count(lo, middle)
            self._count(middle + 1, hi)

    def _on_reread(self, lo: Seconds, hi: Seconds, users: list[User], total: int, outcome: Outcome) -> None:
        self._take(users, outcome)
        if len(users) >= self.limit and total > len(users):
            self._reconcile(lo, hi, total, outcome)  # more users than one answer holds since the count
            return
        self._replace(lo, hi, {u.user_id for u in users}, outcome)

    def _replace(self, lo: Seconds, hi: Seconds, found: Collection[str], outcome: Outcome) -> None:
        """`found` is every user of the span now: the others held there are gone."""
        outcome.gone += self._ledger.remove(self._ledger.ids(lo, hi) - set(found))


def _check_order(ask: Ask, users: Sequence[User]) -> None:
    """The sweep is only as true as the order and the time filter of the answers: check both."""
    seconds = [u.created_time for u in users]
    lo = None if ask.span.lo is None else ask.span.lo // MS_PER_SECOND
    hi = None if ask.span.hi is None else ask.span.hi // MS_PER_SECOND
    in_order = all(a <= b for a, b in zip(seconds, seconds[1:], strict=False))
    # A second of slack at the edges: were `createdTime` ever rounded rather than cut to the second, the
    # walk would still be right after verification, and must not stop here.
    inside = not seconds or ((lo is None or seconds[0] >= lo - 1) and (hi is None or seconds[-1] <= hi + 1))
    if not (in_order and inside):
        raise ServerError(
            "Descope answered a user search out of creation order, so this load cannot be sure it "
            "read every user. Load again; if it happens again, report it.",
            f"asked created {ask.span.lo}..{ask.span.hi} ms oldest first (page {ask.page}); "
            f"got creation seconds {seconds[:3]}...{seconds[-3:]}",
        )
