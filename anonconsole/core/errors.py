"""The failures of talking to Descope, as plain classes every layer may catch.

They are raised by the gateway (`anonconsole.gateway.errors.map_error` builds them from SDK and
transport failures); they live here so views, models and operations can catch them without
importing the gateway, which only operations may call.
"""

from __future__ import annotations


class GatewayError(Exception):
    """A failure talking to Descope, explained.

    Attributes:
        user_message: plain words for a support engineer (what happened, what to check).
        detail: technical detail (status, error code, server text), for a "details" box or a log.
    """

    def __init__(self, user_message: str, detail: str = "") -> None:
        super().__init__(user_message)
        self.user_message = user_message
        self.detail = detail

    def __str__(self) -> str:
        return self.user_message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.user_message!r}, detail={self.detail!r})"


class AuthenticationFailed(GatewayError):
    """401: the management key (or the project ID it is paired with) was refused."""


class UnknownProject(AuthenticationFailed):
    """The service does not know the project ID."""


class PermissionDenied(GatewayError):
    """403: the key is valid but may not do this."""


class NotFound(GatewayError):
    """The user or tenant does not exist (any more)."""


class Conflict(GatewayError):
    """The login id, email or phone is already taken, or the object already exists."""


class InvalidInput(GatewayError):
    """The service (or the SDK, before sending) refused the request's values."""


class RateLimited(GatewayError):
    """Still rate limited after pacing and bounded retries. `retry_after` is in seconds."""

    def __init__(self, user_message: str, detail: str = "", retry_after: float = 0.0) -> None:
        super().__init__(user_message, detail)
        self.retry_after = retry_after


class Unreachable(GatewayError):
    """No answer: refused or dropped connection, timeout, DNS or TLS failure, malformed URL."""


class ServerError(GatewayError):
    """5xx, or an answer that is not what the API returns."""


class TokenInvalid(GatewayError):
    """A JWT failed validation (bad signature, wrong audience, unknown key, malformed)."""
