"""Management API routes (users, tenants, roles, audit, license). Being written: see docs/contracts.md."""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    return []
