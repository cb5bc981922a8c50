"""What the user sees never holds a registered secret: scrubbed texts, log lines and tracebacks."""

from __future__ import annotations

import logging
import secrets as stdlib_secrets

import pytest

from anonconsole.runtime import messages


def test_scrub_replaces_every_registered_secret_longest_first() -> None:
    long, inner = "K2-outer-secret-value-123", "secret-value"
    messages.register_secret(inner)
    messages.register_secret(long)
    messages.register_secret("abc")  # too short to scrub without garbling ordinary words
    try:
        text = messages.scrub(f"Bearer P2x:{long} then {inner} and abc")
    finally:
        messages.forget_secret(long)
        messages.forget_secret(inner)
    # A bearer goes whole, with whatever stands in front of the key.
    assert text == f"Bearer {messages.REDACTED} then {messages.REDACTED} and abc"


def test_log_lines_and_tracebacks_are_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    key = "K2" + stdlib_secrets.token_urlsafe(24)  # random, like a real key: no words to collide with
    messages.register_secret(key)
    formatter = messages.ScrubFormatter("%(message)s")
    try:
        try:
            raise RuntimeError(f"request with {key} failed")
        except RuntimeError:
            logging.getLogger("test").exception("call with %s", key)
        record = caplog.records[-1]
        line = formatter.format(record)
    finally:
        messages.forget_secret(key)
    assert key not in line
    assert line.count(messages.REDACTED) == 2
    assert "RuntimeError" in line
