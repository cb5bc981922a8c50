"""`anonconsole cull`: the cull as a headless job, for a schedule (systemd timer, cron, Kubernetes).

The same operation as the preview dialog: plan from the project's users, journal, re-check each
batch, act, report.

The profile's cull settings (File → Connect… → Culling) are the defaults: its grace period, its
keep-rules, its stages and how long users stay disabled before the second stage deletes them.
--grace-days, --stage and --disabled-for-days replace the profile's value for one run; --keep adds
rules to the profile's, which always apply (a rule only ever spares users). A profile that culls in
two stages, run without --stage, does both halves in one run, from one load of the users: first it
deletes the users this console disabled at least N days ago that are still eligible
(delete_disabled), then it disables the new candidates (disable), so a user is never disabled and
deleted by the same run. --max-count counts both halves together; --json prints one line per stage;
a run that stops in the first half leaves the second to the next run; --plan-out needs --stage
(a plan file holds one stage).

Exit codes:
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
from collections.abc import Callable, Iterable
from dataclasses import replace
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
        help="delete, disable (a reversible first stage) or delete_disabled (the second); default: the "
        "profile's: delete, or for a two-stage profile delete_disabled then disable in one run",
    )
    parser.add_argument(
        "--grace-days", type=int, metavar="N", help="extra days past the lifetime (default: the profile's)"
    )
    parser.add_argument(
        "--disabled-for-days",
        type=int,
        metavar="N",
        help="delete_disabled: only users the console disabled at least N days ago (default: the profile's)",
    )
    parser.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="RULE",
        help='also keep users an app marks: "attribute:NAME", "attribute:NAME=VALUE" or "role:NAME" '
        "(repeatable; added to the profile's keep-rules, which always apply)",
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
        """Plan each stage (the profile's, unless --stage) from one load of the users; print the
        plans (--dry-run) or run them in order."""
        args, profile = self.args, self.profile
        stages = (Stage(args.stage),) if args.stage else profile.cull_stages
        if args.plan_out is not None and len(stages) > 1:
            return self.refuse(
                f"--plan-out saves one plan, and “{profile.name}” culls in two stages: add --stage "
                "delete_disabled or --stage disable to save that stage's plan. Nothing was done."
            )
        try:
            keep = _merged(profile.parsed_keep_rules(), keep)
        except ValueError as exc:
            return self.refuse(f"a keep-rule of “{profile.name}”: {exc} Correct it in File → Connect….")
        rules = await cull.prepare_rules(
            self.gateway,
            project_id=self.project_id,
            tenant_id=profile.anonymous_tenant_id,
            tenant_name=profile.anonymous_tenant_name,
            grace_days=profile.grace_days if args.grace_days is None else args.grace_days,
            keep_rules=keep,
            stage=stages[0],
            disabled_for_days=(
                profile.disabled_for_days if args.disabled_for_days is None else args.disabled_for_days
            ),
        )
        if isinstance(rules, Refusal):
            return self.refuse(rules.summary())
        every = [rules, *(replace(rules, stage=stage) for stage in stages[1:])]
        self.say(f"Loading the users of “{profile.name}”…")
        table = await load_users(self.gateway, cull.policy_of(rules))
        now = int(time.time())
        plans = [
            plan_cull(table, each, now=now, profile=profile.name, project_id=self.project_id)
            for each in every
        ]
        if args.plan_out is not None:
            write_atomically(args.plan_out, json.dumps(plans[0].to_json(), indent=1) + "\n")
            self.say(f"Plan saved to {args.plan_out} ({plans[0].plan_hash}).")
        if args.dry_run:
            for number, plan in enumerate(plans, start=1):
                if args.json:
                    self.out(json.dumps(plan.to_json()))
                else:
                    self._stage_heading(number, plan, len(plans))
                    _print_plan(plan, self.say)
            return OK
        total = sum(plan.count for plan in plans)
        if total > args.max_count:
            both = " (both stages together)" if len(plans) > 1 else ""
            return self.refuse(
                f"{total:,} users would go{both}, more than --max-count {args.max_count:,}: nothing "
                "was done. Review the plan (--dry-run) and raise the limit if it is right."
            )
        code = OK
        for number, (plan, each) in enumerate(zip(plans, every, strict=True), start=1):
            self._stage_heading(number, plan, len(plans))
            result, ended = await self.run_plan(plan, each)
            code = max(code, result)
            if not ended:
                if number < len(plans):
                    self.say("The run stopped before its end: the next stage waits for the next run.")
                break
        return code

    def _stage_heading(self, number: int, plan: CullPlan, stages: int) -> None:
        """Which half of a two-stage run follows (nothing for a run of one stage)."""
        if stages > 1:
            self.say(f"Stage {number} of {stages}: {_STAGE_WORDS[plan.stage]}.")

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
        return await self.execute(plan, cull.rules_of(plan, self.profile.parsed_keep_rules()))

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
        return await self.execute(
            state.plan, cull.rules_of(state.plan, self.profile.parsed_keep_rules()), resume=state
        )

    async def execute(
        self, plan: CullPlan, rules: CullRules, resume: journal.JournalState[CullPlan] | None = None
    ) -> int:
        code, _ended = await self.run_plan(plan, rules, resume)
        return code

    async def run_plan(
        self, plan: CullPlan, rules: CullRules, resume: journal.JournalState[CullPlan] | None = None
    ) -> tuple[int, bool]:
        """Run the plan and print its report: the exit code, and whether the run reached its end
        (False when it was cancelled or stopped: a next stage must not start then)."""
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
        return (OK if report.ok else FAILED), not (report.cancelled or report.stopped)


_STAGE_WORDS = {
    Stage.DELETE: "delete the candidates",
    Stage.DISABLE: "disable the new candidates (reversible)",
    Stage.DELETE_DISABLED: "delete the users this console disabled long enough ago",
}


def _merged(*groups: Iterable[KeepRule]) -> tuple[KeepRule, ...]:
    """The rules of every group, in order, each once."""
    return tuple(dict.fromkeys(rule for group in groups for rule in group))


def _print_plan(plan: CullPlan, say: Out) -> None:
    """The plan in a few lines a person reads before approving it."""
    grace = f" + {format_duration(plan.grace_seconds)} grace" if plan.grace_seconds else ""
    say(
        f"Plan for “{plan.profile}” (project {plan.project_id}), tenant “{plan.tenant_name}”: "
        f"lifetime {format_duration(plan.lifetime_seconds)}{grace}, stage {plan.stage.value}."
    )
    cutoff = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(plan.cutoff))
    if plan.stage is Stage.DELETE_DISABLED:
        since = format_duration(plan.disabled_for_seconds) if plan.disabled_for_seconds else ""
        say(f"Users this console disabled {f'at least {since} ago' if since else 'in an earlier run'}.")
    if plan.keep_rules:
        say(f"Keep-rules: {', '.join(plan.keep_rules)}.")
    say(f"{plan.count:,} users last active before {cutoff}.")
    for reason, ids in plan.exclusions.items():
        if ids:
            say(f"  kept {len(ids):,}: {reason.reason}")
    for bucket in plan.buckets:
        say(f"  last active {bucket.label:>14}: {bucket.users:>8,} users, {bucket.candidates:>8,} to go")
    say(f"Estimated time at Descope's limits: {format_duration(int(cull.estimated_seconds(plan.count)))}.")
    say(f"Plan hash {plan.plan_hash}")
