"""The sandbox's edge behaviour over real HTTP: routing errors, the management bearer, bodies, faults."""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from descope import AuthException, DescopeClient
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from anonconsole.sandbox.routes.common import RouteTable
from anonconsole.sandbox.server import build_app, create_context, hash_key
from sandbox.answers import descope_error

if TYPE_CHECKING:
    from conftest import RunningSandbox


def test_health_needs_no_auth(sandbox: RunningSandbox) -> None:
    body = httpx.get(f"{sandbox.url}/_sandbox/health").json()
    assert body["status"] == "ok"
    assert body["projectId"] == sandbox.project_id
    assert isinstance(body["users"], int)
    assert body["version"]


def test_unknown_path_is_descope_404(sandbox: RunningSandbox) -> None:
    descope_error(httpx.get(f"{sandbox.url}/v1/auth/nothing-here"), 404)


def test_wrong_method_is_descope_405_with_allow(sandbox: RunningSandbox) -> None:
    response = httpx.delete(f"{sandbox.url}/_sandbox/health")
    descope_error(response, 405)
    assert "GET" in response.headers["allow"]


def test_405_on_a_shared_path_names_the_first_routes_methods(sandbox: RunningSandbox) -> None:
    """`tenants` declares the settings' POST before their GET, so a wrong method is told POST."""
    response = httpx.put(f"{sandbox.url}/v1/mgmt/tenant/settings", headers=sandbox.mgmt_headers())
    descope_error(response, 405)
    assert response.headers["allow"] == "POST"


def test_route_table_mounts_in_declaration_order() -> None:
    table = RouteTable()

    @table("/a", "POST")
    async def first(request: Request) -> Response:
        return Response()

    table.add("/a", first, "GET")
    with pytest.raises(ValueError, match="No HTTP method"):
        table.add("/b", first)
    mounted = table.routes()
    assert [(r.path, r.methods, r.endpoint.__wrapped__) for r in mounted if isinstance(r, Route)] == [
        ("/a", {"POST"}, first),
        ("/a", {"GET", "HEAD"}, first),
    ]
    assert table.routes()[0] is not mounted[0]


def test_leading_double_slash_is_tolerated(sandbox: RunningSandbox) -> None:
    client = DescopeClient(project_id=sandbox.project_id, base_url=sandbox.url + "/")
    assert client.password.get_policy()["minLength"] >= 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer :"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer {project}"},
        {"Authorization": "Bearer {project}:wrong-key"},
        {"Authorization": "Bearer P2SomeOtherProject0000000000:{key}"},
        {"Authorization": "Bearer {project}:{key}", "x-descope-project-id": "P2SomeOtherProject0000000000"},
    ],
    ids=["none", "empty", "basic", "project-only", "wrong-key", "wrong-project", "header-mismatch"],
)
def test_management_bearer_refused(sandbox: RunningSandbox, headers: dict[str, str]) -> None:
    filled = {k: v.format(project=sandbox.project_id, key=sandbox.management_key) for k, v in headers.items()}
    descope_error(httpx.get(f"{sandbox.url}/_sandbox/outbox", headers=filled), 401)
    descope_error(httpx.post(f"{sandbox.url}/v1/mgmt/auth/signin", headers=filled, json={}), 401)


def test_management_bearer_accepted_with_matching_header(sandbox: RunningSandbox) -> None:
    headers = {**sandbox.mgmt_headers(), "x-descope-project-id": sandbox.project_id}
    assert httpx.get(f"{sandbox.url}/_sandbox/outbox", headers=headers).status_code == 200


def test_wrong_management_key_through_the_sdk(sandbox: RunningSandbox) -> None:
    client = DescopeClient(project_id=sandbox.project_id, management_key="not-the-key", base_url=sandbox.url)
    with pytest.raises(AuthException) as caught:
        client.mgmt.jwt.sign_in("nobody@example.com")
    assert caught.value.status_code == 401
    assert json.loads(caught.value.error_message)["errorCode"] == "E011005"


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"{not json", "E011001"),
        (b"[1, 2]", "E011001"),
        (b'{"loginId": "a@b.c", "password": "x", "extra": 1}', "E011003"),
        (b'{"loginId": 5, "password": "x"}', "E011003"),
        (b'{"loginId": "a@b.c", "password": true}', "E011003"),
        (b'{"password": "x"}', "E011002"),
        (b"\xff\xfe", "E011001"),
    ],
    ids=["malformed", "array", "unknown-field", "int-for-string", "bool-for-string", "missing", "not-utf8"],
)
def test_bad_bodies_are_descope_400(sandbox: RunningSandbox, content: bytes, code: str) -> None:
    response = httpx.post(
        f"{sandbox.url}/v1/auth/password/signin",
        content=content,
        headers={"Authorization": f"Bearer {sandbox.project_id}", "Content-Type": "application/json"},
    )
    descope_error(response, 400, code)


def test_outbox_lists_and_clears(sandbox: RunningSandbox, sdk: DescopeClient) -> None:
    sdk.password.sign_up("outbox-user@example.com", "Passw0rdOne")
    sdk.password.send_reset("outbox-user@example.com")
    headers = sandbox.mgmt_headers()
    messages = httpx.get(
        f"{sandbox.url}/_sandbox/outbox", params={"loginId": "outbox-user@example.com"}, headers=headers
    ).json()["messages"]
    assert messages[0]["to"] == "outbox-user@example.com"
    assert set(messages[0]) >= {"id", "time", "channel", "to", "loginId", "subject", "body", "code"}
    assert httpx.delete(f"{sandbox.url}/_sandbox/outbox", headers=headers).json() == {}
    assert httpx.get(f"{sandbox.url}/_sandbox/outbox", headers=headers).json() == {"messages": []}
    bad = httpx.get(f"{sandbox.url}/_sandbox/outbox", params={"limit": "many"}, headers=headers)
    descope_error(bad, 400)


@pytest.mark.asyncio
async def test_unexpected_error_is_descope_500_without_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = create_context(tmp_path / "s.db", "P2AnonConsoleSandbox00000000", hash_key("k"))
    app = build_app(ctx)

    async def boom(request: Request) -> Response:
        raise RuntimeError("secret internals")

    app.router.routes.append(Route("/v1/auth/boom", boom))
    transport = httpx.ASGITransport(app=app)
    with caplog.at_level(logging.ERROR, logger="anonconsole.sandbox"):
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            response = await client.get("/v1/auth/boom")
    body = descope_error(response, 500)
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text
    assert body["errorMessage"] == "Internal server error"
    assert any("secret internals" in (r.exc_text or "") for r in caplog.records)
    ctx.store.conn.close()


def test_error_rate_answers_descope_500(start_sandbox: Callable[..., RunningSandbox]) -> None:
    faulty = start_sandbox(error_rate=1.0)
    client = faulty.client()
    started = time.perf_counter()
    with pytest.raises(AuthException) as caught:
        client.password.get_policy()
    assert time.perf_counter() - started < 2, "a retried status (503/52x) would take ~10 s"
    assert caught.value.status_code == 500
    assert "Injected fault" in json.loads(caught.value.error_message)["errorMessage"]
    assert httpx.get(f"{faulty.url}/_sandbox/health").status_code == 200


def test_drop_rate_closes_the_connection(start_sandbox: Callable[..., RunningSandbox]) -> None:
    faulty = start_sandbox(drop_rate=1.0)
    with pytest.raises(httpx.TransportError):
        faulty.client().password.get_policy()
    assert httpx.get(f"{faulty.url}/_sandbox/health").status_code == 200


@pytest.mark.asyncio
async def test_latency_delays_without_blocking(start_sandbox: Callable[..., RunningSandbox]) -> None:
    slow = start_sandbox(latency_ms=400)
    url = f"{slow.url}/v1/auth/password/policy"
    headers = {"Authorization": f"Bearer {slow.project_id}"}
    async with httpx.AsyncClient() as client:
        started = time.perf_counter()
        responses = await asyncio.gather(*(client.get(url, headers=headers) for _ in range(6)))
        elapsed = time.perf_counter() - started
    assert all(r.status_code == 200 for r in responses)
    assert 0.4 <= elapsed < 6 * 0.4, f"{elapsed:.2f} s: requests were served one after another"


def test_no_key_or_password_in_files(sandbox: RunningSandbox, sdk: DescopeClient) -> None:
    password = "Cl3arTextNeverStored"
    sdk.password.sign_up(f"files-{sandbox.project_id[-4:]}@example.com", password)
    sdk.password.sign_in(f"files-{sandbox.project_id[-4:]}@example.com", password)
    files = [p for p in sandbox.db.parent.iterdir() if p.is_file()]
    assert any(p.name == "sandbox.log" for p in files)
    for path in files:
        content = path.read_bytes()
        assert sandbox.management_key.encode() not in content, path
        assert password.encode() not in content, path


def test_keep_alive_responses_are_not_delayed_by_nagle(sandbox: RunningSandbox) -> None:
    """Without TCP_NODELAY each keep-alive response waits ~40 ms for a delayed ACK."""
    timings = []
    with httpx.Client() as client:
        for _ in range(15):
            started = time.perf_counter()
            client.get(f"{sandbox.url}/_sandbox/health")
            timings.append(time.perf_counter() - started)
    assert statistics.median(timings) < 0.035, timings


def test_faults_can_target_one_operation_at_run_time(start_sandbox: Any) -> None:
    running = start_sandbox()
    client = running.client()
    assert running.set_faults(errorRate=1, paths=["/v1/mgmt/tenant/settings"]) == {
        "latencyMs": 0,
        "errorRate": 1.0,
        "dropRate": 0.0,
        "rateLimitRate": 0.0,
        "errorAfterRate": 0.0,
        "dropAfterRate": 0.0,
        "paths": ["/v1/mgmt/tenant/settings"],
        "times": None,
    }
    tenant_id = client.mgmt.tenant.create("Targeted")["id"]  # other paths are served
    with pytest.raises(AuthException) as caught:
        client.mgmt.tenant.load_settings(tenant_id)
    assert caught.value.status_code == 500
    assert "Injected fault" in caught.value.error_message
    running.set_faults()  # all off
    assert client.mgmt.tenant.load_settings(tenant_id)["enabled"] is False


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"errorRate": 2}, 400, "E011004"),
        ({"errorRate": "high"}, 400, "E011003"),
        ({"latencyMs": -1}, 400, "E011004"),
        ({"paths": "/v1"}, 400, "E011003"),
        ({"surprise": True}, 400, "E011003"),
    ],
)
def test_faults_endpoint_refuses_bad_input(
    sandbox: Any, body: dict[str, Any], status: int, code: str
) -> None:
    response = httpx.post(f"{sandbox.url}/_sandbox/faults", json=body, headers=sandbox.mgmt_headers())
    assert response.status_code == status
    assert response.json()["errorCode"] == code
    assert (
        httpx.get(f"{sandbox.url}/_sandbox/faults", headers=sandbox.mgmt_headers()).json()["errorRate"] == 0
    )


def test_faults_endpoint_needs_the_management_key(sandbox: Any) -> None:
    response = httpx.post(f"{sandbox.url}/_sandbox/faults", json={"errorRate": 1})
    assert response.status_code == 401
