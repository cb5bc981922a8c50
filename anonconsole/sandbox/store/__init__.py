"""All persistent state of the sandbox: one `Store` over one SQLite file (WAL), shaped for 200,000+ users."""

from __future__ import annotations

import itertools
import secrets
import sqlite3
import time
from collections.abc import Callable
from random import Random

from anonconsole.sandbox.errors import tenant_not_found
from anonconsole.sandbox.store import schema
from anonconsole.sandbox.store.access_keys import AccessKeyStore
from anonconsole.sandbox.store.base import ID_ALPHABET, StoreBase, new_id
from anonconsole.sandbox.store.defaults import install_defaults
from anonconsole.sandbox.store.flows import FlowStore
from anonconsole.sandbox.store.links import LINK_KINDS, LINK_SECONDS, LinkStore
from anonconsole.sandbox.store.otp import OTP_SECONDS, OtpStore
from anonconsole.sandbox.store.outbox import OutboxStore
from anonconsole.sandbox.store.password_settings import PasswordSettingsStore
from anonconsole.sandbox.store.roles_audit import (
    AUDIT_WINDOW_MS,
    MANAGEMENT_ACTOR,
    RoleAuditStore,
    audit_row,
    sign_in_audit_row,
)
from anonconsole.sandbox.store.schema import SCHEMA_VERSION
from anonconsole.sandbox.store.search import (
    DEFAULT_SORT,
    DIRECT_ROWS,
    FILTER_INDEX,
    INDEXED_FILTERS,
    SORT_FIELDS,
    SORT_INDEXES,
    SearchStore,
    UserQuery,
    WriteScopedCache,
    active_filters,
)
from anonconsole.sandbox.store.sessions import SessionStore
from anonconsole.sandbox.store.sso import SsoStore
from anonconsole.sandbox.store.tenants import DEFAULT_TENANT_FIELDS, DEFAULT_TENANT_SETTINGS, UNIT_SECONDS
from anonconsole.sandbox.store.users import (
    PASSWORD_STATES,
    TENANT_SEP,
    UPDATABLE,
    USER_STATUSES,
    Names,
    tenant_key,
    tenant_needle,
)


class Store(
    SearchStore,
    SessionStore,
    AccessKeyStore,
    SsoStore,
    RoleAuditStore,
    PasswordSettingsStore,
    OtpStore,
    LinkStore,
    OutboxStore,
    FlowStore,
):
    """The sandbox's persistent state. See docs/contracts.md §2 for the contract.

    Callers see one class; each base class is one domain (users, search, tenants, roles and audit,
    sessions, access keys, SSO settings, password settings, one-time codes, links, outbox, flows), all
    on the same connection and state (`StoreBase`).
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
        self.rng = rng or secrets.SystemRandom()
        self._savepoints = itertools.count()
        self._ordered = WriteScopedCache(conn)
        self._totals = WriteScopedCache(conn, size=32)
        # A 200,000-user database is ~170 MB: a bigger page cache and memory-mapped reads keep full
        # scans (free-text search, first page of a new query) in memory instead of re-reading pages.
        conn.execute("PRAGMA cache_size = -131072")
        conn.execute("PRAGMA mmap_size = 536870912")
        schema.install(self)
        install_defaults(self)


__all__ = [
    "AUDIT_WINDOW_MS",
    "DEFAULT_SORT",
    "DEFAULT_TENANT_FIELDS",
    "DEFAULT_TENANT_SETTINGS",
    "DIRECT_ROWS",
    "FILTER_INDEX",
    "ID_ALPHABET",
    "INDEXED_FILTERS",
    "LINK_KINDS",
    "LINK_SECONDS",
    "MANAGEMENT_ACTOR",
    "OTP_SECONDS",
    "PASSWORD_STATES",
    "SCHEMA_VERSION",
    "SORT_FIELDS",
    "SORT_INDEXES",
    "TENANT_SEP",
    "UNIT_SECONDS",
    "UPDATABLE",
    "USER_STATUSES",
    "Names",
    "Store",
    "StoreBase",
    "UserQuery",
    "WriteScopedCache",
    "active_filters",
    "audit_row",
    "new_id",
    "sign_in_audit_row",
    "tenant_key",
    "tenant_needle",
    "tenant_not_found",
]
