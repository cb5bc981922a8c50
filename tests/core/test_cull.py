"""Cull plans: every inclusion and exclusion rule at its boundary, stages, the plan's JSON and hash,
what-if counts, re-checks, and a 200,000-user table."""

from __future__ import annotations

import gc
import json
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from anonconsole.core.classify import AnonymousPolicy
from anonconsole.core.cull import (
    CLOCK_SKEW_SECONDS,
    Candidate,
    CullPlan,
    CullRules,
    Exclusion,
    KeepRule,
    PlanError,
    Recounter,
    Stage,
    cutoff_for,
    judge,
    plan_cull,
    recheck,
    what_if,
)
from anonconsole.core.plan_file import canonical
from anonconsole.core.plan_file import content_hash as plan_hash_of
from anonconsole.core.records import User, UserTenant
from anonconsole.core.user_table import UserTable

ANON = "T2AnonymousUsers00000000000000"
OTHER = "T2SomeCustomerTenant0000000000"
DAY = 86400
YEAR = 365 * DAY
NOW = 1_800_000_000
LIFETIME = YEAR
RULES = CullRules(ANON, "Anonymous Users", LIFETIME)
CUTOFF = NOW - LIFETIME - CLOCK_SKEW_SECONDS
OLD = CUTOFF - 100 * DAY  # well past the cutoff
# One shared tuple, as records interns memberships when users are loaded from the API.
IN_ANON = (UserTenant(ANON, "Anonymous Users"),)


def anon(i: int, *, created: int = OLD, **fields: object) -> User:
    """An anonymous user as the KB recipe leaves it: a random login ID, in the anonymous tenant."""
    base: dict[str, object] = {
        "user_id": f"U{i:027d}",
        "login_ids": (f"r{i:05d}x@q{i}z.com",),
        "status": "enabled",
        "tenants": IN_ANON,
        "created_time": created,
    }
    base.update(fields)
    return User(**base)  # type: ignore[arg-type]


def uid(i: int) -> str:
    return f"U{i:027d}"


def make_table(users: Sequence[User], sign_ins: Mapping[str, int] | None = None) -> UserTable:
    table = UserTable(AnonymousPolicy(ANON, LIFETIME), now=lambda: NOW)
    table.append(users)
    if sign_ins:
        table.set_last_sign_ins(sign_ins)
    return table


def plan_of(table: UserTable, rules: CullRules = RULES, now: int = NOW) -> CullPlan:
    return plan_cull(table, rules, now=now, profile="test", project_id="P2TestProject0000000000000000")


def outcome(plan: CullPlan, user_id: str) -> Exclusion | str | None:
    """ "candidate", the exclusion listing the user, or None (neither)."""
    if plan.candidate(user_id) is not None:
        return "candidate"
    found = [reason for reason, ids in plan.exclusions.items() if user_id in ids]
    assert len(found) <= 1, found
    return found[0] if found else None


def outcome_of(user: User, *, sign_in: int | None = None, rules: CullRules = RULES) -> Exclusion | str | None:
    """The outcome of one user alone in a table."""
    table = make_table([user], {user.user_id: sign_in} if sign_in is not None else None)
    return outcome(plan_of(table, rules), user.user_id)


# ---- the cutoff -----------------------------------------------------------------------------------


def test_cutoff_is_lifetime_grace_and_clock_skew_before_now() -> None:
    plan = plan_of(make_table([]), replace(RULES, grace_seconds=7 * DAY))
    assert plan.cutoff == NOW - LIFETIME - 7 * DAY - CLOCK_SKEW_SECONDS == cutoff_for(NOW, LIFETIME, 7 * DAY)
    assert plan.count == 0


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        (CUTOFF - 1, "candidate"),  # one second before the cutoff
        (CUTOFF, None),  # exactly at the cutoff: kept (and not past it, so not listed)
        (CUTOFF + 1, None),
        (OLD, "candidate"),
    ],
)
def test_never_signed_in_counts_from_creation(created: int, expected: str | None) -> None:
    assert outcome_of(anon(1, created=created)) == expected


@pytest.mark.parametrize(
    ("sign_in", "expected"),
    [
        (CUTOFF - 1, "candidate"),
        (CUTOFF, Exclusion.SIGNED_IN_AFTER_CUTOFF),  # exactly at the cutoff: kept
        (NOW - DAY, Exclusion.SIGNED_IN_AFTER_CUTOFF),
        (NOW, Exclusion.SIGNED_IN_AFTER_CUTOFF),  # now is not the future
    ],
)
def test_last_sign_in_counts_when_there_is_one(sign_in: int, expected: object) -> None:
    assert outcome_of(anon(1, created=OLD), sign_in=sign_in) == expected


@pytest.mark.parametrize(
    ("last_active", "expected"),
    [
        (NOW - LIFETIME - 1, Exclusion.SIGNED_IN_AFTER_CUTOFF),  # expired by the lifetime alone...
        (NOW - LIFETIME - CLOCK_SKEW_SECONDS, Exclusion.SIGNED_IN_AFTER_CUTOFF),  # ...within the margin
        (NOW - LIFETIME - CLOCK_SKEW_SECONDS - 1, "candidate"),
    ],
)
def test_clock_skew_margin_keeps_tokens_that_just_expired(last_active: int, expected: object) -> None:
    assert outcome_of(anon(1, created=OLD), sign_in=last_active) == expected


def test_grace_moves_the_cutoff() -> None:
    user = anon(1, created=CUTOFF - 5 * DAY)
    assert outcome_of(user) == "candidate"
    assert outcome_of(user, rules=replace(RULES, grace_seconds=5 * DAY)) is None
    assert outcome_of(user, rules=replace(RULES, grace_seconds=5 * DAY - 1)) == "candidate"


@pytest.mark.parametrize("ahead", [1, 60, 10 * DAY])
def test_sign_in_in_the_future_is_never_acted_on(ahead: int) -> None:
    assert outcome_of(anon(1), sign_in=NOW + ahead) == Exclusion.FUTURE_SIGN_IN


def test_young_users_are_counted_but_not_listed() -> None:
    young = [
        anon(1, created=NOW - DAY),
        anon(2, created=NOW - DAY, test=True),
        anon(3, created=NOW - DAY, email="a@b.c", verified_email=True),
    ]
    plan = plan_of(make_table(young))
    assert plan.count == 0
    assert all(not ids for ids in plan.exclusions.values())
    assert sum(b.users for b in plan.buckets) == 3


# ---- exclusions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, "candidate"),
        ({"test": True}, Exclusion.TEST_USER),
        ({"email": "real@example.com", "verified_email": True}, Exclusion.VERIFIED),
        ({"phone": "+15550100", "verified_phone": True}, Exclusion.VERIFIED),
        ({"verified_email": True}, Exclusion.VERIFIED),  # the flag without an address: kept all the same
        ({"tenants": (*IN_ANON, UserTenant(OTHER, "Customer"))}, Exclusion.OTHER_TENANTS),
        ({"name": "Jo Real"}, Exclusion.NEEDS_ATTENTION),
        ({"given_name": "Jo"}, Exclusion.NEEDS_ATTENTION),
        ({"phone": "+15550100"}, Exclusion.NEEDS_ATTENTION),  # unverified phone
        ({"email": "jo@example.com"}, Exclusion.NEEDS_ATTENTION),  # unverified, not the login ID
        ({"login_ids": ("r1x@q1z.com", "jo@example.com")}, Exclusion.NEEDS_ATTENTION),
        ({"email": "r00001x@q1z.com"}, "candidate"),  # the recipe copies the login ID: not identifying
        ({"status": "invited"}, "candidate"),
        ({"status": "disabled"}, Exclusion.DISABLED_ELSEWHERE),
        ({"status": "disabled", "name": "Jo"}, Exclusion.NEEDS_ATTENTION),
    ],
)
def test_each_exclusion(fields: dict[str, Any], expected: object) -> None:
    assert outcome_of(anon(1, **fields)) == expected


def test_users_outside_the_tenant_or_gone_are_not_looked_at() -> None:
    users = [
        anon(1),
        anon(2, tenants=(UserTenant(OTHER, "Customer"),)),
        anon(3, tenants=()),
        anon(4),
    ]
    table = make_table(users)
    table.mark_missing(np.array([0, 1, 2], dtype=np.int64))  # user 4 was deleted since the load
    plan = plan_of(table)
    assert [c.user_id for c in plan.candidates] == [uid(1)]
    assert all(outcome(plan, uid(i)) is None for i in (2, 3, 4))
    assert sum(b.users for b in plan.buckets) == 1


@pytest.mark.parametrize(
    ("fields", "sign_in", "expected"),
    [
        # Each row has the reason expected and the next ones in the order: the first one wins.
        (
            {
                "test": True,
                "email": "a@b.c",
                "verified_email": True,
                "tenants": (*IN_ANON, UserTenant(OTHER)),
            },
            None,
            Exclusion.TEST_USER,
        ),
        (
            {"email": "a@b.c", "verified_email": True, "tenants": (*IN_ANON, UserTenant(OTHER))},
            None,
            Exclusion.VERIFIED,
        ),
        ({"tenants": (*IN_ANON, UserTenant(OTHER)), "name": "Jo"}, None, Exclusion.OTHER_TENANTS),
        ({"name": "Jo", "status": "disabled"}, NOW + 60, Exclusion.NEEDS_ATTENTION),
        ({"status": "disabled"}, NOW + 60, Exclusion.FUTURE_SIGN_IN),
        ({"status": "disabled", "custom_attributes": {"hasData": True}}, None, Exclusion.DISABLED_ELSEWHERE),
        ({"custom_attributes": {"hasData": True}}, NOW - DAY, Exclusion.KEEP_RULE),
        ({}, NOW - DAY, Exclusion.SIGNED_IN_AFTER_CUTOFF),
    ],
)
def test_first_reason_that_applies_wins(
    fields: dict[str, Any], sign_in: int | None, expected: object
) -> None:
    rules = replace(RULES, keep_rules=(KeepRule.parse("attribute:hasData"),))
    assert outcome_of(anon(1, **fields), sign_in=sign_in, rules=rules) == expected


def test_every_exclusion_has_a_sentence() -> None:
    reasons = [reason.reason for reason in Exclusion]
    assert all(r.endswith(".") and len(r) > 20 for r in reasons)
    assert len(set(reasons)) == len(reasons)


# ---- keep-rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "attributes", "roles", "tenants", "expected"),
    [
        ("attribute:hasData", {"hasData": True}, (), IN_ANON, True),
        ("attribute:hasData", {"hasData": False}, (), IN_ANON, True),  # present is enough
        ("attribute:hasData", {"hasData": None}, (), IN_ANON, False),  # null: not set
        ("attribute:hasData", {}, (), IN_ANON, False),
        ("attribute:plan=paid", {"plan": "paid"}, (), IN_ANON, True),
        ("attribute:plan=paid", {"plan": "free"}, (), IN_ANON, False),
        ("attribute:plan=paid", {}, (), IN_ANON, False),
        ("attribute:plan=Paid", {"plan": "paid"}, (), IN_ANON, False),  # compared exactly
        ("attribute:credits=3", {"credits": 3}, (), IN_ANON, True),  # compared as text
        ("attribute:credits=3", {"credits": 3.0}, (), IN_ANON, True),
        ("attribute:credits=3", {"credits": 3.5}, (), IN_ANON, False),
        ("attribute:beta=true", {"beta": True}, (), IN_ANON, True),
        ("attribute:beta=false", {"beta": True}, (), IN_ANON, False),
        ("attribute:note=", {"note": ""}, (), IN_ANON, True),  # equal to the empty text
        ("role:keeper", {}, ("keeper",), IN_ANON, True),  # a project role
        ("role:keeper", {}, (), (UserTenant(ANON, "Anonymous Users", ("keeper",)),), True),  # a tenant role
        ("role:keeper", {}, ("viewer",), (UserTenant(ANON, "Anonymous Users", ("admin",)),), False),
        ("role:keeper", {"keeper": True}, (), IN_ANON, False),  # an attribute is not a role
    ],
)
def test_keep_rule_matches(
    rule: str,
    attributes: dict[str, object],
    roles: tuple[str, ...],
    tenants: tuple[UserTenant, ...],
    expected: bool,
) -> None:
    keep = KeepRule.parse(rule)
    user = anon(1, custom_attributes=attributes, role_names=roles, tenants=tenants)
    assert keep.matches(user) is expected
    assert keep.text == rule
    kept = outcome_of(user, rules=replace(RULES, keep_rules=(keep,)))
    assert kept == (Exclusion.KEEP_RULE if expected else "candidate")


def test_any_keep_rule_keeps() -> None:
    rules = replace(RULES, keep_rules=(KeepRule.parse("role:keeper"), KeepRule.parse("attribute:plan=paid")))
    users = [anon(1, custom_attributes={"plan": "paid"}), anon(2, role_names=("keeper",)), anon(3)]
    plan = plan_of(make_table(users), rules)
    assert plan.exclusions[Exclusion.KEEP_RULE] == (uid(1), uid(2))
    assert [c.user_id for c in plan.candidates] == [uid(3)]
    assert plan.keep_rules == ("role:keeper", "attribute:plan=paid")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("attribute:plan=paid", KeepRule("attribute", "plan", "paid")),
        ("  attribute:hasData ", KeepRule("attribute", "hasData")),
        ("attribute:url=a=b", KeepRule("attribute", "url", "a=b")),  # the value may hold "="
        ("role:keeper", KeepRule("role", "keeper")),
    ],
)
def test_keep_rule_parse(text: str, expected: KeepRule) -> None:
    assert KeepRule.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "plan=paid", "attr:plan", "attribute:", "attribute:=paid", "role:", "role:keeper=1", "Role:x"],
)
def test_keep_rule_parse_errors_say_what_a_rule_looks_like(text: str) -> None:
    with pytest.raises(ValueError, match=r"keep-rule") as caught:
        KeepRule.parse(text)
    assert str(caught.value).endswith(".") or "role:" in str(caught.value)


def test_keep_rule_refuses_a_role_with_a_value() -> None:
    with pytest.raises(ValueError, match="takes no value"):
        KeepRule("role", "keeper", "x")


# ---- disabled users and stages --------------------------------------------------------------------


def test_disabled_by_the_console_is_culled_by_delete_but_not_disabled_again() -> None:
    users = [anon(1, status="disabled"), anon(2, status="disabled"), anon(3)]
    rules = replace(RULES, disabled_by_console={uid(1): NOW - 10 * DAY, "U-not-loaded": NOW})
    delete = plan_of(make_table(users), rules)
    assert [c.user_id for c in delete.candidates] == [uid(1), uid(3)]
    assert delete.exclusions[Exclusion.DISABLED_ELSEWHERE] == (uid(2),)

    disable = plan_of(make_table(users), replace(rules, stage=Stage.DISABLE))
    assert [c.user_id for c in disable.candidates] == [uid(3)]
    assert outcome(disable, uid(1)) is None  # already done by the console: neither
    assert disable.exclusions[Exclusion.DISABLED_ELSEWHERE] == (uid(2),)


@pytest.mark.parametrize(
    ("disabled_at", "expected"),
    [
        (NOW - 30 * DAY, "candidate"),  # exactly `disabled_for` ago: at least that long
        (NOW - 30 * DAY - 1, "candidate"),
        (NOW - 30 * DAY + 1, None),  # not long enough yet
        (NOW + DAY, None),
    ],
)
def test_delete_disabled_waits_disabled_for(disabled_at: int, expected: str | None) -> None:
    rules = replace(
        RULES,
        stage=Stage.DELETE_DISABLED,
        disabled_for_seconds=30 * DAY,
        disabled_by_console={uid(1): disabled_at},
    )
    assert outcome_of(anon(1, status="disabled"), rules=rules) == expected


def test_delete_disabled_takes_only_still_eligible_users_the_console_disabled() -> None:
    journal = {uid(i): NOW - 60 * DAY for i in range(1, 6)}
    rules = replace(
        RULES, stage=Stage.DELETE_DISABLED, disabled_for_seconds=30 * DAY, disabled_by_console=journal
    )
    users = [
        anon(1, status="disabled"),  # the one to delete
        anon(2, status="enabled"),  # enabled again since
        anon(3, status="disabled", email="a@b.c", verified_email=True),  # converted meanwhile
        anon(4, status="disabled", created=CUTOFF + DAY),  # not past the cutoff (other lifetime)
        anon(5, status="disabled", custom_attributes={"hasData": 1}),
        anon(6),  # never disabled: the first stage's business
        anon(7, status="disabled"),  # disabled by someone else
    ]
    plan = plan_of(make_table(users), replace(rules, keep_rules=(KeepRule.parse("attribute:hasData"),)))
    assert [c.user_id for c in plan.candidates] == [uid(1)]
    assert plan.candidates[0].status == "disabled"
    assert [outcome(plan, uid(i)) for i in range(2, 8)] == [
        None,
        Exclusion.VERIFIED,
        None,
        Exclusion.KEEP_RULE,
        None,
        None,
    ]


# ---- the plan --------------------------------------------------------------------------------------


def mixed_users(count: int, seed: int) -> tuple[list[User], dict[str, int], dict[str, int]]:
    """Users of every sort, their sign-ins and the console's journal of disabled users."""
    rng = random.Random(seed)
    users: list[User] = []
    sign_ins: dict[str, int] = {}
    journal: dict[str, int] = {}
    for i in range(count):
        fields: dict[str, Any] = {}
        roll = rng.random()
        if roll < 0.05:
            fields["test"] = True
        elif roll < 0.10:
            fields.update(email=f"p{i}@example.com", verified_email=True)
        elif roll < 0.13:
            fields["tenants"] = (*IN_ANON, UserTenant(OTHER, "Customer"))
        elif roll < 0.16:
            fields["tenants"] = (UserTenant(OTHER, "Customer"),)
        elif roll < 0.19:
            fields["name"] = f"Person {i}"
        elif roll < 0.24:
            fields["custom_attributes"] = {"plan": rng.choice(["paid", "free"])}
        elif roll < 0.27:
            fields["role_names"] = ("keeper",)
        if rng.random() < 0.15:
            fields["status"] = "disabled"
            if rng.random() < 0.6:
                journal[uid(i)] = NOW - rng.randrange(0, 90) * DAY
        created = NOW - rng.randrange(0, 4 * 365) * DAY - rng.randrange(DAY)
        users.append(anon(i, created=created, **fields))
        roll = rng.random()
        if roll < 0.5:
            sign_ins[uid(i)] = created + rng.randrange(0, max(1, NOW - created))
        elif roll < 0.53:
            sign_ins[uid(i)] = NOW + rng.randrange(1, 3 * DAY)  # a clock is off
    return users, sign_ins, journal


def rules_for(stage: Stage, journal: Mapping[str, int]) -> CullRules:
    return replace(
        RULES,
        stage=stage,
        disabled_by_console=journal,
        disabled_for_seconds=30 * DAY,
        keep_rules=(KeepRule.parse("attribute:plan=paid"), KeepRule.parse("role:keeper")),
    )


def test_candidates_are_sorted_by_last_active_then_user_id() -> None:
    users = [anon(5, created=OLD), anon(3, created=OLD), anon(4, created=OLD - DAY), anon(9, created=OLD)]
    table = make_table(users, {uid(9): OLD - 2 * DAY})
    plan = plan_of(table)
    assert [c.user_id for c in plan.candidates] == [uid(9), uid(4), uid(3), uid(5)]
    first = plan.candidates[0]
    assert first == Candidate(
        user_id=uid(9),
        login_id="r00009x@q9z.com",
        created_time=OLD,
        last_sign_in=OLD - 2 * DAY,  # before its creation: odd data, still `classify`'s rule
        last_active=OLD - 2 * DAY,
        age_seconds=NOW - (OLD - 2 * DAY),
        status="enabled",
    )
    assert plan.candidates[1].last_sign_in is None


def test_same_input_same_plan_whatever_the_row_order() -> None:
    users, sign_ins, journal = mixed_users(400, seed=1)
    rules = rules_for(Stage.DELETE, journal)
    plan = plan_of(make_table(users, sign_ins), rules)
    assert plan.count > 0
    assert plan_of(make_table(users, sign_ins), rules).plan_hash == plan.plan_hash
    shuffled = users[:]
    random.Random(2).shuffle(shuffled)
    again = plan_of(make_table(shuffled, sign_ins), rules)
    assert again == plan
    assert again.plan_hash == plan.plan_hash
    assert plan.plan_hash.startswith("sha256:")
    assert len(plan.plan_hash) == len("sha256:") + 64
    assert plan_of(make_table(users, sign_ins), rules, now=NOW + 1).plan_hash != plan.plan_hash
    other_profile = plan_cull(make_table(users, sign_ins), rules, now=NOW, profile="other", project_id="P")
    assert other_profile.plan_hash != plan.plan_hash


def test_json_round_trip() -> None:
    users, sign_ins, journal = mixed_users(300, seed=3)
    plan = plan_of(make_table(users, sign_ins), rules_for(Stage.DELETE, journal))
    data = plan.to_json()
    assert data["version"] == 1
    assert data["count"] == plan.count == len(data["candidates"])
    assert data["tenant"] == {"id": ANON, "name": "Anonymous Users"}
    assert data["cutoffTime"].endswith("Z")
    assert set(data["exclusions"]) == {reason.value for reason in Exclusion}
    assert all(e["count"] == len(e["userIds"]) for e in data["exclusions"].values())
    assert set(data["candidates"][0]) == {
        "userId",
        "loginId",
        "createdTime",
        "lastSignIn",
        "lastActive",
        "ageSeconds",
        "status",
    }
    restored = CullPlan.from_json(json.loads(json.dumps(data)))
    assert restored == plan
    assert restored.to_json() == data
    assert restored.candidate(plan.candidates[0].user_id) == plan.candidates[0]


def test_cutoff_time_is_iso_utc() -> None:
    plan = plan_of(make_table([]), now=1_700_000_000 + LIFETIME + CLOCK_SKEW_SECONDS)
    assert plan.to_json()["cutoffTime"] == "2023-11-14T22:13:20Z"


def saved_plan() -> dict[str, Any]:
    users = [anon(1), anon(2), anon(3, test=True), anon(4, created=NOW - DAY)]
    plan = plan_of(make_table(users, {uid(2): OLD + DAY}))
    return json.loads(json.dumps(plan.to_json()))  # type: ignore[no-any-return]


def rehash(data: dict[str, Any]) -> dict[str, Any]:
    """What someone editing a plan by hand with care would do: recompute its hash."""
    data["planHash"] = plan_hash_of({k: v for k, v in data.items() if k != "planHash"})
    return data


def edit_count(data: dict[str, Any]) -> None:
    data["count"] = 1


def edit_user_id(data: dict[str, Any]) -> None:
    data["candidates"][0]["userId"] = "U-someone-else"


def edit_exclusion(data: dict[str, Any]) -> None:
    data["exclusions"]["test_user"]["userIds"] = []


def edit_cutoff(data: dict[str, Any]) -> None:
    data["cutoff"] += DAY


def drop_candidate(data: dict[str, Any]) -> None:
    data["candidates"].pop()


def add_field(data: dict[str, Any]) -> None:
    data["approvedBy"] = "me"


@pytest.mark.parametrize(
    "edit", [edit_count, edit_user_id, edit_exclusion, edit_cutoff, drop_candidate, add_field]
)
def test_an_edited_plan_is_refused(edit: Any) -> None:
    data = saved_plan()
    assert CullPlan.from_json(data).count == 2
    edit(data)
    with pytest.raises(PlanError, match="changed after it was made"):
        CullPlan.from_json(data)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (edit_count, "says 1 users but lists 2"),
        (edit_exclusion, "do not agree"),
        (edit_cutoff, "cutoff does not follow"),
        (drop_candidate, "says 2 users but lists 1"),
        (add_field, "do not agree"),
    ],
)
def test_an_edited_plan_with_a_recomputed_hash_is_refused_too(edit: Any, message: str) -> None:
    data = saved_plan()
    edit(data)
    with pytest.raises(PlanError, match=message):
        CullPlan.from_json(rehash(data))


@pytest.mark.parametrize("version", [0, 2, "1", None])
def test_an_unknown_version_is_refused(version: object) -> None:
    data = saved_plan()
    data["version"] = version
    with pytest.raises(PlanError, match="version"):
        CullPlan.from_json(data)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("now",), "1800000000", '"now" should be a whole number, not str'),
        (("now",), 1.8e9, '"now" should be a whole number, not float'),
        (("lifetimeSeconds",), True, '"lifetimeSeconds" should be a whole number, not bool'),
        (("candidates",), {}, '"candidates" should be a list'),
        (("candidates", 0, "lastSignIn"), "never", '"lastSignIn" should be a whole number'),
        (("candidates", 0, "userId"), 7, '"userId" should be text'),
        (("candidates", 0), [], r"candidates\[0\] should be an object"),
        (("tenant",), "Anonymous Users", '"tenant" should be an object'),
        (("stage",), "obliterate", "stage 'obliterate' is not one"),
        (("keepRules",), ["plan=paid"], "keep-rule is not valid"),
        (("exclusions", "banished"), {"count": 0, "userIds": []}, "unknown exclusion 'banished'"),
    ],
)
def test_a_mistyped_plan_is_refused_with_the_field_named(
    path: tuple[Any, ...], value: object, message: str
) -> None:
    data = saved_plan()
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(PlanError, match=message):
        CullPlan.from_json(data)


@pytest.mark.parametrize("field", ["planHash", "cutoff", "candidates", "profile", "tenant"])
def test_a_plan_missing_a_field_is_refused(field: str) -> None:
    data = saved_plan()
    del data[field]
    with pytest.raises(PlanError, match=f'no "{field}"'):
        CullPlan.from_json(data)


def test_plan_errors_are_value_errors_and_refuse_non_objects() -> None:
    assert issubclass(PlanError, ValueError)
    with pytest.raises(PlanError, match="JSON object"):
        CullPlan.from_json([])  # type: ignore[arg-type]
    data = saved_plan()
    data["candidates"][0]["createdTime"] = False
    with pytest.raises(PlanError, match=r"candidates\[0\].*createdTime"):
        CullPlan.from_json(data)


# ---- buckets and what-if ----------------------------------------------------------------------------


def test_buckets_by_age_since_last_activity() -> None:
    ages_days = [0, 29, 30, 89, 90, 179, 180, 364, 365, 729, 730, 1094, 1095, 5000]
    users = [anon(i, created=NOW - age * DAY) for i, age in enumerate(ages_days)]
    users.append(anon(99, created=NOW - 2000 * DAY))
    plan = plan_of(make_table(users, {uid(99): NOW + DAY}))  # a future sign-in: age 0
    assert [(b.label, b.users) for b in plan.buckets] == [
        ("under 1 month", 3),
        ("1–3 months", 2),
        ("3–6 months", 2),
        ("6–12 months", 2),
        ("1–2 years", 2),
        ("2–3 years", 2),
        ("over 3 years", 2),
    ]
    # 365 days is not past 1 year + the clock skew margin; 729 days and older are.
    assert [b.candidates for b in plan.buckets] == [0, 0, 0, 0, 1, 2, 2]
    assert plan.buckets[0].from_seconds == 0
    assert plan.buckets[-1].to_seconds is None
    assert sum(b.candidates for b in plan.buckets) == plan.count


@pytest.mark.parametrize("stage", list(Stage))
def test_what_if_counts_equal_the_plans_counts(stage: Stage) -> None:
    users, sign_ins, journal = mixed_users(600, seed=7)
    table = make_table(users, sign_ins)
    rules = rules_for(stage, journal)
    recounter = Recounter(table, rules, NOW)
    for lifetime in (DAY, 30 * DAY, 200 * DAY, YEAR, 2 * YEAR, 10 * YEAR):
        for grace in (0, 7 * DAY, YEAR):
            plan = plan_of(table, replace(rules, lifetime_seconds=lifetime, grace_seconds=grace))
            counted = recounter.count(lifetime, grace)
            assert counted == what_if(table, rules, now=NOW, lifetime_seconds=lifetime, grace_seconds=grace)
            assert counted.cutoff == plan.cutoff
            assert counted.count == plan.count
            assert dict(counted.exclusions) == {r: len(ids) for r, ids in plan.exclusions.items()}
            assert counted.buckets == plan.buckets


def test_what_if_refuses_a_lifetime_of_zero() -> None:
    with pytest.raises(ValueError, match="longer than zero"):
        what_if(make_table([anon(1)]), RULES, now=NOW, lifetime_seconds=0, grace_seconds=0)


# ---- one rule, two implementations -----------------------------------------------------------------


@pytest.mark.parametrize("stage", list(Stage))
@pytest.mark.parametrize("seed", [11, 12])
def test_judging_one_user_agrees_with_the_plan(stage: Stage, seed: int) -> None:
    """`judge` (one user, as `recheck` uses it) and `plan_cull` (vectorised) agree on every user."""
    users, sign_ins, journal = mixed_users(500, seed=seed)
    table = make_table(users, sign_ins)
    rules = rules_for(stage, journal)
    plan = plan_of(table, rules)
    seen: set[object] = set()
    for user in users:
        verdict, _ = judge(user, sign_ins.get(user.user_id), cutoff=plan.cutoff, now=NOW, rules=rules)
        expected = None if verdict in ("not_listed", "outside") else verdict
        assert outcome(plan, user.user_id) == expected, user
        seen.add(verdict)
    assert {"candidate", "not_listed", "outside"} <= seen
    if stage is Stage.DELETE:
        assert set(Exclusion) <= seen  # the mix has every sort of user


# ---- recheck ----------------------------------------------------------------------------------------


@pytest.fixture
def planned() -> tuple[UserTable, CullPlan]:
    table = make_table([anon(i) for i in range(1, 4)])
    return table, plan_of(table)


def test_recheck_passes_an_unchanged_candidate(planned: tuple[UserTable, CullPlan]) -> None:
    table, plan = planned
    for row in range(len(table)):
        assert recheck(table.user(row), table.last_sign_in(row), plan, now=NOW + 60, rules=RULES) is None


@pytest.mark.parametrize(
    ("fields", "sign_in", "reason"),
    [
        ({"email": "a@b.c", "verified_email": True}, None, "converted: has a verified email"),
        ({"phone": "+15550100", "verified_phone": True}, None, "converted: has a verified phone"),
        ({}, NOW + 10, "signed in after the plan was made"),  # `now` below is later
        ({"tenants": ()}, None, "changed tenant: no longer in the anonymous tenant"),
        ({"tenants": (*IN_ANON, UserTenant(OTHER))}, None, "changed tenant: now also in another tenant"),
        ({"custom_attributes": {"hasData": "yes"}}, None, "a keep-rule now matches (attribute:hasData)"),
        ({"status": "disabled"}, None, "disabled by someone else"),
        ({"test": True}, None, "marked as a test user"),
        ({"name": "Jo"}, None, "identifying data added: it needs attention"),
        ({}, NOW + DAY, "its last sign-in is later than now (a clock is off)"),
    ],
)
def test_recheck_says_why_a_candidate_is_no_longer_eligible(
    planned: tuple[UserTable, CullPlan], fields: dict[str, Any], sign_in: int | None, reason: str
) -> None:
    _, plan = planned
    rules = replace(RULES, keep_rules=(KeepRule.parse("attribute:hasData"),))
    assert recheck(anon(1, **fields), sign_in, plan, now=NOW + 60, rules=rules) == reason


def test_recheck_gone_and_strangers(planned: tuple[UserTable, CullPlan]) -> None:
    _, plan = planned
    assert recheck(None, None, plan, now=NOW, rules=RULES) == "gone"
    assert recheck(anon(77), None, plan, now=NOW, rules=RULES) == "not a candidate of this plan"
    with pytest.raises(ValueError, match="not the ones the plan was made with"):
        recheck(anon(1), None, plan, now=NOW, rules=replace(RULES, stage=Stage.DISABLE))


def test_recheck_of_the_stages() -> None:
    disable_rules = replace(RULES, stage=Stage.DISABLE)
    disable = plan_of(make_table([anon(1)]), disable_rules)
    done = replace(disable_rules, disabled_by_console={uid(1): NOW})  # a resumed run did it already
    assert (
        recheck(anon(1, status="disabled"), None, disable, now=NOW, rules=done)
        == "already disabled by the console"
    )

    delete_rules = replace(
        RULES,
        stage=Stage.DELETE_DISABLED,
        disabled_for_seconds=30 * DAY,
        disabled_by_console={uid(1): NOW - 40 * DAY},
    )
    plan = plan_of(make_table([anon(1, status="disabled")]), delete_rules)
    assert plan.count == 1
    assert recheck(anon(1, status="disabled"), None, plan, now=NOW, rules=delete_rules) is None
    assert recheck(anon(1, status="enabled"), None, plan, now=NOW, rules=delete_rules) == "enabled again"
    forgotten = replace(delete_rules, disabled_by_console={})
    assert (
        recheck(anon(1, status="disabled"), None, plan, now=NOW, rules=forgotten)
        == "not disabled by the console"
    )


# ---- rules and the table ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lifetime_seconds": 0}, "longer than zero"),
        ({"grace_seconds": -1}, "cannot be negative"),
        ({"tenant_id": ""}, "No anonymous tenant"),
        ({"disabled_for_seconds": -1}, "cannot be negative"),
    ],
)
def test_rules_are_checked(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(RULES, **changes)


def test_rules_keep_their_own_copy_of_the_journal() -> None:
    journal = {uid(1): NOW}
    rules = replace(RULES, disabled_by_console=journal)
    journal[uid(2)] = NOW
    assert dict(rules.disabled_by_console) == {uid(1): NOW}


def test_a_table_classified_for_another_tenant_is_refused() -> None:
    table = UserTable(AnonymousPolicy(OTHER, LIFETIME), now=lambda: NOW)
    with pytest.raises(ValueError, match="another anonymous tenant"):
        plan_of(table)


def test_table_columns_for_the_cull_are_read_only() -> None:
    table = make_table([anon(1), anon(2, tenants=(*IN_ANON, UserTenant(OTHER)))], {uid(1): OLD})
    member, elsewhere = table.tenant_membership(ANON)
    assert member.tolist() == [True, True]
    assert elsewhere.tolist() == [False, True]
    assert table.last_active().tolist() == [OLD, OLD]
    for view in (table.last_sign_ins(), table.created_times(), table.gone_mask(), table.test_user_mask()):
        with pytest.raises(ValueError, match="read-only"):
            view[0] = 0
    assert table.primary_login_ids(np.array([1], dtype=np.int64)) == ["r00002x@q2z.com"]


# ---- 200,000 users ----------------------------------------------------------------------------------


def test_200k_users_plan_and_recount() -> None:
    """Correct at scale, and fast enough: loose guards only (the benchmark prints the figures)."""
    count = 200_000
    table = UserTable(AnonymousPolicy(ANON, LIFETIME), now=lambda: NOW)
    table.reserve(count)
    for start in range(0, count, 10_000):
        # Ages 0..999 days; every 10th user signed in 100 days ago; every 50th is a test user.
        page = [
            anon(i, created=NOW - (i % 1000) * DAY, test=i % 50 == 0) for i in range(start, start + 10_000)
        ]
        table.append(page)
    del page
    table.set_last_sign_ins({uid(i): NOW - 100 * DAY for i in range(0, count, 10)})
    gc.collect()

    started = time.perf_counter()
    plan = plan_of(table)
    planned = time.perf_counter() - started
    recounter = Recounter(table, RULES, NOW)
    started = time.perf_counter()
    counted = recounter.count(2 * YEAR, 0)
    recounted = time.perf_counter() - started

    def expired(i: int, lifetime: int) -> bool:
        last = NOW - 100 * DAY if i % 10 == 0 else NOW - (i % 1000) * DAY
        return last < cutoff_for(NOW, lifetime, 0) and i % 50 != 0

    assert plan.count == sum(expired(i, LIFETIME) for i in range(count))
    assert plan.count > 100_000
    assert counted.count == sum(expired(i, 2 * YEAR) for i in range(count))
    assert len(plan.exclusions[Exclusion.TEST_USER]) == sum(
        1 for i in range(0, count, 50) if NOW - (i % 1000) * DAY < plan.cutoff
    )
    assert [c.last_active for c in plan.candidates] == sorted(c.last_active for c in plan.candidates)
    assert planned < 3.0, f"plan_cull took {planned:.2f} s"
    assert recounted < 0.2, f"a recount took {recounted:.3f} s"


def test_a_keep_rule_added_after_approval_still_spares_at_the_recheck() -> None:
    """`--approve FILE` and a resume re-check with the plan's rules plus the profile's current ones."""
    from anonconsole.operations.cull import rules_of

    marked = anon(1, custom_attributes={"hasOrders": True})
    plan = plan_of(make_table([marked, anon(2)]))
    assert plan.count == 2
    rule = KeepRule.parse("attribute:hasOrders")
    assert recheck(marked, None, plan, now=NOW, rules=rules_of(plan)) is None
    reason = recheck(marked, None, plan, now=NOW, rules=rules_of(plan, (rule,)))
    assert reason is not None
    assert "keep-rule" in reason
    assert rules_of(plan, (rule, rule)).keep_rules == (rule,)


@pytest.mark.parametrize("step_rows", [1, 2, 3, 20_000])
def test_the_plan_made_in_steps_is_the_plan_made_at_once(
    monkeypatch: pytest.MonkeyPatch, step_rows: int
) -> None:
    """The window plans in steps (hashing the candidates a step at a time): the same plan, the
    same hash as the canonical JSON of the whole plan."""
    from anonconsole.core import cull

    users = [anon(i, created=OLD - i * DAY) for i in range(7)] + [anon(50, test=True)]
    table = make_table(users)
    monkeypatch.setattr(cull, "STEP_ROWS", step_rows)
    monkeypatch.setattr(cull, "HASH_ROWS", step_rows)
    steps = cull.plan_cull_steps(table, RULES, now=NOW, profile="test", project_id="P2")
    count = 0
    while True:
        try:
            next(steps)
            count += 1
        except StopIteration as done:
            plan = done.value
            break
    assert count > 3
    assert plan.count == 7
    assert plan.plan_hash == plan_hash_of(plan._content())
    assert b"".join(plan.json_pieces()) == canonical(plan._content())  # the journal's plan file
    assert CullPlan.from_json(json.loads(json.dumps(plan.to_json()))) == plan
