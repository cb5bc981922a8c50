"""The user sweep against a model of Descope's search (creation-time filters in ms, inclusive; sort by
creation time; offset pages; `createdTime` answered in seconds), with users deleted and created
between answers that arrive in any order. The result must be exactly the users that exist at the end:
none missing, none twice, none deleted left."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from anonconsole.core.errors import ServerError
from anonconsole.core.records import User
from anonconsole.core.user_sweep import Ask, Purpose, Span, Sweep

NOW_MS = 1_700_000_000_000


@dataclass
class Service:
    """Descope's user search as the sweep relies on it, with a chosen order among equal times."""

    created: dict[str, int] = field(default_factory=dict)  # user ID -> creation ms
    seq: dict[str, int] = field(default_factory=dict)  # insertion order: the sandbox's tie-break
    now: int = NOW_MS
    shuffle_ties: random.Random | None = None  # an order among equal times that changes per request
    answered: int = 0

    def create(self, count: int, at: int | None = None) -> list[str]:
        made = []
        for _ in range(count):
            user_id = f"U{len(self.seq):08d}"
            self.created[user_id] = self.now if at is None else at
            self.seq[user_id] = len(self.seq)
            made.append(user_id)
        return made

    def delete(self, user_ids: list[str]) -> None:
        for user_id in user_ids:
            self.created.pop(user_id, None)

    def oldest(self, count: int) -> list[str]:
        return sorted(self.created, key=lambda u: (self.created[u], self.seq[u]))[:count]

    def search(self, ask: Ask, bounds: Span | None = None) -> tuple[list[User], int]:
        bounds = bounds or Span()
        lo = max(v for v in (ask.span.lo, bounds.lo, -(2**62)) if v is not None)
        hi = min(v for v in (ask.span.hi, bounds.hi, 2**62) if v is not None)
        matches = [u for u, ms in self.created.items() if lo <= ms <= hi]
        if self.shuffle_ties is not None:
            tie = {u: self.shuffle_ties.random() for u in matches}
            matches.sort(key=lambda u: (self.created[u], tie[u]))
        else:
            matches.sort(key=lambda u: (self.created[u], self.seq[u]))
        start = ask.page * ask.limit
        page = matches[start : start + ask.limit]
        self.answered += 1
        return [User(u, created_time=self.created[u] // 1000) for u in page], len(matches)


@dataclass
class Result:
    held: dict[str, User] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)
    asked: dict[Purpose, int] = field(default_factory=dict)


def sweep_through(
    service: Service,
    sweep: Sweep,
    *,
    rng: random.Random,
    concurrency: int = 3,
    churn: Callable[[int], None] | None = None,
) -> Result:
    """Drive the sweep with answers in random order; `churn(n)` runs before the n-th answer is taken,
    for as long as the sweep has not begun to verify (changes after that are a later load's)."""
    result = Result()
    out: list[tuple[Ask, tuple[list[User], int]]] = []  # asked, answered on the server, not yet taken
    verifying = False
    step = 0
    while not sweep.finished:
        while len(out) < concurrency and (ask := sweep.next_ask()) is not None:
            verifying = verifying or ask.purpose is Purpose.COUNT
            if churn is not None and not verifying:
                churn(step)
            out.append((ask, service.search(ask, sweep.bounds)))
        assert out, "the sweep is not finished but asks for nothing"
        ask, (users, total) = out.pop(rng.randrange(len(out)))
        step += 1
        outcome = sweep.answer(ask, users, total)
        for user in outcome.added:
            if user.user_id in result.held:
                result.duplicates.append(user.user_id)
            result.held[user.user_id] = user
        for user_id in outcome.gone:
            del result.held[user_id]
    result.asked = {purpose: sweep.asked[purpose] for purpose in Purpose}
    assert sweep.total == sweep.held == len(result.held)
    return result


def spread(service: Service, count: int, rng: random.Random, *, crowded: int = 0) -> None:
    """`count` users over the past year, a few seconds holding `crowded` users each."""
    for _ in range(count):
        service.create(1, at=NOW_MS - rng.randrange(365 * 86_400_000))
    for second in range(3):
        at = NOW_MS - (second + 1) * 50_000_000
        for ms in range(crowded):
            service.create(1, at=at + (ms * 7) % 1000)


def assert_verified_at_once(result: Result) -> None:
    """Without changes, the walk alone is exact: verification counts twice and reads nothing."""
    assert result.asked[Purpose.COUNT] <= 2
    assert result.asked[Purpose.REREAD] == 0


def assert_exact(result: Result, service: Service) -> None:
    assert not result.duplicates
    assert set(result.held) == set(service.created), (
        f"missing {len(set(service.created) - set(result.held))}, "
        f"deleted but kept {len(set(result.held) - set(service.created))}"
    )


# -- without changes ---------------------------------------------------------------------------------


def test_one_page_is_one_request_and_nothing_to_verify() -> None:
    service = Service()
    service.create(40)
    sweep = Sweep(limit=100, lanes=6)
    result = sweep_through(service, sweep, rng=random.Random(1))
    assert_exact(result, service)
    assert service.answered == 1


def test_an_empty_search_is_one_request() -> None:
    service = Service()
    result = sweep_through(service, Sweep(limit=100), rng=random.Random(1))
    assert result.held == {}
    assert service.answered == 1


@pytest.mark.parametrize("users", [100, 101, 1_000, 2_345])
def test_every_user_once_at_a_small_cost(users: int) -> None:
    rng = random.Random(users)
    service = Service()
    spread(service, users, rng)
    sweep = Sweep(limit=100, lanes=6)
    result = sweep_through(service, sweep, rng=rng)
    assert_exact(result, service)
    assert_verified_at_once(result)
    pages = math.ceil(users / 100)
    # Offset paging asks `pages` searches; the sweep about one more per lane, and one count each.
    assert service.answered <= pages + 2 * 6 + 3


def test_crowded_seconds_are_read_on_their_own() -> None:
    rng = random.Random(7)
    service = Service()
    spread(service, 500, rng, crowded=450)  # 3 seconds of 450 users each, pages of 100
    sweep = Sweep(limit=100, lanes=6)
    result = sweep_through(service, sweep, rng=rng)
    assert_exact(result, service)
    assert_verified_at_once(result)
    assert result.asked[Purpose.DENSE] >= 3 * 5


def test_pages_that_end_inside_a_second_go_on_from_that_second() -> None:
    """Users made in batches: every second holds 60, so every page and probe ends inside one."""
    service = Service()
    for second in range(50):
        for ms in range(60):
            service.create(1, at=NOW_MS - 100_000 + second * 1000 + ms * 13)
    result = sweep_through(service, Sweep(limit=100, lanes=6), rng=random.Random(9))
    assert_exact(result, service)
    assert_verified_at_once(result)


def test_a_crowded_millisecond_is_read_by_offset_and_checked() -> None:
    service = Service()
    service.create(350, at=NOW_MS - 1000)  # one millisecond, 3.5 pages
    service.create(20, at=NOW_MS - 500)
    result = sweep_through(service, Sweep(limit=100), rng=random.Random(3))
    assert_exact(result, service)
    assert_verified_at_once(result)


def test_a_millisecond_whose_order_keeps_changing_is_said_plainly() -> None:
    """Descope does not document the order among users created in the same instant: if it changes
    between requests, the pages of one crowded millisecond overlap, and the load says so."""
    service = Service(shuffle_ties=random.Random(5))
    service.create(350, at=NOW_MS - 1000)
    with pytest.raises(ServerError) as caught:
        sweep_through(service, Sweep(limit=100), rng=random.Random(3))
    assert "kept changing" in caught.value.user_message
    assert "350 users" in caught.value.detail


def test_the_callers_time_bounds_hold() -> None:
    rng = random.Random(11)
    service = Service()
    spread(service, 1_500, rng, crowded=150)
    bounds = Span(NOW_MS - 200 * 86_400_000 + 123, NOW_MS - 20 * 86_400_000 - 77)
    sweep = Sweep(limit=100, lanes=4, bounds=bounds)
    result = sweep_through(service, sweep, rng=rng)
    inside = {u for u, ms in service.created.items() if bounds.lo <= ms <= bounds.hi}  # type: ignore[operator]
    assert not result.duplicates
    assert set(result.held) == inside
    assert_verified_at_once(result)


# -- while users change ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("lanes", [1, 6])
def test_deletions_and_creations_during_the_sweep_leave_exactly_the_users_there_are(
    seed: int, lanes: int
) -> None:
    rng = random.Random(seed)
    service = Service()
    spread(service, 3_000, rng, crowded=rng.choice([0, 250]))
    deleted: list[str] = []

    def churn(step: int) -> None:
        service.now += rng.randrange(5)
        if step % 3 == 0 and step < 40:
            oldest = service.oldest(60)  # a cull: the oldest first, in batches
            victims = oldest[:30] + rng.sample(list(service.created), 10)
            service.delete(victims)
            deleted.extend(victims)
            service.create(rng.randrange(1, 150))  # sign-ups meanwhile, many in the same millisecond

    sweep = Sweep(limit=100, lanes=lanes)
    result = sweep_through(service, sweep, rng=rng, churn=churn)
    assert deleted
    assert_exact(result, service)


def test_offset_paging_skips_living_users_under_the_same_churn() -> None:
    """The model reproduces the issue: today's offset pages miss users a deletion shifted."""
    rng = random.Random(2)
    service = Service()
    spread(service, 3_000, rng)
    seen: set[str] = set()
    page = 0
    while True:
        users, total = service.search(Ask(page, Purpose.FIRST, Span(), page, 100))
        seen.update(u.user_id for u in users)
        if page in (3, 6, 9):
            service.delete(service.oldest(60))
        page += 1
        if page * 100 >= total:
            break
    assert set(service.created) - seen, "offset pages should have skipped someone"


def test_an_answer_out_of_creation_order_stops_the_sweep() -> None:
    sweep = Sweep(limit=3)
    ask = sweep.next_ask()
    assert ask is not None
    users = [User("U1", created_time=20), User("U2", created_time=10), User("U3", created_time=30)]
    with pytest.raises(ServerError) as caught:
        sweep.answer(ask, users, 10)
    assert "out of creation order" in caught.value.user_message
    bounded = Sweep(limit=3, bounds=Span(100_000, 200_999))
    ask = bounded.next_ask()
    assert ask is not None
    with pytest.raises(ServerError):  # created outside the times asked for
        bounded.answer(ask, [User("U1", created_time=150), User("U2", created_time=250)], 2)


def test_an_answer_to_no_outstanding_ask_is_refused() -> None:
    sweep = Sweep(limit=10)
    ask = sweep.next_ask()
    assert ask is not None
    sweep.answer(ask, [], 0)
    with pytest.raises(ValueError, match="not outstanding"):
        sweep.answer(ask, [], 0)
    with pytest.raises(ValueError, match="limit"):
        Sweep(limit=0)
