"""Fixtures of the conformance suite: each test runs with both of the SDK's clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
from descope import DescopeClientAsync

from sandbox.conformance.sdk import Sdk

if TYPE_CHECKING:
    from conftest import RunningSandbox


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture
async def sdk_for(mode: str) -> AsyncIterator[Callable[[RunningSandbox], Sdk]]:
    """Makes this test's client (sync or async) for any sandbox; async clients are closed after."""
    made: list[DescopeClientAsync] = []

    def make(sandbox: RunningSandbox) -> Sdk:
        if mode == "sync":
            return Sdk(mode, sandbox.client(), sandbox)
        client = sandbox.async_client()
        made.append(client)
        return Sdk(mode, client, sandbox)

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
def either(sdk_for: Callable[[RunningSandbox], Sdk], sandbox: RunningSandbox) -> Sdk:
    """The SDK on the session's shared sandbox, once as `DescopeClient`, once as `DescopeClientAsync`."""
    return sdk_for(sandbox)
