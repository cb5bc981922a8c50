"""The gateway proper: `Connection` and `Gateway`, the async façade over `DescopeClientAsync`.

Every method is a coroutine on the caller's event loop (the SDK's async client is native httpx), goes
through the `Pacer` with the path the SDK call hits (so the right rate-limit bucket is counted), and
raises only `GatewayError` subclasses. Results are records from `anonconsole.core.records`.

User mutations take a *login id*, because that is what the SDK's granular calls take; deletions take
user ids.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

# httpx's async transport loads anyio's asyncio backend on the first request: 100+ ms of imports
# that would stall the UI loop in the middle of the first load. Import it with the gateway instead.
import anyio._backends._asyncio  # noqa: F401
import httpx
from descope import AuthException, DeliveryMethod, DescopeClientAsync, UserObj
from descope.common import EndpointsV1, EndpointsV2
from descope.management.common import MgmtLoginOptions, MgmtV1, Sort

from anonconsole.core.connection import Connection, ConnectionCheck
from anonconsole.core.convert import CODE_REJECTIONS, CodeRejected
from anonconsole.core.errors import GatewayError, ServerError, TokenInvalid, Unreachable
from anonconsole.core.rate_limits import DESCOPE_LIMITS, RateLimit
from anonconsole.core.records import (
    AuditEvent,
    LoginRecord,
    SessionSettings,
    Tenant,
    User,
    UserFilter,
    latest_logins,
)
from anonconsole.core.user_sweep import Ask, Span, Sweep
from anonconsole.gateway import recipe
from anonconsole.gateway.errors import map_error, server_error_body
from anonconsole.gateway.pacing import Pacer, PacerStats
from anonconsole.gateway.recipe import AnonymousSession
from anonconsole.runtime.cpu_turns import map_in_slices

T = TypeVar("T")
ProgressCallback = Callable[[int, int], None]

# Reads are re-sent this many times after a dropped connection or a server error (5xx); never writes:
# they may have happened.
READ_RETRIES = 2
READ_RETRY_DELAY_SECONDS = 0.2
HISTORY_BATCH = 100
SEARCH_LIMIT = 1000  # Descope's largest page of a user search
LANES_PER_REQUEST = 2  # a sweep's lanes per request in flight: one lane ending early leaves work to do
PAGE_RETRIES = 2  # a sweep's page is asked again this many times after `_call`'s own retries failed
# Requests in flight at once. Three reach Descope's user-management limit (500 a minute) at up to
# 350 ms a request; more only pile decoded answers up on the UI loop, waiting their turn (measured
# at 100k users: the longest UI stall fell from ~90 ms with 8 to ~50 ms with 3).
MAX_CONCURRENCY = 3


@dataclass(frozen=True)
class UserPage:
    """What one answer of a user sweep brought, as `iter_user_pages` yields it.

    Attributes:
        index: 0-based arrival number (0: the first page, which comes first).
        users: users new to this load (never one already yielded, unless it was yielded as gone).
        total: the best estimate of the matches so far (exact once the load ends).
        gone: IDs of users yielded earlier that no longer exist (deleted during the load) or no
            longer match the filter: drop them.
    """

    index: int
    users: list[User]
    total: int
    gone: tuple[str, ...] = ()


def _first_login_id(user: Any) -> str:
    """The first login ID of a user object in an answer ("" when it has none)."""
    if not isinstance(user, dict):
        return ""
    ids = user.get("loginIds") or [user.get("loginId", "")]
    return str(ids[0])


def _search_kwargs(filters: UserFilter | None) -> dict[str, Any]:
    """`search_all` keyword arguments for a filter; empty fields are not sent."""
    f = filters or UserFilter()
    kwargs: dict[str, Any] = {
        "tenant_ids": list(f.tenant_ids),
        "role_names": list(f.role_names),
        "test_users_only": f.test_users == "only",
        "with_test_user": f.test_users != "exclude",
    }
    optional = {
        "statuses": list(f.statuses),
        "login_ids": list(f.login_ids),
        "emails": list(f.emails),
        "phones": list(f.phones),
        "user_ids": list(f.user_ids),
        "text": f.text,
        "sort": [Sort(name, desc) for name, desc in f.sort],
    }
    kwargs.update({name: value for name, value in optional.items() if value})
    kwargs.update(f.time_range_ms())
    return kwargs


def _settings_kwargs(settings: SessionSettings) -> dict[str, Any]:
    """`update_settings` keyword arguments; units as plain strings (the SDK's enum is not JSON-able)."""
    kwargs: dict[str, Any] = {
        "session_settings_enabled": settings.enabled,
        "enable_inactivity": settings.enable_inactivity,
        "JITDisabled": settings.jit_disabled,
    }
    if settings.auth_type:
        kwargs["auth_type"] = settings.auth_type
    lifetimes = {
        "refresh_token_expiration": (
            settings.refresh_token_expiration,
            settings.refresh_token_expiration_unit,
        ),
        "session_token_expiration": (
            settings.session_token_expiration,
            settings.session_token_expiration_unit,
        ),
        "stepup_token_expiration": (settings.stepup_token_expiration, settings.stepup_token_expiration_unit),
        "inactivity_time": (settings.inactivity_time, settings.inactivity_time_unit),
    }
    for name, (value, unit) in lifetimes.items():
        if value and unit:
            kwargs[name] = int(value)
            kwargs[f"{name}_unit"] = str(unit)
    return kwargs


def _is_server_error(exc: AuthException) -> bool:
    """A 5xx answer: worth one more try for a read (the SDK itself retries only 503/52x)."""
    return isinstance(exc.status_code, int) and exc.status_code >= 500


def _chunks(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


async def _first_failure_cancels_rest(coros: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run concurrently, results in order; the first failure cancels the others and is raised as is.

    A single coroutine (the loader asks one batch at a time) is awaited in place: no task of its own
    that a cancellation could leave unstarted.
    """
    pending = list(coros)
    if len(pending) == 1:
        return [await pending[0]]
    tasks = [asyncio.ensure_future(c) for c in pending]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class Gateway(AbstractAsyncContextManager["Gateway"]):  # `async with`: closes at the end
    """Async façade over Descope's management API for the console.

    Attributes:
        connection: where it talks to.
        stats: what the pacer did (requests, 429s, retries).
    """

    def __init__(
        self,
        connection: Connection,
        *,
        limits: Sequence[RateLimit] = DESCOPE_LIMITS,
        max_concurrency: int = MAX_CONCURRENCY,
        timeout_seconds: float = 30.0,
        pacer: Pacer | None = None,
    ) -> None:
        self.connection = connection
        self._pacer = pacer or Pacer(limits, max_concurrency=max_concurrency)
        self._concurrency = max_concurrency
        self._client = DescopeClientAsync(
            project_id=connection.project_id,
            management_key=connection.management_key,
            base_url=connection.base_url,
            timeout_seconds=timeout_seconds,
        )
        self._opened = False
        self._open_lock = asyncio.Lock()

    @classmethod
    async def open(cls, connection: Connection, **options: Any) -> Gateway:
        """A Gateway built in a worker thread: the SDK loads the CA bundle for each of its HTTP
        clients (tens of milliseconds each), which must not stall the UI thread at connect time."""
        return await asyncio.to_thread(lambda: cls(connection, **options))

    @property
    def stats(self) -> PacerStats:
        """What pacing counted so far: requests, 429s and retries (the benchmarks report them)."""
        return self._pacer.stats

    async def aclose(self) -> None:
        """Close the SDK's HTTP connections."""
        await self._client.aclose()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- plumbing -------------------------------------------------------------------------------

    def _error(self, exc: BaseException) -> GatewayError:
        key = self.connection.management_key
        return map_error(exc, base_url=self.connection.base_url, secrets=(key,))

    async def _ensure_open(self) -> None:
        """Run the SDK's license handshake once, paced like any request (it hits the backend bucket)."""
        if self._opened:
            return
        async with self._open_lock:
            if not self._opened:
                await self._pacer.run(MgmtV1.license_get_path, self._client.aopen)
                self._opened = True

    async def _call(self, path: str, call: Callable[[], Awaitable[T]], *, read: bool = False) -> T:
        """One paced SDK call to `path`; failures become `GatewayError`s (scrubbed of the key)."""
        try:
            await self._ensure_open()
            for attempt in range(READ_RETRIES + 1):
                try:
                    return await self._pacer.run(path, call)
                except (httpx.RemoteProtocolError, httpx.ConnectError, httpx.ReadError, AuthException) as exc:
                    transient = not isinstance(exc, AuthException) or _is_server_error(exc)
                    if not (read and transient) or attempt == READ_RETRIES:
                        raise
                await asyncio.sleep(READ_RETRY_DELAY_SECONDS * (attempt + 1))
            raise AssertionError("unreachable")  # pragma: no cover
        except Exception as exc:  # every failure leaves as a GatewayError, by contract
            raise self._error(exc) from None

    @property
    def _user(self) -> Any:
        return self._client.mgmt.user

    @property
    def _tenant(self) -> Any:
        return self._client.mgmt.tenant

    # -- connection -------------------------------------------------------------------------------

    async def license(self) -> dict[str, Any]:
        """The project's license answer, e.g. `{"rateLimitTier": "tier2"}`."""
        return await self._call(MgmtV1.license_get_path, self._client.mgmt.license.get, read=True)

    async def check(self) -> ConnectionCheck:
        """For "Test connection": license + a one-user search; raises the error that says what is wrong.

        Unreachable (host), UnknownProject, AuthenticationFailed (key), PermissionDenied (the key
        may not manage users) are the expected failures.
        """
        answer = await self.license()
        _, total = await self.search_users(None, page=0, limit=1)
        tier = str(answer.get("rateLimitTier", "")) if isinstance(answer, dict) else ""
        return ConnectionCheck(self.connection.host, self.connection.project_id, tier, total)

    # -- users: reading -------------------------------------------------------------------------

    async def search_users(
        self, filters: UserFilter | None = None, page: int = 0, limit: int = 100
    ) -> tuple[list[User], int]:
        """One page (0-based) of users matching `filters`, and the total number of matches."""
        return await self._search_page(_search_kwargs(filters), page, limit)

    async def _search_page(self, kwargs: dict[str, Any], page: int, limit: int) -> tuple[list[User], int]:
        answer = await self._call(
            MgmtV1.users_search_path,
            lambda: self._user.search_all(limit=limit, page=page, **kwargs),
            read=True,
        )
        raw = answer.get("users") or ()
        users = await map_in_slices(User.from_api, raw)  # 1,000 users: ~15 ms of Python, in slices
        return users, int(answer.get("total", len(users)))

    async def iter_user_pages(
        self,
        filters: UserFilter | None = None,
        *,
        page_size: int = 1000,
        on_progress: ProgressCallback | None = None,
    ) -> AsyncGenerator[UserPage]:
        """Every matching user once, page by page as answers arrive, true while users change.

        A `core.user_sweep.Sweep` decides what to ask: pages by creation time, which no deletion can
        shift (offset pages skipped living users when earlier ones were deleted meanwhile), several
        lanes of them at once within the rate limit, then counts that find users deleted after their
        page was read (`UserPage.gone`) and users created meanwhile. The first page comes first (it
        tells the total). `on_progress(held, total)` is called before each page is yielded.
        Closing the iterator early cancels the outstanding requests. `filters.sort` must be empty: the
        pages come in no particular order.
        """
        f = filters or UserFilter()
        if f.sort:
            raise ValueError("iter_user_pages reads by creation time: leave the filter's sort empty")
        base = _search_kwargs(f)
        bounds = Span(base.pop("from_created_time", None), base.pop("to_created_time", None))
        sweep = Sweep(limit=page_size, lanes=LANES_PER_REQUEST * self._concurrency, bounds=bounds)
        out: dict[asyncio.Future[tuple[list[User], int]], Ask] = {}

        def send() -> None:
            """Keep the requests in flight, also while the caller works on the page just yielded."""
            while len(out) < self._concurrency and (ask := sweep.next_ask()) is not None:
                out[asyncio.ensure_future(self._sweep_page(base, ask))] = ask

        index = 0
        try:
            send()
            while out:
                done, _ = await asyncio.wait(out, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=lambda t: out[t].id):
                    ask = out.pop(task)
                    users, total = task.result()  # the first failure ends the load; `finally` cancels
                    outcome = sweep.answer(ask, users, total)
                    send()
                    if index and not (outcome.added or outcome.gone):
                        continue
                    if on_progress:
                        on_progress(sweep.held, sweep.total)
                    yield UserPage(index, outcome.added, sweep.total, tuple(outcome.gone))
                    index += 1
        finally:
            for task in out:
                task.cancel()
            await asyncio.gather(*out, return_exceptions=True)

    async def _sweep_page(self, base: dict[str, Any], ask: Ask) -> tuple[list[User], int]:
        """One search of a sweep: its creation-time span, oldest first. Reads are safe to repeat, so a
        page lost to a server error or a dropped connection (after `_call`'s own retries) is asked
        again: one lost page would otherwise end a load of 100,000 users."""
        kwargs = {**base, "sort": [Sort("createdTime", False)]}
        if ask.span.lo is not None:
            kwargs["from_created_time"] = ask.span.lo
        if ask.span.hi is not None:
            kwargs["to_created_time"] = ask.span.hi
        for attempt in range(PAGE_RETRIES + 1):
            try:
                return await self._search_page(kwargs, ask.page, ask.limit)
            except (ServerError, Unreachable):
                if attempt == PAGE_RETRIES:
                    raise
            await asyncio.sleep(READ_RETRY_DELAY_SECONDS * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    async def load_user(self, user_id: str) -> User:
        answer = await self._call(
            MgmtV1.user_load_path, lambda: self._user.load_by_user_id(user_id), read=True
        )
        return User.from_api(answer["user"])

    async def load_user_by_login_id(self, login_id: str) -> User:
        answer = await self._call(MgmtV1.user_load_path, lambda: self._user.load(login_id), read=True)
        return User.from_api(answer["user"])

    async def login_history(
        self, user_ids: Sequence[str], *, batch_size: int = HISTORY_BATCH
    ) -> list[LoginRecord]:
        """Sign-in history of the users, `batch_size` ids per request, batches concurrently."""

        async def batch(ids: list[str]) -> list[LoginRecord]:
            answer = await self._call(MgmtV1.user_history_path, lambda: self._user.history(ids), read=True)
            return await map_in_slices(LoginRecord.from_api, answer or ())

        batches = await _first_failure_cancels_rest(batch(ids) for ids in _chunks(user_ids, batch_size))
        return [record for records in batches for record in records]

    async def last_sign_ins(
        self, user_ids: Sequence[str], *, batch_size: int = HISTORY_BATCH
    ) -> dict[str, int]:
        """The last sign-in (epoch seconds) of each of the users who ever signed in, from their history.

        For loading many users: records are built in slices of loop time (`map_in_slices`), so a
        batch of 1,000 users holds the loop no longer than the SDK's JSON decoding of it.
        """

        async def batch(ids: list[str]) -> dict[str, int]:
            answer = await self._call(MgmtV1.user_history_path, lambda: self._user.history(ids), read=True)
            return latest_logins(await map_in_slices(LoginRecord.from_api, answer or ()))

        batches = await _first_failure_cancels_rest(batch(ids) for ids in _chunks(user_ids, batch_size))
        latest: dict[str, int] = {}
        for found in batches:
            latest.update(found)  # batches are disjoint sets of users
        return latest

    async def audit_search(
        self,
        *,
        user_ids: Sequence[str] | None = None,
        actions: Sequence[str] | None = None,
        login_ids: Sequence[str] | None = None,
        tenants: Sequence[str] | None = None,
        text: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditEvent]:
        """Audit-trail records (last 30 days at most, as Descope keeps them)."""

        def search() -> Awaitable[dict[str, Any]]:
            return self._client.mgmt.audit.search(
                user_ids=list(user_ids) if user_ids is not None else None,
                actions=list(actions) if actions is not None else None,
                login_ids=list(login_ids) if login_ids is not None else None,
                tenants=list(tenants) if tenants is not None else None,
                text=text,
                from_ts=since,
                to_ts=until,
            )

        answer = await self._call(MgmtV1.audit_search, search, read=True)
        return [AuditEvent.from_sdk(a) for a in answer.get("audits") or ()]

    # -- users: changing --------------------------------------------------------------------------

    async def _user_change(self, path: str, call: Callable[[], Awaitable[dict[str, Any]]]) -> User:
        answer = await self._call(path, call)
        return User.from_api(answer["user"])

    async def add_tenant(self, login_id: str, tenant_id: str) -> User:
        return await self._user_change(
            MgmtV1.user_add_tenant_path, lambda: self._user.add_tenant(login_id, tenant_id)
        )

    async def remove_tenant(self, login_id: str, tenant_id: str) -> User:
        return await self._user_change(
            MgmtV1.user_remove_tenant_path, lambda: self._user.remove_tenant(login_id, tenant_id)
        )

    async def update_email(self, login_id: str, email: str) -> User:
        """Set a *verified* email, failing with `Conflict` if it is another user's login id."""
        return await self._user_change(
            MgmtV1.user_update_email_path,
            lambda: self._user.update_email(login_id, email, verified=True, fail_on_conflict=True),
        )

    async def update_phone(self, login_id: str, phone: str) -> User:
        """Set a *verified* phone, failing with `Conflict` if it is another user's login id."""
        return await self._user_change(
            MgmtV1.user_update_phone_path,
            lambda: self._user.update_phone(login_id, phone, verified=True, fail_on_conflict=True),
        )

    async def activate(self, login_id: str) -> User:
        return await self._user_change(MgmtV1.user_update_status_path, lambda: self._user.activate(login_id))

    async def deactivate(self, login_id: str) -> User:
        return await self._user_change(
            MgmtV1.user_update_status_path, lambda: self._user.deactivate(login_id)
        )

    async def delete_user(self, user_id: str) -> None:
        await self._call(MgmtV1.user_delete_path, lambda: self._user.delete_by_user_id(user_id))

    async def users_by_ids(self, user_ids: Sequence[str]) -> list[User]:
        """The users with these IDs that still exist (test users included), in one search per 1,000."""
        found: list[User] = []
        for ids in _chunks(user_ids, SEARCH_LIMIT):
            users, _ = await self.search_users(
                UserFilter(user_ids=tuple(ids), test_users="include"), page=0, limit=len(ids)
            )
            found.extend(users)
        return found

    async def set_statuses(
        self, login_ids: Sequence[str], status: str
    ) -> tuple[list[str], list[tuple[str, str]]]:
        """Enable or disable these users in one `patch_batch` request: (login IDs patched, (login ID,
        failure) of the others). Patching the status again is harmless, so a lost answer is retried
        by the caller after looking."""
        users = [UserObj(login_id, status=status) for login_id in login_ids]
        if not users:
            return [], []
        answer = await self._call(MgmtV1.user_patch_batch_path, lambda: self._user.patch_batch(users))
        patched = [_first_login_id(u) for u in (answer or {}).get("patchedUsers") or ()]
        failed = [
            (_first_login_id(f.get("user") or {}), str(f.get("failure", "")))
            for f in (answer or {}).get("failedUsers") or ()
        ]
        return patched, failed

    async def delete_users(self, user_ids: Sequence[str]) -> None:
        """Delete these users in one `delete_batch` request (the caller chooses the batch size)."""
        if not user_ids:
            return
        await self._call(MgmtV1.user_delete_batch_path, lambda: self._user.delete_batch(list(user_ids)))

    # -- anonymous users and their sessions ------------------------------------------------------

    async def create_anonymous_user(
        self, tenant_id: str, default_password: str, *, login_id: str | None = None
    ) -> AnonymousSession:
        """Create an anonymous user by the KB recipe (anonconsole.gateway.recipe), each step paced.

        A caller that must find the user again after a lost answer chooses its `login_id` first.
        """
        return await recipe.create_anonymous_user(
            self._client,
            tenant_id=tenant_id,
            default_password=default_password,
            login_id=login_id,
            run=self._call,
        )

    async def validate_session(self, session_jwt: str) -> dict[str, Any]:
        """The verified claims of a session JWT (signature checked against the project's JWKS)."""
        return await self._call(
            EndpointsV2.public_key_path, lambda: self._client.validate_session(session_jwt)
        )

    async def refresh_session(self, refresh_jwt: str) -> dict[str, Any]:
        """A new session from a refresh JWT; the answer holds both tokens' verified claims."""
        return await self._call(
            EndpointsV1.refresh_token_path, lambda: self._client.refresh_session(refresh_jwt)
        )

    # -- tenants ----------------------------------------------------------------------------------

    async def create_tenant(self, name: str, tenant_id: str | None = None) -> str:
        """Create a tenant; returns its id."""
        answer = await self._call(MgmtV1.tenant_create_path, lambda: self._tenant.create(name, id=tenant_id))
        return str(answer["id"])

    async def load_tenant(self, tenant_id: str) -> Tenant:
        answer = await self._call(MgmtV1.tenant_load_path, lambda: self._tenant.load(tenant_id), read=True)
        return Tenant.from_api(answer)

    async def load_all_tenants(self) -> list[Tenant]:
        answer = await self._call(MgmtV1.tenant_load_all_path, self._tenant.load_all, read=True)
        return [Tenant.from_api(t) for t in answer.get("tenants") or ()]

    async def find_tenant_by_name(self, name: str) -> Tenant | None:
        """The tenant with exactly this name, or None (Descope's tenant names are unique)."""
        answer = await self._call(
            MgmtV1.tenant_search_all_path, lambda: self._tenant.search_all(names=[name]), read=True
        )
        tenants = [Tenant.from_api(t) for t in answer.get("tenants") or ()]
        return next((t for t in tenants if t.name == name), None)

    async def load_tenant_settings(self, tenant_id: str) -> SessionSettings:
        answer = await self._call(
            MgmtV1.tenant_settings_path, lambda: self._tenant.load_settings(tenant_id), read=True
        )
        return SessionSettings.from_api(answer, tenant_id)

    async def update_tenant_settings(self, tenant_id: str, settings: SessionSettings) -> SessionSettings:
        """Write `settings` to the tenant and return what the service then reports.

        The SDK always sends `selfProvisioningDomains` (and it overwrites), so the current list is
        loaded first and sent back unchanged, as are `domains`; `settings`' own lists are ignored.
        """
        current = await self.load_tenant_settings(tenant_id)
        kwargs = _settings_kwargs(settings)

        def update() -> Awaitable[None]:
            return self._tenant.update_settings(  # type: ignore[no-any-return]  # the SDK is untyped
                tenant_id,
                list(current.self_provisioning_domains),
                domains=list(current.domains),
                **kwargs,
            )

        await self._call(MgmtV1.tenant_settings_path, update)
        return await self.load_tenant_settings(tenant_id)

    # -- converting an anonymous user (operations.convert) -------------------------------------------
    # Added for the conversion wizard; the methods above are unchanged.

    async def users_with_address(self, address: str) -> list[User]:
        """Every user holding `address` as a login ID, an email or a phone, whatever its case; test
        users and users of any status included (a disabled user still owns its addresses)."""
        variants = tuple(dict.fromkeys([address, address.lower()]))
        filters = [UserFilter(login_ids=variants, test_users="include")]
        if "@" in address:
            filters.append(UserFilter(emails=variants, test_users="include"))
        else:
            filters.append(UserFilter(phones=(address,), test_users="include"))
        found: dict[str, User] = {}
        for wanted in filters:
            users, _ = await self.search_users(wanted, page=0, limit=100)
            found.update((user.user_id, user) for user in users)
        return list(found.values())

    async def management_sign_in(self, login_id: str, *, refresh_seconds: int = 900) -> str:
        """A refresh JWT for the user, without its credentials (`mgmt.jwt.sign_in`): what the OTP
        update calls need to act on its behalf. Short-lived; end it with `end_session`. Descope
        records it as a sign-in of the user."""
        options = MgmtLoginOptions(refresh_duration=refresh_seconds)
        answer = await self._call(
            MgmtV1.mgmt_sign_in_path, lambda: self._client.mgmt.jwt.sign_in(login_id, options)
        )
        return str(answer["refreshSessionToken"]["jwt"])

    async def send_update_code(self, login_id: str, address: str, *, phone: bool, refresh_jwt: str) -> str:
        """Have Descope send a one-time code to `address`, a new email (or phone, by text message) of the
        user signed in by `refresh_jwt`; verifying the code adds it as a verified login ID. Returns the
        masked address Descope sent it to. `Conflict` when another user has it as a login ID."""

        async def send() -> str:
            try:
                if phone:
                    return await self._client.otp.update_user_phone(
                        DeliveryMethod.SMS, login_id, address, refresh_jwt, add_to_login_ids=True
                    )
                return await self._client.otp.update_user_email(
                    login_id, address, refresh_jwt, add_to_login_ids=True
                )
            except AuthException as exc:
                raise _session_refused(exc) or exc from None

        path = (
            f"{EndpointsV1.update_user_phone_otp_path}/sms"
            if phone
            else EndpointsV1.update_user_email_otp_path
        )
        return str(await self._call(path, send))

    async def verify_update_code(self, login_id: str, code: str, *, phone: bool) -> tuple[User, str]:
        """Verify the code sent by `send_update_code`: the user as Descope then holds it, and the
        refresh JWT of the session Descope opened for it (end it with `end_session`).
        `core.convert.CodeRejected` says why a code was refused (wrong, expired, too many tries)."""
        method = DeliveryMethod.SMS if phone else DeliveryMethod.EMAIL

        async def verify() -> dict[str, Any]:
            try:
                return await self._client.otp.verify_code(method, login_id, code)
            except AuthException as exc:
                body = server_error_body(exc.error_message)
                reason = CODE_REJECTIONS.get(str(body.get("errorCode", "")))
                if reason is not None:
                    raise CodeRejected(reason, f"HTTP {exc.status_code} {body.get('errorCode')}") from None
                raise

        path = f"{EndpointsV1.verify_code_auth_path}/{'sms' if phone else 'email'}"
        answer = await self._call(path, verify)
        return User.from_api(answer["user"]), str(answer["refreshSessionToken"]["jwt"])

    async def end_session(self, refresh_jwt: str) -> None:
        """Log out the one session of this refresh JWT (the user's other sessions stay)."""

        async def logout() -> None:
            try:
                await self._client.logout(refresh_jwt)
            except AuthException as exc:
                raise _session_refused(exc) or exc from None

        await self._call(EndpointsV1.logout_path, logout)

    async def update_login_id(self, login_id: str, new_login_id: str | None) -> User:
        """Replace the login ID `login_id` by `new_login_id`, or remove it when None (a user keeps at
        least one). `Conflict` when `new_login_id` is another user's."""
        return await self._user_change(
            MgmtV1.user_update_login_id_path, lambda: self._user.update_login_id(login_id, new_login_id)
        )

    async def set_email(self, login_id: str, email: str, *, verified: bool) -> User:
        """Set the email and its verified flag as given ("" removes it): for putting back a state seen
        before. Use `update_email` for a new address (it refuses another user's)."""
        return await self._user_change(
            MgmtV1.user_update_email_path,
            lambda: self._user.update_email(login_id, email or None, verified=verified),
        )

    async def set_phone(self, login_id: str, phone: str, *, verified: bool) -> User:
        """Set the phone and its verified flag as given ("" removes it); see `set_email`."""
        return await self._user_change(
            MgmtV1.user_update_phone_path,
            lambda: self._user.update_phone(login_id, phone or None, verified=verified),
        )

    async def update_display_name(self, login_id: str, name: str) -> User:
        """Set the user's display name ("" clears it)."""
        return await self._user_change(
            MgmtV1.user_update_name_path, lambda: self._user.update_display_name(login_id, name)
        )


def _session_refused(exc: AuthException) -> GatewayError | None:
    """A 401 on an auth call acting for a user means its session was refused, not the management key
    (which `map_error` would say): the user was signed out, disabled or deleted meanwhile."""
    if exc.status_code != 401:
        return None
    reason = server_error_body(exc.error_message).get("errorMessage") or ""
    text = (
        "Descope refused the session the console opened for this user "
        "(signed out, disabled or deleted meanwhile)"
    )
    return TokenInvalid(f"{text}{f': {reason}' if reason else ''}.", f"HTTP 401 {exc.error_message or ''}")
