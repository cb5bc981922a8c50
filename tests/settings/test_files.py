"""Atomic files: the target is the old content or the new, whole; the temporary sibling never stays."""

from __future__ import annotations

from pathlib import Path

import pytest

from anonconsole.settings.files import AtomicFile, write_atomically


def siblings(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_atomically_replaces_and_creates_folders(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "profiles.json"
    write_atomically(path, "one\n")
    write_atomically(path, "two\n")
    assert path.read_text() == "two\n"
    assert siblings(path.parent) == ["profiles.json"]


def test_nothing_shows_at_the_target_before_commit(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    path.write_text("old")
    file = AtomicFile(path)
    file.write("a,b\r\n")
    assert path.read_text() == "old"
    assert file.temporary.parent == tmp_path
    assert file.temporary.name.startswith(".out.csv.")
    file.commit()
    assert path.read_bytes() == b"a,b\r\n"  # written as given: no newline translation
    assert siblings(tmp_path) == ["out.csv"]
    with pytest.raises(ValueError, match="already committed"):
        file.write("more")


def test_an_error_in_the_block_discards_everything(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    path.write_text("old")
    file = AtomicFile(path)

    def half_then_fail() -> None:
        with file:
            file.write("half")
            raise RuntimeError("stopped")

    with pytest.raises(RuntimeError, match="stopped"):
        half_then_fail()
    assert path.read_text() == "old"
    assert siblings(tmp_path) == ["out.json"]
    file.discard()  # twice is harmless


def test_a_missing_folder_is_not_created_when_asked_not_to(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        AtomicFile(tmp_path / "missing" / "out.csv", make_parents=False)
    assert siblings(tmp_path) == []


def test_a_failed_rename_removes_the_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "a-folder"
    (target / "inside").mkdir(parents=True)  # a non-empty folder cannot be renamed over
    file = AtomicFile(target)
    file.write("x")
    with pytest.raises(IsADirectoryError):
        file.commit()
    assert siblings(tmp_path) == ["a-folder"]
