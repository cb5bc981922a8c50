"""Management keys in the OS keyring: get/set/delete per profile, and a plain sentence when there is none.

Every call here blocks (D-Bus, Keychain, Credential Locker); async callers run them with
`asyncio.to_thread` so the window never waits on the keyring.
"""

from __future__ import annotations

import secrets as _random
from collections.abc import Callable
from typing import TypeVar

import keyring
import keyring.backend
import keyring.backends.fail
import keyring.errors

SERVICE = "anonconsole"

# Backends that store nothing: keyring falls back to them when the OS offers no keyring.
_NO_STORE_BACKENDS = ("keyring.backends.fail", "keyring.backends.null")

_INSTALL_HINT = (
    "No system keyring is available to keep the management key. Install and start a Secret Service "
    "(for example the gnome-keyring package, or KeePassXC with its Secret Service integration) "
    "inside your desktop session, then start AnonConsole again."
)
_LOCKED_HINT = (
    "The system keyring is locked. Unlock it (for example by logging in again or in Seahorse), then retry."
)

T = TypeVar("T")


class KeyringUnavailable(Exception):
    """The OS keyring cannot be used; `user_message` says what to install or unlock.

    Attributes:
        user_message: one or two sentences for the status bar or a dialog; never holds a key.
    """

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


def backend_name() -> str:
    """The keyring backend in use, for the About box and diagnostics."""
    backend = keyring.get_keyring()
    return f"{type(backend).__module__}.{type(backend).__name__}"


def _backend() -> keyring.backend.KeyringBackend:
    """The active backend, refusing the ones that cannot store anything."""
    backend = keyring.get_keyring()
    if type(backend).__module__.startswith(_NO_STORE_BACKENDS):
        raise KeyringUnavailable(_INSTALL_HINT)
    return backend


def _call(operation: Callable[[keyring.backend.KeyringBackend], T]) -> T:
    """Run one backend operation, turning every backend failure into KeyringUnavailable."""
    backend = _backend()
    try:
        return operation(backend)
    except keyring.errors.KeyringLocked as exc:
        raise KeyringUnavailable(_LOCKED_HINT) from exc
    except keyring.errors.PasswordDeleteError:
        raise
    except Exception as exc:  # D-Bus, Keychain and locker errors all mean "cannot use the keyring"
        raise KeyringUnavailable(f"{_INSTALL_HINT} (The keyring said: {type(exc).__name__}.)") from exc


def get_key(profile: str) -> str | None:
    """The stored management key of `profile`, or None when none is stored."""
    return _call(lambda backend: backend.get_password(SERVICE, profile))


def set_key(profile: str, key: str) -> None:
    """Store (or replace) the management key of `profile`."""
    _call(lambda backend: backend.set_password(SERVICE, profile, key))


def delete_key(profile: str) -> None:
    """Forget the key of `profile`; forgetting a key that is not there is not an error."""
    try:
        _call(lambda backend: backend.delete_password(SERVICE, profile))
    except keyring.errors.PasswordDeleteError:
        return


def new_key() -> str:
    """A fresh random management key for a built-in sandbox (which accepts whatever it is started with)."""
    return _random.token_urlsafe(32)


def get_or_create_key(profile: str) -> str:
    """The key of a built-in profile (the sandbox), generated and stored on first use."""
    key = get_key(profile)
    if key is None:
        key = new_key()
        set_key(profile, key)
    return key
