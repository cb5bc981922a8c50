"""`anonconsole export`: a users page of a profile's project to a CSV or JSON file, for scripts.

The same rows and columns as the console's page of that name shows with no search or filter (test
users left out; one definition for both), classified by the profile's anonymous tenant and grace
days like the console. Cells are the text the page shows, all taken at one moment
(the JSON says when: `exportedAt`). The file is written beside its target under a temporary name
and renamed once complete: a failure or Ctrl+C leaves nothing partial, and an existing file as it was.

Exit codes:
    0  the file was written
    1  writing failed (a full disk, say): nothing was left behind (Ctrl+C: 130, nothing left either)
    2  the profile cannot be used (unknown, no key, unreachable, refused key)
    3  refused, nothing was done: the output path cannot be written (no such folder, a folder, no
       permission), an unknown column, or no format given and none in the file name
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from anonconsole.core.errors import GatewayError
from anonconsole.core.export import ExportFormat, format_of, users_export
from anonconsole.core.user_pages import (
    ALL_COLUMNS,
    PAGE_COLUMNS,
    PAGE_KINDS,
    AnyColumn,
    column_named,
    page_filter,
    query,
)
from anonconsole.operations.anonymous_tenant import anonymous_policy
from anonconsole.operations.export import target_problem, write_export
from anonconsole.operations.headless import ProfileUnusable, open_profile
from anonconsole.operations.users_snapshot import load_users

OK, FAILED, UNUSABLE, REFUSED = 0, 1, 2, 3
Out = Callable[[str], None]
PROGRESS_EVERY = 2.0  # seconds between two progress lines while writing


def add_parser(commands: Any) -> None:
    """The `export` subcommand and its options."""
    parser = commands.add_parser(
        "export",
        help="export a users page (anonymous, regular, attention, all) to CSV or JSON",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--profile", default="Sandbox (demo)", help="profile name (default: the built-in sandbox)"
    )
    parser.add_argument("--view", required=True, choices=tuple(PAGE_KINDS), help="the users page to export")
    parser.add_argument(
        "--format",
        choices=[fmt.value for fmt in ExportFormat],
        help="csv or json (default: from the file name's .csv or .json)",
    )
    parser.add_argument("--out", required=True, type=Path, metavar="FILE", help="the file to write")
    parser.add_argument(
        "--columns",
        metavar="KEY,KEY",
        help="the columns, in order (default: the page's). Keys: "
        + ", ".join(column.value for column in ALL_COLUMNS),
    )
    parser.add_argument("--sort", metavar="KEY", help="sort by this column (default: the order loaded)")
    parser.add_argument("--descending", action="store_true", help="with --sort: largest or latest first")


async def run(args: argparse.Namespace, out: Out) -> int:
    """The `export` command; returns its exit code (see the module's docstring)."""
    kind = PAGE_KINDS[args.view]
    path: Path = args.out.expanduser()
    problem = await asyncio.to_thread(target_problem, path)
    if problem is not None:
        return _refuse(out, f"{problem} Nothing was exported.")
    fmt = ExportFormat(args.format) if args.format else format_of(path)
    if fmt is None:
        return _refuse(out, f"{path}: give --format csv or json, or end the file name in .csv or .json.")
    try:
        columns = _columns(args.columns) if args.columns else PAGE_COLUMNS[kind]
        sort = column_named(args.sort) if args.sort else None
    except ValueError as exc:
        return _refuse(out, str(exc))
    try:
        async with open_profile(args.profile, out) as (profile, gateway):
            try:
                policy, note = await anonymous_policy(
                    gateway,
                    tenant_id=profile.anonymous_tenant_id,
                    tenant_name=profile.anonymous_tenant_name,
                    grace_days=profile.grace_days,
                )
                out(note)
                out(f"Loading the users of “{profile.name}”…")
                table = await load_users(gateway, policy, say=_every(PROGRESS_EVERY, _loading(out)))
            except GatewayError as exc:
                out(f"anonconsole export: {exc.user_message}")
                return UNUSABLE
            now = int(time.time())
            rows = query(table, page_filter(kind), sort, args.descending)
            about = {"profile": profile.name, "projectId": gateway.connection.project_id}
            export = users_export(
                table,
                rows,
                columns,
                now=now,
                page=args.view,
                spec=page_filter(kind),
                sort=sort,
                descending=args.descending,
                about=about,
            )
            report = await write_export(export, path, fmt, progress=_every(PROGRESS_EVERY, _writing(out)))
    except ProfileUnusable as exc:
        out(f"anonconsole export: {exc}")
        return UNUSABLE
    if not report.ok:
        out(f"anonconsole export: {report.error}")
        return FAILED
    out(report.summary())
    return OK


def _refuse(out: Out, text: str) -> int:
    out(f"anonconsole export: {text}")
    return REFUSED


def _columns(text: str) -> tuple[AnyColumn, ...]:
    """--columns: keys separated by commas, each once."""
    columns = tuple(column_named(key.strip()) for key in text.split(",") if key.strip())
    if not columns:
        raise ValueError("--columns names no column.")
    if len(set(columns)) < len(columns):
        raise ValueError("--columns names a column twice.")
    return columns


def _loading(out: Out) -> Callable[..., None]:
    return lambda loaded, total: out(f"  {loaded:,} of {total:,} users loaded")


def _writing(out: Out) -> Callable[..., None]:
    return lambda _done, _total, text: out(f"  {text}")


def _every(seconds: float, say: Callable[..., None]) -> Callable[..., None]:
    """`say`, at most once per `seconds` (the first call always): a terminal, not a flood."""
    last = [-seconds]

    def throttled(*args: Any) -> None:
        now = time.monotonic()
        if now - last[0] >= seconds:
            last[0] = now
            say(*args)

    return throttled
