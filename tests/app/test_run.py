"""The app's own path (`amain`) on its qasync loop: the demo sandbox started without freezing the UI."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from anonconsole.app import run as console_app
from anonconsole.launcher.process import ahealth
from anonconsole.settings import paths
from anonconsole.views.main_window import MainWindow

DEMO = console_app.DEMO_PROFILE


@pytest.fixture
def window(qtbot: QtBot, console_qapp: QApplication) -> MainWindow:
    main = MainWindow(DEMO)
    qtbot.addWidget(main)
    main.show()
    return main


def test_first_run_starts_the_demo_sandbox_without_freezing_and_stops_it_on_exit(
    window: MainWindow, arun: Callable[..., Any], tmp_path: Path
) -> None:
    """The app's own path (amain, as `anonconsole gui --screenshot` runs it): a fresh data dir,
    no keyring, demo data seeded by the child (seconds of work) while the UI timer keeps ticking."""
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    window.overview_loaded.connect(timer.stop)  # measure the start, not the screenshot's rendering
    shot = tmp_path / "main.png"
    seen: dict[str, str] = {}
    window.connection_changed.connect(
        lambda gateway: gateway is not None and seen.setdefault("url", gateway.connection.base_url)
    )

    async def scenario() -> int:
        timer.start()
        try:
            return await console_app.amain(
                QApplication.instance(), window, console_app.GuiOptions(screenshot=shot)
            )
        finally:
            timer.stop()

    assert arun(scenario(), timeout=240) == 0

    # Seeding the demo data takes the child seconds; a blocking start would leave a gap that long.
    # The bounds leave room for a loaded 2-core CI machine (nominal: a tick every 10 ms).
    elapsed = ticks[-1] - ticks[0]
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert elapsed > 2.0, "the demo sandbox started too fast for this test to show anything"
    assert len(ticks) > elapsed / 0.05, f"the UI timer fired only {len(ticks)} times in {elapsed:.1f} s"
    assert max(gaps) < 1.0, f"the UI froze for {max(gaps):.2f} s while the sandbox started"

    image = QImage(str(shot))
    assert not image.isNull()
    assert image.width() >= 800
    assert "users" in window.connection_label.text()
    assert int(window.overview.total_users.text().replace(",", "")) > 0  # demo data
    assert "memory for this run" in window.notice_text.text()  # no keyring in GUI tests
    assert not paths.sandbox_state_file().exists()  # our child was stopped on exit
    assert arun(ahealth(seen["url"])) is None
    assert os.environ["QT_QPA_PLATFORM"] == "offscreen"


@pytest.fixture
def root_handlers() -> Iterator[None]:
    """Handlers a test adds to the root logger are removed (and closed) after it."""
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in before]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)
    logging.captureWarnings(False)


def test_the_sdks_warnings_go_to_the_log_file_not_the_terminal(
    app_dirs: Path, root_handlers: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Descope SDK logs "License handshake failed: …" at WARNING through `logging`: for the log
    file, not the terminal the console was started from; the console's own warnings still reach both."""
    path = console_app.setup_logging()
    logging.getLogger("descope.descope_client_async").warning("License handshake failed: %s", "refused")
    logging.getLogger("py.warnings").warning("descope/_client_base.py:49: UserWarning: TLS verification off")
    logging.getLogger("anonconsole.app").warning("The sandbox could not be stopped")
    err = capsys.readouterr().err
    assert "License handshake" not in err
    assert "UserWarning" not in err
    assert "The sandbox could not be stopped" in err
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = path.read_text(encoding="utf-8")
    assert "License handshake failed: refused" in text
    assert "UserWarning: TLS verification off" in text
    assert "The sandbox could not be stopped" in text


def test_the_console_lets_the_ui_thread_have_the_gil_back_quickly(qapp: Any) -> None:
    """A worker thread keeps the GIL up to the switch interval whenever the UI thread asks for it
    back (after every numpy call that let it go): the console shortens it (issue "A million users")."""
    console_app.create_application("light")
    assert sys.getswitchinterval() == pytest.approx(console_app.UI_SWITCH_INTERVAL)
    assert console_app.UI_SWITCH_INTERVAL <= 0.001
