"""Converting an anonymous user into a regular one: the address, the checks, the steps and their undo.

The KB article's rule: the new email or phone must be *verified*, or anyone could take over an account
they do not own. By default Descope verifies it (a one-time code sent to the address, read out by the
person, typed by the agent); as a fallback the agent attests that the person proved it elsewhere, with
a reason and a ticket. Either way the user keeps its ID and everything the app stored for it.

Pure: no Qt, no I/O. The operation (`operations.convert`) reads users and carries the steps out; this
module says what is valid, what the user must look like before each write, what each step changes,
how it is undone, and what state a user is in, in words.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from anonconsole.core.classify import AnonymousPolicy, Kind, classify, format_duration, kind_of
from anonconsole.core.errors import GatewayError
from anonconsole.core.records import User

CODE_DIGITS = (4, 10)  # Descope sends 6 digits; a project may configure another length
REASON_MIN_LENGTH = 10
TICKET_MAX_LENGTH = 100
NONE = "—"


class InputError(ValueError):
    """Input a person typed that cannot be used; the message says what to type instead."""


class Channel(StrEnum):
    """Where the new address receives its code: an email address, or a phone by text message."""

    EMAIL = "email"
    PHONE = "phone"

    @property
    def label(self) -> str:
        return "email address" if self is Channel.EMAIL else "phone number"


@dataclass(frozen=True)
class Address:
    """A valid address in the form Descope stores: an email as email-validator normalises it (the
    domain in lower case), a phone in E.164 (`+16502530123`)."""

    channel: Channel
    value: str

    def __str__(self) -> str:
        return self.value


def warm_up() -> None:
    """Import what checking addresses needs, e.g. in a worker thread when the wizard opens, so the
    first keystroke does not wait for it.

    phonenumbers and email-validator are imported where they are used: 150 ms of imports that the
    gateway (which imports this module for `CodeRejected`) and the console's start-up skip.
    """
    import email_validator  # noqa: F401
    import phonenumbers  # noqa: F401


def parse_address(channel: Channel, text: str, *, region: str | None = None) -> Address:
    """The address typed, checked and normalised; raises `InputError` saying what is wrong.

    A phone without a leading `+` needs `region` (an ISO country code such as "US").
    """
    text = text.strip()
    if not text:
        raise InputError(f"Type the {channel.label}.")
    if channel is Channel.EMAIL:
        from email_validator import EmailNotValidError, validate_email

        try:
            checked = validate_email(text, check_deliverability=False)
        except EmailNotValidError as exc:
            raise InputError(f"Not a valid email address: {exc}") from None
        return Address(channel, checked.normalized)
    import phonenumbers

    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InputError(
            "Not a phone number: type it in international form, a + and the country code first "
            "(e.g. +1 650 253 0000)."
        ) from None
    if not phonenumbers.is_possible_number(number):
        raise InputError("Not a valid phone number: it has too few or too many digits for its country.")
    if not phonenumbers.is_valid_number(number):
        raise InputError("Not a valid phone number: no such number exists in its country's numbering plan.")
    return Address(channel, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def parse_code(text: str) -> str:
    """The one-time code as typed (spaces allowed between digits); raises `InputError`."""
    code = "".join(text.split())
    low, high = CODE_DIGITS
    if not code.isdigit() or not low <= len(code) <= high:
        raise InputError("Type the code's digits (Descope sends 6).")
    return code


def _same_email(a: str, b: str) -> bool:
    return bool(a) and a.casefold() == b.casefold()


def _same_phone(a: str, b: str) -> bool:
    """Equal as numbers, whatever the spacing: both in E.164 when they parse."""
    if not a or not b:
        return False
    if a == b:
        return True
    import phonenumbers

    try:
        fa, fb = (
            phonenumbers.format_number(phonenumbers.parse(x, None), phonenumbers.PhoneNumberFormat.E164)
            for x in (a, b)
        )
    except phonenumbers.NumberParseException:
        return False
    return fa == fb


def _same(address: Address, value: str) -> bool:
    same = _same_email if address.channel is Channel.EMAIL else _same_phone
    return same(value, address.value)


def has_login_id(user: User, login_id: str) -> bool:
    """Login IDs are case-insensitive in Descope."""
    return any(x.casefold() == login_id.casefold() for x in user.login_ids)


def contact(user: User, channel: Channel) -> tuple[str, bool]:
    """The user's email or phone, and whether it is verified."""
    if channel is Channel.EMAIL:
        return user.email, user.verified_email
    return user.phone, user.verified_phone


# -- who may be converted, and to what ----------------------------------------------------------------


def preconditions(user: User | None, tenant_id: str) -> list[str]:
    """Why `user` cannot be converted now (empty: it can): it must exist and still be anonymous."""
    if user is None:
        return ["The user no longer exists: someone deleted it (or it was culled) meanwhile."]
    if not tenant_id:
        return ["No anonymous tenant is set up for this connection, so nobody is anonymous: set it up first."]
    verdict = classify(user, AnonymousPolicy(tenant_id, None), last_sign_in=None, now=0)
    if verdict.kind is not Kind.ANONYMOUS:
        return [f"The user is no longer anonymous: {verdict.reason[:1].lower()}{verdict.reason[1:]}."]
    return []


@dataclass(frozen=True)
class Collision:
    """Another user already holding the address, said so that the agent can find it.

    Attributes:
        user_id: the holder's ID.
        login_id: the holder's first login ID.
        fields: where the address is: "login ID", "email" and/or "phone".
        test: the holder is a Descope test user.
        status: the holder's status (a disabled user still holds its addresses).
    """

    user_id: str
    login_id: str
    fields: tuple[str, ...]
    test: bool = False
    status: str = ""

    def sentence(self, address: Address) -> str:
        kinds = [k for k, on in (("a test user", self.test), ("disabled", self.status == "disabled")) if on]
        extra = f", {' and '.join(kinds)}" if kinds else ""
        where = " and ".join(self.fields)
        return f"{address} is the {where} of the user {self.login_id} ({self.user_id}{extra})."


def collisions(address: Address, user_id: str, candidates: Iterable[User]) -> list[Collision]:
    """The users other than `user_id` that hold `address` as a login ID, an email or a phone, verified or
    not, test and disabled users included: converting to it would give someone else's address."""
    found: dict[str, Collision] = {}
    for other in candidates:
        if other.user_id == user_id or other.user_id in found:
            continue
        fields = [
            name
            for name, hit in (
                ("login ID", any(_same(address, x) for x in other.login_ids)),
                ("email", _same_email(other.email, address.value)),
                ("phone", _same_phone(other.phone, address.value)),
            )
            if hit
        ]
        if fields:
            found[other.user_id] = Collision(
                other.user_id, other.primary_login_id, tuple(fields), other.test, other.status
            )
    return list(found.values())


class Verification(StrEnum):
    """How the address was proved to be the person's."""

    CODE = "code"  # Descope sent a one-time code to it and verified the code typed back
    ATTESTED = "attested"  # the agent attests the person proved it elsewhere (reason + ticket)


@dataclass(frozen=True)
class Attestation:
    """Why the agent vouches for the address instead of Descope verifying it."""

    reason: str
    ticket: str

    def problems(self) -> list[str]:
        found = []
        if len(self.reason.strip()) < REASON_MIN_LENGTH:
            found.append(
                f"Say how the person proved the address (at least {REASON_MIN_LENGTH} characters), "
                "e.g. “replied from it to ticket 4711”."
            )
        ticket = self.ticket.strip()
        if not ticket:
            found.append("Give the ticket (or case) reference of the request.")
        elif len(ticket) > TICKET_MAX_LENGTH or "\n" in ticket:
            found.append(f"The ticket reference must be one line of at most {TICKET_MAX_LENGTH} characters.")
        return found


class StepKind(StrEnum):
    """The changes a conversion makes, in the order they are made."""

    ATTACH_BY_CODE = "attach_by_code"  # Descope adds the address when the code is verified
    REPLACE_LOGIN_ID = "replace_login_id"  # attested: the address takes the random login ID's place
    MARK_VERIFIED = "mark_verified"  # attested: the address becomes the verified email or phone
    NAME = "name"
    LEAVE_TENANT = "leave_tenant"
    DROP_LOGIN_ID = "drop_login_id"  # last: Descope's management API cannot add a login ID back


@dataclass(frozen=True)
class Step:
    """One change, and how it is undone ("" when it is not: it is the last step)."""

    kind: StepKind
    text: str
    undo: str


@dataclass(frozen=True)
class ConversionPlan:
    """Everything a conversion does to one anonymous user.

    Attributes:
        before: the user as it was planned from (anonymous).
        address: the new, verified address.
        tenant_id: the anonymous tenant it leaves.
        verification: how the address was proved.
        keep_login_id: whether the random anonymous login ID stays (only with a code: with
            attestation the address takes its place).
        display_name: a name to set ("" leaves it as it is).
        attestation: the agent's reason and ticket, when attested.
    """

    before: User
    address: Address
    tenant_id: str
    verification: Verification = Verification.CODE
    keep_login_id: bool = False
    display_name: str = ""
    attestation: Attestation | None = None

    @property
    def anonymous_login_id(self) -> str:
        """The random login ID the anonymous-user recipe gave it (an anonymous user has only that one)."""
        return self.before.primary_login_id

    @property
    def tenant_name(self) -> str:
        found = next((t.tenant_name for t in self.before.tenants if t.tenant_id == self.tenant_id), "")
        return found or self.tenant_id

    @property
    def steps(self) -> tuple[Step, ...]:
        address, channel, random_id = self.address, self.address.channel.value, self.anonymous_login_id
        old, _ = contact(self.before, self.address.channel)
        restore = f"restore the {channel} as it was ({old or 'none'})"
        steps: list[Step] = []
        if self.verification is Verification.CODE:
            steps.append(
                Step(
                    StepKind.ATTACH_BY_CODE,
                    f"{address} added as a verified login ID (by Descope, when the code was verified)",
                    f"remove the login ID {address} and {restore}",
                )
            )
        else:
            steps.append(
                Step(
                    StepKind.REPLACE_LOGIN_ID,
                    f"The random login ID {random_id} replaced by {address}",
                    f"put {random_id} back in place of {address}",
                )
            )
            steps.append(Step(StepKind.MARK_VERIFIED, f"{address} set as the verified {channel}", restore))
        if self.display_name and self.display_name != self.before.name:
            steps.append(
                Step(
                    StepKind.NAME,
                    f"Display name set to “{self.display_name}”",
                    f"set the display name back to “{self.before.name}”" if self.before.name else "clear it",
                )
            )
        steps.append(
            Step(
                StepKind.LEAVE_TENANT,
                f"Removed from the anonymous tenant “{self.tenant_name}”",
                "add it back to the anonymous tenant",
            )
        )
        if self.verification is Verification.CODE and not self.keep_login_id:
            steps.append(Step(StepKind.DROP_LOGIN_ID, f"The random login ID {random_id} removed", ""))
        return tuple(steps)

    def problems(self, *, allow_attestation: bool) -> list[str]:
        """Why this plan must not run (empty: it may), before looking at anything in Descope."""
        found = preconditions(self.before, self.tenant_id)
        if self.verification is Verification.ATTESTED:
            if not allow_attestation:
                found.append(
                    "This connection's profile forbids attested conversions: verify the address by code."
                )
            if self.attestation is None:
                found.append("An attested conversion needs a reason and a ticket reference.")
            else:
                found.extend(self.attestation.problems())
            if self.keep_login_id:
                found.append(
                    "With attestation the address takes the random login ID's place: Descope's "
                    "management API can replace a login ID but not add one. Verify by code to keep it."
                )
        if has_login_id(self.before, self.address.value):
            found.append(f"{self.address} is already this user's login ID.")
        return found

    def attached(self) -> User:
        """The user as it should be once the address is attached (and nothing else done yet)."""
        user = self.before
        login_ids = list(user.login_ids)
        if self.verification is Verification.CODE:
            login_ids.append(self.address.value)
        else:
            login_ids = [self.address.value if x == self.anonymous_login_id else x for x in login_ids]
        user = replace(user, login_ids=tuple(login_ids))
        if self.address.channel is Channel.EMAIL:
            return replace(user, email=self.address.value, verified_email=True)
        return replace(user, phone=self.address.value, verified_phone=True)

    def after(self) -> User:
        """The user as it should be once every step is done."""
        user = self.attached()
        if self.display_name:
            user = replace(user, name=self.display_name)
        user = replace(user, tenants=tuple(t for t in user.tenants if t.tenant_id != self.tenant_id))
        if self.verification is Verification.CODE and not self.keep_login_id:
            user = replace(user, login_ids=tuple(x for x in user.login_ids if x != self.anonymous_login_id))
        return user


def step_done(kind: StepKind, user: User, plan: ConversionPlan) -> bool:
    """Whether `user` shows the step's change: how a write whose answer was lost is settled."""
    address, random_id = plan.address, plan.anonymous_login_id
    value, verified = contact(user, address.channel)
    match kind:
        case StepKind.ATTACH_BY_CODE:
            return has_login_id(user, address.value) and _same(address, value) and verified
        case StepKind.REPLACE_LOGIN_ID:
            return has_login_id(user, address.value) and not has_login_id(user, random_id)
        case StepKind.MARK_VERIFIED:
            return _same(address, value) and verified
        case StepKind.NAME:
            return user.name == plan.display_name
        case StepKind.LEAVE_TENANT:
            return not user.in_tenant(plan.tenant_id)
        case StepKind.DROP_LOGIN_ID:
            return not has_login_id(user, random_id)


def step_undone(kind: StepKind, user: User, plan: ConversionPlan) -> bool:
    """Whether `user` shows the step's change undone (its part of the user as before)."""
    before = plan.before
    address, random_id = plan.address, plan.anonymous_login_id
    restored = contact(user, address.channel) == contact(before, address.channel)
    match kind:
        case StepKind.ATTACH_BY_CODE:
            return not has_login_id(user, address.value) and restored
        case StepKind.REPLACE_LOGIN_ID:
            return has_login_id(user, random_id) and not has_login_id(user, address.value)
        case StepKind.MARK_VERIFIED:
            return restored
        case StepKind.NAME:
            return user.name == before.name
        case StepKind.LEAVE_TENANT:
            return user.in_tenant(plan.tenant_id)
        case StepKind.DROP_LOGIN_ID:
            return has_login_id(user, random_id)


# -- comparing users --------------------------------------------------------------------------------


def snapshot(user: User) -> dict[str, Any]:
    """What a conversion is about, as plain JSON values (the audit log's before and after)."""
    return {
        "userId": user.user_id,
        "loginIds": list(user.login_ids),
        "email": user.email,
        "verifiedEmail": user.verified_email,
        "phone": user.phone,
        "verifiedPhone": user.verified_phone,
        "name": user.name,
        "tenants": list(user.tenant_ids),
        "status": user.status,
        "test": user.test,
    }


def _comparable(user: User) -> dict[str, Any]:
    """A user's fields as a conversion compares them: login IDs and emails whatever their case, tenants
    whatever their order, and only whether it is disabled (a sign-in turns "invited" into "enabled")."""
    return {
        "login IDs": sorted(x.casefold() for x in user.login_ids),
        "email": (user.email.casefold(), user.verified_email),
        "phone": (user.phone, user.verified_phone),
        "name": user.name,
        "tenants": sorted(user.tenant_ids),
        "disabled": user.status == "disabled",
        "test user": user.test,
    }


def differences(now: User, expected: User) -> list[str]:
    """How `now` differs from `expected`, field by field, in words ("" fields: none)."""
    a, b = _comparable(now), _comparable(expected)
    return [
        f"{name}: expected {_field_text(expected, name)}, found {_field_text(now, name)}"
        for name in a
        if a[name] != b[name]
    ]


def _field_text(user: User, name: str) -> str:
    match name:
        case "login IDs":
            return ", ".join(user.login_ids) or NONE
        case "email":
            return _contact_text(user.email, user.verified_email)
        case "phone":
            return _contact_text(user.phone, user.verified_phone)
        case "name":
            return f"“{user.name}”" if user.name else NONE
        case "tenants":
            return _tenants_text(user)
        case "disabled":
            return "disabled" if user.status == "disabled" else "not disabled"
        case _:
            return "a test user" if user.test else "not a test user"


def recheck(now: User | None, plan: ConversionPlan, *, attached: bool) -> list[str]:
    """Right before writing: why the user is not (any more) as the plan expects it (empty: it is).

    `attached`: the code was verified, so the address is expected on the user and nothing else changed;
    otherwise the user must still be the anonymous user planned from.
    """
    if now is None:
        return preconditions(None, plan.tenant_id)
    if attached:
        changed = differences(now, plan.attached())
        if changed:
            return ["Someone changed the user since the code was verified: " + "; ".join(changed) + "."]
        return []
    found = preconditions(now, plan.tenant_id)
    if found:
        return found
    changed = differences(now, plan.before)
    return ["Someone changed the user meanwhile: " + "; ".join(changed) + "."] if changed else []


# -- saying it ---------------------------------------------------------------------------------------


def _contact_text(value: str, verified: bool) -> str:
    if not value:
        return NONE
    return f"{value} ({'verified' if verified else 'unverified'})"


def _tenants_text(user: User) -> str:
    return ", ".join(t.tenant_name or t.tenant_id for t in user.tenants) or NONE


def review_rows(before: User, after: User, tenant_id: str) -> list[tuple[str, str, str]]:
    """(What, before, after) rows for the review page: what a person checks before applying."""
    return [
        ("User ID", before.user_id, after.user_id),
        ("Login IDs", "\n".join(before.login_ids) or NONE, "\n".join(after.login_ids) or NONE),
        (
            "Email",
            _contact_text(before.email, before.verified_email),
            _contact_text(after.email, after.verified_email),
        ),
        (
            "Phone",
            _contact_text(before.phone, before.verified_phone),
            _contact_text(after.phone, after.verified_phone),
        ),
        ("Display name", before.name or NONE, after.name or NONE),
        ("Tenants", _tenants_text(before), _tenants_text(after)),
        ("Kind", kind_of(before, tenant_id).label, kind_of(after, tenant_id).label),
    ]


def facts(user: User) -> str:
    """The user's identity in one line: login IDs, email, phone, tenants."""
    email = _contact_text(user.email, user.verified_email)
    phone = _contact_text(user.phone, user.verified_phone)
    login_ids = ", ".join(user.login_ids) or NONE
    return f"Login IDs: {login_ids}. Email: {email}. Phone: {phone}. Tenants: {_tenants_text(user)}."


def describe_state(user: User | None, plan: ConversionPlan) -> str:
    """The user's state in words, for a result page and the audit log: never "something went wrong"."""
    if user is None:
        return "The user no longer exists."
    kind = kind_of(user, plan.tenant_id)
    if not differences(user, plan.before):
        return f"The user is anonymous, exactly as before the conversion. {facts(user)}"
    if not differences(user, plan.after()):
        return f"The user is converted: a regular user with the same user ID. {facts(user)}"
    verdict = classify(user, AnonymousPolicy(plan.tenant_id, None), last_sign_in=None, now=0)
    if kind is Kind.ATTENTION:
        return (
            f"The user is half-converted and listed under Needs attention: {verdict.reason[:1].lower()}"
            f"{verdict.reason[1:]}. {facts(user)}"
        )
    return (
        f"The user is {kind.label.lower()} ({verdict.reason[:1].lower()}{verdict.reason[1:]}). {facts(user)}"
    )


# -- codes Descope refuses ---------------------------------------------------------------------------

# Descope's error codes for a refused one-time code (Go SDK errors.go; descope-api.md §1.7 has E061102).
CODE_REJECTIONS = {"E061102": "wrong", "E061103": "too_many", "E061104": "expired"}


class CodeRejected(GatewayError):
    """Descope refused the one-time code typed. `reason`: "wrong", "expired" or "too_many"."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"Descope refused the code ({reason.replace('_', ' ')}).", detail)
        self.reason = reason


def rejection_sentence(reason: str, *, sent_to: str, sent_ago: float) -> str:
    """What to tell the agent about a refused code, and what to do next."""
    when = "less than a minute" if sent_ago < 60 else format_duration(int(sent_ago))
    ago = f"It was sent {when} ago to {sent_to}"
    if reason == "expired":
        return f"The code has expired. {ago}. Send a new code."
    if reason == "too_many":
        return (
            "Too many wrong codes: Descope no longer accepts this one. Check the address with the person, "
            "then send a new code."
        )
    return (
        f"Descope refused the code: it is not the newest code sent, or it has expired. {ago}; codes "
        "expire after a few minutes and only the newest one counts. Check the digits with the person, "
        "or send a new code."
    )
