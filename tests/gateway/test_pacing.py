"""The pacer on virtual time: no real sleeps, every wait is a timer the test advances."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
from descope.exceptions import RateLimitException

from anonconsole.core.rate_limits import DESCOPE_LIMITS, RateLimit
from anonconsole.gateway.pacing import BucketPacer, Pacer


class VirtualTime:
    """A clock and a sleep for the code under test; `run` advances time only when every task waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(delay, 0.0), next(self._order), waiter))
        await waiter

    async def run(self, *coros: Coroutine[Any, Any, Any]) -> list[Any]:
        tasks = [asyncio.ensure_future(c) for c in coros]
        try:
            while True:
                for _ in range(50):  # let every runnable task reach its next wait
                    await asyncio.sleep(0)
                if all(t.done() for t in tasks):
                    return [t.result() for t in tasks]
                while self._timers and self._timers[0][2].done():
                    heapq.heappop(self._timers)
                assert self._timers, "deadlock: tasks are waiting and no timer is pending"
                when, _, waiter = heapq.heappop(self._timers)
                self.now = max(self.now, when)
                waiter.set_result(None)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def rate_limited(retry_after: object = 7) -> RateLimitException:
    """The exception the SDK raises for a 429 (descope-api.md §5)."""
    return RateLimitException(
        "E130429",
        "API rate limit exceeded",
        "https://docs.descope.com/rate-limit",
        "API rate limit exceeded.",
        rate_limit_parameters={"Retry-After": retry_after},
    )


BUCKET = RateLimit("test", ("/v1/mgmt/",), 50, 10, per_project=True)


def pacer(vt: VirtualTime, *, limits: tuple[RateLimit, ...] = (BUCKET,), **kwargs: Any) -> Pacer:
    return Pacer(limits, clock=vt.clock, sleep=vt.sleep, **kwargs)


def timed_call(
    vt: VirtualTime, log: list[tuple[float, float]], duration: float
) -> Callable[[], Awaitable[str]]:
    async def call() -> str:
        start = vt.now
        await vt.sleep(duration)
        log.append((start, vt.now))
        return "ok"

    return call


@pytest.mark.asyncio
async def test_burst_up_to_limit_then_one_window_after_release() -> None:
    vt = VirtualTime()
    bucket = BucketPacer("b", 5, 10, clock=vt.clock, sleep=vt.sleep)
    starts: list[float] = []

    async def sequential() -> None:
        for _ in range(7):
            async with bucket.slot():
                starts.append(vt.now)
                await vt.sleep(1)

    await vt.run(sequential())
    # Five slots are free at once; each is reused one window after its request ended.
    assert starts == [0, 1, 2, 3, 4, 11, 12]


@pytest.mark.asyncio
async def test_full_load_stays_under_the_limit_and_uses_over_90_percent_of_it() -> None:
    vt = VirtualTime()
    p = pacer(vt, max_concurrency=8)
    log: list[tuple[float, float]] = []
    requests = 250
    results = await vt.run(*(p.run("/v1/mgmt/user/x", timed_call(vt, log, 0.05)) for _ in range(requests)))
    assert results == ["ok"] * requests
    assert p.stats.requests == requests
    # The server may count a request at any moment between its start and its end, so in the worst
    # case every request whose [start, end] overlaps a window counts in it (1 µs for float rounding).
    window = BUCKET.window_seconds
    for start, _ in log:
        counted = sum(1 for s, e in log if s <= start and e > start - window + 1e-6)
        assert counted <= BUCKET.limit, f"{counted} requests may count in the window ending at {start}"
    assert max(sum(1 for s, e in log if s <= t < e) for t, _ in log) <= 8
    # 50 at once, then 50 per window: the ideal is 7 windows; stay within 90 % of that rate.
    ideal = (requests / BUCKET.limit - 1) * BUCKET.window_seconds
    assert vt.now <= ideal / 0.9


@pytest.mark.asyncio
async def test_only_the_buckets_own_paths_are_held() -> None:
    vt = VirtualTime()
    tight = RateLimit("tight", ("/v1/mgmt/user",), 1, 60, per_project=True)
    p = pacer(vt, limits=(tight, BUCKET))
    log: list[tuple[float, float]] = []
    await vt.run(
        p.run("/v1/mgmt/user/search", timed_call(vt, log, 0)),
        p.run("/v1/mgmt/user/search", timed_call(vt, log, 0)),
        p.run("/v1/mgmt/tenant", timed_call(vt, log, 0)),
        p.run("/_unlimited", timed_call(vt, log, 0)),
    )
    assert sorted(s for s, _ in log) == [0, 0, 0, 60]
    assert p.bucket_for("/v1/mgmt/user/search") is not p.bucket_for("/v1/mgmt/tenant")
    assert p.bucket_for("/_unlimited") is None


@pytest.mark.asyncio
async def test_429_pauses_the_whole_bucket_for_retry_after_then_retries() -> None:
    vt = VirtualTime()
    p = pacer(vt)
    calls: list[float] = []
    others: list[float] = []

    async def flaky() -> str:
        calls.append(vt.now)
        if len(calls) == 1:
            raise rate_limited(7)
        return "done"

    async def later_request() -> None:
        await vt.sleep(1)  # arrives while the bucket is paused
        await p.run("/v1/mgmt/user/x", lambda: _record(others, vt))

    first, _ = await vt.run(p.run("/v1/mgmt/user/x", flaky), later_request())
    assert first == "done"
    assert calls == [0, 7]
    assert others == [7]
    assert (p.stats.rate_limited, p.stats.retries, p.stats.requests) == (1, 1, 3)


async def _record(log: list[float], vt: VirtualTime) -> None:
    log.append(vt.now)


@pytest.mark.asyncio
async def test_429_retries_are_bounded_and_back_off_without_retry_after() -> None:
    vt = VirtualTime()
    p = pacer(vt, max_rate_limit_retries=3)
    calls: list[float] = []

    async def always_429() -> None:
        calls.append(vt.now)
        raise rate_limited("not-a-number")

    with pytest.raises(RateLimitException):
        await vt.run(p.run("/v1/mgmt/user/x", always_429))
    # No usable Retry-After: 1, 2, 4 s, never a tight loop.
    assert calls == [0, 1, 3, 7]
    assert p.stats.rate_limited == 4
    assert p.stats.retries == 3


@pytest.mark.asyncio
async def test_unlimited_paths_also_back_off_on_429() -> None:
    vt = VirtualTime()
    p = pacer(vt, max_rate_limit_retries=1)
    calls: list[float] = []

    async def once_429() -> str:
        calls.append(vt.now)
        if len(calls) == 1:
            raise rate_limited(5)
        return "ok"

    assert await vt.run(p.run("/elsewhere", once_429)) == ["ok"]
    assert calls == [0, 5]


@pytest.mark.asyncio
async def test_cancelled_while_waiting_takes_no_slot() -> None:
    vt = VirtualTime()
    bucket = BucketPacer("b", 1, 10, clock=vt.clock, sleep=vt.sleep)
    await bucket.acquire()
    waiter = asyncio.ensure_future(bucket.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert bucket.in_use == 1
    bucket.release()
    assert bucket.in_use == 0


@pytest.mark.asyncio
async def test_cancelled_mid_request_releases_slot_and_in_flight_place() -> None:
    vt = VirtualTime()
    p = pacer(vt, max_concurrency=1)
    started = asyncio.Event()

    async def hangs() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.ensure_future(p.run("/v1/mgmt/user/x", hangs))
    await started.wait()
    bucket = p.bucket_for("/v1/mgmt/user/x")
    assert bucket is not None
    assert bucket.in_use == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert bucket.in_use == 0
    # The single in-flight place is free again: the next request runs at once.
    log: list[tuple[float, float]] = []
    await vt.run(p.run("/v1/mgmt/tenant", timed_call(vt, log, 0)))
    assert log == [(0, 0)]


@pytest.mark.asyncio
async def test_waiters_wake_when_every_slot_is_in_flight() -> None:
    vt = VirtualTime()
    tiny = RateLimit("tiny", ("/v1/mgmt/",), 2, 10, per_project=False)
    p = pacer(vt, limits=(tiny,), max_concurrency=8)
    log: list[tuple[float, float]] = []
    await vt.run(*(p.run("/v1/mgmt/x", timed_call(vt, log, 3)) for _ in range(4)))
    assert sorted(log) == [(0, 3), (0, 3), (13, 16), (13, 16)]


def test_descope_limits_map_each_gateway_path_to_the_documented_bucket() -> None:
    p = Pacer(DESCOPE_LIMITS)
    expected = {
        "/v1/mgmt/user/create": "user-create",
        "/v2/mgmt/user/search": "user-management",
        "/v1/mgmt/user/history": "user-management",
        "/v1/mgmt/user/delete/batch": "user-management",
        "/v1/mgmt/tenant/settings": "backend",
        "/v1/mgmt/license": "backend",
        "/v1/mgmt/audit/search": "backend",
    }
    assert {path: p.bucket_for(path).name for path in expected} == expected  # type: ignore[union-attr]


@pytest.mark.parametrize(("limit", "window"), [(0, 10), (5, 0)])
def test_bucket_refuses_nonsense(limit: int, window: float) -> None:
    with pytest.raises(ValueError, match="bucket"):
        BucketPacer("b", limit, window, clock=lambda: 0.0, sleep=asyncio.sleep)


def test_pacer_needs_one_request_in_flight() -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        Pacer(DESCOPE_LIMITS, max_concurrency=0)


@pytest.mark.asyncio
async def test_giving_up_still_pauses_the_bucket() -> None:
    vt = VirtualTime()
    p = pacer(vt, max_rate_limit_retries=0)
    later: list[float] = []

    async def refused() -> None:
        raise rate_limited(30)

    async def after_refusal() -> None:
        await vt.sleep(1)
        await p.run("/v1/mgmt/user/x", lambda: _record(later, vt))

    outcomes = await asyncio.gather(
        vt.run(p.run("/v1/mgmt/user/x", refused), after_refusal()), return_exceptions=True
    )
    assert isinstance(outcomes[0], RateLimitException)
    assert later == [30]


@pytest.mark.asyncio
async def test_requests_queued_for_an_in_flight_place_respect_a_pause() -> None:
    vt = VirtualTime()
    p = pacer(vt, max_concurrency=1)
    sent: list[float] = []

    async def first_refused() -> None:
        sent.append(vt.now)
        await vt.sleep(0.1)
        if len(sent) == 1:
            raise rate_limited(10)

    await vt.run(*(p.run("/v1/mgmt/user/x", first_refused) for _ in range(5)))
    # The four others already held bucket slots while queued behind the first; none may go before 10.
    assert sent[0] == 0
    assert all(t >= 10 for t in sent[1:]), sent
    assert p.stats.rate_limited == 1
