"""Descope-shaped errors for the sandbox.

Every failure the sandbox reports goes through `DescopeError`, so clients always see Descope's body
`{"errorCode","errorDescription","errorMessage","message"}` (descope-api.md §1.7) and never a traceback.
Codes listed in descope-api.md are used as documented; where the contract names none (auth failures,
forbidden), the code chosen here is marked so.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import JSONResponse


class DescopeError(Exception):
    """A failure answered with Descope's error body.

    Attributes:
        status: HTTP status code.
        code: `E` + 6 digits.
        description: short description (errorDescription).
        message: details (errorMessage and message).
        headers: extra response headers (e.g. Retry-After).
        lasting: writes that stand although the request fails and its other writes are rolled back
            (Descope audits a failed sign-in); run after the rollback, in order.
    """

    def __init__(
        self,
        status: int,
        code: str,
        description: str,
        message: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code} {description}: {message}")
        self.status = status
        self.code = code
        self.description = description
        self.message = message
        self.headers = headers or {}
        self.lasting: list[Callable[[], None]] = []

    def body(self) -> dict[str, str]:
        body = {"errorCode": self.code, "errorDescription": self.description}
        if self.message:
            body["errorMessage"] = self.message
            body["message"] = self.message
        return body

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def bad_request(message: str) -> DescopeError:
    """Malformed request (not JSON, not an object)."""
    return DescopeError(400, "E011001", "Bad request", message)


def missing_argument(name: str) -> DescopeError:
    return DescopeError(400, "E011002", "Missing arguments", f"{name} is required")


def validation_failed(message: str) -> DescopeError:
    """A field has the wrong type or an unknown field was sent."""
    return DescopeError(400, "E011003", "Request validation failed", message)


def invalid_argument(message: str) -> DescopeError:
    """A field has the right type but a value the service refuses."""
    return DescopeError(400, "E011004", "Invalid arguments", message)


def user_not_found(message: str = "User not found") -> DescopeError:
    return DescopeError(400, "E112102", "User not found", message)


def user_already_exists(message: str = "User already exists") -> DescopeError:
    return DescopeError(400, "E062107", "User already exists", message)


def invalid_otp(message: str = "Invalid one-time code") -> DescopeError:
    return DescopeError(401, "E061102", "Invalid one-time code", message)


def otp_expired() -> DescopeError:
    """A code used after its lifetime (code from Descope's SDKs: E061104)."""
    return DescopeError(401, "E061104", "One-time code expired", "The code has expired: send a new one")


def too_many_otp_attempts() -> DescopeError:
    """A code worn out by wrong attempts (code from Descope's SDKs: E061103)."""
    return DescopeError(
        401,
        "E061103",
        "Too many OTP attempts",
        "Too many wrong codes: this code is no longer accepted, send a new one",
    )


def enchanted_link_pending(message: str = "The enchanted link was not verified yet") -> DescopeError:
    """A pending session asked for before its link was verified (code from descope-api.md §1.7)."""
    return DescopeError(401, "E062503", "Enchanted link unauthorized", message)


def password_expired() -> DescopeError:
    return DescopeError(400, "E062909", "Password expired", "Password expired, reset it to sign in")


def too_large(limit_bytes: int) -> DescopeError:
    """A request body over the sandbox's limit (413; code chosen here, Descope documents none)."""
    return DescopeError(
        413,
        "E011008",
        "Request too large",
        f"The request body is larger than {limit_bytes // (1024 * 1024)} MiB; send less at a time",
    )


def unauthorized(message: str) -> DescopeError:
    """Missing or wrong credentials. Code chosen here: the contract names none for 401."""
    return DescopeError(401, "E011005", "Unauthorized", message)


def rate_limited(retry_after: int) -> DescopeError:
    """429 exactly as descope-api.md §5 shows it."""
    return DescopeError(
        429,
        "E130429",
        "https://docs.descope.com/rate-limit",
        "API rate limit exceeded.",
        headers={"Retry-After": str(int(retry_after))},
    )


def not_found(message: str) -> DescopeError:
    """Unknown path or object other than a user (tenant, role). Code chosen here."""
    return DescopeError(404, "E011006", "Not found", message)


def tenant_not_found(tenant_id: str) -> DescopeError:
    return not_found(f"Tenant {tenant_id} not found")
