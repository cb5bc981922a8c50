"""pyproject lists packages explicitly (resources/ maps to anonconsole.resources): none forgotten."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_for_installation() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "anonconsole").rglob("__init__.py")
    }
    assert found | {"anonconsole.resources"} == listed
    assert config["package-dir"]["anonconsole.resources"] == "resources"
    assert (ROOT / "resources" / "anonconsole.svg").is_file()
