"""Delete, disable or enable users a person chose in a users view: the plan, and its re-check.

A person picks rows and an action; what they saw is what gets acted on, or nothing. The plan holds
each chosen user as the view showed it (login IDs, kind, status) and a hash of it all, so the
confirmation, the journal and the run agree on exactly which users. Right before its batch runs a
user is looked at again and left alone when it changed in a way that could make the choice wrong:
gone, other login IDs (someone converted it or reused the row), another kind (anonymous became
regular), or already in the state the action would give.

Pure Python: no Qt, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from typing import Any, ClassVar

from anonconsole.core.classify import Kind, kind_of
from anonconsole.core.plan_file import JsonReader, PlanError, canonical, content_hash, json_record
from anonconsole.core.records import User

PLAN_KIND = "users"
PLAN_VERSION = 1


class UserAction(StrEnum):
    """What a person can do to chosen users; the value is the verb."""

    DELETE = "delete"
    DISABLE = "disable"
    ENABLE = "enable"

    @property
    def past(self) -> str:
        """The verb as a result: "deleted", "disabled", "enabled"."""
        return self.value + "d"

    @property
    def reversible(self) -> bool:
        return self is not UserAction.DELETE


@dataclass(frozen=True, slots=True)
class ChosenUser:
    """One chosen user as the view showed it when the person chose it."""

    user_id: str
    login_id: str  # the first login ID: what Descope's status calls address a user by
    login_ids: tuple[str, ...]
    kind: str  # a `classify.Kind` value
    status: str

    @classmethod
    def of(cls, user: User, tenant_id: str) -> ChosenUser:
        """`user` as it is now, classified against the anonymous tenant `tenant_id` ("" if none)."""
        return cls(
            user.user_id,
            user.login_ids[0] if user.login_ids else "",
            tuple(user.login_ids),
            kind_of(user, tenant_id).value,
            user.status,
        )


@dataclass(frozen=True)
class ChosenPlan:
    """Chosen users and what to do to them, as confirmed; `plan_hash` covers all of it.

    Attributes:
        action: delete, disable or enable.
        profile / project_id: where the users were chosen.
        tenant_id: the anonymous tenant the kinds were judged against ("" when there is none).
        now: when the plan was made (epoch s).
        users: in the order they were chosen, each user once.
    """

    action: UserAction
    profile: str
    project_id: str
    tenant_id: str
    now: int
    users: tuple[ChosenUser, ...]
    plan_hash: str = ""

    KIND: ClassVar[str] = PLAN_KIND

    @property
    def count(self) -> int:
        return len(self.users)

    @property
    def user_ids(self) -> tuple[str, ...]:
        return tuple(u.user_id for u in self.users)

    @cached_property
    def _by_id(self) -> dict[str, ChosenUser]:
        return {u.user_id: u for u in self.users}

    def chosen(self, user_id: str) -> ChosenUser | None:
        return self._by_id.get(user_id)

    def _content(self) -> dict[str, Any]:
        return {
            "kind": PLAN_KIND,
            "version": PLAN_VERSION,
            "action": self.action.value,
            "profile": self.profile,
            "projectId": self.project_id,
            "tenantId": self.tenant_id,
            "now": self.now,
            "time": datetime.fromtimestamp(self.now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "count": self.count,
            "users": [
                {
                    "userId": u.user_id,
                    "loginId": u.login_id,
                    "loginIds": list(u.login_ids),
                    "kind": u.kind,
                    "status": u.status,
                }
                for u in self.users
            ],
        }

    def to_json(self) -> dict[str, Any]:
        return {**self._content(), "planHash": self.plan_hash}

    def json_pieces(self) -> Iterator[bytes]:
        """The canonical JSON the hash covers (one piece: a person's selection, not a backlog)."""
        yield canonical(self._content())

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChosenPlan:
        """A saved plan, refused (PlanError) when anything is missing, mistyped, or was edited."""
        return _plan_from_json(data)


def plan_action(
    action: UserAction,
    users: Iterable[User],
    *,
    tenant_id: str,
    profile: str,
    project_id: str,
    now: int,
) -> ChosenPlan:
    """The plan to apply `action` to `users` (duplicates dropped, order kept)."""
    seen: dict[str, ChosenUser] = {}
    for user in users:
        seen.setdefault(user.user_id, ChosenUser.of(user, tenant_id))
    plan = ChosenPlan(action, profile, project_id, tenant_id, int(now), tuple(seen.values()))
    return replace(plan, plan_hash=content_hash(plan._content()))


def recheck(user: User | None, plan: ChosenPlan) -> str | None:
    """None when `user` (reloaded right before its batch) is still the one chosen and the action
    still applies; otherwise why it is left alone, in plain words."""
    if user is None:
        return "gone: deleted by someone else"
    chosen = plan.chosen(user.user_id)
    if chosen is None:
        return "not one of the chosen users"
    if tuple(user.login_ids) != chosen.login_ids:
        return "its login IDs changed after it was chosen"
    # Judged at the status it had when chosen: the status is what the action changes, not who it is.
    kind = kind_of(replace(user, status=chosen.status), plan.tenant_id)
    if kind.value != chosen.kind:
        return f"its kind changed after it was chosen: {Kind(chosen.kind).label} → {kind.label}"
    if plan.action is UserAction.DISABLE and user.status == "disabled":
        return "already disabled"
    if plan.action is UserAction.ENABLE and user.status != "disabled":
        return "already enabled"
    return None


_USER_FIELDS = (
    ("user_id", "userId", "text"),
    ("login_id", "loginId", "text"),
    ("login_ids", "loginIds", "texts"),
    ("kind", "kind", "text"),
    ("status", "status", "text"),
)


def _plan_from_json(data: Mapping[str, Any]) -> ChosenPlan:
    if not isinstance(data, Mapping):
        raise PlanError("A plan is a JSON object; this file holds something else.")
    read = JsonReader(data, "the plan")
    if read.text("kind") != PLAN_KIND:
        raise PlanError("This is not a plan for chosen users.")
    if read.integer("version") != PLAN_VERSION:
        raise PlanError(f"This plan is not version {PLAN_VERSION}; make a new one.")
    try:
        action = UserAction(read.text("action"))
    except ValueError:
        raise PlanError(f"The plan's action {data['action']!r} is not one this console knows.") from None
    users = tuple(
        json_record(ChosenUser, v, f"users[{i}]", _USER_FIELDS) for i, v in enumerate(read.items("users"))
    )
    plan = ChosenPlan(
        action,
        read.text("profile"),
        read.text("projectId"),
        read.text("tenantId"),
        read.integer("now"),
        users,
        read.text("planHash"),
    )
    content = {key: value for key, value in data.items() if key != "planHash"}
    if content_hash(content) != plan.plan_hash or plan._content() != content:
        raise PlanError("The plan was changed after it was made (its hash does not match). Make a new plan.")
    if len({u.user_id for u in users}) != len(users):
        raise PlanError("The plan names a user twice: it was edited. Make a new plan.")
    return plan
