"""The console's log file, for the GUI and the headless commands alike.

Everything goes to one rotating file in the log dir, scrubbed of registered secrets. Only the
console's own warnings also reach the terminal: the Descope SDK's ("License handshake failed: …",
logged at WARNING through `logging` by `descope.descope_client_async`) and Python warnings (the SDK
warns through `warnings` too, e.g. about skipped TLS verification) are for whoever reads the log;
on the terminal they read like the console's own failure, next to its plain-words report.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from anonconsole.runtime import messages
from anonconsole.settings import paths

FILE_NAME = "anonconsole.log"
MAX_BYTES = 2_000_000
BACKUPS = 3
# Loggers whose records stay out of the terminal: the SDK's, and Python warnings (captured).
LOG_FILE_ONLY = ("descope", "py.warnings")
_MARK = "_anonconsole_handler"  # set on our handlers, so a second setup replaces them


class _NotFrom(logging.Filter):
    """Passes records of every logger except `names` and their children."""

    def __init__(self, names: tuple[str, ...]) -> None:
        super().__init__()
        self._names = names

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(record.name == n or record.name.startswith(f"{n}.") for n in self._names)


def setup_logging() -> Path:
    """Log to the file (INFO and up), and the console's own warnings to stderr too.

    Idempotent: called again (the tests run several commands in one process), it replaces the
    handlers it added before. Returns the log file's path.
    """
    path = paths.log_dir() / FILE_NAME
    remove_handlers()
    root = logging.getLogger()
    to_file = logging.handlers.RotatingFileHandler(
        path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
    )
    to_file.setFormatter(messages.ScrubFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    to_stderr = logging.StreamHandler()
    to_stderr.setLevel(logging.WARNING)
    to_stderr.addFilter(_NotFrom(LOG_FILE_ONLY))
    to_stderr.setFormatter(messages.ScrubFormatter("anonconsole: %(levelname)s: %(message)s"))
    for handler in (to_file, to_stderr):
        setattr(handler, _MARK, True)
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    # qasync's executor logs submitted callables and their results at DEBUG: never let that through.
    logging.getLogger("qasync").setLevel(logging.INFO)
    logging.captureWarnings(True)  # `warnings.warn` becomes a "py.warnings" record: to the file
    return path


def remove_handlers() -> None:
    """Undo `setup_logging` (a headless command that ends, and tests running several in one process)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(handler)
        handler.close()
    logging.captureWarnings(False)
