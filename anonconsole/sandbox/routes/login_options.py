"""What a sign-in's `loginOptions` ask for, carried by its code or link to the verification.

The SDK sends `LoginOptions.__dict__` (stepup, mfa, customClaims, and optionally revokeOtherSessions,
templateOptions, templateId, locale) or, for sign-ups, `signup_options_to_dict`. Custom claims go into
the tokens issued on verification; `stepup` adds `su: true` and `mfa` keeps the factors the session
already had in `amr`, both for the user signed in by the refresh token the SDK then sends (a 401
without one); `revokeOtherSessions` ends the user's other sessions. Template options only shape the
message, which the sandbox puts in its outbox as is.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from anonconsole.sandbox import errors
from anonconsole.sandbox.body import Body
from anonconsole.sandbox.routes import signin
from anonconsole.sandbox.routes.common import context


def read(
    request: Request | None, body: Body, login_id: str, *, field: str = "loginOptions"
) -> dict[str, Any]:
    """The options of a request as the data its code or link carries (only what has an effect).

    `request` None: a management call (test-user codes and links), which has no user session, so
    step-up and MFA are refused there."""
    options = Body(body.obj(field) or {})
    stepup = bool(options.flag("stepup"))
    mfa = bool(options.flag("mfa"))
    claims = options.obj("customClaims")
    revoke = bool(options.flag("revokeOtherSessions"))
    options.obj("templateOptions")
    options.text("templateId")
    options.text("locale")
    options.ignore("ssoAppId", "pkceChallenge")
    options.done()
    data: dict[str, Any] = {}
    if claims:
        data["customClaims"] = claims
    if revoke:
        data["revokeOtherSessions"] = True
    if stepup or mfa:
        if request is None:
            raise errors.invalid_argument("stepup and mfa need the user's session: not for test-user codes")
        session, user = signin.signed_in_user(request)
        signin.owned_login_id(user, login_id)
        data.update(stepup=stepup, mfa=mfa, amr=list(session.get("amr", [])))
    return data


def issue(
    request: Request, user: dict[str, Any], data: dict[str, Any], *, method: str, amr: list[str]
) -> Response:
    """Sign the user in as the options carried by `data` ask (claims, step-up, MFA, revocation)."""
    if data.get("revokeOtherSessions"):
        context(request).store.revoke_sessions(user["userId"])
    extra = signin.custom_claims(data.get("customClaims"))
    if data.get("stepup"):
        extra["su"] = True
    if data.get("mfa"):
        amr = list(dict.fromkeys([*data.get("amr", []), *amr]))
    return signin.issue(request, user, method=method, amr=amr, extra=extra)
