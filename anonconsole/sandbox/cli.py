"""`anonconsole sandbox serve|outbox`: run the sandbox, or print what it would have sent.

`serve` reads the management key from a file descriptor (`--key-fd N`: a pipe, a file, or 0 for
standard input) or from `DESCOPE_MANAGEMENT_KEY`, never from the command line (which other users can
read in the process list), and keeps only its hash. A key in the environment would stay readable in
`/proc/<pid>/environ`, so `serve` then restarts itself without it (`handover`). One sandbox per
database: a second `serve` on a file in use refuses to start, naming the first (`dblock`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

import httpx
import uvicorn

from anonconsole.sandbox import handover
from anonconsole.sandbox.context import SandboxContext
from anonconsole.sandbox.db import DatabaseUnusable, unusable
from anonconsole.sandbox.dblock import DatabaseInUse, DatabaseLock
from anonconsole.sandbox.faults import Faults
from anonconsole.settings import paths
from anonconsole.settings.files import write_atomically
from anonconsole.settings.sandbox_protocol import DEFAULT_PROJECT_ID, KEY_ENV, READY_ERROR

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8788
GRACEFUL_SHUTDOWN_SECONDS = 3
EXIT_UNUSABLE_DB = 3
EXIT_DB_IN_USE = 4
EXIT_NO_KEY = 2

logger = logging.getLogger("anonconsole.sandbox")


def default_db() -> Path:
    return paths.sandbox_db()


def _rate(value: str) -> float:
    rate = float(value)
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return rate


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return number


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="anonconsole sandbox", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve",
        help="run the Descope-compatible sandbox",
        description=(
            f"Run the sandbox until Ctrl+C. The management key comes from --key-fd (e.g. "
            f"`--key-fd 0 < keyfile`, or a pipe) or from {KEY_ENV}; never from the command line."
        ),
    )
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    serve.add_argument(
        "--port",
        type=_non_negative,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0 = a free one)",
    )
    serve.add_argument("--db", type=Path, default=None, help=f"SQLite file (default {default_db()})")
    serve.add_argument(
        "--project-id",
        default=DEFAULT_PROJECT_ID,
        help=f"the project it answers for (default {DEFAULT_PROJECT_ID})",
    )
    seed = serve.add_mutually_exclusive_group()
    seed.add_argument("--demo", action="store_true", help="seed the demo data set into an empty db")
    seed.add_argument("--users", type=_non_negative, default=None, help="seed N users into an empty db")
    serve.add_argument(
        "--expired-share",
        type=_rate,
        default=None,
        metavar="P",
        help=(
            "with --users: this share of the users are anonymous users whose refresh token expired "
            "30-500 days ago (the cull's candidates: 0.5 of 200,000 gives 100,000), the other "
            "anonymous users are active (default: the usual mix, about 30%% of them expired)"
        ),
    )
    serve.add_argument(
        "--latency-ms",
        type=_non_negative,
        default=0,
        metavar="MS",
        help="delay added to every request (default 0)",
    )
    serve.add_argument(
        "--error-rate",
        type=_rate,
        default=0.0,
        metavar="P",
        help="share of requests answered with a 500 (0 to 1)",
    )
    serve.add_argument(
        "--drop-rate",
        type=_rate,
        default=0.0,
        metavar="P",
        help="share of connections closed unanswered (0 to 1)",
    )
    serve.add_argument(
        "--error-after-rate",
        type=_rate,
        default=0.0,
        metavar="P",
        help="share of requests served, then answered with a 500 (the change made, the answer lost)",
    )
    serve.add_argument(
        "--drop-after-rate",
        type=_rate,
        default=0.0,
        metavar="P",
        help="share of requests served, then their connection closed unanswered (0 to 1)",
    )
    serve.add_argument(
        "--key-fd",
        type=_non_negative,
        default=None,
        metavar="FD",
        help=f"read the management key (one line) from this file descriptor; else from {KEY_ENV}",
    )
    serve.add_argument(
        "--rate-limits",
        choices=("descope", "off"),
        default="descope",
        help="enforce Descope's documented rate limits (default) or none",
    )
    serve.add_argument("--ready-file", type=Path, default=None, help="written once listening")
    serve.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        metavar="PID",
        help="stop when this process (the console that started the sandbox) is gone",
    )

    outbox = commands.add_parser(
        "outbox",
        help="print the messages the sandbox would have sent",
        description=(
            "Print the e-mails and text messages the sandbox would have sent, newest first. By default "
            "it reads the console's own sandbox (found through its state file) with the key of the "
            f"built-in profile from the keyring; {KEY_ENV}, when set, is used instead."
        ),
    )
    outbox.add_argument(
        "--url", default=None, help="a sandbox you started yourself (default: the console's running sandbox)"
    )
    outbox.add_argument(
        "--db",
        type=Path,
        default=None,
        help="the console's sandbox for this SQLite file (as `anonconsole gui --sandbox-db`)",
    )
    outbox.add_argument(
        "--project-id",
        default=None,
        help=f"the sandbox's project ID (default: its own, else {DEFAULT_PROJECT_ID})",
    )
    outbox.add_argument("--login-id", default=None, help="only the messages to this login ID")
    outbox.add_argument(
        "--limit", type=_non_negative, default=20, help="at most this many messages (default 20)"
    )
    return parser


def _take_key() -> str | None:
    """The key from the environment, removed from it so nothing this process starts inherits it."""
    return os.environ.pop(KEY_ENV, None) or None


def _serve_key(args: argparse.Namespace) -> str:
    """The key `serve` was given (descriptor first, else the environment), or KeyUnreadable."""
    env_key = _take_key()
    if args.key_fd is not None:
        return handover.read_key(args.key_fd)
    if env_key is None:
        raise handover.KeyUnreadable(
            f"give the management key on a file descriptor (--key-fd, e.g. `--key-fd 0 < keyfile`) or in "
            f"the environment variable {KEY_ENV} (it is never accepted on the command line)."
        )
    if len(env_key.encode("utf-8")) > handover.MAX_KEY_BYTES:
        raise handover.KeyUnreadable(f"{KEY_ENV} is longer than {handover.MAX_KEY_BYTES} bytes: not a key")
    return env_key


def _seed(ctx: SandboxContext, *, demo: bool, users: int | None, expired_share: float | None = None) -> None:
    if not demo and not users:
        return
    if ctx.store.user_count():
        logger.info("Database already holds users: not seeding")
        return
    from anonconsole.sandbox import seed

    started = time.perf_counter()
    if demo:
        counts = seed.seed_demo(ctx.store, now=ctx.clock())
    else:
        counts = seed.seed_bulk(ctx.store, int(users or 0), now=ctx.clock(), expired_share=expired_share)
    logger.info(
        "Seeded %d users in %.1f s (%s)",
        ctx.store.user_count(),
        time.perf_counter() - started,
        ", ".join(f"{kind}: {count}" for kind, count in counts.items()),
    )


def _listen(host: str, port: int) -> socket.socket:
    """Bind and listen before uvicorn starts, so `--port 0` yields a known port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says TCP, and without it Nagle + delayed ACKs add 40 ms to every response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn.Server that reports readiness once it accepts connections, and ends with the process
    that started it (`--parent-pid`): a console killed outright (SIGKILL, a crash) cannot stop its
    child, and an orphaned sandbox would keep the database and a port for nobody."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None], parent_pid: int | None) -> None:
        super().__init__(config)
        self._on_ready = on_ready
        self._parent_pid = parent_pid

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            self._on_ready()

    async def on_tick(self, counter: int) -> bool:
        """uvicorn calls this every 0.1 s; once a second, look whether the parent is still there
        (an orphan is re-parented, so its parent pid changes)."""
        if self._parent_pid is not None and counter % 10 == 0 and os.getppid() != self._parent_pid:
            logger.info("The process that started the sandbox (pid %d) is gone: stopping", self._parent_pid)
            self.should_exit = True
        return await super().on_tick(counter)


def _fail(args: argparse.Namespace, sentence: str, code: int) -> int:
    """Say why the sandbox cannot start, on stderr (its log) and, for the launcher that waits for
    it, in the ready file: the console shows that sentence rather than the end of a log."""
    print(f"anonconsole sandbox: {sentence}", file=sys.stderr)
    if args.ready_file:
        write_atomically(args.ready_file, json.dumps({READY_ERROR: sentence}))
    return code


def _already_stopping(signum: int, frame: FrameType | None) -> None:
    """Signal handler for after uvicorn's graceful shutdown: nothing left to do."""


def serve(args: argparse.Namespace, argv: Sequence[str] = ()) -> int:
    """Run the sandbox until SIGTERM/SIGINT. `argv`: its own arguments, to restart itself with when
    the key came in the environment (see `handover`)."""
    handover.restart_without_key_in_environment(argv)
    from anonconsole.sandbox.server import hash_key

    try:
        key_hash = hash_key(_serve_key(args))
    except handover.KeyUnreadable as exc:
        print(f"anonconsole sandbox: {exc.sentence}", file=sys.stderr)
        return EXIT_NO_KEY
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    db: Path = (args.db or default_db()).resolve()
    try:
        lock = DatabaseLock.acquire(db)
    except DatabaseInUse as exc:
        return _fail(args, exc.sentence, EXIT_DB_IN_USE)
    try:
        return _serve_locked(args, db, key_hash, lock)
    finally:
        lock.release()


def _serve_locked(args: argparse.Namespace, db: Path, key_hash: str, lock: DatabaseLock) -> int:
    """`serve` once the database is this process's alone."""
    from anonconsole.sandbox.server import build_app, create_context

    try:
        ctx = create_context(db, args.project_id, key_hash)
        _seed(ctx, demo=args.demo, users=args.users, expired_share=args.expired_share)
    except DatabaseUnusable as exc:
        return _fail(args, exc.sentence, EXIT_UNUSABLE_DB)
    except sqlite3.DatabaseError as exc:  # damage the quick check at opening did not see
        return _fail(args, unusable(db, exc).sentence, EXIT_UNUSABLE_DB)
    faults = Faults(
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        drop_rate=args.drop_rate,
        error_after_rate=args.error_after_rate,
        drop_after_rate=args.drop_after_rate,
    )
    app = build_app(ctx, faults=faults, rate_limits=args.rate_limits == "descope")
    try:
        sock = _listen(args.host, args.port)
    except OSError as exc:
        return _fail(args, f"cannot listen on {args.host}:{args.port}: {exc}", 1)
    host, port = sock.getsockname()[:2]
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    ready = {"url": url, "pid": os.getpid(), "projectId": args.project_id, "db": str(db)}

    def on_ready() -> None:
        lock.announce({"pid": os.getpid(), "url": url})
        if args.ready_file:
            write_atomically(args.ready_file, json.dumps(ready))
        logger.info(
            "Sandbox listening on %s (project %s, db %s, rate limits %s, %s)",
            url,
            args.project_id,
            db,
            args.rate_limits,
            faults,
        )

    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        proxy_headers=False,
        server_header=False,
    )
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to the handlers it
    # found: with these no-op handlers the process ends normally (exit 0, ready file removed).
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _already_stopping)
    try:
        asyncio.run(_Server(config, on_ready, args.parent_pid).serve(sockets=[sock]))
    finally:
        sock.close()
        if args.ready_file:
            args.ready_file.unlink(missing_ok=True)
    logger.info("Sandbox stopped")
    return 0


class _Unusable(Exception):
    """`outbox` cannot go on; the message says why and what to do."""


KeySource = Callable[[], str | None]


def _console_sandbox(db: Path | None) -> tuple[str, str]:
    """(URL, project ID) of the console's running sandbox for `db`, from its state file."""
    state_file = paths.sandbox_state_file(db.resolve() if db else None)
    how = (
        "Start the console (`anonconsole`), which starts it, or give --url for a sandbox you run "
        "yourself with `anonconsole sandbox serve`."
    )
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
        url, project_id = str(state["url"]), str(state["projectId"])
    except FileNotFoundError:
        raise _Unusable(f"No sandbox of the console is running (no {state_file}). {how}") from None
    except (OSError, ValueError, KeyError, TypeError):
        raise _Unusable(f"No sandbox of the console is running ({state_file} is unreadable). {how}") from None
    try:
        answered = httpx.get(f"{url}/_sandbox/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        answered = False
    if not answered:
        raise _Unusable(f"No sandbox of the console is running (nothing answers at {url}). {how}")
    return url, project_id


def _outbox_key(own_sandbox: bool, console_key: KeySource | None) -> str:
    """The environment's key; else, for the console's own sandbox, the built-in profile's."""
    key = _take_key()
    if key:
        return key
    if own_sandbox and console_key is not None:
        key = console_key()
        if key:
            return key
    where = "the keyring holds no key of the built-in sandbox profile, and " if own_sandbox else ""
    raise _Unusable(f"{where}no key was found: set {KEY_ENV} in the environment to the sandbox's key.")


def outbox(args: argparse.Namespace, console_key: KeySource | None = None) -> int:
    """Print the outbox, newest first."""
    try:
        if args.url:
            url, project_id = str(args.url).rstrip("/"), args.project_id or DEFAULT_PROJECT_ID
        else:
            url, project_id = _console_sandbox(args.db)
            project_id = args.project_id or project_id
        key = _outbox_key(not args.url, console_key)
    except _Unusable as exc:
        print(f"anonconsole sandbox outbox: {exc}", file=sys.stderr)
        return 1
    params: dict[str, str | int] = {"limit": args.limit}
    if args.login_id:
        params["loginId"] = args.login_id
    try:
        response = httpx.get(
            f"{url}/_sandbox/outbox",
            params=params,
            headers={"Authorization": f"Bearer {project_id}:{key}"},
            timeout=10,
        )
    except httpx.HTTPError as exc:
        print(f"anonconsole sandbox outbox: cannot reach {url}: {exc}", file=sys.stderr)
        return 1
    finally:
        del key
    if response.status_code != 200:
        print(f"anonconsole sandbox outbox: HTTP {response.status_code}: {response.text}", file=sys.stderr)
        return 1
    messages = response.json()["messages"]
    if not messages:
        print("The outbox is empty.")
    for message in messages:
        print(f"{message['time']}  {message['channel']:<5} to {message['to']} ({message['loginId']})")
        print(f"  {message['subject']}")
        if message.get("code"):
            print(f"  code: {message['code']}")
        print(f"  {message['body']}")
    return 0


def main(argv: Sequence[str] | None = None, *, console_key: KeySource | None = None) -> int:
    """`console_key`: the built-in sandbox profile's key, for `outbox` (the console's CLI passes a
    reader of its keyring entry; the sandbox itself never imports the keyring)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "serve" and args.expired_share is not None and not args.users:
        parser.error("--expired-share is a share of the seeded users: give --users N with it")
    if args.command == "serve":
        return serve(args, sys.argv[1:] if argv is None else argv)
    return outbox(args, console_key)
