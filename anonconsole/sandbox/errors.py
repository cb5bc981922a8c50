"""Descope-shaped errors and request-body reading for the sandbox.

Every failure the sandbox reports goes through `DescopeError`, so clients always see Descope's body
`{"errorCode","errorDescription","errorMessage","message"}` (descope-api.md §1.7) and never a traceback.
Codes listed in descope-api.md are used as documented; where the contract names none (auth failures,
forbidden), the code chosen here is marked so.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse


class DescopeError(Exception):
    """A failure answered with Descope's error body.

    Attributes:
        status: HTTP status code.
        code: `E` + 6 digits.
        description: short description (errorDescription).
        message: details (errorMessage and message).
        headers: extra response headers (e.g. Retry-After).
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


def enchanted_link_pending(message: str = "The enchanted link was not verified yet") -> DescopeError:
    """A pending session asked for before its link was verified (code from descope-api.md §1.7)."""
    return DescopeError(401, "E062503", "Enchanted link unauthorized", message)


def password_expired() -> DescopeError:
    return DescopeError(400, "E062909", "Password expired", "Password expired, reset it to sign in")


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


async def read_json(request: Request, *, array: bool = False) -> Any:
    """Parse a request body as a JSON object (or array), or raise a Descope-shaped 400."""
    raw = await request.body()
    if not raw.strip():
        if array:
            raise bad_request("Request body must be a JSON array")
        return {}
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request(f"Malformed JSON body: {exc.msg if hasattr(exc, 'msg') else exc}") from None
    expected = list if array else dict
    if not isinstance(data, expected):
        raise bad_request(f"Request body must be a JSON {'array' if array else 'object'}")
    return data


class Body:
    """Typed, strict access to a JSON object body.

    Unknown fields are refused (Descope's API validates requests), `null` counts as absent, and every
    wrong type is a Descope-shaped 400 naming the field. Call `done()` after reading to refuse unknown
    fields; fields the SDK sends but the sandbox ignores must still be read (or listed in `ignore`).
    """

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data
        self._seen: set[str] = set()

    def has(self, name: str) -> bool:
        return self._data.get(name) is not None

    def _get(self, name: str, types: tuple[type, ...], type_name: str, required: bool) -> Any:
        self._seen.add(name)
        value = self._data.get(name)
        if value is None:
            if required:
                raise missing_argument(name)
            return None
        if isinstance(value, bool) and bool not in types:
            raise validation_failed(f"{name} must be {type_name}")
        if not isinstance(value, types):
            raise validation_failed(f"{name} must be {type_name}")
        return value

    def text(self, name: str, *, required: bool = False, default: str | None = None) -> str | None:
        value = self._get(name, (str,), "a string", required)
        if required and value == "":
            raise missing_argument(name)
        return default if value is None else value

    def flag(self, name: str, *, default: bool | None = None) -> bool | None:
        value = self._get(name, (bool,), "a boolean", False)
        return default if value is None else value

    def integer(self, name: str, *, required: bool = False, default: int | None = None) -> int | None:
        """An integer; int64 may also arrive as a decimal string (protobuf JSON), accepted too."""
        self._seen.add(name)
        value = self._data.get(name)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        value = self._get(name, (int,), "an integer", required)
        return default if value is None else value

    def strings(self, name: str, *, required: bool = False) -> list[str] | None:
        value: list[str] | None = self._get(name, (list,), "a list of strings", required)
        if value is not None and not all(isinstance(v, str) for v in value):
            raise validation_failed(f"{name} must be a list of strings")
        return value

    def array(self, name: str, *, required: bool = False) -> list[Any] | None:
        value: list[Any] | None = self._get(name, (list,), "a list", required)
        return value

    def obj(self, name: str, *, required: bool = False) -> dict[str, Any] | None:
        value: dict[str, Any] | None = self._get(name, (dict,), "an object", required)
        return value

    def ignore(self, *names: str) -> None:
        """Fields accepted for compatibility but without effect in the sandbox."""
        self._seen.update(names)

    def done(self) -> None:
        unknown = sorted(set(self._data) - self._seen)
        if unknown:
            raise validation_failed(f"Unknown field(s): {', '.join(unknown)}")
