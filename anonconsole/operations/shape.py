"""The one shape of every operation, for the GUI and the CLI alike (after vorta's `borg/` jobs).

1. **plan**: reads what it needs and checks everything, changing nothing; returns the plan, or a
   `Refusal` whose problems are plain sentences saying what to do.
2. **run**: carries the plan out, reports `Progress`, stops when its task is cancelled, writes the
   audit log before and after each change, and returns a `Report`; it never raises for an expected
   failure (the report says what was done and what not).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

# done, total, what is being done now (a short sentence for a status bar or a progress dialog)
Progress = Callable[[int, int, str], None]


def no_progress(_done: int, _total: int, _text: str) -> None:
    """The progress listener of a caller that shows none."""


@dataclass(frozen=True)
class Refusal:
    """Why an operation will not run, in sentences that name what to do."""

    problems: tuple[str, ...]

    def summary(self) -> str:
        return " ".join(self.problems)


class Report(Protocol):
    """What a run did: whether all of it went well, and a summary for a person."""

    @property
    def ok(self) -> bool: ...

    def summary(self) -> str: ...
