"""UsersModel: a Qt adapter over UserTable that survives pages arriving without resets."""

from __future__ import annotations

import sys
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelRoleData, Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QTableView

from anonconsole.core.classify import AnonymousPolicy, Kind, format_duration
from anonconsole.core.records import User, UserTenant
from anonconsole.core.user_table import Column, TableFilter, UserTable
from anonconsole.models.users_model import SORT_ROLE, TABLE_ROW_ROLE, USER_ROLE, UsersModel

ANON = "T2AnonymousUsers00000000000000"
DAY = 86400
NOW = 1_800_000_000
COLUMNS = (Column.USER_ID, Column.LOGIN_IDS, Column.EMAIL, Column.CREATED, Column.EXPIRES, Column.KIND)


def make_user(i: int, *, age_days: int = 10, verified: bool = False) -> User:
    tenants = () if verified else (UserTenant(ANON, "Anonymous Users"),)
    email = f"user{i}@example.com" if verified else ""
    return User(
        user_id=f"U{i:027d}",
        login_ids=(email or f"r{i:05d}x@q{i}z.com",),
        email=email,
        verified_email=verified,
        status="enabled",
        tenants=tenants,
        created_time=NOW - age_days * DAY,
    )


def new_table(n: int = 0) -> UserTable:
    table = UserTable(AnonymousPolicy(ANON, 365 * DAY), now=lambda: NOW)
    table.append(make_user(i, age_days=(i * 37) % 800, verified=i % 5 == 0) for i in range(n))
    return table


def test_model_passes_qt_model_tester(qtmodeltester: Any) -> None:
    model = UsersModel(new_table(50), COLUMNS)
    qtmodeltester.check(model)
    model.sort(3, Qt.SortOrder.DescendingOrder)
    model.set_filter(TableFilter(kind=Kind.ANONYMOUS, expired=True))
    qtmodeltester.check(model)


def test_roles() -> None:
    table = new_table(20)
    model = UsersModel(table, COLUMNS)
    first = model.index(0, 0)
    assert model.data(model.index(0, 2), Qt.ItemDataRole.ForegroundRole) is None  # no colours yet
    model.set_badge_colors(QColor("#2e9d4f"), QColor("#d0433b"))  # as the views take them from style.qss
    assert model.data(first) == table.user(0).user_id
    assert model.data(first, USER_ROLE) == table.user(0)
    assert model.data(first, TABLE_ROW_ROLE) == 0
    assert model.data(model.index(0, 3), SORT_ROLE) == table.user(0).created_time
    assert model.data(model.index(0, 2), Qt.ItemDataRole.ToolTipRole) == "Verified"
    assert model.data(model.index(0, 2), Qt.ItemDataRole.ForegroundRole).color() == QColor("#2e9d4f")
    expired_row = next(r for r in range(20) if table.expired(r))
    view_row = model.view_row(expired_row)
    assert view_row is not None
    assert model.data(model.index(view_row, 4), Qt.ItemDataRole.ForegroundRole).color() == QColor("#d0433b")
    assert "expired" in model.data(model.index(view_row, 4), Qt.ItemDataRole.ToolTipRole)
    assert model.headerData(4, Qt.Orientation.Horizontal) == "Expires in / expired for"


def test_pages_append_without_reset_in_table_order(qtbot: Any) -> None:
    table = new_table(100)
    model = UsersModel(table, COLUMNS, TableFilter(kind=Kind.ANONYMOUS))
    before = model.rowCount()
    with qtbot.assertNotEmitted(model.modelReset), qtbot.waitSignal(model.rowsInserted):
        new = table.append(make_user(i, age_days=i % 800) for i in range(100, 200))
        model.table_rows_appended(new)
    assert model.rowCount() == before + 100  # all new users are anonymous


def test_selection_survives_sorted_pages_and_filter_changes(qtbot: Any) -> None:
    table = new_table(200)
    model = UsersModel(table, COLUMNS)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    model.sort(1, Qt.SortOrder.AscendingOrder)
    chosen = model.index(10, 0)
    chosen_user = model.data(chosen, USER_ROLE)
    view.selectionModel().select(
        chosen, QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    )
    with qtbot.assertNotEmitted(model.modelReset):
        new = table.append(make_user(i) for i in range(200, 400))
        model.table_rows_appended(new)
        model.set_filter(TableFilter(text=chosen_user.login_ids[0][:6]))
    selected = view.selectionModel().selectedRows()
    assert [model.data(i, USER_ROLE) for i in selected] == [chosen_user]


def test_filtered_out_selection_is_dropped_not_moved(qtbot: Any) -> None:
    model = UsersModel(new_table(20), COLUMNS)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.selectRow(0)
    model.set_filter(TableFilter(text="nobody-matches"))
    assert model.rowCount() == 0
    assert view.selectionModel().selectedRows() == []


PAINT_ROLES = (
    Qt.ItemDataRole.DisplayRole,
    Qt.ItemDataRole.DecorationRole,
    Qt.ItemDataRole.FontRole,
    Qt.ItemDataRole.TextAlignmentRole,
    Qt.ItemDataRole.ForegroundRole,
    Qt.ItemDataRole.BackgroundRole,
    Qt.ItemDataRole.CheckStateRole,
    Qt.ItemDataRole.ToolTipRole,
    Qt.ItemDataRole.AccessibleTextRole,
    TABLE_ROW_ROLE,
)


def test_multi_data_answers_what_data_answers() -> None:
    """Painting asks all roles of a cell at once (`multiData`); the answers are `data`'s."""
    model = UsersModel(new_table(10), COLUMNS)
    for row in range(10):
        for column in range(len(COLUMNS)):
            index = model.index(row, column)
            wanted = [QModelRoleData(role) for role in PAINT_ROLES]
            for item in wanted:
                item.setData("stale")  # answers must replace what a reused span held
            for item in wanted:
                model.multiData(index, item)
            for item, role in zip(wanted, PAINT_ROLES, strict=True):
                expected = model.data(index, role)
                got = item.data()
                if isinstance(expected, QBrush):
                    assert isinstance(got, QBrush)
                    assert got.color() == expected.color()
                else:
                    assert got == expected, (row, column, role)


def test_multi_data_does_not_drop_references_to_none() -> None:
    """PySide6 6.12's QModelRoleData.setData/clearData dropped a reference to None (pyproject keeps
    it out); on Python 3.11 the interpreter aborts once None's count reaches zero: after enough painting."""
    model = UsersModel(new_table(5), COLUMNS)
    index = model.index(0, 0)
    answers = [QModelRoleData(role) for role in PAINT_ROLES]
    before = sys.getrefcount(None)
    for _ in range(300):
        for item in answers:
            model.multiData(index, item)
    assert abs(sys.getrefcount(None) - before) < 50


def test_rows_changing_in_place_are_announced_from_the_first_to_the_last_only() -> None:
    """Sign-ins of users far down the list must not make a view repaint the rows on screen."""
    table = new_table(500)
    model = UsersModel(table, COLUMNS)
    announced: list[tuple[int, int, int, int]] = []
    model.dataChanged.connect(
        lambda top, bottom, _roles: announced.append((top.row(), top.column(), bottom.row(), bottom.column()))
    )
    model.table_rows_changed(table.set_last_sign_ins({table.user(r).user_id: NOW for r in (450, 400)}))
    assert announced == [(400, 0, 450, len(COLUMNS) - 1)]
    model.set_filter(TableFilter(kind=Kind.REGULAR))  # every fifth user: view row = table row / 5
    announced.clear()
    model.table_rows_changed(table.set_last_sign_ins({table.user(r).user_id: NOW + 1 for r in (10, 15, 401)}))
    assert announced == [(2, 0, 3, len(COLUMNS) - 1)]  # 401 is filtered out
    model.resync()  # changes unknown: every row
    assert announced[-1] == (0, 0, model.rowCount() - 1, len(COLUMNS) - 1)


def test_age_column_counts_from_the_last_activity_and_sorts_by_it() -> None:
    """Age: since the last sign-in, or since creation for a user that never signed in; blank for
    users that are not anonymous. Sorting by it puts the youngest first."""
    from anonconsole.models import users_model

    age = users_model.ModelColumn.AGE
    table = new_table(30)
    signed_in = table.user(1)
    table.set_last_sign_ins({signed_in.user_id: NOW - 3 * DAY})
    model = UsersModel(table, (Column.USER_ID, age, Column.EXPIRES))
    assert model.headerData(1, Qt.Orientation.Horizontal) == "Age"
    assert model.data(model.index(1, 1)) == "3 days"
    assert "last sign-in" in model.data(model.index(1, 1), Qt.ItemDataRole.ToolTipRole)
    never = next(r for r in range(30) if table.kind(r) is Kind.ANONYMOUS and r != 1)
    created_days = (NOW - table.user(never).created_time) // DAY
    assert model.data(model.index(never, 1)) == format_duration(created_days * DAY)
    assert "never signed in" in model.data(model.index(never, 1), Qt.ItemDataRole.ToolTipRole)
    regular = next(r for r in range(30) if table.kind(r) is Kind.REGULAR)
    assert model.data(model.index(regular, 1)) == ""

    model.set_filter(TableFilter(kind=Kind.ANONYMOUS))
    model.sort(1, Qt.SortOrder.AscendingOrder)
    ages = [model.data(model.index(r, 1), SORT_ROLE) for r in range(model.rowCount())]
    assert ages == sorted(ages)
    assert model.sort_column is age
    model.sort(1, Qt.SortOrder.DescendingOrder)
    ages = [model.data(model.index(r, 1), SORT_ROLE) for r in range(model.rowCount())]
    assert ages == sorted(ages, reverse=True)
    multi = QModelRoleData(Qt.ItemDataRole.DisplayRole)
    model.multiData(model.index(0, 1), multi)
    assert multi.data() == model.data(model.index(0, 1))
