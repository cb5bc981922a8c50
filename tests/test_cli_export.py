"""`anonconsole export`: each users page of a real sandbox (over HTTP, the demo's users) written to CSV
and JSON holds exactly the rows and, by default, the columns in order that the console's page of the
same name shows; exit codes; and no management key or password in any export."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from memory_keyring import installed

from anonconsole import cli
from anonconsole.core.user_pages import PAGE_KINDS
from anonconsole.core.user_table import Column
from anonconsole.gateway import Connection, Gateway
from anonconsole.sandbox.seed import DEFAULT_ANON_PASSWORD
from anonconsole.settings.profiles import Profile, ProfileStore
from anonconsole.views.users_area import UsersArea

PROFILE = "Staging"
PROJECT = "P2ExportCliTestProject000000"  # not the console's own sandbox (profiles refuse that one)
PASSWORDS = ("Export-Secret-Pass1", "Another-Pass-9z")
Table = list[tuple[str, ...]]


@pytest.fixture
def demo(start_sandbox: Any, app_dirs: Path) -> Iterator[Any]:
    """A demo sandbox of this test's own with two users who set passwords, the console's files under
    tmp, and the profile `Staging` with its key in a keyring in memory."""
    with installed():
        sandbox = start_sandbox(demo=True, project_id=PROJECT)
        client = sandbox.client()
        for number, password in enumerate(PASSWORDS):
            login_id = f"person{number}@example.com"
            client.mgmt.user.create(login_id, email=login_id, verified_email=True, display_name="A Person")
            client.mgmt.user.set_active_password(login_id, password)
        profile = Profile(name=PROFILE, project_id=sandbox.project_id, base_url=sandbox.url, grace_days=3)
        ProfileStore.load().put(profile, key=sandbox.management_key)
        yield sandbox


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> int:
    """One moment for the CLI and the window alike: ages and expiries ("5 seconds") are then equal."""
    moment = int(time.time())
    monkeypatch.setattr(time, "time", lambda: float(moment))
    return moment


def export(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = cli.main(["export", "--profile", PROFILE, *args])
    return code, capsys.readouterr().out


def read_csv(path: Path) -> tuple[list[str], Table]:
    headings, *rows = csv.reader(io.StringIO(path.read_text("utf-8"), newline=""))
    return headings, [tuple(row) for row in rows]


def read_json(path: Path) -> tuple[list[str], list[str], Table]:
    document = json.loads(path.read_text("utf-8"))
    keys = [c["key"] for c in document["columns"]]
    rows = [tuple(row[key] for key in keys) for row in document["rows"]]
    assert document["count"] == len(rows)
    return keys, [c["heading"] for c in document["columns"]], rows


def shown(area: UsersArea, key: str) -> tuple[list[str], list[str], Table]:
    """What a page shows: its column keys and headings, and its rows' cells (Qt's display role)."""
    model = area.views[key].model
    cells = [
        tuple(model.data(model.index(row, column)) for column in range(model.columnCount()))
        for row in range(model.rowCount())
    ]
    return [c.value for c in model.columns], [c.heading for c in model.columns], cells


def scan(text: str, secrets: list[str]) -> None:
    """No secret, whole or as any 10-character fragment, in `text`."""
    for secret in secrets:
        fragments = {secret[i : i + 10] for i in range(len(secret) - 9)} | {secret}
        found = [fragment for fragment in fragments if fragment in text]
        assert not found, f"a secret's fragment is in an export: {found[:1]}"


def test_each_page_exported_from_the_command_line_is_what_the_page_shows(
    demo: Any,
    frozen: int,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    qtbot: Any,
    arun: Callable[..., Any],
) -> None:
    outputs: dict[str, tuple[Path, Path]] = {}
    said = ""
    for key in PAGE_KINDS:
        csv_path, json_path = tmp_path / f"{key}.csv", tmp_path / f"{key}.json"
        code, out = export(capsys, "--view", key, "--out", str(csv_path))  # the format from the name
        assert code == 0, out
        assert f"rows exported to {csv_path} (CSV, " in out
        code, out = export(
            capsys, "--view", key, "--format", "json", "--out", str(json_path), "--sort", "user_id"
        )
        assert code == 0, out
        said += out
        outputs[key] = (csv_path, json_path)

    area = UsersArea()
    for view in area.views.values():
        qtbot.addWidget(view)

    async def load() -> None:
        async with Gateway(Connection(demo.project_id, demo.url, demo.management_key)) as gateway:
            await area.connect_to(gateway, grace_days=3)  # as the window connects the profile
            await area.wait()
            for view in area.views.values():  # sorted by user ID, as the JSON export was
                await view.sort_by(view.model.columns.index(Column.USER_ID), view.model.sort_order)
            await area.close()

    arun(load())
    everything: list[str] = []
    for key, (csv_path, json_path) in outputs.items():
        keys, headings, rows = shown(area, key)
        assert len(rows) > 0, key
        got_headings, got_rows = read_csv(csv_path)
        assert got_headings == headings, key
        assert sorted(got_rows) == sorted(rows), key  # the order loaded: the same rows, each once
        got_keys, got_headings, got_rows = read_json(json_path)
        assert (got_keys, got_headings) == (keys, headings), key
        assert got_rows == rows, key  # sorted alike: the same order too
        document = json.loads(json_path.read_text("utf-8"))
        assert document["view"] == key
        assert document["now"] == frozen
        assert document["profile"] == PROFILE
        assert document["projectId"] == PROJECT
        everything += [csv_path.read_text("utf-8"), json_path.read_text("utf-8")]
    assert any("person0@example.com" in text for text in everything)  # the users with passwords are in
    scan("\n".join([*everything, said]), [demo.management_key, DEFAULT_ANON_PASSWORD, *PASSWORDS])


def test_columns_and_sort_can_be_chosen(
    demo: Any, frozen: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ids.csv"
    columns = "user_id,age,last_sign_in,created"
    code, out = export(
        capsys,
        "--view",
        "anonymous",
        "--out",
        str(path),
        "--columns",
        columns,
        "--sort",
        "age",
        "--descending",
    )
    assert code == 0, out
    headings, rows = read_csv(path)
    assert headings == ["User ID", "Age", "Last sign-in", "Created"]
    active = [created if last == "never" else last for _, _, last, created in rows]
    assert active == sorted(active)  # the oldest first: the largest age first
    assert len({row[0] for row in rows}) == len(rows) > 100


@pytest.mark.parametrize(
    ("args", "code", "sentence"),
    [
        (["--out", "{tmp}/missing/out.csv"], 3, "The folder {tmp}/missing does not exist"),
        (["--out", "{tmp}"], 3, "{tmp} is a folder: give the export a file name"),
        (["--out", "{tmp}/out.txt"], 3, "give --format csv or json, or end the file name in .csv or .json"),
        (["--out", "{tmp}/out.csv", "--columns", "user_id,shoe_size"], 3, "there is no column “shoe_size”"),
        (["--out", "{tmp}/out.csv", "--sort", "age,created"], 3, "there is no column “age,created”"),
        (["--out", "{tmp}/out.csv", "--profile", "Nope"], 2, "no profile is named “Nope”"),
    ],
)
def test_refusals_say_what_to_do_and_write_nothing(
    args: list[str],
    code: int,
    sentence: str,
    tmp_path: Path,
    app_dirs: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    with installed():
        argv = ["export", "--view", "anonymous", *[a.format(tmp=folder) for a in args]]
        if "--profile" not in argv:
            argv += ["--profile", "Sandbox (demo)"]
        assert cli.main(argv) == code
    out = capsys.readouterr().out
    assert out.startswith("anonconsole export: ")
    assert sentence.format(tmp=folder) in out
    assert sorted(p.name for p in folder.iterdir()) == []
