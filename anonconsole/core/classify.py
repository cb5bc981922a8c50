"""Anonymous, regular or needs attention: the one rule the views, the cull and the CLI all share.

A user is *anonymous* when it is in the anonymous tenant and has no verified email or phone and
nothing else identifying; *regular* when it has a verified email or phone and is not in that tenant;
anything in between *needs attention*, with the reason in plain words (see ARCHITECTURE.md).

An anonymous user's lifetime is the anonymous tenant's refresh-token lifetime, counted from its last
sign-in or, if it never signed in, from its creation: past that its refresh token cannot be valid.
Pure Python: no Qt, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from anonconsole.core.records import User

# The tenant the KB recipe puts anonymous users in; a profile may name another.
ANONYMOUS_TENANT_NAME = "Anonymous Users"


class Kind(StrEnum):
    """The kinds of users the console tells apart: the three of the lifecycle, and Descope's test
    users, which exist for automated tests and belong to none of them (never anonymous, never culled,
    nothing for a person to look at)."""

    ANONYMOUS = "anonymous"
    REGULAR = "regular"
    ATTENTION = "attention"
    TEST = "test"

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]


_KIND_LABELS = {
    Kind.ANONYMOUS: "Anonymous",
    Kind.REGULAR: "Regular",
    Kind.ATTENTION: "Needs attention",
    Kind.TEST: "Test user",
}


@dataclass(frozen=True, slots=True)
class AnonymousPolicy:
    """What makes a user anonymous in this project, and how long it lives.

    Attributes:
        tenant_id: the anonymous tenant's ID ("" when not set up: then nobody is anonymous).
        refresh_seconds: the tenant's refresh-token lifetime, None when the tenant has no custom
            session management (its users then get the project's lifetime, which the API does not
            expose, so no expiry can be computed).
        grace_seconds: extra time before an expired user becomes a cull candidate.
    """

    tenant_id: str
    refresh_seconds: int | None
    grace_seconds: int = 0


class Cause(StrEnum):
    """Why a user got its kind; `Classification.reason` turns it into a sentence."""

    TEST_USER = "test_user"
    VERIFIED = "verified"
    NO_TENANT_SETUP = "no_tenant_setup"
    UNVERIFIED_OUTSIDE = "unverified_outside"
    VERIFIED_IN_TENANT = "verified_in_tenant"
    IDENTIFYING = "identifying"
    DISABLED = "disabled"
    ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class Classification:
    """The verdict for one user at one moment.

    The sentence (`reason`) is built only when asked for: tables classify 100k users and show a
    handful of reasons.

    Attributes:
        kind: anonymous, regular or needs attention.
        cause: why, as a code; `detail` names the thing found (an address, a name).
        last_active: epoch seconds of the last sign-in, else of creation (anonymous users only).
        active_since_sign_in: True when `last_active` is a sign-in, False when it is the creation.
        expires_at: epoch seconds when the refresh token can no longer be valid (plus grace),
            None when not anonymous or no lifetime is known.
        expired_for: seconds since `expires_at` (0 when not expired or unknown).
        remaining: seconds until `expires_at` (0 when expired or unknown).
        age_seconds: seconds since `last_active` (anonymous users only).
    """

    kind: Kind
    cause: Cause
    detail: str = ""
    last_active: int | None = None
    active_since_sign_in: bool = False
    expires_at: int | None = None
    expired_for: int = 0
    remaining: int = 0
    age_seconds: int | None = None

    @property
    def expired(self) -> bool:
        return self.expired_for > 0

    @property
    def reason(self) -> str:
        """Why, in words a support engineer would use."""
        match self.cause:
            case Cause.TEST_USER:
                return "A Descope test user (for automated tests): never anonymous, never culled"
            case Cause.VERIFIED:
                return f"Has a {self.detail}"
            case Cause.NO_TENANT_SETUP:
                return "No anonymous tenant is set up, and no verified email or phone"
            case Cause.UNVERIFIED_OUTSIDE:
                return "Not in the anonymous tenant, but has no verified email or phone"
            case Cause.VERIFIED_IN_TENANT:
                return f"Has a {self.detail} but is still in the anonymous tenant (conversion unfinished)"
            case Cause.IDENTIFYING:
                return f"In the anonymous tenant but {self.detail}"
            case Cause.DISABLED:
                return "Anonymous user is disabled"
        base = "In the anonymous tenant, no verified email or phone"
        if self.expires_at is None:
            return f"{base}; lifetime unknown: the tenant has no custom session management"
        since = "last sign-in" if self.active_since_sign_in else "creation (never signed in)"
        if self.expired:
            state = f"expired {format_duration(self.expired_for)} ago"
        else:
            state = f"expires in {format_duration(self.remaining)}"
        return f"{base}; {state} (counted from {since})"


def _verified_contact(user: User) -> str:
    """The verified email or phone, described; "" when there is none."""
    if user.verified_email and user.email:
        return f"verified email {user.email}"
    if user.verified_phone and user.phone:
        return f"verified phone {user.phone}"
    return ""


def _identifying_data(user: User) -> str:
    """What makes an unverified user look like a real person, "" when nothing does.

    The anonymous-user recipe leaves only a random login ID (sometimes copied into `email`,
    unverified): a name, a phone, an email other than the login ID, or a second login ID means
    someone typed real data in.
    """
    if user.name or user.given_name or user.family_name:
        return f"has a name ({user.name or user.given_name or user.family_name})"
    if user.phone:
        return f"has an unverified phone {user.phone}"
    if user.email and user.email not in user.login_ids:
        return f"has an unverified email {user.email}"
    if len(user.login_ids) > 1:
        return f"has {len(user.login_ids)} login IDs"
    return ""


def classify(user: User, policy: AnonymousPolicy, *, last_sign_in: int | None, now: int) -> Classification:
    """Decide the kind of `user` at `now` (epoch seconds); `last_sign_in` comes from login history."""
    kind, cause, detail = _verdict(user, policy.tenant_id)
    if cause is Cause.ANONYMOUS:
        return _anonymous(user, policy, last_sign_in=last_sign_in, now=now)
    return Classification(kind, cause, detail)


def kind_of(user: User, tenant_id: str) -> Kind:
    """The kind alone: it does not depend on time or sign-ins, so tables compute it once per user."""
    return _verdict(user, tenant_id)[0]


def _verdict(user: User, tenant: str) -> tuple[Kind, Cause, str]:
    """Kind, cause and detail: everything about the verdict that sign-ins and the clock cannot change."""
    if user.test:
        return Kind.TEST, Cause.TEST_USER, ""
    in_tenant = bool(tenant) and any(t.tenant_id == tenant for t in user.tenants)
    verified = _verified_contact(user)

    if not in_tenant:
        if verified:
            return Kind.REGULAR, Cause.VERIFIED, verified
        if not tenant:
            return Kind.ATTENTION, Cause.NO_TENANT_SETUP, ""
        return Kind.ATTENTION, Cause.UNVERIFIED_OUTSIDE, ""

    if verified:
        return Kind.ATTENTION, Cause.VERIFIED_IN_TENANT, verified
    identifying = _identifying_data(user)
    if identifying:
        return Kind.ATTENTION, Cause.IDENTIFYING, identifying
    if user.status == "disabled":
        return Kind.ATTENTION, Cause.DISABLED, ""
    return Kind.ANONYMOUS, Cause.ANONYMOUS, ""


def _anonymous(user: User, policy: AnonymousPolicy, *, last_sign_in: int | None, now: int) -> Classification:
    signed_in = last_sign_in is not None and last_sign_in > 0
    last_active = int(last_sign_in if signed_in else user.created_time)  # type: ignore[arg-type]
    age = max(0, now - last_active)
    if policy.refresh_seconds is None:
        return Classification(
            Kind.ANONYMOUS,
            Cause.ANONYMOUS,
            last_active=last_active,
            active_since_sign_in=signed_in,
            age_seconds=age,
        )
    expires_at = last_active + policy.refresh_seconds + policy.grace_seconds
    return Classification(
        Kind.ANONYMOUS,
        Cause.ANONYMOUS,
        last_active=last_active,
        active_since_sign_in=signed_in,
        expires_at=expires_at,
        expired_for=max(0, now - expires_at),
        remaining=max(0, expires_at - now),
        age_seconds=age,
    )


def format_duration(seconds: int) -> str:
    """A short human duration: "3 days", "5 hours", "2 minutes", "11 months", "1 year 2 months"."""
    seconds = max(0, int(seconds))
    days = seconds // 86400
    if days >= 365:
        years, rest = divmod(days, 365)
        months = rest // 30
        text = _plural(years, "year")
        return f"{text} {_plural(months, 'month')}" if months else text
    if days >= 60:
        return _plural(days // 30, "month")
    if days >= 1:
        return _plural(days, "day")
    if seconds >= 3600:
        return _plural(seconds // 3600, "hour")
    if seconds >= 60:
        return _plural(seconds // 60, "minute")
    return _plural(seconds, "second")


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"
