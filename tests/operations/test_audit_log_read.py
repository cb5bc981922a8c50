"""The audit log's read side: reading only what was appended, torn and replaced files, the query
the Audit page filters with, the user IDs an entry names, and Descope's events for a user."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import pytest

from anonconsole.gateway import Connection, Gateway
from anonconsole.operations import audit_log
from anonconsole.operations.audit_log import (
    AuditEntry,
    AuditLog,
    AuditQuery,
    action_kind,
    descope_events,
    entry_time,
    entry_user_ids,
    kind_label,
)


def entry(
    action: str = "cull.delete", target: str = "3 users", result: str = "ok", **fields: Any
) -> AuditEntry:
    return AuditEntry(action, target, result, fields.pop("profile", "prod"), **fields)


def test_read_since_reads_only_what_was_appended(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    first = log.read_since(None)
    assert (first.entries, first.damaged, first.torn, first.restarted) == ([], 0, False, False)
    log.append(entry(target="U1"))
    log.append(entry(target="U2"))
    chunk = log.read_since(first.position)
    assert [e.target for e in chunk.entries] == ["U1", "U2"]
    assert chunk.position.offset == log.path.stat().st_size
    assert log.read_since(chunk.position).entries == []  # nothing new
    log.append(entry(target="U3"))
    later = log.read_since(chunk.position)
    assert [e.target for e in later.entries] == ["U3"]
    assert not later.restarted


def test_an_unfinished_last_line_is_read_again_once_it_is_whole(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append(entry(target="U1"))
    line = (tmp_path / "audit.jsonl").read_bytes()
    second = line.replace(b"U1", b"U2")
    with open(log.path, "ab") as file:
        file.write(second[:20])  # another process is half-way through its write
    chunk = log.read_since(None)
    assert [e.target for e in chunk.entries] == ["U1"]
    assert chunk.torn
    assert chunk.damaged == 0
    assert chunk.position.offset == len(line)  # not consumed
    with open(log.path, "ab") as file:
        file.write(second[20:])  # the write completes
    after = log.read_since(chunk.position)
    assert [e.target for e in after.entries] == ["U2"]
    assert not after.torn


def test_a_torn_line_ended_by_the_next_entry_counts_as_damaged(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append(entry(target="U1"))
    with open(log.path, "ab") as file:
        file.write(b'{"action": "cull.del')  # a crash mid-write
    chunk = log.read_since(None)
    assert chunk.torn
    log.append(entry(target="U2"))  # starts on a line of its own: the torn line is now whole (and bad)
    after = log.read_since(chunk.position)
    assert [e.target for e in after.entries] == ["U2"]
    assert (after.damaged, after.torn) == (1, False)
    assert log.read()[1] == 1


def test_a_replaced_or_truncated_file_is_read_from_its_start(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    for target in ("U1", "U2", "U3"):
        log.append(entry(target=target))
    chunk = log.read_since(None)
    replacement = tmp_path / "new.jsonl"
    AuditLog(replacement).append(entry(target="U9"))
    os.replace(replacement, log.path)  # another file under the same name
    again = log.read_since(chunk.position)
    assert again.restarted
    assert [e.target for e in again.entries] == ["U9"]
    log.path.write_bytes(b"")  # truncated
    empty = log.read_since(again.position)
    assert empty.restarted
    assert empty.entries == []
    log.path.unlink()
    gone = log.read_since(empty.position)
    assert gone.entries == []
    assert not gone.restarted  # it had nothing to lose: offset 0


def test_lines_cut_by_the_end_of_a_block_are_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_log, "_READ_BLOCK", 7)  # every line spans blocks
    log = AuditLog(tmp_path / "audit.jsonl")
    for i in range(30):
        log.append(entry(target=f"U{i}", detail="é" * (i % 4)))  # multi-byte characters cut too
    with open(log.path, "ab") as file:
        file.write(b'\n\n{"action": "cull.del')  # blank lines (not damage), then a torn line
    chunk = log.read_since(None)
    assert [e.target for e in chunk.entries] == [f"U{i}" for i in range(30)]
    assert (chunk.damaged, chunk.torn) == (0, True)
    assert chunk.position.offset == log.path.stat().st_size - len(b'{"action": "cull.del')
    with log.open_since(None) as reader:
        assert reader.read_block()  # the file is open while reading
    assert reader.read_block() == b""  # and closed after


def test_entries_streams_and_search_filters(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append(entry("tenant.create", "T1", profile="prod"))
    log.append(entry("cull.delete", "500 users", "failed", profile="staging", detail="Timed out"))
    log.append(entry("users.disable", "U7", profile="prod"))
    with open(log.path, "ab") as file:
        file.write(b"not json\n")
    assert [e.target for e in log.entries()] == ["T1", "500 users", "U7"]
    assert [e.target for e in log.search(AuditQuery(profiles=frozenset({"prod"})))] == ["T1", "U7"]
    assert [e.target for e in log.search(AuditQuery(text="TIMED out"))] == ["500 users"]


def test_kinds_of_action() -> None:
    assert action_kind("cull.delete") == "cull"
    assert action_kind("user.enable") == "users"  # older spelling, same kind
    assert action_kind("users.disable") == "users"
    assert action_kind("convert.email") == "convert"
    assert action_kind("odd") == "odd"
    assert kind_label("tenant") == "Tenant setup"
    assert kind_label("odd") == "odd"


def test_the_user_ids_an_entry_names() -> None:
    batch = entry(
        "cull.delete", "2 users", after={"planHash": "sha256:x", "batch": 0, "userIds": ["U1", "U2"]}
    )
    assert entry_user_ids(batch) == ("U1", "U2")
    run = entry(
        "cull.run",
        "Anonymous Users",
        after={"userIds": 5, "skipped": [{"userId": "U3", "reason": "gone"}], "failed": []},
    )
    assert entry_user_ids(run) == ("U3",)  # a count is not an ID
    assert entry_user_ids(entry("users.delete", "U9", after={"userIds": ["U9", "U8"]})) == ("U9", "U8")
    assert entry_user_ids(entry("convert.email", "U5")) == ("U5",)
    assert entry_user_ids(entry("users.delete", "3 users")) == ()  # a count, not a user
    assert entry_user_ids(entry("tenant.create", "T2abc")) == ()  # a tenant


def test_entry_time_reads_iso_times() -> None:
    assert entry_time(entry(time="2025-03-01T10:00:00+00:00")) == 1740823200.0
    assert entry_time(entry(time="2025-03-01T10:00:00")) == 1740823200.0  # naive: UTC
    assert entry_time(entry(time="yesterday")) is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (AuditQuery(), ["T1", "2 users", "U7", "U8"]),
        (AuditQuery(kinds=frozenset({"cull"})), ["2 users"]),
        (AuditQuery(kinds=frozenset({"users", "tenant"})), ["T1", "U7", "U8"]),
        (AuditQuery(results=frozenset({"failed"})), ["2 users"]),
        (AuditQuery(profiles=frozenset({"staging"})), ["U7"]),
        (AuditQuery(text="u2"), ["2 users"]),  # inside the batch's user IDs
        (AuditQuery(text="ANONYMOUS users"), ["T1"]),  # every word, any case, in the after
        (AuditQuery(text="alice"), ["U7"]),  # the OS user
        (AuditQuery(since=1740823200.0), ["2 users", "U7"]),  # U8's time is unreadable
        (AuditQuery(until=1740823200.0), ["T1"]),
        (AuditQuery(since=1740823200.0, until=1740823201.0), ["2 users"]),
    ],
)
def test_queries_match_as_documented(query: AuditQuery, expected: list[str]) -> None:
    entries = [
        entry("tenant.create", "T1", time="2025-03-01T09:00:00+00:00", after={"name": "Anonymous Users"}),
        entry(
            "cull.delete",
            "2 users",
            "failed",
            time="2025-03-01T10:00:00+00:00",
            after={"userIds": ["U1", "U2"]},
        ),
        entry("users.disable", "U7", profile="staging", actor="alice", time="2025-03-02T10:00:00+00:00"),
        entry("user.enable", "U8", time="soon"),
    ]
    assert [e.target for e in entries if query.matches(e)] == expected


@pytest.mark.asyncio
async def test_descope_events_for_a_user_newest_first(sandbox: Any) -> None:
    client = sandbox.client()
    login_id = f"audit-{secrets.token_hex(4)}@example.com"
    user_id = client.mgmt.user.create(login_id, email=login_id)["user"]["userId"]
    client.mgmt.user.update_display_name(login_id, "Audited")
    connection = Connection(sandbox.project_id, sandbox.url, sandbox.management_key)
    async with Gateway(connection) as gateway:
        events = await descope_events(gateway, user_id)
        assert [e.action for e in events] == ["UserModified", "UserCreated"]
        assert {e.user_id for e in events} == {user_id}
        assert events[0].occurred >= events[1].occurred
        assert await descope_events(gateway, "U-nobody") == []
