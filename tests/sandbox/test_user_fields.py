"""Login IDs, names, emails and phones the sandbox refuses to store, by every way a user is written."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from sandbox.answers import StoreWatch, descope_error

if TYPE_CHECKING:
    from conftest import RunningSandbox

BAD_LOGIN_IDS = {
    "NUL": "nul\x00byte@example.com",
    "a control character": "bell\x07@example.com",
    "a newline": "two\nlines",
    "DEL": "del\x7f@example.com",
    "only spaces": "   ",
    "a leading space": " lead@example.com",
    "a trailing tab": "trail@example.com\t",
    "a right-to-left override": "\u202emoc.elpmaxe@live",
    "a zero-width space": "zero\u200bwidth@example.com",
    "a line separator": "line\u2028sep",
    "1,000 characters": "x" * 1000,
}
BAD_NAMES = {
    "NUL": "Ann\x00Lee",
    "a control character": "Ann\x1bLee",
    "a right-to-left override": "Ann \u202eeeL",
    "300 characters": "N" * 300,
}
BAD_EMAILS = {
    "no at-sign": "not-an-address",
    "two at-signs": "a@b@example.com",
    "a space": "a b@example.com",
    "a NUL": "a\x00b@example.com",
    "no domain dot": "user@localhost",
}
BAD_PHONES = {
    "letters": "call-me-maybe",
    "too short": "+12",
    "a NUL": "+1555\x000100",
    "too long": "+1" + "5" * 40,
}


def _fresh() -> str:
    return f"f{secrets.token_hex(5)}@example.com"


@pytest.fixture
def watch(sandbox: RunningSandbox) -> Iterator[StoreWatch]:
    with StoreWatch(sandbox.db) as store:
        yield store


def _mgmt(sandbox: RunningSandbox, method: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.request(method, f"{sandbox.url}{path}", json=body, headers=sandbox.mgmt_headers())


def _auth(sandbox: RunningSandbox, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{sandbox.url}{path}", json=body, headers={"Authorization": f"Bearer {sandbox.project_id}"}
    )


def _existing(sandbox: RunningSandbox) -> str:
    login_id = _fresh()
    assert _mgmt(sandbox, "POST", "/v1/mgmt/user/create", {"loginId": login_id}).status_code == 200
    return login_id


# Every way a login ID reaches the store, as (what it writes, how to send `bad` as a login ID).
LOGIN_ID_WRITERS: dict[str, Callable[[RunningSandbox, str], httpx.Response]] = {
    "create": lambda s, bad: _mgmt(s, "POST", "/v1/mgmt/user/create", {"loginId": bad}),
    "create test user": lambda s, bad: _mgmt(s, "POST", "/v1/mgmt/user/create/test", {"loginId": bad}),
    "additional login ID": lambda s, bad: _mgmt(
        s, "POST", "/v1/mgmt/user/create", {"loginId": _fresh(), "additionalLoginIds": [bad]}
    ),
    "update login ID": lambda s, bad: _mgmt(
        s, "POST", "/v1/mgmt/user/update/loginid", {"loginId": _existing(s), "newLoginId": bad}
    ),
    "update adds login IDs": lambda s, bad: _mgmt(
        s, "POST", "/v1/mgmt/user/update", {"loginId": _existing(s), "additionalLoginIds": [bad]}
    ),
    "password sign-up": lambda s, bad: _auth(
        s, "/v1/auth/password/signup", {"loginId": bad, "password": "Passw0rdOk"}
    ),
    "management sign-up": lambda s, bad: _mgmt(s, "POST", "/v1/mgmt/auth/signup", {"loginId": bad}),
    "OTP sign-up": lambda s, bad: _auth(
        s, "/v1/auth/otp/signup/email", {"loginId": bad, "user": {"email": "otp@example.com"}}
    ),
}


@pytest.mark.parametrize("bad", BAD_LOGIN_IDS.values(), ids=BAD_LOGIN_IDS.keys())
@pytest.mark.parametrize("writer", LOGIN_ID_WRITERS.values(), ids=LOGIN_ID_WRITERS.keys())
def test_a_login_id_descope_would_refuse_is_not_stored(
    sandbox: RunningSandbox,
    watch: StoreWatch,
    writer: Callable[[RunningSandbox, str], httpx.Response],
    bad: str,
) -> None:
    response = writer(sandbox, bad)
    watch.changed()  # the user some writers create first
    body = descope_error(response, 400, "E011004")
    assert "login ID" in body["errorMessage"]
    stored = watch.query("SELECT count(*) FROM login_ids WHERE login_id = ?", (bad,))
    assert stored == [(0,)]


def test_a_login_id_within_the_rules_is_stored(sandbox: RunningSandbox) -> None:
    for good in ("ana.lópez@example.com", "+15555550100", "some user", "用户名", "x" * 256):
        response = _mgmt(sandbox, "POST", "/v1/mgmt/user/create", {"loginId": good})
        assert response.status_code == 200, (good, response.text)
        assert response.json()["user"]["loginIds"] == [good]


@pytest.mark.parametrize("bad", BAD_NAMES.values(), ids=BAD_NAMES.keys())
@pytest.mark.parametrize("field", ["name", "givenName", "middleName", "familyName"])
def test_a_name_descope_would_refuse_is_not_stored(
    sandbox: RunningSandbox, watch: StoreWatch, field: str, bad: str
) -> None:
    created = _mgmt(sandbox, "POST", "/v1/mgmt/user/create", {"loginId": _fresh(), field: bad})
    descope_error(created, 400, "E011004")
    assert not watch.changed()
    login_id = _existing(sandbox)
    watch.changed()
    renamed = _mgmt(sandbox, "POST", "/v1/mgmt/user/update/name", {"loginId": login_id, field: bad})
    descope_error(renamed, 400, "E011004")
    assert not watch.changed()


def test_names_in_any_script_are_stored(sandbox: RunningSandbox) -> None:
    """Right-to-left scripts keep their marks (RLM, ZWNJ): only overrides and controls are refused."""
    names = {
        "name": "\u05d3\u05e0\u05d4 \u200f\u05db\u05d4\u05df",
        "givenName": "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
    }
    response = _mgmt(sandbox, "POST", "/v1/mgmt/user/create", {"loginId": _fresh(), **names})
    assert response.status_code == 200, response.text
    assert response.json()["user"]["name"] == names["name"]


@pytest.mark.parametrize("bad", BAD_EMAILS.values(), ids=BAD_EMAILS.keys())
def test_an_email_descope_would_refuse_is_not_stored(
    sandbox: RunningSandbox, watch: StoreWatch, bad: str
) -> None:
    created = _mgmt(sandbox, "POST", "/v1/mgmt/user/create", {"loginId": _fresh(), "email": bad})
    descope_error(created, 400, "E011004")
    login_id = _existing(sandbox)
    watch.changed()
    updated = _mgmt(sandbox, "POST", "/v1/mgmt/user/update/email", {"loginId": login_id, "email": bad})
    descope_error(updated, 400, "E011004")
    assert not watch.changed()


@pytest.mark.parametrize("bad", BAD_PHONES.values(), ids=BAD_PHONES.keys())
def test_a_phone_descope_would_refuse_is_not_stored(
    sandbox: RunningSandbox, watch: StoreWatch, bad: str
) -> None:
    created = _mgmt(sandbox, "POST", "/v1/mgmt/user/create", {"loginId": _fresh(), "phone": bad})
    descope_error(created, 400, "E011004")
    login_id = _existing(sandbox)
    watch.changed()
    updated = _mgmt(sandbox, "POST", "/v1/mgmt/user/update/phone", {"loginId": login_id, "phone": bad})
    descope_error(updated, 400, "E011004")
    assert not watch.changed()


def test_clearing_an_email_or_phone_is_allowed(sandbox: RunningSandbox) -> None:
    login_id = _fresh()
    created = _mgmt(
        sandbox,
        "POST",
        "/v1/mgmt/user/create",
        {"loginId": login_id, "email": "clear.me@example.com", "phone": "+1 (555) 555-0100"},
    )
    assert created.status_code == 200, created.text
    for path, field in (("email", "email"), ("phone", "phone")):
        response = _mgmt(sandbox, "POST", f"/v1/mgmt/user/update/{path}", {"loginId": login_id, field: ""})
        assert response.status_code == 200, response.text
        assert response.json()["user"][field] == ""


def test_a_login_id_that_is_no_email_does_not_become_the_email(sandbox: RunningSandbox) -> None:
    """An address is taken from the login ID only when it is one (the KB's random IDs are not)."""
    response = _mgmt(
        sandbox, "POST", "/v1/mgmt/user/create", {"loginId": f"k{secrets.token_hex(4)}@zz.invalid"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == ""
