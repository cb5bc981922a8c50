"""The one scrubber: a key goes whole, in a bearer or in part; ordinary text stays."""

from __future__ import annotations

import json

import pytest

from anonconsole.core.scrub import scrub

KEY = "K2xQ7mZp9LrT4vWy8NbC3dFg6HjS1aE5"
PROJECT = "P2AnonConsoleSandbox00000000"


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {PROJECT}:{KEY}",
        f"key={KEY}",
        f"{PROJECT}:{KEY}",
        f"truncated preview ...{KEY[:12]}",
        f"tail {KEY[-9:]} of it",
        f"inside json {json.dumps({'k': KEY})}",
    ],
)
def test_scrub_removes_key_whole_or_in_part(text: str) -> None:
    cleaned = scrub(text, [KEY])
    assert KEY not in cleaned
    assert KEY[:12] not in cleaned
    assert KEY[-9:] not in cleaned
    assert "[redacted]" in cleaned


def test_scrub_leaves_ordinary_text_alone() -> None:
    text = "Cannot reach 127.0.0.1:8788; user U2beIJHbmK04 not found in tenant Anonymous"
    assert scrub(text, [KEY]) == text
    assert scrub(text, ["", "ab"]) == text
