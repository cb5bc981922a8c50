"""The `anonconsole` command line: version, help, errors, and delegation to `anonconsole sandbox`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import anonconsole
from anonconsole import cli
from anonconsole.sandbox import cli as sandbox_cli


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"anonconsole {anonconsole.__version__}"


def test_help_names_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "gui" in out
    assert "sandbox" in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["gui", "--bogus"], "unrecognized arguments: --bogus"),
        (["gui", "--color-scheme", "purple"], "invalid choice: 'purple'"),
        (["gui", "--screenshot", "shot.jpg"], "--screenshot: shot.jpg must end in .png"),
        (["gui", "--screenshot", "/no/such/folder/shot.png"], "the folder /no/such/folder does not exist"),
    ],
)
def test_bad_arguments_get_one_clear_line_and_exit_code_2(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert err.strip().splitlines()[-1].startswith("anonconsole")


def test_a_folder_is_not_a_sandbox_db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["gui", "--sandbox-db", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="only X11/Wayland need a display variable")
def test_no_display_is_explained_instead_of_a_qt_abort(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for variable in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(variable, raising=False)
    assert cli.main([]) == 1
    assert "no display found" in capsys.readouterr().err


def test_sandbox_arguments_are_handed_over_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def fake_main(argv: list[str], **_options: object) -> int:
        seen.append(list(argv))
        return 7

    monkeypatch.setattr(sandbox_cli, "main", fake_main)
    argv = ["sandbox", "serve", "--port", "0", "--demo", "--help"]
    assert cli.main(argv) == 7
    assert seen == [argv[1:]]


def test_sandbox_help_is_the_sandbox_s_own(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["sandbox", "--help"]) == 0
    out = capsys.readouterr().out
    assert "anonconsole sandbox" in out
    assert "serve" in out


def test_python_dash_m_runs_the_same_cli_without_loading_qt() -> None:
    """`python -m anonconsole --version` works, and needs neither Qt nor the sandbox's server stack."""
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['anonconsole', '--version']\n"
        "try:\n"
        "    runpy.run_module('anonconsole', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "assert 'PySide6' not in sys.modules and 'uvicorn' not in sys.modules\n"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"anonconsole {anonconsole.__version__}"
