"""`anonconsole sandbox serve|outbox` as a user runs them: damaged databases, the console's sandbox, help."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from descope import DeliveryMethod, DescopeClient
from memory_keyring import MemoryKeyring, installed

from anonconsole import cli
from anonconsole.launcher.process import SandboxOptions, SandboxProcess
from anonconsole.sandbox import cli as sandbox_cli
from anonconsole.settings import key_store, paths
from anonconsole.settings.profiles import SANDBOX_PROFILE
from anonconsole.settings.sandbox_protocol import DEFAULT_PROJECT_ID, KEY_ENV


def random_bytes_db(directory: Path) -> Path:
    path = directory / "random.db"
    path.write_bytes(secrets.token_bytes(64 * 1024))
    return path


def truncated_db(directory: Path) -> Path:
    """A real sandbox database (a few thousand users), cut in half as a full disk or a bad copy would."""
    from anonconsole.sandbox import seed
    from anonconsole.sandbox.server import create_context, hash_key

    path = directory / "truncated.db"
    ctx = create_context(path, "P2AnonConsoleSandbox00000000", hash_key("k"))
    seed.seed_bulk(ctx.store, 3000, now=ctx.clock())
    ctx.store.conn.close()
    data = path.read_bytes()
    assert len(data) > 200_000
    path.write_bytes(data[: len(data) // 2])
    return path


DAMAGED = {"random bytes": random_bytes_db, "a truncated real database": truncated_db}


@pytest.mark.parametrize("make", DAMAGED.values(), ids=DAMAGED.keys())
def test_serve_explains_a_damaged_database_instead_of_a_traceback(
    tmp_path: Path, make: Callable[[Path], Path]
) -> None:
    db = make(tmp_path)
    before = db.read_bytes()
    env = {**os.environ, KEY_ENV: secrets.token_urlsafe(24)}
    done = subprocess.run(
        [sys.executable, "-m", "anonconsole", "sandbox", "serve", "--db", str(db), "--port", "0", "--demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    assert f"The sandbox database {db} is damaged" in done.stderr
    assert "Move it aside" in done.stderr
    assert db.read_bytes() == before  # nothing was written into it


# -- help -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["serve", "outbox"])
def test_every_option_says_what_it_does(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = sandbox_cli._parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub = commands.choices[command]
    undocumented = [
        a.option_strings[0]
        for a in sub._actions
        if a.option_strings and (not a.help or a.help == argparse.SUPPRESS)
    ]
    assert undocumented == []
    assert cli.main(["sandbox", command, "--help"]) == 0
    assert "--" in capsys.readouterr().out


# -- outbox: the console's own sandbox by default ----------------------------------------------------------


@pytest.fixture
def console_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryKeyring]:
    """The console's dirs under tmp, a keyring holding nothing yet, no key in the environment."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    paths.init(tmp_path / "home")
    with installed() as backend:
        yield backend
    paths.init(None)


@pytest.fixture
def consoles_sandbox(console_home: MemoryKeyring) -> Iterator[tuple[str, str]]:
    """The console's sandbox as the console starts it: the built-in profile's key (generated into the
    keyring), its database and state file in the data dir. (url, key)."""
    key = key_store.get_or_create_key(SANDBOX_PROFILE)
    process = SandboxProcess(
        SandboxOptions(db=paths.sandbox_db(), rate_limits="off"), key, state_file=paths.sandbox_state_file()
    )
    url = process.start(timeout=60)
    yield url, key
    process.stop()


def send_a_code(url: str, key: str, email: str) -> None:
    client = DescopeClient(project_id=DEFAULT_PROJECT_ID, management_key=key, base_url=url)
    client.otp.sign_up(DeliveryMethod.EMAIL, email, {"email": email})


def test_outbox_reads_the_consoles_sandbox_with_the_built_in_profiles_key(
    consoles_sandbox: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url, key = consoles_sandbox
    send_a_code(url, key, "visitor@example.com")
    assert cli.main(["sandbox", "outbox"]) == 0
    captured = capsys.readouterr()
    assert "to visitor@example.com" in captured.out
    assert key not in captured.out + captured.err


def test_the_key_in_the_environment_wins(
    consoles_sandbox: tuple[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(KEY_ENV, "K2-not-the-sandbox-key-at-all")
    assert cli.main(["sandbox", "outbox"]) == 1
    assert "HTTP 401" in capsys.readouterr().err


def test_outbox_says_plainly_when_the_console_runs_no_sandbox(
    console_home: MemoryKeyring, capsys: pytest.CaptureFixture[str]
) -> None:
    key_store.get_or_create_key(SANDBOX_PROFILE)
    assert cli.main(["sandbox", "outbox"]) == 1
    err = capsys.readouterr().err
    assert "No sandbox of the console is running" in err
    assert "Traceback" not in err
    assert "--url" in err


def test_outbox_says_plainly_when_the_sandbox_exited_without_cleaning_up(
    console_home: MemoryKeyring, capsys: pytest.CaptureFixture[str]
) -> None:
    key_store.get_or_create_key(SANDBOX_PROFILE)
    paths.sandbox_state_file().write_text(
        json.dumps({"url": "http://127.0.0.1:9", "pid": 1, "projectId": DEFAULT_PROJECT_ID, "db": "x"})
    )
    assert cli.main(["sandbox", "outbox"]) == 1
    assert "No sandbox of the console is running" in capsys.readouterr().err
