"""Plan the "Anonymous Users" tenant: create or adopt it, and the exact diff of its session settings.

The plan is computed before anything changes, so the wizard can show it (before → after, in plain
words) and apply it all at once; re-running with the values already in force is a no-op. Settings the
console does not manage are carried over from what the tenant has, because Descope's settings update
overwrites what it is sent (descope-api.md §2.2). Pure Python: no Qt, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from anonconsole.core.classify import ANONYMOUS_TENANT_NAME, format_duration
from anonconsole.core.records import UNIT_SECONDS, SessionSettings, Tenant

MIN_SESSION_SECONDS = 3 * 60  # Descope: "session token timeout must be at least 3 minutes"
_YEAR = 365 * 86400
# Descope documents no maximum for the refresh token (descope-api.md §2.2 and §9; its docs were
# searched again): the console's own ceiling, so a typo (99,999 days) can never be applied.
MAX_REFRESH_SECONDS = 10 * _YEAR
# Legal, but an anonymous user living longer than this is almost surely a typo (the KB article's
# example is one year): the wizard asks for a confirmation.
DOUBTFUL_REFRESH_SECONDS = 3 * _YEAR


@dataclass(frozen=True, slots=True)
class Lifetime:
    """A token lifetime as Descope stores it: an integer and a unit (minutes|hours|days|weeks)."""

    value: int
    unit: str

    @property
    def seconds(self) -> int:
        return self.value * UNIT_SECONDS[self.unit]

    def __str__(self) -> str:
        unit = self.unit if self.value != 1 else self.unit.removesuffix("s")
        return f"{self.value} {unit}"

    @classmethod
    def of(cls, value: int, unit: str) -> Lifetime | None:
        """From a loaded setting; None when unset (0 or no unit)."""
        return cls(int(value), unit) if value and unit in UNIT_SECONDS else None


@dataclass(frozen=True, slots=True)
class Desired:
    """What the admin asks for. Defaults follow the KB article: one year, 10-minute sessions."""

    refresh: Lifetime = Lifetime(365, "days")
    session: Lifetime = Lifetime(10, "minutes")
    inactivity: Lifetime | None = None


# Refresh-token lifetimes offered by the wizard, i.e. how long an anonymous user lives.
PRESETS: dict[str, Lifetime] = {
    "1 year": Lifetime(365, "days"),
    "6 months": Lifetime(182, "days"),
    "90 days": Lifetime(90, "days"),
    "30 days": Lifetime(30, "days"),
    "1 week": Lifetime(1, "weeks"),
}


def validate(desired: Desired) -> list[str]:
    """Everything Descope would refuse (and the console's ceiling on the refresh token), as
    sentences; empty when the settings are acceptable."""
    problems: list[str] = []
    named = (
        ("Refresh token", desired.refresh),
        ("Session token", desired.session),
        ("Inactivity timeout", desired.inactivity),
    )
    for label, lifetime in named:
        if lifetime is None:
            continue
        if lifetime.unit not in UNIT_SECONDS:
            problems.append(f"{label} unit must be one of {', '.join(UNIT_SECONDS)}, not {lifetime.unit!r}.")
        elif lifetime.value <= 0:
            problems.append(f"{label} lifetime must be a positive whole number.")
    if problems:
        return problems
    if desired.session.seconds < MIN_SESSION_SECONDS:
        problems.append("Session token lifetime must be at least 3 minutes.")
    if desired.session.seconds > desired.refresh.seconds:
        problems.append(
            f"Session token lifetime ({desired.session}) cannot be longer than the refresh token "
            f"lifetime ({desired.refresh})."
        )
    if desired.inactivity and desired.inactivity.seconds > desired.refresh.seconds:
        problems.append(
            f"Inactivity timeout ({desired.inactivity}) cannot be longer than the refresh token "
            f"lifetime ({desired.refresh})."
        )
    if desired.refresh.seconds > MAX_REFRESH_SECONDS:
        problems.append(
            f"Refresh token lifetime ({desired.refresh}, {format_duration(desired.refresh.seconds)}) must "
            "be at most 10 years: AnonConsole's limit, as Descope documents none."
        )
    return problems


def doubts(desired: Desired) -> list[str]:
    """What Descope accepts but is almost surely a mistake, as sentences; empty when nothing is.

    The wizard shows them and asks the admin to confirm before going on. Call on settings that
    `validate` accepts.
    """
    found: list[str] = []
    if desired.refresh.seconds > DOUBTFUL_REFRESH_SECONDS:
        found.append(
            f"Anonymous users would live {format_duration(desired.refresh.seconds)} after their last "
            "sign-in: more than 3 years, which is rarely meant (the usual lifetime is about a year)."
        )
    if desired.inactivity and desired.inactivity.seconds < desired.session.seconds:
        found.append(
            f"The inactivity timeout ({desired.inactivity}) is shorter than the session token lifetime "
            f"({desired.session}): anonymous users would be signed out, and lose their anonymous "
            f"account, after {desired.inactivity} without activity."
        )
    return found


class Action(StrEnum):
    CREATE = "create"
    ADOPT = "adopt"


@dataclass(frozen=True, slots=True)
class Change:
    """One setting that will change, before → after, as the review page shows it."""

    setting: str
    before: str
    after: str


@dataclass(frozen=True)
class TenantPlan:
    """What applying the setup will do.

    Attributes:
        action: create a new tenant, or adopt (and possibly change) an existing one.
        tenant_name: the tenant's name.
        tenant_id: the existing tenant's ID (None when it is to be created).
        changes: the settings that change; empty for an adopted tenant already set up.
        settings: the complete settings to write (unmanaged fields carried over).
        desired: what was asked for.
    """

    action: Action
    tenant_name: str
    tenant_id: str | None
    changes: tuple[Change, ...]
    settings: SessionSettings
    desired: Desired

    @property
    def is_noop(self) -> bool:
        return self.action is Action.ADOPT and not self.changes

    def summary(self) -> list[str]:
        """The plan in plain words, one sentence per line."""
        lines = []
        if self.action is Action.CREATE:
            lines.append(f'A new tenant named "{self.tenant_name}" will be created.')
        elif self.is_noop:
            lines.append(f'The tenant "{self.tenant_name}" is already set up as asked: nothing will change.')
        else:
            lines.append(
                f'The existing tenant "{self.tenant_name}" ({self.tenant_id}) will be adopted and changed.'
            )
        days = format_duration(self.desired.refresh.seconds)
        lines.append(
            f"Anonymous users will be culled {days} after their last sign-in (or their creation, if they "
            "never signed in): their refresh token cannot be valid any longer."
        )
        lines.append(f"Their sessions will need refreshing every {self.desired.session}.")
        if self.desired.inactivity:
            lines.append(f"They will be signed out after {self.desired.inactivity} without activity.")
        return lines


def plan(
    tenant: Tenant | None,
    current: SessionSettings | None,
    desired: Desired,
    *,
    name: str = ANONYMOUS_TENANT_NAME,
) -> TenantPlan:
    """The plan to bring `tenant` (None: not there yet) with settings `current` to `desired`.

    Raises ValueError with the sentences of `validate` when the desired settings are invalid.
    """
    problems = validate(desired)
    if problems:
        raise ValueError(" ".join(problems))
    base = current or SessionSettings(tenant_id=tenant.id if tenant else "")
    target = replace(
        base,
        enabled=True,
        refresh_token_expiration=desired.refresh.value,
        refresh_token_expiration_unit=desired.refresh.unit,
        session_token_expiration=desired.session.value,
        session_token_expiration_unit=desired.session.unit,
        enable_inactivity=desired.inactivity is not None,
        inactivity_time=desired.inactivity.value if desired.inactivity else base.inactivity_time,
        inactivity_time_unit=desired.inactivity.unit if desired.inactivity else base.inactivity_time_unit,
    )
    changes = _diff(base if current else None, target)
    return TenantPlan(
        action=Action.ADOPT if tenant else Action.CREATE,
        tenant_name=tenant.name if tenant else name,
        tenant_id=tenant.id if tenant else None,
        changes=changes,
        settings=target,
        desired=desired,
    )


def _diff(before: SessionSettings | None, after: SessionSettings) -> tuple[Change, ...]:
    """The managed settings that differ, compared by meaning (52 weeks → 364 days is no change)."""
    old = before or SessionSettings()
    rows = (
        ("Custom session management", _switch(old.enabled), _switch(after.enabled)),
        (
            "Refresh token lifetime (anonymous user lifetime)",
            Lifetime.of(old.refresh_token_expiration, old.refresh_token_expiration_unit),
            Lifetime.of(after.refresh_token_expiration, after.refresh_token_expiration_unit),
        ),
        (
            "Session token lifetime",
            Lifetime.of(old.session_token_expiration, old.session_token_expiration_unit),
            Lifetime.of(after.session_token_expiration, after.session_token_expiration_unit),
        ),
        ("Inactivity timeout", _inactivity(old), _inactivity(after)),
    )
    return tuple(
        Change(label, _text(was), _text(will)) for label, was, will in rows if _meaning(was) != _meaning(will)
    )


def _switch(on: bool) -> str:
    return "on" if on else "off"


def _inactivity(settings: SessionSettings) -> Lifetime | str:
    if not settings.enable_inactivity:
        return "off"
    return Lifetime.of(settings.inactivity_time, settings.inactivity_time_unit) or "off"


def _meaning(value: Lifetime | str | None) -> int | str | None:
    return value.seconds if isinstance(value, Lifetime) else value


def _text(value: Lifetime | str | None) -> str:
    return "not set" if value is None else str(value)
