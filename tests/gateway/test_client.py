"""The gateway against the real sandbox over HTTP: paging, errors, faults, rate limits, tenant settings.

Users and tenants are created with the unmodified SDK (the test's own independent path to the truth);
the gateway under test only reads and changes them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from descope import AssociatedTenant, UserObj

from anonconsole.core.rate_limits import DESCOPE_LIMITS, RateLimit
from anonconsole.core.records import SessionSettings, User, UserFilter
from anonconsole.gateway import (
    AuthenticationFailed,
    Conflict,
    Connection,
    Gateway,
    GatewayError,
    NotFound,
    Pacer,
    RateLimited,
    ServerError,
    UnknownProject,
    Unreachable,
    UserPage,
)
from anonconsole.gateway.client import _search_kwargs, _settings_kwargs

PAGED_USERS = 2500
RUN = uuid.uuid4().hex[:8]

# -- pure mapping --------------------------------------------------------------------------------


def test_connection_never_shows_the_key() -> None:
    connection = Connection("P2Proj", "http://127.0.0.1:8788/", "K2-very-secret-key")
    assert connection.base_url == "http://127.0.0.1:8788"
    assert connection.host == "127.0.0.1:8788"
    for text in (repr(connection), str(connection), f"{connection}"):
        assert "K2-very-secret-key" not in text
    with pytest.raises(dataclasses.FrozenInstanceError):
        connection.management_key = "other"  # type: ignore[misc]


def test_filter_maps_to_search_all_kwargs() -> None:
    kwargs = _search_kwargs(
        UserFilter(
            tenant_ids=["T1"],
            statuses=["enabled", "invited"],
            text="bob",
            login_ids=["a"],
            created_after=datetime(2024, 1, 1, tzinfo=UTC),
            test_users="only",
            sort=[("createdTime", True)],
        )
    )
    sort = kwargs.pop("sort")
    assert [(s.field, s.desc) for s in sort] == [("createdTime", True)]
    assert kwargs == {
        "tenant_ids": ["T1"],
        "role_names": [],
        "test_users_only": True,
        "with_test_user": True,
        "statuses": ["enabled", "invited"],
        "login_ids": ["a"],
        "text": "bob",
        "from_created_time": 1_704_067_200_000,
    }
    assert _search_kwargs(None) == {
        "tenant_ids": [],
        "role_names": [],
        "test_users_only": False,
        "with_test_user": False,
    }


def test_settings_map_to_plain_string_units_and_skip_unset_lifetimes() -> None:
    settings = SessionSettings(
        enabled=True,
        refresh_token_expiration=52,
        refresh_token_expiration_unit="weeks",
        session_token_expiration=10,
        session_token_expiration_unit="minutes",
        auth_type="none",
    )
    assert _settings_kwargs(settings) == {
        "session_settings_enabled": True,
        "enable_inactivity": False,
        "JITDisabled": False,
        "auth_type": "none",
        "refresh_token_expiration": 52,
        "refresh_token_expiration_unit": "weeks",
        "session_token_expiration": 10,
        "session_token_expiration_unit": "minutes",
    }


# -- helpers -------------------------------------------------------------------------------------


def connection_to(running: Any, **override: str) -> Connection:
    fields = {
        "project_id": running.project_id,
        "base_url": running.url,
        "management_key": running.management_key,
    }
    fields.update(override)
    return Connection(**fields)


def assert_key_absent(error: BaseException, *keys: str) -> None:
    """The key must not appear anywhere a person or a log could see it."""
    texts = [str(error), repr(error), *map(str, error.args)]
    if isinstance(error, GatewayError):
        texts += [error.user_message, error.detail]
    for key in keys:
        for text in texts:
            assert key not in text
            assert key[:12] not in text


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest_asyncio.fixture
async def gateway(sandbox: Any) -> AsyncIterator[Gateway]:
    async with Gateway(connection_to(sandbox)) as gw:
        yield gw


async def _populate(sandbox: Any, tenant_name: str, count: int, prefix: str) -> tuple[str, set[str]]:
    """A tenant and `count` users in it, created through the SDK in batches of 100."""
    client = sandbox.async_client()
    try:
        tenant_id = (await client.mgmt.tenant.create(tenant_name))["id"]
        ids: set[str] = set()
        for start in range(0, count, 100):
            batch = [
                UserObj(f"{prefix}-{i:05d}", user_tenants=[AssociatedTenant(tenant_id)])
                for i in range(start, min(count, start + 100))
            ]
            answer = await client.mgmt.user.invite_batch(batch, send_mail=False, send_sms=False)
            assert not answer.get("failedUsers"), answer.get("failedUsers")
            ids.update(str(u["userId"]) for u in answer["createdUsers"])
    finally:
        await client.aclose()
    return tenant_id, ids


@pytest.fixture(scope="module")
def paged(sandbox: Any) -> tuple[str, set[str]]:
    """2,500 users in a tenant of their own (created once for the module)."""
    return asyncio.run(_populate(sandbox, f"Paging {RUN}", PAGED_USERS, f"pg{RUN}"))


async def _collect(gw: Gateway, filters: UserFilter | None, page_size: int) -> list[UserPage]:
    return [page async for page in gw.iter_user_pages(filters, page_size=page_size)]


def _ids(pages: list[UserPage]) -> list[str]:
    return [u.user_id for page in pages for u in page.users]


# -- connection check and errors -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_check_reports_tier_and_user_count(gateway: Gateway) -> None:
    result = await gateway.check()
    assert result.rate_limit_tier
    assert result.user_count >= 0
    assert result.project_id == gateway.connection.project_id


@pytest.mark.asyncio
async def test_wrong_key_is_authentication_failed(sandbox: Any) -> None:
    wrong = "K2" + uuid.uuid4().hex + uuid.uuid4().hex
    async with Gateway(connection_to(sandbox, management_key=wrong)) as gw:
        with pytest.raises(AuthenticationFailed) as caught:
            await gw.check()
    assert not isinstance(caught.value, UnknownProject)
    assert "refused the management key" in caught.value.user_message
    assert_key_absent(caught.value, wrong, sandbox.management_key)


@pytest.mark.asyncio
async def test_wrong_project_is_unknown_project(sandbox: Any) -> None:
    async with Gateway(connection_to(sandbox, project_id="P2SomeOtherProject0000000000")) as gw:
        with pytest.raises(UnknownProject) as caught:
            await gw.check()
    assert "project ID" in caught.value.user_message
    assert_key_absent(caught.value, sandbox.management_key)


@pytest.mark.asyncio
async def test_closed_port_is_unreachable() -> None:
    key = "K2" + uuid.uuid4().hex
    url = f"http://127.0.0.1:{closed_port()}"
    async with Gateway(Connection("P2AnonConsoleSandbox00000000", url, key)) as gw:
        started = time.monotonic()
        with pytest.raises(Unreachable) as caught:
            await gw.check()
    assert f"Cannot reach {url.removeprefix('http://')}" in caught.value.user_message
    assert time.monotonic() - started < 10, "a refused connection must fail fast"
    assert_key_absent(caught.value, key)


@pytest.mark.asyncio
async def test_server_errors_are_server_error_with_a_clear_message(start_sandbox: Callable[..., Any]) -> None:
    failing = start_sandbox(error_rate=1.0)
    async with Gateway(connection_to(failing)) as gw:
        with pytest.raises(ServerError) as caught:
            await gw.search_users(None, 0, 10)
        searches = gw.stats.requests
        assert searches >= 3, "a read is tried again after a server error, a bounded number of times"
        with pytest.raises(ServerError):
            await gw.delete_user("U-whoever")
        assert gw.stats.requests == searches + 1, "a write is never re-sent: it may have happened"
    message = caught.value.user_message
    assert "internal error (HTTP 500)" in message
    assert "Injected fault" in message
    assert "{" not in message
    assert_key_absent(caught.value, failing.management_key)


@pytest.mark.asyncio
async def test_dropped_connections_are_unreachable(start_sandbox: Callable[..., Any]) -> None:
    dropping = start_sandbox(drop_rate=1.0)
    async with Gateway(connection_to(dropping)) as gw:
        with pytest.raises(Unreachable) as caught:
            await gw.license()
        assert gw.stats.requests >= 3, (
            "reads are re-sent after a dropped connection, a bounded number of times"
        )
    assert "dropped" in caught.value.user_message
    assert_key_absent(caught.value, dropping.management_key)


# -- users -------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_paging_2500_users_yields_each_once_first_page_first(
    gateway: Gateway, paged: tuple[str, set[str]]
) -> None:
    tenant_id, created = paged
    progress: list[tuple[int, int]] = []
    pages = [
        page
        async for page in gateway.iter_user_pages(
            UserFilter(tenant_ids=[tenant_id]),
            page_size=100,
            on_progress=lambda n, t: progress.append((n, t)),
        )
    ]
    ids = _ids(pages)
    assert [p.index for p in pages] == list(range(len(pages)))  # in arrival order, the first first
    assert len(pages[0].users) == 100
    assert {p.total for p in pages} == {PAGED_USERS}
    assert not any(p.gone for p in pages)
    assert len(ids) == len(set(ids)) == PAGED_USERS
    assert set(ids) == created
    assert progress[0] == (100, PAGED_USERS)
    assert progress[-1] == (PAGED_USERS, PAGED_USERS)
    assert all(isinstance(u, User) and u.in_tenant(tenant_id) for p in pages for u in p.users)


@pytest.mark.asyncio
async def test_search_users_one_page_and_filters(gateway: Gateway, paged: tuple[str, set[str]]) -> None:
    tenant_id, _ = paged
    users, total = await gateway.search_users(UserFilter(tenant_ids=[tenant_id]), page=3, limit=7)
    assert total == PAGED_USERS
    assert len(users) == 7
    login_id = f"pg{RUN}-00042"
    found, count = await gateway.search_users(UserFilter(tenant_ids=[tenant_id], login_ids=[login_id]))
    assert count == 1
    assert found[0].primary_login_id == login_id
    future = datetime.now(UTC) + timedelta(days=1)
    _, none = await gateway.search_users(UserFilter(tenant_ids=[tenant_id], created_after=future))
    assert none == 0
    _, invited = await gateway.search_users(UserFilter(tenant_ids=[tenant_id], statuses=["invited"]))
    assert invited == PAGED_USERS


@pytest.mark.asyncio
async def test_a_load_refuses_a_sort_it_cannot_keep(gateway: Gateway) -> None:
    pages = gateway.iter_user_pages(UserFilter(sort=[("name", False)]))
    with pytest.raises(ValueError, match="creation time"):
        await anext(pages)
    assert gateway.stats.requests == 0


@pytest.mark.asyncio
async def test_empty_search_yields_one_empty_page(gateway: Gateway) -> None:
    pages = await _collect(gateway, UserFilter(login_ids=[f"nobody-{RUN}"]), 100)
    assert [(p.index, p.users, p.total) for p in pages] == [(0, [], 0)]


@pytest.mark.asyncio
async def test_closing_the_page_iterator_early_cancels_the_rest(
    gateway: Gateway, paged: tuple[str, set[str]]
) -> None:
    tenant_id, _ = paged
    pages = gateway.iter_user_pages(UserFilter(tenant_ids=[tenant_id]), page_size=50)
    first = await anext(pages)
    second = await anext(pages)
    await pages.aclose()
    assert first.index == 0
    assert second.index > 0
    # The gateway is still fully usable: nothing leaked a slot.
    _, total = await gateway.search_users(UserFilter(tenant_ids=[tenant_id]), 0, 1)
    assert total == PAGED_USERS


@pytest.mark.asyncio
async def test_concurrent_paging_is_faster_than_sequential(start_sandbox: Callable[..., Any]) -> None:
    slow = start_sandbox(users=600, latency_ms=60)
    timings: dict[int, float] = {}
    results: dict[int, list[str]] = {}
    for concurrency in (1, 8):
        async with Gateway(connection_to(slow), max_concurrency=concurrency) as gw:
            await gw.license()  # handshake outside the timing
            started = time.monotonic()
            pages = await _collect(gw, None, 40)
            timings[concurrency] = time.monotonic() - started
            results[concurrency] = _ids(pages)
    assert len(results[8]) == len(set(results[8])) == pages[0].total
    assert sorted(results[8]) == sorted(results[1])
    assert timings[8] < timings[1] * 0.5, timings
    pages_count = len(pages)
    print(  # noqa: T201 - the figure the report quotes
        f"\n{pages_count} pages at 60 ms latency: sequential {pages_count / timings[1]:.1f} pages/s, "
        f"8 concurrent {pages_count / timings[8]:.1f} pages/s"
    )


@pytest.mark.asyncio
async def test_user_lifecycle(gateway: Gateway, sandbox: Any) -> None:
    tenant_id, created = await _populate(sandbox, f"Lifecycle {RUN}", 3, f"lc{RUN}")
    other_tenant = await gateway.create_tenant(f"Other {RUN}")
    login_id = f"lc{RUN}-00000"
    user = await gateway.load_user_by_login_id(login_id)
    assert user.user_id in created
    assert (await gateway.load_user(user.user_id)).primary_login_id == login_id

    changed = await gateway.update_email(login_id, f"lc{RUN}@example.com")
    assert changed.email == f"lc{RUN}@example.com"
    assert changed.verified_email
    phoned = await gateway.update_phone(login_id, "+15555550123")
    assert phoned.phone == "+15555550123"
    assert phoned.verified_phone
    with pytest.raises(Conflict):
        await gateway.update_email(f"lc{RUN}-00001", f"lc{RUN}-00000")

    assert (await gateway.deactivate(login_id)).status == "disabled"
    assert (await gateway.activate(login_id)).status == "enabled"
    assert set((await gateway.add_tenant(login_id, other_tenant)).tenant_ids) == {tenant_id, other_tenant}
    assert (await gateway.remove_tenant(login_id, tenant_id)).tenant_ids == (other_tenant,)

    events = await gateway.audit_search(user_ids=[user.user_id])
    assert events
    assert all(e.occurred.tzinfo is not None for e in events)
    assert await gateway.login_history(sorted(created)) == []

    await gateway.delete_user(user.user_id)
    with pytest.raises(NotFound) as caught:
        await gateway.load_user(user.user_id)
    assert_key_absent(caught.value, sandbox.management_key)
    rest = sorted(created - {user.user_id})
    await gateway.delete_users(rest)
    _, total = await gateway.search_users(UserFilter(tenant_ids=[tenant_id]))
    assert total == 0


@pytest.mark.asyncio
async def test_login_history_batches_many_users(gateway: Gateway, sandbox: Any) -> None:
    login_id = f"hist{RUN}"
    password = "Hist-Pass-" + uuid.uuid4().hex[:8] + "A1!"
    client = sandbox.async_client()
    try:
        await client.password.sign_up(login_id, password)
        await client.password.sign_in(login_id, password)
    finally:
        await client.aclose()
    user = await gateway.load_user_by_login_id(login_id)
    padding = [f"U{RUN}{i:019d}" for i in range(250)]
    records = await gateway.login_history([*padding[:120], user.user_id, *padding[120:]], batch_size=100)
    assert [r.user_id for r in records] == [user.user_id] * 2
    assert all(r.login_time > 0 for r in records)


# -- tenants ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_tenants(gateway: Gateway) -> None:
    name = f"Tenant {RUN}"
    tenant_id = await gateway.create_tenant(name)
    loaded = await gateway.load_tenant(tenant_id)
    assert loaded.name == name
    assert (await gateway.find_tenant_by_name(name)) == loaded
    assert await gateway.find_tenant_by_name(name.upper()) is None
    assert await gateway.find_tenant_by_name(f"No such tenant {RUN}") is None
    assert tenant_id in {t.id for t in await gateway.load_all_tenants()}
    with pytest.raises(NotFound):
        await gateway.load_tenant(f"T{RUN}missing")
    with pytest.raises(Conflict):
        await gateway.create_tenant(name)


@pytest.mark.asyncio
async def test_tenant_settings_update_keeps_self_provisioning_domains(gateway: Gateway, sandbox: Any) -> None:
    client = sandbox.async_client()
    try:
        created = await client.mgmt.tenant.create(
            f"Anon {RUN}", self_provisioning_domains=[f"{RUN}.example.com"]
        )
    finally:
        await client.aclose()
    tenant_id = created["id"]
    before = await gateway.load_tenant_settings(tenant_id)
    assert before.self_provisioning_domains == (f"{RUN}.example.com",)
    wanted = dataclasses.replace(
        before,
        enabled=True,
        refresh_token_expiration=52,
        refresh_token_expiration_unit="weeks",
        session_token_expiration=10,
        session_token_expiration_unit="minutes",
        self_provisioning_domains=(),  # ignored: the gateway sends back what the server has
    )
    after = await gateway.update_tenant_settings(tenant_id, wanted)
    assert after.enabled
    assert after.refresh_seconds == 52 * 7 * 86400
    assert after.session_seconds == 600
    assert after.self_provisioning_domains == (f"{RUN}.example.com",)
    assert await gateway.load_tenant_settings(tenant_id) == after


# -- rate limits -----------------------------------------------------------------------------------
# User searches fall in the per-project user-management bucket (500 per 60 s), which this machine's
# sandbox can overflow within seconds (its backend bucket, 1000 per 10 s, it cannot).

USER_BUCKET = next(b for b in DESCOPE_LIMITS if b.name == "user-management")


def _generous(factor: int) -> tuple[RateLimit, ...]:
    """Limits `factor` times the documented ones: a pacer that lets the server say no."""
    return tuple(dataclasses.replace(b, limit=b.limit * factor) for b in DESCOPE_LIMITS)


async def _one_search(gw: Gateway) -> int:
    _, total = await gw.search_users(None, 0, 1)
    return total


@pytest.mark.slow
@pytest.mark.asyncio
async def test_pacing_keeps_a_full_load_under_the_limit_without_429(
    start_sandbox: Callable[..., Any],
) -> None:
    """700 searches: the first 500 at once, the rest one window after, and not a single 429."""
    limited = start_sandbox(rate_limits="descope")
    requests = USER_BUCKET.limit + 200
    done: list[float] = []
    async with Gateway(connection_to(limited)) as gw:
        started = time.monotonic()

        async def one() -> None:
            await _one_search(gw)
            done.append(time.monotonic() - started)

        await asyncio.gather(*(one() for _ in range(requests)))
        elapsed = time.monotonic() - started
        assert gw.stats.rate_limited == 0
    done.sort()
    first_batch = done[USER_BUCKET.limit - 1]
    # The rest had to wait for the window (sent no earlier than 60 s after the first ones ended) ...
    assert done[USER_BUCKET.limit] >= USER_BUCKET.window_seconds
    # ... and not much longer: ≥ 90 % of the allowed rate.
    assert elapsed <= (USER_BUCKET.window_seconds + 2 * first_batch) / 0.9, (first_batch, elapsed)
    print(  # noqa: T201 - the figure the report quotes
        f"\n{requests} searches in {elapsed:.1f} s, first {USER_BUCKET.limit} in {first_batch:.1f} s, "
        f"no 429; allowed {USER_BUCKET.limit} per {USER_BUCKET.window_seconds} s"
    )


@pytest.mark.slow
@pytest.mark.asyncio
async def test_real_429s_pause_the_bucket_and_are_retried_or_reported(
    start_sandbox: Callable[..., Any],
) -> None:
    """Pacers that believe in 10x the limit meet the sandbox's real 429s (Retry-After up to 60 s)."""
    limited = start_sandbox(rate_limits="descope")
    # 1. No retries: searches until the server refuses; the refusal is a RateLimited, key-free.
    async with Gateway(connection_to(limited), pacer=Pacer(_generous(10), max_rate_limit_retries=0)) as gw:
        refusal: BaseException | None = None
        for _ in range(3 * USER_BUCKET.limit // 50):
            wave = [asyncio.ensure_future(_one_search(gw)) for _ in range(50)]
            finished, pending = await asyncio.wait(wave, return_when=asyncio.FIRST_EXCEPTION)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            refusal = next((t.exception() for t in finished if t.exception()), None)
            if refusal is not None:
                break
    assert isinstance(refusal, RateLimited), refusal
    assert 0 < refusal.retry_after <= USER_BUCKET.window_seconds
    assert "rate limiting" in refusal.user_message
    assert_key_absent(refusal, limited.management_key)

    # 2. The window is spent: another client's searches get 429s, wait Retry-After, and all succeed.
    async with Gateway(connection_to(limited), pacer=Pacer(_generous(10), max_rate_limit_retries=3)) as gw:
        started = time.monotonic()
        totals = await asyncio.gather(*(_one_search(gw) for _ in range(100)))
        elapsed = time.monotonic() - started
        assert len(totals) == 100
        assert gw.stats.rate_limited >= 1
        # Never hammer: once refused, the bucket pauses; only requests already in flight can be refused.
        assert gw.stats.rate_limited <= 8, gw.stats
        assert gw.stats.retries == gw.stats.rate_limited
    assert elapsed >= 1, "the retry waited for Retry-After"
