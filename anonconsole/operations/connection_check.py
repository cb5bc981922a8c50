"""Test a connection before using it, and say in plain words what is wrong when it fails."""

from __future__ import annotations

from anonconsole.core.connection import Connection, ConnectionCheck
from anonconsole.core.errors import AuthenticationFailed, GatewayError, PermissionDenied, UnknownProject
from anonconsole.gateway import Gateway

# A dialog waits for the verdict: a host that does not answer must not hold it for the SDK's minute.
TEST_TIMEOUT_SECONDS = 15.0


async def check_connection(connection: Connection) -> ConnectionCheck:
    """License handshake + a one-user search (`Gateway.check`), with a short timeout."""
    async with await Gateway.open(connection, timeout_seconds=TEST_TIMEOUT_SECONDS) as gateway:
        return await gateway.check()


def explain_failure(error: GatewayError, project_id: str) -> str:
    """The verdict in plain words: wrong key, wrong project, missing permission or no answer."""
    if isinstance(error, UnknownProject):
        return (
            f"The project ID {project_id} was not recognised by the service. Check the project ID "
            "(Descope console → Project settings) and the base URL."
        )
    if isinstance(error, AuthenticationFailed):
        return (
            "The management key was refused. Check that it belongs to this project and has not been "
            "deleted or expired (Descope console → Company → Management keys)."
        )
    if isinstance(error, PermissionDenied):
        return (
            "The management key works but lacks the permissions this console needs (searching and "
            "managing users and tenants). Give the key a broader role in the Descope console."
        )
    return error.user_message


def describe_check(check: ConnectionCheck) -> str:
    """A successful test in one sentence."""
    tier = f", rate-limit tier {check.rate_limit_tier}" if check.rate_limit_tier else ""
    return f"Connected to {check.host}: project {check.project_id}, {check.user_count:,} users{tier}."
