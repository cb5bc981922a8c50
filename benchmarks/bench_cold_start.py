"""Cold start of the console: from a new Python process to its window on screen, and what it imported.

Each run is a fresh interpreter (offscreen Qt) that imports the GUI's entry module, builds the
application and the main window, shows it and stops at the first turn of the event loop after the
show: the same path `anonconsole gui` takes before it connects. Printed: the median and best wall
time over the runs, the import time of the entry module (`-X importtime`, cumulative), and whether
the sandbox's server stack (uvicorn, starlette) was imported on the way — it must not be.
"""

from __future__ import annotations

import compileall
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import anonconsole

RUNS = 7
# Measured on this machine at 4485ab8, before "The house" (entry module anonconsole.app).
BASELINE = {"median_s": 0.90, "best_s": 0.84, "entry_import_ms": 669.0, "server_stack": True}

_PROBE = r"""
import sys
from anonconsole.app.run import create_application
from anonconsole.views.main_window import MainWindow
from PySide6.QtCore import QTimer
app = create_application("light")
window = MainWindow("Sandbox (demo)")
window.show()
QTimer.singleShot(0, app.quit)
app.exec()
print("server-stack", int("uvicorn" in sys.modules or "starlette" in sys.modules))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env.pop("DESCOPE_MANAGEMENT_KEY", None)
    return env


def _one_run() -> tuple[float, bool]:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], env=_env(), capture_output=True, text=True, check=True
    ).stdout
    elapsed = time.perf_counter() - started
    return elapsed, "server-stack 1" in out


def entry_import_ms() -> float:
    """Cumulative import time of the GUI entry module, from `python -X importtime`."""
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import anonconsole.app.run"],
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    for line in err.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s+anonconsole\.app\.run$", line)
        if match:
            return int(match.group(1)) / 1000
    raise RuntimeError("anonconsole.app.run not found in the -X importtime output")


def compile_bytecode() -> None:
    """The console's bytecode, as an installed package has it (`./dev` compiles it too): where
    PYTHONDONTWRITEBYTECODE is set, an editable install never writes it, and every start measured
    would include compiling each module again (~0.2-0.3 s)."""
    compileall.compile_dir(Path(anonconsole.__file__).parent, quiet=1)


def starts(runs: int = RUNS) -> list[tuple[float, bool]]:
    """`runs` starts after one that warms the file system cache ("cold" means a new process, not a
    cold disk): each one's time and whether it imported the server stack."""
    compile_bytecode()
    _one_run()
    return [_one_run() for _ in range(runs)]


def median_start(runs: int = RUNS) -> float:
    """The median time from a new process to its window (what comes before connecting)."""
    return statistics.median(elapsed for elapsed, _stack in starts(runs))


def run(users: int | None = None) -> None:
    del users  # no data set here
    times, stacks = zip(*starts(), strict=True)
    median, best = statistics.median(times), min(times)
    imported_ms = entry_import_ms()
    server_stack = any(stacks)
    print(f"  {'':34} {'now':>10} {'baseline':>10}")
    print(f"  {'start to window, median of ' + str(RUNS):34} {median:>9.2f}s {BASELINE['median_s']:>9.2f}s")
    print(f"  {'start to window, best':34} {best:>9.2f}s {BASELINE['best_s']:>9.2f}s")
    print(
        f"  {'import of the GUI entry module':34} {imported_ms:>8.0f}ms {BASELINE['entry_import_ms']:>8.0f}ms"
    )
    print(
        f"  {'uvicorn/starlette imported':34} {('yes' if server_stack else 'no'):>10} "
        f"{('yes' if BASELINE['server_stack'] else 'no'):>10}"
    )
