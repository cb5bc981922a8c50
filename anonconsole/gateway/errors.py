"""Domain errors of the gateway, and the one function that turns SDK/transport failures into them.

Every message is scrubbed of the management key (whole, as part of a bearer, or a long fragment of it),
because these texts reach the status bar, dialogs with copyable details, and logs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from descope.exceptions import (
    ERROR_TYPE_INVALID_PUBLIC_KEY,
    ERROR_TYPE_INVALID_TOKEN,
    AuthException,
    RateLimitException,
)

REDACTED = "[redacted]"
_BEARER = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)
_TAKEN = re.compile(r"already (exists?|in use|taken)", re.IGNORECASE)
# Fragments shorter than this are too likely to be ordinary words to be redacted on their own.
_MIN_FRAGMENT = 6

# Descope error codes with a meaning of their own (descope-api.md §1.7).
USER_NOT_FOUND = "E112102"
USER_ALREADY_EXISTS = "E062107"


def _fragment_spans(text: str, secret: str) -> list[tuple[int, int]]:
    """Where any run of `_MIN_FRAGMENT` characters of `secret` occurs in `text`."""
    spans = []
    for j in range(len(secret) - _MIN_FRAGMENT + 1):
        gram = secret[j : j + _MIN_FRAGMENT]
        at = text.find(gram)
        while at != -1:
            spans.append((at, at + _MIN_FRAGMENT))
            at = text.find(gram, at + 1)
    return spans


def _redact_spans(text: str, spans: list[tuple[int, int]]) -> str:
    pieces, last = [], 0
    for begin, end in sorted(spans):
        if end <= last:
            continue
        pieces.append(text[last:begin] + REDACTED if begin >= last else "")
        last = end
    return "".join(pieces) + text[last:]


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` without any secret: whole, inside a bearer, or as a fragment of 6+ characters."""
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    for secret in (s for s in secrets if s):
        text = text.replace(secret, REDACTED)
        text = _redact_spans(text, _fragment_spans(text, secret))
    return text


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


def host_of(base_url: str) -> str:
    """`host[:port]` of a URL, for messages (never the path or query)."""
    parts = urlsplit(base_url)
    return parts.netloc or base_url


def server_error_body(text: str | None) -> dict[str, Any]:
    """Descope's JSON error body from an AuthException's raw text, or {} when it is not one."""
    try:
        body = json.loads(text or "")
    except (ValueError, TypeError):
        return {}
    return body if isinstance(body, dict) else {}


def _server_words(body: dict[str, Any], raw: str) -> str:
    """The server's own explanation, short: errorMessage, else errorDescription, else a text preview."""
    for key in ("errorMessage", "message", "errorDescription"):
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    raw = (raw or "").strip()
    if not raw or raw.startswith(("{", "[", "<")):
        return ""
    return raw[:200]


def _with_reason(sentence: str, reason: str) -> str:
    return f"{sentence} (server said: {reason})" if reason else sentence


def _from_auth_exception(exc: AuthException, host: str) -> GatewayError:
    status = exc.status_code
    raw = exc.error_message or ""
    body = server_error_body(raw)
    code = str(body.get("errorCode", ""))
    reason = _server_words(body, raw)
    detail = f"HTTP {status} {exc.error_type or ''} {code} {raw}".strip()
    lowered = reason.lower()

    if exc.error_type in (ERROR_TYPE_INVALID_TOKEN, ERROR_TYPE_INVALID_PUBLIC_KEY):
        return TokenInvalid(_with_reason("A session token could not be validated", reason), detail)
    if status is None and "management key is required" in lowered:
        return AuthenticationFailed("No management key is configured for this connection.", detail)
    if status == 401:
        if "project" in lowered:
            return UnknownProject(
                _with_reason(f"{host} does not know this project ID; check the project ID", reason), detail
            )
        return AuthenticationFailed(
            f"{host} refused the management key; check that the key belongs to this project "
            "and has not been deleted or expired.",
            detail,
        )
    if status == 403:
        return PermissionDenied(
            _with_reason(f"The management key is valid but not allowed to do this on {host}", reason), detail
        )
    if code == USER_NOT_FOUND:
        return NotFound(_with_reason("The user does not exist (it may have been deleted)", reason), detail)
    if code == USER_ALREADY_EXISTS or _TAKEN.search(reason):
        return Conflict(_with_reason("Already in use by another user or object", reason), detail)
    if status == 404 or "not found" in lowered:
        return NotFound(_with_reason("Not found", reason), detail)
    if isinstance(status, int) and status >= 500:
        return ServerError(
            _with_reason(f"{host} had an internal error (HTTP {status}); try again", reason), detail
        )
    return InvalidInput(_with_reason("The request was refused", reason or f"HTTP {status}"), detail)


def _from_rate_limit(exc: RateLimitException, host: str) -> RateLimited:
    retry_after = retry_after_seconds(exc)
    wait = f"; retry in {retry_after:g} s" if retry_after else ""
    detail = f"{exc.status_code} {exc.error_description or ''} {exc.error_message or ''}".strip()
    return RateLimited(f"{host} is rate limiting this project{wait}.", detail, retry_after)


def retry_after_seconds(exc: RateLimitException) -> float:
    """The `Retry-After` a 429 announced (0 when absent or unparsable)."""
    value = (exc.rate_limit_parameters or {}).get("Retry-After", 0)
    try:
        return max(float(value), 0.0)
    except (TypeError, ValueError):
        return 0.0


def _from_transport(exc: httpx.TransportError, host: str) -> Unreachable:
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, httpx.TimeoutException):
        return Unreachable(f"{host} did not answer in time; check the network and the base URL.", detail)
    if isinstance(exc, httpx.UnsupportedProtocol):
        return Unreachable("The base URL is not valid; it must start with https:// or http://.", detail)
    if isinstance(exc, httpx.RemoteProtocolError):
        return Unreachable(f"The connection to {host} was dropped before an answer arrived.", detail)
    return Unreachable(
        f"Cannot reach {host}; check the base URL, the network, or that the sandbox is running.", detail
    )


def _classify(exc: BaseException, host: str) -> GatewayError:
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, RateLimitException):
        return _from_rate_limit(exc, host)
    if isinstance(exc, AuthException):
        return _from_auth_exception(exc, host)
    if isinstance(exc, jwt.PyJWTError):
        # The SDK lets bad-signature / wrong-audience / decode errors escape unwrapped (§1.7).
        return TokenInvalid(f"A session token failed validation ({type(exc).__name__}).", str(exc))
    if isinstance(exc, httpx.TransportError):
        return _from_transport(exc, host)
    if isinstance(exc, httpx.InvalidURL):
        return Unreachable("The base URL is not valid.", str(exc))
    if isinstance(exc, ValueError | KeyError):
        # A 2xx answer that is not the JSON the SDK expects (json() fails, a key is missing).
        return ServerError(
            f"{host} sent an answer that is not Descope's API.", f"{type(exc).__name__}: {exc}"
        )
    return GatewayError(f"Unexpected error talking to {host}.", f"{type(exc).__name__}: {exc}")


def map_error(exc: BaseException, *, base_url: str, secrets: Iterable[str] = ()) -> GatewayError:
    """The one mapping from any failure to a `GatewayError`, with every text scrubbed of `secrets`."""
    secrets = tuple(secrets)
    error = _classify(exc, host_of(base_url))
    error.user_message = scrub(error.user_message, secrets)
    error.detail = scrub(error.detail, secrets)
    error.args = (error.user_message,)
    return error
