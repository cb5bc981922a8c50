"""When and where the cyclic garbage collector runs: only on the UI thread, and never for long.

- **On the UI thread only** (`runtime.ui_collector.UiThreadCollector`; this module has no Qt, so
  the headless commands can use the rest). Left automatic, the collector runs in whichever
  thread happens to allocate; if that is a worker thread (keyring, file writes), the Qt objects it
  frees are destroyed there, their timers stay registered, and the next timer event crashes the
  app (seen in the test suite: a segfault in `QTimerInfoList::activateTimers` after "Timers cannot be
  stopped from another thread"). So automatic collection is off and a timer on the UI thread
  collects as Python would have (same thresholds, same generations): the well-known remedy for
  PyQt/PySide apps (pyqtgraph's `GarbageCollector`).
- **Short full collections** (`freeze_start_up_objects`). A full collection visits every tracked
  object: with the modules, Qt wrappers and SDK loaded that is 50-90 ms with the window frozen. What
  start-up built lives as long as the app, so it is moved out of the collector's sight once; the
  users table keeps its per-user values in numpy arrays, which the collector does not track.
- **No full collection during a load** (`no_full_collections`). Each page is ~10,000 JSON containers
  that live a few milliseconds; young collections still run (small and quick), full ones wait for
  the load to end instead of walking the heap every few pages.
- **None while a snapshot is read back** (`collections_paused`): a worker thread builds a million
  lasting containers, which are then exempted (`exempt_objects_alive_now`) instead of walked.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

NO_FULL_COLLECTION = 10**9  # a third-generation threshold no load reaches

_loads_running = 0
_saved_threshold: tuple[int, ...] = ()
_pauses = 0


def freeze_start_up_objects() -> None:
    """Collect once, then exempt everything alive now from later collections (call after start-up)."""
    gc.collect()
    gc.freeze()


def exempt_objects_alive_now() -> None:
    """Exempt every object alive now from later collections, without collecting (O(1)).

    For a users snapshot just read back in a worker thread: a million tuples (login IDs, names,
    tenants) that the next young collection on the UI thread would walk (~50 ms at 1,000,000
    users) only to find them alive; they live as long as the table and hold no cycles.
    """
    gc.freeze()


@contextmanager
def collections_paused() -> Iterator[None]:
    """No collection at all on the UI thread while the block runs (counted, like loads).

    For a worker thread building a million containers that will live on (a users snapshot read
    back): a young collection on the UI thread in the middle would walk all it built so far only to
    find it alive (30-45 ms at 1,000,000 users). Exempt what it built before the block ends.
    """
    global _pauses
    _pauses += 1
    try:
        yield
    finally:
        _pauses -= 1


@contextmanager
def no_full_collections() -> Iterator[None]:
    """No full collection while the block runs; counted, so overlapping loads restore it once."""
    global _loads_running, _saved_threshold
    if _loads_running == 0:
        _saved_threshold = gc.get_threshold()
        young, middle = _saved_threshold[:2]
        gc.set_threshold(young, middle, NO_FULL_COLLECTION)
    _loads_running += 1
    try:
        yield
    finally:
        _loads_running -= 1
        if _loads_running == 0:
            gc.set_threshold(*_saved_threshold)


def collect_due() -> int:
    """Collect the generations Python's own rule would collect now (-1: none is due).

    The rule: the youngest generation once more objects were allocated than its threshold; an
    older one as well once the younger was collected more often than the older's threshold.
    Nothing while `collections_paused`.
    """
    if _pauses:
        return -1
    counts = gc.get_count()
    thresholds = gc.get_threshold()
    if counts[0] <= thresholds[0]:
        return -1
    generation = 0
    while generation + 1 < len(counts) and counts[generation + 1] > thresholds[generation + 1]:
        generation += 1
    gc.collect(generation)
    return generation
