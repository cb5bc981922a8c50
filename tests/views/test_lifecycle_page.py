"""The Lifecycle page draws exactly core's figures, computed in CPU turns; a click (or Enter) on a bar
of the ages or the expirations asks for that bar's users; an empty state when no users are loaded.

Set LIFECYCLE_SCREENSHOTS to a folder to save the page's screenshots (light and dark, 1280×860).
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from anonconsole.app.palette import apply_color_scheme
from anonconsole.core.classify import AnonymousPolicy
from anonconsole.core.lifecycle import Lifecycle, age_filter, expiry_filter, lifecycle
from anonconsole.core.records import User, UserTenant
from anonconsole.core.user_table import UserTable
from anonconsole.operations.audit_log import AuditEntry, AuditLog
from anonconsole.runtime import cpu_turns
from anonconsole.views import style
from anonconsole.views.cull_dialog import cutoff_position
from anonconsole.views.lifecycle_page import NO_USERS_TEXT, BarChart, LifecyclePage

ANON = "T2AnonymousUsers00000000000000"
DAY = 86400
NOW = int(datetime(2024, 5, 15, 12, tzinfo=UTC).timestamp())
PROFILE = "Sandbox (demo)"
SHOTS = os.environ.get("LIFECYCLE_SCREENSHOTS", "")


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def demo_like(seed: int = 5) -> tuple[UserTable, list[AuditEntry]]:
    """Users and a log shaped like the demo sandbox's: anonymous users of every age (most with
    sign-ins), regular users (some converted by the console), a few needing attention, culls."""
    rng = random.Random(seed)
    tenant = (UserTenant(ANON, "Anonymous Users"),)
    users: list[User] = []
    sign_ins: dict[str, int] = {}
    for i in range(1200):
        created = NOW - int(rng.uniform(0, 700) * DAY)
        login = f"x{i}@r4nd0m.com"
        users.append(
            User(f"Ua{i}", (login,), email=login, status="enabled", tenants=tenant, created_time=created)
        )
        if rng.random() < 0.7:
            sign_ins[f"Ua{i}"] = rng.randint(created, min(NOW, created + int(rng.uniform(0, 400) * DAY)))
    for i in range(400):
        email = f"person{i}@example.com"
        created = NOW - int(rng.uniform(1, 700) * DAY)
        users.append(
            User(f"Ur{i}", (email,), email=email, verified_email=True, status="enabled", created_time=created)
        )
        sign_ins[f"Ur{i}"] = rng.randint(max(created, NOW - 90 * DAY), NOW)
    for i in range(40):  # a verified address, still in the anonymous tenant
        email = f"half{i}@example.com"
        users.append(
            User(
                f"Un{i}",
                (email,),
                email=email,
                verified_email=True,
                tenants=tenant,
                created_time=NOW - 200 * DAY,
            )
        )
        sign_ins[f"Un{i}"] = NOW - rng.randint(0, 60) * DAY
    users.append(User("Utest", ("t@r.com",), tenants=tenant, test=True, created_time=NOW - DAY))
    table = UserTable(AnonymousPolicy(ANON, 365 * DAY, 0), now=lambda: NOW)
    table.append(users)
    table.set_last_sign_ins(sign_ins)
    entries = [
        AuditEntry("convert.verified", f"Ur{i}", "ok", PROFILE, time=iso(NOW - rng.randint(0, 300) * DAY))
        for i in range(150)
    ]
    for month in range(6):
        culled = [f"Ugone{month}-{k}" for k in range(rng.randint(80, 500))]
        entries.append(
            AuditEntry(
                "cull.delete",
                f"{len(culled)} users",
                "ok",
                PROFILE,
                after={"userIds": culled},
                time=iso(NOW - (30 * month + 3) * DAY),
            )
        )
    return table, entries


@pytest.fixture
def page(qtbot: QtBot, console_qapp: QApplication) -> LifecyclePage:
    page = LifecyclePage()
    qtbot.addWidget(page)
    page.resize(1280, 860)
    page.show()
    return page


def show(
    arun: Callable[..., Any], page: LifecyclePage, table: UserTable, entries: list[AuditEntry]
) -> Lifecycle:
    async def scenario() -> Lifecycle:
        return await page.show_table(table, entries, NOW)

    picture: Lifecycle = arun(scenario())
    return picture


def screenshot(app: QApplication, page: QWidget, name: str) -> None:
    """The page in light and dark, when LIFECYCLE_SCREENSHOTS names a folder."""
    if not SHOTS:
        return
    try:
        for scheme in ("light", "dark"):
            apply_color_scheme(app, scheme)
            QCoreApplication.sendPostedEvents()  # the palette change reaches the widgets as an event
            page.grab().save(str(Path(SHOTS) / f"lifecycle-{name}-{scheme}.png"))
    finally:
        apply_color_scheme(app, "light")
        QCoreApplication.sendPostedEvents()


def test_the_charts_show_cores_figures(
    page: LifecyclePage, arun: Callable[..., Any], console_qapp: QApplication
) -> None:
    table, entries = demo_like()
    picture = show(arun, page, table, entries)
    expected = lifecycle(table, entries, now=NOW)
    assert picture == expected
    assert page.picture == expected
    assert page.pages.currentIndex() == 0

    funnel = expected.funnel
    assert page.funnel_chart.values() == {
        "Created (anonymous)": list(funnel.created),
        "Converted": list(funnel.converted),
        "Culled": list(funnel.culled),
    }
    assert sum(funnel.converted) == 150
    assert sum(funnel.culled) > 0
    buckets = expected.ages.buckets
    assert page.ages_chart.values() == {
        "Past the cutoff": [b.candidates for b in buckets],
        "Within the lifetime": [b.users - b.candidates for b in buckets],
    }
    assert expected.ages.past_cutoff > 0
    assert page.expirations_chart.values() == {"Expiring": list(expected.expirations.counts)}
    active = expected.active
    assert page.active_chart.values() == {
        "Anonymous": list(active.anonymous),
        "Regular": list(active.regular),
        "Needs attention": list(active.attention),
    }
    # The share as a figure, and the totals under the stacked bars.
    assert page.share.text() == f"May 2024 so far — {active.share_text()}"
    assert active.share_text().startswith("anonymous: ")
    assert "monthly active users" in active.share_text()
    assert f"<b>{active.total():,}</b>" in page.active_chart.categories.categories()[-1]
    assert f"<b>{buckets[0].users:,}</b>" in page.ages_chart.categories.categories()[0]
    # The cutoff line stands where the cull preview puts it.
    assert expected.ages.cutoff_age is not None
    line = page.ages_chart.marker
    assert line.isVisible()
    assert line.at(0).x() == pytest.approx(cutoff_position(expected.ages.cutoff_age, buckets))
    assert line.name() == "Cutoff: 1 year"
    # Numbers in words for screen readers.
    assert f"{buckets[0].label}: {buckets[0].users:,} users" in page.ages_chart.accessibleDescription()
    assert str(expected.expirations.overdue) in page.notes["lifecycleExpirations"].text()
    screenshot(console_qapp, page, "demo")


def test_every_named_widget_has_an_accessible_name(page: LifecyclePage, arun: Callable[..., Any]) -> None:
    show(arun, page, *demo_like())
    named = [w for w in page.findChildren(QWidget) if w.objectName().startswith("lifecycle")]
    assert len(named) >= 12
    for widget in named:
        assert widget.accessibleName(), widget.objectName()


def click(qtbot: QtBot, chart: BarChart, index: int, signal: Any) -> Any:
    with qtbot.waitSignal(signal, timeout=5000) as caught:
        QTest.mouseClick(chart.viewport(), Qt.MouseButton.LeftButton, pos=chart.bar_center(index).toPoint())
    return caught.args[0]


def test_a_click_on_a_bar_asks_for_exactly_its_users(
    page: LifecyclePage, arun: Callable[..., Any], qtbot: QtBot
) -> None:
    table, entries = demo_like()
    picture = show(arun, page, table, entries)
    qtbot.waitExposed(page)
    ages, expirations = picture.ages, picture.expirations
    for index in (0, 4):
        wanted = click(qtbot, page.ages_chart, index, page.filter_requested)
        assert wanted == age_filter(ages, index)
        assert len(table.query(wanted.table_filter())) == ages.buckets[index].users > 0
    busiest = max(range(len(expirations.counts)), key=expirations.counts.__getitem__)
    wanted = click(qtbot, page.expirations_chart, busiest, page.filter_requested)
    assert wanted == expiry_filter(expirations, busiest)
    assert len(table.query(wanted.table_filter())) == expirations.counts[busiest] > 0


def test_charts_without_filters_ignore_clicks(
    page: LifecyclePage, arun: Callable[..., Any], qtbot: QtBot
) -> None:
    show(arun, page, *demo_like())
    qtbot.waitExposed(page)
    with qtbot.assertNotEmitted(page.filter_requested, wait=100):
        QTest.mouseClick(
            page.active_chart.viewport(),
            Qt.MouseButton.LeftButton,
            pos=page.active_chart.bar_center(11).toPoint(),
        )


def test_the_keyboard_chooses_and_activates_a_bar(
    page: LifecyclePage, arun: Callable[..., Any], qtbot: QtBot
) -> None:
    picture = show(arun, page, *demo_like())
    chart = page.ages_chart
    chart.setFocus()
    for _ in range(3):
        QTest.keyClick(chart, Qt.Key.Key_Right)
    QTest.keyClick(chart, Qt.Key.Key_Left)
    assert chart.current == 1
    assert chart.accessibleDescription().startswith(picture.ages.buckets[1].label)
    assert chart.bar_sets[0].isBarSelected(1)
    with qtbot.waitSignal(page.filter_requested, timeout=2000) as caught:
        QTest.keyClick(chart, Qt.Key.Key_Return)
    assert caught.args[0] == age_filter(picture.ages, 1)


def test_empty_state_until_users_are_loaded(page: LifecyclePage, arun: Callable[..., Any]) -> None:
    assert page.pages.currentWidget() is page.empty
    assert page.empty.text() == NO_USERS_TEXT
    empty = UserTable(AnonymousPolicy(ANON, 365 * DAY), now=lambda: NOW)
    picture = show(arun, page, empty, [])
    assert picture.users == 0
    assert page.pages.currentWidget() is page.empty
    assert page.picture is None

    show(arun, page, *demo_like())
    assert page.pages.currentIndex() == 0
    page.clear("Not connected.")
    assert page.pages.currentWidget() is page.empty
    assert (page.empty.text(), page.picture) == ("Not connected.", None)


def test_the_work_is_done_in_turns_that_let_the_loop_run(
    page: LifecyclePage, arun: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One step per CPU turn (a zero-length slice): the loop runs other work between the steps."""
    monkeypatch.setattr(cpu_turns, "SLICE_SECONDS", 0.0)
    table, entries = demo_like()
    ticks = 0

    async def scenario() -> None:
        nonlocal ticks
        task = page.show_table(table, entries, NOW)
        while not task.done():
            ticks += 1
            await asyncio.sleep(0)
        await task

    arun(scenario())
    steps = 1 + 1 + 1 + 1  # the snapshot, the log's 156 entries, its converted IDs, the 1,641 rows
    assert ticks >= steps
    assert page.picture == lifecycle(table, entries, now=NOW)


def test_a_newer_table_replaces_a_computation_under_way(
    page: LifecyclePage, arun: Callable[..., Any]
) -> None:
    table, entries = demo_like()
    other, _ = demo_like(seed=6)

    async def scenario() -> None:
        first = page.show_table(table, entries, NOW)
        second = page.show_table(other, [], NOW)
        await second
        assert first.cancelled()

    arun(scenario())
    assert page.picture == lifecycle(other, [], now=NOW)


def test_the_log_is_read_for_the_profile_only(
    page: LifecyclePage, arun: Callable[..., Any], tmp_path: Path
) -> None:
    table, entries = demo_like()
    audit = AuditLog(tmp_path / "audit.jsonl")
    for entry in entries:
        audit.append(entry)
    audit.append(
        AuditEntry("cull.delete", "2 users", "ok", "another profile", after={"userIds": ["U1", "U2"]})
    )

    async def scenario() -> Lifecycle:
        return await page.show_from_log(table, audit, PROFILE, NOW)

    assert arun(scenario()) == lifecycle(table, entries, now=NOW)


def test_the_charts_take_the_palettes_colours(page: LifecyclePage, console_qapp: QApplication) -> None:
    chart = page.ages_chart
    assert chart.bar_sets[0].color() == QColor(style.palette_colors("light")["chartDelete"])
    try:
        apply_color_scheme(console_qapp, "dark")
        QCoreApplication.sendPostedEvents()
        dark = style.palette_colors("dark")
        assert chart.bar_sets[0].color() == QColor(dark["chartDelete"])
        assert page.active_chart.bar_sets[0].color() == QColor(dark["chartAnonymous"])
        assert page.expirations_chart.bar_sets[0].color() == QColor(dark["chartExpiring"])
    finally:
        apply_color_scheme(console_qapp, "light")
        QCoreApplication.sendPostedEvents()
