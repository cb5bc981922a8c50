"""User search at 200,000+ users: filters as SQL, the index each query walks, and the caches of pages."""

from __future__ import annotations

import json
import sqlite3
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from typing import Any

from anonconsole.sandbox.store.base import marks
from anonconsole.sandbox.store.users import USER_STATUSES, UserStore, tenant_needle

# API sort field -> the search index ordered by it; other sorts filter through users_by_created.
SORT_INDEXES = {"createdTime": "users_by_created", "name": "users_by_name"}
FILTER_INDEX = "users_filter"
DEFAULT_SORT = ("createdTime", False)
# Pages starting within this many matches are read straight off the index (LIMIT/OFFSET).
DIRECT_ROWS = 10_000
# Filters the search indexes carry; any other filter reads table rows and lets SQLite pick an index.
INDEXED_FILTERS = frozenset({"tenant_ids", "statuses", "text", "from_created_ms", "to_created_ms"})

# API sort field -> SQL expression (collation makes text sorts case-insensitive, as a console expects).
SORT_FIELDS = {
    "createdTime": "created_ms",
    "modifiedTime": "modified_ms",
    "name": "name COLLATE NOCASE",
    "givenName": "given_name COLLATE NOCASE",
    "familyName": "family_name COLLATE NOCASE",
    "email": "email COLLATE NOCASE",
    "phone": "phone",
    "status": "status",
    "loginId": "login_id COLLATE NOCASE",
    "userId": "id",
    "verifiedEmail": "verified_email",
    "verifiedPhone": "verified_phone",
    "test": "test",
}


@dataclass
class UserQuery:
    """Every user-search filter of descope-api.md §4, already validated by the route."""

    tenant_ids: Sequence[str] = ()
    role_names: Sequence[str] = ()
    statuses: Sequence[str] = ()
    text: str = ""
    login_ids: Sequence[str] = ()
    user_ids: Sequence[str] = ()
    emails: Sequence[str] = ()
    phones: Sequence[str] = ()
    sso_app_ids: Sequence[str] = ()
    custom_attributes: dict[str, Any] = field(default_factory=dict)
    tenant_role_names: dict[str, tuple[list[str], bool]] = field(default_factory=dict)
    from_created_ms: int | None = None
    to_created_ms: int | None = None
    from_modified_ms: int | None = None
    to_modified_ms: int | None = None
    test_users_only: bool = False
    with_test_user: bool = False
    sort: Sequence[tuple[str, bool]] = ()
    page: int = 0
    limit: int = 100


def _where(q: UserQuery) -> tuple[str, list[Any]]:
    """SQL WHERE clause and parameters for a user query (test users excluded unless asked)."""
    clauses: list[str] = []
    params: list[Any] = []

    def add(clause: str, *values: Any) -> None:
        clauses.append(clause)
        params.extend(values)

    if q.test_users_only:
        add("test = 1")
    elif not q.with_test_user:
        add("test = 0")
    if q.tenant_ids:
        add(
            "(" + " OR ".join(["instr(tenant_key, ?) > 0"] * len(q.tenant_ids)) + ")",
            *(tenant_needle(t) for t in q.tenant_ids),
        )
    if q.role_names:
        roles = marks(q.role_names)
        add(
            f"(EXISTS (SELECT 1 FROM json_each(users.role_names) WHERE value IN ({roles})) OR seq IN "
            "(SELECT ut.user_seq FROM user_tenants ut, json_each(ut.role_names) r "
            f"WHERE r.value IN ({roles})))",
            *q.role_names,
            *q.role_names,
        )
    for tenant_id, (names, all_of) in q.tenant_role_names.items():
        matches = "(SELECT count(DISTINCT r.value) FROM json_each(ut.role_names) r "
        matches += f"WHERE r.value IN ({marks(names)}))"
        need = len(set(names)) if all_of else 1
        add(
            f"seq IN (SELECT ut.user_seq FROM user_tenants ut WHERE ut.tenant_id = ? AND {matches} >= ?)",
            tenant_id,
            *names,
            need,
        )
    if q.statuses:
        add(f"status IN ({marks(q.statuses)})", *q.statuses)
    if q.text:
        add("instr(search_text, ?) > 0", q.text.lower())
    if q.login_ids:
        add(f"seq IN (SELECT user_seq FROM login_ids WHERE login_id IN ({marks(q.login_ids)}))", *q.login_ids)
    if q.user_ids:
        add(f"id IN ({marks(q.user_ids)})", *q.user_ids)
    if q.emails:
        add(f"email COLLATE NOCASE IN ({marks(q.emails)})", *q.emails)
    if q.phones:
        add(f"phone IN ({marks(q.phones)})", *q.phones)
    if q.sso_app_ids:
        add(
            f"EXISTS (SELECT 1 FROM json_each(users.sso_app_ids) WHERE value IN ({marks(q.sso_app_ids)}))",
            *q.sso_app_ids,
        )
    for name, wanted in q.custom_attributes.items():
        values = wanted if isinstance(wanted, list) else [wanted]
        encoded = [json.dumps(v) for v in values]
        add(
            f"(custom_attributes -> ?) IN ({marks(encoded)})",
            "$." + json.dumps(name),
            *encoded,
        )
    for column, bound, op in (
        ("created_ms", q.from_created_ms, ">="),
        ("created_ms", q.to_created_ms, "<="),
        ("modified_ms", q.from_modified_ms, ">="),
        ("modified_ms", q.to_modified_ms, "<="),
    ):
        if bound is not None:
            add(f"{column} {op} ?", bound)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _order_by(sort: Sequence[tuple[str, bool]]) -> str:
    """ORDER BY for the requested sort, always ending in `seq` so paging is stable.

    Ties break in the direction of the first sort term, which is the order a search index walked
    backwards yields (no sort step for a descending sort).
    """
    sort = list(sort) or [DEFAULT_SORT]
    terms = [f"{SORT_FIELDS[name]} {'DESC' if desc else 'ASC'}" for name, desc in sort]
    terms.append(f"seq {'DESC' if sort[0][1] else 'ASC'}")
    return " ORDER BY " + ", ".join(terms)


_NOT_FILTERS = frozenset({"test_users_only", "with_test_user", "sort", "page", "limit"})


def active_filters(q: UserQuery) -> set[str]:
    """Names of the UserQuery filters in use (the test-user flags, sort and paging excluded)."""
    return {
        f.name
        for f in dataclass_fields(q)
        if f.name not in _NOT_FILTERS and getattr(q, f.name) not in (None, "", (), [], {})
    }


def _index_hint(q: UserQuery, *, ordered: bool) -> str:
    """INDEXED BY for a search (`ordered`) or its count (never with a text filter).

    A filter the search indexes lack: no hint (SQLite picks, e.g. the email or id index). Counts and
    test-user searches (a few rows, sorted after): the filter index. Else the sort's search index.
    """
    if not active_filters(q) <= INDEXED_FILTERS:
        return ""
    if q.test_users_only or not ordered:
        return f" INDEXED BY {FILTER_INDEX}"
    first = (list(q.sort) or [DEFAULT_SORT])[0][0]
    return f" INDEXED BY {SORT_INDEXES.get(first, SORT_INDEXES['createdTime'])}"


def _ordered_sql(q: UserQuery) -> tuple[str, list[Any]]:
    """SELECT of the row ids of every match, in the requested order, and its parameters."""
    where, params = _where(q)
    return f"SELECT seq FROM users{_index_hint(q, ordered=True)}{where}{_order_by(q.sort)}", params


class WriteScopedCache:
    """A few query results, valid until the next write through the connection.

    `total_changes` moves on every write through this connection (the sandbox's only writer), so a
    stale entry is never served.
    """

    def __init__(self, conn: sqlite3.Connection, size: int = 8) -> None:
        self._conn = conn
        self._size = size
        self._changes = -1
        self._items: dict[Any, Any] = {}

    def _sync(self) -> None:
        if self._conn.total_changes != self._changes:
            self._items.clear()
            self._changes = self._conn.total_changes

    def get(self, key: Any) -> Any:
        self._sync()
        return self._items.get(key)

    def put(self, key: Any, value: Any) -> None:
        self._sync()
        if len(self._items) >= self._size:
            self._items.pop(next(iter(self._items)))
        self._items[key] = value


class SearchStore(UserStore):
    """User search (descope-api.md §4) over the users' covering indexes."""

    _ordered: WriteScopedCache
    _totals: WriteScopedCache

    def search_users(self, q: UserQuery) -> tuple[list[dict[str, Any]], int]:
        """One page of matching users (stable order) and the exact number of matches.

        A page within the first DIRECT_ROWS matches walks the search index and stops after the page;
        its total is a count (cached), unless the page came out short, which gives the total. A deeper
        page, or any page of a free-text search (a scan either way), slices the ordered list of all
        matches, computed in one walk and cached: paging a console through 200,000 users asks the same
        query 200 times. Caches last until the next write.
        """
        sql, params = _ordered_sql(q)
        key = (sql, json.dumps(params))
        start = q.page * q.limit
        ordered = self._ordered.get(key)
        if ordered is None and start < DIRECT_ROWS and not q.text:
            seqs = self._column(f"{sql} LIMIT ? OFFSET ?", [*params, q.limit, start])
            short = len(seqs) < q.limit and (seqs or not start)
            total = start + len(seqs) if short else self._total(q, key)
            return self._users_in_order(seqs), total
        if ordered is None:
            ordered = array("q", self._column(sql, params))
            self._ordered.put(key, ordered)
        return self._users_in_order(ordered[start : start + q.limit].tolist()), len(ordered)

    def search_plan(self, q: UserQuery) -> list[str]:
        """SQLite's plan for the ordered walk of a search (EXPLAIN QUERY PLAN details): for checks."""
        sql, params = _ordered_sql(q)
        return [row[3] for row in self.conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]

    def _column(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """First column of every row (plain tuples: much cheaper than sqlite3.Row for long results)."""
        cursor = self.conn.cursor()
        cursor.row_factory = None
        return [row[0] for row in cursor.execute(sql, params)]

    def _users_in_order(self, seqs: list[int]) -> list[dict[str, Any]]:
        rows = {
            r["seq"]: r for r in self.conn.execute(f"SELECT * FROM users WHERE seq IN ({marks(seqs)})", seqs)
        }
        return self._rows_to_users(rows[s] for s in seqs if s in rows)

    def _total(self, q: UserQuery, key: Any) -> int:
        total = self._totals.get(key)
        if total is None:
            total = self._count(q)
            self._totals.put(key, total)
        return int(total)

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self.conn.execute(sql, params).fetchone()[0])

    def _count(self, q: UserQuery) -> int:
        """Matches of a query. No filter, or one tenant only: b-tree counts minus the few test users."""
        active = active_filters(q)
        tenant = q.tenant_ids[0] if active == {"tenant_ids"} and len(q.tenant_ids) == 1 else None
        if active and tenant is None:
            if active & {"from_created_ms", "to_created_ms"} and not q.statuses:
                # Every status spelled out lets the filter index seek the created-time range per status.
                q = replace(q, statuses=USER_STATUSES)
            where, params = _where(q)
            return self._scalar(f"SELECT count(*) FROM users{_index_hint(q, ordered=False)}{where}", params)
        in_tenant = " AND instr(tenant_key, ?) > 0" if tenant else ""
        needle = [tenant_needle(tenant)] if tenant else []
        tests = self._scalar(
            f"SELECT count(*) FROM users INDEXED BY {FILTER_INDEX} WHERE test = 1{in_tenant}", needle
        )
        if q.test_users_only:
            return tests
        if tenant:
            everyone = self._scalar("SELECT count(*) FROM user_tenants WHERE tenant_id = ?", [tenant])
        else:
            everyone = self.user_count()
        return everyone if q.with_test_user else everyone - tests
