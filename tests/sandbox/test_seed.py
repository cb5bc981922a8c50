"""Demo and bulk seeds: kinds, determinism, idempotence, timing (printed, not asserted)."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import pytest

from anonconsole.launcher.process import SandboxOptions
from anonconsole.sandbox import cli, db, seed
from anonconsole.sandbox.store import AUDIT_WINDOW_MS, Store, UserQuery

NOW = 1_764_000_000.0


def _store(path: Path) -> Store:
    return Store(db.connect(path), "P2Seed")


def _all(store: Store) -> list[dict[str, object]]:
    users, _ = store.search_users(UserQuery(with_test_user=True, limit=10_000))
    return users


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = _store(tmp_path_factory.mktemp("demo") / "d.db")
    started = time.perf_counter()
    seed.seed_demo(store, now=NOW)
    print(f"seed_demo: {time.perf_counter() - started:.1f} s")  # noqa: T201 - figure for the report
    return store


def test_demo_counts_per_kind(demo: Store) -> None:
    anon = demo.tenant_by_name(seed.ANON_TENANT)
    assert anon is not None
    total = sum(seed.DEMO_COUNTS.values())
    assert demo.user_count() == total
    in_anon = demo.search_users(UserQuery(tenant_ids=[anon["id"]]))[1]
    anonymous = sum(v for k, v in seed.DEMO_COUNTS.items() if k.startswith("anonymous"))
    attention = sum(v for k, v in seed.DEMO_COUNTS.items() if k.startswith("attention"))
    assert in_anon == anonymous + attention
    assert demo.search_users(UserQuery(test_users_only=True))[1] == seed.DEMO_COUNTS["test"]
    settings = demo.tenant_settings(anon["id"])
    assert settings is not None
    assert settings["enabled"] is True
    assert (settings["refreshTokenExpiration"], settings["refreshTokenExpirationUnit"]) == (52, "weeks")


def test_demo_has_every_age_and_conversions(demo: Store) -> None:
    anon = demo.tenant_by_name(seed.ANON_TENANT)["id"]  # type: ignore[index]
    users = _all(demo)
    members = [u for u in users if any(t["tenantId"] == anon for t in u["userTenants"])]  # type: ignore[union-attr]
    last = {h["userId"]: h["loginTime"] for h in demo.history([u["userId"] for u in members])}  # type: ignore[misc]
    ages = [(NOW - t) / seed.DAY for t in last.values()]
    lifetime = seed.ANON_LIFETIME / seed.DAY
    assert any(a < 2 for a in ages)
    assert any(lifetime - 30 < a < lifetime for a in ages)
    assert any(a > lifetime + 30 for a in ages)
    converted = [
        u
        for u in users
        if not u["userTenants"] and u["verifiedEmail"] and "@example." in str(u["email"]) and u["password"]
    ]
    assert len(converted) >= seed.DEMO_COUNTS["converted"] * 0.6
    statuses = {u["status"] for u in users}
    assert {"enabled", "disabled", "invited"} <= statuses


def test_demo_is_deterministic_and_idempotent(demo: Store, tmp_path: Path) -> None:
    other = _store(tmp_path / "again.db")
    seed.seed_demo(other, now=NOW)
    assert _all(other) == _all(demo)
    assert seed.seed_demo(other, now=NOW) == {}
    assert other.user_count() == demo.user_count()


def test_bulk_mix_and_timing(tmp_path: Path) -> None:
    store = _store(tmp_path / "bulk.db")
    started = time.perf_counter()
    counts = seed.seed_bulk(store, 20_000, now=NOW)
    print(f"seed_bulk(20000): {time.perf_counter() - started:.1f} s")  # noqa: T201 - figure for the report
    assert sum(counts.values()) == store.user_count() == 20_000
    assert counts["anonymous"] > counts["regular"] > counts["attention"]
    anon = store.tenant_by_name(seed.ANON_TENANT)["id"]  # type: ignore[index]
    started = time.perf_counter()
    page, total = store.search_users(UserQuery(tenant_ids=[anon], limit=1000, page=3))
    print(f"1000-user page: {(time.perf_counter() - started) * 1000:.0f} ms")  # noqa: T201
    assert len(page) == 1000
    assert total == counts["anonymous"] + counts["attention"]
    assert not store.check_password(page[0]["userId"], seed.DEFAULT_ANON_PASSWORD)
    assert seed.seed_bulk(store, 10, now=NOW) == {}


def test_bulk_sign_ins_of_the_last_month_are_audited(tmp_path: Path) -> None:
    """Each bulk sign-in inside the audit window has the LoginSucceed record a real sign-in writes."""
    store = Store(db.connect(tmp_path / "audit.db"), "P2Seed", clock=lambda: NOW)
    seed.seed_bulk(store, 5000, now=NOW)
    window_start = NOW - AUDIT_WINDOW_MS / 1000
    audits: list[dict[str, Any]] = []
    for page in itertools.count():
        batch = store.search_audit(actions=["LoginSucceed"], limit=1000, page=page)
        audits.extend(batch)
        if len(batch) < 1000:
            break
    users = {u["userId"]: u for u in _all(store)}
    recent = [h for h in store.history(list(users)) if h["loginTime"] >= window_start]
    assert len(recent) > 100
    expected = sorted((h["userId"], h["loginTime"], h["ip"], h["country"]) for h in recent)
    got = sorted((a["userId"], int(a["occurred"]) // 1000, a["remoteAddress"], a["geo"]) for a in audits)
    assert got == expected
    for audit in audits[:200]:
        user = users[audit["userId"]]
        assert audit["externalIds"] == user["loginIds"] == [audit["actorId"]]
        assert audit["tenants"] == [t["tenantId"] for t in user["userTenants"]]
        assert audit["method"] == ("password" if user["userTenants"] else "otp")
    assert all(h["city"] and h["ip"] for h in recent)


def _dump(store: Store) -> list[list[tuple[Any, ...]]]:
    """Every row the bulk seed writes, table by table (row ids included)."""
    return [
        [tuple(row) for row in store.conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2")]
        for table in ("users", "login_ids", "user_tenants", "tenants", "history", "audit")
    ]


def _indexes(store: Store) -> dict[str, str]:
    return dict(store.conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'").fetchall())


def test_bulk_is_deterministic_and_keeps_every_index(tmp_path: Path) -> None:
    """Same N, same data; the indexes dropped while rows go in are all there again after."""
    first, second = _store(tmp_path / "one.db"), _store(tmp_path / "two.db")
    indexes = _indexes(first)
    synchronous = first.conn.execute("PRAGMA synchronous").fetchone()[0]
    assert seed.seed_bulk(first, 3000, now=NOW) == seed.seed_bulk(second, 3000, now=NOW)
    assert _dump(first) == _dump(second)
    assert _indexes(first) == indexes
    assert first.conn.execute("PRAGMA synchronous").fetchone()[0] == synchronous
    assert first.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    other = _store(tmp_path / "other.db")
    seed.seed_bulk(other, 2999, now=NOW)
    assert _dump(other)[0][:10] != _dump(first)[0][:10]  # another N, other users


def test_bulk_users_are_in_creation_order_and_read_back_as_written(tmp_path: Path) -> None:
    store = _store(tmp_path / "order.db")
    seed.seed_bulk(store, 2000, now=NOW)
    created = [row[0] for row in store.conn.execute("SELECT created_ms FROM users ORDER BY seq")]
    assert created == sorted(created)
    users = {u["userId"]: u for u in _all(store)}
    assert len(users) == 2000
    anon = store.tenant_by_name(seed.ANON_TENANT)["id"]  # type: ignore[index]
    for user in list(users.values())[:300]:
        assert store.login_id_owner(user["loginIds"][0]) == user["userId"]
        if user["userTenants"]:
            assert [t["tenantId"] for t in user["userTenants"]] == [anon]
            assert user["email"] == user["loginIds"][0]
            assert not user["verifiedEmail"]
        else:
            assert user["verifiedEmail"]
            assert user["name"] == f"{user['givenName']} {user['familyName']}"


def _last_active(store: Store) -> dict[str, float]:
    """Per user of the anonymous tenant, enabled and without a verified address: its last sign-in."""
    rows = store.conn.execute(
        "SELECT u.id, max(h.login_time) FROM users u JOIN history h ON h.user_id = u.id"
        " WHERE u.tenant_key != '' AND u.status = 'enabled' AND u.verified_email = 0 GROUP BY u.id"
    )
    return {row[0]: float(row[1]) for row in rows}


def test_expired_share_gives_exactly_that_many_expired_anonymous_users(tmp_path: Path) -> None:
    store = _store(tmp_path / "expired.db")
    counts = seed.seed_bulk(store, 2000, now=NOW, expired_share=0.5)
    assert counts["anonymous_expired"] == 1000
    assert sum(counts.values()) == store.user_count() == 2000
    assert counts["anonymous"] > counts["regular"] > counts["attention"] > 0
    last = _last_active(store)
    assert len(last) == counts["anonymous"] + counts["anonymous_expired"]
    cutoff = NOW - seed.ANON_LIFETIME - seed.EXPIRED_SINCE_DAYS[0] * seed.DAY
    expired = [t for t in last.values() if t < NOW - seed.ANON_LIFETIME]
    assert len(expired) == 1000
    assert all(t <= cutoff for t in expired)  # still expired with a grace of up to 30 days


def test_the_usual_mix_has_about_a_third_of_anonymous_users_expired(tmp_path: Path) -> None:
    store = _store(tmp_path / "mix.db")
    counts = seed.seed_bulk(store, 4000, now=NOW)
    assert "anonymous_expired" not in counts
    last = _last_active(store)
    share = sum(t < NOW - seed.ANON_LIFETIME for t in last.values()) / len(last)
    assert 0.25 < share < 0.36  # 0.307 before the seed drew columns at a time (200,000 users)


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_a_share_outside_0_to_1_is_refused(tmp_path: Path, share: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        seed.seed_bulk(_store(tmp_path / "bad.db"), 10, now=NOW, expired_share=share)


def test_expired_share_needs_users(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["serve", "--expired-share", "0.5"])
    assert exited.value.code == 2
    assert "give --users N with it" in capsys.readouterr().err


def test_the_launcher_passes_the_share_on(tmp_path: Path) -> None:
    argv = SandboxOptions(db=tmp_path / "s.db", users=200, expired_share=0.5).argv(tmp_path / "ready")
    at = argv.index("--users")
    assert argv[at : at + 4] == ["--users", "200", "--expired-share", "0.5"]
    assert "--expired-share" not in SandboxOptions(db=tmp_path / "s.db", users=200).argv(tmp_path / "ready")
