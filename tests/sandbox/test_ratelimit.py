"""Rate limits: the fixed-window counter, and a 429 exactly as the SDK surfaces it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
import pytest
from descope import AuthException, RateLimitException

from anonconsole.core.rate_limits import DESCOPE_LIMITS, RateLimit
from anonconsole.sandbox.errors import DescopeError
from anonconsole.sandbox.ratelimit import RateLimiter

if TYPE_CHECKING:
    from conftest import RunningSandbox


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _exhaust(limiter: RateLimiter, path: str, times: int, **who: str) -> None:
    for _ in range(times):
        limiter.check(path, **{"project_id": "P1", "client_ip": "1.1.1.1", **who})


def test_limit_then_429_with_retry_after_until_window_end() -> None:
    clock = FakeClock(1000.0)
    limiter = RateLimiter([RateLimit("auth", ("/v1/auth/",), 3, 60, per_project=False)], clock=clock)
    _exhaust(limiter, "/v1/auth/refresh", 3)
    clock.now = 1015.5
    with pytest.raises(DescopeError) as caught:
        limiter.check("/v1/auth/refresh", project_id="P1", client_ip="1.1.1.1")
    error = caught.value
    assert error.status == 429
    assert error.body() == {
        "errorCode": "E130429",
        "errorDescription": "https://docs.descope.com/rate-limit",
        "errorMessage": "API rate limit exceeded.",
        "message": "API rate limit exceeded.",
    }
    # Windows are aligned to multiples of 60 s: 1020 is the next boundary after 1015.5.
    assert error.headers["Retry-After"] == "5"
    clock.now = 1020.0
    limiter.check("/v1/auth/refresh", project_id="P1", client_ip="1.1.1.1")


def test_per_ip_and_per_project_buckets_are_separate() -> None:
    limiter = RateLimiter(
        [
            RateLimit("users", ("/v1/mgmt/user",), 2, 60, per_project=True),
            RateLimit("auth", ("/v1/auth/",), 2, 60, per_project=False),
        ],
        clock=FakeClock(),
    )
    _exhaust(limiter, "/v1/auth/me", 2, client_ip="1.1.1.1")
    limiter.check("/v1/auth/me", project_id="P1", client_ip="2.2.2.2")
    _exhaust(limiter, "/v1/mgmt/user/create", 2, client_ip="1.1.1.1")
    with pytest.raises(DescopeError):
        limiter.check("/v1/mgmt/user/create", project_id="P1", client_ip="9.9.9.9")
    limiter.check("/v1/mgmt/user/create", project_id="P2", client_ip="1.1.1.1")


def test_unlimited_paths_and_descope_table() -> None:
    limiter = RateLimiter(clock=FakeClock())
    _exhaust(limiter, "/_sandbox/health", 5000)
    _exhaust(limiter, "/v1/mgmt/user/create", 100)
    with pytest.raises(DescopeError):
        limiter.check("/v1/mgmt/user/create/batch", project_id="P1", client_ip="1.1.1.1")
    # Another bucket of the same project is still open.
    limiter.check("/v2/mgmt/user/search", project_id="P1", client_ip="1.1.1.1")
    assert {b.name for b in DESCOPE_LIMITS} >= {"user-create", "authentication"}


def _hammer(call: Callable[[], object], times: int) -> None:
    for _ in range(times):
        call()


def test_sdk_sees_rate_limit_exception(start_sandbox: Callable[..., RunningSandbox]) -> None:
    limited = start_sandbox(rate_limits="descope")
    client = limited.client()
    bucket = next(b for b in DESCOPE_LIMITS if b.name == "authentication")
    # Twice the limit (+1): still a 429 if the burst happens to straddle a window boundary.
    with pytest.raises(RateLimitException) as caught:
        _hammer(client.password.get_policy, 2 * bucket.limit + 1)
    error = caught.value
    assert not isinstance(error, AuthException)
    assert error.status_code == "E130429"
    assert error.error_description == "https://docs.descope.com/rate-limit"
    assert error.error_message == "API rate limit exceeded."
    retry_after = error.rate_limit_parameters["Retry-After"]
    assert isinstance(retry_after, int)
    assert 0 < retry_after <= bucket.window_seconds
    # Sandbox-only endpoints are never limited.
    assert httpx.get(f"{limited.url}/_sandbox/health").status_code == 200
