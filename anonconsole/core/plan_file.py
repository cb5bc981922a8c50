"""What every approved plan shares as a file: a content hash, and typed reading that names what is wrong.

A plan (a cull's, or an action on chosen users) is saved as JSON, approved, journaled and read back.
Reading it must refuse anything that is not exactly what the console wrote, with a sentence that
names the field, so a person can tell an edited file from a damaged one.

Pure Python: no Qt, no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

R = TypeVar("R")


class PlanError(ValueError):
    """A plan that cannot be used (missing or mistyped field, unknown version, edited); the
    message is a plain sentence."""


def canonical(content: Mapping[str, Any]) -> bytes:
    """One byte string per content: sorted keys, no blanks, UTF-8 (so a hash is reproducible)."""
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


def content_hash(content: Mapping[str, Any]) -> str:
    """ "sha256:" + the hex digest of `canonical(content)`: a plan's identity."""
    return "sha256:" + hashlib.sha256(canonical(content)).hexdigest()


class JsonReader:
    """Typed fields of one JSON object; PlanError names the field that is missing or mistyped."""

    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        self.data = data
        self.where = where

    def _get(self, key: str) -> Any:
        if key not in self.data:
            raise PlanError(f'{_capital(self.where)} has no "{key}" field: it is not a complete plan.')
        return self.data[key]

    def _wrong(self, key: str, expected: str) -> PlanError:
        found = type(self.data[key]).__name__
        return PlanError(f'In {self.where}, "{key}" should be {expected}, not {found}.')

    def integer(self, key: str) -> int:
        value = self._get(key)
        if type(value) is not int:  # bool is an int to Python, not to a plan
            raise self._wrong(key, "a whole number")
        return value

    def optional_int(self, key: str) -> int | None:
        value = self._get(key)
        return None if value is None else self.integer(key)

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise self._wrong(key, "text")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        return tuple(text_item(v, f"{key}[{i}]") for i, v in enumerate(self.items(key)))

    def items(self, key: str) -> list[Any]:
        value = self._get(key)
        if not isinstance(value, list):
            raise self._wrong(key, "a list")
        return value

    def obj(self, key: str) -> JsonReader:
        value = self._get(key)
        if not isinstance(value, Mapping):
            raise self._wrong(key, "an object")
        return JsonReader(value, f"{self.where}'s {key}")


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def text_item(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise PlanError(f"In the plan, {where} should be text, not {type(value).__name__}.")
    return value


def object_item(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PlanError(f"In the plan, {where} should be an object, not {type(value).__name__}.")
    return value


def json_record(cls: Callable[..., R], value: Any, where: str, fields: Sequence[tuple[str, str, str]]) -> R:
    """A record from its JSON object, each (attribute, JSON key, `JsonReader` method) read and checked."""
    read = JsonReader(object_item(value, where), where)
    return cls(**{name: getattr(read, kind)(key) for name, key, kind in fields})
