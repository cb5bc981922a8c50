"""Exports in core: a view's cells equal the view's text cell by cell, CSV and JSON read back equal
what was exported (chunk boundaries, awkward text), and a plan's JSON export is still approvable."""

from __future__ import annotations

import csv
import io
import itertools
import json
from pathlib import PurePath

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from anonconsole.core.classify import AnonymousPolicy, Kind, format_duration
from anonconsole.core.cull import CullPlan, CullRules, Exclusion, Stage, plan_cull
from anonconsole.core.export import (
    CellTexts,
    Chunked,
    Export,
    ExportFormat,
    RowsChanged,
    durations,
    encode,
    filter_json,
    format_of,
    plan_export,
    users_export,
)
from anonconsole.core.records import User, UserTenant
from anonconsole.core.user_pages import ALL_COLUMNS, PAGE_COLUMNS, ComputedColumn, age_text, page_filter
from anonconsole.core.user_table import Column, TableFilter, UserTable, format_time

ANON = "T2AnonymousUsers00000000000000"
OTHER = "T2SomeCustomerTenant0000000000"
DAY = 86400
NOW = 1_800_000_000
IN_ANON = (UserTenant(ANON, "Anonymous Users"),)


def user(i: int, **fields: object) -> User:
    base: dict[str, object] = {
        "user_id": f"U{i:027d}",
        "login_ids": (f"r{i:05d}x@q{i}z.com",),
        "status": "enabled",
        "tenants": IN_ANON,
        "created_time": NOW - (i * 7919 % 900) * DAY - i * 37,
    }
    base.update(fields)
    return User(**base)  # type: ignore[arg-type]


def variety() -> list[User]:
    """Users of every kind and state the columns tell apart."""
    users = [user(i) for i in range(40)]  # anonymous, of many ages
    users += [
        user(40, created_time=NOW - 30),  # seconds old
        user(41, created_time=NOW + 3600),  # created "in the future" (a clock off)
        user(42, created_time=0),  # no creation time
        user(43, status="disabled"),  # needs attention
        user(44, status="invited"),
        user(45, test=True),
        user(46, name='Zoë, "the" Tester', email="zoe@example.com"),  # attention: identifying data
        user(47, tenants=(), email="r@example.com", verified_email=True, login_ids=("r@example.com",)),
        user(48, tenants=(*IN_ANON, UserTenant(OTHER, "Customers")), phone="+15555550100"),
        user(49, tenants=(UserTenant(OTHER, ""),), phone="+15555550101", verified_phone=True),
        user(50, login_ids=("a\nb", "second=1+1")),  # a newline and a formula-looking login ID
        user(51, tenants=()),  # outside the tenant, unverified
    ]
    return users


def table_of(policy: AnonymousPolicy, *, now: int = NOW) -> UserTable:
    table = UserTable(policy, now=lambda: now)
    table.append(variety())
    signed_in = {table.user_id(row): NOW - row * 5000 for row in range(0, len(table), 3)}
    signed_in[table.user_id(5)] = NOW + 600  # a sign-in later than now
    table.set_last_sign_ins(signed_in)
    return table


POLICIES = [
    AnonymousPolicy(ANON, 365 * DAY),
    AnonymousPolicy(ANON, 30 * DAY, 7 * DAY),  # grace
    AnonymousPolicy(ANON, None),  # no custom session management: no expiry
    AnonymousPolicy("", None),  # no anonymous tenant
]


@pytest.mark.parametrize("policy", POLICIES, ids=["year", "grace", "no-lifetime", "no-tenant"])
def test_every_column_is_the_text_the_view_shows(policy: AnonymousPolicy) -> None:
    table = table_of(policy)
    rows = np.arange(len(table), dtype=np.int64)[::-1].copy()  # any order
    texts = CellTexts(table, NOW)
    for column in ALL_COLUMNS:
        got = texts.column(rows, column)
        if column is ComputedColumn.AGE:
            expected = [age_text(table.classification(row).age_seconds) for row in rows.tolist()]
        else:
            expected = [table.display(row, column) for row in rows.tolist()]
        assert got == expected, column


def test_cells_are_taken_at_the_moment_given() -> None:
    table = table_of(POLICIES[0], now=NOW)
    later = NOW + 400 * DAY
    rows = np.arange(len(table), dtype=np.int64)
    at_later = CellTexts(table, later)
    moved = UserTable(POLICIES[0], now=lambda: later)
    moved.append(variety())
    moved.set_last_sign_ins({table.user_id(r): int(t) for r, t in enumerate(table.last_sign_ins()) if t > 0})
    for column in (Column.EXPIRES, ComputedColumn.AGE, Column.REASON):
        assert at_later.column(rows, column) == CellTexts(moved, later).column(rows, column)
    assert at_later.column(rows, Column.EXPIRES) != CellTexts(table, NOW).column(rows, Column.EXPIRES)


@given(st.lists(st.integers(min_value=-(10**10), max_value=10**10), max_size=300))
def test_durations_equal_format_duration(values: list[int]) -> None:
    assert durations(np.array(values, dtype=np.int64)) == [format_duration(v) for v in values]


def test_durations_at_every_unit_boundary() -> None:
    edges = [0, 1, 59, 60, 61, 3599, 3600, 3601, 86399, 86400, 86401, 59 * DAY, 60 * DAY, 364 * DAY]
    edges += [365 * DAY, 395 * DAY, 730 * DAY - 1, 730 * DAY]
    values = np.array([v + d for v in edges for d in (-1, 0, 1)], dtype=np.int64)
    assert durations(values) == [format_duration(v) for v in values.tolist()]


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def text_of(export: Export, fmt: ExportFormat, chunk: int) -> str:
    encoded = encode(export, fmt, chunk=chunk)
    pieces = list(encoded.pieces)
    assert sum(items for _, items in pieces) == encoded.total
    return "".join(text for text, _ in pieces)


@pytest.mark.parametrize("chunk", [1, 3, 7, 52, 500])
def test_a_view_reads_back_equal_in_csv_and_json(chunk: int) -> None:
    table = table_of(POLICIES[1])
    spec = TableFilter(kind=None, text="q", test_users="include")
    rows = table.query(spec, Column.LOGIN_IDS)
    columns = (Column.LOGIN_IDS, ComputedColumn.AGE, Column.NAME, Column.TENANTS, Column.KIND, Column.USER_ID)
    export = users_export(table, rows, columns, now=NOW, page="all", spec=spec, sort=Column.LOGIN_IDS)
    expected = CellTexts(table, NOW).rows(rows, columns)
    assert len(expected) == len(rows) > 40

    lines = read_csv(text_of(export, ExportFormat.CSV, chunk))
    assert lines[0] == [c.heading for c in columns]
    assert [tuple(line) for line in lines[1:]] == expected

    document = json.loads(text_of(export, ExportFormat.JSON, chunk))
    assert document["export"] == "users"
    assert document["view"] == "all"
    assert document["now"] == NOW
    assert document["exportedAt"] == "2027-01-15T08:00:00Z"
    assert document["sort"] == {"column": "login_ids", "descending": False}
    assert document["filter"]["search"] == "q"
    assert document["filter"]["testUsers"] == "include"
    assert [c["key"] for c in document["columns"]] == [c.value for c in columns]
    assert [c["heading"] for c in document["columns"]] == [c.heading for c in columns]
    assert document["count"] == len(rows)
    assert [tuple(r[c.value] for c in columns) for r in document["rows"]] == expected
    assert all(list(r) == [c.value for c in columns] for r in document["rows"])  # keys in column order


def test_awkward_text_survives_both_formats() -> None:
    table = table_of(POLICIES[0])
    rows = table.rows_of([user(46).user_id, user(50).user_id, user(48).user_id])
    columns = (Column.LOGIN_IDS, Column.NAME, Column.PHONE)
    export = users_export(table, rows, columns, now=NOW)
    lines = read_csv(text_of(export, ExportFormat.CSV, 2))
    assert lines[1:] == [
        ["r00046x@q46z.com", 'Zoë, "the" Tester', ""],
        ["a\nb, second=1+1", "", ""],
        ["r00048x@q48z.com", "", "+15555550100"],
    ]
    document = json.loads(text_of(export, ExportFormat.JSON, 2))
    assert document["rows"][0]["name"] == 'Zoë, "the" Tester'
    assert document["rows"][1]["login_ids"] == "a\nb, second=1+1"


def test_an_empty_view_exports_its_headings_and_no_rows() -> None:
    table = table_of(POLICIES[0])
    rows = table.query(TableFilter(text="no such user"))
    columns = PAGE_COLUMNS[Kind.ANONYMOUS]
    export = users_export(table, rows, columns, now=NOW, page="anonymous")
    assert read_csv(text_of(export, ExportFormat.CSV, 10)) == [[c.heading for c in columns]]
    document = json.loads(text_of(export, ExportFormat.JSON, 10))
    assert document["rows"] == []
    assert document["count"] == 0
    with pytest.raises(ValueError, match="at least one column"):
        users_export(table, rows, (), now=NOW)


def test_the_rows_are_those_of_the_moment_of_the_export() -> None:
    """The export keeps its own copy of the rows: the view's array may change under it."""
    table = table_of(POLICIES[0])
    rows = table.query(page_filter(Kind.ANONYMOUS))
    export = users_export(table, rows, (Column.USER_ID,), now=NOW)
    expected = table.user_ids(rows)
    rows[:] = 0
    assert [line[0] for line in read_csv(text_of(export, ExportFormat.CSV, 5))[1:]] == expected


@pytest.mark.parametrize("others", [0, 60], ids=["cleared", "other users"])
def test_an_export_stops_when_the_table_holds_other_users(others: int) -> None:
    """Another connection clears the table and fills it again: the export must not go on with
    rows that now are other users (two projects in one file)."""
    table = table_of(POLICIES[0])
    rows = table.query(TableFilter())
    pieces = encode(users_export(table, rows, (Column.USER_ID,), now=NOW), ExportFormat.CSV, chunk=10).pieces
    assert len(list(itertools.islice(pieces, 3))) == 3  # the header and two slices
    table.set_last_sign_ins({table.user_id(0): NOW})  # the same users changing: fine
    next(pieces)
    table.clear()
    table.append([user(1000 + i) for i in range(others)])
    with pytest.raises(RowsChanged, match="nothing was written"):
        list(pieces)


def test_the_filter_is_described_whole() -> None:
    spec = TableFilter(
        kind=Kind.ANONYMOUS,
        statuses=frozenset({"invited", "enabled"}),
        created_from=5,
        expired=True,
        rows=np.array([3, 1, 2]),
    )
    described = filter_json(spec)
    assert described["kind"] == "anonymous"
    assert described["statuses"] == ["enabled", "invited"]
    assert described["createdFrom"] == 5
    assert described["createdTo"] is None
    assert described["expired"] is True
    assert described["rows"] == 3
    json.dumps(described)  # JSON-ready


def test_long_lists_inside_a_document_are_streamed_and_counted() -> None:
    ids = [f"U{i}" for i in range(25)]
    document = {
        "a": 1,
        "nested": {"ids": ids, "short": [1, 2]},
        "rows": Chunked.of([{"x": i} for i in range(4)]),
    }
    export = Export("x", ("x",), Chunked.of([]), lambda: document)
    encoded = encode(export, ExportFormat.JSON, chunk=10)
    assert encoded.total == 25 + 4
    pieces = list(encoded.pieces)
    assert json.loads("".join(text for text, _ in pieces)) == {
        **document,
        "rows": [{"x": i} for i in range(4)],
    }
    assert max(len(text) for text, _ in pieces) < 200  # never the whole list in one piece


def test_a_plan_exports_as_the_approvable_plan_and_as_a_sheet() -> None:
    table = UserTable(AnonymousPolicy(ANON, 365 * DAY), now=lambda: NOW)
    table.append(variety())
    table.append([user(100 + i, created_time=NOW - 800 * DAY - i) for i in range(30)])
    table.set_last_sign_ins({table.user_id(5): NOW - 700 * DAY})
    rules = CullRules(ANON, "Anonymous Users", 365 * DAY, stage=Stage.DISABLE)
    plan = plan_cull(table, rules, now=NOW, profile="Staging", project_id="P2Project")
    assert plan.count > 30
    export = plan_export(plan)
    assert export.name == f"cull-plan-P2Project-{plan.plan_hash.removeprefix('sha256:')[:12]}"

    again = CullPlan.from_json(json.loads(text_of(export, ExportFormat.JSON, 7)))  # chunked lists
    assert again == plan

    lines = read_csv(text_of(export, ExportFormat.CSV, 7))
    assert lines[0] == [
        "User ID",
        "Login ID",
        "Decision",
        "Reason",
        "Created",
        "Last sign-in",
        "Last active",
        "Age",
    ]
    candidates, kept = lines[1 : plan.count + 1], lines[plan.count + 1 :]
    for line, candidate in zip(candidates, plan.candidates, strict=True):
        assert line[:3] == [candidate.user_id, candidate.login_id, "disable"]
        assert line[4] == format_time(candidate.created_time)
        assert line[5] == ("never" if candidate.last_sign_in is None else format_time(candidate.last_sign_in))
        assert line[7] == format_duration(candidate.age_seconds)
    expected_kept = [(uid, reason.reason) for reason in Exclusion for uid in plan.exclusions[reason]]
    assert [(line[0], line[3]) for line in kept] == expected_kept
    assert {line[2] for line in kept} == {"keep"}
    assert kept  # the variety has users kept for a reason


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.csv", ExportFormat.CSV), ("A.JSON", ExportFormat.JSON), ("a.txt", None), ("csv", None)],
)
def test_format_of_a_file_name(name: str, expected: ExportFormat | None) -> None:
    assert format_of(PurePath(name)) is expected
