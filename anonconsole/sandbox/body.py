"""Request bodies: JSON read strictly, then typed access to its fields.

What reaches a handler is plain, bounded JSON: containers nested at most `MAX_DEPTH` deep, no number
the store could not hold (integer literals beyond 20 digits, NaN, infinities), and no lone surrogate in
any string or key (SQLite stores UTF-8, which cannot encode one). Anything else is a Descope-shaped
400, so a handler never meets data that would make it fail with a 500. The size of a body is bounded
before it is read, by the server's middleware (413).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, NoReturn

from starlette.requests import Request

from anonconsole.sandbox.errors import bad_request, invalid_argument, missing_argument, validation_failed

# Chosen here (Descope documents none): deep enough for every body the SDKs send (4 levels at most)
# and for custom attributes, shallow enough that no parser or encoder recursion is ever near a limit.
MAX_DEPTH = 32
# int64 has 19 digits; a longer literal is out of every range the API has, so it is not even converted.
MAX_INTEGER_DIGITS = 20
_SURROGATE = re.compile("[\ud800-\udfff]")
_DECIMAL = re.compile("-?[0-9]+")  # ASCII digits only: int() would also take "²" and "١٢"


def integer_range(bits: int) -> tuple[int, int]:
    """The smallest and largest signed integer of this many bits (protobuf's int32 / int64)."""
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


class _Refused(ValueError):
    """A value the JSON parser met that the sandbox does not accept (raised from its hooks)."""


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _Refused(f"an integer of {len(text.lstrip('-'))} digits is out of range")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Refused(f"the number {text[:30]} is out of range")
    return value


def _parse_constant(name: str) -> NoReturn:
    raise _Refused(f"{name} is not a JSON number")


def _refuse_surrogates(text: str) -> None:
    if _SURROGATE.search(text):
        raise bad_request("Malformed JSON body: a string holds a lone surrogate (\\ud800-\\udfff)")


def check_plain(data: Any) -> None:
    """Refuse nesting deeper than MAX_DEPTH and lone surrogates anywhere (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _refuse_surrogates(value)
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise bad_request(f"Malformed JSON body: nested deeper than {MAX_DEPTH} levels")
            if isinstance(value, dict):
                for key, item in value.items():
                    _refuse_surrogates(key)
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)


def parse_json(raw: bytes) -> Any:
    """The JSON value of a body, checked by `check_plain`, or a Descope-shaped 400."""
    try:
        data = json.loads(raw, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant)
    except json.JSONDecodeError as exc:
        raise bad_request(f"Malformed JSON body: {exc.msg}") from None
    except UnicodeDecodeError:
        raise bad_request("Malformed JSON body: not UTF-8") from None
    except _Refused as exc:
        raise bad_request(f"Malformed JSON body: {exc}") from None
    except RecursionError:
        raise bad_request(f"Malformed JSON body: nested deeper than {MAX_DEPTH} levels") from None
    check_plain(data)
    return data


async def read_json(request: Request, *, array: bool = False) -> Any:
    """Parse a request body as a JSON object (or array), or raise a Descope-shaped 400."""
    raw = await request.body()
    if not raw.strip():
        if array:
            raise bad_request("Request body must be a JSON array")
        return {}
    data = parse_json(raw)
    expected = list if array else dict
    if not isinstance(data, expected):
        raise bad_request(f"Request body must be a JSON {'array' if array else 'object'}")
    return data


def checked_integer(name: str, value: Any, *, bits: int = 64, minimum: int | None = None) -> int:
    """`value` as an integer of `bits` bits (at least `minimum`), or a Descope-shaped 400 naming `name`.

    int64 may arrive as a decimal string (protobuf JSON), accepted too; booleans and floats are not.
    """
    number: int
    if isinstance(value, str):
        text = value.strip()
        if not _DECIMAL.fullmatch(text) or len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
            raise validation_failed(f"{name} must be an integer")
        number = int(text)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise validation_failed(f"{name} must be an integer")
    low, high = integer_range(bits)
    if not low <= number <= high:
        raise invalid_argument(f"{name} is out of range (a {bits}-bit integer: {low}..{high})")
    if minimum is not None and number < minimum:
        raise invalid_argument(f"{name} must be at least {minimum}")
    return number


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

    def raw(self, name: str) -> Any:
        """A field of any JSON type, unchecked (the caller checks it), marked read."""
        self._seen.add(name)
        return self._data.get(name)

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

    def integer(
        self,
        name: str,
        *,
        required: bool = False,
        default: int | None = None,
        bits: int = 64,
        minimum: int | None = None,
    ) -> int | None:
        """An integer of `bits` bits (protobuf's int32 or int64), at least `minimum` when given."""
        value = self.raw(name)
        if value is None:
            if required:
                raise missing_argument(name)
            return default
        return checked_integer(name, value, bits=bits, minimum=minimum)

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
