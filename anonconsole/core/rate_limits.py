"""Descope's documented rate limits, as data: the sandbox enforces them and the gateway paces to them.

Source: descope-api.md §5 (docs.descope.com/rate-limiting, revision B where the two revisions differ:
it is the later one). User-management calls are counted per project, everything else per client IP.
One table so the server and the client can never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    """A bucket of requests allowed per window.

    Attributes:
        name: bucket name (also used in logs and benchmark output).
        prefixes: request paths starting with any of these fall in the bucket.
        limit: requests allowed per window.
        window_seconds: window length; also the backoff announced in Retry-After at most.
        per_project: counted per project ID (user management) instead of per client IP.
    """

    name: str
    prefixes: tuple[str, ...]
    limit: int
    window_seconds: int
    per_project: bool

    @property
    def per_second(self) -> float:
        return self.limit / self.window_seconds


# Order matters: the first bucket whose prefix matches wins.
DESCOPE_LIMITS: tuple[RateLimit, ...] = (
    RateLimit("user-create", ("/v1/mgmt/user/create",), 100, 60, per_project=True),
    RateLimit(
        "user-management",
        ("/v1/mgmt/user", "/v2/mgmt/user", "/v1/mgmt/users"),
        500,
        60,
        per_project=True,
    ),
    RateLimit("backend", ("/v1/mgmt/", "/v2/mgmt/"), 1000, 10, per_project=False),
    RateLimit("authentication", ("/v1/auth/", "/v2/keys/"), 100, 60, per_project=False),
)


def limit_for(path: str, limits: Sequence[RateLimit] = DESCOPE_LIMITS) -> RateLimit | None:
    """The bucket a request path falls in, or None for paths the table does not limit."""
    return next((bucket for bucket in limits if path.startswith(bucket.prefixes)), None)
