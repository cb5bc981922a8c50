"""Which users and which columns each users page shows: one definition for the window and the CLI.

The window's four pages (Anonymous, Regular, Needs attention, All users) and `anonconsole export
--view` read the same tables here, so an export of a page has exactly the rows and columns the
page shows before any search or filter. The Age column is computed (the table keeps no such
column); its text and its sort rule live here too, for the same reason.

Pure Python + numpy: no Qt, no I/O.
"""

from __future__ import annotations

from enum import StrEnum

from anonconsole.core.classify import AnonymousPolicy, Kind, format_duration
from anonconsole.core.user_table import Column, Rows, TableFilter, UserTable


class ComputedColumn(StrEnum):
    """Columns computed from the table's values (core's `Column` has no such column).

    AGE: how long ago an anonymous user was last active (its last sign-in, or its creation if it
    never signed in); what its lifetime counts from. Blank for other users.
    """

    AGE = "age"

    @property
    def heading(self) -> str:
        return "Age"


AnyColumn = Column | ComputedColumn
AGE = ComputedColumn.AGE

# Navigation keys of the four pages, in the order the navigation lists them (also `--view`'s choices).
PAGE_KINDS: dict[str, Kind | None] = {
    "anonymous": Kind.ANONYMOUS,
    "regular": Kind.REGULAR,
    "attention": Kind.ATTENTION,
    "all": None,
}

# Who the user is and when it came and last signed in: the regular page.
_WHO_AND_WHEN = (
    Column.USER_ID,
    Column.LOGIN_IDS,
    Column.NAME,
    Column.EMAIL,
    Column.PHONE,
    Column.STATUS,
    Column.TENANTS,
    Column.CREATED,
    Column.LAST_SIGN_IN,
)
# An anonymous user is its login ID, how long ago it was last active and when it expires: those come
# first, so they show without scrolling sideways at 1280 px (the IDs, rarely read, come last). All
# users: the same, after the kind.
PAGE_COLUMNS: dict[Kind | None, tuple[AnyColumn, ...]] = {
    Kind.ANONYMOUS: (
        Column.LOGIN_IDS,
        AGE,
        Column.EXPIRES,
        Column.LAST_SIGN_IN,
        Column.CREATED,
        Column.STATUS,
        Column.USER_ID,
    ),
    Kind.REGULAR: _WHO_AND_WHEN,
    Kind.ATTENTION: (
        Column.REASON,
        Column.USER_ID,
        Column.LOGIN_IDS,
        Column.EMAIL,
        Column.NAME,
        Column.STATUS,
        Column.TENANTS,
    ),
    None: (
        Column.KIND,
        Column.LOGIN_IDS,
        AGE,
        Column.EXPIRES,
        Column.NAME,
        Column.EMAIL,
        Column.STATUS,
        Column.LAST_SIGN_IN,
        Column.CREATED,
        Column.PHONE,
        Column.TENANTS,
        Column.USER_ID,
    ),
}

ALL_COLUMNS: tuple[AnyColumn, ...] = (*Column, *ComputedColumn)


def page_filter(kind: Kind | None) -> TableFilter:
    """The rows a page of `kind` shows before any search or filter (test users left out)."""
    return TableFilter(kind=kind)


def column_named(name: str) -> AnyColumn:
    """A column by its key ("login_ids", "age", ...); ValueError naming the keys when unknown."""
    for column in ALL_COLUMNS:
        if column.value == name:
            return column
    known = ", ".join(column.value for column in ALL_COLUMNS)
    raise ValueError(f"there is no column “{name}”. Columns: {known}.")


def age_text(age_seconds: int | None) -> str:
    """The Age column's text: blank when the user is not anonymous (no age)."""
    return "" if age_seconds is None else format_duration(age_seconds)


def sort_column(column: AnyColumn, policy: AnonymousPolicy) -> tuple[Column, bool]:
    """The table column whose order a page column sorts by, and whether that order is reversed.

    Age sorts by the expiry, reversed: an anonymous user expires a fixed lifetime after its last
    activity, so the youngest expire last. Without a known lifetime there is no expiry; then the
    last sign-in stands in (users who never signed in sort as the oldest).
    """
    if column is ComputedColumn.AGE:
        return (Column.EXPIRES if policy.refresh_seconds is not None else Column.LAST_SIGN_IN), True
    return column, False


def query(
    table: UserTable, spec: TableFilter, sort: AnyColumn | None = None, descending: bool = False
) -> Rows:
    """The table rows a page with filter `spec`, sorted by `sort`, shows, in the order it shows them."""
    if sort is None:
        return table.query(spec)
    by, reverse = sort_column(sort, table.policy)
    return table.query(spec, by, descending != reverse)
