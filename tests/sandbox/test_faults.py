"""Fault knobs of a running sandbox: injected rate limits look exactly like Descope's own 429."""

from __future__ import annotations

from typing import Any

import pytest
from descope import RateLimitException


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
