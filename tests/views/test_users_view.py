"""The users pages against a real sandbox with demo data: load, counts, search, filter, sort, select,
details, refresh, and a server error while loading."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QPoint, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from waiting import emitted, until

from anonconsole.core.classify import AnonymousPolicy, Kind, classify
from anonconsole.core.records import LoginRecord, User, UserTenant, latest_logins
from anonconsole.core.user_table import Column, UserTable
from anonconsole.gateway import Connection, Gateway
from anonconsole.models.users_model import USER_ROLE
from anonconsole.views.users_area import UsersArea
from anonconsole.views.users_view import UsersView

RunningSandbox = Any  # tests/conftest.py's fixture type (conftest modules are not importable)


def gateway_for(sandbox: RunningSandbox) -> Gateway:
    return Gateway(Connection(sandbox.project_id, sandbox.url, sandbox.management_key))


def direct_counts(sandbox: RunningSandbox, policy: Any) -> Counter[Kind]:
    """Kinds computed from a direct, sequential SDK query (not through the console's loader)."""
    client = sandbox.client()
    users: list[User] = []
    page = 0
    while True:
        answer = client.mgmt.user.search_all(limit=500, page=page)
        users += [User.from_api(u) for u in answer["users"]]
        page += 1
        if len(answer["users"]) < 500:
            break
    history = client.mgmt.user.history([u.user_id for u in users])
    latest = latest_logins(LoginRecord.from_api(r) for r in history)
    now = int(time.time())
    return Counter(classify(u, policy, last_sign_in=latest.get(u.user_id), now=now).kind for u in users)


def test_demo_users_split_into_views(
    qtbot: Any, arun: Callable[..., Any], start_sandbox: Callable[..., RunningSandbox]
) -> None:
    sandbox = start_sandbox(demo=True)
    area = UsersArea()
    views = area.views
    for view in views.values():
        qtbot.addWidget(view)
        view.resize(1200, 700)
    counts: list[dict[str, int]] = []
    area.counts_changed.connect(counts.append)

    async def scenario() -> None:
        async with gateway_for(sandbox) as gateway:
            await area.connect_to(gateway)
            await area.wait()
            anonymous = views["anonymous"]

            # Counts equal a direct SDK query classified by the same rule.
            expected = direct_counts(sandbox, area.table.policy)
            final = counts[-1]
            assert final["anonymous"] == expected[Kind.ANONYMOUS] > 0
            assert final["regular"] == expected[Kind.REGULAR] > 0
            assert final["attention"] == expected[Kind.ATTENTION] > 0
            assert final["all"] == sum(expected.values())
            assert anonymous.model.rowCount() == final["anonymous"]
            assert "anonymous users live" in area.policy_note

            # Filter: only expired anonymous users, each of them expired.
            anonymous.expiry_filter.setCurrentIndex(anonymous.expiry_filter.findData(True))
            expired_rows = anonymous.model.rowCount()
            assert 0 < expired_rows < final["anonymous"]
            for row in range(expired_rows):
                table_row = anonymous.model.table_row(row)
                assert area.table.expired(table_row)
            anonymous.clear_filters()
            assert anonymous.model.rowCount() == final["anonymous"]

            # Search: a login ID found through the box, with the debounce timer.
            regular = views["regular"]
            target: User = regular.model.data(regular.model.index(3, 0), USER_ROLE)
            async with emitted(regular.count_changed):  # the search applied, once the typing stopped
                QTest.keyClicks(regular.search, target.login_ids[0][:12].upper())
            shown = [
                regular.model.data(regular.model.index(r, 0), USER_ROLE)
                for r in range(regular.model.rowCount())
            ]
            assert target in shown
            assert all(target.login_ids[0][:12].lower() in " ".join(u.login_ids).lower() for u in shown)
            regular.search.clear()
            regular.apply_filters()
            QTest.keyClicks(regular.search, "no-such-user-anywhere")
            regular.apply_filters()
            assert regular.model.rowCount() == 0
            assert regular.state_text == "No users match the search and filters."
            regular.clear_filters()

            # Sort: by creation, newest first; then by login IDs (prepared off the UI thread).
            created = anonymous.model.columns.index(Column.CREATED)
            await anonymous.sort_by(created, Qt.SortOrder.DescendingOrder)
            times = [
                anonymous.model.data(anonymous.model.index(r, 0), USER_ROLE).created_time
                for r in range(anonymous.model.rowCount())
            ]
            assert times == sorted(times, reverse=True)
            logins = regular.model.columns.index(Column.LOGIN_IDS)
            await regular.sort_by(logins, Qt.SortOrder.AscendingOrder)
            texts = [
                regular.model.data(regular.model.index(r, logins)).lower()
                for r in range(regular.model.rowCount())
            ]
            assert texts == sorted(texts)

            # Select two rows; the details panel shows the current one, sign-ins arrive.
            selection = anonymous.view.selectionModel()
            flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
            selection.setCurrentIndex(anonymous.model.index(1, 0), flags)
            selection.select(anonymous.model.index(0, 0), flags)
            chosen: User = anonymous.model.data(anonymous.model.index(1, 0), USER_ROLE)
            assert anonymous.details.user_id == chosen.user_id
            assert anonymous.details.field_text("user_id") == chosen.user_id
            assert "Anonymous" in anonymous.details.verdict_text
            # No signal says the details' sign-ins arrived: poll.
            await until(lambda: anonymous.details._sign_ins_state.text() != "Loading recent sign-ins…")
            assert "sign-in" in anonymous.details._sign_ins_state.text()
            anonymous.copy_user_ids()
            assert set(QGuiApplication.clipboard().text().splitlines()) == {
                chosen.user_id,
                anonymous.model.data(anonymous.model.index(0, 0), USER_ROLE).user_id,
            }

            # Refresh: the same rows come back, selection and sort stay.
            before = anonymous.selected_users()
            area.refresh()
            await area.wait()
            assert anonymous.selected_users() == before
            assert anonymous.model.sort_column is Column.CREATED
            assert counts[-1] == final

    arun(scenario(), timeout=240)


def test_server_error_while_loading_keeps_message_and_retry(
    qtbot: Any, arun: Callable[..., Any], start_sandbox: Callable[..., RunningSandbox]
) -> None:
    sandbox = start_sandbox(error_rate=1.0)
    area = UsersArea()
    view = area.views["all"]
    qtbot.addWidget(view)
    errors: list[tuple[str, bool]] = []
    area.message.connect(lambda text, error: errors.append((text, error)))

    async def scenario() -> None:
        async with gateway_for(sandbox) as gateway:
            await area.connect_to(gateway)
            await area.wait()

    arun(scenario())
    assert errors
    assert errors[-1][1] is True
    assert "Could not load the users." in view.state_text
    assert view._stack.action.text() == "Retry"
    assert view._stack.action.isVisible() or not view.isVisible()


# -- without a sandbox: a table of made-up users -------------------------------------------------------

ANON = "T2AnonymousUsers00000000000000"
DAY = 86400
NOW = 1_800_000_000


def made_up_user(i: int) -> User:
    verified = i % 5 == 0
    email = f"user{i}@example.com" if verified else ""
    return User(
        user_id=f"U{i:027d}",
        login_ids=(email or f"r{i:05d}x@q{i}z.com",),
        email=email,
        verified_email=verified,
        status="enabled",
        tenants=() if verified else (UserTenant(ANON, "Anonymous Users"),),
        created_time=NOW - ((i * 37) % 800) * DAY,
    )


def made_up_view(qtbot: Any, kind: Kind | None = None, users: int = 60) -> UsersView:
    table = UserTable(AnonymousPolicy(ANON, 365 * DAY), now=lambda: NOW)
    table.append(made_up_user(i) for i in range(users))
    view = UsersView(table, kind)
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    qtbot.waitExposed(view)
    return view


def test_details_never_show_a_user_the_search_has_removed(qtbot: Any, console_qapp: Any) -> None:
    view = made_up_view(qtbot)
    selection = view.view.selectionModel()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    selection.setCurrentIndex(view.model.index(3, 0), flags)
    selection.select(view.model.index(4, 0), flags)
    third, fourth = (view.model.data(view.model.index(r, 0), USER_ROLE) for r in (3, 4))
    assert view.details.user_id == third.user_id

    view.search.setText(fourth.user_id)  # keeps the other selected user only
    view.apply_filters()
    assert view.model.rowCount() == 1
    assert view.details.user_id == fourth.user_id, "the next selected row is shown"

    view.search.setText("no-such-user-anywhere")
    view.apply_filters()
    assert view.count_label.text().startswith("0 of")
    assert view.details.user_id == ""


def test_clicking_the_sorted_column_again_reverses_the_order(qtbot: Any, arun: Callable[..., Any]) -> None:
    view = made_up_view(qtbot, Kind.ANONYMOUS)
    header = view.view.horizontalHeader()
    section = view.model.columns.index(Column.CREATED)
    orders: list[Qt.SortOrder] = []

    def created_times() -> list[int]:
        model = view.model
        return [model.data(model.index(r, 0), USER_ROLE).created_time for r in range(model.rowCount())]

    async def click() -> None:
        x = header.sectionViewportPosition(section) + header.sectionSize(section) // 2
        before = (view.model.sort_column, created_times())
        QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2))
        # The click's slot sorts in a task (a first sort of a column prepares it in a thread).
        await until(lambda: (view.model.sort_column, created_times()) != before, timeout=10, what="a sort")
        orders.append(header.sortIndicatorOrder())
        assert header.sortIndicatorSection() == section

    async def scenario() -> None:
        await click()
        assert created_times() == sorted(created_times())
        await click()
        assert created_times() == sorted(created_times(), reverse=True)
        await click()
        assert created_times() == sorted(created_times())

    arun(scenario())
    assert orders == [Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder, Qt.SortOrder.AscendingOrder]
