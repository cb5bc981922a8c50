"""Bad input gets a Descope-shaped 4xx and leaves the store as it was: never a 500, never a redirect."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from sandbox.answers import StoreWatch, descope_error

if TYPE_CHECKING:
    from conftest import RunningSandbox

SEARCH = "/v2/mgmt/user/search"
CREATE = "/v1/mgmt/user/create"
DEEP = 100_000


@pytest.fixture
def watch(sandbox: RunningSandbox) -> Iterator[StoreWatch]:
    with StoreWatch(sandbox.db) as store:
        yield store


def _post(sandbox: RunningSandbox, path: str, raw: str | bytes, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{sandbox.url}{path}",
        content=raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw,
        headers={**sandbox.mgmt_headers(), "Content-Type": "application/json", **headers},
        timeout=60,
    )


def _refused(response: httpx.Response, watch: StoreWatch, status: int = 400) -> dict[str, str]:
    body = descope_error(response, status)
    assert not watch.changed(), "a refused request changed the store"
    return body


# Raw JSON bodies, as a client could send them (a lone surrogate is only expressible escaped).
BAD_BODIES: dict[str, tuple[str, str]] = {
    "deep nesting": (CREATE, '{"loginId": ' + "[" * DEEP + "]" * DEEP + "}"),
    "deep nesting in an attribute": (
        CREATE,
        '{"loginId": "deep@example.com", "customAttributes": {"a": ' + "[" * 200 + "]" * 200 + "}}",
    ),
    "an integer of 5,000 digits": (SEARCH, '{"limit": ' + "9" * 5000 + "}"),
    "an integer of 1,000 digits": (SEARCH, '{"page": ' + "9" * 1000 + "}"),
    "a lone surrogate in a login ID": (CREATE, '{"loginId": "a\\ud800b@example.com"}'),
    "a lone surrogate in a search text": (SEARCH, '{"text": "\\udfff"}'),
    "a lone surrogate in a list of login IDs": (SEARCH, '{"loginIds": ["ok@example.com", "\\ud800"]}'),
    "a lone surrogate as a key": (CREATE, '{"loginId": "k@example.com", "customAttributes": {"\\ud800": 1}}'),
    "a superscript digit as page": (SEARCH, '{"page": "\\u00b2"}'),
    "a doubled minus as page": (SEARCH, '{"page": "--1"}'),
    "words as page": (SEARCH, '{"page": "two"}'),
    "fromCreatedTime 1e30": (SEARCH, '{"fromCreatedTime": 1000000000000000000000000000000}'),
    "toModifiedTime -1e30": (SEARCH, '{"toModifiedTime": -1000000000000000000000000000000}'),
    "a 20-digit string": (SEARCH, '{"fromModifiedTime": "12345678901234567890"}'),
    "a float as a time": (SEARCH, '{"toCreatedTime": 1e30}'),
    "NaN": (CREATE, '{"loginId": "nan@example.com", "customAttributes": {"n": NaN}}'),
    "Infinity": (CREATE, '{"loginId": "inf@example.com", "customAttributes": {"n": Infinity}}'),
    "a float overflowing to infinity": (
        CREATE,
        '{"loginId": "big@example.com", "customAttributes": {"n": 1e999}}',
    ),
    "audit from 1e30": ("/v1/mgmt/audit/search", '{"from": 1000000000000000000000000000000}'),
    "a page whose offset overflows": (SEARCH, '{"page": 9223372036854775807, "limit": 1000}'),
}


@pytest.mark.parametrize(("path", "raw"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_malformed_body_is_a_400(sandbox: RunningSandbox, watch: StoreWatch, path: str, raw: str) -> None:
    _refused(_post(sandbox, path, raw), watch)


def test_a_page_beyond_the_last_match_is_empty_not_an_error(sandbox: RunningSandbox) -> None:
    body = json.dumps({"page": 2**31 - 1, "limit": 1000})
    response = _post(sandbox, SEARCH, body)
    assert response.status_code == 200, response.text
    assert response.json()["users"] == []


@pytest.mark.parametrize("limit", ["9" * 25, "-1", "ten", "\u00b2"])
def test_an_outbox_limit_out_of_range_is_a_400(
    sandbox: RunningSandbox, watch: StoreWatch, limit: str
) -> None:
    response = httpx.get(
        f"{sandbox.url}/_sandbox/outbox", params={"limit": limit}, headers=sandbox.mgmt_headers()
    )
    _refused(response, watch)


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer P2Ãnon:key"},
        {"Authorization": "Bearer {project}:{key}", "X-Descope-Project-Id": "P2Änon"},
        {"Authorization": "Bearer {project}:kéy"},
    ],
    ids=["bearer", "project header", "key"],
)
def test_a_non_ascii_credential_is_a_401(
    sandbox: RunningSandbox, watch: StoreWatch, headers: dict[str, str]
) -> None:
    filled = {
        name: value.format(project=sandbox.project_id, key=sandbox.management_key).encode("latin-1")
        for name, value in headers.items()
    }
    response = httpx.post(f"{sandbox.url}{SEARCH}", json={}, headers=filled)
    _refused(response, watch, 401)


def test_a_body_over_the_size_limit_is_a_413(sandbox: RunningSandbox, watch: StoreWatch) -> None:
    raw = json.dumps({"loginId": "x" * (10 * 1024 * 1024)})
    body = _refused(_post(sandbox, CREATE, raw), watch, 413)
    assert "MiB" in body["errorMessage"]


def test_a_chunked_body_over_the_size_limit_is_a_413(sandbox: RunningSandbox, watch: StoreWatch) -> None:
    """No Content-Length to judge by: the limit applies as the body arrives."""

    def chunks() -> Iterator[bytes]:
        yield b'{"loginId": "'
        for _ in range(20):
            yield b"x" * (1024 * 1024)
        yield b'"}'

    response = httpx.post(
        f"{sandbox.url}{CREATE}",
        content=chunks(),
        headers={**sandbox.mgmt_headers(), "Content-Type": "application/json"},
        timeout=60,
    )
    _refused(response, watch, 413)


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v2/mgmt/user/search/"), ("GET", "/_sandbox/health/"), ("GET", "/v1/mgmt/tenant/all/")],
)
def test_a_trailing_slash_is_an_unknown_path(sandbox: RunningSandbox, method: str, path: str) -> None:
    """Descope's API routes exact paths; a redirect (which the SDK would not follow for a POST) is wrong."""
    response = httpx.request(method, f"{sandbox.url}{path}", json={}, headers=sandbox.mgmt_headers())
    body = descope_error(response, 404)
    assert path in body["errorMessage"]
    assert "location" not in response.headers


def test_a_valid_request_still_changes_the_store(sandbox: RunningSandbox, watch: StoreWatch) -> None:
    """The watch can fail: a successful create is seen."""
    response = _post(sandbox, CREATE, json.dumps({"loginId": "watched@example.com"}))
    assert response.status_code == 200, response.text
    assert watch.changed()


@pytest.mark.parametrize(
    "settings",
    [
        {"refreshTokenExpiration": 10**15, "refreshTokenExpirationUnit": "weeks"},
        {"refreshTokenExpiration": 2**31, "refreshTokenExpirationUnit": "minutes"},
        {"inactivityTime": 10**12, "inactivityTimeUnit": "days", "enableInactivity": True},
        {"sessionTokenExpiration": -5},
    ],
    ids=["refresh 1e15 weeks", "refresh 2^31 minutes", "inactivity 1e12 days", "negative session"],
)
def test_session_settings_out_of_range_are_a_400(
    sandbox: RunningSandbox, watch: StoreWatch, settings: dict[str, object]
) -> None:
    """Lifetimes beyond what a token's `exp` can say (chosen bound: 2^31-1 seconds) are refused."""
    created = httpx.post(
        f"{sandbox.url}/v1/mgmt/tenant/create",
        json={"name": f"Lifetimes {sorted(settings)} {id(settings)}"},
        headers=sandbox.mgmt_headers(),
    )
    assert created.status_code == 200, created.text
    watch.changed()
    body = {"tenantId": created.json()["id"], "enabled": True, **settings}
    _refused(_post(sandbox, "/v1/mgmt/tenant/settings", json.dumps(body)), watch)


MANY = [f"U{n}" for n in range(10_001)]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (SEARCH, {"userIds": MANY}),
        (SEARCH, {"loginIds": MANY}),
        (SEARCH, {"tenantIds": MANY[:101]}),
        (SEARCH, {"customAttributes": {f"k{n}": n for n in range(2000)}}),
        (SEARCH, {"tenantRoleNames": {f"T{n}": {"values": ["r"]} for n in range(2000)}}),
        (SEARCH, {"sort": [{"field": "name"}] * 14}),
        ("/v1/mgmt/audit/search", {"externalIds": MANY}),
    ],
    ids=["userIds", "loginIds", "tenantIds", "customAttributes", "tenantRoleNames", "sort", "audit"],
)
def test_a_filter_beyond_its_bound_is_a_400(
    sandbox: RunningSandbox, watch: StoreWatch, path: str, body: dict[str, object]
) -> None:
    """Chosen bounds (docs/contracts.md §7): SQLite would otherwise fail on the query (a 500)."""
    answer = _refused(_post(sandbox, path, json.dumps(body)), watch)
    assert "at most" in answer["errorMessage"]
