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


class Kind(StrEnum):
    """The three kinds of users the console tells apart."""

    ANONYMOUS = "anonymous"
    REGULAR = "regular"
    ATTENTION = "attention"

    @property
    def label(self) -> str:
        return {"anonymous": "Anonymous", "regular": "Regular", "attention": "Needs attention"}[self.value]


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


@dataclass(frozen=True, slots=True)
class Classification:
    """The verdict for one user at one moment.

    Attributes:
        kind: anonymous, regular or needs attention.
        reason: why, in words a support engineer would use.
        last_active: epoch seconds of the last sign-in, else of creation (anonymous users only).
        active_since_sign_in: True when `last_active` is a sign-in, False when it is the creation.
        expires_at: epoch seconds when the refresh token can no longer be valid (plus grace),
            None when not anonymous or no lifetime is known.
        expired_for: seconds since `expires_at` (0 when not expired or unknown).
        age_seconds: seconds since `last_active` (anonymous users only).
    """

    kind: Kind
    reason: str
    last_active: int | None = None
    active_since_sign_in: bool = False
    expires_at: int | None = None
    expired_for: int = 0
    age_seconds: int | None = None

    @property
    def expired(self) -> bool:
        return self.expired_for > 0


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
    in_tenant = bool(policy.tenant_id) and user.in_tenant(policy.tenant_id)
    verified = _verified_contact(user)

    if not in_tenant:
        if verified:
            return Classification(Kind.REGULAR, f"Has a {verified}")
        if not policy.tenant_id:
            return Classification(
                Kind.ATTENTION, "No anonymous tenant is set up, and no verified email or phone"
            )
        return Classification(
            Kind.ATTENTION, "Not in the anonymous tenant, but has no verified email or phone"
        )

    if verified:
        return Classification(
            Kind.ATTENTION, f"Has a {verified} but is still in the anonymous tenant (conversion unfinished)"
        )
    identifying = _identifying_data(user)
    if identifying:
        return Classification(Kind.ATTENTION, f"In the anonymous tenant but {identifying}")
    if user.status == "disabled":
        return Classification(Kind.ATTENTION, "Anonymous user is disabled")
    return _anonymous(user, policy, last_sign_in=last_sign_in, now=now)


def _anonymous(user: User, policy: AnonymousPolicy, *, last_sign_in: int | None, now: int) -> Classification:
    signed_in = last_sign_in is not None and last_sign_in > 0
    last_active = last_sign_in if signed_in else user.created_time
    since = "last sign-in" if signed_in else "creation (never signed in)"
    if policy.refresh_seconds is None:
        return Classification(
            Kind.ANONYMOUS,
            "In the anonymous tenant, no verified email or phone; lifetime unknown: the tenant has no "
            "custom session management",
            last_active=last_active,
            active_since_sign_in=signed_in,
            age_seconds=max(0, now - last_active),
        )
    expires_at = int(last_active) + policy.refresh_seconds + policy.grace_seconds
    expired_for = max(0, now - expires_at)
    state = (
        f"expired {format_duration(expired_for)} ago"
        if expired_for
        else (f"expires in {format_duration(expires_at - now)}")
    )
    return Classification(
        Kind.ANONYMOUS,
        f"In the anonymous tenant, no verified email or phone; {state} (counted from {since})",
        last_active=last_active,
        active_since_sign_in=signed_in,
        expires_at=expires_at,
        expired_for=expired_for,
        age_seconds=max(0, now - int(last_active)),
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
