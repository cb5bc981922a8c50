"""Fault knobs for demos, benchmarks and reliability tests: latency, errors, dropped connections.

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
    """What to do with a request instead of serving it."""

    ERROR = "error"
    DROP = "drop"
    RATE_LIMITED = "rate_limited"


def server_error(message: str) -> DescopeError:
    """A Descope-shaped 500 (code chosen here: the contract names none)."""
    return DescopeError(500, "E010001", "Internal server error", message)


def injected_error() -> DescopeError:
    """The 500 answered for `--error-rate`, marked as injected so nobody hunts a real bug."""
    return server_error("Injected fault (sandbox --error-rate)")


@dataclass
class Faults:
    """Per-request fault settings.

    Attributes:
        latency_ms: delay added before every request (asyncio.sleep: the loop keeps serving others).
        error_rate: probability of answering a Descope-shaped 500.
        drop_rate: probability of closing the connection without any response.
        rate_limit_rate: probability of answering Descope's 429 (with `Retry-After: 1`), as if the
            project's budget were spent by someone else: a client must wait, then retry.
        paths: only requests whose path starts with one of these are affected (empty: all), so a
            test or a demo can make one operation fail (e.g. "/v1/mgmt/tenant/settings").
    """

    latency_ms: int = 0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    paths: tuple[str, ...] = ()
    rate_limit_rate: float = 0.0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        for name in ("error_rate", "drop_rate", "rate_limit_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")

    @property
    def active(self) -> bool:
        return bool(self.latency_ms or self.error_rate or self.drop_rate or self.rate_limit_rate)

    def applies_to(self, path: str) -> bool:
        return self.active and (not self.paths or path.startswith(self.paths))

    def set(
        self,
        *,
        latency_ms: int,
        error_rate: float,
        drop_rate: float,
        paths: tuple[str, ...],
        rate_limit_rate: float = 0.0,
    ) -> None:
        """Change the knobs of a running sandbox (`/_sandbox/faults`); validated like at start."""
        Faults(latency_ms, error_rate, drop_rate, paths, rate_limit_rate)  # ValueError when out of range
        self.latency_ms, self.error_rate, self.drop_rate = latency_ms, error_rate, drop_rate
        self.paths, self.rate_limit_rate = paths, rate_limit_rate

    def to_json(self) -> dict[str, object]:
        return {
            "latencyMs": self.latency_ms,
            "errorRate": self.error_rate,
            "dropRate": self.drop_rate,
            "rateLimitRate": self.rate_limit_rate,
            "paths": list(self.paths),
        }

    async def apply(self) -> Fault | None:
        """Wait the configured latency, then draw the fault for this request (None = serve it)."""
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        if self.drop_rate and self.rng.random() < self.drop_rate:
            return Fault.DROP
        if self.error_rate and self.rng.random() < self.error_rate:
            return Fault.ERROR
        if self.rate_limit_rate and self.rng.random() < self.rate_limit_rate:
            return Fault.RATE_LIMITED
        return None
