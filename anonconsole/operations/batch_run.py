"""Acting on many users, safely: the engine under a cull and under an action on chosen users.

A run takes an approved plan's users in batches. For each batch: re-check the users right before
(the caller's rule: a cull's eligibility, or "still the user that was chosen"), write the batch to the
journal, act in one paced request, write the result, add an audit entry. A request whose answer was
lost (a dropped connection, a 5xx, a 429) may have been acted on by Descope: the run looks at the
users before retrying, and a retry acts only on users of the batch that are still there and still
pass the re-check. Cancel finishes the batch under way. A resumed run takes over an unfinished
journal: batches with a result count, the batch announced without one is settled by looking.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anonconsole.core.chosen import UserAction
from anonconsole.core.classify import format_duration
from anonconsole.core.errors import GatewayError, RateLimited, ServerError, Unreachable
from anonconsole.core.rate_limits import limit_for
from anonconsole.gateway import Gateway
from anonconsole.operations.audit_log import AuditEntry, AuditLog
from anonconsole.operations.journal import Journal, JournalState
from anonconsole.operations.shape import Progress
from anonconsole.runtime import gc_policy

# Users per request. One delete_batch (or patch_batch) request acts on the whole batch; its re-check
# costs one search (and a cull's one history request). 500 keeps a lost answer's reconciliation to
# one search and a cancelled run's tail short.
BATCH_SIZE = 500
# Attempts at one batch's write when its answer is lost; each retry acts only on the users still there
# (after looking). 3 left a batch failed in about 1 run in 20 under 20% faults; looking makes more safe.
WRITE_ATTEMPTS = 5
# The failures after which Descope may or may not have acted: look before retrying.
_AMBIGUOUS = (Unreachable, ServerError, RateLimited)
USER_PATH = "/v1/mgmt/user/delete/batch"

Skipped = list[tuple[str, str]]
# The re-check of a batch (user IDs, in plan order): those still to act on, and (ID, why) of the rest.
Recheck = Callable[[Sequence[str]], Awaitable[tuple[list[str], Skipped]]]


def estimated_seconds(count: int, *, requests_per_batch: int = 3) -> float:
    """How long a run of `count` users takes at Descope's user-management limit (the pacing bound)."""
    bucket = limit_for(USER_PATH)
    batches = -(-count // BATCH_SIZE)
    requests = batches * requests_per_batch
    if bucket is None or requests <= bucket.limit:
        return batches * 0.5
    return requests / bucket.limit * bucket.window_seconds


@dataclass
class RunReport:
    """What a run did (an `operations.shape.Report`).

    Attributes:
        done: user IDs acted on (deleted, disabled or enabled).
        skipped: (user ID, why) of users the re-check dropped.
        failed: (user ID, error) of users the run could not act on.
        cancelled: the run stopped at Cancel (after the batch under way).
        stopped: why the run stopped early (a refused key, a failed re-check), "" otherwise.
    """

    plan_hash: str
    action: UserAction
    journal: Path
    total: int
    done: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False
    stopped: str = ""

    @property
    def ok(self) -> bool:
        return not self.failed and not self.cancelled and not self.stopped

    @property
    def handled(self) -> int:
        return len(self.done) + len(self.skipped) + len(self.failed)

    def summary(self) -> str:
        text = f"{len(self.done):,} of {self.total:,} users {self.action.past}"
        if self.skipped:
            text += f", {len(self.skipped):,} skipped (changed since the plan)"
        if self.failed:
            text += f", {len(self.failed):,} failed"
        if self.cancelled:
            text += "; cancelled: the rest were left alone"
        if self.stopped:
            text += f"; stopped: {self.stopped}"
        return text + "."

    def to_json(self) -> dict[str, Any]:
        return {
            self.action.past: len(self.done),
            "action": self.action.value,
            "planHash": self.plan_hash,
            "total": self.total,
            "skipped": [{"userId": u, "reason": r} for u, r in self.skipped],
            "failed": [{"userId": u, "error": e} for u, e in self.failed],
            "cancelled": self.cancelled,
            "stopped": self.stopped,
            "journal": str(self.journal),
            "userIds": list(self.done),
        }


@dataclass
class BatchRun:
    """One run of a plan's users: batches in order, each journaled, re-checked, acted on and reported.

    `login_id_of(user_id)`: the login ID Descope's status calls address a user by. `audit_kind`:
    the prefix of the audit entries ("cull", "users"); `target`: what the run entries name.
    """

    gateway: Gateway
    action: UserAction
    plan_hash: str
    user_ids: Sequence[str]
    recheck: Recheck
    login_id_of: Callable[[str], str]
    journal: Journal
    audit: AuditLog
    profile: str
    audit_kind: str
    target: str
    progress: Progress
    on_done: Callable[[Sequence[str]], None] | None = None
    now: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self.report = RunReport(self.plan_hash, self.action, self.journal.path, len(self.user_ids))
        self.started = self.now()

    async def log(self, entry: AuditEntry) -> None:
        await asyncio.to_thread(self.audit.append, entry)

    def tell(self) -> None:
        report = self.report
        text = f"{len(report.done):,} of {report.total:,} users {self.action.past}"
        elapsed = self.now() - self.started
        if 0 < report.handled < report.total and elapsed > 0:
            left = elapsed / report.handled * (report.total - report.handled)
            text += f" — about {format_duration(int(left) + 1)} left"
        self.progress(report.handled, report.total, text)

    async def acted(self, ids: Sequence[str]) -> set[str]:
        """Of `ids`, the users our request already acted on: gone, disabled or enabled."""
        found = {user.user_id: user for user in await self.gateway.users_by_ids(ids)}
        if self.action is UserAction.DELETE:
            return {u for u in ids if u not in found}
        want_disabled = self.action is UserAction.DISABLE
        return {u for u in ids if u in found and (found[u].status == "disabled") == want_disabled}

    async def write(self, ids: Sequence[str]) -> None:
        if self.action is UserAction.DELETE:
            await self.gateway.delete_users(ids)
            return
        status = "disabled" if self.action is UserAction.DISABLE else "enabled"
        _, failed = await self.gateway.set_statuses([self.login_id_of(u) for u in ids], status)
        if failed:  # looked at like a lost answer: the others of the batch were patched
            raise ServerError(f"{len(failed)} users could not be {self.action.past}: {failed[0][1]}")

    async def act(self, batch: list[str]) -> tuple[list[str], Skipped, Skipped]:
        """Act on `batch`; a lost answer is reconciled by looking. (done, skipped, failed)."""
        done: list[str] = []
        skipped: Skipped = []
        remaining = batch
        error: GatewayError | None = None
        for _ in range(WRITE_ATTEMPTS):
            try:
                await self.write(remaining)
            except _AMBIGUOUS as exc:  # Descope may have acted before the answer was lost: look
                error = exc
                if isinstance(exc, RateLimited) and exc.retry_after:
                    await asyncio.sleep(exc.retry_after)
                acted = await self.acted(remaining)
                done += [u for u in remaining if u in acted]
                left = [u for u in remaining if u not in acted]
                remaining, dropped = await self.recheck(left) if left else ([], [])
                skipped += dropped
                if not remaining:
                    return done, skipped, []
                continue
            except GatewayError as exc:
                return done, skipped, [(u, exc.user_message) for u in remaining]
            return done + remaining, skipped, []
        message = error.user_message if error else "no answer"
        return done, skipped, [(u, message) for u in remaining]

    async def reconcile(self, resume: JournalState[Any]) -> None:
        """Take over a journal: its finished batches count, and the batch it announced without a
        result (killed mid-request) is settled by looking: users it already acted on are done."""
        for batch in resume.batches:
            if batch.finished:
                self.report.done += list(batch.done or ())
                self.report.skipped += list(batch.skipped)
                self.report.failed += list(batch.failed)
        lost = resume.unfinished_batch()
        if lost is None:
            return
        acted = await self.acted(lost.user_ids)
        done = [u for u in lost.user_ids if u in acted]
        await asyncio.to_thread(self.journal.result, lost.index, done, [], [])
        lost.done = tuple(done)  # the others of that batch stay to do, re-checked like any batch
        self.report.done += done

    async def run_batch(self, index: int, ids: list[str]) -> None:
        eligible, skipped = await self.recheck(ids)
        await asyncio.to_thread(self.journal.announce, index, self.action.value, eligible)
        done, more_skipped, failed = await self.act(eligible) if eligible else ([], [], [])
        skipped += more_skipped
        await asyncio.to_thread(self.journal.result, index, done, skipped, failed)
        await self.log(
            AuditEntry(
                f"{self.audit_kind}.{self.action.value}",
                f"{len(done)} users",
                "ok" if not failed else "failed",
                self.profile,
                after={"planHash": self.plan_hash, "batch": index, "userIds": done},
                detail=f"{len(skipped)} skipped, {len(failed)} failed" if skipped or failed else "",
            )
        )
        self.report.done += done
        self.report.skipped += skipped
        self.report.failed += failed
        if done and self.on_done is not None:
            self.on_done(done)
        self.tell()

    async def run(
        self, *, stop: asyncio.Event | None = None, resume: JournalState[Any] | None = None, **started: Any
    ) -> RunReport:
        """Carry out the plan (or the rest of it, from `resume`); never raises GatewayError.

        `started`: extra fields of the "run started" audit entry. No full garbage collection while it
        runs: one walks every object of the plan and the table (200-480 ms at 200,000 users, timed
        with gc.callbacks during a run); young collections still run.
        """
        with gc_policy.no_full_collections():
            return await self._run(stop, resume, started)

    async def _run(
        self, stop: asyncio.Event | None, resume: JournalState[Any] | None, started: dict[str, Any]
    ) -> RunReport:
        batch_index = 0
        todo = list(self.user_ids)
        if resume is not None:
            await self.reconcile(resume)
            handled = resume.handled()
            todo = [u for u in todo if u not in handled]
            batch_index = max((b.index for b in resume.batches), default=-1) + 1
        await self.log(
            AuditEntry(
                f"{self.audit_kind}.run",
                self.target,
                "started",
                self.profile,
                after={"planHash": self.plan_hash, "count": len(self.user_ids), "action": self.action.value}
                | started,
                detail=f"resumed from {resume.path.name}" if resume else "",
            )
        )
        self.tell()
        for start in range(0, len(todo), BATCH_SIZE):
            if stop is not None and stop.is_set():
                self.report.cancelled = True
                break
            try:
                await self.run_batch(batch_index, todo[start : start + BATCH_SIZE])
            except GatewayError as exc:  # the re-check failed: nothing of this batch was acted on
                self.report.stopped = exc.user_message
                break
            batch_index += 1
        if not self.report.stopped:  # stopped by a failure: no end line, so the next start offers to resume
            await asyncio.to_thread(self.journal.end, cancelled=self.report.cancelled)
        await self.log(
            AuditEntry(
                f"{self.audit_kind}.run",
                self.target,
                "ok" if self.report.ok else "failed",
                self.profile,
                after=self.report.to_json() | {"userIds": len(self.report.done)},
                detail=self.report.summary(),
            )
        )
        return self.report
