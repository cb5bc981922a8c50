"""`anonconsole`: the console (GUI) by default; `anonconsole sandbox …` for the local sandbox.

Qt and the sandbox's server stack are imported only by the command that needs them, so
`anonconsole --version` and `anonconsole sandbox …` start fast and work on machines without a display.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import anonconsole
from anonconsole.commands import cull as cull_command
from anonconsole.commands import export as export_command

if TYPE_CHECKING:
    from anonconsole.operations.doctor import Check

PROG = "anonconsole"


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser; `sandbox`'s own options are parsed by anonconsole.sandbox.cli."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="A console for the lifecycle of anonymous users in a Descope project.",
        epilog="Without a command, opens the console (same as `anonconsole gui`).",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {anonconsole.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{gui,doctor,cull,export,sandbox}")
    gui = commands.add_parser("gui", help="open the console (the default)")
    gui.add_argument(
        "--sandbox-db",
        type=Path,
        metavar="PATH",
        help="SQLite file of the built-in sandbox (default: in the user data directory)",
    )
    gui.add_argument(
        "--screenshot",
        type=Path,
        metavar="PATH",
        help="render the window offscreen once connected and loaded, save it as PNG and exit",
    )
    gui.add_argument(
        "--page",
        choices=("overview", "anonymous", "regular", "attention", "all", "lifecycle", "audit"),
        default=None,
        help="the page to show first (default: the one shown when the console was last closed)",
    )
    gui.add_argument(
        "--color-scheme",
        choices=("system", "light", "dark"),
        default=None,
        help="palette: follow the OS, or force light or dark (default: the View → Theme choice, else the OS)",
    )
    doctor = commands.add_parser(
        "doctor",
        help="verify a profile's anonymous-user setup with a probe user that is always deleted",
        description=(
            "Checks the connection and the anonymous tenant's session settings, creates a probe "
            "anonymous user by the KB recipe, checks its tokens, then deletes it. The management key "
            "comes from the OS keyring; on a headless machine without one, DESCOPE_MANAGEMENT_KEY is "
            "used instead (and said so). Exit code: 0 all passed, 1 a check failed, 2 unusable profile."
        ),
    )
    doctor.add_argument(
        "--profile", default="Sandbox (demo)", help="profile name (default: the built-in sandbox)"
    )
    cull_command.add_parser(commands)
    export_command.add_parser(commands)
    commands.add_parser(
        "sandbox",
        help="run or inspect the local Descope-compatible sandbox (see `anonconsole sandbox --help`)",
        add_help=False,
    )
    return parser


def _check_gui_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse, in one line, what would only fail later inside Qt."""
    if args.screenshot is not None:
        if args.screenshot.suffix.lower() != ".png":
            parser.error(f"--screenshot: {args.screenshot} must end in .png")
        if not args.screenshot.resolve().parent.is_dir():
            parser.error(f"--screenshot: the folder {args.screenshot.resolve().parent} does not exist")
        # A screenshot needs no screen: render offscreen unless the caller chose a platform.
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if args.sandbox_db is not None and args.sandbox_db.is_dir():
        parser.error(f"--sandbox-db: {args.sandbox_db} is a folder; give the path of a .db file")
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM")
    ):
        parser.exit(
            1,
            f"{PROG}: no display found: run it in a desktop session, use `./dev run` (a virtual screen), "
            "or set QT_QPA_PLATFORM=offscreen\n",
        )


def _run(argv: list[str]) -> int:
    """Dispatch; argparse's errors and --help/--version arrive as SystemExit."""
    if argv[:1] == ["sandbox"]:
        from anonconsole.sandbox import cli as sandbox_cli  # the server stack only when asked for

        return sandbox_cli.main(argv[1:], console_key=_sandbox_profile_key)
    parser = build_parser()
    args = parser.parse_args(argv or ["gui"])
    if args.command in ("cull", "doctor", "export"):
        import asyncio

        from anonconsole.settings import logs

        logs.setup_logging()  # the SDK's own warnings to the log file, not between the report's lines
        try:
            if args.command == "cull":
                return asyncio.run(cull_command.run(args, lambda line: print(line, flush=True)))
            if args.command == "export":
                return asyncio.run(export_command.run(args, lambda line: print(line, flush=True)))
            return asyncio.run(_doctor(args.profile, lambda line: print(line, flush=True)))
        finally:
            logs.remove_handlers()
    _check_gui_args(parser, args)
    from anonconsole.app.run import GuiOptions, run_gui  # Qt only for the GUI

    # Absolute, so the child, its state file and a later reuse all name the same database.
    db = args.sandbox_db.expanduser().resolve() if args.sandbox_db else None
    return run_gui(
        GuiOptions(sandbox_db=db, screenshot=args.screenshot, color_scheme=args.color_scheme, page=args.page)
    )


def _sandbox_profile_key() -> str | None:
    """The built-in sandbox profile's key from the keyring (what the console started its sandbox
    with), for `anonconsole sandbox outbox`; None when there is none or no keyring. Never creates one."""
    from anonconsole.settings import key_store
    from anonconsole.settings.profiles import SANDBOX_PROFILE

    try:
        return key_store.get_key(SANDBOX_PROFILE)
    except key_store.KeyringUnavailable:
        return None


async def _doctor(name: str, out: Callable[[str], None]) -> int:
    """`anonconsole doctor`: 0 when every check passed, 1 when one failed, 2 when the profile is unusable."""
    from anonconsole.operations.doctor import run_doctor
    from anonconsole.operations.headless import ProfileUnusable, open_profile
    from anonconsole.runtime import messages

    def line(check: Check) -> None:
        out(f"{'PASS' if check.passed else 'FAIL'}  {check.name}: {check.detail}")

    try:
        async with open_profile(name, out) as (profile, gateway):
            messages.register_secret(gateway.connection.management_key)  # scrubbed from the log
            report = await run_doctor(
                gateway,
                tenant_id=profile.anonymous_tenant_id,
                tenant_name=profile.anonymous_tenant_name,
                on_check=line,
            )
    except ProfileUnusable as exc:
        out(f"anonconsole doctor: {exc}")
        return 2
    if report.unusable:
        out("The profile cannot be used: see the failed check.")
        return 2
    out("All checks passed." if report.ok else "The setup has a problem: see the failed check.")
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `anonconsole` script; returns the process exit code."""
    try:
        return _run(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse: 0 for --help/--version, 2 for usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        return 130
