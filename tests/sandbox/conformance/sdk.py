"""The real Descope SDK, sync or async, behind one call; and what the tests read of its refusals.

`Sdk` wraps a `DescopeClient` or a `DescopeClientAsync`: a test writes `await sdk(sdk.client.otp...)`
once and runs against both (the async client's calls are coroutines, the sync client's are values).
The sandbox's database is written directly only to move time (codes, links and passwords expire;
the sandbox has no clock a test could move).
"""

from __future__ import annotations

import inspect
import json
import secrets
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from descope import AuthException, DescopeClient, DescopeClientAsync

if TYPE_CHECKING:
    from conftest import RunningSandbox


@dataclass
class Sdk:
    """One client of the SDK (`mode` "sync" or "async") on one sandbox.

    Attributes:
        mode: which client.
        client: the SDK's client, with the sandbox's management key.
        sandbox: the sandbox it talks to.
    """

    mode: str
    client: DescopeClient | DescopeClientAsync
    sandbox: RunningSandbox

    async def __call__(self, result: Any) -> Any:
        """The answer of an SDK call: awaited for the async client, as is for the sync one."""
        return await result if inspect.isawaitable(result) else result


def refusal(caught: pytest.ExceptionInfo[AuthException]) -> tuple[int, str]:
    """(HTTP status, Descope error code) of a refusal the SDK raised."""
    body = json.loads(caught.value.error_message)
    return caught.value.status_code, body["errorCode"]


def refusal_message(caught: pytest.ExceptionInfo[AuthException]) -> str:
    return str(json.loads(caught.value.error_message).get("errorMessage", ""))


def unique(prefix: str = "u", domain: str = "example.com") -> str:
    """A login ID no other test uses (tests share one sandbox)."""
    return f"{prefix}-{secrets.token_hex(5)}@{domain}"


def unique_phone() -> str:
    """An E.164 number no other test uses (US 555 numbers of the fictional range)."""
    return "+1555" + str(secrets.randbelow(10**7)).zfill(7)


def write_db(sandbox: RunningSandbox, sql: str, params: tuple[Any, ...]) -> int:
    """Run one write on the sandbox's database (to move time); the number of rows it changed."""
    with closing(sqlite3.connect(sandbox.db, timeout=30)) as db, db:
        return db.execute(sql, params).rowcount
