"""The garbage collector runs where and when the console says: UI thread only, short collections."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator

import pytest

from anonconsole.core.classify import AnonymousPolicy
from anonconsole.core.records import User
from anonconsole.core.user_table import UserTable
from anonconsole.runtime import gc_policy


@pytest.fixture
def thresholds() -> Iterator[tuple[int, ...]]:
    saved = gc.get_threshold()
    yield saved
    gc.set_threshold(*saved)


def test_collect_due_follows_pythons_rule(thresholds: tuple[int, ...]) -> None:
    enabled = gc.isenabled()
    gc.disable()  # as the UI-thread collector runs it
    try:
        gc.collect()
        gc.set_threshold(10**6, 10, 10)
        assert gc_policy.collect_due() == -1  # far below the young threshold
        gc.set_threshold(10, 10, 10)
        keep = [[] for _ in range(50)]  # tracked objects: the young generation passes its threshold
        assert gc_policy.collect_due() == 0
        for _ in range(11):  # the young generation collected more often than the middle's threshold
            keep += [[] for _ in range(50)]
            gc_policy.collect_due()
        assert gc.get_count()[1] == 0  # the middle generation was collected too
    finally:
        if enabled:
            gc.enable()


def test_no_collection_while_paused_and_again_after_the_last_pause(thresholds: tuple[int, ...]) -> None:
    enabled = gc.isenabled()
    gc.disable()
    try:
        gc.collect()
        gc.set_threshold(10, 10, 10)
        with gc_policy.collections_paused():
            keep = [[] for _ in range(50)]  # past the young threshold
            with gc_policy.collections_paused():  # a second, overlapping pause
                pass
            assert gc_policy.collect_due() == -1
            assert gc.get_count()[0] > 10
        assert gc_policy.collect_due() == 0
        assert keep
    finally:
        if enabled:
            gc.enable()


def test_no_full_collection_during_loads_and_threshold_restored_after_the_last(
    thresholds: tuple[int, ...],
) -> None:
    with gc_policy.no_full_collections():
        assert gc.get_threshold() == (*thresholds[:2], gc_policy.NO_FULL_COLLECTION)
        with gc_policy.no_full_collections():  # a second, overlapping load
            pass
        assert gc.get_threshold()[2] == gc_policy.NO_FULL_COLLECTION
    assert gc.get_threshold() == thresholds


def test_the_users_table_gives_the_collector_nothing_per_user_to_visit() -> None:
    table = UserTable(AnonymousPolicy("", None), now=time.time)
    table.append([User(f"U{i}", (f"login{i}", f"alias{i}"), email=f"u{i}@example.com") for i in range(2000)])
    referenced = {id(o) for o in gc.get_referents(*gc.get_referents(table))}
    tracked_lists = [o for o in gc.get_referents(table._fields) if isinstance(o, list)]
    assert not tracked_lists
    assert not any(gc.is_tracked(getattr(table._fields, name).data) for name in ("user_id", "login_ids"))
    assert table.user(1999).login_ids == ("login1999", "alias1999")
    assert referenced
