"""Cull: the job Descope leaves to you, shared by the preview dialog and `anonconsole cull`.

Plan: `prepare_rules` reads the anonymous tenant and its refresh-token lifetime (refusing when there
is none), `core.cull.plan_cull` picks the candidates from the loaded users. Run: `run_plan` writes the
plan and each batch to a journal before acting, reloads the batch's users right before it acts and
drops any that stopped being eligible (converted, signed in, changed tenant, a keep-rule, gone),
deletes (or disables) the rest in one paced request, and reconciles a request whose answer was lost
by looking at the users again. Cancel finishes the batch under way. The report says what was done,
what was skipped and why, and what failed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anonconsole.core.classify import ANONYMOUS_TENANT_NAME, AnonymousPolicy, format_duration
from anonconsole.core.cull import Candidate, CullPlan, CullRules, KeepRule, Stage, recheck
from anonconsole.core.errors import GatewayError, RateLimited, ServerError, Unreachable
from anonconsole.core.rate_limits import limit_for
from anonconsole.gateway import Gateway
from anonconsole.operations.anonymous_tenant import find_anonymous_tenant, missing_tenant_sentence
from anonconsole.operations.audit_log import AuditEntry, AuditLog
from anonconsole.operations.journal import Journal, JournalState, disabled_by_console
from anonconsole.operations.shape import Progress, Refusal, no_progress
from anonconsole.runtime.cpu_turns import map_in_slices

# Users per request. One delete_batch (or patch_batch) request acts on the whole batch; its re-check
# costs one search and one history request. 500 keeps a lost answer's reconciliation to one search
# and a cancelled run's tail short.
BATCH_SIZE = 500
# Attempts at one batch's write when its answer is lost; each retry acts only on the users still there.
WRITE_ATTEMPTS = 3
# The failures after which Descope may or may not have acted: look before retrying.
_AMBIGUOUS = (Unreachable, ServerError, RateLimited)
_DONE_WORD = {Stage.DELETE: "deleted", Stage.DISABLE: "disabled", Stage.DELETE_DISABLED: "deleted"}
USER_PATH = "/v1/mgmt/user/delete/batch"


async def prepare_rules(
    gateway: Gateway,
    *,
    project_id: str,
    tenant_id: str = "",
    tenant_name: str = ANONYMOUS_TENANT_NAME,
    grace_days: int = 0,
    keep_rules: Sequence[KeepRule] = (),
    stage: Stage = Stage.DELETE,
    disabled_for_days: int = 0,
) -> CullRules | Refusal:
    """The rules of a cull of this project, or why none can be planned."""
    tenant = await find_anonymous_tenant(gateway, tenant_id=tenant_id, tenant_name=tenant_name)
    if tenant is None:
        return Refusal((missing_tenant_sentence(tenant_id=tenant_id, tenant_name=tenant_name),))
    settings = await gateway.load_tenant_settings(tenant.id)
    if not settings.enabled or not settings.refresh_seconds:
        return Refusal(
            (
                f'"{tenant.name}" has no custom session management, so the lifetime of its users is '
                "unknown and none can be culled. Run the tenant setup (Tools → Set up the anonymous tenant).",
            )
        )
    return CullRules(
        tenant_id=tenant.id,
        tenant_name=tenant.name,
        lifetime_seconds=settings.refresh_seconds,
        grace_seconds=max(0, grace_days) * 86400,
        keep_rules=tuple(keep_rules),
        stage=stage,
        disabled_by_console=disabled_by_console(project_id),
        disabled_for_seconds=max(0, disabled_for_days) * 86400,
    )


def rules_of(plan: CullPlan) -> CullRules:
    """The rules a saved plan was made with, to re-check its users by (an approved file, a journal)."""
    return CullRules(
        tenant_id=plan.tenant_id,
        tenant_name=plan.tenant_name,
        lifetime_seconds=plan.lifetime_seconds,
        grace_seconds=plan.grace_seconds,
        keep_rules=tuple(KeepRule.parse(text) for text in plan.keep_rules),
        stage=plan.stage,
        disabled_by_console=disabled_by_console(plan.project_id),
        disabled_for_seconds=plan.disabled_for_seconds,
    )


def policy_of(rules: CullRules) -> AnonymousPolicy:
    """How the users are classified for a plan with these rules (the views' own rule)."""
    return AnonymousPolicy(rules.tenant_id, rules.lifetime_seconds, rules.grace_seconds)


def estimated_seconds(count: int) -> float:
    """How long a run of `count` users takes at Descope's user-management limit (the pacing bound)."""
    bucket = limit_for(USER_PATH)
    batches = -(-count // BATCH_SIZE)
    requests = batches * 3  # a batch: one search and one history request (the re-check), one write
    if bucket is None or requests <= bucket.limit:
        return batches * 0.5
    return requests / bucket.limit * bucket.window_seconds


@dataclass
class CullReport:
    """What a run did (an `operations.shape.Report`).

    Attributes:
        done: user IDs deleted (or disabled, for the first stage).
        skipped: (user ID, why) of candidates the re-check dropped.
        failed: (user ID, error) of users the run could not act on.
        cancelled: the run stopped at Cancel (after the batch under way).
    """

    plan_hash: str
    stage: Stage
    journal: Path
    total: int
    done: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False
    stopped: str = ""  # why the run stopped early (a refused key), "" otherwise

    @property
    def ok(self) -> bool:
        return not self.failed and not self.cancelled and not self.stopped

    def summary(self) -> str:
        word = _DONE_WORD[self.stage]
        text = f"{len(self.done):,} of {self.total:,} users {word}"
        if self.skipped:
            text += f", {len(self.skipped):,} skipped (no longer eligible)"
        if self.failed:
            text += f", {len(self.failed):,} failed"
        if self.cancelled:
            text += "; cancelled: the rest were left alone"
        if self.stopped:
            text += f"; stopped: {self.stopped}"
        return text + "."

    def to_json(self) -> dict[str, Any]:
        return {
            _DONE_WORD[self.stage]: len(self.done),
            "stage": self.stage.value,
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
class _Run:
    """One run of a plan: batches in order, each journaled, re-checked, acted on and reported."""

    gateway: Gateway
    plan: CullPlan
    rules: CullRules
    journal: Journal
    audit: AuditLog
    profile: str
    progress: Progress
    on_done: Callable[[Sequence[str]], None] | None
    now: Callable[[], float]

    def __post_init__(self) -> None:
        self.report = CullReport(self.plan.plan_hash, self.rules.stage, self.journal.path, self.plan.count)
        self.started = self.now()

    async def log(self, entry: AuditEntry) -> None:
        await asyncio.to_thread(self.audit.append, entry)

    def tell(self) -> None:
        handled = len(self.report.done) + len(self.report.skipped) + len(self.report.failed)
        text = f"{len(self.report.done):,} of {self.report.total:,} users {_DONE_WORD[self.rules.stage]}"
        elapsed = self.now() - self.started
        if 0 < handled < self.report.total and elapsed > 0:
            left = elapsed / handled * (self.report.total - handled)
            text += f" — about {format_duration(int(left) + 1)} left"
        self.progress(handled, self.report.total, text)

    async def recheck(self, ids: Sequence[str]) -> tuple[list[Candidate], list[tuple[str, str]]]:
        """The batch's users reloaded: those still eligible, and (ID, reason) of the others."""
        users = {user.user_id: user for user in await self.gateway.users_by_ids(ids)}
        sign_ins = await self.gateway.last_sign_ins(list(users), batch_size=max(1, len(users)))
        now = int(self.now())

        def verdict(user_id: str) -> str | None:
            return recheck(users.get(user_id), sign_ins.get(user_id), self.plan, now=now, rules=self.rules)

        # In CPU turns: 500 users' rules at once held the window's loop for ~100 ms.
        verdicts = await map_in_slices(verdict, ids)
        eligible, skipped = [], []
        for user_id, reason in zip(ids, verdicts, strict=True):
            if reason is None:
                candidate = self.plan.candidate(user_id)
                assert candidate is not None  # batches hold the plan's users only
                eligible.append(candidate)
            else:
                skipped.append((user_id, reason))
        return eligible, skipped

    async def acted(self, batch: Sequence[Candidate]) -> set[str]:
        """Of `batch`, the users our request already acted on: gone (delete) or disabled (disable)."""
        found = {user.user_id: user for user in await self.gateway.users_by_ids([c.user_id for c in batch])}
        if self.rules.stage is Stage.DISABLE:
            return {c.user_id for c in batch if c.user_id in found and found[c.user_id].status == "disabled"}
        return {c.user_id for c in batch if c.user_id not in found}

    async def act(
        self, batch: list[Candidate]
    ) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]]]:
        """Delete or disable `batch`; a lost answer is reconciled by looking. (done, skipped, failed)."""
        done: list[str] = []
        skipped: list[tuple[str, str]] = []
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
                done += [c.user_id for c in remaining if c.user_id in acted]
                left = [c.user_id for c in remaining if c.user_id not in acted]
                remaining, dropped = await self.recheck(left) if left else ([], [])
                skipped += dropped
                if not remaining:
                    return done, skipped, []
                continue
            except GatewayError as exc:
                return done, skipped, [(c.user_id, exc.user_message) for c in remaining]
            return done + [c.user_id for c in remaining], skipped, []
        message = error.user_message if error else "no answer"
        return done, skipped, [(c.user_id, message) for c in remaining]

    async def write(self, batch: Sequence[Candidate]) -> None:
        if self.rules.stage is Stage.DISABLE:
            _, failed = await self.gateway.set_statuses([c.login_id for c in batch], "disabled")
            if failed:
                raise ServerError(f"{len(failed)} users could not be disabled: {failed[0][1]}")
        else:
            await self.gateway.delete_users([c.user_id for c in batch])

    async def reconcile(self, resume: JournalState) -> None:
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
        candidates = [c for c in (self.plan.candidate(u) for u in lost.user_ids) if c is not None]
        acted = await self.acted(candidates)
        done = [c.user_id for c in candidates if c.user_id in acted]
        await asyncio.to_thread(self.journal.result, lost.index, done, [], [])
        lost.done = tuple(done)  # the others of that batch stay to do, re-checked like any batch
        self.report.done += done

    async def run_batch(self, index: int, ids: list[str]) -> None:
        action = "disable" if self.rules.stage is Stage.DISABLE else "delete"
        eligible, skipped = await self.recheck(ids)
        await asyncio.to_thread(self.journal.announce, index, action, [c.user_id for c in eligible])
        done, more_skipped, failed = await self.act(eligible) if eligible else ([], [], [])
        skipped += more_skipped
        await asyncio.to_thread(self.journal.result, index, done, skipped, failed)
        await self.log(
            AuditEntry(
                f"cull.{action}",
                f"{len(done)} users",
                "ok" if not failed else "failed",
                self.profile,
                after={"planHash": self.plan.plan_hash, "batch": index, "userIds": done},
                detail=f"{len(skipped)} skipped, {len(failed)} failed" if skipped or failed else "",
            )
        )
        self.report.done += done
        self.report.skipped += skipped
        self.report.failed += failed
        if done and self.on_done is not None:
            self.on_done(done)
        self.tell()


async def run_plan(
    gateway: Gateway,
    plan: CullPlan,
    rules: CullRules,
    *,
    journal: Journal,
    audit: AuditLog,
    profile: str,
    progress: Progress = no_progress,
    stop: asyncio.Event | None = None,
    resume: JournalState | None = None,
    on_done: Callable[[Sequence[str]], None] | None = None,
    now: Callable[[], float] = time.time,
) -> CullReport:
    """Carry out an approved plan (or the rest of it, from `resume`); never raises GatewayError.

    `stop` set: the batch under way finishes, then the run ends as cancelled. `on_done(user_ids)`
    after each batch, for views to drop the rows without a reload.
    """
    run = _Run(gateway, plan, rules, journal, audit, profile, progress, on_done, now)
    batch_index = 0
    todo = [c.user_id for c in plan.candidates]
    if resume is not None:
        await run.reconcile(resume)
        handled = resume.handled()
        todo = [u for u in todo if u not in handled]
        batch_index = max((b.index for b in resume.batches), default=-1) + 1
    await run.log(
        AuditEntry(
            "cull.run",
            rules.tenant_name,
            "started",
            profile,
            after={"planHash": plan.plan_hash, "count": plan.count, "stage": rules.stage.value},
            detail=f"resumed from {resume.path.name}" if resume else "",
        )
    )
    run.tell()
    for start in range(0, len(todo), BATCH_SIZE):
        if stop is not None and stop.is_set():
            run.report.cancelled = True
            break
        try:
            await run.run_batch(batch_index, todo[start : start + BATCH_SIZE])
        except GatewayError as exc:  # the re-check failed: nothing of this batch was acted on
            run.report.stopped = exc.user_message
            break
        batch_index += 1
    if not run.report.stopped:  # stopped by a failure: no end line, so the next start offers to resume
        await asyncio.to_thread(journal.end, cancelled=run.report.cancelled)
    await run.log(
        AuditEntry(
            "cull.run",
            rules.tenant_name,
            "ok" if run.report.ok else "failed",
            profile,
            after=run.report.to_json() | {"userIds": len(run.report.done)},
            detail=run.report.summary(),
        )
    )
    return run.report
