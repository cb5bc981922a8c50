"""The anonymous-user recipe of Descope's knowledge-base article, as one function to copy.

An app backend creates an anonymous user for a new visitor like this (KB "Anonymous Users"):

1. sign up a user with a random login ID and a default password shared by all anonymous users;
2. add the user to the "Anonymous Users" tenant, whose custom session settings give it its lifetime;
3. replace the password with a random value; that response carries the session and refresh JWTs,
   which the app sets as the DS and DSR cookies.

Nothing of the random password is kept: it exists only inside step 3. If step 2 or 3 fails, the
half-made user is deleted, so no anonymous user without a tenant or with the shared password remains.

Only needs a `DescopeClientAsync` with a management key (for step 2). `run` lets the console pace each
step to Descope's rate limits; an app can leave it out.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from descope import DescopeClientAsync
from descope.common import EndpointsV1
from descope.management.common import MgmtV1

T = TypeVar("T")
Runner = Callable[[str, Callable[[], Awaitable[Any]]], Awaitable[Any]]

# A reserved top-level domain (RFC 2606): a random login ID that looks like the KB's sample
# ("h89asdf@0ahsd8f.com") but can never be somebody's real address.
LOGIN_ID_DOMAIN_SUFFIX = ".invalid"
_ALPHABET = string.ascii_lowercase + string.digits


def random_login_id() -> str:
    """A random, unguessable login ID like `k3v9x0qa@f8w2m1zt.invalid`."""
    local = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    domain = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    return f"{local}@{domain}{LOGIN_ID_DOMAIN_SUFFIX}"


def random_password() -> str:
    """A random password that meets any sensible policy (all character classes, 40+ characters)."""
    return secrets.token_urlsafe(32) + "aA1!"


@dataclass(frozen=True)
class AnonymousSession:
    """What the recipe gives the app: the new user and its tokens for the DS / DSR cookies.

    The JWTs are bearer credentials, so they are kept out of `repr`.
    """

    user_id: str
    login_id: str
    tenant_id: str
    session_jwt: str = field(repr=False)
    refresh_jwt: str = field(repr=False)
    cookie_max_age: int
    cookie_expiration: int
    cookie_path: str
    cookie_domain: str
    first_seen: bool


async def _direct(_path: str, call: Callable[[], Awaitable[T]]) -> T:
    return await call()


async def create_anonymous_user(
    client: DescopeClientAsync,
    *,
    tenant_id: str,
    default_password: str,
    login_id: str | None = None,
    run: Runner = _direct,
) -> AnonymousSession:
    """Create one anonymous user by the KB recipe and return its session (see the module docstring)."""
    login_id = login_id or random_login_id()
    await run(EndpointsV1.sign_up_password_path, lambda: client.password.sign_up(login_id, default_password))
    try:
        await run(MgmtV1.user_add_tenant_path, lambda: client.mgmt.user.add_tenant(login_id, tenant_id))
        jwt = await run(
            EndpointsV1.replace_password_path,
            lambda: client.password.replace(login_id, default_password, random_password()),
        )
    except BaseException:
        await run(MgmtV1.user_delete_path, lambda: client.mgmt.user.delete(login_id))
        raise
    cookie = jwt.get("cookieData") or {}
    return AnonymousSession(
        user_id=jwt["userId"],
        login_id=login_id,
        tenant_id=tenant_id,
        session_jwt=jwt["sessionToken"]["jwt"],
        refresh_jwt=jwt["refreshSessionToken"]["jwt"],
        cookie_max_age=int(cookie.get("maxAge", 0)),
        cookie_expiration=int(cookie.get("exp", 0)),
        cookie_path=str(cookie.get("path", "/")),
        cookie_domain=str(cookie.get("domain", "")),
        first_seen=bool(jwt.get("firstSeen", False)),
    )
