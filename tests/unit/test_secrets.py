"""The keyring wrapper: round trips, the built-in profile's key, and plain words when there is no keyring."""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import keyring.backend
import keyring.backends.fail
import keyring.backends.null
import keyring.errors
import pytest
from memory_keyring import MemoryKeyring

from anonconsole import secrets


class BrokenKeyring(MemoryKeyring):
    """A keyring whose every call fails with `error` (a locked or unreachable Secret Service)."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def get_password(self, service: str, username: str) -> str | None:
        raise self.error

    def set_password(self, service: str, username: str, password: str) -> None:
        raise self.error

    def delete_password(self, service: str, username: str) -> None:
        raise self.error


def use_keyring(backend: keyring.backend.KeyringBackend) -> Iterator[keyring.backend.KeyringBackend]:
    """Install `backend` for one test, then put back whatever was there."""
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def memory() -> Iterator[MemoryKeyring]:
    yield from use_keyring(MemoryKeyring())  # type: ignore[misc]


def test_set_get_delete_round_trip_under_the_anonconsole_service(memory: MemoryKeyring) -> None:
    assert secrets.get_key("Production") is None
    secrets.set_key("Production", "K2-first")
    secrets.set_key("Production", "K2-second")
    secrets.set_key("Staging", "K2-other")
    assert secrets.get_key("Production") == "K2-second"
    assert memory.entries[("anonconsole", "Production")] == "K2-second"
    secrets.delete_key("Production")
    assert secrets.get_key("Production") is None
    assert secrets.get_key("Staging") == "K2-other"


def test_deleting_a_key_that_is_not_there_is_fine(memory: MemoryKeyring) -> None:
    secrets.delete_key("never stored")
    assert memory.entries == {}


def test_the_built_in_profile_key_is_generated_once_then_kept(memory: MemoryKeyring) -> None:
    first = secrets.get_or_create_key("Sandbox (demo)")
    assert len(first) >= 40  # token_urlsafe(32): 43 characters, 256 bits
    assert secrets.get_or_create_key("Sandbox (demo)") == first
    assert memory.entries == {("anonconsole", "Sandbox (demo)"): first}
    assert secrets.new_key() != first


@pytest.mark.parametrize(
    "backend",
    [keyring.backends.fail.Keyring(), keyring.backends.null.Keyring()],
    ids=["fail", "null"],
)
@pytest.mark.parametrize(
    "call",
    [
        lambda: secrets.get_key("p"),
        lambda: secrets.set_key("p", "K2-secret"),
        lambda: secrets.delete_key("p"),
        lambda: secrets.get_or_create_key("p"),
    ],
    ids=["get", "set", "delete", "get_or_create"],
)
def test_no_keyring_says_what_to_install(backend: keyring.backend.KeyringBackend, call) -> None:  # noqa: ANN001
    for _ in use_keyring(backend):
        with pytest.raises(secrets.KeyringUnavailable) as info:
            call()
        message = info.value.user_message
        assert "No system keyring" in message
        assert "gnome-keyring" in message
        assert "Secret Service" in message
        assert str(info.value) == message


def test_a_locked_keyring_says_to_unlock_it() -> None:
    for _ in use_keyring(BrokenKeyring(keyring.errors.KeyringLocked("Failed to unlock the collection!"))):
        with pytest.raises(secrets.KeyringUnavailable, match="locked. Unlock it") as info:
            secrets.get_key("p")
        assert isinstance(info.value.__cause__, keyring.errors.KeyringLocked)


def test_a_failing_backend_is_explained_without_leaking_the_key() -> None:
    key = "K2-very-secret-management-key"
    for _ in use_keyring(BrokenKeyring(RuntimeError(f"D-Bus said no to {key}"))):
        with pytest.raises(secrets.KeyringUnavailable) as info:
            secrets.set_key("p", key)
    assert key not in info.value.user_message
    assert "RuntimeError" in info.value.user_message
    assert "Secret Service" in info.value.user_message


@pytest.mark.secretservice
def test_round_trip_through_a_real_secret_service() -> None:
    """Under `./dev test` (a private D-Bus with gnome-keyring) the OS keyring itself is used."""
    if "SecretService" not in secrets.backend_name():
        pytest.skip(f"no Secret Service here (backend: {secrets.backend_name()})")
    profile = "anonconsole-test-profile"
    try:
        secrets.set_key(profile, "K2-from-the-test")
        assert secrets.get_key(profile) == "K2-from-the-test"
    finally:
        secrets.delete_key(profile)
    assert secrets.get_key(profile) is None


# -- what the user sees never holds a registered secret ------------------------------------------------


def test_scrub_replaces_every_registered_secret_longest_first() -> None:
    from anonconsole import messages

    long, inner = "K2-outer-secret-value-123", "secret-value"
    messages.register_secret(inner)
    messages.register_secret(long)
    messages.register_secret("abc")  # too short to scrub without garbling ordinary words
    try:
        text = messages.scrub(f"Bearer P2x:{long} then {inner} and abc")
    finally:
        messages.forget_secret(long)
        messages.forget_secret(inner)
    assert text == f"Bearer P2x:{messages.REDACTED} then {messages.REDACTED} and abc"


def test_log_lines_and_tracebacks_are_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from anonconsole import messages

    key = "K2-logged-secret-" + "x" * 20
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
