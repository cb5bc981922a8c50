"""Client-side pacing to Descope's rate limits, so the console never provokes a 429 on its own.

One `BucketPacer` per rate-limit bucket (`anonconsole.core.rate_limits`). It keeps `limit` slots; a
request takes a free slot and, when it finishes (or fails), the slot becomes usable again `window`
seconds later. Counting from the *end* of a request makes the pacer safe whatever the server's
algorithm (fixed window, sliding log, token bucket) and however late the server counted the request:
by the time a slot is reused, the request that used it has left any server window. The cost is
latency/window of the allowed rate (well under 1 % on loopback or the Internet).

`Pacer` adds what is shared across buckets: a cap on requests in flight, and the reaction to a 429
that happens anyway (another client on the same project): the whole bucket pauses for `Retry-After`
seconds and the request is retried a bounded number of times.

Clock and sleep are injected so tests run on virtual time.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from descope.exceptions import RateLimitException

from anonconsole.core.rate_limits import RateLimit, limit_for
from anonconsole.gateway.errors import retry_after_seconds

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# Used when a 429 carries no usable Retry-After: grows per attempt, never below this.
FALLBACK_BACKOFF_SECONDS = 1.0


class BucketPacer:
    """At most `limit` requests per `window` seconds, counted from each request's completion.

    Attributes:
        name: the bucket's name (for stats and logs).
    """

    def __init__(self, name: str, limit: int, window: float, *, clock: Clock, sleep: Sleep) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a bucket needs limit >= 1 and window > 0")
        self.name = name
        self._limit = limit
        self._window = window
        self._clock = clock
        self._sleep = sleep
        # Times at which idle slots become usable (a heap); slots in use are not in it.
        self._ready_at: list[float] = [float("-inf")] * limit
        self._paused_until = float("-inf")
        self._slot_waiters: list[asyncio.Future[None]] = []

    @property
    def in_use(self) -> int:
        return self._limit - len(self._ready_at)

    def pause(self, seconds: float) -> None:
        """No new request in this bucket for `seconds` (the server asked us to back off)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    @property
    def paused(self) -> bool:
        return self._paused_until > self._clock()

    async def wait_unpaused(self) -> None:
        """Return once the bucket is not paused (at once if it is not)."""
        while self.paused:
            await self._sleep(self._paused_until - self._clock())

    async def acquire(self) -> None:
        """Wait until a slot is usable and the bucket is not paused, then take the slot."""
        while True:
            now = self._clock()
            if not self._ready_at:
                await self._wait_for_release()
                continue
            start = max(self._ready_at[0], self._paused_until)
            if start <= now:
                heapq.heappop(self._ready_at)
                return
            await self._sleep(start - now)

    def release(self) -> None:
        """Give the slot back; usable again one window from now."""
        heapq.heappush(self._ready_at, self._clock() + self._window)
        waiters, self._slot_waiters = self._slot_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _wait_for_release(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._slot_waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter in self._slot_waiters:
                self._slot_waiters.remove(waiter)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a slot for one request; released (even on cancellation) when the block exits."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()


@dataclass
class PacerStats:
    """What the pacer did, for tests, benchmarks and a status line.

    Attributes:
        requests: requests sent (retries included).
        rate_limited: 429 answers received.
        retries: requests re-sent after a 429.
    """

    requests: int = 0
    rate_limited: int = 0
    retries: int = 0


class Pacer:
    """Runs requests within the rate-limit buckets, the in-flight cap and the 429 retry policy."""

    def __init__(
        self,
        limits: Sequence[RateLimit],
        *,
        max_concurrency: int = 8,
        max_rate_limit_retries: int = 3,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self._limits = tuple(limits)
        self._buckets: dict[str, BucketPacer] = {}
        for bucket in self._limits:
            self._buckets[bucket.name] = BucketPacer(
                bucket.name, bucket.limit, bucket.window_seconds, clock=clock, sleep=sleep
            )
        self._in_flight = asyncio.Semaphore(max_concurrency)
        self._max_retries = max_rate_limit_retries
        self._sleep = sleep
        self.stats = PacerStats()

    def bucket_for(self, path: str) -> BucketPacer | None:
        """The pacer of the first bucket whose prefix matches `path` (None: not limited)."""
        bucket = limit_for(path, self._limits)
        return None if bucket is None else self._buckets[bucket.name]

    @asynccontextmanager
    async def _turn(self, bucket: BucketPacer | None) -> AsyncIterator[None]:
        if bucket is None:
            async with self._in_flight:
                yield
            return
        async with bucket.slot():
            await self._enter_unpaused(bucket)
            try:
                yield
            finally:
                self._in_flight.release()

    async def _enter_unpaused(self, bucket: BucketPacer) -> None:
        """Take an in-flight place, re-checking the pause: a 429 may have arrived while queued."""
        while True:
            await bucket.wait_unpaused()
            await self._in_flight.acquire()
            if not bucket.paused:
                return
            self._in_flight.release()

    async def run(self, path: str, call: Callable[[], Awaitable[T]]) -> T:
        """`await call()` paced as a request to `path`; re-raises the 429 once retries are spent."""
        bucket = self.bucket_for(path)
        attempt = 0
        while True:
            try:
                async with self._turn(bucket):
                    self.stats.requests += 1
                    return await call()
            except RateLimitException as exc:
                self.stats.rate_limited += 1
                wait = max(retry_after_seconds(exc), FALLBACK_BACKOFF_SECONDS * 2**attempt)
                if bucket is not None:
                    bucket.pause(wait)  # also when giving up: the bucket's other requests must wait too
                if attempt >= self._max_retries:
                    raise
                attempt += 1
                self.stats.retries += 1
                if bucket is None:
                    await self._sleep(wait)
