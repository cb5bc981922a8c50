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
