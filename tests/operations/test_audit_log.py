"""The console's append-only audit log."""

from __future__ import annotations

from pathlib import Path

from anonconsole.operations.audit_log import AuditEntry, AuditLog
from anonconsole.runtime import messages


def test_entries_round_trip_in_order(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    assert list(log.entries()) == []
    first = AuditEntry("tenant.create", "Anonymous Users", "started", "prod")
    second = AuditEntry("tenant.create", "T2abc", "ok", "prod", after={"name": "Anonymous Users"})
    log.append(first)
    log.append(second)
    assert list(log.entries()) == [first, second]
    assert first.actor
    assert first.time.endswith("+00:00")


def test_torn_or_foreign_lines_are_skipped(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append(AuditEntry("user.delete", "U1", "ok", "prod"))
    with open(log.path, "a", encoding="utf-8") as file:
        file.write('{"action": "user.delete", "tar')  # a crash mid-write
        file.write('\n{"unexpected": true}\n')
    log.append(AuditEntry("user.delete", "U2", "ok", "prod"))
    assert [e.target for e in log.entries()] == ["U1", "U2"]


def test_registered_secrets_never_reach_the_file(tmp_path: Path) -> None:
    secret = "K2-very-secret-management-key-value"
    messages.register_secret(secret)
    try:
        log = AuditLog(tmp_path / "audit.jsonl")
        log.append(
            AuditEntry("tenant.settings", "T1", "failed", "prod", detail=f"bearer P1:{secret} refused")
        )
        text = log.path.read_text()
    finally:
        messages.forget_secret(secret)
    assert secret not in text
    assert "failed" in text


def test_an_entry_after_a_torn_last_line_starts_on_a_line_of_its_own(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append(AuditEntry("user.delete", "U1", "ok", "prod"))
    with open(log.path, "a", encoding="utf-8") as file:
        file.write('{"action": "user.delete", "tar')  # a crash mid-write: no newline at the end
    log.append(AuditEntry("user.delete", "U2", "ok", "prod"))
    assert [e.target for e in log.entries()] == ["U1", "U2"]  # U2 is not glued onto the torn line
    entries, damaged = log.read()
    assert [e.target for e in entries] == ["U1", "U2"]
    assert damaged == 1


def test_damaged_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append(AuditEntry("user.delete", "U1", "ok", "prod"))
    with open(log.path, "ab") as file:
        file.write(b'{"action": "user.delete", "target": "\xff\xfe"}\n')  # not UTF-8
        file.write(b"[1, 2]\n")  # JSON, but not an entry
        file.write(b'{"action": 5, "target": "U9", "result": "ok", "profile": "prod"}\n')  # wrong type
        file.write(b"\n")  # an empty line is not damage
    log.append(AuditEntry("user.delete", "U2", "ok", "prod"))
    assert [e.target for e in log.entries()] == ["U1", "U2"]  # no UnicodeDecodeError
    entries, damaged = log.read()
    assert [e.target for e in entries] == ["U1", "U2"]
    assert damaged == 3


def test_reading_a_missing_log_finds_nothing(tmp_path: Path) -> None:
    assert AuditLog(tmp_path / "none.jsonl").read() == ([], 0)
