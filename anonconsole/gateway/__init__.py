"""The one door to Descope: an async façade over the SDK's `DescopeClientAsync`.

Only this package imports `descope`.

- `Connection(project_id, base_url, management_key)`: frozen; the key never shows in `repr`/`str`.
- `Gateway(connection, *, limits=DESCOPE_LIMITS, max_concurrency=3)`: async context manager; every
  method is a coroutine returning records from `anonconsole.core.records` and raising only
  `GatewayError` subclasses, whose `user_message` is plain words for a support engineer and whose
  `detail` is technical; both are scrubbed of the key.
- Pacing: requests are paced per rate-limit bucket so the console stays under Descope's documented
  limits by itself; a 429 that happens anyway pauses the bucket for `Retry-After` and is retried a
  bounded number of times before `RateLimited` is raised.
- Recipe: `create_anonymous_user` is the KB article's anonymous-user recipe (module `recipe`).
- Paging: `iter_user_pages` reads by creation time (`core.user_sweep`): the first page at once, then
  lanes concurrently within the limit, then counts that find users deleted or created meanwhile
  (`UserPage.gone`).
"""

from anonconsole.core.connection import Connection, ConnectionCheck
from anonconsole.core.errors import (
    AuthenticationFailed,
    Conflict,
    GatewayError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    TokenInvalid,
    UnknownProject,
    Unreachable,
)
from anonconsole.core.records import UserFilter
from anonconsole.core.scrub import scrub
from anonconsole.gateway.client import Gateway, UserPage
from anonconsole.gateway.errors import map_error
from anonconsole.gateway.pacing import BucketPacer, Pacer, PacerStats
from anonconsole.gateway.recipe import AnonymousSession, create_anonymous_user, random_login_id

__all__ = [
    "AnonymousSession",
    "AuthenticationFailed",
    "BucketPacer",
    "Conflict",
    "Connection",
    "ConnectionCheck",
    "Gateway",
    "GatewayError",
    "InvalidInput",
    "NotFound",
    "Pacer",
    "PacerStats",
    "PermissionDenied",
    "RateLimited",
    "ServerError",
    "TokenInvalid",
    "UnknownProject",
    "Unreachable",
    "UserFilter",
    "UserPage",
    "create_anonymous_user",
    "random_login_id",
    "map_error",
    "scrub",
]
