"""The console collects garbage on the UI thread only, from a timer (never in a worker thread)."""

from __future__ import annotations

import gc
import threading

from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from anonconsole.runtime.ui_collector import UiThreadCollector


def make_cycles() -> None:
    for _ in range(5_000):
        cycle: list[object] = []
        cycle.append(cycle)


def test_the_app_turns_automatic_collection_off_and_collects_on_the_ui_thread(
    console_qapp: QApplication, qtbot: QtBot
) -> None:
    collectors = console_qapp.findChildren(UiThreadCollector)
    assert len(collectors) == 1
    assert collectors[0].active
    assert not gc.isenabled()
    threads: list[str] = []

    def note(phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            threads.append(threading.current_thread().name)

    gc.callbacks.append(note)
    try:
        worker = threading.Thread(target=make_cycles, name="worker")  # garbage only a collection frees
        worker.start()
        worker.join()
        qtbot.waitUntil(lambda: bool(threads), timeout=2000)
    finally:
        gc.callbacks.remove(note)
    assert set(threads) == {threading.main_thread().name}
