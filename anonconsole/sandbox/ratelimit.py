"""Descope's documented rate limits, enforced (table: anonconsole/core/rate_limits.py).

Fixed windows aligned to the clock: a bucket allows `limit` requests per `window_seconds`, counted per
project ID for user-management buckets and per client IP otherwise (descope-api.md §5). Fixed windows
are cheap (one counter per key) and give an honest `Retry-After`: the seconds until the window rolls
over, which is never more than the documented backoff. The trade-off (a burst of up to 2x the limit
across a window boundary) is acceptable for an emulator and is what the gateway's pacing tolerates.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

from anonconsole.core.rate_limits import DESCOPE_LIMITS, RateLimit, limit_for
from anonconsole.sandbox import errors


class RateLimiter:
    """Counts requests per (bucket, key, window) and refuses the ones over the limit."""

    def __init__(
        self,
        limits: Iterable[RateLimit] = DESCOPE_LIMITS,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = tuple(limits)
        self._clock = clock
        self._counts: dict[tuple[str, str], tuple[int, int]] = {}

    def check(self, path: str, *, project_id: str | None, client_ip: str) -> None:
        """Count one request; raise errors.rate_limited (429, Retry-After) when over the limit.

        `project_id` None: a request that failed authentication. It counts in its client's own
        bucket, apart from the project's, so whoever knows a project ID cannot spend its budget.
        """
        bucket = limit_for(path, self._limits)
        if bucket is None:
            return
        now = self._clock()
        window = int(now // bucket.window_seconds)
        if bucket.per_project:
            who = project_id if project_id is not None else f"unauthenticated {client_ip}"
        else:
            who = client_ip
        key = (bucket.name, who)
        start, count = self._counts.get(key, (window, 0))
        if start != window:
            start, count = window, 0
        if count >= bucket.limit:
            window_end = (window + 1) * bucket.window_seconds
            raise errors.rate_limited(max(1, math.ceil(window_end - now)))
        self._counts[key] = (start, count + 1)
