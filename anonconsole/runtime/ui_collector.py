"""The cyclic garbage collector run from a timer on the UI thread (see `runtime.gc_policy` for why)."""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

from anonconsole.runtime.gc_policy import collect_due

CHECK_INTERVAL_MS = 20  # young collections stay small (measured: 50 ms let them reach 10-25 ms)


class UiThreadCollector(QObject):
    """Turns automatic collection off and collects from a timer on the thread it lives in (the UI's)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("uiThreadCollector")
        self._timer = QTimer(self)
        self._timer.setInterval(CHECK_INTERVAL_MS)
        self._timer.timeout.connect(collect_due)

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def start(self) -> None:
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        gc.enable()
