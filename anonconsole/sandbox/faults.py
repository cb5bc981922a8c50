"""Fault knobs for demos, benchmarks and reliability tests: latency, errors, dropped connections.

Two kinds of failure, told apart because a client must handle them differently:

- *before* the change (`error_rate`, `drop_rate`, `rate_limit_rate`): the request is refused and
  nothing happens; retrying is safe and needed.
- *after* the change (`error_after_rate`, `drop_after_rate`): the request is served in full (its
  writes are committed), then the answer is lost, replaced by a 500 or by a closed connection. The
  client cannot tell this from a failure before; it must reconcile (look the state up) rather than
  assume nothing happened.

Errors are Descope-shaped 500s, never 503/52x: the SDK retries those for about 10 s, which would turn
an injected fault into a long hang rather than an error the console must handle.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from enum import Enum

from anonconsole.sandbox.errors import DescopeError


class Fault(Enum):
    """What to do with a request instead of (or after) serving it."""

    ERROR = "error"
    DROP = "drop"
    RATE_LIMITED = "rate_limited"
    ERROR_AFTER = "error_after"
    DROP_AFTER = "drop_after"

    @property
    def after(self) -> bool:
        """Whether the request is served first (its writes stand) and only its answer is lost."""
        return self in (Fault.ERROR_AFTER, Fault.DROP_AFTER)


def server_error(message: str) -> DescopeError:
    """A Descope-shaped 500 (code chosen here: the contract names none)."""
    return DescopeError(500, "E010001", "Internal server error", message)


def injected_error() -> DescopeError:
    """The 500 answered for `errorRate` / `--error-rate`: nothing was done."""
    return server_error("Injected fault before the change was made (sandbox errorRate)")


def injected_error_after() -> DescopeError:
    """The 500 answered for `errorAfterRate`: the request was served, only its answer is lost."""
    return server_error(
        "Injected fault after the change was made: only the answer is lost (sandbox errorAfterRate)"
    )


_RATES = ("error_rate", "drop_rate", "rate_limit_rate", "error_after_rate", "drop_after_rate")


@dataclass
class Faults:
    """Per-request fault settings.

    Attributes:
        latency_ms: delay added before every request (asyncio.sleep: the loop keeps serving others).
        error_rate: probability of answering a Descope-shaped 500 without serving the request.
        drop_rate: probability of closing the connection without serving the request or answering.
        paths: only requests whose path starts with one of these are affected (empty: all), so a
            test or a demo can make one operation fail (e.g. "/v1/mgmt/tenant/settings").
        rate_limit_rate: probability of answering Descope's 429 (with `Retry-After: 1`), as if the
            project's budget were spent by someone else: a client must wait, then retry.
        error_after_rate: probability of serving the request, then answering a 500 instead.
        drop_after_rate: probability of serving the request, then closing the connection unanswered.
        times: how many more faults to inject, then none (latency stays); None: no limit.
    """

    latency_ms: int = 0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    paths: tuple[str, ...] = ()
    rate_limit_rate: float = 0.0
    error_after_rate: float = 0.0
    drop_after_rate: float = 0.0
    times: int | None = None
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        if self.times is not None and self.times < 0:
            raise ValueError("times must be >= 0")
        for name in _RATES:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")

    @property
    def active(self) -> bool:
        return bool(self.latency_ms or any(getattr(self, name) for name in _RATES))

    def applies_to(self, path: str) -> bool:
        return self.active and (not self.paths or path.startswith(self.paths))

    def set(
        self,
        *,
        latency_ms: int = 0,
        error_rate: float = 0.0,
        drop_rate: float = 0.0,
        paths: tuple[str, ...] = (),
        rate_limit_rate: float = 0.0,
        error_after_rate: float = 0.0,
        drop_after_rate: float = 0.0,
        times: int | None = None,
    ) -> None:
        """Change the knobs of a running sandbox (`/_sandbox/faults`); validated like at start."""
        checked = Faults(  # ValueError when out of range
            latency_ms,
            error_rate,
            drop_rate,
            paths,
            rate_limit_rate,
            error_after_rate,
            drop_after_rate,
            times,
        )
        self.latency_ms, self.paths, self.times = checked.latency_ms, checked.paths, checked.times
        for name in _RATES:
            setattr(self, name, getattr(checked, name))

    def to_json(self) -> dict[str, object]:
        return {
            "latencyMs": self.latency_ms,
            "errorRate": self.error_rate,
            "dropRate": self.drop_rate,
            "rateLimitRate": self.rate_limit_rate,
            "errorAfterRate": self.error_after_rate,
            "dropAfterRate": self.drop_after_rate,
            "paths": list(self.paths),
            "times": self.times,
        }

    async def apply(self) -> Fault | None:
        """Wait the configured latency, then draw the fault for this request (None = serve it)."""
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        fault = self._draw()
        if fault is None or self.times is None:
            return fault
        if self.times == 0:
            return None
        self.times -= 1
        return fault

    def _draw(self) -> Fault | None:
        for rate, fault in (
            (self.drop_rate, Fault.DROP),
            (self.error_rate, Fault.ERROR),
            (self.rate_limit_rate, Fault.RATE_LIMITED),
            (self.error_after_rate, Fault.ERROR_AFTER),
            (self.drop_after_rate, Fault.DROP_AFTER),
        ):
            if rate and self.rng.random() < rate:
                return fault
        return None
