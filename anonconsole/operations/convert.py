"""Convert an anonymous user into a regular one, keeping its user ID: check, verify, apply, report.

1. `check_address`: the user still exists and is anonymous, and nobody else holds the address.
2. Verification: `CodeVerification` has Descope send a one-time code to the address (a management
   sign-in of the user gives the refresh token the OTP update needs) and verifies the code typed back;
   Descope then adds the address as a verified login ID. Or the agent attests (reason and ticket).
3. `apply_conversion`: the user is read again right before writing, then the plan's steps run in order
   (`core.convert`); a step that fails is settled by looking at the user (its answer may be lost while
   the change happened), and if it did not happen every step done is undone. The report always says the
   user's exact state. `abandon_conversion` detaches a verified address when the agent cancels.

Each of `apply_conversion` and `abandon_conversion` writes one audit entry: who, when, how the address
was verified (never a code, a token or a key), before and after.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from anonconsole.core.convert import (
    Address,
    Channel,
    CodeRejected,
    Collision,
    ConversionPlan,
    Step,
    StepKind,
    Verification,
    collisions,
    contact,
    describe_state,
    has_login_id,
    preconditions,
    recheck,
    rejection_sentence,
    snapshot,
    step_done,
    step_undone,
)
from anonconsole.core.errors import Conflict, GatewayError, NotFound, ServerError, Unreachable
from anonconsole.core.records import User
from anonconsole.operations.audit_log import AuditEntry, AuditLog
from anonconsole.operations.shape import Progress, Refusal, no_progress

if TYPE_CHECKING:
    from anonconsole.gateway import Gateway

# Failures after which the change may have happened (the answer was lost): look before deciding.
ANSWER_MAY_BE_LOST = (Unreachable, ServerError)
# How long the console's own session with the user lives (it only asks Descope for the code).
SESSION_SECONDS = 900


# -- 1. the address -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddressCheck:
    """Whether `address` may be given to the user: it still exists, is still anonymous, and nobody
    else (test and disabled users included) holds the address.

    Attributes:
        user: the user as read now (None: deleted).
        problems: why the user cannot be converted.
        collisions: the other users holding the address.
    """

    address: Address
    user: User | None
    problems: tuple[str, ...] = ()
    collisions: tuple[Collision, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems and not self.collisions

    def sentences(self) -> list[str]:
        """Why not, in words (empty when ok)."""
        taken = [c.sentence(self.address) for c in self.collisions]
        if taken:
            taken.append(
                "Converting to it would give this user someone else's address: choose another one, "
                "or find out with the person who holds it."
            )
        return [*self.problems, *taken]


async def check_address(gateway: Gateway, user_id: str, address: Address, *, tenant_id: str) -> AddressCheck:
    """Read the user again and look for other holders of the address; raises GatewayError when Descope
    cannot be asked."""
    user = await _look(gateway, user_id)
    problems = preconditions(user, tenant_id)
    holders = await gateway.users_with_address(address.value)
    return AddressCheck(address, user, tuple(problems), tuple(collisions(address, user_id, holders)))


async def _look(gateway: Gateway, user_id: str) -> User | None:
    """The user as Descope holds it now; None when it no longer exists."""
    try:
        return await gateway.load_user(user_id)
    except NotFound:
        return None


# -- 2. verification by a code Descope sends ----------------------------------------------------------


@dataclass(frozen=True)
class CodeSent:
    """Where and when Descope sent the newest code (`sent_to` masked as Descope answers it)."""

    sent_to: str
    at: float


class CodeVerification:
    """Descope's verification of one address for one user: send a code (again), verify the one typed.

    The console signs the user in through the management API only to ask for the code; every session it
    opens for the user is ended once the code is verified or the verification is dropped (`close`).

    Attributes:
        user: the user as last read (the conversion's "before").
        address: the address being verified.
        sent: the newest code sent, None before the first.
        verified: the user as Descope holds it once the code was verified (None until then).
    """

    def __init__(
        self,
        gateway: Gateway,
        user: User,
        address: Address,
        *,
        tenant_id: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.gateway = gateway
        self.user = user
        self.address = address
        self.tenant_id = tenant_id
        self.sent: CodeSent | None = None
        self.verified: User | None = None
        self._clock = clock
        self._sessions: list[str] = []  # refresh JWTs of the console's sessions with the user

    @property
    def _phone(self) -> bool:
        return self.address.channel is Channel.PHONE

    def plan(self, **choices: Any) -> ConversionPlan:
        """The conversion of this user to this address by code, with the review page's choices."""
        return ConversionPlan(self.user, self.address, self.tenant_id, Verification.CODE, **choices)

    async def send(self) -> CodeSent | Refusal:
        """Check again, then have Descope send a code to the address; a Refusal says why not."""
        if self.verified is not None:
            return Refusal(("The code was verified already.",))
        try:
            check = await check_address(
                self.gateway, self.user.user_id, self.address, tenant_id=self.tenant_id
            )
        except GatewayError as exc:
            return Refusal((f"The user and the address could not be checked again: {exc.user_message}",))
        if not check.ok or check.user is None:
            return Refusal(tuple(check.sentences()))
        self.user = check.user
        await self.close()  # the session of an earlier code is not needed any more
        login_id = self.user.primary_login_id
        try:
            refresh = await self.gateway.management_sign_in(login_id, refresh_seconds=SESSION_SECONDS)
        except GatewayError as exc:
            return Refusal(
                (f"The console could not act for the user, so no code was sent: {exc.user_message}",)
            )
        self._sessions.append(refresh)
        try:
            masked = await self.gateway.send_update_code(
                login_id, self.address.value, phone=self._phone, refresh_jwt=refresh
            )
        except Conflict as exc:
            return Refusal((f"Descope refused {self.address}: {exc.user_message}",))
        except ANSWER_MAY_BE_LOST as exc:
            return Refusal(
                (
                    f"The answer was lost ({exc.user_message}): a code may or may not have been sent. "
                    "Send a new code (only the newest one counts).",
                )
            )
        except GatewayError as exc:
            return Refusal((f"The code could not be sent: {exc.user_message}",))
        self.sent = CodeSent(masked, self._clock())
        return self.sent

    async def verify(self, code: str) -> User | Refusal:
        """Have Descope verify the code; the user, with the address as a verified login ID, or why not."""
        if self.verified is not None:
            return self.verified
        if self.sent is None:
            return Refusal(("Send a code first.",))
        sent = self.sent
        attach = StepKind.ATTACH_BY_CODE
        try:
            user, refresh = await self.gateway.verify_update_code(
                self.user.primary_login_id, code, phone=self._phone
            )
        except CodeRejected as exc:
            return Refusal(
                (rejection_sentence(exc.reason, sent_to=sent.sent_to, sent_ago=self._clock() - sent.at),)
            )
        except Conflict as exc:
            return Refusal(
                (
                    f"Another user took {self.address} since the code was sent, so Descope attached "
                    f"nothing ({exc.user_message}). Find out with the person, or choose another address.",
                )
            )
        except ANSWER_MAY_BE_LOST as exc:
            try:
                seen = await _look(self.gateway, self.user.user_id)
            except GatewayError as again:
                return Refusal(
                    (
                        f"The answer was lost ({exc.user_message}) and the user could not be read again "
                        f"({again.user_message}): whether the address is attached is unknown. Try again "
                        "once Descope answers.",
                    )
                )
            if seen is None or not step_done(attach, seen, self.plan()):
                return Refusal(
                    (
                        f"The answer was lost ({exc.user_message}) and the address is not attached: "
                        "verify again (an unused code stays valid for a few minutes), or send a new code.",
                    )
                )
            user = seen  # the verification happened: only its answer was lost
        except GatewayError as exc:
            return Refusal((f"The code could not be verified: {exc.user_message}",))
        else:
            self._sessions.append(refresh)
        await self.close()
        if not step_done(attach, user, self.plan()):
            return Refusal(
                (
                    f"Descope accepted the code, but the user does not show {self.address} as a verified "
                    f"login ID: {describe_state(user, self.plan())}",
                )
            )
        self.verified = user
        return user

    @property
    def has_sessions(self) -> bool:
        """Whether the console holds a session with the user (to end with `close`)."""
        return bool(self._sessions)

    async def close(self) -> None:
        """End the sessions the console opened for the user. Best effort: a session left behind is
        short-lived, and ending it must not turn a conversion into a failure."""
        while self._sessions:
            token = self._sessions.pop()
            with contextlib.suppress(GatewayError):
                await self.gateway.end_session(token)


# -- 3. applying ---------------------------------------------------------------------------------------


class Outcome(StrEnum):
    """How a conversion ended (the audit entry's result)."""

    CONVERTED = "converted"
    REFUSED = "refused"  # the re-check failed: this run wrote nothing
    ROLLED_BACK = "rolled back"  # a step failed and everything done was undone
    INCOMPLETE = "incomplete"  # a step failed and not everything could be undone, or it is unknown
    ABANDONED = "abandoned"  # cancelled after the code: the address was detached again


@dataclass(frozen=True)
class StepResult:
    """A step and where it stands: done, not done, undone, not undone, unknown."""

    step: Step
    state: str
    detail: str = ""

    def line(self) -> str:
        return f"{self.step.text}: {self.state}{f' ({self.detail})' if self.detail else ''}"


@dataclass
class ConversionReport:
    """What a conversion did and the state it left the user in.

    Attributes:
        plan: what was asked.
        outcome: how it ended.
        steps: each step and where it stands.
        user: the user as last seen (None: deleted, or it could not be read).
        state: the user's state in words (`core.convert.describe_state`).
        problems: why it was refused, or what failed.
    """

    plan: ConversionPlan
    outcome: Outcome
    steps: list[StepResult] = field(default_factory=list)
    user: User | None = None
    state: str = ""
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.CONVERTED

    def summary(self) -> str:
        plan = self.plan
        why = " ".join(self.problems)
        match self.outcome:
            case Outcome.CONVERTED:
                return (
                    f"Converted: {plan.address} is a verified login ID of the same user "
                    f"({plan.before.user_id}), which left the anonymous tenant."
                )
            case Outcome.REFUSED:
                return f"Not converted, and nothing was changed now: {why}"
            case Outcome.ROLLED_BACK:
                return f"Not converted: {why} Everything done was undone."
            case Outcome.ABANDONED:
                return "Cancelled: the verified address was removed again; the user is anonymous as before."
            case Outcome.INCOMPLETE:
                return (
                    f"Not converted, and not everything could be undone: {why} Check the user below; "
                    "run the conversion again once Descope answers, or correct it in Descope's console."
                )


async def _run(gateway: Gateway, plan: ConversionPlan, step: Step, seen: User, *, undo: bool) -> User:
    """Make (or undo) one step through the gateway; returns the user as Descope answered it."""
    address, random_id = plan.address.value, plan.anonymous_login_id
    login = address if has_login_id(seen, address) else random_id
    email = plan.address.channel is Channel.EMAIL
    old, old_verified = contact(plan.before, plan.address.channel)
    restore = gateway.set_email if email else gateway.set_phone
    match step.kind, undo:
        case StepKind.ATTACH_BY_CODE, True:
            await gateway.update_login_id(address, None)
            return await restore(random_id, old, verified=old_verified)
        case StepKind.REPLACE_LOGIN_ID, False:
            return await gateway.update_login_id(random_id, address)
        case StepKind.REPLACE_LOGIN_ID, True:
            return await gateway.update_login_id(address, random_id)
        case StepKind.MARK_VERIFIED, False:
            mark = gateway.update_email if email else gateway.update_phone
            return await mark(login, address)
        case StepKind.MARK_VERIFIED, True:
            return await restore(login, old, verified=old_verified)
        case StepKind.NAME, _:
            return await gateway.update_display_name(login, plan.before.name if undo else plan.display_name)
        case StepKind.LEAVE_TENANT, False:
            return await gateway.remove_tenant(login, plan.tenant_id)
        case StepKind.LEAVE_TENANT, True:
            return await gateway.add_tenant(login, plan.tenant_id)
        case StepKind.DROP_LOGIN_ID, False:
            return await gateway.update_login_id(random_id, None)
    raise ValueError(f"{step.kind} cannot be {'undone' if undo else 'made'} here")


class _Runner:
    """Runs steps and undoes them, settling every failure whose answer may be lost by looking."""

    def __init__(self, gateway: Gateway, plan: ConversionPlan, seen: User) -> None:
        self.gateway = gateway
        self.plan = plan
        self.seen: User | None = seen  # the user as last seen

    async def attempt(self, step: Step, *, undo: bool) -> tuple[str, str]:
        """(state, detail): "done"/"undone", "not done"/"not undone", or "unknown"."""
        ok, failed = ("undone", "not undone") if undo else ("done", "not done")
        assert self.seen is not None
        try:
            self.seen = await _run(self.gateway, self.plan, step, self.seen, undo=undo)
            return ok, ""
        except GatewayError as exc:
            error = exc
        if isinstance(error, NotFound):
            self.seen = None
            return failed, "the user no longer exists"
        # Whatever failed, look: a lost answer (the change made), or half of a two-call undo.
        try:
            self.seen = await _look(self.gateway, self.plan.before.user_id)
        except GatewayError as exc:
            return "unknown", f"{error.user_message}; the user could not be read again: {exc.user_message}"
        if self.seen is None:
            return failed, "the user no longer exists"
        check = step_undone if undo else step_done
        if check(step.kind, self.seen, self.plan):
            lost = isinstance(error, ANSWER_MAY_BE_LOST)
            return ok, "its answer was lost; the user shows it" if lost else ""
        return failed, error.user_message


async def apply_conversion(
    gateway: Gateway,
    plan: ConversionPlan,
    *,
    audit: AuditLog,
    profile: str,
    allow_attestation: bool,
    code_sent_to: str = "",
    progress: Progress = no_progress,
) -> ConversionReport:
    """Carry the plan out; never raises GatewayError (the report says what happened and the user's state).

    For a conversion by code the address is already attached (Descope did it when the code was
    verified): the user must be exactly the anonymous user plus that address. Otherwise it must still be
    the anonymous user planned from, and the address still free.
    """
    by_code = plan.verification is Verification.CODE
    report = ConversionReport(plan, Outcome.REFUSED)
    report.steps = [
        StepResult(step, "done" if step.kind is StepKind.ATTACH_BY_CODE else "not done")
        for step in plan.steps
    ]
    problems = plan.problems(allow_attestation=allow_attestation)
    now: User | None = None
    if not problems:
        try:
            now = await _look(gateway, plan.before.user_id)
            problems = recheck(now, plan, attached=by_code)
            if not problems and not by_code:
                holders = await gateway.users_with_address(plan.address.value)
                problems = [
                    c.sentence(plan.address) for c in collisions(plan.address, plan.before.user_id, holders)
                ]
        except GatewayError as exc:
            problems = [f"The user could not be read again before writing: {exc.user_message}"]
    if problems or now is None:
        report.problems = tuple(problems)
        return await _finish(report, gateway, audit, profile=profile, code_sent_to=code_sent_to)
    runner = _Runner(gateway, plan, now)
    pending = [i for i, r in enumerate(report.steps) if r.state == "not done"]
    for count, index in enumerate(pending):
        step = report.steps[index].step
        progress(count, len(pending), step.text)
        state, detail = await runner.attempt(step, undo=False)
        report.steps[index] = StepResult(step, state, detail)
        if state != "done":
            report.problems = (f"“{step.text}” failed: {detail}.",)
            await _roll_back(runner, report, upto=index)
            return await _finish(report, gateway, audit, profile=profile, code_sent_to=code_sent_to)
    report.outcome = Outcome.CONVERTED
    return await _finish(report, gateway, audit, profile=profile, code_sent_to=code_sent_to)


async def _roll_back(runner: _Runner, report: ConversionReport, *, upto: int) -> None:
    """Undo the steps done before `upto`, last first, stopping at the first that cannot be undone (the
    user then holds a prefix of the steps, the nearest to a state anyone can name); the outcome says
    whether all of them were undone."""
    all_undone = report.steps[upto].state == "not done" and runner.seen is not None
    for index in reversed(range(upto)):
        result = report.steps[index]
        if not all_undone:
            break
        state, detail = await runner.attempt(result.step, undo=True)
        report.steps[index] = StepResult(result.step, state, detail)
        all_undone = state == "undone"
    report.outcome = Outcome.ROLLED_BACK if all_undone else Outcome.INCOMPLETE


async def abandon_conversion(
    gateway: Gateway, plan: ConversionPlan, *, audit: AuditLog, profile: str, code_sent_to: str = ""
) -> ConversionReport:
    """The agent cancelled after the code was verified: remove the address again, if the user is still
    exactly as the verification left it (otherwise nothing is touched and the report says its state)."""
    attach = plan.steps[0]
    report = ConversionReport(plan, Outcome.INCOMPLETE, [StepResult(attach, "done")])
    try:
        now = await _look(gateway, plan.before.user_id)
    except GatewayError as exc:
        report.problems = (f"The user could not be read again: {exc.user_message}",)
        return await _finish(report, gateway, audit, profile=profile, code_sent_to=code_sent_to)
    changed = recheck(now, plan, attached=True)
    if changed or now is None:
        report.problems = (*changed, "The address was left as it is.")
        return await _finish(report, gateway, audit, profile=profile, code_sent_to=code_sent_to)
    state, detail = await _Runner(gateway, plan, now).attempt(attach, undo=True)
    report.steps = [StepResult(attach, state, detail)]
    if state == "undone":
        report.outcome = Outcome.ABANDONED
    else:
        report.problems = (f"The verified address could not be removed: {detail}.",)
    return await _finish(report, gateway, audit, profile=profile, code_sent_to=code_sent_to)


async def _finish(
    report: ConversionReport, gateway: Gateway, audit: AuditLog, *, profile: str, code_sent_to: str
) -> ConversionReport:
    """Read the user a last time and state it in words, then write the conversion's one audit entry."""
    try:
        report.user = await _look(gateway, report.plan.before.user_id)
        report.state = describe_state(report.user, report.plan)
    except GatewayError as exc:
        report.user = None
        report.state = (
            f"The user's state is unknown: it could not be read ({exc.user_message}). Look at it in the "
            "console once Descope answers."
        )
    await asyncio.to_thread(audit.append, _audit_entry(report, profile=profile, code_sent_to=code_sent_to))
    return report


def _audit_entry(report: ConversionReport, *, profile: str, code_sent_to: str) -> AuditEntry:
    """One entry per conversion: how the address was verified, before and after; never a code or token."""
    plan = report.plan
    verification: dict[str, Any] = {"method": plan.verification.value, "channel": plan.address.channel.value}
    if plan.verification is Verification.CODE:
        verification["codeSentTo"] = code_sent_to
    elif plan.attestation is not None:
        verification["reason"] = plan.attestation.reason.strip()
        verification["ticket"] = plan.attestation.ticket.strip()
    after: dict[str, Any] = snapshot(report.user) if report.user is not None else {}
    after["address"] = plan.address.value
    after["verification"] = verification
    lines = [report.summary(), report.state, *(r.line() for r in report.steps)]
    return AuditEntry(
        f"convert.{plan.verification.value}",
        plan.before.user_id,
        report.outcome.value,
        profile,
        before=snapshot(plan.before),
        after=after,
        detail=" ".join(lines),
    )
