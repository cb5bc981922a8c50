"""The sandbox database's tables and indexes, and the migration that brings an older database up to date."""

from __future__ import annotations

import json

from anonconsole.sandbox import db
from anonconsole.sandbox.store.base import StoreBase
from anonconsole.sandbox.store.users import tenant_key

SCHEMA_VERSION = "3"

_DDL = """
CREATE TABLE IF NOT EXISTS users (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    login_id TEXT NOT NULL DEFAULT '',
    login_ids TEXT NOT NULL DEFAULT '[]',
    name TEXT NOT NULL DEFAULT '',
    given_name TEXT NOT NULL DEFAULT '',
    middle_name TEXT NOT NULL DEFAULT '',
    family_name TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    verified_email INTEGER NOT NULL DEFAULT 0,
    verified_phone INTEGER NOT NULL DEFAULT 0,
    role_names TEXT NOT NULL DEFAULT '[]',
    tenants TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL DEFAULT 'invited',
    picture TEXT NOT NULL DEFAULT '',
    test INTEGER NOT NULL DEFAULT 0,
    custom_attributes TEXT NOT NULL DEFAULT '{}',
    sso_app_ids TEXT NOT NULL DEFAULT '[]',
    created_ms INTEGER NOT NULL,
    modified_ms INTEGER NOT NULL,
    password_hash TEXT NOT NULL DEFAULT '',
    password_state TEXT NOT NULL DEFAULT 'none',
    sessions_valid_after REAL NOT NULL DEFAULT 0,
    signed_in INTEGER NOT NULL DEFAULT 0,
    search_text TEXT NOT NULL DEFAULT '',
    tenant_key TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS users_modified ON users(modified_ms);
CREATE INDEX IF NOT EXISTS users_email ON users(email COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS users_phone ON users(phone);
CREATE TABLE IF NOT EXISTS login_ids (
    login_id TEXT PRIMARY KEY COLLATE NOCASE,
    user_seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS login_ids_user ON login_ids(user_seq);
CREATE TABLE IF NOT EXISTS user_tenants (
    tenant_id TEXT NOT NULL,
    user_seq INTEGER NOT NULL,
    role_names TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (tenant_id, user_seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS user_tenants_user ON user_tenants(user_seq);
CREATE TABLE IF NOT EXISTS tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}',
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tenant_settings (
    tenant_id TEXT PRIMARY KEY,
    data TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS roles (
    name TEXT NOT NULL,
    tenant_id TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    permission_names TEXT NOT NULL DEFAULT '[]',
    is_default INTEGER NOT NULL DEFAULT 0,
    private INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (name, tenant_id)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    occurred_ms INTEGER NOT NULL,
    action TEXT NOT NULL,
    user_id TEXT NOT NULL DEFAULT '',
    login_ids TEXT NOT NULL DEFAULT '[]',
    tenants TEXT NOT NULL DEFAULT '[]',
    data TEXT NOT NULL DEFAULT '{}',
    actor_id TEXT NOT NULL DEFAULT '',
    type TEXT NOT NULL DEFAULT 'info',
    method TEXT NOT NULL DEFAULT '',
    device TEXT NOT NULL DEFAULT '',
    geo TEXT NOT NULL DEFAULT '',
    remote_address TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_occurred ON audit(occurred_ms);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    login_time INTEGER NOT NULL,
    city TEXT NOT NULL DEFAULT '',
    country TEXT NOT NULL DEFAULT '',
    ip TEXT NOT NULL DEFAULT '',
    selected_tenant TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS history_user ON history(user_id, login_time);
CREATE TABLE IF NOT EXISTS otp_codes (
    login_id TEXT NOT NULL COLLATE NOCASE,
    method TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    expires REAL NOT NULL,
    data TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (login_id, method)
);
CREATE TABLE IF NOT EXISTS link_tokens (
    token_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    login_id TEXT NOT NULL,
    method TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL DEFAULT '{}',
    pending_ref TEXT NOT NULL DEFAULT '',
    expires REAL NOT NULL,
    verified INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS link_tokens_pending ON link_tokens(pending_ref);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    channel TEXT NOT NULL,
    to_addr TEXT NOT NULL,
    login_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    code TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS revoked_tokens (
    jti TEXT PRIMARY KEY,
    exp REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS password_settings (
    tenant_id TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS password_history (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    set_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS password_history_user ON password_history(user_id, id);
CREATE TABLE IF NOT EXISTS password_failures (
    user_id TEXT PRIMARY KEY,
    count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS otp_failures (
    login_id TEXT NOT NULL COLLATE NOCASE,
    method TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (login_id, method)
);
CREATE TABLE IF NOT EXISTS access_keys (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    data TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sso_settings (
    tenant_id TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS flows (
    id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    screens TEXT NOT NULL DEFAULT '[]'
);
"""

# Search indexes (schema 2). Each `users_by_*` serves one sort order and carries every column the
# common filters read (test flag, status, created time, tenant membership, free text), so the first
# page of a search is an index walk that stops after `limit` matches. `seq` follows the sort key so
# ties break by row id in index order, walked forwards or backwards. `users_filter` is the narrow one
# counts walk (a test-flag and status range, then created time and tenants) and test-user searches use.
_SEARCH_DDL = """
CREATE INDEX IF NOT EXISTS users_by_created
    ON users(created_ms, seq, test, status, tenant_key, search_text);
CREATE INDEX IF NOT EXISTS users_by_name
    ON users(name COLLATE NOCASE, seq, test, status, created_ms, tenant_key, search_text);
CREATE INDEX IF NOT EXISTS users_filter ON users(test, status, created_ms, tenant_key);
"""
# Schema-1 indexes the search indexes replace.
_REPLACED_INDEXES = ("users_created", "users_status", "users_test_created")


def install(store: StoreBase) -> None:
    """Create what is missing (restarts keep data), migrating an older database on the way."""
    db.apply_schema(store.conn, _DDL)
    _migrate(store)
    db.apply_schema(store.conn, _SEARCH_DDL)


def _migrate(store: StoreBase) -> None:
    """Bring an older database to SCHEMA_VERSION (1 → 2: tenant_key filled, replaced indexes dropped;
    2 → 3: what a one-time code carries to its verification, `otp_codes.data`)."""
    version = store.meta_get("schema_version")
    otp_columns = {row[1] for row in store.conn.execute("PRAGMA table_info(otp_codes)")}
    if "data" not in otp_columns:
        store.conn.execute("ALTER TABLE otp_codes ADD COLUMN data TEXT NOT NULL DEFAULT '{}'")
    if version == "1":
        with store.transaction():
            columns = {row[1] for row in store.conn.execute("PRAGMA table_info(users)")}
            if "tenant_key" not in columns:
                store.conn.execute("ALTER TABLE users ADD COLUMN tenant_key TEXT NOT NULL DEFAULT ''")
            rows = store.conn.execute("SELECT seq, tenants FROM users WHERE tenants != '[]'").fetchall()
            store.conn.executemany(
                "UPDATE users SET tenant_key = ? WHERE seq = ?",
                [(tenant_key(t for t, _ in json.loads(r[1])), r[0]) for r in rows],
            )
            for index in _REPLACED_INDEXES:
                store.conn.execute(f"DROP INDEX IF EXISTS {index}")
    if version != SCHEMA_VERSION:
        store.meta_set("schema_version", SCHEMA_VERSION)
