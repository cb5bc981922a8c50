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

from anonconsole.settings import key_store


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
    assert key_store.get_key("Production") is None
    key_store.set_key("Production", "K2-first")
    key_store.set_key("Production", "K2-second")
    key_store.set_key("Staging", "K2-other")
    assert key_store.get_key("Production") == "K2-second"
    assert memory.entries[("anonconsole", "Production")] == "K2-second"
    key_store.delete_key("Production")
    assert key_store.get_key("Production") is None
    assert key_store.get_key("Staging") == "K2-other"


def test_deleting_a_key_that_is_not_there_is_fine(memory: MemoryKeyring) -> None:
    key_store.delete_key("never stored")
    assert memory.entries == {}


def test_the_built_in_profile_key_is_generated_once_then_kept(memory: MemoryKeyring) -> None:
    first = key_store.get_or_create_key("Sandbox (demo)")
    assert len(first) >= 40  # token_urlsafe(32): 43 characters, 256 bits
    assert key_store.get_or_create_key("Sandbox (demo)") == first
    assert memory.entries == {("anonconsole", "Sandbox (demo)"): first}
    assert key_store.new_key() != first


@pytest.mark.parametrize(
    "backend",
    [keyring.backends.fail.Keyring(), keyring.backends.null.Keyring()],
    ids=["fail", "null"],
)
@pytest.mark.parametrize(
    "call",
    [
        lambda: key_store.get_key("p"),
        lambda: key_store.set_key("p", "K2-secret"),
        lambda: key_store.delete_key("p"),
        lambda: key_store.get_or_create_key("p"),
    ],
    ids=["get", "set", "delete", "get_or_create"],
)
def test_no_keyring_says_what_to_install(backend: keyring.backend.KeyringBackend, call) -> None:
    for _ in use_keyring(backend):
        with pytest.raises(key_store.KeyringUnavailable) as info:
            call()
        message = info.value.user_message
        assert "No system keyring" in message
        assert "gnome-keyring" in message
        assert "Secret Service" in message
        assert str(info.value) == message


def test_a_locked_keyring_says_to_unlock_it() -> None:
    for _ in use_keyring(BrokenKeyring(keyring.errors.KeyringLocked("Failed to unlock the collection!"))):
        with pytest.raises(key_store.KeyringUnavailable, match="locked. Unlock it") as info:
            key_store.get_key("p")
        assert isinstance(info.value.__cause__, keyring.errors.KeyringLocked)


def test_a_failing_backend_is_explained_without_leaking_the_key() -> None:
    key = "K2-very-secret-management-key"
    for _ in use_keyring(BrokenKeyring(RuntimeError(f"D-Bus said no to {key}"))):
        with pytest.raises(key_store.KeyringUnavailable) as info:
            key_store.set_key("p", key)
    assert key not in info.value.user_message
    assert "RuntimeError" in info.value.user_message
    assert "Secret Service" in info.value.user_message


@pytest.mark.secretservice
def test_round_trip_through_a_real_secret_service() -> None:
    """Under `./dev test` (a private D-Bus with gnome-keyring) the OS keyring itself is used."""
    if "SecretService" not in key_store.backend_name():
        pytest.skip(f"no Secret Service here (backend: {key_store.backend_name()})")
    profile = "anonconsole-test-profile"
    try:
        key_store.set_key(profile, "K2-from-the-test")
        assert key_store.get_key(profile) == "K2-from-the-test"
    finally:
        key_store.delete_key(profile)
    assert key_store.get_key(profile) is None
