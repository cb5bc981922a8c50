"""Users of the sandbox: their records, login ids, tenants, contact addresses and passwords."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import Any

from anonconsole.sandbox import errors, fields, passwords
from anonconsole.sandbox.store.base import StoreBase, dump_json, insert_sql, load_json, marks, new_id

PASSWORD_STATES = ("none", "active", "temporary", "expired")
# Passwords remembered per user: the most the reuse rule can ask about (passwords.RANGES).
HISTORY_KEPT = 50
USER_STATUSES = ("enabled", "disabled", "invited", "expired")
# Separates tenant ids in `users.tenant_key`; tenant ids may not contain control characters.
TENANT_SEP = "\x1f"

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


def _search_text(rec: dict[str, Any]) -> str:
    """Lower-cased haystack for the free-text filter: login ids, name, email, phone, user id."""
    parts = [*rec["login_ids"], rec["name"], rec["email"], rec["phone"], rec["id"]]
    return "\n".join(p for p in parts if p).lower()


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


class UserStore(StoreBase):
    """Users, shaped for 200,000+ of them.

    Users keep scalar columns plus JSON columns for arrays; `login_ids` (unique, case-insensitive) and
    `user_tenants` are side tables, and `tenant_key` / `search_text` denormalise tenants and free text
    into the user row, all kept in step by one writer (`_save`). Search runs off covering indexes per
    sort order (see `schema._SEARCH_DDL` and `Store.search_users`). Times are epoch milliseconds
    internally; the API's `createdTime`/`modifiedTime` are seconds.

    User dicts returned by every method are API-shaped (descope-api.md §3.1): every field present with
    its default value, `tenantName` filled from the tenant table and permissions from the roles.
    """

    def _tenant_names(self) -> dict[str, str]:
        return {row[0]: row[1] for row in self.conn.execute("SELECT id, name FROM tenants")}

    def _names(self) -> Names:
        permissions = {
            (row[0], row[1]): load_json(row[2])
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
            rec[column] = load_json(rec[column])
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
            rows = self.conn.execute(f"SELECT * FROM users WHERE id IN ({marks(chunk)})", chunk)
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
                raise errors.tenant_not_found(tenant_id)

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
                    f"INSERT INTO users ({cols}) VALUES ({marks(list(row))})", list(row.values())
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
        """Create a user; raises errors.user_already_exists when a login id is taken, and a 400
        when a login ID, name, email or phone breaks `fields`' rules.

        `password` is hashed; `password_hash` (already hashed, or passwords.UNUSABLE) skips hashing.
        """
        login_ids = list(dict.fromkeys([login_id, *additional_login_ids]))
        fields.check_user_fields(
            {
                "login_ids": login_ids,
                "name": name,
                "given_name": given_name,
                "middle_name": middle_name,
                "family_name": family_name,
                "email": email,
                "phone": phone,
            }
        )
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
            if password_hash and password_hash != passwords.UNUSABLE:
                self._remember_password(rec["id"], password_hash, now)
        return self._api_user(rec, self._names())

    def update_user(
        self, user_id: str, changes: dict[str, Any], *, at: float | None = None
    ) -> dict[str, Any]:
        """Apply changes (keys from UPDATABLE, snake_case) and bump modifiedTime; returns the user."""
        unknown = set(changes) - UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        fields.check_user_fields(changes)
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

    def delete_users(self, user_ids: Sequence[str]) -> int:
        """Delete users and everything hanging off them; returns how many existed."""
        deleted = 0
        with self.transaction():
            for start in range(0, len(user_ids), 500):
                chunk = list(user_ids[start : start + 500])
                seqs = [
                    r[0]
                    for r in self.conn.execute(f"SELECT seq FROM users WHERE id IN ({marks(chunk)})", chunk)
                ]
                if not seqs:
                    continue
                deleted += len(seqs)
                for table in ("login_ids", "user_tenants"):
                    self.conn.execute(f"DELETE FROM {table} WHERE user_seq IN ({marks(seqs)})", seqs)
                for table in ("history", "password_history", "password_failures"):
                    self.conn.execute(f"DELETE FROM {table} WHERE user_id IN ({marks(chunk)})", chunk)
                self.conn.execute(f"DELETE FROM users WHERE seq IN ({marks(seqs)})", seqs)
        return deleted

    def delete_test_users(self) -> int:
        ids = [r[0] for r in self.conn.execute("SELECT id FROM users WHERE test = 1")]
        return self.delete_users(ids)

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
        hashed, ms = passwords.hash_password(password), self._ms(at)
        with self.transaction():
            self.conn.execute(
                "UPDATE users SET password_hash = ?, password_state = ?, modified_ms = ? WHERE id = ?",
                (hashed, state, ms, user_id),
            )
            self._remember_password(user_id, hashed, ms)
            self.conn.execute("DELETE FROM password_failures WHERE user_id = ?", (user_id,))

    def _remember_password(self, user_id: str, hashed: str, ms: int) -> None:
        """Keep the hash in the user's history (reuse and expiration rules), at most HISTORY_KEPT."""
        self.conn.execute(
            "INSERT INTO password_history (user_id, hash, set_ms) VALUES (?, ?, ?)", (user_id, hashed, ms)
        )
        self.conn.execute(
            "DELETE FROM password_history WHERE user_id = ? AND id NOT IN "
            "(SELECT id FROM password_history WHERE user_id = ? ORDER BY id DESC LIMIT ?)",
            (user_id, user_id, HISTORY_KEPT),
        )

    def expire_password(self, user_id: str) -> None:
        """Force a reset: the password stays but sign-in with it answers E062909."""
        rec = self._require(user_id)
        if rec["password_state"] != "none":
            self.conn.execute("UPDATE users SET password_state = 'expired' WHERE id = ?", (user_id,))

    # ------------------------------------------------------------------ bulk (seed)

    def bulk_insert_users(self, records: Sequence[dict[str, Any]]) -> None:
        """Insert many new users fast (executemany, one transaction); records as `create_user` builds them.

        Each record needs: id, login_ids, user_tenants (pairs), created_ms, and optionally every other
        internal field. No conflict checks beyond the unique indexes (the seed generates unique ids).
        Lists of strings are written as `json.dumps` writes them, without its set-up per value (a
        million users have five JSON columns each).
        """
        start = int(self.conn.execute("SELECT coalesce(max(seq), 0) FROM users").fetchone()[0]) + 1
        user_rows: list[tuple[Any, ...]] = []
        login_rows: list[tuple[str, int]] = []
        tenant_rows: list[tuple[str, int, str]] = []
        for seq, given in enumerate(records, start):
            rec = {**_BULK_DEFAULTS, **given}
            login_ids, user_tenants = rec["login_ids"], rec["user_tenants"]
            user_rows.append(
                (
                    seq,
                    rec["id"],
                    login_ids[0],
                    _json_strings(login_ids),
                    rec["name"],
                    rec["given_name"],
                    rec["middle_name"],
                    rec["family_name"],
                    rec["email"],
                    rec["phone"],
                    int(rec["verified_email"]),
                    int(rec["verified_phone"]),
                    _json_strings(rec["role_names"]),
                    _json_tenants(user_tenants),
                    rec["status"],
                    rec["picture"],
                    int(rec["test"]),
                    dump_json(rec["custom_attributes"]),
                    _json_strings(rec["sso_app_ids"]),
                    rec["created_ms"],
                    rec.get("modified_ms", rec["created_ms"]),
                    rec["password_hash"],
                    rec["password_state"],
                    rec["signed_in"],
                    _search_text(rec),
                    tenant_key(t for t, _ in user_tenants),
                )
            )
            login_rows += [(login_id, seq) for login_id in login_ids]
            if user_tenants:
                tenant_rows += [(t, seq, _json_strings(roles)) for t, roles in user_tenants]
        with self.transaction():
            self.conn.executemany(
                insert_sql("users", _BULK_USER_COLUMNS),
                user_rows,
            )
            self.conn.executemany("INSERT INTO login_ids (login_id, user_seq) VALUES (?, ?)", login_rows)
            self.conn.executemany(
                "INSERT INTO user_tenants (tenant_id, user_seq, role_names) VALUES (?, ?, ?)", tenant_rows
            )


# What `bulk_insert_users` fills in for fields a record leaves out.
_BULK_DEFAULTS: dict[str, Any] = {
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


def _json_strings(values: Sequence[str]) -> str:
    """`json.dumps` of a list of strings, the same text (its ASCII escaping, its ", " separator)."""
    if not values:
        return "[]"
    return "[" + ", ".join(map(encode_basestring_ascii, values)) + "]"


def _json_tenants(pairs: Sequence[tuple[str, Sequence[str]]]) -> str:
    """`json.dumps` of (tenant id, role names) pairs, the same text."""
    if not pairs:
        return "[]"
    return "[" + ", ".join([f"[{encode_basestring_ascii(t)}, {_json_strings(r)}]" for t, r in pairs]) + "]"
