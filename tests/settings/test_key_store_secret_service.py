"""Management keys in a real Secret Service (gnome-keyring on a private D-Bus session).

Run under `scripts/with-secret-service` (which `./dev test` does): it sets ANONCONSOLE_SECRET_SERVICE=1
and starts an unlocked gnome-keyring on a throw-away session bus. Then these tests must run and pass;
without it they are skipped, because the machine's own keyring must never be written by tests.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest

from anonconsole.gateway import Connection, ConnectionCheck, Gateway
from anonconsole.settings import key_store, paths, profiles
from anonconsole.settings.profiles import Profile, ProfileStore

pytestmark = [
    pytest.mark.secretservice,
    pytest.mark.skipif(
        not os.environ.get("ANONCONSOLE_SECRET_SERVICE"),
        reason="needs a real Secret Service: run under scripts/with-secret-service (./dev test does)",
    ),
]


@pytest.fixture(autouse=True)
def home(tmp_path: Path) -> Iterator[Path]:
    """The console's config, data, cache and log dirs under tmp, so they can be scanned whole."""
    paths.init(tmp_path / "home")
    yield tmp_path / "home"
    paths.init(None)


@pytest.fixture
def name() -> Iterator[str]:
    """A profile name no other run uses; its keyring entry is deleted afterwards whatever happens."""
    profile = f"it-{uuid.uuid4().hex[:12]}"
    yield profile
    key_store.delete_key(profile)
    key_store.delete_key(f"{profile} (copy)")
    key_store.delete_key(f"{profile} renamed")


def fresh_key() -> str:
    return "K2" + uuid.uuid4().hex + uuid.uuid4().hex


def console_dirs() -> list[Path]:
    return [paths.config_dir(), paths.data_dir(), paths.cache_dir(), paths.log_dir()]


def files_containing(secret: str, roots: list[Path]) -> list[Path]:
    """Files under `roots` holding the secret, or any 12-character piece of it."""
    pieces = {secret[i : i + 12].encode() for i in range(len(secret) - 11)}
    found = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                if any(piece in data for piece in pieces):
                    found.append(path)
    return found


def test_the_backend_is_the_real_secret_service() -> None:
    assert key_store.backend_name() == "keyring.backends.SecretService.Keyring"
    assert type(keyring.get_keyring()).__module__ == "keyring.backends.SecretService"


def test_set_get_replace_delete(name: str) -> None:
    first, second = fresh_key(), fresh_key()
    assert key_store.get_key(name) is None
    key_store.set_key(name, first)
    assert key_store.get_key(name) == first
    key_store.set_key(name, second)
    assert key_store.get_key(name) == second
    key_store.delete_key(name)
    assert key_store.get_key(name) is None
    key_store.delete_key(name)  # forgetting a key that is not there is not an error


def test_profiles_keep_their_keys_in_step_and_no_file_holds_one(name: str) -> None:
    key = fresh_key()
    store = ProfileStore.load()
    store.put(Profile(name, "P2abcdefghijklmnopqrstuvwxyz"), key=key)
    assert key_store.get_key(name) == key
    copy = store.duplicate(name)
    assert key_store.get_key(copy.name) == key
    store.put(Profile(f"{name} renamed", "P2abcdefghijklmnopqrstuvwxyz"), replacing=name)
    assert key_store.get_key(name) is None
    assert key_store.get_key(f"{name} renamed") == key
    assert files_containing(key, console_dirs()) == []
    store.remove(f"{name} renamed")
    store.remove(copy.name)
    assert key_store.get_key(f"{name} renamed") is None
    assert key_store.get_key(copy.name) is None
    assert ProfileStore.load().names() == [profiles.SANDBOX_PROFILE]


def test_the_keyring_itself_keeps_no_clear_copy_on_disk(name: str) -> None:
    key = fresh_key()
    key_store.set_key(name, key)
    keyrings = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "keyrings"
    assert any(path.is_file() for path in keyrings.iterdir()), "gnome-keyring keeps its keyrings here"
    assert files_containing(key, [keyrings]) == []


def test_saved_profile_reconnects_after_a_restart_with_the_key_from_the_keyring(
    name: str, sandbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    ProfileStore.load().put(Profile(name, sandbox.project_id, sandbox.url), key=sandbox.management_key)
    ProfileStore.load().set_last_profile(name)

    profile = ProfileStore.load().startup_profile()  # "after a restart"
    resolved = profiles.resolve_key(profile, allow_env=False)
    assert resolved.source == "keyring"

    async def check() -> ConnectionCheck:
        async with Gateway(Connection(profile.project_id, profile.base_url, resolved.key)) as gateway:
            return await gateway.check()

    assert asyncio.run(check()).project_id == sandbox.project_id
    assert files_containing(sandbox.management_key, console_dirs()) == []
    assert sandbox.management_key not in caplog.text


def test_the_sandbox_key_is_generated_once_and_kept() -> None:
    sandbox = ProfileStore.load().get(profiles.SANDBOX_PROFILE)
    existed = key_store.get_key(profiles.SANDBOX_PROFILE) is not None
    try:
        first = profiles.resolve_key(sandbox, allow_env=False).key
        assert profiles.resolve_key(sandbox, allow_env=False).key == first
        assert key_store.get_key(profiles.SANDBOX_PROFILE) == first
    finally:
        if not existed:
            key_store.delete_key(profiles.SANDBOX_PROFILE)
