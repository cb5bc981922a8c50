"""`anonconsole cull`: the cull as a headless job, for a schedule (systemd timer, cron, Kubernetes).

The same operation as the preview dialog: plan from the project's users, journal, re-check each
batch, act, report. Exit codes:
    0  done: the dry run printed its plan, or the run acted on every user it could (users the
       re-check kept are reported as skipped, on purpose)
    1  the run ended with users that failed, or stopped (the connection went away, Ctrl+C): its
       journal is resumable with --resume
    2  the profile cannot be used (unknown, no key, unreachable, refused key)
    3  refused, nothing was done: no anonymous tenant set up, a plan file edited or for another
       project, more candidates than --max-count, a damaged journal
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from anonconsole.core.classify import format_duration
from anonconsole.core.cull import CullPlan, CullRules, KeepRule, Stage, plan_cull
from anonconsole.core.errors import GatewayError
from anonconsole.gateway import Gateway
from anonconsole.operations import cull, journal
from anonconsole.operations.audit_log import AuditLog
from anonconsole.operations.headless import ProfileUnusable, open_profile
from anonconsole.operations.shape import Refusal
from anonconsole.operations.users_snapshot import load_users
from anonconsole.settings.files import write_atomically
from anonconsole.settings.profiles import Profile

OK, FAILED, UNUSABLE, REFUSED = 0, 1, 2, 3
Out = Callable[[str], None]


def add_parser(commands: Any) -> None:
    """The `cull` subcommand and its options."""
    parser = commands.add_parser(
        "cull",
        help="plan or run the cull of expired anonymous users (a headless, schedulable job)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--profile", default="Sandbox (demo)", help="profile name (default: the built-in sandbox)"
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--dry-run", action="store_true", help="plan only: print the plan, change nothing")
    what.add_argument("--approve", type=Path, metavar="FILE", help="run exactly the plan saved in FILE")
    what.add_argument(
        "--yes", action="store_true", help="plan and run at once, unattended (needs --max-count)"
    )
    what.add_argument(
        "--resume",
        nargs="?",
        const="",
        metavar="JOURNAL",
        help="finish an interrupted run: the profile's newest unfinished one, or JOURNAL",
    )
    parser.add_argument(
        "--max-count", type=int, metavar="N", help="with --yes: refuse when more than N users would go"
    )
    parser.add_argument(
        "--plan-out", type=Path, metavar="FILE", help="save the plan as JSON, for someone else to approve"
    )
    parser.add_argument("--json", action="store_true", help="print the plan or the report as JSON")
    parser.add_argument(
        "--stage",
        choices=[stage.value for stage in Stage],
        default=Stage.DELETE.value,
        help="delete (default), disable (a reversible first stage) or delete_disabled (the second)",
    )
    parser.add_argument(
        "--grace-days", type=int, metavar="N", help="extra days past the lifetime (default: the profile's)"
    )
    parser.add_argument(
        "--disabled-for-days",
        type=int,
        default=30,
        metavar="N",
        help="delete_disabled: only users the console disabled at least N days ago (default 30)",
    )
    parser.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="RULE",
        help='keep users an app marks: "attribute:NAME", "attribute:NAME=VALUE" or "role:NAME" (repeatable)',
    )


async def run(args: argparse.Namespace, out: Out) -> int:
    """The `cull` command; returns its exit code (see the module's docstring)."""
    if args.yes and args.max_count is None:
        out("anonconsole cull: --yes needs --max-count N, the most users an unattended run may remove.")
        return REFUSED
    try:
        keep = tuple(KeepRule.parse(text) for text in args.keep)
    except ValueError as exc:
        out(f"anonconsole cull: --keep: {exc}")
        return REFUSED
    say: Out = (lambda _line: None) if args.json else out
    try:
        async with open_profile(args.profile, say) as (profile, gateway):
            command = _Command(args, out, say, profile, gateway)
            try:
                if args.resume is not None:
                    return await command.resume()
                if args.approve is not None:
                    return await command.approve(args.approve)
                return await command.plan_and_run(keep)
            except GatewayError as exc:
                out(f"anonconsole cull: {exc.user_message}")
                return UNUSABLE
    except ProfileUnusable as exc:
        out(f"anonconsole cull: {exc}")
        return UNUSABLE


class _Command:
    def __init__(
        self, args: argparse.Namespace, out: Out, say: Out, profile: Profile, gateway: Gateway
    ) -> None:
        self.args, self.out, self.say = args, out, say
        self.profile, self.gateway = profile, gateway
        self.project_id = gateway.connection.project_id

    def refuse(self, text: str) -> int:
        self.out(f"anonconsole cull: {text}")
        return REFUSED

    async def plan_and_run(self, keep: tuple[KeepRule, ...]) -> int:
        args, profile = self.args, self.profile
        rules = await cull.prepare_rules(
            self.gateway,
            project_id=self.project_id,
            tenant_id=profile.anonymous_tenant_id,
            tenant_name=profile.anonymous_tenant_name,
            grace_days=profile.grace_days if args.grace_days is None else args.grace_days,
            keep_rules=keep,
            stage=Stage(args.stage),
            disabled_for_days=args.disabled_for_days,
        )
        if isinstance(rules, Refusal):
            return self.refuse(rules.summary())
        self.say(f"Loading the users of “{profile.name}”…")
        table = await load_users(self.gateway, cull.policy_of(rules))
        plan = plan_cull(table, rules, now=int(time.time()), profile=profile.name, project_id=self.project_id)
        if args.plan_out is not None:
            write_atomically(args.plan_out, json.dumps(plan.to_json(), indent=1) + "\n")
            self.say(f"Plan saved to {args.plan_out} ({plan.plan_hash}).")
        if args.dry_run:
            if args.json:
                self.out(json.dumps(plan.to_json()))
            else:
                _print_plan(plan, self.say)
            return OK
        if plan.count > args.max_count:
            return self.refuse(
                f"{plan.count:,} users would go, more than --max-count {args.max_count:,}: nothing was "
                "done. Review the plan (--dry-run) and raise the limit if it is right."
            )
        return await self.execute(plan, rules)

    async def approve(self, path: Path) -> int:
        try:
            text = await asyncio.to_thread(path.read_text, encoding="utf-8")
            plan = CullPlan.from_json(json.loads(text))
        except (OSError, ValueError) as exc:  # PlanError is a ValueError, and so is bad JSON
            return self.refuse(f"the plan {path} cannot be used: {exc} Nothing was done.")
        if plan.project_id != self.project_id:
            return self.refuse(
                f"the plan {path} is for project {plan.project_id}, not {self.project_id} "
                f"(profile “{self.profile.name}”): nothing was done."
            )
        return await self.execute(plan, cull.rules_of(plan))

    async def resume(self) -> int:
        if self.args.resume:
            try:
                state = journal.read(Path(self.args.resume))
            except journal.JournalError as exc:
                return self.refuse(str(exc))
        else:
            found = [s for s in journal.unfinished(self.project_id) if isinstance(s, journal.JournalState)]
            if not found:
                self.say(f"No interrupted cull of project {self.project_id} to resume.")
                return OK
            state = found[0]
        if state.project_id != self.project_id:
            return self.refuse(
                f"the journal {state.path} is for project {state.project_id}: nothing was done."
            )
        self.say(f"Resuming {state.path.name} (started {state.started_at}).")
        return await self.execute(state.plan, cull.rules_of(state.plan), resume=state)

    async def execute(
        self, plan: CullPlan, rules: CullRules, resume: journal.JournalState[CullPlan] | None = None
    ) -> int:
        run_journal = (
            journal.Journal(resume.path)
            if resume
            else journal.Journal.create(plan, project_id=self.project_id, profile=self.profile.name)
        )
        self.say(f"Journal: {run_journal.path}")
        report = await cull.run_plan(
            self.gateway,
            plan,
            rules,
            journal=run_journal,
            audit=AuditLog(),
            profile=self.profile.name,
            progress=lambda _done, _total, text: self.say(text),
            resume=resume,
        )
        if self.args.json:
            self.out(json.dumps(report.to_json()))
        else:
            self.say(report.summary())
            for user_id, reason in report.skipped[:20]:
                self.say(f"  skipped {user_id}: {reason}")
            for user_id, error in report.failed[:20]:
                self.say(f"  failed  {user_id}: {error}")
        return OK if report.ok else FAILED


def _print_plan(plan: CullPlan, say: Out) -> None:
    """The plan in a few lines a person reads before approving it."""
    grace = f" + {format_duration(plan.grace_seconds)} grace" if plan.grace_seconds else ""
    say(
        f"Plan for “{plan.profile}” (project {plan.project_id}), tenant “{plan.tenant_name}”: "
        f"lifetime {format_duration(plan.lifetime_seconds)}{grace}, stage {plan.stage.value}."
    )
    cutoff = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(plan.cutoff))
    say(f"{plan.count:,} users last active before {cutoff}.")
    for reason, ids in plan.exclusions.items():
        if ids:
            say(f"  kept {len(ids):,}: {reason.reason}")
    for bucket in plan.buckets:
        say(f"  last active {bucket.label:>14}: {bucket.users:>8,} users, {bucket.candidates:>8,} to go")
    say(f"Estimated time at Descope's limits: {format_duration(int(cull.estimated_seconds(plan.count)))}.")
    say(f"Plan hash {plan.plan_hash}")
