"""The one scrubber: secrets out of any text before it is shown, logged or written.

A secret goes whole, inside a bearer header, or as any fragment of 6+ characters (a key cut by a
line wrap or a truncated log line still must not leak). Pure, so every layer uses the same rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[redacted]"
_BEARER = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)
# Fragments shorter than this are too likely to be ordinary words to be redacted on their own.
_MIN_FRAGMENT = 6


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
    """`text` without any secret: whole, inside a bearer, or as a fragment of 6+ characters.

    Every secret's places are found in the same text and redacted at once, so the result does not
    depend on the order of the secrets (one redaction cannot hide another secret's remnant).
    """
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    spans: list[tuple[int, int]] = []
    for secret in (s for s in secrets if s):
        at = text.find(secret)
        while at != -1:
            spans.append((at, at + len(secret)))
            at = text.find(secret, at + 1)
        spans.extend(_fragment_spans(text, secret))
    return _redact_spans(text, spans)
