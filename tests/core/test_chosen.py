"""Chosen-user plans: exactly the users chosen, as they were seen; edited files are refused; the
re-check leaves alone a user that is no longer the one chosen."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from anonconsole.core.chosen import ChosenPlan, UserAction, plan_action, recheck
from anonconsole.core.plan_file import PlanError
from anonconsole.core.records import User, UserTenant

TENANT = "T-anon"


def user(
    user_id: str, *, status: str = "enabled", email: str = "", verified: bool = False, **kw: object
) -> User:
    return User(
        user_id=user_id,
        login_ids=(f"login-{user_id}",),
        status=status,
        email=email,
        verified_email=verified,
        tenants=(UserTenant(TENANT, "Anonymous Users"),),
        **kw,  # type: ignore[arg-type]
    )


def plan_of(action: UserAction, *users: User) -> ChosenPlan:
    return plan_action(action, users, tenant_id=TENANT, profile="Staging", project_id="P1", now=1_700_000_000)


def test_a_plan_holds_each_chosen_user_once_in_the_order_chosen() -> None:
    a, b = user("U1"), user("U2")
    plan = plan_of(UserAction.DELETE, b, a, b)
    assert plan.user_ids == ("U2", "U1")
    assert plan.chosen("U1") is not None
    assert plan.chosen("U1").kind == "anonymous"
    assert plan.plan_hash.startswith("sha256:")


def test_a_plan_round_trips_through_json_and_refuses_an_edit() -> None:
    plan = plan_of(UserAction.DISABLE, user("U1"), user("U2"))
    text = json.dumps(plan.to_json())
    assert ChosenPlan.from_json(json.loads(text)) == plan
    edited = json.loads(text)
    edited["users"].append(dict(edited["users"][0], userId="U3"))
    with pytest.raises(PlanError, match="changed after it was made"):
        ChosenPlan.from_json(edited)
    other = json.loads(text)
    other["action"] = "delete"
    with pytest.raises(PlanError, match="changed after it was made"):
        ChosenPlan.from_json(other)
    with pytest.raises(PlanError, match="not a plan for chosen users"):
        ChosenPlan.from_json(dict(json.loads(text), kind="cull"))
    with pytest.raises(PlanError, match='no "users" field'):
        ChosenPlan.from_json({k: v for k, v in json.loads(text).items() if k != "users"})


def test_the_recheck_acts_on_an_unchanged_user() -> None:
    plan = plan_of(UserAction.DELETE, user("U1"))
    assert recheck(user("U1"), plan) is None


@pytest.mark.parametrize(
    ("now", "why"),
    [
        (None, "gone: deleted by someone else"),
        (replace(user("U1"), login_ids=("login-U1", "a@example.com")), "login IDs changed"),
        (user("U1", email="a@example.com", verified=True), "Anonymous → Needs attention"),
        (replace(user("U1", email="a@example.com", verified=True), tenants=()), "Anonymous → Regular"),
    ],
)
def test_the_recheck_leaves_alone_a_user_that_is_no_longer_the_one_chosen(now: User | None, why: str) -> None:
    plan = plan_of(UserAction.DELETE, user("U1"))
    reason = recheck(now, plan)
    assert reason is not None
    assert why in reason


def test_a_user_outside_the_plan_is_never_acted_on() -> None:
    plan = plan_of(UserAction.DELETE, user("U1"))
    assert recheck(user("U2"), plan) == "not one of the chosen users"


def test_disable_and_enable_skip_users_already_in_that_state() -> None:
    disable = plan_of(UserAction.DISABLE, user("U1"))
    assert recheck(user("U1", status="disabled"), disable) == "already disabled"
    # A disabled anonymous user is classified as needing attention, so enabling it is judged on that kind.
    enable = plan_of(UserAction.ENABLE, user("U1", status="disabled"))
    assert recheck(user("U1", status="disabled"), enable) is None
    assert recheck(user("U1"), enable) is not None


def test_the_action_words() -> None:
    assert [a.past for a in UserAction] == ["deleted", "disabled", "enabled"]
    assert not UserAction.DELETE.reversible
    assert UserAction.DISABLE.reversible
