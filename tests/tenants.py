"""Tenants set up on a sandbox as the KB article sets up its "Anonymous Users" tenant, for the tests of
the recipe and of the doctor."""

from __future__ import annotations

import secrets
from typing import Any


def anonymous_tenant(sandbox: Any, *, custom: bool = True, weeks: int = 52, days: int | None = None) -> str:
    """A fresh tenant set up like the KB article's (or without custom session management); its
    refresh tokens live `weeks`, or `days` when given."""
    client = sandbox.client()
    tenant_id = client.mgmt.tenant.create(f"Anonymous Users {secrets.token_hex(4)}")["id"]
    if custom:
        client.mgmt.tenant.update_settings(
            tenant_id,
            [],
            session_settings_enabled=True,
            refresh_token_expiration=weeks if days is None else days,
            refresh_token_expiration_unit="weeks" if days is None else "days",
            session_token_expiration=10,
            session_token_expiration_unit="minutes",
        )
    return tenant_id
