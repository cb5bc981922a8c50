"""Writing local files so that a crash leaves the old file or the new one, never half of either."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO


class AtomicFile:
    """A file written under a temporary name beside `path`, and renamed over it only when complete.

    `commit` flushes, fsyncs and renames; `discard` (or leaving the `with` block by an exception,
    cancellation included) removes the temporary file, so `path` is either untouched or whole.
    Blocking: callers on the UI thread run each call in a worker thread.

    Attributes:
        path: where the file goes.
        temporary: the sibling being written (hidden: its name starts with a dot).
    """

    def __init__(self, path: Path, *, make_parents: bool = True) -> None:
        if make_parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        self.path = path
        self.temporary = Path(temporary)
        try:
            self._handle: IO[str] | None = os.fdopen(fd, "w", encoding="utf-8", newline="")
        except BaseException:
            os.close(fd)
            self.temporary.unlink(missing_ok=True)
            raise

    def write(self, text: str) -> None:
        if self._handle is None:
            raise ValueError(f"{self.path} was already committed or discarded.")
        self._handle.write(text)

    def commit(self) -> None:
        """Make the written text `path`'s content, at once (the temporary file is removed on failure)."""
        handle = self._handle
        if handle is None:
            raise ValueError(f"{self.path} was already committed or discarded.")
        try:
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            self._handle = None
            os.replace(self.temporary, self.path)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Forget what was written: the temporary file is removed, `path` left as it was."""
        handle, self._handle = self._handle, None
        if handle is not None:
            with contextlib.suppress(OSError):
                handle.close()
        with contextlib.suppress(OSError):
            self.temporary.unlink(missing_ok=True)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` at once: a sibling is written and fsync'ed, then renamed over."""
    with AtomicFile(path) as file:
        file.write(text)
