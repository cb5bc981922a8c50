"""Where and as whom the console connects, and what a connection test found: plain values.

The gateway opens a `Connection`; views and settings build one without importing the gateway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit


def host_of(base_url: str) -> str:
    """`host[:port]` of a URL, for messages (never the path or query)."""
    parts = urlsplit(base_url)
    return parts.netloc or base_url


@dataclass(frozen=True)
class Connection:
    """Where and as whom to connect. The key never appears in `repr`/`str`.

    Attributes:
        project_id: `P…` project id.
        base_url: service root (`https://api.descope.com` or the sandbox URL), without a trailing slash.
        management_key: the management key (secret).
    """

    project_id: str
    base_url: str
    management_key: str = field(repr=False)

    def __post_init__(self) -> None:
        # A trailing slash makes the SDK request `//v1/...` (descope-api.md §1.3).
        object.__setattr__(self, "base_url", self.base_url.strip().rstrip("/"))

    @property
    def host(self) -> str:
        return host_of(self.base_url)


@dataclass(frozen=True)
class ConnectionCheck:
    """What `Gateway.check` found: the license tier and how many (non-test) users the project has."""

    host: str
    project_id: str
    rate_limit_tier: str
    user_count: int
