"""Plain records of what the console reads from Descope: users, tenants, session settings, history, audit.

Pure Python (no Qt, no I/O). Each record has a `from_api` constructor taking the JSON object the
management API returns (descope-api.md §3), tolerant of missing fields, since the live service and the
sandbox emit defaults but older responses may not.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Literal

# Units Descope accepts for token lifetimes (descope-api.md §2.2), in seconds.
UNIT_SECONDS: Mapping[str, int] = {
    "minutes": 60,
    "hours": 3600,
    "days": 86400,
    "weeks": 604800,
}

USER_STATUSES = ("enabled", "disabled", "invited", "expired")


def duration_seconds(value: int, unit: str) -> int | None:
    """`value` `unit`s in seconds, or None when unset (0) or the unit is unknown."""
    factor = UNIT_SECONDS.get(unit)
    if not value or factor is None:
        return None
    return int(value) * factor


# One shared, read-only empty mapping: most records have no custom attributes, and an empty dict per
# record costs 64 bytes (100k users: 6 MB).
EMPTY_MAPPING: Mapping[str, Any] = MappingProxyType({})


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value or ())


def _text(value: Any) -> str:
    """A string field; None and missing become ""."""
    return value if type(value) is str else str(value or "")


def _shared(value: Any) -> str:
    """A string field whose values repeat across records (statuses, tenant IDs and names): one copy."""
    return sys.intern(_text(value))


def _mapping(value: Any) -> Mapping[str, Any]:
    return dict(value) if value else EMPTY_MAPPING


def _empty_mapping() -> Mapping[str, Any]:
    """Default for mapping fields: the shared empty one (dataclasses refuse an unhashable default)."""
    return EMPTY_MAPPING


def _epoch_ms(moment: datetime) -> int:
    """Epoch milliseconds; a naive datetime is taken as UTC (the API speaks UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class UserTenant:
    """A user's membership in one tenant."""

    tenant_id: str
    tenant_name: str = ""
    role_names: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> UserTenant:
        return _user_tenant(
            _shared(data.get("tenantId")),
            _shared(data.get("tenantName")),
            tuple(_shared(r) for r in data.get("roleNames") or ()),
        )


@lru_cache(maxsize=4096)
def _user_tenant(tenant_id: str, tenant_name: str, role_names: tuple[str, ...]) -> UserTenant:
    """One object per distinct membership: 100k anonymous users share the same one."""
    return UserTenant(tenant_id, tenant_name, role_names)


@lru_cache(maxsize=4096)
def _tenant_tuple(tenants: tuple[UserTenant, ...]) -> tuple[UserTenant, ...]:
    """One tuple per distinct list of memberships (the users of a tenant share it)."""
    return tenants


def _user_tenants(value: Any) -> tuple[UserTenant, ...]:
    if not value:
        return ()
    return _tenant_tuple(tuple(UserTenant.from_api(t) for t in value))


@dataclass(frozen=True, slots=True)
class User:
    """A Descope user as the console shows it (descope-api.md §3.1).

    Attributes:
        user_id: `U…` id, stable across login-id changes.
        login_ids: all login ids, the first one is the primary.
        created_time: epoch seconds (the API's unit for this field).
        has_password: the user has a password credential (`password` in the API).
        tenants: memberships, in API order.
    """

    user_id: str
    login_ids: tuple[str, ...] = ()
    name: str = ""
    given_name: str = ""
    middle_name: str = ""
    family_name: str = ""
    email: str = ""
    phone: str = ""
    verified_email: bool = False
    verified_phone: bool = False
    status: str = ""
    tenants: tuple[UserTenant, ...] = ()
    role_names: tuple[str, ...] = ()
    test: bool = False
    created_time: int = 0
    has_password: bool = False
    picture: str = ""
    custom_attributes: Mapping[str, Any] = field(default_factory=_empty_mapping)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> User:
        """From the API's user object; repeated values are shared, so 100k users stay small."""
        get = data.get
        login_ids = _strings(get("loginIds"))
        email = _text(get("email"))
        if email in login_ids:  # the usual case: keep one copy of the address
            email = login_ids[login_ids.index(email)]
        return cls(
            user_id=_text(get("userId")),
            login_ids=login_ids,
            name=_text(get("name")),
            given_name=_text(get("givenName")),
            middle_name=_text(get("middleName")),
            family_name=_text(get("familyName")),
            email=email,
            phone=_text(get("phone")),
            verified_email=bool(get("verifiedEmail")),
            verified_phone=bool(get("verifiedPhone")),
            status=_shared(get("status")),
            tenants=_user_tenants(get("userTenants")),
            role_names=tuple(_shared(r) for r in get("roleNames") or ()),
            test=bool(get("test")),
            created_time=int(get("createdTime") or 0),
            has_password=bool(get("password")),
            picture=_text(get("picture")),
            custom_attributes=_mapping(get("customAttributes")),
        )

    @property
    def primary_login_id(self) -> str:
        return self.login_ids[0] if self.login_ids else ""

    @property
    def tenant_ids(self) -> tuple[str, ...]:
        return tuple(t.tenant_id for t in self.tenants)

    def in_tenant(self, tenant_id: str) -> bool:
        return tenant_id in self.tenant_ids

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.created_time, UTC)


@dataclass(frozen=True, slots=True)
class Tenant:
    """A tenant (descope-api.md §3.3). `created_time` is epoch seconds."""

    id: str
    name: str = ""
    self_provisioning_domains: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    auth_type: str = ""
    disabled: bool = False
    created_time: int = 0
    custom_attributes: Mapping[str, Any] = field(default_factory=_empty_mapping)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Tenant:
        return cls(
            id=str(data.get("id", "")),
            name=str(data.get("name", "") or ""),
            self_provisioning_domains=_strings(data.get("selfProvisioningDomains")),
            domains=_strings(data.get("domains")),
            auth_type=str(data.get("authType", "") or ""),
            disabled=bool(data.get("disabled", False)),
            created_time=int(data.get("createdTime", 0) or 0),
            custom_attributes=_mapping(data.get("customAttributes")),
        )


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """A tenant's session settings (descope-api.md §2.2 `load_settings`).

    `enabled` is the tenant's "custom session management" switch; when False the project's settings
    apply and the lifetimes here are not in force. Units are plain strings (`minutes|hours|days|weeks`,
    or "" when unset). To change settings, `dataclasses.replace` a loaded record and hand it to the
    gateway, which keeps the tenant's self-provisioning domains as they are on the server.
    """

    tenant_id: str = ""
    enabled: bool = False
    refresh_token_expiration: int = 0
    refresh_token_expiration_unit: str = ""
    session_token_expiration: int = 0
    session_token_expiration_unit: str = ""
    stepup_token_expiration: int = 0
    stepup_token_expiration_unit: str = ""
    enable_inactivity: bool = False
    inactivity_time: int = 0
    inactivity_time_unit: str = ""
    self_provisioning_domains: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    auth_type: str = ""
    jit_disabled: bool = False

    @classmethod
    def from_api(cls, data: Mapping[str, Any], tenant_id: str = "") -> SessionSettings:
        # `enabled` is the real field; `sessionSettingsEnabled` only appears in the SDK's test mocks.
        enabled = data.get("enabled", data.get("sessionSettingsEnabled", False))
        return cls(
            tenant_id=tenant_id or str(data.get("tenantId", "") or ""),
            enabled=bool(enabled),
            refresh_token_expiration=int(data.get("refreshTokenExpiration", 0) or 0),
            refresh_token_expiration_unit=str(data.get("refreshTokenExpirationUnit", "") or ""),
            session_token_expiration=int(data.get("sessionTokenExpiration", 0) or 0),
            session_token_expiration_unit=str(data.get("sessionTokenExpirationUnit", "") or ""),
            stepup_token_expiration=int(data.get("stepupTokenExpiration", 0) or 0),
            stepup_token_expiration_unit=str(data.get("stepupTokenExpirationUnit", "") or ""),
            enable_inactivity=bool(data.get("enableInactivity", False)),
            inactivity_time=int(data.get("inactivityTime", 0) or 0),
            inactivity_time_unit=str(data.get("inactivityTimeUnit", "") or ""),
            self_provisioning_domains=_strings(data.get("selfProvisioningDomains")),
            domains=_strings(data.get("domains")),
            auth_type=str(data.get("authType", "") or ""),
            jit_disabled=bool(data.get("JITDisabled", False)),
        )

    @property
    def refresh_seconds(self) -> int | None:
        """Refresh-token lifetime in seconds (an anonymous user's lifetime), None when unset."""
        return duration_seconds(self.refresh_token_expiration, self.refresh_token_expiration_unit)

    @property
    def session_seconds(self) -> int | None:
        """Session-token lifetime in seconds, None when unset."""
        return duration_seconds(self.session_token_expiration, self.session_token_expiration_unit)


@dataclass(frozen=True, slots=True)
class LoginRecord:
    """One sign-in from a user's history (descope-api.md §3.2). `login_time` is epoch seconds."""

    user_id: str
    login_time: int
    city: str = ""
    country: str = ""
    ip: str = ""
    selected_tenant: str = ""

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> LoginRecord:
        return cls(
            user_id=str(data.get("userId", "")),
            login_time=int(data.get("loginTime", 0) or 0),
            city=str(data.get("city", "") or ""),
            country=str(data.get("country", "") or ""),
            ip=str(data.get("ip", "") or ""),
            selected_tenant=str(data.get("selectedTenant", "") or ""),
        )


def latest_logins(records: Iterable[LoginRecord]) -> dict[str, int]:
    """The last sign-in time (epoch seconds) per user id; users who never signed in are absent."""
    latest: dict[str, int] = {}
    for record in records:
        if record.login_time > latest.get(record.user_id, -1):
            latest[record.user_id] = record.login_time
    return latest


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One audit-trail record. `occurred` is timezone-aware UTC."""

    action: str
    occurred: datetime
    user_id: str = ""
    login_ids: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ()
    device: str = ""
    method: str = ""
    geo: str = ""
    remote_address: str = ""
    data: Mapping[str, Any] = field(default_factory=_empty_mapping)

    @classmethod
    def from_sdk(cls, data: Mapping[str, Any]) -> AuditEvent:
        """From the record as the SDK reshapes it: `loginIds`, `occurred` a naive UTC datetime."""
        occurred = data.get("occurred")
        if isinstance(occurred, datetime):
            occurred = occurred if occurred.tzinfo else occurred.replace(tzinfo=UTC)
        else:
            occurred = datetime.fromtimestamp(float(occurred or 0) / 1000, UTC)
        return cls(
            action=str(data.get("action", "")),
            occurred=occurred,
            user_id=str(data.get("userId", "") or ""),
            login_ids=_strings(data.get("loginIds", data.get("externalIds"))),
            tenants=_strings(data.get("tenants")),
            device=str(data.get("device", "") or ""),
            method=str(data.get("method", "") or ""),
            geo=str(data.get("geo", "") or ""),
            remote_address=str(data.get("remoteAddress", "") or ""),
            data=_mapping(data.get("data")),
        )


TestUsers = Literal["exclude", "include", "only"]


@dataclass(frozen=True)
class UserFilter:
    """What to search users by; every field empty means "all users" (test users excluded).

    Times are datetimes (naive = UTC); the gateway sends them as epoch milliseconds, inclusive.
    `sort` is a sequence of (field, descending) pairs using user-object field names such as
    `createdTime` or `name`.
    """

    tenant_ids: Sequence[str] = ()
    statuses: Sequence[str] = ()
    text: str = ""
    login_ids: Sequence[str] = ()
    emails: Sequence[str] = ()
    phones: Sequence[str] = ()
    user_ids: Sequence[str] = ()
    role_names: Sequence[str] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    modified_after: datetime | None = None
    modified_before: datetime | None = None
    test_users: TestUsers = "exclude"
    sort: Sequence[tuple[str, bool]] = ()

    def __post_init__(self) -> None:
        unknown = set(self.statuses) - set(USER_STATUSES)
        if unknown:
            raise ValueError(f"unknown user status(es): {', '.join(sorted(unknown))}")
        if self.test_users not in ("exclude", "include", "only"):
            raise ValueError(f"test_users must be exclude, include or only, not {self.test_users!r}")

    def time_range_ms(self) -> dict[str, int]:
        """The set time bounds as `search_all` keyword arguments in epoch milliseconds."""
        bounds = {
            "from_created_time": self.created_after,
            "to_created_time": self.created_before,
            "from_modified_time": self.modified_after,
            "to_modified_time": self.modified_before,
        }
        return {name: _epoch_ms(moment) for name, moment in bounds.items() if moment is not None}
