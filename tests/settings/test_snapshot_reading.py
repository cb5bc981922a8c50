"""A users snapshot read in a thread of its own: the UI thread's collector waits while it builds its
rows, their objects are exempted once read, and a reading dropped or failed resumes collections."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from anonconsole.core.classify import AnonymousPolicy
from anonconsole.core.records import User
from anonconsole.core.user_table import UserTable
from anonconsole.runtime import gc_policy
from anonconsole.settings.snapshot_reading import SnapshotReading
from anonconsole.settings.user_snapshot import SnapshotError, write_snapshot

PROJECT = "P2ReadingTests00000000000000"


@pytest.fixture
def collector() -> Iterator[None]:
    """Collection as the console runs it: automatic collection off, `collect_due` on the UI thread."""
    enabled, saved = gc.isenabled(), gc.get_threshold()
    gc.disable()
    gc.set_threshold(10, 10, 10)
    try:
        yield
    finally:
        gc.set_threshold(*saved)
        gc.unfreeze()
        if enabled:
            gc.enable()


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    table = UserTable(AnonymousPolicy("", None), now=lambda: 1_800_000_000)
    table.append([User(f"U{i}", (f"login{i}", f"alias{i}"), name=f"Name {i}") for i in range(500)])
    path = tmp_path / "users.npz"
    assert write_snapshot(table, path, profile="Staging", project_id=PROJECT, taken_at=1_800_000_000.5)
    return path


def test_no_collection_while_reading_and_the_rows_exempted_once_read(collector: None, snapshot: Path) -> None:
    async def scenario() -> None:
        reading = SnapshotReading(snapshot, PROJECT)
        keep = [[] for _ in range(50)]  # the UI thread allocates meanwhile, past the young threshold
        assert gc_policy.collect_due() == -1
        frozen_before = gc.get_freeze_count()
        columns, taken_at = await reading.result()
        assert taken_at == 1_800_000_000.5
        assert columns.size == 500
        assert columns.fields["login_ids"][499] == ("login499", "alias499")
        assert gc.get_freeze_count() > frozen_before
        assert gc_policy.collect_due() in (-1, 0)  # collections resumed (nothing due is fine too)
        keep += [[] for _ in range(50)]
        assert gc_policy.collect_due() == 0
        assert keep

    asyncio.run(scenario())


def test_a_dropped_reading_resumes_collections(collector: None, snapshot: Path) -> None:
    reading = SnapshotReading(snapshot, PROJECT)
    keep = [[] for _ in range(50)]
    assert gc_policy.collect_due() == -1
    reading.drop()
    reading.drop()  # twice is harmless
    assert gc_policy.collect_due() == 0
    assert keep


@pytest.mark.parametrize(
    ("name", "project", "said"),
    [
        ("none.npz", PROJECT, "There is no users snapshot"),
        ("users.npz", "P2AnotherProject000000000000", "not P2AnotherProject000000000000"),
    ],
)
def test_a_reading_that_fails_says_why_and_resumes_collections(
    collector: None, snapshot: Path, name: str, project: str, said: str
) -> None:
    async def scenario() -> str:
        reading = SnapshotReading(snapshot.with_name(name), project)
        with pytest.raises(SnapshotError) as failed:
            await reading.result()
        return failed.value.sentence

    assert said in asyncio.run(scenario())
    keep = [[] for _ in range(50)]
    assert gc_policy.collect_due() == 0
    assert keep


def test_a_reading_knows_what_it_reads(snapshot: Path) -> None:
    reading = SnapshotReading(snapshot, PROJECT)
    try:
        assert reading.is_of(snapshot, PROJECT)
        assert not reading.is_of(snapshot, "P2AnotherProject000000000000")
        assert not reading.is_of(snapshot.with_name("other.npz"), PROJECT)
    finally:
        reading.drop()
