"""The one bridge from any layer to the user: expected errors and info to the status bar,
unexpected exceptions to an error dialog, every text scrubbed of registered secrets.

No Qt here, so core, gateway and CLI code can report too; the GUI subscribes a listener that
hops onto the UI thread (a Qt signal) before touching widgets.
"""

from __future__ import annotations

import enum
import logging
import platform
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

import anonconsole
from anonconsole.core.scrub import REDACTED as REDACTED
from anonconsole.core.scrub import scrub as scrub_secrets

log = logging.getLogger(__name__)

# Secrets shorter than this are not scrubbed: replacing "a" everywhere would garble the text.
_MIN_SECRET_LENGTH = 6


class Level(enum.Enum):
    """How a message is shown: info and warnings in the status bar, errors highlighted there."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Message:
    """An expected event worth a line in the status bar."""

    level: Level
    text: str


@dataclass(frozen=True)
class Unexpected:
    """An unexpected exception, ready for a dialog: a one-line summary and copyable details."""

    summary: str
    details: str


MessageListener = Callable[[Message], None]
UnexpectedListener = Callable[[Unexpected], None]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]

_lock = threading.Lock()
_secrets: set[str] = set()
_message_listeners: list[MessageListener] = []
_unexpected_listeners: list[UnexpectedListener] = []


def register_secret(value: str) -> None:
    """Scrub `value` (a management key, a password) from everything this bridge shows or logs."""
    if len(value) >= _MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(value)


def forget_secret(value: str) -> None:
    """Stop scrubbing `value` (its profile was deleted)."""
    with _lock:
        _secrets.discard(value)


def scrub(text: str) -> str:
    """`text` without any registered secret (the one rule: `anonconsole.core.scrub`)."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    return scrub_secrets(text, secrets)


def subscribe(listener: MessageListener) -> Callable[[], None]:
    """Receive every status message; returns the function that unsubscribes."""
    return _add(_message_listeners, listener)


def subscribe_unexpected(listener: UnexpectedListener) -> Callable[[], None]:
    """Receive every unexpected exception; returns the function that unsubscribes."""
    return _add(_unexpected_listeners, listener)


def _add(listeners: list, listener: Callable) -> Callable[[], None]:  # type: ignore[type-arg]
    """Append under the lock and hand back the matching removal."""
    with _lock:
        listeners.append(listener)

    def remove() -> None:
        with _lock:
            if listener in listeners:
                listeners.remove(listener)

    return remove


def info(text: str) -> None:
    """Report something the user may want to know (shown for a while in the status bar)."""
    _publish(Message(Level.INFO, text))


def warning(text: str) -> None:
    """Report something degraded but working (e.g. a key kept only for this run)."""
    _publish(Message(Level.WARNING, text))


def error(text: str) -> None:
    """Report an expected failure, in words that say what to do (a GatewayError's user_message)."""
    _publish(Message(Level.ERROR, text))


def _publish(message: Message) -> None:
    """Scrub, log and hand the message to every listener."""
    message = Message(message.level, scrub(message.text))
    log.log(logging.ERROR if message.level is Level.ERROR else logging.INFO, "%s", message.text)
    with _lock:
        listeners = list(_message_listeners)
    for listener in listeners:
        listener(message)


def describe(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> Unexpected:
    """Summary and details (versions + traceback) of an exception, scrubbed."""
    lines = traceback.format_exception(exc_type, exc, tb)
    versions = (
        f"AnonConsole {anonconsole.__version__}, Python {platform.python_version()}, {platform.platform()}"
    )
    summary = traceback.format_exception_only(exc_type, exc)[-1].strip()
    return Unexpected(summary=scrub(summary), details=scrub(versions + "\n\n" + "".join(lines)))


def unexpected(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """Report an exception nobody expected: to the dialog listeners, or stderr when there are none."""
    report = describe(exc_type, exc, tb)
    log.error("Unexpected error: %s\n%s", report.summary, report.details)
    with _lock:
        listeners = list(_unexpected_listeners)
    if not listeners:
        sys.stderr.write(report.details)
    for listener in listeners:
        listener(report)


def excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """sys.excepthook: Ctrl+C stays Ctrl+C, everything else goes to `unexpected`."""
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    unexpected(exc_type, exc, tb)


def asyncio_exception_handler(loop: object, context: dict) -> None:  # type: ignore[type-arg]
    """Loop exception handler: a task's unretrieved exception is unexpected too."""
    exc = context.get("exception")
    if isinstance(exc, BaseException):
        unexpected(type(exc), exc, exc.__traceback__)
    else:
        log.error("%s", scrub(str(context.get("message", context))))


class ScrubFormatter(logging.Formatter):
    """Log formatter whose output (message, arguments and traceback) never holds a registered secret."""

    def format(self, record: logging.LogRecord) -> str:
        """Format as usual, then scrub the finished text."""
        return scrub(super().format(record))
