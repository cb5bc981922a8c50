"""Where the console keeps its files: under a test base, or the user's platform directories."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from anonconsole.settings import paths


@pytest.fixture(autouse=True)
def reset() -> Iterator[None]:
    yield
    paths.init(None)


def test_init_puts_every_location_under_the_base(tmp_path: Path) -> None:
    paths.init(tmp_path)
    found = {
        "config": paths.config_dir(),
        "data": paths.data_dir(),
        "cache": paths.cache_dir(),
        "log": paths.log_dir(),
    }
    assert found == {kind: tmp_path / kind for kind in found}
    assert all(path.is_dir() for path in found.values())
    assert paths.sandbox_db() == tmp_path / "data" / "sandbox" / "sandbox.db"
    assert paths.sandbox_db().parent.is_dir()


def test_without_a_base_the_platform_dirs_for_anonconsole_are_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(variable, str(tmp_path / variable))
    paths.init(None)
    assert paths.config_dir() == tmp_path / "XDG_CONFIG_HOME" / "anonconsole"
    assert paths.data_dir() == tmp_path / "XDG_DATA_HOME" / "anonconsole"
    assert paths.cache_dir() == tmp_path / "XDG_CACHE_HOME" / "anonconsole"
    assert paths.log_dir().is_relative_to(tmp_path / "XDG_STATE_HOME" / "anonconsole")


def test_each_sandbox_database_has_its_own_state_file(tmp_path: Path) -> None:
    paths.init(tmp_path)
    assert paths.sandbox_state_file() == tmp_path / "data" / "sandbox" / "state.json"
    assert paths.sandbox_state_file(paths.sandbox_db()) == paths.sandbox_state_file()
    other = tmp_path / "elsewhere" / "big.db"
    assert paths.sandbox_state_file(other) == tmp_path / "elsewhere" / "big.db.state.json"
