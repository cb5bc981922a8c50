"""`anonconsole sandbox serve|outbox`: run the sandbox, or print what it would have sent.

The management key is read from `DESCOPE_MANAGEMENT_KEY` only (never a command-line argument, which
other users can read in the process list), hashed at once and removed from the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

import httpx
import uvicorn

from anonconsole.sandbox.context import SandboxContext
from anonconsole.sandbox.faults import Faults
from anonconsole.settings import paths
from anonconsole.settings.files import write_atomically
from anonconsole.settings.sandbox_protocol import DEFAULT_PROJECT_ID, KEY_ENV

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8788
GRACEFUL_SHUTDOWN_SECONDS = 3

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

    serve = commands.add_parser("serve", help="run the Descope-compatible sandbox")
    serve.add_argument("--host", default=DEFAULT_HOST)
    serve.add_argument("--port", type=_non_negative, default=DEFAULT_PORT, help="0 = a free port")
    serve.add_argument("--db", type=Path, default=None, help=f"SQLite file (default {default_db()})")
    serve.add_argument("--project-id", default=DEFAULT_PROJECT_ID)
    seed = serve.add_mutually_exclusive_group()
    seed.add_argument("--demo", action="store_true", help="seed the demo data set into an empty db")
    seed.add_argument("--users", type=_non_negative, default=None, help="seed N users into an empty db")
    serve.add_argument("--latency-ms", type=_non_negative, default=0)
    serve.add_argument("--error-rate", type=_rate, default=0.0)
    serve.add_argument("--drop-rate", type=_rate, default=0.0)
    serve.add_argument("--rate-limits", choices=("descope", "off"), default="descope")
    serve.add_argument("--ready-file", type=Path, default=None, help="written once listening")

    outbox = commands.add_parser("outbox", help="print the messages the sandbox would have sent")
    outbox.add_argument("--url", default=f"http://{DEFAULT_HOST}:{DEFAULT_PORT}")
    outbox.add_argument("--project-id", default=DEFAULT_PROJECT_ID)
    outbox.add_argument("--login-id", default=None)
    outbox.add_argument("--limit", type=_non_negative, default=20)
    return parser


def _take_key() -> str | None:
    """The key from the environment, removed from it so nothing this process starts inherits it."""
    return os.environ.pop(KEY_ENV, None) or None


def _seed(ctx: SandboxContext, *, demo: bool, users: int | None) -> None:
    if not demo and not users:
        return
    if ctx.store.user_count():
        logger.info("Database already holds users: not seeding")
        return
    from anonconsole.sandbox import seed

    started = time.perf_counter()
    if demo:
        seed.seed_demo(ctx.store, now=ctx.clock())
    else:
        seed.seed_bulk(ctx.store, int(users or 0), now=ctx.clock())
    logger.info("Seeded %d users in %.1f s", ctx.store.user_count(), time.perf_counter() - started)


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
    """uvicorn.Server that reports readiness once it accepts connections."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            self._on_ready()


def _already_stopping(signum: int, frame: FrameType | None) -> None:
    """Signal handler for after uvicorn's graceful shutdown: nothing left to do."""


def serve(args: argparse.Namespace) -> int:
    """Run the sandbox until SIGTERM/SIGINT."""
    from anonconsole.sandbox.server import build_app, create_context, hash_key

    key = _take_key()
    if not key:
        print(
            f"anonconsole sandbox: set the management key in the environment variable {KEY_ENV} "
            "(it is never accepted on the command line).",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    db: Path = (args.db or default_db()).resolve()
    ctx = create_context(db, args.project_id, hash_key(key))
    del key
    _seed(ctx, demo=args.demo, users=args.users)
    faults = Faults(latency_ms=args.latency_ms, error_rate=args.error_rate, drop_rate=args.drop_rate)
    app = build_app(ctx, faults=faults, rate_limits=args.rate_limits == "descope")
    try:
        sock = _listen(args.host, args.port)
    except OSError as exc:
        print(f"anonconsole sandbox: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    host, port = sock.getsockname()[:2]
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    ready = {"url": url, "pid": os.getpid(), "projectId": args.project_id, "db": str(db)}

    def on_ready() -> None:
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
        asyncio.run(_Server(config, on_ready).serve(sockets=[sock]))
    finally:
        sock.close()
        if args.ready_file:
            args.ready_file.unlink(missing_ok=True)
    logger.info("Sandbox stopped")
    return 0


def outbox(args: argparse.Namespace) -> int:
    """Print the outbox, newest first."""
    key = _take_key()
    if not key:
        print(f"anonconsole sandbox outbox: set {KEY_ENV} in the environment.", file=sys.stderr)
        return 2
    params: dict[str, str | int] = {"limit": args.limit}
    if args.login_id:
        params["loginId"] = args.login_id
    try:
        response = httpx.get(
            f"{args.url.rstrip('/')}/_sandbox/outbox",
            params=params,
            headers={"Authorization": f"Bearer {args.project_id}:{key}"},
            timeout=10,
        )
    except httpx.HTTPError as exc:
        print(f"anonconsole sandbox outbox: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1
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


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return outbox(args)
