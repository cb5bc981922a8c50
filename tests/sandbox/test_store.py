"""Unit tests of the sandbox store on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from anonconsole.sandbox import db, passwords
from anonconsole.sandbox.context import DEFAULT_REFRESH_SECONDS, DEFAULT_SESSION_SECONDS
from anonconsole.sandbox.errors import DescopeError
from anonconsole.sandbox.store import Store, UserQuery

NOW = 1_760_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(db.connect(tmp_path / "s.db"), "P2Test", clock=lambda: NOW)


def test_create_user_is_api_shaped_with_defaults(store: Store) -> None:
    user = store.create_user("x@example.com")
    assert user["userId"].startswith("U")
    assert len(user["userId"]) == 28
    assert user["status"] == "invited"
    assert user["loginIds"] == user["externalIds"] == ["x@example.com"]
    assert user["createdTime"] == int(NOW)
    for key, default in (("TOTP", False), ("OAuth", {}), ("customAttributes", {}), ("password", False)):
        assert user[key] == default
    assert store.user_by_login_id("X@EXAMPLE.COM") == user
    assert store.user_by_id(user["userId"]) == user


def test_duplicate_login_id_is_refused(store: Store) -> None:
    store.create_user("dup")
    with pytest.raises(DescopeError) as err:
        store.create_user("DUP")
    assert err.value.code == "E062107"


def test_state_survives_reopening(tmp_path: Path) -> None:
    first = Store(db.connect(tmp_path / "p.db"), "P")
    user = first.create_user("keep@example.com")
    first.conn.close()
    again = Store(db.connect(tmp_path / "p.db"), "P")
    assert again.user_by_id(user["userId"]) == user


def test_passwords_are_hashed_and_states_tracked(store: Store) -> None:
    user = store.create_user("p", password="Secret123")
    uid = user["userId"]
    row = store.conn.execute("SELECT password_hash FROM users WHERE id = ?", (uid,)).fetchone()
    assert "Secret123" not in row[0]
    assert store.check_password(uid, "Secret123")
    assert not store.check_password(uid, "secret123")
    assert store.password_state(uid) == "active"
    store.set_password(uid, "Other123", state="temporary")
    assert store.password_state(uid) == "temporary"
    assert store.check_password(uid, "Other123")
    store.expire_password(uid)
    assert store.password_state(uid) == "expired"


def test_unusable_password_never_verifies(store: Store) -> None:
    uid = store.create_user("u", password_hash=passwords.UNUSABLE)["userId"]
    assert store.password_state(uid) == "active"
    assert not store.check_password(uid, "")
    assert not store.check_password(uid, passwords.UNUSABLE)


@pytest.mark.parametrize(
    ("password", "ok"),
    [("Abcdefg1", True), ("abcdefg1", False), ("ABCDEFG1", False), ("Abcdefgh", False), ("Ab1", False)],
)
def test_password_policy(password: str, ok: bool) -> None:
    assert (passwords.policy_violations(password) == []) is ok


def test_record_sign_in_first_time_history_audit_and_status(store: Store) -> None:
    uid = store.create_user("s")["userId"]
    assert store.record_sign_in(uid, method="password", ip="10.0.0.1", at=NOW - 60) is True
    assert store.user_by_id(uid)["status"] == "enabled"
    assert store.record_sign_in(uid, method="password", at=NOW) is False
    history = store.history([uid])
    assert [h["loginTime"] for h in history] == [int(NOW - 60), int(NOW)]
    assert history[0]["ip"] == "10.0.0.1"
    audits = store.search_audit(actions=["LoginSucceed"])
    assert len(audits) == 2
    assert audits[0]["occurred"] == str(int(NOW * 1000))


def test_disabled_user_stays_disabled_after_sign_in(store: Store) -> None:
    uid = store.create_user("d", status="disabled")["userId"]
    store.record_sign_in(uid, method="password")
    assert store.user_by_id(uid)["status"] == "disabled"


def _enable(store: Store, tenant_id: str, session: tuple[int, str], refresh: tuple[int, str]) -> None:
    settings = store.tenant_settings(tenant_id) or {}
    settings.update(
        enabled=True,
        sessionTokenExpiration=session[0],
        sessionTokenExpirationUnit=session[1],
        refreshTokenExpiration=refresh[0],
        refreshTokenExpirationUnit=refresh[1],
    )
    store.set_tenant_settings(tenant_id, settings, {})


def test_session_settings_defaults_tenant_and_stricter_wins(store: Store) -> None:
    anon = store.create_tenant("Anonymous Users")["id"]
    other = store.create_tenant("Other")["id"]
    plain = store.create_tenant("Plain")["id"]
    uid = store.create_user("t", user_tenants=[(plain, [])])["userId"]
    assert store.session_settings_for(uid) == (DEFAULT_SESSION_SECONDS, DEFAULT_REFRESH_SECONDS)
    _enable(store, anon, (10, "minutes"), (52, "weeks"))
    store.update_user(uid, {"user_tenants": [(anon, [])]})
    assert store.session_settings_for(uid) == (600, 52 * 7 * 86400)
    _enable(store, other, (1, "hours"), (2, "days"))
    store.update_user(uid, {"user_tenants": [(anon, []), (other, [])]})
    assert store.session_settings_for(uid) == (600, 2 * 86400)


def test_otp_single_use_and_expiry(store: Store) -> None:
    code = store.create_otp("a@example.com", "email", at=NOW)
    assert len(code) == 6
    assert code.isdigit()
    assert not store.consume_otp("a@example.com", "sms", code, at=NOW)
    assert not store.consume_otp("a@example.com", "email", "000000" if code != "000000" else "111111", at=NOW)
    assert store.consume_otp("a@example.com", "email", code, at=NOW + 10)
    assert not store.consume_otp("a@example.com", "email", code, at=NOW + 10)
    late = store.create_otp("a@example.com", "email", at=NOW)
    assert not store.consume_otp("a@example.com", "email", late, at=NOW + 301)


def test_outbox_newest_first_filter_and_clear(store: Store) -> None:
    store.add_outbox("email", "a@x", login_id="a", subject="s1", body="b", code="1")
    store.add_outbox("sms", "+1", login_id="b", subject="s2", body="b")
    assert [m["subject"] for m in store.list_outbox()] == ["s2", "s1"]
    assert [m["to"] for m in store.list_outbox(login_id="a")] == ["a@x"]
    store.clear_outbox()
    assert store.list_outbox() == []


def test_session_revocation_and_tokens(store: Store) -> None:
    uid = store.create_user("r")["userId"]
    assert store.sessions_valid_after(uid) == 0
    store.revoke_sessions(uid, at=NOW)
    assert store.sessions_valid_after(uid) == NOW
    store.revoke_token("jti-1", NOW + 100)
    assert store.is_token_revoked("jti-1")
    assert not store.is_token_revoked("jti-2")


def test_meta(store: Store) -> None:
    assert store.meta_get("k") is None
    store.meta_set("k", "v")
    assert store.meta_get("k") == "v"


def test_contact_replace_moves_login_id(store: Store) -> None:
    uid = store.create_user("h89asdf@0ahsd8f.com", email="h89asdf@0ahsd8f.com")["userId"]
    user = store.set_contact(uid, "email", "real@example.com", verified=True, login_id_mode="replace")
    assert user["loginIds"] == ["real@example.com"]
    assert user["verifiedEmail"] is True
    assert store.user_by_login_id("h89asdf@0ahsd8f.com") is None
    user = store.set_contact(uid, "phone", "+15550100", verified=False, login_id_mode="none")
    assert user["loginIds"] == ["real@example.com"]
    assert user["verifiedPhone"] is False


def test_search_filters_paging_sort_total(store: Store) -> None:
    tenant = store.create_tenant("T")["id"]
    ids = []
    for i in range(30):
        ids.append(
            store.create_user(
                f"user{i:02d}@example.com",
                name=f"Name {29 - i:02d}",
                status="disabled" if i % 3 == 0 else "enabled",
                user_tenants=[(tenant, ["viewer"])] if i < 10 else [],
                role_names=["admin"] if i == 5 else [],
                custom_attributes={"plan": "pro" if i % 2 else "free"},
                at=NOW + i,
            )["userId"]
        )
    store.create_user("tester", test=True)
    users, total = store.search_users(UserQuery(limit=7, page=1))
    assert total == 30
    assert [u["userId"] for u in users] == ids[7:14]
    assert store.search_users(UserQuery(tenant_ids=[tenant], limit=100))[1] == 10
    assert store.search_users(UserQuery(statuses=["disabled"], limit=100))[1] == 10
    assert store.search_users(UserQuery(role_names=["admin"]))[0][0]["userId"] == ids[5]
    assert store.search_users(UserQuery(role_names=["viewer"]))[1] == 10
    assert store.search_users(UserQuery(custom_attributes={"plan": "pro"}))[1] == 15
    assert store.search_users(UserQuery(text="USER1"))[1] == 10
    assert store.search_users(UserQuery(from_created_ms=int((NOW + 25) * 1000)))[1] == 5
    assert store.search_users(UserQuery(test_users_only=True))[1] == 1
    assert store.search_users(UserQuery(with_test_user=True))[1] == 31
    by_name = store.search_users(UserQuery(sort=[("name", False)], limit=3))[0]
    assert [u["name"] for u in by_name] == ["Name 00", "Name 01", "Name 02"]
    trole = {tenant: (["viewer", "editor"], True)}
    assert store.search_users(UserQuery(tenant_role_names=trole))[1] == 0


def test_delete_tenant_cascade_only_removes_exclusive_members(store: Store) -> None:
    a = store.create_tenant("A")["id"]
    b = store.create_tenant("B")["id"]
    only_a = store.create_user("only-a", user_tenants=[(a, [])])["userId"]
    both = store.create_user("both", user_tenants=[(a, []), (b, [])])["userId"]
    assert store.delete_tenant(a, cascade=True) == [only_a]
    assert store.user_by_id(only_a) is None
    assert [t["tenantId"] for t in store.user_by_id(both)["userTenants"]] == [b]


def test_bulk_insert_and_delete(store: Store) -> None:
    tenant = store.create_tenant("Anon")["id"]
    store.bulk_insert_users(
        [
            {"id": f"U{i:027d}", "login_ids": [f"bulk{i}"], "user_tenants": [(tenant, [])], "created_ms": i}
            for i in range(100)
        ]
    )
    assert store.user_count() == 100
    assert store.user_by_login_id("bulk7")["userTenants"][0]["tenantName"] == "Anon"
    assert store.delete_users([f"U{i:027d}" for i in range(50)]) == 50
    assert store.search_users(UserQuery(tenant_ids=[tenant]))[1] == 50


def test_link_tokens_expire_and_are_used_once(tmp_path: Path) -> None:
    now = [NOW]
    store = Store(db.connect(tmp_path / "links.db"), "P2Test", clock=lambda: now[0])
    token, pending = store.create_link("magiclink", "a@example.com", method="email", seconds=60)
    assert pending == ""
    assert store.use_link(token, ("enchantedlink",)) is None
    assert store.use_link(token, ("magiclink",)) == {
        "kind": "magiclink",
        "loginId": "a@example.com",
        "method": "email",
        "data": {},
    }
    assert store.use_link(token, ("magiclink",)) is None
    late, _ = store.create_link("embedded", "a@example.com", seconds=60)
    now[0] += 61
    assert store.use_link(late, ("embedded",)) is None
    enchanted, ref = store.create_link("enchantedlink", "a@example.com", data={"customClaims": {"k": 1}})
    assert store.collect_pending(ref) is None
    assert store.use_link(enchanted, ("enchantedlink",)) is not None
    assert store.collect_pending(ref)["data"] == {"customClaims": {"k": 1}}  # type: ignore[index]
    assert store.collect_pending(ref) is None


def test_a_user_of_several_tenants_meets_the_strictest_of_their_password_settings(store: Store) -> None:
    loose = store.create_tenant("Loose")["id"]
    strict = store.create_tenant("Strict")["id"]
    plain = store.create_tenant("Plain")["id"]
    defaults = passwords.DEFAULT_SETTINGS
    store.set_password_settings(loose, {**defaults, "minLength": 6, "lock": True, "lockAttempts": 9})
    store.set_password_settings(
        strict, {**defaults, "minLength": 12, "nonAlphanumeric": True, "lock": True, "lockAttempts": 3}
    )
    combined = store.password_settings_for_tenants([loose, strict, plain])
    assert (combined["minLength"], combined["nonAlphanumeric"], combined["lockAttempts"]) == (12, True, 3)
    assert store.password_settings_for_tenants([plain]) == defaults
    assert store.password_settings(plain) == defaults
    assert store.password_settings_for_tenants([loose])["minLength"] == 6
    assert passwords.policy_violations("Abcdefgh1", combined) == [
        "at least 12 characters",
        "a non-alphanumeric character",
    ]
