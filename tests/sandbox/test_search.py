"""Store user search at scale: every page of the common queries against a Python oracle, the index plans
that keep first pages fast, the schema-1 migration, and first-page timings (printed, not asserted).

Set ANONCONSOLE_SEARCH_USERS=200000 to print the timings at the console's target scale.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from anonconsole.sandbox import db, errors, seed, store
from anonconsole.sandbox.store import Store, UserQuery, search

NOW = 1_764_000_000.0
CUT_MS = int((NOW - 300 * seed.DAY) * 1000)


@dataclass
class Row:
    """What the oracle needs of a user: the API user plus its row id and created time in ms."""

    user: dict[str, Any]
    seq: int
    created_ms: int

    @property
    def haystack(self) -> str:
        u = self.user
        return "\n".join(
            p for p in [*u["loginIds"], u["name"], u["email"], u["phone"], u["userId"]] if p
        ).lower()


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """3,000 bulk users plus test users, a second tenant, users in two tenants, mixed-case names."""
    s = Store(db.connect(tmp_path_factory.mktemp("search") / "s.db"), "P2Search")
    seed.seed_bulk(s, 3000, now=NOW)
    anon = s.tenant_by_name(seed.ANON_TENANT)["id"]  # type: ignore[index]
    acme = s.tenant_by_name(seed.ACME_TENANT)["id"]  # type: ignore[index]
    users, _ = s.search_users(UserQuery(limit=1000))
    for i, user in enumerate(users[:300]):
        tenants = [(acme, ["Acme Admin"])] if i % 3 else [(anon, []), (acme, [])]
        s.update_user(user["userId"], {"user_tenants": tenants, "name": ["zed", "Zed", "ADA", "ada"][i % 4]})
    for i in range(6):
        s.create_user(
            f"tester{i}@example.com", test=True, status="enabled", user_tenants=[(anon, [])], at=NOW
        )
    return s


def _rows(s: Store) -> list[Row]:
    users, _ = s.search_users(UserQuery(with_test_user=True, limit=1000))
    everyone = [*users]
    page = 1
    while len(everyone) < s.user_count():
        more, _ = s.search_users(UserQuery(with_test_user=True, limit=1000, page=page))
        everyone.extend(more)
        page += 1
    meta = {r[0]: (r[1], r[2]) for r in s.conn.execute("SELECT id, seq, created_ms FROM users")}
    return [Row(u, *meta[u["userId"]]) for u in everyone]


def _oracle(rows: list[Row], q: UserQuery) -> list[str]:
    """User ids matching q, in q's order, computed without SQL."""

    def keep(r: Row) -> bool:
        u = r.user
        tenants = {t["tenantId"] for t in u["userTenants"]}
        return (
            (u["test"] if q.test_users_only else (q.with_test_user or not u["test"]))
            and (not q.tenant_ids or bool(tenants & set(q.tenant_ids)))
            and (not q.statuses or u["status"] in q.statuses)
            and (not q.text or q.text.lower() in r.haystack)
            and (q.from_created_ms is None or r.created_ms >= q.from_created_ms)
            and (q.to_created_ms is None or r.created_ms <= q.to_created_ms)
        )

    (field, desc), *_ = list(q.sort) or [("createdTime", False)]
    key = (
        (lambda r: (r.user["name"].lower(), r.seq)) if field == "name" else (lambda r: (r.created_ms, r.seq))
    )
    return [r.user["userId"] for r in sorted(filter(keep, rows), key=key, reverse=desc)]


def _paged(s: Store, q: UserQuery) -> Iterator[tuple[list[str], int]]:
    page = 0
    while True:
        users, total = s.search_users(replace(q, page=page))
        yield [u["userId"] for u in users], total
        if len(users) < q.limit:
            return
        page += 1


def _queries(anon: str, acme: str) -> dict[str, UserQuery]:
    return {
        "none": UserQuery(),
        "with test users": UserQuery(with_test_user=True),
        "test users only": UserQuery(test_users_only=True, with_test_user=True),
        "anonymous tenant": UserQuery(tenant_ids=[anon]),
        "anonymous tenant + test users": UserQuery(tenant_ids=[anon], with_test_user=True),
        "two tenants": UserQuery(tenant_ids=[anon, acme]),
        "second tenant by name desc": UserQuery(tenant_ids=[acme], sort=[("name", True)]),
        "cull": UserQuery(tenant_ids=[anon], to_created_ms=CUT_MS),
        "created window": UserQuery(from_created_ms=CUT_MS - 86_400_000 * 90, to_created_ms=CUT_MS),
        "disabled": UserQuery(statuses=["disabled"]),
        "enabled or invited by name": UserQuery(statuses=["enabled", "invited"], sort=[("name", False)]),
        "newest first": UserQuery(sort=[("createdTime", True)]),
        "name": UserQuery(sort=[("name", False)]),
        "name desc": UserQuery(sort=[("name", True)]),
        "text": UserQuery(text="Ab"),
        "text by name": UserQuery(text="EXAMPLE", sort=[("name", False)]),
        "text in tenant, newest": UserQuery(text="a", tenant_ids=[anon], sort=[("createdTime", True)]),
        "no match": UserQuery(text="no such user anywhere"),
    }


@pytest.mark.parametrize("direct_rows", [40, search.DIRECT_ROWS])
@pytest.mark.parametrize("limit", [37, 1000])
def test_every_page_matches_the_oracle(
    populated: Store, limit: int, direct_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Direct index pages and cached ordered lists give the oracle's order; totals are exact."""
    monkeypatch.setattr(search, "DIRECT_ROWS", direct_rows)
    rows = _rows(populated)
    anon = populated.tenant_by_name(seed.ANON_TENANT)["id"]  # type: ignore[index]
    acme = populated.tenant_by_name(seed.ACME_TENANT)["id"]  # type: ignore[index]
    for name, q in _queries(anon, acme).items():
        expected = _oracle(rows, q)
        q = replace(q, limit=limit)
        pages = list(_paged(populated, q))
        got = [uid for ids, _ in pages for uid in ids]
        assert got == expected, name
        assert {total for _, total in pages} == {len(expected)}, name


def test_a_write_is_seen_by_the_next_search(populated: Store) -> None:
    anon = populated.tenant_by_name(seed.ANON_TENANT)["id"]  # type: ignore[index]
    q = UserQuery(tenant_ids=[anon], limit=50)
    first, total = populated.search_users(q)
    populated.search_users(replace(q, page=3))
    populated.update_user(first[0]["userId"], {"user_tenants": []})
    after, new_total = populated.search_users(q)
    deeper, _ = populated.search_users(replace(q, page=3))
    assert new_total == total - 1
    assert first[0]["userId"] not in [u["userId"] for u in after + deeper]
    populated.update_user(first[0]["userId"], {"user_tenants": [(anon, [])]})
    assert populated.search_users(q)[1] == total


def test_common_first_pages_walk_an_index_without_sorting(populated: Store) -> None:
    """No temporary sort and no table scan: the walk stops after one page whatever the scale."""
    anon = populated.tenant_by_name(seed.ANON_TENANT)["id"]  # type: ignore[index]
    acme = populated.tenant_by_name(seed.ACME_TENANT)["id"]  # type: ignore[index]
    for name, q in _queries(anon, acme).items():
        if q.test_users_only:
            continue
        plan = " | ".join(populated.search_plan(q))
        assert "TEMP B-TREE" not in plan, (name, plan)
        assert "COVERING INDEX users_by_" in plan, (name, plan)


def test_tenant_ids_with_control_characters_are_refused(populated: Store) -> None:
    with pytest.raises(errors.DescopeError):
        populated.create_tenant("Odd", tenant_id="T\x1fodd")


def test_unknown_status_is_refused(populated: Store) -> None:
    with pytest.raises(ValueError, match="status"):
        populated.create_user("odd-status@example.com", status="sleeping")


def test_schema_1_database_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    s = Store(db.connect(path), "P2Old")
    tenant = s.create_tenant("Old tenant")["id"]
    user = s.create_user("old@example.com", user_tenants=[(tenant, [])])
    for index in ("users_by_created", "users_by_name", "users_filter"):
        s.conn.execute(f"DROP INDEX {index}")
    s.conn.execute("ALTER TABLE users DROP COLUMN tenant_key")
    s.conn.execute("CREATE INDEX users_test_created ON users(test, created_ms)")
    s.meta_set("schema_version", "1")
    s.conn.close()

    migrated = Store(db.connect(path), "P2Old")
    assert migrated.meta_get("schema_version") == store.SCHEMA_VERSION
    users, total = migrated.search_users(UserQuery(tenant_ids=[tenant]))
    assert (total, [u["userId"] for u in users]) == (1, [user["userId"]])
    indexes = {r[0] for r in migrated.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"users_by_created", "users_by_name", "users_filter"} <= indexes
    assert "users_test_created" not in indexes


def _timed_ms(s: Store, q: UserQuery) -> float:
    """Median of three cold first pages (query caches dropped each time)."""
    times = []
    for _ in range(3):
        s._ordered._items.clear()
        s._totals._items.clear()
        started = time.perf_counter()
        s.search_users(q)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


@pytest.mark.slow
def test_first_page_timings_printed(tmp_path: Path) -> None:
    """Prints first-page times of the console's common searches (figures for the report)."""
    n = int(os.environ.get("ANONCONSOLE_SEARCH_USERS", "20000"))
    s = Store(db.connect(tmp_path / "timing.db"), "P2Timing")
    seed.seed_bulk(s, n, now=NOW)
    anon = s.tenant_by_name(seed.ANON_TENANT)["id"]  # type: ignore[index]
    acme = s.tenant_by_name(seed.ACME_TENANT)["id"]  # type: ignore[index]
    print(f"\nfirst page at {n:,} users (median of 3, ms):")  # noqa: T201 - figures for the report
    for name, q in _queries(anon, acme).items():
        for limit in (100, 1000):
            ms = _timed_ms(s, replace(q, limit=limit))
            print(f"  {name:32s} limit {limit:>4}: {ms:7.1f}")  # noqa: T201
    assert s.user_count() == n
