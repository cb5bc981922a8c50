"""The second start (issue "A million users"): the users snapshot shown at once, then brought up to
date (created and changed users first, then a full pass for deletions), and written after each full
pass. Against a real sandbox; changes go through the unmodified SDK."""

from __future__ import annotations

import asyncio
import gc
import os
import stat
from collections.abc import Callable
from typing import Any

import pytest
from descope import UserObj
from waiting import emitted

from anonconsole.core.classify import Kind
from anonconsole.gateway import Connection, Gateway
from anonconsole.settings.user_snapshot import read_snapshot, snapshot_info, snapshot_path
from anonconsole.views.users_area import SnapshotPlace, UsersArea

RunningSandbox = Any  # tests/conftest.py's fixture type
PROFILE = "Staging"


def gateway_for(sandbox: RunningSandbox) -> Gateway:
    return Gateway(Connection(sandbox.project_id, sandbox.url, sandbox.management_key))


def new_area(qtbot: Any) -> UsersArea:
    area = UsersArea()
    area.set_active("all")
    for view in area.views.values():
        qtbot.addWidget(view)
    return area


async def start(area: UsersArea, sandbox: RunningSandbox) -> UsersArea:
    """A start of the profile on `sandbox`'s project, until the load has ended and the snapshot is
    written."""
    area.read_snapshot_early(SnapshotPlace(PROFILE, sandbox.project_id))
    async with gateway_for(sandbox) as gateway:
        await area.connect_to(gateway)
        await area.wait()
        await area.close()  # waits for the snapshot's writing
    return area


async def first_start(sandbox: RunningSandbox, qtbot: Any) -> UsersArea:
    """A start without a snapshot: every user loaded, then the snapshot written."""
    return await start(new_area(qtbot), sandbox)


@pytest.fixture
def seeded(start_sandbox: Callable[..., RunningSandbox]) -> RunningSandbox:
    return start_sandbox(users=1500)


def test_first_start_writes_a_private_snapshot_of_what_it_loaded(
    qtbot: Any, arun: Callable[..., Any], seeded: RunningSandbox
) -> None:
    area = arun(first_start(seeded, qtbot))
    path = snapshot_path(PROFILE)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    info = snapshot_info(path)
    assert (info.profile, info.project_id, info.users) == (PROFILE, seeded.project_id, len(area.table))
    assert info.taken_at == area.loader.full_pass_started
    assert seeded.management_key.encode() not in path.read_bytes()


def test_second_start_shows_the_snapshot_then_catches_up_then_finds_deletions(
    qtbot: Any, arun: Callable[..., Any], seeded: RunningSandbox
) -> None:
    first = arun(first_start(seeded, qtbot))
    counts_before = first.table.counts()
    sdk = seeded.client()
    victim, renamed = (u for u in first.table.user_ids(range(2)))
    sdk.mgmt.user.delete_batch([victim])
    renamed_login = first.table.user(first.table.rows_of([renamed])[0]).login_ids[0]
    sdk.mgmt.user.update_display_name(renamed_login, "Renamed Meanwhile")
    created = sdk.mgmt.user.invite_batch([UserObj("signed-up-meanwhile")], send_mail=False, send_sms=False)
    created_id = created["createdUsers"][0]["userId"]

    area = new_area(qtbot)
    freshness: list[str] = []
    area.freshness_changed.connect(lambda short, _whole: freshness.append(short))
    at_snapshot: dict[str, Any] = {}
    at_catch_up: dict[str, Any] = {}

    frozen_before = gc.get_freeze_count()

    def on_fresh(short: str, _whole: str) -> None:
        if short.startswith("Users as of") and not at_snapshot:
            at_snapshot.update(size=len(area.table), counts=area.table.counts(), loading=area.loading)
            # the restored users are kept out of the UI thread's young collections (~50 ms at 1M)
            at_snapshot["exempt"] = gc.get_freeze_count() - frozen_before >= len(area.table)

    def on_caught_up(_text: str) -> None:
        row = area.table.rows_of([renamed])[0]
        at_catch_up.update(
            created=len(area.table.rows_of([created_id])) == 1,
            renamed=area.table.user(row).name,
            victim_hidden=bool(area.table.gone_mask()[area.table.rows_of([victim])[0]]),
        )

    area.freshness_changed.connect(on_fresh)
    area.loader.caught_up.connect(on_caught_up)

    arun(start(area, seeded))
    assert at_snapshot == {
        "size": len(first.table),
        "counts": counts_before,
        "loading": False,
        "exempt": True,
    }
    assert at_catch_up == {"created": True, "renamed": "Renamed Meanwhile", "victim_hidden": False}
    gone = area.table.gone_mask()
    assert gone[area.table.rows_of([victim])[0]], "the full pass hides the user deleted since"
    assert int((~gone).sum()) == len(first.table)  # one deleted, one created
    assert freshness[0] == ""
    assert freshness[1].startswith("Users as of")
    assert freshness[2].startswith("Users as of")
    assert "deletions as of" in freshness[2]
    assert freshness[-1].startswith("Users up to date")
    columns, taken_at = read_snapshot(snapshot_path(PROFILE), project_id=seeded.project_id)
    assert taken_at == area.loader.full_pass_started > first.loader.full_pass_started
    assert columns.size == len(area.table)


def test_a_snapshot_of_another_project_is_not_shown(
    qtbot: Any, arun: Callable[..., Any], seeded: RunningSandbox, start_sandbox: Callable[..., RunningSandbox]
) -> None:
    arun(first_start(seeded, qtbot))
    other = start_sandbox(users=300, project_id="P2OtherProject00000000000000")
    area = new_area(qtbot)
    sizes: list[int] = []
    area.freshness_changed.connect(lambda short, _whole: sizes.append(len(area.table)) if short else None)
    messages: list[str] = []
    area.message.connect(lambda text, _error: messages.append(text))

    arun(start(area, other))
    assert any(f"is of project {seeded.project_id}" in m for m in messages)
    assert sizes == [len(area.table)], "only the full load's users were ever shown"
    assert area.table.counts()[Kind.ANONYMOUS] + area.table.counts()[Kind.REGULAR] <= len(area.table) < 1500


def test_a_damaged_snapshot_is_said_and_every_user_loaded(
    qtbot: Any, arun: Callable[..., Any], seeded: RunningSandbox
) -> None:
    first = arun(first_start(seeded, qtbot))
    path = snapshot_path(PROFILE)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    area = new_area(qtbot)
    messages: list[str] = []
    area.message.connect(lambda text, _error: messages.append(text))

    arun(start(area, seeded))
    assert any("is damaged" in m and "loaded again" in m for m in messages)
    assert len(area.table) == len(first.table)
    snapshot_info(path)  # written again, whole


def test_a_refresh_cancelled_says_the_users_are_not_refreshed(
    qtbot: Any, arun: Callable[..., Any], start_sandbox: Callable[..., RunningSandbox]
) -> None:
    sandbox = start_sandbox(users=3000, latency_ms=100)
    arun(first_start(sandbox, qtbot))
    area = new_area(qtbot)
    freshness: list[str] = []
    area.freshness_changed.connect(lambda short, _whole: freshness.append(short))

    async def scenario() -> None:
        area.read_snapshot_early(SnapshotPlace(PROFILE, sandbox.project_id))
        async with Gateway(
            Connection(sandbox.project_id, sandbox.url, sandbox.management_key), max_concurrency=1
        ) as gateway:
            async with emitted(area.loader.caught_up):
                connecting = asyncio.ensure_future(area.connect_to(gateway))
            area.cancel()
            await connecting
            await area.wait()
            await area.close()

    arun(scenario())
    assert freshness[-1].endswith("not refreshed")
    assert len(area.table) == 3000, "the snapshot's users stay shown"
