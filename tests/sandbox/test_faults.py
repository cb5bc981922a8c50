"""Fault knobs of a running sandbox: injected rate limits look exactly like Descope's own 429."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from descope import AuthException, RateLimitException


def test_an_injected_rate_limit_is_descopes_429(start_sandbox: Any) -> None:
    sandbox = start_sandbox()
    knobs = sandbox.set_faults(rateLimitRate=1, paths=["/v2/mgmt/user/search"])
    assert knobs["rateLimitRate"] == 1
    client = sandbox.client()
    with pytest.raises(RateLimitException) as raised:
        client.mgmt.user.search_all(limit=1)
    assert raised.value.status_code == "E130429"
    assert raised.value.rate_limit_parameters == {"Retry-After": 1}
    client.mgmt.tenant.load_all()  # other paths are served
    sandbox.set_faults(rateLimitRate=0)
    assert client.mgmt.user.search_all(limit=1)["total"] == 0


def test_a_rate_out_of_range_is_refused(start_sandbox: Any) -> None:
    sandbox = start_sandbox()
    with pytest.raises(Exception, match="400"):
        sandbox.set_faults(rateLimitRate=1.5)


# -- failing after the write: the change is made, the answer is lost ----------------------------------------


def _exists(sandbox: Any, login_id: str) -> bool:
    found = sandbox.client().mgmt.user.search_all(login_ids=[login_id], with_test_user=True)
    return bool(found["total"])


def test_an_error_after_the_write_loses_only_the_answer(start_sandbox: Any) -> None:
    sandbox = start_sandbox()
    knobs = sandbox.set_faults(errorAfterRate=1, paths=["/v1/mgmt/user/create"])
    assert (knobs["errorAfterRate"], knobs["errorRate"]) == (1, 0)
    with pytest.raises(AuthException) as raised:
        sandbox.client().mgmt.user.create("after@example.com")
    assert raised.value.status_code == 500
    assert "after the change was made" in raised.value.error_message
    sandbox.set_faults()
    assert _exists(sandbox, "after@example.com")


def test_an_error_before_the_write_makes_no_change(start_sandbox: Any) -> None:
    sandbox = start_sandbox()
    sandbox.set_faults(errorRate=1, paths=["/v1/mgmt/user/create"])
    with pytest.raises(AuthException) as raised:
        sandbox.client().mgmt.user.create("before@example.com")
    assert "before the change" in raised.value.error_message
    sandbox.set_faults()
    assert not _exists(sandbox, "before@example.com")


def test_a_dropped_connection_after_the_write_loses_only_the_answer(start_sandbox: Any) -> None:
    sandbox = start_sandbox()
    sandbox.set_faults(dropAfterRate=1, paths=["/v1/mgmt/user/delete"])
    client = sandbox.client()
    client.mgmt.user.create("dropped@example.com")
    with pytest.raises(httpx.TransportError):
        client.mgmt.user.delete("dropped@example.com")
    sandbox.set_faults()
    assert not _exists(sandbox, "dropped@example.com")


def test_times_limits_the_faults_to_the_next_requests(start_sandbox: Any) -> None:
    """`times: 1` fails exactly the next matching request, then the sandbox serves normally."""
    sandbox = start_sandbox()
    knobs = sandbox.set_faults(errorAfterRate=1, times=1, paths=["/v1/mgmt/user/create"])
    assert knobs["times"] == 1
    client = sandbox.client()
    with pytest.raises(AuthException):
        client.mgmt.user.create("first@example.com")
    client.mgmt.user.create("second@example.com")
    assert _exists(sandbox, "first@example.com")
    assert _exists(sandbox, "second@example.com")
    left = httpx.get(f"{sandbox.url}/_sandbox/faults", headers=sandbox.mgmt_headers()).json()
    assert left["times"] == 0
    assert sandbox.set_faults()["times"] is None  # absent: no limit


@pytest.mark.parametrize(
    "knobs",
    [{"errorAfterRate": 1.5}, {"dropAfterRate": -0.1}, {"times": -1}, {"times": "twice"}],
)
def test_after_knobs_out_of_range_are_refused(start_sandbox: Any, knobs: dict[str, Any]) -> None:
    sandbox = start_sandbox()
    response = httpx.post(f"{sandbox.url}/_sandbox/faults", json=knobs, headers=sandbox.mgmt_headers())
    assert response.status_code == 400


def test_a_refused_request_is_answered_as_such_under_an_after_fault(start_sandbox: Any) -> None:
    """Nothing was done, so there is no answer to lose: the client reads the real 400."""
    sandbox = start_sandbox()
    sandbox.set_faults(errorAfterRate=1, paths=["/v1/mgmt/user/create"])
    response = httpx.post(
        f"{sandbox.url}/v1/mgmt/user/create", json={"loginId": "   "}, headers=sandbox.mgmt_headers()
    )
    assert response.status_code == 400
    assert response.json()["errorCode"] == "E011004"
