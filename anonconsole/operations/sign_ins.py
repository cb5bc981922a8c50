"""A user's recent sign-ins, for the details panel."""

from __future__ import annotations

from anonconsole.core.records import LoginRecord
from anonconsole.gateway import Gateway


async def recent_sign_ins(gateway: Gateway, user_id: str) -> list[LoginRecord]:
    """The user's sign-ins that Descope's audit still holds."""
    return await gateway.login_history([user_id])
