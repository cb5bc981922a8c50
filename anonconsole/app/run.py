"""The GUI's bootstrap: QApplication on a qasync loop, the built-in sandbox as a child process, clean exit.

Nothing here blocks the UI thread: keyring calls run in a worker thread, the sandbox starts as an
asyncio subprocess and is health-checked over HTTP, and the Descope SDK is the async client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import qasync
from PySide6.QtCore import QMessageLogContext, QtMsgType, qInstallMessageHandler
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication

import anonconsole
from anonconsole.app.connections import ConnectionManager, EarlyStart
from anonconsole.app.palette import apply_color_scheme
from anonconsole.launcher.bootstrap import SandboxBootstrap, demo_sandbox_options
from anonconsole.runtime import gc_policy, messages
from anonconsole.runtime.ui_collector import UiThreadCollector
from anonconsole.settings import logs, paths
from anonconsole.settings.profiles import SANDBOX, ProfileStore
from anonconsole.views.layout_store import stored_theme
from anonconsole.views.main_window import MainWindow

log = logging.getLogger(__name__)

DEMO_PROFILE = SANDBOX.name
ICON = "anonconsole.svg"
SCREENSHOT_SIZE = (1400, 860)
UI_SWITCH_INTERVAL = 0.0005  # seconds a thread may keep the GIL when another asks (Python's default: 0.005)
# How long --screenshot waits for the sandbox (a first start seeds the demo data) and the overview.
SCREENSHOT_TIMEOUT = 300.0


@dataclass(frozen=True)
class GuiOptions:
    """What `anonconsole gui` was asked for."""

    sandbox_db: Path | None = None
    screenshot: Path | None = None
    color_scheme: str | None = None  # "system" | "light" | "dark"; None: the View → Theme choice
    page: str | None = None  # the page shown first (a navigation key); None: the one shown last


# -- the application --------------------------------------------------------------------------------


THEME = "anonconsoleTheme"  # the app's property holding the theme in use


def use_theme(app: QApplication, theme: str) -> None:
    """Apply `theme` ("system", "light", "dark") and remember it on the app."""
    app.setProperty(THEME, theme)
    apply_color_scheme(app, theme)


def create_application(color_scheme: str = "system") -> QApplication:
    """The QApplication (or the existing one, in tests) with names, icon, Fusion and palette."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("AnonConsole")
    app.setApplicationDisplayName("AnonConsole")
    app.setOrganizationName("AnonConsole")
    app.setApplicationVersion(anonconsole.__version__)
    QGuiApplication.setDesktopFileName("anonconsole")
    icon = resources.files("anonconsole.resources") / ICON
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    app.setStyle("Fusion")
    use_theme(app, color_scheme)
    # The OS switching light/dark matters while the theme follows the system (read at each change).
    app.styleHints().colorSchemeChanged.connect(lambda _scheme: use_theme(app, app.property(THEME)))
    # The loop must outlive the window: closing it stops the sandbox before the app exits.
    app.setQuitOnLastWindowClosed(False)
    if app.findChild(UiThreadCollector) is None:
        UiThreadCollector(app).start()
    # A worker thread running Python (a snapshot written, a journal read) keeps the GIL up to the
    # switch interval each time the UI thread asks for it back, and the UI thread asks after every
    # numpy call that released it: at the default 5 ms, a 20-call step of the Lifecycle page took
    # 128 ms beside a busy worker instead of 23 (0.5 ms: 26). Measured at 1,000,000 users: stalls
    # of 150-200 ms while the snapshot was written, the UI thread on a CPU 5 ms of them.
    sys.setswitchinterval(UI_SWITCH_INTERVAL)
    return app


def setup_logging() -> Path:
    """The console's log file (`settings.logs`: the SDK's warnings to the file only, our own also to
    stderr), and Qt's messages into it."""
    path = logs.setup_logging()
    qInstallMessageHandler(_qt_message)
    return path


# Qt messages that say nothing to a user (the offscreen platform used for screenshots).
_QUIET_QT_MESSAGES = ("This plugin does not support propagateSizeHints()",)
_QT_LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}


def _qt_message(mode: QtMsgType, _context: QMessageLogContext, message: str) -> None:
    """Qt's own warnings go to our (scrubbed) log like everything else."""
    level = logging.DEBUG if message in _QUIET_QT_MESSAGES else _QT_LEVELS.get(mode, logging.WARNING)
    logging.getLogger("qt").log(level, "%s", message)


def _on_signals(callback: Callable[[], None]) -> None:
    """Ctrl+C / SIGTERM close the window cleanly (stopping the sandbox) instead of killing us."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, callback)


async def _wait_loaded(window: MainWindow) -> bool:
    """True once the overview is loaded, False if the connection failed."""
    done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def finish(result: bool) -> None:
        if not done.done():
            done.set_result(result)

    window.overview_loaded.connect(lambda: finish(True))
    window.overview_failed.connect(lambda _text: finish(False))

    def on_connection(gateway: object) -> None:
        if gateway is None:
            finish(False)

    window.connection_changed.connect(on_connection)
    return await done


async def _wait_users(window: MainWindow) -> None:
    """Until the users of the connection are loaded (or their load ended otherwise)."""
    users = window.users
    ended = asyncio.Event()

    def on_loading(loading: bool) -> None:
        if not loading and users.table_loaded:
            ended.set()

    users.loading_changed.connect(on_loading)
    try:
        if not (users.table_loaded and not users.loading):
            await ended.wait()
    finally:
        users.loading_changed.disconnect(on_loading)


async def _wait_lifecycle(window: MainWindow) -> None:
    """Until the Lifecycle page has drawn its pictures (it computes them after the load)."""
    while window.lifecycle.picture is None:
        await asyncio.sleep(0.05)


async def ascreenshot(window: MainWindow, path: Path) -> int:
    """Wait until connected and loaded, render the window to `path` (PNG); 0 when it showed data."""
    try:
        loaded = await asyncio.wait_for(_wait_loaded(window), SCREENSHOT_TIMEOUT)
        if loaded:
            await asyncio.wait_for(_wait_users(window), SCREENSHOT_TIMEOUT)
            if window.lifecycle.isVisible():  # the Lifecycle page is shown: wait for its pictures
                await asyncio.wait_for(_wait_lifecycle(window), SCREENSHOT_TIMEOUT)
    except TimeoutError:
        loaded = False
    await asyncio.sleep(0.2)  # let the status bar and layouts settle after the last update
    if not window.grab().save(str(path), "PNG"):
        messages.error(f"Could not write the screenshot to {path}.")
        return 1
    return 0 if loaded else 1


def sandbox_bootstrap(options: GuiOptions) -> SandboxBootstrap:
    """The built-in sandbox for this run (started or reused on connecting)."""
    db = options.sandbox_db
    return SandboxBootstrap(demo_sandbox_options(db), paths.sandbox_state_file(db))


async def amain(
    app: QApplication,
    window: MainWindow,
    options: GuiOptions,
    bootstrap: SandboxBootstrap | None = None,
    *,
    store: ProfileStore | None = None,
    early: EarlyStart | None = None,
) -> int:
    """Show the window at once, connect in the background, and clean up when it closes.

    `store`: the profiles, if already read; `early`: what `run_gui` began for the start-up profile
    before its event loop runs."""
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(messages.asyncio_exception_handler)
    quit_event = asyncio.Event()
    app.aboutToQuit.connect(quit_event.set)
    window.closed.connect(quit_event.set)
    _on_signals(window.close_quietly)
    window.show_page(options.page or window.last_page())
    window.theme_changed.connect(lambda theme: use_theme(app, theme))
    window.show()

    bootstrap = bootstrap or sandbox_bootstrap(options)
    if store is None:
        store = await asyncio.to_thread(ProfileStore.load)
    manager = ConnectionManager(window, store, bootstrap, early=early)
    manager.start_in_background()
    result = 0
    try:
        if options.screenshot is None:
            await quit_event.wait()
        else:
            result = await ascreenshot(window, options.screenshot)
    finally:
        await manager.aclose()
        await window.shutdown()  # its network work ends before its connection goes
        if window.gateway is not None:
            await window.gateway.aclose()
        await bootstrap.astop()
        app.aboutToQuit.disconnect(quit_event.set)
    return result


def run_gui(options: GuiOptions | None = None) -> int:
    """`anonconsole gui`: run the console until its window closes; the process exit code."""
    options = options or GuiOptions()
    log_path = setup_logging()
    log.info("AnonConsole %s starting; log at %s", anonconsole.__version__, log_path)
    app = create_application(options.color_scheme or stored_theme())
    bootstrap = sandbox_bootstrap(options)
    store = ProfileStore.load()
    window = MainWindow(DEMO_PROFILE)
    if options.screenshot is not None:
        window.resize(*SCREENSHOT_SIZE)
    previous_hook = sys.excepthook
    sys.excepthook = messages.excepthook
    gc_policy.freeze_start_up_objects()  # before the window shows: later collections stay short
    # The start-up profile's snapshot and key are read from now on, while the window shows and
    # connects (after the collection just above, which would walk every row read so far).
    early = EarlyStart(store, bootstrap)
    try:
        with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
            return runner.run(amain(app, window, options, bootstrap, store=store, early=early))
    except RuntimeError as exc:  # Qt stopped the loop under us (the display went away)
        log.error("AnonConsole stopped: %s", exc)
        return 1
    finally:
        sys.excepthook = previous_hook
        # After an abrupt end amain could not stop the sandbox child it started: do it here.
        if bootstrap.process is not None and bootstrap.started_here:
            bootstrap.process.stop()
