"""Delete, disable or enable users a person chose: the same journaled, re-checked run as a cull.

The plan (`core.chosen.plan_action`) is made from the rows the person selected, confirmed, written
to a journal (`users-*.jsonl`), and run in batches by `operations.batch_run`: right before its batch
each user is reloaded and left alone if it is gone or is no longer the user that was chosen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from anonconsole.core.chosen import ChosenPlan, recheck
from anonconsole.gateway import Gateway
from anonconsole.operations import batch_run
from anonconsole.operations.audit_log import AuditLog
from anonconsole.operations.batch_run import BatchRun, RunReport
from anonconsole.operations.journal import Journal, JournalState
from anonconsole.operations.shape import Progress, no_progress


def estimated_seconds(count: int) -> float:
    """How long acting on `count` chosen users takes at Descope's limits: per batch, one search
    (the re-check) and the write."""
    return batch_run.estimated_seconds(count, requests_per_batch=2)


async def run_action(
    gateway: Gateway,
    plan: ChosenPlan,
    *,
    journal: Journal,
    audit: AuditLog,
    progress: Progress = no_progress,
    stop: asyncio.Event | None = None,
    resume: JournalState[ChosenPlan] | None = None,
    on_done: Callable[[Sequence[str]], None] | None = None,
    now: Callable[[], float] = time.time,
) -> RunReport:
    """Carry out a confirmed plan (or the rest of it, from `resume`); never raises GatewayError."""

    async def still_chosen(ids: Sequence[str]) -> tuple[list[str], list[tuple[str, str]]]:
        users = {user.user_id: user for user in await gateway.users_by_ids(ids)}
        verdicts = [(u, recheck(users.get(u), plan)) for u in ids]
        return [u for u, why in verdicts if why is None], [(u, why) for u, why in verdicts if why is not None]

    def login_id_of(user_id: str) -> str:
        chosen = plan.chosen(user_id)
        assert chosen is not None  # batches hold the plan's users only
        return chosen.login_id

    run = BatchRun(
        gateway,
        plan.action,
        plan.plan_hash,
        plan.user_ids,
        still_chosen,
        login_id_of,
        journal,
        audit,
        plan.profile,
        "users",
        f"{plan.count} chosen users",
        progress,
        on_done,
        now,
    )
    return await run.run(stop=stop, resume=resume)
