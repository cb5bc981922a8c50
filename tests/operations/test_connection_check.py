"""A connection check in plain words: each failure kind has its own sentence, a success is one."""

from __future__ import annotations

from typing import Any

import pytest

from anonconsole.gateway import (
    AuthenticationFailed,
    ConnectionCheck,
    PermissionDenied,
    UnknownProject,
    Unreachable,
)
from anonconsole.operations.connection_check import describe_check, explain_failure


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (AuthenticationFailed("h refused the management key"), "The management key was refused."),
        (UnknownProject("h does not know this project ID"), "The project ID P2x was not recognised"),
        (PermissionDenied("The management key is valid but not allowed"), "lacks the permissions"),
        (Unreachable("Cannot reach h; check the base URL"), "Cannot reach h; check the base URL"),
    ],
)
def test_each_failure_kind_has_its_own_sentence(error: Any, expected: str) -> None:
    assert expected in explain_failure(error, "P2x")


def test_a_successful_check_is_one_sentence() -> None:
    sentence = describe_check(ConnectionCheck("api.descope.com", "P2x", "tier2", 12345))
    assert sentence == "Connected to api.descope.com: project P2x, 12,345 users, rate-limit tier tier2."
