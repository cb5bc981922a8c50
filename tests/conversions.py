"""For the conversion tests: anonymous users made by the KB recipe with the plain SDK, unique addresses,
the codes the sandbox "sent" (its outbox), a code's expiry brought forward in the sandbox's database
(its codes live 5 minutes and it has no clock to move), and a gateway that loses answers after the
write happened."""

from __future__ import annotations

import secrets
import sqlite3
from contextlib import closing
from typing import Any

import httpx
from descope import DeliveryMethod

from anonconsole.core.errors import Unreachable
from anonconsole.core.records import User
from anonconsole.gateway import Gateway
from anonconsole.gateway.recipe import random_login_id, random_password

DEFAULT_PASSWORD = "Def4ultPassword"


def anonymous_user(sandbox: Any, tenant_id: str) -> dict[str, Any]:
    """A fresh anonymous user, as the KB recipe makes one: random login ID, the tenant, a random password."""
    client = sandbox.client()
    login_id = random_login_id()
    client.password.sign_up(login_id, DEFAULT_PASSWORD)
    client.mgmt.user.add_tenant(login_id, tenant_id)
    client.password.replace(login_id, DEFAULT_PASSWORD, random_password())
    return client.mgmt.user.load(login_id)["user"]  # type: ignore[no-any-return]


def unique_email() -> str:
    return f"conv-{secrets.token_hex(5)}@example.com"


def unique_phone() -> str:
    """A French mobile number in a range phonenumbers holds all valid (+33 61 and 7 digits)."""
    return "+3361" + str(secrets.randbelow(10**7)).zfill(7)


def outbox(sandbox: Any, login_id: str) -> list[dict[str, Any]]:
    """The messages the sandbox 'sent' about `login_id`, newest first."""
    response = httpx.get(
        f"{sandbox.url}/_sandbox/outbox", params={"loginId": login_id}, headers=sandbox.mgmt_headers()
    )
    response.raise_for_status()
    return response.json()["messages"]  # type: ignore[no-any-return]


def latest_code(sandbox: Any, login_id: str) -> str:
    """The newest code sent for `login_id`, as the person would read it out from their inbox or phone."""
    return str(outbox(sandbox, login_id)[0]["code"])


def expire_codes(sandbox: Any, login_id: str) -> None:
    """Make the codes sent for `login_id` expired, as if their 5 minutes had passed."""
    with closing(sqlite3.connect(sandbox.db, timeout=30)) as db, db:
        changed = db.execute("UPDATE otp_codes SET expires = 0 WHERE login_id = ?", (login_id,)).rowcount
    assert changed, f"no code was sent for {login_id}"


def sign_in_by_otp(sandbox: Any, address: str) -> dict[str, Any]:
    """Sign in with `address` by a one-time code through the SDK, as the converted person would."""
    client = sandbox.client()
    method = DeliveryMethod.SMS if address.startswith("+") else DeliveryMethod.EMAIL
    client.otp.sign_in(method, address)
    return client.otp.verify_code(method, address, latest_code(sandbox, address))  # type: ignore[no-any-return]


class LosingGateway(Gateway):
    """Makes the calls named in `lose`, then loses their answers, as a connection dropped after the
    write would ("verify", "remove_tenant")."""

    lose: frozenset[str] = frozenset()

    def _lost(self, name: str) -> None:
        if name in self.lose:
            raise Unreachable("The connection to the sandbox was dropped before an answer arrived.")

    async def remove_tenant(self, login_id: str, tenant_id: str) -> User:
        user = await super().remove_tenant(login_id, tenant_id)
        self._lost("remove_tenant")
        return user

    async def verify_update_code(self, login_id: str, code: str, *, phone: bool) -> tuple[User, str]:
        answer = await super().verify_update_code(login_id, code, phone=phone)
        self._lost("verify")
        return answer
