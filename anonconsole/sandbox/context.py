"""What every sandbox request handler can reach, as `request.app.state.ctx`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from anonconsole.sandbox.store import Store
    from anonconsole.sandbox.tokens import TokenIssuer

# Descope's project defaults when no tenant sets custom session management.
DEFAULT_SESSION_SECONDS = 10 * 60
DEFAULT_REFRESH_SECONDS = 4 * 7 * 24 * 3600


@dataclass
class SandboxContext:
    """Shared state of one sandbox server.

    Attributes:
        store: all persistent state (SQLite).
        tokens: signs and verifies session/refresh JWTs, serves the JWKS.
        project_id: the project this sandbox pretends to be.
        management_key_hash: SHA-256 hex of the management key; the key itself is never kept.
        clock: seconds since the epoch; tests may replace it.
    """

    store: Store
    tokens: TokenIssuer
    project_id: str
    management_key_hash: str
    clock: Callable[[], float] = field(default=time.time)
