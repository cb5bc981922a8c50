"""`anonconsole doctor --profile NAME`: the headless verification, key from the environment."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import keyring.backends.fail
import pytest
from tenants import anonymous_tenant

from anonconsole import cli
from anonconsole.settings import paths
from anonconsole.settings.profiles import Profile, ProfileStore


@pytest.fixture
def no_keyring_home(tmp_path: Path) -> Iterator[Path]:
    """A console home under tmp and no keyring: a headless machine."""
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    paths.init(tmp_path)
    yield tmp_path
    paths.init(None)
    keyring.set_keyring(previous)


def save_profile(profile: Profile) -> None:
    store = ProfileStore.load()
    store._profiles = (*store._profiles, profile)  # no keyring here: write the file directly
    store.save()


def test_doctor_passes_with_the_key_from_the_environment(
    sandbox: Any, no_keyring_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client = sandbox.client()
    tenant_id = anonymous_tenant(sandbox, days=30)
    name = client.mgmt.tenant.load(tenant_id)["name"]
    save_profile(
        Profile(name="CI", project_id=sandbox.project_id, base_url=sandbox.url, anonymous_tenant_name=name)
    )
    monkeypatch.setenv("DESCOPE_MANAGEMENT_KEY", sandbox.management_key)
    assert cli.main(["doctor", "--profile", "CI"]) == 0
    out = capsys.readouterr().out
    assert "Using the management key from the DESCOPE_MANAGEMENT_KEY environment variable" in out
    assert "PASS  Refresh token lifetime: 30 days in the token, 30 days in the tenant settings" in out
    assert "PASS  Probe removed" in out
    assert "All checks passed." in out
    assert sandbox.management_key not in out
    assert client.mgmt.user.search_all(tenant_ids=[tenant_id])["total"] == 0


def test_doctor_fails_on_a_broken_setup(
    sandbox: Any, no_keyring_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    save_profile(
        Profile(
            name="CI",
            project_id=sandbox.project_id,
            base_url=sandbox.url,
            anonymous_tenant_name=f"Missing {secrets.token_hex(4)}",
        )
    )
    monkeypatch.setenv("DESCOPE_MANAGEMENT_KEY", sandbox.management_key)
    assert cli.main(["doctor", "--profile", "CI"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  Anonymous tenant" in out
    assert "run the tenant setup" in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["doctor", "--profile", "Nope"], "no profile is named “Nope”"),
        (["doctor"], "you may set DESCOPE_MANAGEMENT_KEY"),
    ],
)
def test_doctor_refuses_an_unusable_profile(
    argv: list[str],
    expected: str,
    no_keyring_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("DESCOPE_MANAGEMENT_KEY", raising=False)
    assert cli.main(argv) == 2
    assert expected in capsys.readouterr().out


def headless_environment(home: Path) -> dict[str, str]:
    """A child process's environment: its own home and XDG dirs under `home`, no keyring."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "DESCOPE_"))}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_STATE_HOME=str(home / "state"),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
    )
    return env


def test_an_unreachable_profile_is_unusable_and_the_sdks_warnings_go_to_the_log_only(tmp_path: Path) -> None:
    """As a support engineer runs it: a terminal, no keyring, the key in the environment."""
    env = headless_environment(tmp_path)
    key = "K2" + secrets.token_urlsafe(30)
    env["DESCOPE_MANAGEMENT_KEY"] = key
    config = tmp_path / "config" / "anonconsole"
    config.mkdir(parents=True)
    gone = {"name": "Gone", "project_id": "P2abcdefghijklmnopqrstuvwxyz", "base_url": "http://127.0.0.1:9"}
    (config / "profiles.json").write_text(json.dumps({"schema_version": 1, "profiles": [gone]}))
    done = subprocess.run(
        [sys.executable, "-m", "anonconsole", "doctor", "--profile", "Gone"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Cannot reach 127.0.0.1:9" in done.stdout
    assert "License handshake" not in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    logs = list(tmp_path.rglob("anonconsole.log"))
    assert len(logs) == 1
    text = logs[0].read_text(encoding="utf-8")
    assert "License handshake failed" in text
    assert key not in text
