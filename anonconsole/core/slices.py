"""Work over a million values a slice at a time, so that a worker thread lets the UI thread paint.

A C-level loop over 1,000,000 values (`np.fromiter(map(hash, ids))`, `list(zip(...))`, one
`str.join`) runs no Python bytecode, so the thread running it keeps the GIL throughout (~200 ms for
a map of `hash` or `id`), and the window, which needs the GIL to paint, freezes. A slice of
`SLICE` values takes a few milliseconds; between two slices the UI thread gets its turn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

SLICE = 50_000  # values per slice: ~2-10 ms of C work


def mapped(
    func: Callable[[Any], Any], values: Sequence[Any] | np.ndarray, dtype: npt.DTypeLike
) -> np.ndarray:
    """`np.fromiter(map(func, values), dtype)`, a slice at a time."""
    out = np.empty(len(values), dtype=dtype)
    for start in range(0, len(values), SLICE):
        part = values[start : start + SLICE]
        out[start : start + len(part)] = np.fromiter(map(func, part), dtype, len(part))
    return out
