"""A profile's connection for the headless commands (doctor today; cull and export next).

The key comes from the OS keyring, or from `DESCOPE_MANAGEMENT_KEY` on a machine without one (and
the caller is told); the built-in sandbox is reused or started, and stopped again if started here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from anonconsole.core.connection import Connection
from anonconsole.gateway import Gateway
from anonconsole.launcher.bootstrap import SandboxBootstrap, demo_sandbox_options
from anonconsole.settings import key_store, paths
from anonconsole.settings.profiles import ConfigError, Profile, ProfileStore, resolve_key


class ProfileUnusable(Exception):
    """The profile cannot be used at all (unknown name, no key, no keyring): a sentence saying why."""


@asynccontextmanager
async def open_profile(name: str, say: Callable[[str], None]) -> AsyncIterator[tuple[Profile, Gateway]]:
    """The profile named `name` and an open gateway to its project; `say` hears what happens."""
    try:
        store = await asyncio.to_thread(ProfileStore.load)
        if name not in store:
            known = ", ".join(f"“{n}”" for n in store.names())
            raise ProfileUnusable(f"no profile is named “{name}”. Profiles: {known}.")
        profile = store.get(name)
        resolved = await asyncio.to_thread(lambda: resolve_key(profile, allow_env=True))
    except (ConfigError, key_store.KeyringUnavailable) as exc:
        raise ProfileUnusable(exc.user_message) from exc
    if resolved.notice:
        say(resolved.notice)
    bootstrap: SandboxBootstrap | None = None
    base_url = profile.base_url
    if profile.is_sandbox:
        bootstrap = SandboxBootstrap(demo_sandbox_options(), paths.sandbox_state_file())
        base_url = await bootstrap.aurl(resolved.key, on_start=lambda: say("Starting the sandbox…"))
    project_id = bootstrap.options.project_id if bootstrap else profile.project_id
    try:
        async with Gateway(Connection(project_id, base_url, resolved.key)) as gateway:
            yield profile, gateway
    finally:
        if bootstrap is not None:
            await bootstrap.astop()
