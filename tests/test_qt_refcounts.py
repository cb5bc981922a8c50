"""Guard against a PySide6 that returns None/True/False without a reference (6.12.0 on Python 3.11):
the console calls such methods hundreds of times a second through qasync, and would abort after a
while with "deallocating None"."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QCoreApplication, QTimer


def test_void_and_bool_returns_keep_their_references() -> None:
    app = QCoreApplication.instance() or QCoreApplication([])
    timer = QTimer()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(2000):
        timer.setInterval(5)
        timer.isActive()
    # Other code may hold a few more or fewer meanwhile; a leak of 2,000 shows as a large drop.
    assert sys.getrefcount(None) > none_before - 500
    assert sys.getrefcount(True) > true_before - 500
    del app
