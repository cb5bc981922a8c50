"""The layer contracts really guard: a view importing the gateway, or the GUI's path importing the
sandbox's server stack, breaks `lint-imports` (run on a copy of the package with that one import)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` with the project's contracts, on the package copied under `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / "anonconsole", tmp_path / "anonconsole", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path


def test_the_contracts_hold_for_the_package_as_it_is(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("views/widgets.py", "import anonconsole.gateway", "Views call operations, never the gateway"),
        ("app/run.py", "import uvicorn", "never imports the sandbox's server stack"),
        (
            "launcher/process.py",
            "import anonconsole.sandbox.server",
            "never imports the sandbox's server stack",
        ),
        ("core/records.py", "import PySide6.QtCore", "Core is pure"),
        ("operations/overview.py", "import descope", "Only the gateway imports the Descope SDK"),
        ("gateway/client.py", "import anonconsole.views.widgets", "Layers"),
    ],
)
def test_a_forbidden_import_breaks_the_gate(tree: Path, module: str, line: str, broken: str) -> None:
    path = tree / "anonconsole" / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert f"{broken}" in result.stdout.replace("\n", " ")
    assert "BROKEN" in result.stdout
