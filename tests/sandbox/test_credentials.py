"""Credentials: failed authentication never spends the project's budget; tokens must name our key."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from anonconsole.core.rate_limits import DESCOPE_LIMITS
from sandbox.answers import descope_error

if TYPE_CHECKING:
    from conftest import RunningSandbox

CREATE = "/v1/mgmt/user/create"


def test_failed_authentication_does_not_lock_the_admin_out(
    start_sandbox: Callable[..., RunningSandbox],
) -> None:
    """Anyone who knows the project ID could otherwise spend its user-create budget with a wrong key."""
    limited = start_sandbox(rate_limits="descope")
    bucket = next(b for b in DESCOPE_LIMITS if b.name == "user-create")
    wrong = {"Authorization": f"Bearer {limited.project_id}:not-the-key"}
    with httpx.Client(base_url=limited.url) as client:
        for n in range(bucket.limit + 10):
            response = client.post(CREATE, json={"loginId": f"intruder{n}@example.com"}, headers=wrong)
            assert response.status_code in (401, 429), response.text
        answer = client.post(CREATE, json={"loginId": "admin@example.com"}, headers=limited.mgmt_headers())
    assert answer.status_code == 200, answer.text


def test_failed_authentication_is_itself_limited_per_client(
    start_sandbox: Callable[..., RunningSandbox],
) -> None:
    """Guessing keys is limited too, in the guesser's own bucket (per client IP)."""
    limited = start_sandbox(rate_limits="descope")
    bucket = next(b for b in DESCOPE_LIMITS if b.name == "user-create")
    wrong = {"Authorization": f"Bearer {limited.project_id}:not-the-key"}
    with httpx.Client(base_url=limited.url) as client:
        statuses = [
            client.post(CREATE, json={"loginId": "g@example.com"}, headers=wrong).status_code
            for _ in range(2 * bucket.limit + 1)
        ]
    assert statuses[0] == 401
    assert statuses[-1] == 429


# -- tokens -------------------------------------------------------------------------------------------------


def _signing_key(sandbox: RunningSandbox) -> Any:
    """The sandbox's private key, from its database (a test reads what an attacker could not)."""
    with contextlib.closing(sqlite3.connect(sandbox.db)) as conn:
        pem = conn.execute("SELECT value FROM meta WHERE key = 'signing_key_pem'").fetchone()[0]
    return serialization.load_pem_private_key(pem.encode("ascii"), password=None)


def _refresh_token(sandbox: RunningSandbox) -> str:
    response = httpx.post(f"{sandbox.url}/v1/mgmt/auth/anonymous", json={}, headers=sandbox.mgmt_headers())
    assert response.status_code == 200, response.text
    return str(response.json()["refreshJwt"])


def _refresh(sandbox: RunningSandbox, token: str) -> httpx.Response:
    return httpx.post(
        f"{sandbox.url}/v1/auth/refresh",
        json={},
        headers={"Authorization": f"Bearer {sandbox.project_id}:{token}"},
    )


@pytest.mark.parametrize("kid", ["someone-elses-key", "", None])
def test_a_token_with_an_unknown_kid_is_refused(sandbox: RunningSandbox, kid: str | None) -> None:
    genuine = _refresh_token(sandbox)
    assert _refresh(sandbox, genuine).status_code == 200
    claims = jwt.decode(genuine, options={"verify_signature": False})
    headers = {} if kid is None else {"kid": kid}
    forged = jwt.encode(claims, _signing_key(sandbox), algorithm="RS256", headers=headers)
    if kid is None:
        assert "kid" not in jwt.get_unverified_header(forged)
    descope_error(_refresh(sandbox, forged), 401)


@pytest.mark.parametrize("duration", [-1, -3600, 2**31, 10**12, 10**30])
def test_a_refresh_duration_out_of_range_is_a_400(sandbox: RunningSandbox, duration: int) -> None:
    for path, body in (
        ("/v1/mgmt/auth/anonymous", {}),
        ("/v1/mgmt/auth/signup", {"loginId": f"d{abs(duration) % 997}x{time.time_ns()}@example.com"}),
    ):
        response = httpx.post(
            f"{sandbox.url}{path}", json={**body, "refreshDuration": duration}, headers=sandbox.mgmt_headers()
        )
        descope_error(response, 400)


def test_the_longest_refresh_duration_is_honoured(sandbox: RunningSandbox) -> None:
    """int32 seconds (Descope's documented format) is the bound."""
    longest = 2**31 - 1
    response = httpx.post(
        f"{sandbox.url}/v1/mgmt/auth/anonymous",
        json={"refreshDuration": longest},
        headers=sandbox.mgmt_headers(),
    )
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["refreshJwt"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == longest
