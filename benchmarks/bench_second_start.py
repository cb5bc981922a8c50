"""The second start at N users (default 1,000,000): the users snapshot shown, then brought up to date.

Issue "A million users": with a 1,000,000-user project the second start shows every user and every
count in <= 2 s, and the window never stalls over 50 ms. Steps:
1. a sandbox of N users (limits off) is loaded once by the window, which writes the profile's
   snapshot; then 1% of the users change through the SDK: 0.5% renamed, 0.25% deleted, 0.25%
   signed up;
2. the sandbox starts again on the same database with Descope's rate limits, and new
   `anonconsole gui` processes start on a profile of that project (its key in the Secret Service,
   its snapshot in the cache dir): from each process's start to its log line saying every user and
   count of the snapshot shows. That is the second start as a user sees it: imports, window, key,
   connection and the snapshot read begun at process start (`EarlyStart`). Median of 7;
3. then, in this process, a new window connects as the console does (`ConnectionManager._connect`)
   and stays until the full pass and the snapshot's writing end. Printed: the time until every
   user and count is shown, until the changes since the snapshot are shown (the catch-up), until
   the full pass that finds the deletions has ended, the longest UI stall of each phase (5 ms
   timer); then whether the window's users equal the sandbox's.

Figures beside the issue's baseline: a start without a snapshot loaded 1,000,000 users in 216.5 s
(every count complete only then), with a longest stall of 135 ms.

Run alone, under a Secret Service (`./dev bench second_start --users 1000000`, or
`python -m benchmarks.bench_second_start --users 1000000 [--keep DIR] [--starts-only] [--culprits]`
inside `dbus-run-session -- scripts/with-secret-service`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import qasync
from descope import DescopeClientAsync, UserObj
from PySide6.QtWidgets import QApplication

from anonconsole.app.run import create_application
from anonconsole.gateway import Connection, Gateway
from anonconsole.launcher.process import SandboxOptions, SandboxProcess
from anonconsole.runtime import gc_policy
from anonconsole.settings import paths
from anonconsole.settings.user_snapshot import snapshot_path
from anonconsole.views.main_window import MainWindow
from anonconsole.views.users_area import SnapshotPlace
from benchmarks import bench_cold_start
from benchmarks.bench_users_stalls import Culprits, GapMeter, lower_priority

PROFILE = "Bench"
BASELINE = {"every_count_s": 216.5, "stall_ms": 135.0}
GOAL_SHOWN_S = 2.0
GOAL_STALL_MS = 50.0
BATCH = 100


async def first_start(connection: Connection, project_id: str) -> None:
    """The start before: every user loaded, the snapshot written (what a first start leaves)."""
    window = MainWindow(PROFILE)
    window.users.read_snapshot_early(SnapshotPlace(PROFILE, project_id))
    async with await Gateway.open(connection) as gateway:
        window.set_connection(PROFILE, gateway)
        started = time.perf_counter()
        await until(lambda: window.users.table_loaded and not window.users.loading)
        took = time.perf_counter() - started
        print(f"  first start: {len(window.users.table):,} users loaded in {took:.0f} s")
        await window.users.close()  # waits for the snapshot's writing
    window.close()


async def change_one_percent(client: DescopeClientAsync, n: int) -> tuple[int, int, int]:
    """0.5% renamed, 0.25% deleted, 0.25% created, through the SDK; (renamed, deleted, created)."""
    rng = random.Random(19)
    everyone: list[tuple[str, str]] = []
    page = 0
    while True:
        answer = await client.mgmt.user.search_all(limit=1000, page=page, with_test_user=True)
        users = answer["users"]
        everyone += [(u["userId"], u["loginIds"][0]) for u in users]
        page += 1
        if len(users) < 1000:
            break
    picked = rng.sample(everyone, n // 100 - n // 400)
    renamed, deleted = picked[: n // 200], picked[n // 200 :]
    lanes = asyncio.Semaphore(8)

    async def rename(login_id: str) -> None:
        async with lanes:
            await client.mgmt.user.update_display_name(login_id, f"Renamed {secrets.token_hex(3)}")

    await asyncio.gather(*(rename(login) for _, login in renamed))
    ids = [user_id for user_id, _ in deleted]
    for start in range(0, len(ids), BATCH):
        await client.mgmt.user.delete_batch(ids[start : start + BATCH])
    created = n // 400
    for start in range(0, created, BATCH):
        made = [UserObj(f"signed-up-{secrets.token_hex(6)}") for _ in range(min(BATCH, created - start))]
        await client.mgmt.user.invite_batch(made, send_mail=False, send_sms=False)
    return len(renamed), len(deleted), created


async def until(condition: object, every: float = 0.002) -> None:
    while not condition():  # type: ignore[operator]
        await asyncio.sleep(every)


async def second_start(
    connection: Connection, project_id: str, sandbox_total: int, *, culprits: bool
) -> dict[str, float]:
    """A new window connecting as the console does; the figures of each phase."""
    gc_policy.freeze_start_up_objects()
    window = MainWindow(PROFILE)
    window.resize(1280, 800)
    window.show()
    window.show_page("anonymous")
    users = window.users
    marks: dict[str, float] = {}
    meter = GapMeter(0.03)
    stalls: dict[str, float] = {}
    found = Culprits(meter) if culprits else None

    def phase(name: str) -> None:
        """A phase ends: its time since the start, and the longest stall since the phase before
        (and the most CPU time the UI thread spent between two ticks: the stall on an idle machine)."""
        marks[name] = time.perf_counter() - started
        stalls[name] = meter.stop()
        stalls[name + " cpu"] = meter.busiest
        if found is not None:
            found.report(f"the phase until {name}")
            found.samples.clear()
            found.spans.clear()
        meter.start()

    users.freshness_changed.connect(
        lambda short, _whole: (
            phase("shown") if short.startswith("Users as of") and "shown" not in marks else None
        )
    )
    users.loader.caught_up.connect(lambda _text: phase("caught up"))
    users.load_succeeded.connect(lambda: phase("full pass"))
    if found is not None:
        found.__enter__()
    meter.start()
    started = time.perf_counter()
    window.set_connecting(PROFILE, f"Connecting to {PROFILE}…")
    users.read_snapshot_early(SnapshotPlace(PROFILE, project_id))
    gateway = await Gateway.open(connection)
    try:
        window.set_connection(PROFILE, gateway)
        await until(lambda: "shown" in marks)
        shown_counts = users.table.counts()
        navigation = window.navigation.item(window.page_index("all")).text()
        await until(lambda: "full pass" in marks, every=0.05)
        assert users._writing is not None
        await asyncio.wait([users._writing])
        phase("snapshot written")
        living = len(users.table) - int(users.table.gone_mask().sum())
        print(f"  shown at once: {sum(shown_counts.values()):,} users; navigation says {navigation!r}")
        print(f"  after the full pass: {living:,} users shown, the sandbox holds {sandbox_total:,}")
        await users.close()
    finally:
        if found is not None:
            found.__exit__(None, None, None)
        await gateway.aclose()
        window.close()
    return {
        **{f"{k} s": v for k, v in marks.items()},
        **{f"{k} stall ms": v * 1000 for k, v in stalls.items()},
    }


_SETUP = r"""
import sys
from anonconsole.settings.profiles import Profile, ProfileStore
project_id, base_url, name = sys.argv[1:4]
store = ProfileStore.load()
replacing = name if name in store else None  # a kept folder: the sandbox's port changed
profile = Profile(name=name, project_id=project_id, base_url=base_url)
store.put(profile, key=sys.stdin.read(), replacing=replacing)
store.set_last_profile(name)
"""
SHOWN_LINE = "Showing the "  # what the console logs once every user of the snapshot and every count shows


def _gui_env(home: Path) -> dict[str, str]:
    """A console of its own: its config, cache, data and log under `home` (platformdirs' XDG dirs)."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("DESCOPE_MANAGEMENT_KEY", None)
    for kind in ("CONFIG", "CACHE", "DATA", "STATE"):
        env[f"XDG_{kind}_HOME"] = str(home / kind.lower())
    return env


def process_starts(connection: Connection, snapshot: Path, home: Path, runs: int = 7) -> list[float]:
    """`runs` starts of a new `anonconsole gui` process whose start-up profile is this project, with
    the snapshot at hand: from the process's start to its log line saying every user and count of
    the snapshot shows (the key in the real keyring: run under a Secret Service, `./dev bench`)."""
    env = _gui_env(home)
    made = subprocess.run(
        [sys.executable, "-c", _SETUP, connection.project_id, connection.base_url, PROFILE],
        input=connection.management_key,
        env=env,
        text=True,
        capture_output=True,
    )
    if made.returncode:
        raise RuntimeError(f"the profile could not be made: {made.stderr[-1500:]}")
    kept = home / "cache" / "anonconsole" / "users" / snapshot.name
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.unlink(missing_ok=True)
    os.link(snapshot, kept)
    log = home / "state" / "anonconsole" / "log" / "anonconsole.log"
    bench_cold_start.compile_bytecode()
    return [_one_start(env, log) for _ in range(runs)]


def _one_start(env: dict[str, str], log: Path) -> float:
    seen = log.stat().st_size if log.exists() else 0
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "anonconsole", "gui"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not log.exists() and child.poll() is None:
            time.sleep(0.005)
        with log.open("rb") as text:
            text.seek(seen)
            tail = b""
            while time.perf_counter() - started < 120 and child.poll() is None:
                tail = tail[-len(SHOWN_LINE) :] + text.read()  # only what was appended
                if SHOWN_LINE.encode() in tail:
                    return time.perf_counter() - started
                time.sleep(0.005)
        raise RuntimeError(f"the console never showed its snapshot: see {log}")
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)  # the window closes as on a desktop's request
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def settle(pid: int, busy: float = 0.05, most: float = 120.0) -> None:
    """Until process `pid` uses under `busy` of a CPU over a second (at most `most` s): a sandbox
    that has just opened a database of 1,000,000 users works on for a while, which a start measured
    meanwhile would include (Descope's servers are not on the user's machine)."""
    ticks = os.sysconf("SC_CLK_TCK")

    def cpu_seconds() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime

    deadline = time.monotonic() + most
    before = cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = cpu_seconds()
        if now - before < busy:
            return
        before = now


async def sandbox_total(connection: Connection) -> int:
    async with await Gateway.open(connection) as gateway:
        _users, total = await gateway.search_users(None, 0, 1)
        return total


def run(
    users: int | None = None,
    *,
    keep: Path | None = None,
    culprits: bool = False,
    starts_only: bool = False,
    sandbox_nice: int = 0,
) -> None:
    n = users or 1_000_000
    app = create_application("light")
    with tempfile.TemporaryDirectory() as tmp:
        folder = keep or Path(tmp)  # kept: the sandbox and the snapshot of an earlier run are reused
        folder.mkdir(parents=True, exist_ok=True)
        key_file = folder / "key"
        if not key_file.exists():
            key_file.write_text(secrets.token_urlsafe(32))
            key_file.chmod(0o600)
        key = key_file.read_text()
        paths.init(folder / "home")
        db = folder / "bench.db"
        quick = SandboxOptions(db=db, users=n, rate_limits="off")
        started = time.perf_counter()
        with SandboxProcess(quick, key) as sandbox:
            connection = Connection(quick.project_id, sandbox.start(timeout=900), key)
            print(f"  seeded {n:,} users in {time.perf_counter() - started:.0f} s")

            async def prepare() -> tuple[int, int, int]:
                if not snapshot_path(PROFILE).exists():
                    await first_start(connection, quick.project_id)
                if starts_only:
                    return 0, 0, 0
                client = DescopeClientAsync(
                    project_id=quick.project_id, management_key=key, base_url=connection.base_url
                )
                try:
                    return await change_one_percent(client, n)
                finally:
                    await client.aclose()

            with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
                renamed, deleted, created = runner.run(prepare())
        print(
            f"  then changed through the SDK: {renamed:,} renamed, {deleted:,} deleted, {created:,} created"
        )
        limited = SandboxOptions(db=db, rate_limits="descope")
        with SandboxProcess(limited, key) as sandbox:
            connection = Connection(limited.project_id, sandbox.start(timeout=300), key)
            if sandbox_nice and sandbox.pid is not None:
                lower_priority(sandbox.pid, sandbox_nice)

            if sandbox.pid is not None:
                settle(sandbox.pid)
            whole = process_starts(connection, snapshot_path(PROFILE), folder / "gui-home")

            async def measure() -> dict[str, float]:
                total = await sandbox_total(connection)
                await asyncio.sleep(61)  # a fresh rate-limit window, as at a start
                return await second_start(connection, limited.project_id, total, culprits=culprits)

            figures: dict[str, float] | None = None
            if not starts_only:
                with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
                    figures = runner.run(measure())
        QApplication.processEvents()
    print(f"  {'second start, ' + format(n, ',') + ' users':46} {'now':>10} {'before':>10}  goal")
    print(
        f"  {'process start to every user and count shown':46} {statistics.median(whole):>9.2f}s "
        f"{BASELINE['every_count_s']:>9.1f}s  <= {GOAL_SHOWN_S} s  "
        f"(new `anonconsole gui` processes: {', '.join(f'{t:.2f}' for t in whole)} s)"
    )
    if figures is None:
        return
    cold = bench_cold_start.median_start()
    print(f"  {'  of which: new process to window':46} {cold:>9.2f}s  (bench_cold_start, no connection)")
    print(f"  {'  in-process connect to every count shown':46} {figures['shown s']:>9.2f}s")
    print(f"  {'changes since the snapshot shown':46} {figures['caught up s']:>9.1f}s")
    print(f"  {'full pass ended (deletions found)':46} {figures['full pass s']:>9.1f}s")
    for name in ("shown", "caught up", "full pass", "snapshot written"):
        print(
            f"  {'longest stall until ' + name:46} {figures[name + ' stall ms']:>8.1f}ms "
            f"{BASELINE['stall_ms']:>8.0f}ms  <= {GOAL_STALL_MS:.0f} ms  "
            f"(most UI-thread CPU between two ticks {figures[name + ' cpu stall ms']:.1f} ms)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=None)
    parser.add_argument(
        "--keep", type=Path, default=None, help="a folder reused by later runs (sandbox, snapshot)"
    )
    parser.add_argument(
        "--culprits", action="store_true", help="name what ran on the UI thread in each stall"
    )
    parser.add_argument(
        "--starts-only", action="store_true", help="only the new processes' starts (no change, no full pass)"
    )
    parser.add_argument("--sandbox-nice", type=int, default=0, help="run the sandbox at this niceness (0-19)")
    args = parser.parse_args()
    run(
        args.users,
        keep=args.keep,
        culprits=args.culprits,
        starts_only=args.starts_only,
        sandbox_nice=args.sandbox_nice,
    )
