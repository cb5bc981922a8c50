"""The app's own path (`amain`) on its qasync loop: the demo sandbox started without freezing the UI."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
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
