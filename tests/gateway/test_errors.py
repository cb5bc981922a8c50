"""Error mapping tables: real SDK/PyJWT/httpx exception objects in, domain errors out (scrubbed)."""

from __future__ import annotations

import json

import httpx
import jwt
import pytest
from descope.exceptions import AuthException, RateLimitException

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
from anonconsole.gateway.errors import map_error

KEY = "K2xQ7mZp9LrT4vWy8NbC3dFg6HjS1aE5"
PROJECT = "P2AnonConsoleSandbox00000000"
BASE_URL = "http://127.0.0.1:8788"


def descope_failure(status: int, code: str, description: str, message: str = "") -> AuthException:
    """What the SDK raises for a non-429 failure: the raw body text in error_message (§1.7)."""
    body = {"errorCode": code, "errorDescription": description}
    if message:
        body["errorMessage"] = message
        body["message"] = message
    return AuthException(status, "server error", json.dumps(body))


def assert_clean(error: GatewayError, *secrets: str) -> None:
    for text in (str(error), repr(error), error.user_message, error.detail, *map(str, error.args)):
        for secret in secrets:
            assert secret not in text
        assert KEY[:10] not in text


def mapped(exc: BaseException) -> GatewayError:
    return map_error(exc, base_url=BASE_URL, secrets=(KEY,))


@pytest.mark.parametrize(
    ("exc", "kind", "words"),
    [
        (
            descope_failure(401, "E011005", "Unauthorized", "Invalid management key"),
            AuthenticationFailed,
            "refused the management key",
        ),
        (
            descope_failure(401, "E011005", "Unauthorized", "Project ID does not match"),
            UnknownProject,
            "does not know this project ID",
        ),
        (
            descope_failure(403, "E011008", "Forbidden", "Key lacks the user-management scope"),
            PermissionDenied,
            "lacks the user-management scope",
        ),
        (
            descope_failure(400, "E112102", "User not found", "User not found"),
            NotFound,
            "does not exist",
        ),
        (
            descope_failure(404, "E011006", "Not found", "Tenant T1 not found"),
            NotFound,
            "Tenant T1 not found",
        ),
        (
            descope_failure(400, "E062107", "User already exists", "Email is another user's login id"),
            Conflict,
            "another user's login id",
        ),
        (
            descope_failure(400, "E011004", "Invalid arguments", "Tenant name 'Acme' is already in use"),
            Conflict,
            "already in use",
        ),
        (
            descope_failure(400, "E011003", "Request validation failed", "limit must be an integer"),
            InvalidInput,
            "limit must be an integer",
        ),
        (
            descope_failure(400, "E011002", "Missing arguments", ""),
            InvalidInput,
            "Missing arguments",
        ),
        (
            descope_failure(500, "E010001", "Internal server error", "Injected fault (sandbox --error-rate)"),
            ServerError,
            "internal error (HTTP 500)",
        ),
        (AuthException(502, "server error", "<html>Bad gateway</html>"), ServerError, "HTTP 502"),
        (AuthException(400, "invalid argument", "limit must be non-negative"), InvalidInput, "non-negative"),
        (
            AuthException(
                None, "invalid argument", "Management key is required to access 'user' functionality"
            ),
            AuthenticationFailed,
            "No management key",
        ),
        (AuthException(401, "invalid token", "Received Invalid token (expired)"), TokenInvalid, "validated"),
        (
            AuthException(500, "invalid public key", "Unable to validate public key. Public key not found."),
            TokenInvalid,
            "validated",
        ),
        (
            jwt.exceptions.InvalidSignatureError("Signature verification failed"),
            TokenInvalid,
            "InvalidSignature",
        ),
        (jwt.exceptions.InvalidAudienceError("Audience doesn't match"), TokenInvalid, "InvalidAudience"),
        (jwt.exceptions.DecodeError("Not enough segments"), TokenInvalid, "DecodeError"),
        (httpx.ConnectError("[Errno 111] Connection refused"), Unreachable, "Cannot reach 127.0.0.1:8788"),
        (httpx.ConnectTimeout("timed out"), Unreachable, "did not answer in time"),
        (httpx.ReadTimeout("timed out"), Unreachable, "did not answer in time"),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            Unreachable,
            "dropped",
        ),
        (
            httpx.UnsupportedProtocol("Request URL is missing an 'http://' or 'https://' protocol."),
            Unreachable,
            "https://",
        ),
        (ValueError("Expecting value: line 1 column 1 (char 0)"), ServerError, "not Descope's API"),
        (RuntimeError("boom"), GatewayError, "Unexpected error"),
    ],
)
def test_mapping_table(exc: BaseException, kind: type[GatewayError], words: str) -> None:
    error = mapped(exc)
    assert type(error) is kind
    assert words in error.user_message
    assert error.detail
    assert not error.user_message.lstrip().startswith("{"), "no raw JSON dumps for people"
    assert_clean(error)


def test_rate_limit_carries_retry_after() -> None:
    exc = RateLimitException(
        "E130429",
        "API rate limit exceeded",
        "https://docs.descope.com/rate-limit",
        "API rate limit exceeded.",
        rate_limit_parameters={"Retry-After": 42},
    )
    error = mapped(exc)
    assert isinstance(error, RateLimited)
    assert error.retry_after == 42
    assert "retry in 42 s" in error.user_message


def test_rate_limit_without_retry_after() -> None:
    error = mapped(RateLimitException(429, "API rate limit exceeded", "x", "y"))
    assert isinstance(error, RateLimited)
    assert error.retry_after == 0
    assert "rate limiting" in error.user_message


def test_gateway_errors_pass_through_but_are_scrubbed() -> None:
    original = InvalidInput(f"bad value {KEY}", f"Bearer {PROJECT}:{KEY}")
    error = mapped(original)
    assert error is original
    assert_clean(error)


def test_unauthorized_echoing_the_bearer_is_scrubbed() -> None:
    exc = descope_failure(401, "E011005", "Unauthorized", f"bad bearer {PROJECT}:{KEY}")
    error = mapped(exc)
    assert isinstance(error, AuthenticationFailed)
    assert_clean(error)
