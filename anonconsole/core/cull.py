"""Which anonymous users to cull, and why the others are kept: the plan a cull runs from.

An anonymous user lives as long as the anonymous tenant's refresh token, counted from its last
sign-in (else its creation). Past that lifetime (plus the profile's grace) its refresh token cannot
be valid and the KB's advice is to delete it ("Cull Accounts"). Deleting cannot be undone, so the
plan is conservative: whatever hints that a user is a real person, or that someone else looks after
it, keeps the user, and the preview says why. A plan is data (JSON with a hash of its content), so
the preview, the journal and the CLI act on exactly what was approved; `recheck` looks at each user
again right before its batch runs.

Exclusions are listed for the users "past or near" the cutoff: those created before it, whom their
age alone could make candidates. Younger users are only counted in the age buckets.

Pure Python + numpy: no Qt, no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from types import MappingProxyType
from typing import Any, ClassVar, Literal, NamedTuple, TypeAlias, TypeVar, cast

import numpy as np
import numpy.typing as npt

from anonconsole.core.classify import AnonymousPolicy, Cause, Kind, classify, format_duration
from anonconsole.core.plan_file import (
    JsonReader,
    PlanError,
    canonical,
    content_hash,
    json_record,
    object_item,
    text_item,
)
from anonconsole.core.records import EMPTY_MAPPING, User, UserTenant
from anonconsole.core.user_table import Rows, UserTable

R = TypeVar("R")
STEP_ROWS = 4_000  # candidates per planning step (~8 ms at 500,000)
HASH_ROWS = 2_000  # candidates per hashing step (~10 ms)

# A margin so a clock a few minutes off (ours or the service's) never makes a live token look expired.
CLOCK_SKEW_SECONDS = 300
PLAN_VERSION = 1

_DAY = 86400
_MONTH = 30 * _DAY  # the units of `classify.format_duration`
_YEAR = 365 * _DAY


class Exclusion(StrEnum):
    """Why a user of the anonymous tenant past (or near) the cutoff is kept.

    When several apply, the first in this order is reported (see `plan_cull`).
    """

    TEST_USER = "test_user"
    VERIFIED = "verified"
    OTHER_TENANTS = "other_tenants"
    NEEDS_ATTENTION = "needs_attention"
    FUTURE_SIGN_IN = "future_sign_in"
    DISABLED_ELSEWHERE = "disabled_elsewhere"
    KEEP_RULE = "keep_rule"
    SIGNED_IN_AFTER_CUTOFF = "signed_in_after_cutoff"

    @property
    def reason(self) -> str:
        """A plain sentence for the preview dialog and the CLI."""
        return _REASONS[self]


_REASONS = {
    Exclusion.TEST_USER: "A test user: test users are never culled.",
    Exclusion.VERIFIED: "Has a verified email or phone: a real person whose conversion is unfinished.",
    Exclusion.OTHER_TENANTS: "Also in another tenant: it belongs to more than the anonymous tenant.",
    Exclusion.NEEDS_ATTENTION: (
        "Has identifying data (a name, an unverified email or phone, several login IDs): "
        "it needs a look before anything is done to it."
    ),
    Exclusion.FUTURE_SIGN_IN: "Its last sign-in is later than now (a clock is off): never acted on.",
    Exclusion.DISABLED_ELSEWHERE: "Disabled, but not by this console: left to whoever disabled it.",
    Exclusion.KEEP_RULE: "A keep-rule of the profile matches: the app marks it as owning data worth keeping.",
    Exclusion.SIGNED_IN_AFTER_CUTOFF: (
        "Created before the cutoff but signed in after it: its refresh token may still be valid."
    ),
}

_EXCLUSIONS: tuple[Exclusion, ...] = tuple(Exclusion)


# ---- keep-rules -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeepRule:
    """An attribute or role an app sets on anonymous users that own data worth keeping.

    Attributes:
        kind: "attribute" (a custom attribute) or "role" (a project role or a role in any tenant).
        name: the attribute's or role's name.
        value: for an attribute, the value it must equal (compared as text: true/false for
            booleans); None when being set (not null) is enough. Roles take no value.
    """

    kind: Literal["attribute", "role"]
    name: str
    value: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("attribute", "role"):
            raise ValueError(f'A keep-rule is about an "attribute" or a "role", not {self.kind!r}.')
        if not self.name or self.name != self.name.strip():
            raise ValueError("A keep-rule needs a name without surrounding blanks.")
        if self.kind == "role" and self.value is not None:
            raise ValueError(f'A role keep-rule takes no value: write "role:{self.name}".')

    @property
    def text(self) -> str:
        """The rule as `parse` reads it: "attribute:plan=paid", "attribute:hasData", "role:keeper"."""
        suffix = "" if self.value is None else f"={self.value}"
        return f"{self.kind}:{self.name}{suffix}"

    def matches(self, user: User) -> bool:
        return self.matches_parts(user.custom_attributes, user.role_names, user.tenants)

    def matches_parts(
        self,
        attributes: Mapping[str, object],
        role_names: Sequence[str],
        tenants: Iterable[UserTenant],
    ) -> bool:
        """`matches` on the only fields a rule reads (a table gives them without building a `User`)."""
        if self.kind == "role":
            return self.name in role_names or any(self.name in t.role_names for t in tenants)
        found = attributes.get(self.name)
        if found is None:
            return False
        return self.value is None or _attribute_text(found) == self.value

    @classmethod
    def parse(cls, text: str) -> KeepRule:
        """A rule from its text; ValueError with a sentence when it is not one."""
        kind, colon, rest = text.strip().partition(":")
        usage = 'A keep-rule looks like "attribute:NAME", "attribute:NAME=VALUE" or "role:NAME"'
        if not colon or kind not in ("attribute", "role"):
            raise ValueError(f"{usage}, not {text!r}.")
        name, equals, value = rest.partition("=")
        if not name.strip():
            raise ValueError(f"{usage}: {text!r} names no attribute or role.")
        if kind == "role":
            if equals:
                raise ValueError(f'A role keep-rule takes no value: write "role:{name.strip()}".')
            return cls("role", name.strip())
        return cls("attribute", name.strip(), value if equals else None)


def _attribute_text(value: object) -> str:
    """An attribute's value as a rule compares it: JSON's spelling of booleans, 1.0 as "1"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ---- rules, plans -------------------------------------------------------------------------------


class Stage(StrEnum):
    """What a cull does: delete at once, or disable first and delete the disabled later."""

    DELETE = "delete"
    DISABLE = "disable"
    DELETE_DISABLED = "delete_disabled"


@dataclass(frozen=True)
class CullRules:
    """What a profile says about culling its anonymous users.

    Attributes:
        tenant_id / tenant_name: the anonymous tenant.
        lifetime_seconds: the tenant's refresh-token lifetime (> 0).
        grace_seconds: extra time past the lifetime before a user becomes a candidate.
        keep_rules: users any of these match are kept.
        stage: delete, disable, or delete those the console disabled.
        disabled_by_console: user ID -> epoch s when the console disabled it (from its journals).
        disabled_for_seconds: DELETE_DISABLED only deletes users the console disabled at least
            this long ago (time for a real owner to complain).
    """

    tenant_id: str
    tenant_name: str
    lifetime_seconds: int
    grace_seconds: int = 0
    keep_rules: tuple[KeepRule, ...] = ()
    stage: Stage = Stage.DELETE
    disabled_by_console: Mapping[str, int] = field(default_factory=dict)
    disabled_for_seconds: int = 0

    def __post_init__(self) -> None:
        if not self.tenant_id:
            raise ValueError("No anonymous tenant is set: there is nothing to cull.")
        _check_lifetime(self.lifetime_seconds, self.grace_seconds)
        if self.disabled_for_seconds < 0:
            raise ValueError("How long users stay disabled before deletion cannot be negative.")
        object.__setattr__(self, "stage", Stage(self.stage))
        object.__setattr__(self, "keep_rules", tuple(self.keep_rules))
        # A read-only copy: the rules must not change under a plan made from them.
        object.__setattr__(self, "disabled_by_console", MappingProxyType(dict(self.disabled_by_console)))


def _check_lifetime(lifetime_seconds: int, grace_seconds: int) -> None:
    if lifetime_seconds <= 0:
        raise ValueError("The anonymous tenant's refresh-token lifetime must be longer than zero.")
    if grace_seconds < 0:
        raise ValueError("The grace period cannot be negative.")


def cutoff_for(now: int, lifetime_seconds: int, grace_seconds: int) -> int:
    """Users last active strictly before this moment (epoch s) are past their lifetime for sure."""
    return now - lifetime_seconds - grace_seconds - CLOCK_SKEW_SECONDS


class Candidate(NamedTuple):
    """A user the plan acts on, with the figures that made it one (times in epoch s).

    A named tuple: a 500,000-user plan builds half a million of them, 3x faster than frozen
    dataclasses would be built."""

    user_id: str
    login_id: str
    created_time: int
    last_sign_in: int | None
    last_active: int
    age_seconds: int
    status: str


@dataclass(frozen=True, slots=True)
class AgeBucket:
    """How many users of the anonymous tenant were last active `from_seconds`..`to_seconds` ago
    (to_seconds None: no upper bound), and how many of them are candidates."""

    label: str
    from_seconds: int
    to_seconds: int | None
    users: int
    candidates: int


_BUCKET_BOUNDS: tuple[tuple[str, int, int | None], ...] = (
    ("under 1 month", 0, _MONTH),
    ("1–3 months", _MONTH, 3 * _MONTH),
    ("3–6 months", 3 * _MONTH, 6 * _MONTH),
    ("6–12 months", 6 * _MONTH, _YEAR),
    ("1–2 years", _YEAR, 2 * _YEAR),
    ("2–3 years", 2 * _YEAR, 3 * _YEAR),
    ("over 3 years", 3 * _YEAR, None),
)
_BUCKET_EDGES = np.array([upper for _, _, upper in _BUCKET_BOUNDS[:-1]], dtype=np.int64)


@dataclass(frozen=True, slots=True)
class WhatIf:
    """Counts for another lifetime or grace, for the preview's what-if control."""

    lifetime_seconds: int
    grace_seconds: int
    cutoff: int
    count: int
    exclusions: Mapping[Exclusion, int]
    buckets: tuple[AgeBucket, ...]


@dataclass(frozen=True)
class CullPlan:
    """Everything a cull acts on, as approved; `plan_hash` covers all of it.

    Attributes:
        profile / project_id: where the plan was made.
        tenant_id / tenant_name, lifetime_seconds, grace_seconds, stage, disabled_for_seconds,
            keep_rules (as text): the rules it was made with.
        now: when it was made; cutoff: `cutoff_for(now, lifetime, grace)`: a user is a candidate
            only when last active strictly before it.
        candidates: sorted by (last_active, user_id), so equal input gives an equal plan.
        exclusions: user IDs per reason (every reason present, sorted IDs).
        buckets: the anonymous tenant's users per age bucket.
        plan_hash: "sha256:" + hex digest of the canonical JSON of everything above.
    """

    profile: str
    project_id: str
    tenant_id: str
    tenant_name: str
    lifetime_seconds: int
    grace_seconds: int
    stage: Stage
    disabled_for_seconds: int
    keep_rules: tuple[str, ...]
    now: int
    cutoff: int
    candidates: tuple[Candidate, ...]
    exclusions: Mapping[Exclusion, tuple[str, ...]]
    buckets: tuple[AgeBucket, ...]
    plan_hash: str = ""

    KIND: ClassVar[str] = "cull"  # what a journal calls this kind of plan

    @property
    def count(self) -> int:
        return len(self.candidates)

    @property
    def user_ids(self) -> tuple[str, ...]:
        return tuple(c.user_id for c in self.candidates)

    @cached_property
    def _by_id(self) -> dict[str, Candidate]:
        return {c.user_id: c for c in self.candidates}

    def candidate(self, user_id: str) -> Candidate | None:
        """The candidate with this ID, None when the plan does not act on it."""
        return self._by_id.get(user_id)

    def _content(self, *, with_candidates: bool = True) -> dict[str, Any]:
        """Everything the hash covers: `to_json` without "planHash"."""
        return {
            "version": PLAN_VERSION,
            "profile": self.profile,
            "projectId": self.project_id,
            "tenant": {"id": self.tenant_id, "name": self.tenant_name},
            "stage": self.stage.value,
            "lifetimeSeconds": self.lifetime_seconds,
            "graceSeconds": self.grace_seconds,
            "disabledForSeconds": self.disabled_for_seconds,
            "keepRules": list(self.keep_rules),
            "now": self.now,
            "cutoff": self.cutoff,
            "cutoffTime": _iso(self.cutoff),
            "count": self.count,
            "candidates": [_candidate_json(c) for c in self.candidates] if with_candidates else [],
            "exclusions": {
                reason.value: {"count": len(ids), "userIds": list(ids)}
                for reason in _EXCLUSIONS
                for ids in (self.exclusions.get(reason, ()),)
            },
            "buckets": [
                {
                    "label": b.label,
                    "fromSeconds": b.from_seconds,
                    "toSeconds": b.to_seconds,
                    "users": b.users,
                    "candidates": b.candidates,
                }
                for b in self.buckets
            ],
        }

    def json_pieces(self) -> Iterator[bytes]:
        """`canonical(self._content())` in pieces, a slice of candidates each: what the hash covers,
        and what the journal's plan file holds, made without one long hold of the GIL.

        The canonical JSON without the candidates holds `"candidates":[]` exactly once (a quote in
        a JSON string is escaped), so the whole is that JSON with the candidates in the brackets;
        the tests check it equals `canonical(self._content())`."""
        before, after = canonical(self._content(with_candidates=False)).split(b'"candidates":[]')
        yield before + b'"candidates":['
        for start in range(0, self.count, HASH_ROWS):
            chunk = [_candidate_json(c) for c in self.candidates[start : start + HASH_ROWS]]
            items = canonical({"c": chunk})[len(b'{"c":[') : -2]  # without the list's brackets
            yield (b"," if start else b"") + items
        yield b"]" + after

    def to_json(self) -> dict[str, Any]:
        """The plan as the preview saves it and the CLI reads it (JSON-ready values only)."""
        return {**self._content(), "planHash": self.plan_hash}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CullPlan:
        """A saved plan, refused (PlanError) when anything is missing, mistyped, or was edited."""
        return _plan_from_json(data)


def _candidate_json(c: Candidate) -> dict[str, Any]:
    return {
        "userId": c.user_id,
        "loginId": c.login_id,
        "createdTime": c.created_time,
        "lastSignIn": c.last_sign_in,
        "lastActive": c.last_active,
        "ageSeconds": c.age_seconds,
        "status": c.status,
    }


def _iso(epoch_seconds: int) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- counting over the table (vectorised) -------------------------------------------------------

# Per-row codes: an exclusion's index in `_EXCLUSIONS`, or one of these.
_CANDIDATE = len(_EXCLUSIONS)
_NOT_LISTED = _CANDIDATE + 1  # not past or near the cutoff, or not this stage's business
_OPEN = -1  # no reason found yet
_SKIP = -2  # never a candidate of this stage, and not an exclusion either
_CODE = {reason: code for code, reason in enumerate(_EXCLUSIONS)}

Codes = npt.NDArray[np.int8]


class Recounter:
    """The anonymous tenant's users, judged once by everything that does not depend on the cutoff;
    `count` then applies a cutoff in a few array operations (a what-if slider recounts per move).

    A snapshot: construction reads the table (tens of ms at 200k users; about 9 µs more per
    disabled user, whose cause `classify` is asked for) and nothing later does, so make a new one
    when the table changes.

    Attributes (arrays over the tenant's users present, in table order; read them, do not write):
        rows: their table rows.
        created, last_sign_in (`NONE` when never), last_active, age: epoch s / seconds.
        static: each user's first reason that does not depend on the cutoff (internal codes).
    """

    def __init__(self, table: UserTable, rules: CullRules, now: int) -> None:
        if table.policy.tenant_id != rules.tenant_id:
            raise ValueError(
                "The users table was classified for another anonymous tenant than the cull's: "
                "reload the users first."
            )
        self.table = table
        self.rules = rules
        self.now = int(now)
        size = len(table)  # rows a page appends meanwhile (a worker thread) are left out
        self._size = size
        member, elsewhere = table.tenant_membership(rules.tenant_id)
        rows = np.flatnonzero(member[:size] & ~table.gone_mask()[:size])
        self.rows: Rows = rows
        self.created: Rows = table.created_times()[rows]
        self.last_sign_in: Rows = table.last_sign_ins()[rows]
        signed_in = self.last_sign_in > 0
        self.last_active: Rows = np.where(signed_in, self.last_sign_in, self.created)
        self.age: Rows = np.maximum(self.now - self.last_active, 0)
        self.bucket = np.searchsorted(_BUCKET_EDGES, self.age, side="right")
        self.bucket_users = np.bincount(self.bucket, minlength=len(_BUCKET_BOUNDS))
        self.static = self._static_codes(elsewhere[rows], signed_in)

    def _static_codes(self, elsewhere: npt.NDArray[np.bool_], signed_in: npt.NDArray[np.bool_]) -> Codes:
        """The first reason that applies to each user, among those the cutoff does not change."""
        table, rules, rows = self.table, self.rules, self.rows
        codes = np.full(len(rows), _OPEN, dtype=np.int8)

        def mark(mask: npt.NDArray[np.bool_], code: int) -> None:
            codes[(codes == _OPEN) & mask] = code

        by_console, disabled_at = self._disabled_by_console()
        if rules.stage is Stage.DELETE_DISABLED:
            mark(~(by_console & (disabled_at <= self.now - rules.disabled_for_seconds)), _SKIP)
        mark(table.test_user_mask()[rows], _CODE[Exclusion.TEST_USER])
        # The flags alone, address or not: a verified flag is a strong hint of a real person, and
        # deleting cannot be undone (`classify` also wants the address to call a user regular).
        mark(table.verified_mask()[rows], _CODE[Exclusion.VERIFIED])
        mark(elsewhere, _CODE[Exclusion.OTHER_TENANTS])
        disabled = table.status_mask("disabled")[rows]
        # `classify` calls a disabled anonymous user "attention" too: only its identifying data
        # (or any cause but being disabled) makes it NEEDS_ATTENTION here. Few rows: asked per row.
        attention = ~table.kind_mask(Kind.ANONYMOUS)[rows]
        for position in np.flatnonzero(attention & disabled & (codes == _OPEN)).tolist():
            if table.classification(int(rows[position])).cause is Cause.DISABLED:
                attention[position] = False
        mark(attention, _CODE[Exclusion.NEEDS_ATTENTION])
        mark(signed_in & (self.last_sign_in > self.now), _CODE[Exclusion.FUTURE_SIGN_IN])
        if rules.stage is Stage.DELETE_DISABLED:
            mark(~disabled, _SKIP)  # enabled again since the console disabled it
        else:
            mark(disabled & ~by_console, _CODE[Exclusion.DISABLED_ELSEWHERE])
            if rules.stage is Stage.DISABLE:
                mark(disabled, _SKIP)  # disabled by the console already: not again
        if rules.keep_rules:
            mark(self._keep_rule_matches(), _CODE[Exclusion.KEEP_RULE])
        return codes

    def _keep_rule_matches(self) -> npt.NDArray[np.bool_]:
        """Per user: a keep-rule matches. Rules run once per distinct attributes and per distinct
        memberships (most users share both), not once per user."""
        rules = self.rules.keep_rules
        pairs, pair_of = self.table.distinct_attributes_and_roles(self.rows)
        memberships, membership_of = self.table.distinct_memberships(self.rows)
        by_pair = np.fromiter(
            (any(rule.matches_parts(attributes, roles, ()) for rule in rules) for attributes, roles in pairs),
            np.bool_,
            len(pairs),
        )
        by_membership = np.fromiter(
            (
                any(rule.matches_parts(EMPTY_MAPPING, (), tenants) for rule in rules)
                for tenants in memberships
            ),
            np.bool_,
            len(memberships),
        )
        return by_pair[pair_of] | by_membership[membership_of]

    def _disabled_by_console(self) -> tuple[npt.NDArray[np.bool_], Rows]:
        """Per user: disabled by the console (its journals say so), and when."""
        by_console = np.zeros(len(self.rows), dtype=np.bool_)
        disabled_at = np.zeros(len(self.rows), dtype=np.int64)
        journal = self.rules.disabled_by_console
        if not journal:
            return by_console, disabled_at
        position_of_row = np.full(self._size, -1, dtype=np.int64)
        position_of_row[self.rows] = np.arange(len(self.rows))
        rows_of = self.table.row_of
        found = [
            (row, when)
            for uid, when in journal.items()
            if (row := rows_of(uid)) is not None and row < self._size
        ]
        if found:
            table_rows, times = (np.asarray(v, dtype=np.int64) for v in zip(*found, strict=True))
            positions = position_of_row[table_rows]
            ours = positions >= 0
            by_console[positions[ours]] = True
            disabled_at[positions[ours]] = times[ours]
        return by_console, disabled_at

    def _codes(self, cutoff: int) -> Codes:
        """Each user's outcome at `cutoff`: an exclusion's code, `_CANDIDATE` or `_NOT_LISTED`."""
        listed = self.created < cutoff
        codes = np.where(listed, self.static, np.int8(_NOT_LISTED)).astype(np.int8)
        codes[codes == _SKIP] = _NOT_LISTED
        still_open = codes == _OPEN
        expired = self.last_active < cutoff
        codes[still_open & expired] = _CANDIDATE
        # Listed means created before the cutoff: not expired means a sign-in at or after it.
        codes[still_open & ~expired] = _CODE[Exclusion.SIGNED_IN_AFTER_CUTOFF]
        return codes

    def _buckets(self, codes: Codes) -> tuple[AgeBucket, ...]:
        candidates = np.bincount(self.bucket[codes == _CANDIDATE], minlength=len(_BUCKET_BOUNDS))
        return tuple(
            AgeBucket(label, lower, upper, int(self.bucket_users[i]), int(candidates[i]))
            for i, (label, lower, upper) in enumerate(_BUCKET_BOUNDS)
        )

    def count(self, lifetime_seconds: int, grace_seconds: int) -> WhatIf:
        """The counts `plan_cull` would give with this lifetime and grace (a few ms at 200k users)."""
        _check_lifetime(lifetime_seconds, grace_seconds)
        cutoff = cutoff_for(self.now, lifetime_seconds, grace_seconds)
        codes = self._codes(cutoff)
        tally = np.bincount(codes, minlength=_NOT_LISTED + 1)
        return WhatIf(
            lifetime_seconds=lifetime_seconds,
            grace_seconds=grace_seconds,
            cutoff=cutoff,
            count=int(tally[_CANDIDATE]),
            exclusions=MappingProxyType({reason: int(tally[_CODE[reason]]) for reason in _EXCLUSIONS}),
            buckets=self._buckets(codes),
        )


def what_if(
    table: UserTable, rules: CullRules, *, now: int, lifetime_seconds: int, grace_seconds: int
) -> WhatIf:
    """Counts for another lifetime or grace. A slider should keep one `Recounter` and call `count`."""
    return Recounter(table, rules, now).count(lifetime_seconds, grace_seconds)


def plan_cull(table: UserTable, rules: CullRules, *, now: int, profile: str, project_id: str) -> CullPlan:
    """The plan for `rules` over the table's users at `now` (epoch s).

    Among the anonymous tenant's users still present, the first reason that applies keeps a user:
    test user, verified, other tenants, needs attention, future sign-in, disabled elsewhere,
    keep-rule; then its age decides: a candidate when last active strictly before the cutoff, kept
    (signed in after the cutoff) when created before it but signed in at or after it. Stages:
    DISABLE skips users already disabled; DELETE_DISABLED only takes users the console disabled at
    least `disabled_for_seconds` ago and that are still disabled. Only the candidates and the
    excluded users become Python objects; the rest is array work.
    """
    return finish(plan_cull_steps(table, rules, now=now, profile=profile, project_id=project_id))


Steps = Generator[None, None, R]


def finish(steps: Steps[R]) -> R:
    """Run steps to the end at once (the command line; tests)."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return cast(R, done.value)


def plan_cull_steps(
    table: UserTable, rules: CullRules, *, now: int, profile: str, project_id: str
) -> Steps[CullPlan]:
    """`plan_cull` in steps of a few milliseconds each (the window runs them in CPU turns: a
    500,000-user plan is seconds of work)."""
    now = int(now)
    recounter = Recounter(table, rules, now)
    yield
    cutoff = cutoff_for(now, rules.lifetime_seconds, rules.grace_seconds)
    codes = recounter._codes(cutoff)
    chosen = np.flatnonzero(codes == _CANDIDATE)
    rows = recounter.rows[chosen]
    user_ids = table.user_ids(rows)
    yield
    keys = np.empty(len(user_ids), dtype=f"<U{max(map(len, user_ids), default=1)}")
    for start in range(0, len(user_ids), STEP_ROWS):
        keys[start : start + STEP_ROWS] = user_ids[start : start + STEP_ROWS]
        yield
    order = np.lexsort((keys, recounter.last_active[chosen])) if user_ids else chosen
    del keys
    rows, chosen = rows[order], chosen[order]
    ordered_ids = [user_ids[i] for i in order.tolist()]
    del user_ids
    yield
    candidates: list[Candidate] = []
    for start in range(0, len(ordered_ids), STEP_ROWS):
        part, picked = rows[start : start + STEP_ROWS], chosen[start : start + STEP_ROWS]
        candidates.extend(
            map(
                Candidate,
                ordered_ids[start : start + STEP_ROWS],
                table.primary_login_ids(part),
                recounter.created[picked].tolist(),
                [t if t > 0 else None for t in recounter.last_sign_in[picked].tolist()],
                recounter.last_active[picked].tolist(),
                recounter.age[picked].tolist(),
                table.statuses(part),
            )
        )
        yield
    exclusions = {}
    for reason in _EXCLUSIONS:
        exclusions[reason] = tuple(sorted(table.user_ids(recounter.rows[codes == _CODE[reason]])))
        yield
    plan = CullPlan(
        profile=profile,
        project_id=project_id,
        tenant_id=rules.tenant_id,
        tenant_name=rules.tenant_name,
        lifetime_seconds=rules.lifetime_seconds,
        grace_seconds=rules.grace_seconds,
        stage=rules.stage,
        disabled_for_seconds=rules.disabled_for_seconds,
        keep_rules=tuple(rule.text for rule in rules.keep_rules),
        now=now,
        cutoff=cutoff,
        candidates=tuple(candidates),
        exclusions=MappingProxyType(exclusions),
        buckets=recounter._buckets(codes),
    )
    yield
    digest = yield from _hash_steps(plan)
    return replace(plan, plan_hash=digest)


def _hash_steps(plan: CullPlan) -> Steps[str]:
    """`content_hash(plan._content())`, a slice of candidates per step (`CullPlan.json_pieces`)."""
    digest = hashlib.sha256()
    for piece in plan.json_pieces():
        digest.update(piece)
        yield
    return "sha256:" + digest.hexdigest()


# ---- one user, right before its batch runs -------------------------------------------------------


def recheck(
    user: User | None, last_sign_in: int | None, plan: CullPlan, *, now: int, rules: CullRules
) -> str | None:
    """None when a reloaded candidate is still eligible (`plan_cull`'s rules, the plan's cutoff);
    otherwise why not, in plain words ("gone", "converted: has a verified email", ...)."""
    if rules.tenant_id != plan.tenant_id or rules.stage is not plan.stage:
        raise ValueError("These rules are not the ones the plan was made with (tenant or stage differ).")
    if user is None:
        return "gone"
    if plan.candidate(user.user_id) is None:
        return "not a candidate of this plan"
    outcome, message = judge(user, last_sign_in, cutoff=plan.cutoff, now=int(now), rules=rules)
    return None if outcome == "candidate" else message


Outcome: TypeAlias = Exclusion | Literal["candidate", "not_listed", "outside"]


def judge(
    user: User, last_sign_in: int | None, *, cutoff: int, now: int, rules: CullRules
) -> tuple[Outcome, str]:
    """`plan_cull`'s rules for one user: its outcome, and the sentence `recheck` reports.

    "outside": not in the anonymous tenant; "not_listed": neither a candidate nor an exclusion
    (created after the cutoff, or not this stage's business).
    """
    tenant = rules.tenant_id
    if not user.in_tenant(tenant):
        return "outside", "changed tenant: no longer in the anonymous tenant"
    if user.created_time >= cutoff:
        return "not_listed", "created after the cutoff"
    disabled = user.status == "disabled"
    disabled_at = rules.disabled_by_console.get(user.user_id)
    if rules.stage is Stage.DELETE_DISABLED:
        if disabled_at is None:
            return "not_listed", "not disabled by the console"
        if disabled_at > now - rules.disabled_for_seconds:
            waited = format_duration(now - disabled_at)
            return "not_listed", f"disabled by the console only {waited} ago"
    if user.test:
        return Exclusion.TEST_USER, "marked as a test user"
    if user.verified_email:
        return Exclusion.VERIFIED, "converted: has a verified email"
    if user.verified_phone:
        return Exclusion.VERIFIED, "converted: has a verified phone"
    if any(t.tenant_id != tenant for t in user.tenants):
        return Exclusion.OTHER_TENANTS, "changed tenant: now also in another tenant"
    policy = AnonymousPolicy(tenant, rules.lifetime_seconds, rules.grace_seconds)
    verdict = classify(user, policy, last_sign_in=last_sign_in, now=now)
    if verdict.kind is not Kind.ANONYMOUS and not (disabled and verdict.cause is Cause.DISABLED):
        return Exclusion.NEEDS_ATTENTION, "identifying data added: it needs attention"
    signed_in = last_sign_in if last_sign_in is not None and last_sign_in > 0 else None
    if signed_in is not None and signed_in > now:
        return Exclusion.FUTURE_SIGN_IN, "its last sign-in is later than now (a clock is off)"
    if rules.stage is Stage.DELETE_DISABLED:
        if not disabled:
            return "not_listed", "enabled again"
    elif disabled and disabled_at is None:
        return Exclusion.DISABLED_ELSEWHERE, "disabled by someone else"
    elif disabled and rules.stage is Stage.DISABLE:
        return "not_listed", "already disabled by the console"
    for rule in rules.keep_rules:
        if rule.matches(user):
            return Exclusion.KEEP_RULE, f"a keep-rule now matches ({rule.text})"
    last_active = user.created_time if signed_in is None else signed_in
    if last_active >= cutoff:
        return Exclusion.SIGNED_IN_AFTER_CUTOFF, "signed in after the plan was made"
    return "candidate", ""


# ---- reading a saved plan -----------------------------------------------------------------------


def _plan_from_json(data: Mapping[str, Any]) -> CullPlan:
    if not isinstance(data, Mapping):
        raise PlanError("A cull plan is a JSON object; this file holds something else.")
    read = JsonReader(data, "the plan")
    version = read.integer("version")
    if version != PLAN_VERSION:
        raise PlanError(
            f"This plan is version {version}; this console reads version {PLAN_VERSION} plans only. "
            "Make a new plan."
        )
    tenant = read.obj("tenant")
    try:
        stage = Stage(read.text("stage"))
    except ValueError:
        raise PlanError(f"The plan's stage {data['stage']!r} is not one this console knows.") from None
    keep_rules = tuple(text_item(v, f"keepRules[{i}]") for i, v in enumerate(read.items("keepRules")))
    for text in keep_rules:
        try:
            KeepRule.parse(text)
        except ValueError as error:
            raise PlanError(f"The plan's keep-rule is not valid: {error}") from None
    exclusions: dict[Exclusion, tuple[str, ...]] = {}
    for key, value in read.obj("exclusions").data.items():
        try:
            reason = Exclusion(key)
        except ValueError:
            raise PlanError(f"The plan names an unknown exclusion {key!r}.") from None
        entry = JsonReader(object_item(value, f"exclusions.{key}"), f"exclusions.{key}")
        ids = entry.items("userIds")
        exclusions[reason] = tuple(text_item(v, f"exclusions.{key}.userIds[{i}]") for i, v in enumerate(ids))
    plan = CullPlan(
        profile=read.text("profile"),
        project_id=read.text("projectId"),
        tenant_id=tenant.text("id"),
        tenant_name=tenant.text("name"),
        lifetime_seconds=read.integer("lifetimeSeconds"),
        grace_seconds=read.integer("graceSeconds"),
        stage=stage,
        disabled_for_seconds=read.integer("disabledForSeconds"),
        keep_rules=keep_rules,
        now=read.integer("now"),
        cutoff=read.integer("cutoff"),
        candidates=tuple(_candidate(v, i) for i, v in enumerate(read.items("candidates"))),
        exclusions=MappingProxyType({reason: exclusions.get(reason, ()) for reason in _EXCLUSIONS}),
        buckets=tuple(_bucket(v, i) for i, v in enumerate(read.items("buckets"))),
        plan_hash=read.text("planHash"),
    )
    read.text("cutoffTime")
    read.integer("count")
    content = {key: value for key, value in data.items() if key != "planHash"}
    if content_hash(content) != plan.plan_hash:
        raise PlanError("The plan was changed after it was made (its hash does not match). Make a new plan.")
    if data["count"] != plan.count:
        raise PlanError(
            f"The plan says {data['count']} users but lists {plan.count}: it was edited. Make a new plan."
        )
    if plan.cutoff != cutoff_for(plan.now, plan.lifetime_seconds, plan.grace_seconds):
        raise PlanError("The plan's cutoff does not follow from its lifetime and grace: it was edited.")
    if plan._content() != content:  # e.g. an exclusion's count; (dict equality: C speed)
        raise PlanError("The plan's parts do not agree with each other: it was edited. Make a new plan.")
    return plan


# (attribute, JSON key, `JsonReader` method) of the records a plan holds, in constructor order.
_CANDIDATE_FIELDS = (
    ("user_id", "userId", "text"),
    ("login_id", "loginId", "text"),
    ("created_time", "createdTime", "integer"),
    ("last_sign_in", "lastSignIn", "optional_int"),
    ("last_active", "lastActive", "integer"),
    ("age_seconds", "ageSeconds", "integer"),
    ("status", "status", "text"),
)
_BUCKET_FIELDS = (
    ("label", "label", "text"),
    ("from_seconds", "fromSeconds", "integer"),
    ("to_seconds", "toSeconds", "optional_int"),
    ("users", "users", "integer"),
    ("candidates", "candidates", "integer"),
)
_CANDIDATE_KEYS = tuple(key for _, key, _ in _CANDIDATE_FIELDS)


def _candidate(value: Any, index: int) -> Candidate:
    """A candidate from its JSON; a plan holds up to 100k+ of them, so a well-formed one takes a
    quick path and only a faulty one goes through `JsonReader` (for a message naming the field)."""
    if type(value) is dict and all(key in value for key in _CANDIDATE_KEYS):
        user_id, login_id, created, last_sign_in, last_active, age, status = map(
            value.__getitem__, _CANDIDATE_KEYS
        )
        if (
            type(user_id) is str
            and type(login_id) is str
            and type(status) is str
            and type(created) is int
            and type(last_active) is int
            and type(age) is int
            and (last_sign_in is None or type(last_sign_in) is int)
        ):
            return Candidate(user_id, login_id, created, last_sign_in, last_active, age, status)
    return json_record(Candidate, value, f"candidates[{index}]", _CANDIDATE_FIELDS)


def _bucket(value: Any, index: int) -> AgeBucket:
    return json_record(AgeBucket, value, f"buckets[{index}]", _BUCKET_FIELDS)
