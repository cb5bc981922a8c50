"""Domain errors of the gateway, and the one function that turns SDK/transport failures into them.

Every message is scrubbed of the management key (whole, as part of a bearer, or a long fragment of it),
because these texts reach the status bar, dialogs with copyable details, and logs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import httpx
import jwt
from descope.exceptions import (
    ERROR_TYPE_INVALID_PUBLIC_KEY,
    ERROR_TYPE_INVALID_TOKEN,
    AuthException,
    RateLimitException,
)

from anonconsole.core import errors as domain
from anonconsole.core.connection import host_of
from anonconsole.core.scrub import scrub

_TAKEN = re.compile(r"already (exists?|in use|taken)", re.IGNORECASE)

# Descope error codes with a meaning of their own (descope-api.md §1.7).
USER_NOT_FOUND = "E112102"
USER_ALREADY_EXISTS = "E062107"


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


def _from_auth_exception(exc: AuthException, host: str) -> domain.GatewayError:
    status = exc.status_code
    raw = exc.error_message or ""
    body = server_error_body(raw)
    code = str(body.get("errorCode", ""))
    reason = _server_words(body, raw)
    detail = f"HTTP {status} {exc.error_type or ''} {code} {raw}".strip()
    lowered = reason.lower()

    if exc.error_type in (ERROR_TYPE_INVALID_TOKEN, ERROR_TYPE_INVALID_PUBLIC_KEY):
        return domain.TokenInvalid(_with_reason("A session token could not be validated", reason), detail)
    if status is None and "management key is required" in lowered:
        return domain.AuthenticationFailed("No management key is configured for this connection.", detail)
    if status == 401:
        if "project" in lowered:
            return domain.UnknownProject(
                _with_reason(f"{host} does not know this project ID; check the project ID", reason), detail
            )
        return domain.AuthenticationFailed(
            f"{host} refused the management key; check that the key belongs to this project "
            "and has not been deleted or expired.",
            detail,
        )
    if status == 403:
        return domain.PermissionDenied(
            _with_reason(f"The management key is valid but not allowed to do this on {host}", reason), detail
        )
    if code == USER_NOT_FOUND:
        return domain.NotFound(
            _with_reason("The user does not exist (it may have been deleted)", reason), detail
        )
    if code == USER_ALREADY_EXISTS or _TAKEN.search(reason):
        return domain.Conflict(_with_reason("Already in use by another user or object", reason), detail)
    if status == 404 or "not found" in lowered:
        return domain.NotFound(_with_reason("Not found", reason), detail)
    if isinstance(status, int) and status >= 500:
        return domain.ServerError(
            _with_reason(f"{host} had an internal error (HTTP {status}); try again", reason), detail
        )
    return domain.InvalidInput(_with_reason("The request was refused", reason or f"HTTP {status}"), detail)


def _from_rate_limit(exc: RateLimitException, host: str) -> domain.RateLimited:
    retry_after = retry_after_seconds(exc)
    wait = f"; retry in {retry_after:g} s" if retry_after else ""
    detail = f"{exc.status_code} {exc.error_description or ''} {exc.error_message or ''}".strip()
    return domain.RateLimited(f"{host} is rate limiting this project{wait}.", detail, retry_after)


def retry_after_seconds(exc: RateLimitException) -> float:
    """The `Retry-After` a 429 announced (0 when absent or unparsable)."""
    value = (exc.rate_limit_parameters or {}).get("Retry-After", 0)
    try:
        return max(float(value), 0.0)
    except (TypeError, ValueError):
        return 0.0


def _from_transport(exc: httpx.TransportError, host: str) -> domain.Unreachable:
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, httpx.TimeoutException):
        return domain.Unreachable(
            f"{host} did not answer in time; check the network and the base URL.", detail
        )
    if isinstance(exc, httpx.UnsupportedProtocol):
        return domain.Unreachable(
            "The base URL is not valid; it must start with https:// or http://.", detail
        )
    if isinstance(exc, httpx.RemoteProtocolError):
        return domain.Unreachable(f"The connection to {host} was dropped before an answer arrived.", detail)
    return domain.Unreachable(
        f"Cannot reach {host}; check the base URL, the network, or that the sandbox is running.", detail
    )


def _classify(exc: BaseException, host: str) -> domain.GatewayError:
    if isinstance(exc, domain.GatewayError):
        return exc
    if isinstance(exc, RateLimitException):
        return _from_rate_limit(exc, host)
    if isinstance(exc, AuthException):
        return _from_auth_exception(exc, host)
    if isinstance(exc, jwt.PyJWTError):
        # The SDK lets bad-signature / wrong-audience / decode errors escape unwrapped (§1.7).
        return domain.TokenInvalid(f"A session token failed validation ({type(exc).__name__}).", str(exc))
    if isinstance(exc, httpx.TransportError):
        return _from_transport(exc, host)
    if isinstance(exc, httpx.InvalidURL):
        return domain.Unreachable("The base URL is not valid.", str(exc))
    if isinstance(exc, ValueError | KeyError):
        # A 2xx answer that is not the JSON the SDK expects (json() fails, a key is missing).
        return domain.ServerError(
            f"{host} sent an answer that is not Descope's API.", f"{type(exc).__name__}: {exc}"
        )
    return domain.GatewayError(f"Unexpected error talking to {host}.", f"{type(exc).__name__}: {exc}")


def map_error(exc: BaseException, *, base_url: str, secrets: Iterable[str] = ()) -> domain.GatewayError:
    """The one mapping from any failure to a `domain.GatewayError`, with every text scrubbed of `secrets`."""
    secrets = tuple(secrets)
    error = _classify(exc, host_of(base_url))
    error.user_message = scrub(error.user_message, secrets)
    error.detail = scrub(error.detail, secrets)
    error.args = (error.user_message,)
    return error
