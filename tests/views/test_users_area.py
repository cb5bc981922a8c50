"""The users area against a real sandbox: a cancelled load keeps its rows, pages not shown catch up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waiting import until_signal

from anonconsole.core.classify import Kind
from anonconsole.gateway import Connection, Gateway
from anonconsole.views.users_area import UsersArea

RunningSandbox = Any  # tests/conftest.py's fixture type (conftest modules are not importable)


def gateway_for(sandbox: RunningSandbox) -> Gateway:
    return Gateway(Connection(sandbox.project_id, sandbox.url, sandbox.management_key))


def test_cancel_keeps_what_was_loaded(
    qtbot: Any, arun: Callable[..., Any], start_sandbox: Callable[..., RunningSandbox]
) -> None:
    sandbox = start_sandbox(users=6000, latency_ms=150)
    area = UsersArea()
    view = area.views["all"]
    qtbot.addWidget(view)
    messages: list[str] = []
    area.message.connect(lambda text, _error: messages.append(text))

    async def scenario() -> None:
        async with Gateway(
            Connection(sandbox.project_id, sandbox.url, sandbox.management_key), max_concurrency=1
        ) as gateway:
            await area.connect_to(gateway)
            await until_signal(area.loader.rows_added, lambda: len(area.table) > 0)
            area.cancel()
            await area.wait()
            assert not area.loading
            assert 0 < len(area.table) < 6000
            assert view.model.rowCount() > 0

    arun(scenario())
    assert messages[-1].startswith("Loading cancelled")


def test_pages_not_shown_catch_up_when_shown(
    qtbot: Any, arun: Callable[..., Any], start_sandbox: Callable[..., RunningSandbox]
) -> None:
    sandbox = start_sandbox(users=2500)
    area = UsersArea()
    area.set_active("all")
    for view in area.views.values():
        qtbot.addWidget(view)

    async def scenario() -> None:
        async with gateway_for(sandbox) as gateway:
            await area.connect_to(gateway)
            await area.wait()

    arun(scenario())
    counts = area.table.counts()
    assert area.views["all"].model.rowCount() == sum(counts.values())
    anonymous = area.views["anonymous"]
    assert anonymous.model.rowCount() == 0, "a page not shown is not laid out during the load"
    area.set_active("anonymous")
    assert anonymous.model.rowCount() == counts[Kind.ANONYMOUS] > 0


def test_users_deleted_or_disabled_here_leave_or_change_at_once(qtbot: Any) -> None:
    """The cull tells the area what it did, batch after batch: no reload needed to see it."""
    from anonconsole.core.classify import AnonymousPolicy
    from anonconsole.core.records import User, UserTenant

    area = UsersArea()
    for view in area.views.values():
        qtbot.addWidget(view)
    tenant = "T2AnonymousUsers00000000000000"
    area.gateway = object()  # type: ignore[assignment]  # connected, as far as the area knows
    area.table.set_policy(AnonymousPolicy(tenant, 365 * 86400))
    area.table.append(
        User(
            user_id=f"U{i:027d}",
            login_ids=(f"r{i:05d}x@q{i}z.com",),
            status="enabled",
            tenants=(UserTenant(tenant, "Anonymous Users"),),
            created_time=1_700_000_000,
        )
        for i in range(10)
    )
    for view in area.views.values():
        view.model.table_reset()
    counts: list[dict[str, int]] = []
    area.counts_changed.connect(counts.append)
    anonymous = area.views["anonymous"]
    assert anonymous.model.rowCount() == 10
    area.users_changed_here([f"U{0:027d}", f"U{1:027d}"], status=None)
    assert anonymous.model.rowCount() == 8
    assert counts[-1]["anonymous"] == 8
    area.users_changed_here([f"U{2:027d}"], status="disabled")
    assert anonymous.model.rowCount() == 7, "a disabled anonymous user needs attention"
    assert area.views["attention"].model.rowCount() == 1
