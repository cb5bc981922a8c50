"""Anonymous sessions without a user (`mgmt.jwt.anonymous`) through both clients: exactly the claims
Descope documents for them, validated, refreshed and ended by the SDK."""

from __future__ import annotations

import pytest
from descope import AuthException

from sandbox.conformance.sdk import Sdk, refusal, unique

pytestmark = pytest.mark.asyncio

# descope-api.md §6: {"danu","displayName","drn","exp","iat","iss","rexp","sub"}; the sandbox adds
# `jti` (what a logout revokes) and `dct` for a selected tenant.
SESSION_CLAIMS = {"danu", "drn", "exp", "iat", "iss", "rexp", "sub", "jti"}


async def test_claims_are_the_documented_ones(either: Sdk) -> None:
    tenant = (await either(either.client.mgmt.tenant.create(unique("anon-session"))))["id"]
    answer = await either(
        either.client.mgmt.jwt.anonymous(
            {"displayName": "Guest", "sub": "spoofed", "danu": False}, tenant, 3600
        )
    )
    assert not {"user", "firstSeen"} & set(answer)
    session, refresh = answer["sessionToken"], answer["refreshSessionToken"]
    claims = {k for k in session if k != "jwt"}
    assert claims == SESSION_CLAIMS | {"displayName", "dct"}
    assert (session["danu"], session["displayName"], session["dct"]) == (True, "Guest", tenant)
    assert session["sub"] != "spoofed"
    assert session["sub"] == refresh["sub"] == answer["userId"]
    assert (session["iss"], answer["projectId"]) == (either.sandbox.project_id, either.sandbox.project_id)
    assert (session["drn"], refresh["drn"]) == ("DS", "DSR")
    assert refresh["exp"] - refresh["iat"] == 3600
    assert not {"amr", "roles", "permissions", "tenants"} & set(refresh)
    validated = await either(either.client.validate_session(session["jwt"]))
    assert validated["sessionToken"]["danu"] is True
    refreshed = await either(either.client.refresh_session(refresh["jwt"]))
    assert {k for k in refreshed["sessionToken"] if k != "jwt"} == claims
    assert refreshed["sessionToken"]["sub"] == session["sub"]
    await either(either.client.logout(refresh["jwt"]))
    with pytest.raises(AuthException) as ended:
        await either(either.client.refresh_session(refresh["jwt"]))
    assert refusal(ended) == (401, "E064001")


async def test_without_options_and_with_an_unknown_tenant(either: Sdk) -> None:
    plain = await either(either.client.mgmt.jwt.anonymous())
    assert {k for k in plain["sessionToken"] if k != "jwt"} == SESSION_CLAIMS
    refresh = plain["refreshSessionToken"]
    assert refresh["exp"] - refresh["iat"] == 4 * 7 * 24 * 3600
    with pytest.raises(AuthException) as unknown:
        await either(either.client.mgmt.jwt.anonymous(tenant_id="T2NoSuchTenant0000000000000"))
    assert refusal(unknown) == (404, "E011006")
