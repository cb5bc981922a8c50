"""All persistent state of the sandbox in one SQLite file (WAL), shaped for 200,000+ users.

Users keep scalar columns plus JSON columns for arrays; `login_ids` (unique, case-insensitive) and
`user_tenants` are side tables, and `tenant_key` / `search_text` denormalise tenants and free text
into the user row, all kept in step by one writer (`_save`). Search runs off covering indexes per
sort order (see `_SEARCH_DDL` and `Store.search_users`). Times are epoch milliseconds internally;
the API's `createdTime`/`modifiedTime` are seconds.

User dicts returned by every method are API-shaped (descope-api.md §3.1): every field present with
its default value, `tenantName` filled from the tenant table and permissions from the roles.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import sqlite3
import string
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from random import Random
from typing import Any

from anonconsole.sandbox import db, errors, passwords
from anonconsole.sandbox.context import DEFAULT_REFRESH_SECONDS, DEFAULT_SESSION_SECONDS

SCHEMA_VERSION = "2"

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
# API sort field -> the search index ordered by it; other sorts filter through users_by_created.
SORT_INDEXES = {"createdTime": "users_by_created", "name": "users_by_name"}
FILTER_INDEX = "users_filter"
DEFAULT_SORT = ("createdTime", False)
# Pages starting within this many matches are read straight off the index (LIMIT/OFFSET).
DIRECT_ROWS = 10_000
# Filters the search indexes carry; any other filter reads table rows and lets SQLite pick an index.
INDEXED_FILTERS = frozenset({"tenant_ids", "statuses", "text", "from_created_ms", "to_created_ms"})
# Separates tenant ids in `users.tenant_key`; tenant ids may not contain control characters.
TENANT_SEP = "\x1f"

OTP_SECONDS = 5 * 60
LINK_SECONDS = 10 * 60
LINK_KINDS = ("magiclink", "enchantedlink", "embedded", "signup")
AUDIT_WINDOW_MS = 30 * 24 * 3600 * 1000
MANAGEMENT_ACTOR = "management key"
PASSWORD_STATES = ("none", "active", "temporary", "expired")
USER_STATUSES = ("enabled", "disabled", "invited", "expired")
UNIT_SECONDS = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 7 * 86400}

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

# Fields `update_user` accepts (internal snake_case names) -> column; JSON columns are encoded.
_SCALAR_FIELDS = {
    "name": "name",
    "given_name": "given_name",
    "middle_name": "middle_name",
    "family_name": "family_name",
    "email": "email",
    "phone": "phone",
    "verified_email": "verified_email",
    "verified_phone": "verified_phone",
    "status": "status",
    "picture": "picture",
    "test": "test",
}
_JSON_FIELDS = {
    "role_names": "role_names",
    "custom_attributes": "custom_attributes",
    "sso_app_ids": "sso_app_ids",
}
UPDATABLE = frozenset(_SCALAR_FIELDS) | frozenset(_JSON_FIELDS) | {"login_ids", "user_tenants"}

DEFAULT_TENANT_SETTINGS: dict[str, Any] = {
    "domains": [],
    "authType": "none",
    "enabled": False,
    "refreshTokenExpiration": 4,
    "refreshTokenExpirationUnit": "weeks",
    "sessionTokenExpiration": 10,
    "sessionTokenExpirationUnit": "minutes",
    "stepupTokenExpiration": 0,
    "stepupTokenExpirationUnit": "",
    "enableInactivity": False,
    "inactivityTime": 0,
    "inactivityTimeUnit": "",
    "JITDisabled": False,
    "ssoSetupSuiteSettings": {"enabled": False},
}

DEFAULT_TENANT_FIELDS: dict[str, Any] = {
    "selfProvisioningDomains": [],
    "customAttributes": {},
    "authType": "none",
    "domains": [],
    "disabled": False,
    "enforceSSO": False,
    "enforceSSOExclusions": [],
    "federatedAppIds": [],
    "parent": "",
    "successors": [],
    "defaultRoles": [],
    "roleInheritance": "",
}


ID_ALPHABET = string.ascii_letters + string.digits


def new_id(rng: Random, prefix: str) -> str:
    """Descope-like id: one letter + 27 alphanumerics."""
    return prefix + "".join(rng.choices(ID_ALPHABET, k=27))


def tenant_not_found(tenant_id: str) -> errors.DescopeError:
    return errors.not_found(f"Tenant {tenant_id} not found")


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


_AUDIT_COLUMNS = (
    "occurred_ms",
    "action",
    "user_id",
    "login_ids",
    "tenants",
    "data",
    "actor_id",
    "type",
    "method",
    "device",
    "geo",
    "remote_address",
)
_HISTORY_COLUMNS = ("user_id", "login_time", "city", "country", "ip", "selected_tenant")
_BULK_USER_COLUMNS = (
    "seq",
    "id",
    "login_id",
    "login_ids",
    "name",
    "given_name",
    "middle_name",
    "family_name",
    "email",
    "phone",
    "verified_email",
    "verified_phone",
    "role_names",
    "tenants",
    "status",
    "picture",
    "test",
    "custom_attributes",
    "sso_app_ids",
    "created_ms",
    "modified_ms",
    "password_hash",
    "password_state",
    "signed_in",
    "search_text",
    "tenant_key",
)


def audit_row(
    action: str,
    *,
    at_ms: int,
    user_id: str = "",
    login_ids: Iterable[str] = (),
    tenants: Iterable[str] = (),
    data: dict[str, Any] | None = None,
    actor_id: str = "",
    type: str = "info",  # noqa: A002 - Descope's audit field name
    method: str = "",
    device: str = "Desktop",
    geo: str = "",
    remote_address: str = "",
) -> tuple[Any, ...]:
    """One audit table row, in _AUDIT_COLUMNS order."""
    return (
        at_ms,
        action,
        user_id,
        _dumps(list(login_ids)),
        _dumps(list(tenants)),
        _dumps(data or {}),
        actor_id,
        type,
        method,
        device,
        geo,
        remote_address,
    )


def sign_in_audit_row(
    user_id: str,
    login_ids: Sequence[str],
    tenants: Sequence[str],
    *,
    method: str,
    ip: str,
    country: str,
    at_ms: int,
) -> tuple[Any, ...]:
    """The LoginSucceed record of a sign-in (actor: the primary login id), as real sign-ins write it."""
    return audit_row(
        "LoginSucceed",
        at_ms=at_ms,
        user_id=user_id,
        login_ids=login_ids,
        tenants=tenants,
        actor_id=login_ids[0] if login_ids else user_id,
        method=method,
        geo=country,
        remote_address=ip,
    )


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


def _insert(table: str, columns: Sequence[str]) -> str:
    """INSERT statement for these columns, one placeholder each."""
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({_marks(columns)})"


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
        marks = _marks(q.role_names)
        add(
            f"(EXISTS (SELECT 1 FROM json_each(users.role_names) WHERE value IN ({marks})) OR seq IN "
            "(SELECT ut.user_seq FROM user_tenants ut, json_each(ut.role_names) r "
            f"WHERE r.value IN ({marks})))",
            *q.role_names,
            *q.role_names,
        )
    for tenant_id, (names, all_of) in q.tenant_role_names.items():
        matches = "(SELECT count(DISTINCT r.value) FROM json_each(ut.role_names) r "
        matches += f"WHERE r.value IN ({_marks(names)}))"
        need = len(set(names)) if all_of else 1
        add(
            f"seq IN (SELECT ut.user_seq FROM user_tenants ut WHERE ut.tenant_id = ? AND {matches} >= ?)",
            tenant_id,
            *names,
            need,
        )
    if q.statuses:
        add(f"status IN ({_marks(q.statuses)})", *q.statuses)
    if q.text:
        add("instr(search_text, ?) > 0", q.text.lower())
    if q.login_ids:
        add(
            f"seq IN (SELECT user_seq FROM login_ids WHERE login_id IN ({_marks(q.login_ids)}))", *q.login_ids
        )
    if q.user_ids:
        add(f"id IN ({_marks(q.user_ids)})", *q.user_ids)
    if q.emails:
        add(f"email COLLATE NOCASE IN ({_marks(q.emails)})", *q.emails)
    if q.phones:
        add(f"phone IN ({_marks(q.phones)})", *q.phones)
    if q.sso_app_ids:
        add(
            f"EXISTS (SELECT 1 FROM json_each(users.sso_app_ids) WHERE value IN ({_marks(q.sso_app_ids)}))",
            *q.sso_app_ids,
        )
    for name, wanted in q.custom_attributes.items():
        values = wanted if isinstance(wanted, list) else [wanted]
        encoded = [json.dumps(v) for v in values]
        add(
            f"(custom_attributes -> ?) IN ({_marks(encoded)})",
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


def tenant_key(tenant_ids: Iterable[str]) -> str:
    """`users.tenant_key`: the user's tenant ids between separators, e.g. "\\x1fT1\\x1fT2\\x1f"."""
    ids = list(tenant_ids)
    return TENANT_SEP + TENANT_SEP.join(ids) + TENANT_SEP if ids else ""


def tenant_needle(tenant_id: str) -> str:
    """What `instr(tenant_key, …)` looks for: exact, since tenant ids hold no separator."""
    return f"{TENANT_SEP}{tenant_id}{TENANT_SEP}"


@dataclass
class Names:
    """What API users need from other tables: tenant names and each role's permissions."""

    tenants: dict[str, str]
    role_permissions: dict[tuple[str, str], list[str]]

    def permissions(self, tenant_id: str, role_names: Iterable[str]) -> list[str]:
        """Permissions of these roles in a tenant ("" = project): a tenant's own role, else the project's."""
        found: list[str] = []
        for role in role_names:
            found.extend(
                self.role_permissions.get((tenant_id, role)) or self.role_permissions.get(("", role)) or []
            )
        return list(dict.fromkeys(found))


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


def _search_text(rec: dict[str, Any]) -> str:
    """Lower-cased haystack for the free-text filter: login ids, name, email, phone, user id."""
    parts = [*rec["login_ids"], rec["name"], rec["email"], rec["phone"], rec["id"]]
    return "\n".join(p for p in parts if p).lower()


def _dumps(value: Any) -> str:
    """json.dumps with a shortcut for empty lists/objects (the bulk seed encodes a million values)."""
    if not value and isinstance(value, list | tuple | dict):
        return "{}" if isinstance(value, dict) else "[]"
    return json.dumps(value)


def _loads(text: str) -> Any:
    """json.loads with a shortcut for the empty list/object most JSON columns hold (pages of 1,000)."""
    if text == "[]":
        return []
    if text == "{}":
        return {}
    return json.loads(text)


def _tenant_pairs(user_tenants: Iterable[Any]) -> list[tuple[str, list[str]]]:
    """Normalise user tenants given as dicts ({tenantId, roleNames}) or (id, roles) pairs."""
    pairs: dict[str, list[str]] = {}
    for item in user_tenants:
        if isinstance(item, dict):
            pairs[item["tenantId"]] = list(item.get("roleNames") or [])
        else:
            tenant_id, roles = item
            pairs[tenant_id] = list(roles or [])
    return list(pairs.items())


class Store:
    """The sandbox's persistent state. See docs/contracts.md §2 for the contract.

    Attributes:
        conn: the SQLite connection (autocommit; writes group statements in savepoints).
        project_id: the project this sandbox pretends to be.
        clock: seconds since the epoch for writes without an explicit `at`.
        rng: source of ids and codes (a seeded Random makes the demo seed deterministic).
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        project_id: str,
        *,
        clock: Callable[[], float] = time.time,
        rng: Random | None = None,
    ) -> None:
        self.conn = conn
        self.project_id = project_id
        self.clock = clock
        self.rng: Random = rng or secrets.SystemRandom()
        self._savepoints = itertools.count()
        self._ordered = WriteScopedCache(conn)
        self._totals = WriteScopedCache(conn, size=32)
        # A 200,000-user database is ~170 MB: a bigger page cache and memory-mapped reads keep full
        # scans (free-text search, first page of a new query) in memory instead of re-reading pages.
        conn.execute("PRAGMA cache_size = -131072")
        conn.execute("PRAGMA mmap_size = 536870912")
        db.apply_schema(conn, _DDL)
        self._migrate()
        db.apply_schema(conn, _SEARCH_DDL)

    def _migrate(self) -> None:
        """Bring an older database to SCHEMA_VERSION (1 → 2: tenant_key filled, replaced indexes dropped)."""
        version = self.meta_get("schema_version")
        if version == "1":
            with self.transaction():
                columns = {row[1] for row in self.conn.execute("PRAGMA table_info(users)")}
                if "tenant_key" not in columns:
                    self.conn.execute("ALTER TABLE users ADD COLUMN tenant_key TEXT NOT NULL DEFAULT ''")
                rows = self.conn.execute("SELECT seq, tenants FROM users WHERE tenants != '[]'").fetchall()
                self.conn.executemany(
                    "UPDATE users SET tenant_key = ? WHERE seq = ?",
                    [(tenant_key(t for t, _ in json.loads(r[1])), r[0]) for r in rows],
                )
                for index in _REPLACED_INDEXES:
                    self.conn.execute(f"DROP INDEX IF EXISTS {index}")
        if version != SCHEMA_VERSION:
            self.meta_set("schema_version", SCHEMA_VERSION)

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes atomically; nests (savepoints), so callers may wrap many store calls."""
        name = f"sp{next(self._savepoints)}"
        self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.conn.execute(f"ROLLBACK TO {name}")
            self.conn.execute(f"RELEASE {name}")
            raise
        self.conn.execute(f"RELEASE {name}")

    def _ms(self, at: float | None) -> int:
        return int((self.clock() if at is None else at) * 1000)

    def _tenant_names(self) -> dict[str, str]:
        return {row[0]: row[1] for row in self.conn.execute("SELECT id, name FROM tenants")}

    def _names(self) -> Names:
        permissions = {
            (row[0], row[1]): _loads(row[2])
            for row in self.conn.execute("SELECT tenant_id, name, permission_names FROM roles")
        }
        return Names(self._tenant_names(), permissions)

    # ------------------------------------------------------------------ user records

    def _record(self, row: sqlite3.Row, keys: Sequence[str] | None = None) -> dict[str, Any]:
        """Internal (snake_case) record of a user row, JSON columns decoded.

        `keys` (the rows' column names, shared by a page of rows) saves `dict(row)`, which costs
        several microseconds a row.
        """
        rec = dict(zip(keys or row.keys(), row, strict=True))
        for column in ("login_ids", "role_names", "tenants", "custom_attributes", "sso_app_ids"):
            rec[column] = _loads(rec[column])
        rec["user_tenants"] = rec.pop("tenants")
        return rec

    def _api_user(self, rec: dict[str, Any], names: Names) -> dict[str, Any]:
        """The API-shaped user (descope-api.md §3.1) for an internal record."""
        return {
            "loginIds": list(rec["login_ids"]),
            "userId": rec["id"],
            "name": rec["name"],
            "givenName": rec["given_name"],
            "middleName": rec["middle_name"],
            "familyName": rec["family_name"],
            "email": rec["email"],
            "phone": rec["phone"],
            "verifiedEmail": bool(rec["verified_email"]),
            "verifiedPhone": bool(rec["verified_phone"]),
            "roleNames": list(rec["role_names"]),
            "userTenants": [
                {
                    "tenantId": t,
                    "roleNames": list(roles),
                    "tenantName": names.tenants.get(t, ""),
                    "permissions": names.permissions(t, roles),
                }
                for t, roles in rec["user_tenants"]
            ],
            "status": rec["status"],
            "externalIds": list(rec["login_ids"]),
            "picture": rec["picture"],
            "test": bool(rec["test"]),
            "customAttributes": dict(rec["custom_attributes"]),
            "createdTime": rec["created_ms"] // 1000,
            "modifiedTime": rec["modified_ms"] // 1000,
            "TOTP": False,
            "SAML": False,
            "SCIM": False,
            "OIDC": False,
            "OAuth": {},
            "webauthn": False,
            "password": rec["password_state"] != "none",
            "push": False,
            "ssoAppIds": list(rec["sso_app_ids"]),
            "editable": True,
            "permissions": names.permissions("", rec["role_names"]),
            "consentExpiration": 0,
        }

    def _rows_to_users(self, rows: Iterable[sqlite3.Row]) -> list[dict[str, Any]]:
        names = self._names()
        keys: list[str] = []
        users = []
        for row in rows:
            keys = keys or row.keys()
            users.append(self._api_user(self._record(row, keys), names))
        return users

    def _record_by_id(self, user_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
        return None if row is None else self._record(row)

    def _require(self, user_id: str) -> dict[str, Any]:
        rec = self._record_by_id(user_id)
        if rec is None:
            raise errors.user_not_found()
        return rec

    def user_by_login_id(self, login_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT u.* FROM login_ids l JOIN users u ON u.seq = l.user_seq WHERE l.login_id = ?", (login_id,)
        ).fetchone()
        return None if row is None else self._rows_to_users([row])[0]

    def user_by_id(self, user_id: str) -> dict[str, Any] | None:
        rec = self._record_by_id(user_id)
        return None if rec is None else self._api_user(rec, self._names())

    def users_by_ids(self, user_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Users with these ids (unknown ids skipped), in the order asked."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(user_ids), 500):
            chunk = list(user_ids[start : start + 500])
            rows = self.conn.execute(f"SELECT * FROM users WHERE id IN ({_marks(chunk)})", chunk)
            found.update((u["userId"], u) for u in self._rows_to_users(rows))
        return [found[i] for i in dict.fromkeys(user_ids) if i in found]

    def user_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM users").fetchone()[0])

    def test_user_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM users WHERE test = 1").fetchone()[0])

    def login_id_owner(self, login_id: str) -> str | None:
        """Id of the user owning this login id (case-insensitive), if any."""
        row = self.conn.execute(
            "SELECT u.id FROM login_ids l JOIN users u ON u.seq = l.user_seq WHERE l.login_id = ?",
            (login_id,),
        ).fetchone()
        return None if row is None else row[0]

    def address_owner(self, kind: str, value: str, *, exclude_user_id: str = "") -> str | None:
        """Another user having `value` as a login id or as a verified email/phone (`kind`)."""
        owner = self.login_id_owner(value)
        if owner and owner != exclude_user_id:
            return owner
        column = "email" if kind == "email" else "phone"
        collate = " COLLATE NOCASE" if kind == "email" else ""
        row = self.conn.execute(
            f"SELECT id FROM users WHERE {column}{collate} = ? AND verified_{column} = 1 AND id != ? LIMIT 1",
            (value, exclude_user_id),
        ).fetchone()
        return None if row is None else row[0]

    def _check_tenants(self, pairs: list[tuple[str, list[str]]]) -> None:
        known = self._tenant_names()
        for tenant_id, _ in pairs:
            if tenant_id not in known:
                raise tenant_not_found(tenant_id)

    def _save(self, rec: dict[str, Any], *, insert: bool, old_login_ids: Sequence[str] = ()) -> None:
        """Write a whole record: the users row, its login ids and its tenants (one writer for all three)."""
        if rec["status"] not in USER_STATUSES:
            raise ValueError(f"bad user status {rec['status']!r}")  # counts rely on the known set
        rec["login_id"] = rec["login_ids"][0] if rec["login_ids"] else ""
        rec["search_text"] = _search_text(rec)
        row = {
            **{c: rec[c] for c in _SCALAR_FIELDS},
            **{c: json.dumps(rec[c]) for c in _JSON_FIELDS},
            "id": rec["id"],
            "login_id": rec["login_id"],
            "login_ids": json.dumps(rec["login_ids"]),
            "tenants": json.dumps(rec["user_tenants"]),
            "created_ms": rec["created_ms"],
            "modified_ms": rec["modified_ms"],
            "password_hash": rec["password_hash"],
            "password_state": rec["password_state"],
            "search_text": rec["search_text"],
            "tenant_key": tenant_key(t for t, _ in rec["user_tenants"]),
        }
        for flag in ("verified_email", "verified_phone", "test"):
            row[flag] = int(bool(row[flag]))
        with self.transaction():
            if insert:
                cols = ", ".join(row)
                cur = self.conn.execute(
                    f"INSERT INTO users ({cols}) VALUES ({_marks(list(row))})", list(row.values())
                )
                rec["seq"] = cur.lastrowid
            else:
                sets = ", ".join(f"{c} = ?" for c in row)
                self.conn.execute(f"UPDATE users SET {sets} WHERE seq = ?", [*row.values(), rec["seq"]])
            self._save_login_ids(rec, old_login_ids)
            self.conn.execute("DELETE FROM user_tenants WHERE user_seq = ?", (rec["seq"],))
            self.conn.executemany(
                "INSERT OR REPLACE INTO user_tenants (tenant_id, user_seq, role_names) VALUES (?, ?, ?)",
                [(t, rec["seq"], json.dumps(roles)) for t, roles in rec["user_tenants"]],
            )

    def _save_login_ids(self, rec: dict[str, Any], old_login_ids: Sequence[str]) -> None:
        if list(old_login_ids) == list(rec["login_ids"]):
            return
        self.conn.execute("DELETE FROM login_ids WHERE user_seq = ?", (rec["seq"],))
        for login_id in rec["login_ids"]:
            try:
                self.conn.execute(
                    "INSERT INTO login_ids (login_id, user_seq) VALUES (?, ?)", (login_id, rec["seq"])
                )
            except sqlite3.IntegrityError:
                raise errors.user_already_exists(f"Login ID {login_id} is already in use") from None

    def create_user(
        self,
        login_id: str,
        *,
        email: str | None = None,
        phone: str | None = None,
        name: str | None = None,
        given_name: str | None = None,
        middle_name: str | None = None,
        family_name: str | None = None,
        verified_email: bool | None = None,
        verified_phone: bool | None = None,
        status: str = "invited",
        test: bool = False,
        role_names: Iterable[str] = (),
        user_tenants: Iterable[Any] = (),
        picture: str | None = None,
        custom_attributes: dict[str, Any] | None = None,
        additional_login_ids: Iterable[str] = (),
        password: str | None = None,
        at: float | None = None,
        sso_app_ids: Iterable[str] = (),
        user_id: str | None = None,
        password_hash: str | None = None,
        password_state: str | None = None,
    ) -> dict[str, Any]:
        """Create a user; raises errors.user_already_exists when a login id is taken.

        `password` is hashed; `password_hash` (already hashed, or passwords.UNUSABLE) skips hashing.
        """
        login_ids = list(dict.fromkeys([login_id, *additional_login_ids]))
        pairs = _tenant_pairs(user_tenants)
        self._check_tenants(pairs)
        now = self._ms(at)
        if password is not None:
            password_hash = passwords.hash_password(password)
        rec: dict[str, Any] = {
            "id": user_id or new_id(self.rng, "U"),
            "login_ids": login_ids,
            "name": name or "",
            "given_name": given_name or "",
            "middle_name": middle_name or "",
            "family_name": family_name or "",
            "email": email or "",
            "phone": phone or "",
            "verified_email": bool(verified_email),
            "verified_phone": bool(verified_phone),
            "role_names": list(role_names),
            "user_tenants": pairs,
            "status": status,
            "picture": picture or "",
            "test": bool(test),
            "custom_attributes": dict(custom_attributes or {}),
            "sso_app_ids": list(sso_app_ids),
            "created_ms": now,
            "modified_ms": now,
            "password_hash": password_hash or "",
            "password_state": password_state or ("active" if password_hash else "none"),
        }
        with self.transaction():
            self._save(rec, insert=True)
        return self._api_user(rec, self._names())

    def update_user(
        self, user_id: str, changes: dict[str, Any], *, at: float | None = None
    ) -> dict[str, Any]:
        """Apply changes (keys from UPDATABLE, snake_case) and bump modifiedTime; returns the user."""
        unknown = set(changes) - UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        rec = self._require(user_id)
        old_login_ids = list(rec["login_ids"])
        if "user_tenants" in changes:
            changes = {**changes, "user_tenants": _tenant_pairs(changes["user_tenants"])}
            self._check_tenants(changes["user_tenants"])
        if "login_ids" in changes and not changes["login_ids"]:
            raise errors.invalid_argument("A user must keep at least one login ID")
        rec.update(changes)
        rec["modified_ms"] = self._ms(at)
        self._save(rec, insert=False, old_login_ids=old_login_ids)
        return self._api_user(rec, self._names())

    def set_contact(
        self,
        user_id: str,
        kind: str,
        value: str,
        *,
        verified: bool | None,
        login_id_mode: str = "none",
        at: float | None = None,
    ) -> dict[str, Any]:
        """Set a user's email or phone (`kind`), optionally making it a login id.

        login_id_mode: "none" leaves login ids alone; "add" appends the value; "replace" puts it in
        place of the old address when that was a login id, else appends it. An empty value clears the
        address (and its verified flag).
        """
        rec = self._require(user_id)
        old = rec[kind]
        changes: dict[str, Any] = {kind: value, f"verified_{kind}": bool(verified) and bool(value)}
        login_ids = list(rec["login_ids"])
        if value and login_id_mode != "none" and value.lower() not in (x.lower() for x in login_ids):
            if login_id_mode == "replace" and old in login_ids:
                login_ids[login_ids.index(old)] = value
            else:
                login_ids.append(value)
            changes["login_ids"] = login_ids
        return self.update_user(user_id, changes, at=at)

    def update_contact(
        self,
        user_id: str,
        *,
        email: str | None = None,
        verified_email: bool | None = None,
        phone: str | None = None,
        verified_phone: bool | None = None,
        add_login_id: bool = False,
    ) -> dict[str, Any]:
        """OTP update of email/phone (contract §2): verified addresses, optionally added as login ids."""
        mode = "add" if add_login_id else "none"
        user = self._api_user(self._require(user_id), self._names())
        if email is not None:
            user = self.set_contact(user_id, "email", email, verified=verified_email, login_id_mode=mode)
        if phone is not None:
            user = self.set_contact(user_id, "phone", phone, verified=verified_phone, login_id_mode=mode)
        return user

    def delete_users(self, user_ids: Sequence[str]) -> int:
        """Delete users and everything hanging off them; returns how many existed."""
        deleted = 0
        with self.transaction():
            for start in range(0, len(user_ids), 500):
                chunk = list(user_ids[start : start + 500])
                seqs = [
                    r[0]
                    for r in self.conn.execute(f"SELECT seq FROM users WHERE id IN ({_marks(chunk)})", chunk)
                ]
                if not seqs:
                    continue
                deleted += len(seqs)
                for table in ("login_ids", "user_tenants"):
                    self.conn.execute(f"DELETE FROM {table} WHERE user_seq IN ({_marks(seqs)})", seqs)
                self.conn.execute(f"DELETE FROM history WHERE user_id IN ({_marks(chunk)})", chunk)
                self.conn.execute(f"DELETE FROM users WHERE seq IN ({_marks(seqs)})", seqs)
        return deleted

    def delete_test_users(self) -> int:
        ids = [r[0] for r in self.conn.execute("SELECT id FROM users WHERE test = 1")]
        return self.delete_users(ids)

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
            r["seq"]: r for r in self.conn.execute(f"SELECT * FROM users WHERE seq IN ({_marks(seqs)})", seqs)
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

    # ------------------------------------------------------------------ passwords

    def password_state(self, user_id: str) -> str:
        return str(self._require(user_id)["password_state"])

    def check_password(self, user_id: str, password: str) -> bool:
        rec = self._record_by_id(user_id)
        return rec is not None and passwords.verify_password(password, rec["password_hash"])

    def set_password(
        self, user_id: str, password: str, *, state: str = "active", at: float | None = None
    ) -> None:
        """Store a new password hash (the caller validates the policy where Descope does)."""
        if state not in PASSWORD_STATES[1:]:
            raise ValueError(f"bad password state {state!r}")
        self._require(user_id)
        self.conn.execute(
            "UPDATE users SET password_hash = ?, password_state = ?, modified_ms = ? WHERE id = ?",
            (passwords.hash_password(password), state, self._ms(at), user_id),
        )

    def expire_password(self, user_id: str) -> None:
        """Force a reset: the password stays but sign-in with it answers E062909."""
        rec = self._require(user_id)
        if rec["password_state"] != "none":
            self.conn.execute("UPDATE users SET password_state = 'expired' WHERE id = ?", (user_id,))

    # ------------------------------------------------------------------ sign-ins and history

    def record_sign_in(
        self,
        user_id: str,
        *,
        method: str,
        ip: str = "",
        tenant: str = "",
        at: float | None = None,
        city: str = "",
        country: str = "",
    ) -> bool:
        """History + LoginSucceed audit + invited→enabled; True when this is the first sign-in ever."""
        rec = self._require(user_id)
        ms = self._ms(at)
        first = not rec["signed_in"]
        with self.transaction():
            self.conn.execute(
                _insert("history", _HISTORY_COLUMNS),
                (user_id, ms // 1000, city, country, ip, tenant),
            )
            status = "enabled" if rec["status"] == "invited" else rec["status"]
            self.conn.execute("UPDATE users SET signed_in = 1, status = ? WHERE id = ?", (status, user_id))
            if not rec["test"]:
                tenants = [t for t, _ in rec["user_tenants"]]
                row = sign_in_audit_row(
                    user_id, rec["login_ids"], tenants, method=method, ip=ip, country=country, at_ms=ms
                )
                self.conn.execute(_insert("audit", _AUDIT_COLUMNS), row)
        return first

    def history(self, user_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Login history of these users, oldest first (descope-api.md §3.2)."""
        out: list[dict[str, Any]] = []
        for start in range(0, len(user_ids), 500):
            chunk = list(user_ids[start : start + 500])
            rows = self.conn.execute(
                f"SELECT user_id, login_time, city, country, ip, selected_tenant FROM history "
                f"WHERE user_id IN ({_marks(chunk)}) ORDER BY login_time, id",
                chunk,
            )
            out.extend(
                {
                    "userId": r[0],
                    "loginTime": r[1],
                    "city": r[2],
                    "country": r[3],
                    "ip": r[4],
                    "selectedTenant": r[5],
                }
                for r in rows
            )
        return out

    def session_settings_for(self, user_id: str) -> tuple[int, int]:
        """(session_seconds, refresh_seconds): project defaults unless a tenant enables its own.

        Several tenants with custom settings: the stricter (shorter) lifetimes win.
        """
        rec = self._require(user_id)
        chosen: tuple[int, int] | None = None
        for tenant_id, _ in rec["user_tenants"]:
            settings = self.tenant_settings(tenant_id)
            if not settings or not settings["enabled"]:
                continue
            session = (
                settings["sessionTokenExpiration"] * UNIT_SECONDS[settings["sessionTokenExpirationUnit"]]
            )
            refresh = (
                settings["refreshTokenExpiration"] * UNIT_SECONDS[settings["refreshTokenExpirationUnit"]]
            )
            chosen = (
                (session, refresh) if chosen is None else (min(chosen[0], session), min(chosen[1], refresh))
            )
        return chosen or (DEFAULT_SESSION_SECONDS, DEFAULT_REFRESH_SECONDS)

    # ------------------------------------------------------------------ sessions

    def revoke_sessions(self, user_id: str, *, at: float | None = None) -> None:
        """Tokens issued before `at` (now) are invalid from now on."""
        self._require(user_id)
        when = self.clock() if at is None else at
        self.conn.execute("UPDATE users SET sessions_valid_after = ? WHERE id = ?", (when, user_id))

    def sessions_valid_after(self, user_id: str) -> float:
        row = self.conn.execute("SELECT sessions_valid_after FROM users WHERE id = ?", (user_id,)).fetchone()
        return 0.0 if row is None else float(row[0])

    def revoke_token(self, jti: str, exp: float) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM revoked_tokens WHERE exp < ?", (self.clock(),))
            self.conn.execute("INSERT OR REPLACE INTO revoked_tokens (jti, exp) VALUES (?, ?)", (jti, exp))

    def is_token_revoked(self, jti: str) -> bool:
        return self.conn.execute("SELECT 1 FROM revoked_tokens WHERE jti = ?", (jti,)).fetchone() is not None

    # ------------------------------------------------------------------ one-time codes and outbox

    @staticmethod
    def _code_hash(login_id: str, method: str, code: str) -> str:
        return hashlib.sha256(f"{login_id.lower()}\n{method}\n{code}".encode()).hexdigest()

    def create_otp(self, login_id: str, method: str, *, at: float | None = None) -> str:
        """A fresh 6-digit code for (login id, method), valid 5 minutes, replacing any earlier one."""
        code = f"{self.rng.randrange(1_000_000):06d}"
        now = self.clock() if at is None else at
        method = method.lower()
        self.conn.execute(
            "INSERT OR REPLACE INTO otp_codes (login_id, method, code_hash, expires) VALUES (?, ?, ?, ?)",
            (login_id, method, self._code_hash(login_id, method, code), now + OTP_SECONDS),
        )
        return code

    def consume_otp(self, login_id: str, method: str, code: str, *, at: float | None = None) -> bool:
        """True (and the code is used up) when it matches and has not expired."""
        now = self.clock() if at is None else at
        method = method.lower()
        row = self.conn.execute(
            "SELECT code_hash, expires FROM otp_codes WHERE login_id = ? AND method = ?", (login_id, method)
        ).fetchone()
        if row is None or row[1] < now:
            return False
        if not hmac.compare_digest(row[0], self._code_hash(login_id, method, code)):
            return False
        self.conn.execute("DELETE FROM otp_codes WHERE login_id = ? AND method = ?", (login_id, method))
        return True

    def create_link(
        self,
        kind: str,
        login_id: str,
        *,
        method: str = "",
        data: dict[str, Any] | None = None,
        seconds: int = LINK_SECONDS,
    ) -> tuple[str, str]:
        """A one-time link token (only its hash is kept) and, for an enchanted link, its pending ref.

        `data` travels with the token to its verification (custom claims, a sign-up's user fields).
        """
        if kind not in LINK_KINDS:
            raise ValueError(f"bad link kind {kind!r}")
        token = secrets.token_urlsafe(32)
        pending_ref = secrets.token_urlsafe(16) if kind == "enchantedlink" else ""
        self.conn.execute("DELETE FROM link_tokens WHERE expires < ?", (self.clock(),))
        self.conn.execute(
            _insert(
                "link_tokens", ("token_hash", "kind", "login_id", "method", "data", "pending_ref", "expires")
            ),
            (
                hashlib.sha256(token.encode()).hexdigest(),
                kind,
                login_id,
                method,
                json.dumps(data or {}),
                pending_ref,
                self.clock() + (seconds or LINK_SECONDS),
            ),
        )
        return token, pending_ref

    def use_link(self, token: str, kinds: Sequence[str]) -> dict[str, Any] | None:
        """The link of a valid, unused, unexpired token of one of `kinds`, which is then used up.

        An enchanted link stays behind, verified, until its pending session is collected.
        """
        token_hash = hashlib.sha256(token.encode()).hexdigest()
        row = self.conn.execute("SELECT * FROM link_tokens WHERE token_hash = ?", (token_hash,)).fetchone()
        if row is None or row["kind"] not in kinds or row["verified"] or row["expires"] < self.clock():
            return None
        if row["kind"] == "enchantedlink":
            self.conn.execute("UPDATE link_tokens SET verified = 1 WHERE token_hash = ?", (token_hash,))
        else:
            self.conn.execute("DELETE FROM link_tokens WHERE token_hash = ?", (token_hash,))
        return self._link(row)

    def collect_pending(self, pending_ref: str) -> dict[str, Any] | None:
        """The enchanted link behind `pending_ref` once verified (then forgotten), else None."""
        row = self.conn.execute(
            "SELECT * FROM link_tokens WHERE pending_ref = ? AND kind = 'enchantedlink'", (pending_ref,)
        ).fetchone()
        if row is None or not row["verified"] or row["expires"] < self.clock():
            return None
        self.conn.execute("DELETE FROM link_tokens WHERE token_hash = ?", (row["token_hash"],))
        return self._link(row)

    @staticmethod
    def _link(row: sqlite3.Row) -> dict[str, Any]:
        return {
            "kind": row["kind"],
            "loginId": row["login_id"],
            "method": row["method"],
            "data": json.loads(row["data"]),
        }

    def add_outbox(
        self, channel: str, to: str, *, login_id: str, subject: str, body: str, code: str = ""
    ) -> None:
        self.conn.execute(
            _insert("outbox", ("time", "channel", "to_addr", "login_id", "subject", "body", "code")),
            (self.clock(), channel, to, login_id, subject, body, code),
        )

    def list_outbox(self, *, limit: int = 100, login_id: str | None = None) -> list[dict[str, Any]]:
        """Newest first."""
        where, params = ("WHERE login_id = ? COLLATE NOCASE", [login_id]) if login_id else ("", [])
        rows = self.conn.execute(
            f"SELECT id, time, channel, to_addr, login_id, subject, body, code FROM outbox {where} "
            "ORDER BY id DESC LIMIT ?",
            [*params, limit],
        )
        keys = ("id", "time", "channel", "to", "loginId", "subject", "body", "code")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def clear_outbox(self) -> None:
        self.conn.execute("DELETE FROM outbox")

    # ------------------------------------------------------------------ audit

    def add_audit(
        self,
        action: str,
        *,
        user_id: str = "",
        login_ids: Iterable[str] = (),
        tenants: Iterable[str] = (),
        data: dict[str, Any] | None = None,
        actor_id: str = "",
        type: str = "info",  # noqa: A002 - the contract's name (Descope's audit field)
        method: str = "",
        device: str = "Desktop",
        remote_address: str = "",
        at: float | None = None,
        geo: str = "",
    ) -> None:
        row = audit_row(
            action,
            at_ms=self._ms(at),
            user_id=user_id,
            login_ids=login_ids,
            tenants=tenants,
            data=data,
            actor_id=actor_id,
            type=type,
            method=method,
            device=device,
            remote_address=remote_address,
            geo=geo,
        )
        self.conn.execute(_insert("audit", _AUDIT_COLUMNS), row)

    def bulk_insert_audit(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Audit rows built by `audit_row` / `sign_in_audit_row`, one transaction (the bulk seed)."""
        with self.transaction():
            self.conn.executemany(_insert("audit", _AUDIT_COLUMNS), rows)

    def search_audit(
        self,
        *,
        user_ids: Sequence[str] = (),
        actions: Sequence[str] = (),
        excluded_actions: Sequence[str] = (),
        devices: Sequence[str] = (),
        methods: Sequence[str] = (),
        geos: Sequence[str] = (),
        remote_addresses: Sequence[str] = (),
        login_ids: Sequence[str] = (),
        tenants: Sequence[str] = (),
        no_tenants: bool = False,
        text: str = "",
        from_ms: int | None = None,
        to_ms: int | None = None,
        limit: int = 1000,
        page: int = 0,
    ) -> list[dict[str, Any]]:
        """Audit records of the last 30 days matching every given filter, newest first.

        With `tenants`, records naming one of them match; `no_tenants` also lets records without any
        tenant through (Go SDK: "should audits without any tenants always be included").
        """
        floor = self._ms(None) - AUDIT_WINDOW_MS
        clauses = ["occurred_ms >= ?"]
        params: list[Any] = [max(floor, from_ms or 0)]
        if to_ms is not None:
            clauses.append("occurred_ms <= ?")
            params.append(to_ms)
        for column, values, negate in (
            ("user_id", user_ids, False),
            ("action", actions, False),
            ("action", excluded_actions, True),
            ("device", devices, False),
            ("method", methods, False),
            ("geo", geos, False),
            ("remote_address", remote_addresses, False),
        ):
            if values:
                clauses.append(f"{column} {'NOT ' if negate else ''}IN ({_marks(values)})")
                params.extend(values)
        if login_ids:
            clauses.append(
                f"EXISTS (SELECT 1 FROM json_each(audit.login_ids) WHERE value IN ({_marks(login_ids)}))"
            )
            params.extend(login_ids)
        if tenants:
            empty = " OR tenants = '[]'" if no_tenants else ""
            clauses.append(
                f"(EXISTS (SELECT 1 FROM json_each(audit.tenants) WHERE value IN ({_marks(tenants)})){empty})"
            )
            params.extend(tenants)
        if text:
            clauses.append("instr(lower(action || ' ' || login_ids || ' ' || user_id || ' ' || data), ?) > 0")
            params.append(text.lower())
        rows = self.conn.execute(
            f"SELECT * FROM audit WHERE {' AND '.join(clauses)} "
            "ORDER BY occurred_ms DESC, id DESC LIMIT ? OFFSET ?",
            [*params, limit, page * limit],
        )
        return [self._api_audit(row) for row in rows]

    def _api_audit(self, row: sqlite3.Row) -> dict[str, Any]:
        return {
            "projectId": self.project_id,
            "userId": row["user_id"],
            "action": row["action"],
            "occurred": str(row["occurred_ms"]),
            "device": row["device"],
            "method": row["method"],
            "geo": row["geo"],
            "remoteAddress": row["remote_address"],
            "externalIds": json.loads(row["login_ids"]),
            "tenants": json.loads(row["tenants"]),
            "data": json.loads(row["data"]),
            "type": row["type"],
            "actorId": row["actor_id"],
        }

    # ------------------------------------------------------------------ tenants

    def _api_tenant(self, row: sqlite3.Row) -> dict[str, Any]:
        data = json.loads(row["data"])
        return {
            "id": row["id"],
            "name": row["name"],
            **DEFAULT_TENANT_FIELDS,
            **data,
            "createdTime": row["created_ms"] // 1000,
        }

    def tenant(self, tenant_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM tenants WHERE id = ?", (tenant_id,)).fetchone()
        return None if row is None else self._api_tenant(row)

    def tenants(self) -> list[dict[str, Any]]:
        return [
            self._api_tenant(r) for r in self.conn.execute("SELECT * FROM tenants ORDER BY created_ms, id")
        ]

    def tenant_by_name(self, name: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM tenants WHERE name = ? COLLATE NOCASE", (name,)).fetchone()
        return None if row is None else self._api_tenant(row)

    def create_tenant(
        self,
        name: str,
        *,
        tenant_id: str | None = None,
        fields: dict[str, Any] | None = None,
        at: float | None = None,
    ) -> dict[str, Any]:
        """Create a tenant (id chosen by the caller or generated); names and ids are unique."""
        tenant_id = tenant_id or new_id(self.rng, "T")
        if any(ord(c) < 32 for c in tenant_id):
            raise errors.invalid_argument("A tenant ID must not contain control characters")
        if self.tenant(tenant_id) is not None:
            raise errors.invalid_argument(f"Tenant with ID {tenant_id} already exists")
        self._check_tenant_name(name, tenant_id)
        self.conn.execute(
            "INSERT INTO tenants (id, name, data, created_ms) VALUES (?, ?, ?, ?)",
            (tenant_id, name, json.dumps(fields or {}), self._ms(at)),
        )
        return self.tenant(tenant_id) or {}

    def _check_tenant_name(self, name: str, tenant_id: str) -> None:
        other = self.tenant_by_name(name)
        if other is not None and other["id"] != tenant_id:
            raise errors.invalid_argument(f"Tenant name {name!r} is already in use")

    def update_tenant(
        self, tenant_id: str, *, name: str | None, fields: dict[str, Any], replace: bool
    ) -> None:
        """Replace (update) or merge (patch) a tenant's fields; raises not found."""
        current = self.tenant(tenant_id)
        if current is None:
            raise tenant_not_found(tenant_id)
        row = self.conn.execute("SELECT data FROM tenants WHERE id = ?", (tenant_id,)).fetchone()
        data = fields if replace else {**json.loads(row[0]), **fields}
        new_name = current["name"] if name is None else name
        self._check_tenant_name(new_name, tenant_id)
        self.conn.execute(
            "UPDATE tenants SET name = ?, data = ? WHERE id = ?", (new_name, json.dumps(data), tenant_id)
        )

    def delete_tenant(self, tenant_id: str, *, cascade: bool) -> list[str]:
        """Delete a tenant, its roles and settings; with cascade also users belonging only to it.

        Returns the ids of the users deleted.
        """
        if self.tenant(tenant_id) is None:
            raise tenant_not_found(tenant_id)
        doomed: list[str] = []
        with self.transaction():
            if cascade:
                doomed = [
                    r[0]
                    for r in self.conn.execute(
                        "SELECT u.id FROM user_tenants ut JOIN users u ON u.seq = ut.user_seq "
                        "WHERE ut.tenant_id = ? "
                        "AND (SELECT count(*) FROM user_tenants o WHERE o.user_seq = ut.user_seq) = 1",
                        (tenant_id,),
                    )
                ]
                self.delete_users(doomed)
            self._detach_tenant(tenant_id)
            for sql in (
                "DELETE FROM tenants WHERE id = ?",
                "DELETE FROM tenant_settings WHERE tenant_id = ?",
                "DELETE FROM roles WHERE tenant_id = ?",
            ):
                self.conn.execute(sql, (tenant_id,))
        return doomed

    def _detach_tenant(self, tenant_id: str) -> None:
        """Remove a tenant from every remaining member (both the side table and the JSON column)."""
        seqs = [
            r[0]
            for r in self.conn.execute("SELECT user_seq FROM user_tenants WHERE tenant_id = ?", (tenant_id,))
        ]
        self.conn.execute("DELETE FROM user_tenants WHERE tenant_id = ?", (tenant_id,))
        for start in range(0, len(seqs), 500):
            chunk = seqs[start : start + 500]
            rows = self.conn.execute(
                f"SELECT seq, tenants FROM users WHERE seq IN ({_marks(chunk)})", chunk
            ).fetchall()
            kept = [(r[0], [p for p in json.loads(r[1]) if p[0] != tenant_id]) for r in rows]
            self.conn.executemany(
                "UPDATE users SET tenants = ?, tenant_key = ? WHERE seq = ?",
                [(json.dumps(pairs), tenant_key(t for t, _ in pairs), seq) for seq, pairs in kept],
            )

    def tenant_settings(self, tenant_id: str) -> dict[str, Any] | None:
        """Flat settings object (descope-api.md §2.2): `enabled`, mirrored as `sessionSettingsEnabled`."""
        tenant = self.tenant(tenant_id)
        if tenant is None:
            return None
        row = self.conn.execute(
            "SELECT data FROM tenant_settings WHERE tenant_id = ?", (tenant_id,)
        ).fetchone()
        settings = {**DEFAULT_TENANT_SETTINGS, **(json.loads(row[0]) if row else {})}
        for name in ("selfProvisioningDomains", "enforceSSO", "enforceSSOExclusions", "federatedAppIds"):
            settings[name] = tenant[name]
        settings["sessionSettingsEnabled"] = settings["enabled"]
        return settings

    def set_tenant_settings(
        self, tenant_id: str, settings: dict[str, Any], tenant_fields: dict[str, Any]
    ) -> None:
        """Store session settings (already merged and validated) and the tenant-level fields they carry."""
        with self.transaction():
            self.update_tenant(tenant_id, name=None, fields=tenant_fields, replace=False)
            stored = {k: v for k, v in settings.items() if k in DEFAULT_TENANT_SETTINGS}
            self.conn.execute(
                "INSERT OR REPLACE INTO tenant_settings (tenant_id, data) VALUES (?, ?)",
                (tenant_id, json.dumps(stored)),
            )

    # ------------------------------------------------------------------ roles

    def create_role(
        self,
        name: str,
        *,
        description: str = "",
        permission_names: Sequence[str] = (),
        tenant_id: str = "",
        default: bool = False,
        private: bool = False,
        at: float | None = None,
    ) -> None:
        if tenant_id and self.tenant(tenant_id) is None:
            raise tenant_not_found(tenant_id)
        try:
            self.conn.execute(
                _insert(
                    "roles",
                    (
                        "name",
                        "tenant_id",
                        "description",
                        "permission_names",
                        "is_default",
                        "private",
                        "created_ms",
                    ),
                ),
                (
                    name,
                    tenant_id,
                    description,
                    json.dumps(list(permission_names)),
                    int(default),
                    int(private),
                    self._ms(at),
                ),
            )
        except sqlite3.IntegrityError:
            raise errors.invalid_argument(f"Role {name!r} already exists") from None

    def roles(self) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT * FROM roles ORDER BY tenant_id, created_ms, name")
        return [
            {
                "name": r["name"],
                "description": r["description"],
                "permissionNames": json.loads(r["permission_names"]),
                "createdTime": r["created_ms"] // 1000,
                "tenantId": r["tenant_id"],
                "default": bool(r["is_default"]),
                "private": bool(r["private"]),
            }
            for r in rows
        ]

    def delete_role(self, name: str, *, tenant_id: str = "") -> None:
        cur = self.conn.execute("DELETE FROM roles WHERE name = ? AND tenant_id = ?", (name, tenant_id))
        if cur.rowcount == 0:
            raise errors.not_found(f"Role {name!r} not found")

    # ------------------------------------------------------------------ meta

    def meta_get(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def meta_set(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # ------------------------------------------------------------------ bulk (seed)

    def bulk_insert_users(self, records: Sequence[dict[str, Any]]) -> None:
        """Insert many new users fast (executemany, one transaction); records as `create_user` builds them.

        Each record needs: id, login_ids, user_tenants (pairs), created_ms, and optionally every other
        internal field. No conflict checks beyond the unique indexes (the seed generates unique ids).
        """
        defaults = {
            "name": "",
            "given_name": "",
            "middle_name": "",
            "family_name": "",
            "email": "",
            "phone": "",
            "verified_email": False,
            "verified_phone": False,
            "role_names": [],
            "status": "invited",
            "picture": "",
            "test": False,
            "custom_attributes": {},
            "sso_app_ids": [],
            "password_hash": "",
            "password_state": "none",
            "signed_in": 0,
        }
        start = int(self.conn.execute("SELECT coalesce(max(seq), 0) FROM users").fetchone()[0]) + 1
        user_rows, login_rows, tenant_rows = [], [], []
        for offset, given in enumerate(records):
            rec = {**defaults, **given}
            seq = start + offset
            rec.setdefault("modified_ms", rec["created_ms"])
            user_rows.append(
                (
                    seq,
                    rec["id"],
                    rec["login_ids"][0],
                    _dumps(rec["login_ids"]),
                    *(rec[c] for c in ("name", "given_name", "middle_name", "family_name", "email", "phone")),
                    int(rec["verified_email"]),
                    int(rec["verified_phone"]),
                    _dumps(rec["role_names"]),
                    _dumps(rec["user_tenants"]),
                    rec["status"],
                    rec["picture"],
                    int(rec["test"]),
                    _dumps(rec["custom_attributes"]),
                    _dumps(rec["sso_app_ids"]),
                    rec["created_ms"],
                    rec["modified_ms"],
                    rec["password_hash"],
                    rec["password_state"],
                    rec["signed_in"],
                    _search_text(rec),
                    tenant_key(t for t, _ in rec["user_tenants"]),
                )
            )
            login_rows.extend((login_id, seq) for login_id in rec["login_ids"])
            tenant_rows.extend((t, seq, _dumps(roles)) for t, roles in rec["user_tenants"])
        with self.transaction():
            self.conn.executemany(
                _insert("users", _BULK_USER_COLUMNS),
                user_rows,
            )
            self.conn.executemany("INSERT INTO login_ids (login_id, user_seq) VALUES (?, ?)", login_rows)
            self.conn.executemany(
                "INSERT INTO user_tenants (tenant_id, user_seq, role_names) VALUES (?, ?, ?)", tenant_rows
            )

    def bulk_insert_history(self, rows: Sequence[tuple[str, int, str, str, str, str]]) -> None:
        """(user_id, login_time seconds, city, country, ip, selected_tenant) rows, one transaction."""
        with self.transaction():
            self.conn.executemany(
                _insert("history", _HISTORY_COLUMNS),
                rows,
            )
