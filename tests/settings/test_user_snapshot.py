"""The users snapshot file: the table read back equals the one written, column by column; private,
atomic, and refused when damaged, of another version or of another project."""

from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

from anonconsole.core.classify import AnonymousPolicy, Kind
from anonconsole.core.records import User, UserTenant
from anonconsole.core.user_table import (
    FIELD_NAMES,
    NUMBER_TYPES,
    Column,
    TableFilter,
    UserTable,
    with_expiries,
)
from anonconsole.settings import user_snapshot
from anonconsole.settings.user_snapshot import SnapshotError, read_snapshot, remove_snapshot, write_snapshot

ANON = "T2AnonymousUsers00000000000000"
DAY = 86400
NOW = 1_800_000_000
PROJECT = "P2SnapshotTests000000000000"
POLICY = AnonymousPolicy(ANON, 365 * DAY, grace_seconds=3 * DAY)


def users() -> list[User]:
    """Every kind of value a field can hold: shared and distinct, empty, non-ASCII, NUL, tuples."""
    anonymous = (UserTenant(ANON, "Anonymous Users"),)
    made = [
        User(
            f"U{i:027d}",
            (f"r{i}x@q{i}.com",),
            email=f"r{i}x@q{i}.com",
            status="enabled",
            tenants=anonymous,
            created_time=NOW - i * DAY,
            has_password=True,
        )
        for i in range(40)
    ]
    made += [
        User(
            "U-rich",
            login_ids=("rich@example.com", "+15550100"),
            name="Zoë Ünicode",
            given_name="Zoë",
            middle_name="M",
            family_name="Ünicode",
            email="rich@example.com",
            phone="+15550100",
            verified_email=True,
            verified_phone=True,
            status="disabled",
            tenants=(UserTenant("T1", "One", ("admin", "viewer")), UserTenant(ANON, "Anonymous Users")),
            role_names=("viewer",),
            test=True,
            created_time=NOW - 5,
            has_password=True,
            picture="https://example.com/p.png",
            custom_attributes={"plan": "pro", "seats": 3, "nested": {"a": [1, None]}},
        ),
        User(
            "U-nul",
            ("nul\x00inside@example.com",),
            name="a\x00b",
            email="other@example.com",
            status="weird-status",
            created_time=NOW - 9,
        ),
        User("U-none", (), status="invited", created_time=0),
        User("U-empty-tuple-email", ("solo@example.com",), email="", status="expired"),
    ]
    return made


@pytest.fixture
def table() -> UserTable:
    t = UserTable(POLICY, now=lambda: NOW)
    t.append(users()[:30])
    t.append(users()[30:])
    t.set_last_sign_ins({f"U{i:027d}": NOW - i * 3 * DAY for i in range(0, 40, 2)})
    t.set_statuses(["U000000000000000000000000003"], "disabled")
    t.mark_missing(np.array([r for r in range(len(t)) if r != 7], dtype=np.int64))
    return t


def read_back(table: UserTable, path: Path) -> UserTable:
    columns, _ = read_snapshot(path, project_id=PROJECT)
    restored = UserTable(table.policy, now=lambda: NOW)
    restored.restore(columns)
    return restored


def test_the_table_read_back_equals_the_one_written_every_column(table: UserTable, tmp_path: Path) -> None:
    path = tmp_path / "users.npz"
    assert write_snapshot(table, path, profile="Staging", project_id=PROJECT, taken_at=NOW - 60)
    columns, taken_at = read_snapshot(path, project_id=PROJECT)
    assert taken_at == NOW - 60
    written = table.columns()
    assert columns.size == written.size == len(table)
    for name in FIELD_NAMES:
        assert columns.fields[name][: columns.size].tolist() == written.fields[name].tolist(), name
    for name in NUMBER_TYPES:
        assert np.array_equal(columns.numbers[name][: columns.size], written.numbers[name]), name
    assert np.array_equal(columns.haystack.matrix(), written.haystack.matrix())
    restored = read_back(table, path)
    for row in range(len(table)):
        assert restored.user(row) == table.user(row)
        assert restored.last_sign_in(row) == table.last_sign_in(row)
        assert restored.is_gone(row) == table.is_gone(row)
        for column in Column:
            assert restored.display(row, column) == table.display(row, column), (row, column)


@pytest.mark.parametrize("slice_size", [1, 3, 50_000])
def test_texts_joined_and_split_a_slice_at_a_time_read_back_whole(
    table: UserTable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slice_size: int
) -> None:
    """The worker thread joins and splits a slice of values at a time (the GIL is never held long):
    the cuts between slices, non-ASCII values and empty ones read back as written."""
    monkeypatch.setattr(user_snapshot, "SLICE", slice_size)
    path = tmp_path / "users.npz"
    write_snapshot(table, path, profile="Staging", project_id=PROJECT, taken_at=NOW)
    columns, _ = read_snapshot(path, project_id=PROJECT)
    written = table.columns()
    for name in FIELD_NAMES:
        assert columns.fields[name][: columns.size].tolist() == written.fields[name].tolist(), name


def test_the_table_read_back_answers_as_the_one_written(table: UserTable, tmp_path: Path) -> None:
    path = tmp_path / "users.npz"
    write_snapshot(table, path, profile="Staging", project_id=PROJECT, taken_at=NOW)
    restored = read_back(table, path)
    assert restored.counts("include") == table.counts("include")
    for spec in (
        TableFilter(text="ünicode"),
        TableFilter(text="r1"),
        TableFilter(kind=Kind.ANONYMOUS, expired=True),
    ):
        assert restored.query(spec, Column.LOGIN_IDS).tolist() == table.query(spec, Column.LOGIN_IDS).tolist()
    assert restored.row_of("U-rich") == table.row_of("U-rich")
    new, updated = restored.upsert([users()[0], User("U-new", ("new@example.com",), status="enabled")])
    assert list(new) == [len(table)]  # room was kept: appending works on the adopted arrays
    assert updated.tolist() == [0]


def test_shared_values_stay_shared(table: UserTable, tmp_path: Path) -> None:
    """A million users read back must not hold a million copies of "enabled" or of the tenant."""
    path = tmp_path / "users.npz"
    write_snapshot(table, path, profile="Staging", project_id=PROJECT, taken_at=NOW)
    columns, _ = read_snapshot(path, project_id=PROJECT)
    fields = columns.fields
    assert fields["tenants"][0] is fields["tenants"][1]
    assert fields["status"][0] is fields["status"][1]
    assert fields["rest"][0] is fields["rest"][1]
    assert fields["email"][0] is fields["login_ids"][0]


def test_the_file_is_private_and_holds_its_header(table: UserTable, tmp_path: Path) -> None:
    path = tmp_path / "cache" / "users.npz"
    write_snapshot(table, path, profile="Staging", project_id=PROJECT, taken_at=NOW - 5)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    info = user_snapshot.snapshot_info(path)
    assert (info.profile, info.project_id, info.taken_at, info.users) == (
        "Staging",
        PROJECT,
        NOW - 5,
        len(table),
    )
    with np.load(path, allow_pickle=False) as members:  # numpy's own reader reads it too
        assert members["number.created"].tolist() == table.created_times().tolist()
    assert list(path.parent.iterdir()) == [path]  # no temporary sibling left


def test_another_project_is_refused(table: UserTable, tmp_path: Path) -> None:
    path = tmp_path / "users.npz"
    write_snapshot(table, path, profile="Staging", project_id=PROJECT, taken_at=NOW)
    with pytest.raises(SnapshotError, match="is of project P2SnapshotTests000000000000, not P2Other"):
        read_snapshot(path, project_id="P2Other")


@pytest.mark.parametrize("where", [0.3, 0.6, 0.95])
def test_a_damaged_file_is_refused_with_a_sentence(table: UserTable, tmp_path: Path, where: float) -> None:
    path = tmp_path / "users.npz"
    write_snapshot(table, path, profile="Staging", project_id=PROJECT, taken_at=NOW)
    data = bytearray(path.read_bytes())
    data[int(len(data) * where)] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match="is damaged .* the users are loaded again"):
        read_snapshot(path, project_id=PROJECT)


@pytest.mark.parametrize("content", [b"", b"not a zip", b"PK\x03\x04 truncated"])
def test_a_file_that_is_no_snapshot_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "users.npz"
    path.write_bytes(content)
    with pytest.raises(SnapshotError, match="damaged"):
        read_snapshot(path, project_id=PROJECT)


def test_a_cut_file_is_refused(table: UserTable, tmp_path: Path) -> None:
    path = tmp_path / "users.npz"
    write_snapshot(table, path, profile="Staging", project_id=PROJECT, taken_at=NOW)
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(SnapshotError, match="damaged"):
        read_snapshot(path, project_id=PROJECT)


def test_another_format_version_is_refused(table: UserTable, tmp_path: Path) -> None:
    path = tmp_path / "users.npz"
    write_snapshot(table, path, profile="Staging", project_id=PROJECT, taken_at=NOW)
    with np.load(path, allow_pickle=False) as members:
        arrays = {name: members[name] for name in members.files}
    header = json.loads(arrays["header"].tobytes())
    header["version"] = user_snapshot.VERSION + 1
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(SnapshotError, match="another version of AnonConsole"):
        read_snapshot(path, project_id=PROJECT)


def test_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="There is no users snapshot"):
        read_snapshot(tmp_path / "none.npz", project_id=PROJECT)


def test_a_table_changing_while_written_leaves_the_old_file(
    table: UserTable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "users.npz"
    write_snapshot(table, path, profile="Staging", project_id=PROJECT, taken_at=NOW - 100)
    encode = user_snapshot._encode

    def encode_while_a_page_arrives(columns: object) -> object:
        arrays = encode(columns)  # type: ignore[arg-type]
        table.append([User("U-late", ("late@example.com",), status="enabled")])
        return arrays

    monkeypatch.setattr(user_snapshot, "_encode", encode_while_a_page_arrives)
    assert not write_snapshot(table, path, profile="Staging", project_id=PROJECT, taken_at=NOW)
    assert read_snapshot(path, project_id=PROJECT)[1] == NOW - 100
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_snapshots_live_per_profile_in_the_cache_dir_and_go_with_it(table: UserTable, app_dirs: Path) -> None:
    first, second = user_snapshot.snapshot_path("Staging / EU"), user_snapshot.snapshot_path("Staging ? EU")
    assert first != second  # names that slug alike still get their own file
    assert first.parent.parent == app_dirs / "cache"
    write_snapshot(table, first, profile="Staging / EU", project_id=PROJECT, taken_at=NOW)
    write_snapshot(table, second, profile="Staging ? EU", project_id=PROJECT, taken_at=NOW)
    assert remove_snapshot("Staging / EU")
    assert not first.exists()
    assert second.exists()
    assert not remove_snapshot("Staging / EU")  # nothing left to remove


def test_an_empty_table_round_trips(tmp_path: Path) -> None:
    empty = UserTable(POLICY, now=lambda: NOW)
    path = tmp_path / "users.npz"
    write_snapshot(empty, path, profile="Staging", project_id=PROJECT, taken_at=NOW)
    restored = read_back(empty, path)
    assert len(restored) == 0
    assert restored.counts() == empty.counts()


def test_no_object_is_pickled(table: UserTable, tmp_path: Path) -> None:
    path = tmp_path / "users.npz"
    write_snapshot(table, path, profile="Staging", project_id=PROJECT, taken_at=NOW)
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            with archive.open(name) as member:
                assert np.lib.format.read_magic(member) == (1, 0)
                _, _, dtype = np.lib.format.read_array_header_1_0(member)
                assert not dtype.hasobject, name


def test_expiries_computed_off_the_ui_thread_are_kept_by_restore(table: UserTable, tmp_path: Path) -> None:
    """`with_expiries` (a worker thread) computes what `restore` would; restore then keeps them, and
    computes them again for another lifetime."""
    path = tmp_path / "users.npz"
    write_snapshot(table, path, profile="Staging", project_id=PROJECT, taken_at=NOW)
    longer = AnonymousPolicy(ANON, 2 * 365 * DAY, grace_seconds=3 * DAY)
    columns, _ = read_snapshot(path, project_id=PROJECT)
    columns.numbers["expires"][: columns.size] = -7  # as if stored for another lifetime
    prepared = with_expiries(columns, longer)
    assert prepared.expiries_for == longer
    restored = UserTable(longer, now=lambda: NOW)
    restored.restore(prepared)
    expected = UserTable(longer, now=lambda: NOW)
    expected.restore(read_snapshot(path, project_id=PROJECT)[0])  # computed by restore itself
    assert np.array_equal(restored.columns().numbers["expires"], expected.columns().numbers["expires"])
    assert (restored.columns().numbers["expires"] != -7).all()
    other = UserTable(POLICY, now=lambda: NOW)  # not the policy they were computed for: again
    other.restore(with_expiries(read_snapshot(path, project_id=PROJECT)[0], longer))
    assert np.array_equal(other.columns().numbers["expires"], table.columns().numbers["expires"])


def test_a_snapshot_no_longer_wanted_once_written_is_not_put_in_place(
    table: UserTable, tmp_path: Path
) -> None:
    """Turned off (or its profile removed) while it was being written: nothing is put back."""
    path = tmp_path / "users.npz"
    assert not write_snapshot(
        table, path, profile="Staging", project_id=PROJECT, taken_at=NOW, wanted=lambda: False
    )
    assert not path.exists()
    assert not list(tmp_path.iterdir())  # no half-written sibling left either


def test_the_user_id_index_is_made_after_the_rows_show_or_on_first_use(
    table: UserTable, tmp_path: Path
) -> None:
    """A snapshot's rows show before their user ID index is made (~150 ms at 1,000,000 users):
    made in a worker thread and adopted, or made on first use if something looks up a user first."""
    path = tmp_path / "users.npz"
    assert write_snapshot(table, path, profile="Staging", project_id=PROJECT, taken_at=NOW)
    later = read_back(table, path)
    make = later.index_to_make()
    assert make is not None
    later.adopt_index(make())
    assert later.index_to_make() is None
    assert [later.row_of(f"U{i:027d}") for i in (0, 39)] == [table.row_of(f"U{i:027d}") for i in (0, 39)]

    first_use = read_back(table, path)
    make = first_use.index_to_make()
    assert make is not None
    made = make()
    assert first_use.row_of("U-rich") == table.row_of("U-rich")  # looked up first: made then
    assert first_use.index_to_make() is None
    first_use.adopt_index(made)  # not taken: the one made on first use stays
    assert first_use.row_of("U-rich") == table.row_of("U-rich")
    assert first_use.row_of("U-not-a-user") is None
