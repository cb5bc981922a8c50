"""Profiles: validation sentences, the JSON file (schema, migrations, atomic writes), keyring and
users snapshot in step."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backends.fail
import pytest
from memory_keyring import MemoryKeyring, installed

from anonconsole.core.classify import AnonymousPolicy
from anonconsole.core.cull import KeepRule, Stage
from anonconsole.core.records import User, UserTenant
from anonconsole.core.user_table import UserTable
from anonconsole.settings import key_store, paths, profiles
from anonconsole.settings.profiles import (
    ConfigError,
    KeyMissing,
    Profile,
    ProfileFileError,
    ProfileStore,
    ValidationError,
)
from anonconsole.settings.user_snapshot import snapshot_info, snapshot_path, write_snapshot

PROJECT = "P2abcdefghijklmnopqrstuvwxyz"  # 28 characters, like a default-region project
REGIONAL = "Puse12aAc4T2V93bddihGEx2Ryhc8e5Z"  # 32 characters (descope-api.md §1.3)
KEY = "K2TestManagementKeyThatMustNeverReachADisk0123456789"
SANDBOX_NAME = profiles.SANDBOX_PROFILE


@pytest.fixture(autouse=True)
def home(tmp_path: Path) -> Iterator[Path]:
    """Config, data, cache and logs under tmp."""
    paths.init(tmp_path / "home")
    yield tmp_path / "home"
    paths.init(None)


@pytest.fixture
def memory() -> Iterator[MemoryKeyring]:
    with installed() as backend:
        yield backend


@pytest.fixture
def no_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    yield
    keyring.set_keyring(previous)


def staging(**changes: object) -> Profile:
    return dataclasses.replace(Profile("Staging", PROJECT), **changes)


def stored(backend: MemoryKeyring) -> dict[str, str]:
    return {name: key for (service, name), key in backend.entries.items() if service == key_store.SERVICE}


# -- validation sentences ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("project_id", "message"),
    [
        (PROJECT, None),
        (f"  {PROJECT} ", None),
        (REGIONAL, None),
        (REGIONAL + "abc", None),
        ("P2AnonConsoleSandbox00000000", None),
        ("", "Enter the project ID"),
        ("p2abcdefghijklmnopqrstuvwxyz", "starts with a capital P"),
        ("X2abcdefghijklmnopqrstuvwxyz", "starts with a capital P"),
        ("P2abcdefghijklmn-pqrstuvwxyz", "only letters and digits"),
        ("P2abc defghijklmnopqrstuvwxy", "only letters and digits"),
        ("P2abc", "this one has 5"),
        (PROJECT + "x", "this one has 29"),
        (REGIONAL[:31], "this one has 31"),
    ],
)
def test_project_id_checks(project_id: str, message: str | None) -> None:
    found = profiles.check_project_id(project_id)
    if message is None:
        assert found is None
    else:
        assert found is not None
        assert message in found


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://api.descope.com", None),
        ("https://api.use1.descope.com/", None),
        ("https://auth.example.com:8443", None),
        ("http://127.0.0.1:8788", None),
        ("http://localhost:8788", None),
        ("http://[::1]:8788", None),
        ("", "Enter the base URL"),
        ("api.descope.com", "must start with https://"),
        ("ftp://api.descope.com", "must start with https://"),
        ("https://", "no host name"),
        ("https://:443", "no host name"),
        ("http://api.descope.com", "plain http:// is only allowed for this computer"),
        ("http://10.0.0.5:8788", "plain http:// is only allowed for this computer"),
        ("https://api.descope.com:99999", "port"),
        ("https://user:pw@api.descope.com", "user name or password"),
        ("https://api.descope.com/?x=1", "must not contain ? or #"),
    ],
)
def test_base_url_checks(url: str, message: str | None) -> None:
    found = profiles.check_base_url(url)
    if message is None:
        assert found is None
    else:
        assert found is not None
        assert message in found


@pytest.mark.parametrize(
    ("key", "required", "message"),
    [
        (KEY, True, None),
        ("", False, None),
        ("", True, "Enter the management key"),
        ("   ", True, "Enter the management key"),
        ("K2abc def", True, "spaces or line breaks"),
        ("K2abc\ndef", False, "spaces or line breaks"),
    ],
)
def test_key_checks(key: str, required: bool, message: str | None) -> None:
    found = profiles.check_key(key, required=required)
    assert found == message if message is None else message in (found or "")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Production", None),
        ("", "Give the profile a name."),
        ("  ", "Give the profile a name."),
        ("x" * 200, "under 80 characters"),
        ("Staging", "A profile named “Staging” already exists"),
        ("staging ", "A profile named “staging” already exists"),
    ],
)
def test_name_checks(name: str, message: str | None) -> None:
    found = profiles.check_name(name, ["Sandbox (demo)", "Staging"])
    assert found == message if message is None else message in (found or "")


def test_every_problem_is_reported_by_field() -> None:
    bad = Profile("", "nope", base_url="http://example.com", anonymous_tenant_name="", grace_days=-1)
    problems = profiles.problems_of(bad, key="", key_required=True)
    assert set(problems) == {"name", "project_id", "base_url", "key", "anonymous_tenant", "grace_days"}
    assert all(sentence.endswith(".") for sentence in problems.values())


def test_regional_url_is_derived_from_a_regional_project_id() -> None:
    assert profiles.regional_base_url(REGIONAL) == "https://api.use1.descope.com"
    assert profiles.regional_base_url(PROJECT) is None
    assert profiles.regional_base_url("Pbad!") is None


# -- the file -----------------------------------------------------------------------------------------


def test_a_new_store_has_only_the_sandbox_and_it_is_first(home: Path) -> None:
    store = ProfileStore.load()
    assert store.path == home / "config" / "profiles.json"
    assert store.names() == ["Sandbox (demo)"]
    sandbox = store.get("Sandbox (demo)")
    assert sandbox.is_sandbox
    assert sandbox.project_id == "P2AnonConsoleSandbox00000000"
    assert sandbox.anonymous_tenant_name == "Anonymous Users"
    assert store.startup_profile() == sandbox
    assert store.last_profile is None


def test_profiles_and_last_profile_survive_a_restart(memory: MemoryKeyring) -> None:
    store = ProfileStore.load()
    regional = Profile(
        "EU production",
        REGIONAL,
        base_url="https://api.use1.descope.com/",
        anonymous_tenant_id="T2xyz",
        grace_days=7,
    )
    store.put(regional, key=KEY)
    store.put(staging(), key=KEY + "2")
    store.set_last_profile("EU production")

    again = ProfileStore.load()
    assert again.names() == ["Sandbox (demo)", "EU production", "Staging"]
    assert again.get("EU production") == dataclasses.replace(
        regional, base_url="https://api.use1.descope.com"
    )
    assert again.last_profile == "EU production"
    assert again.startup_profile().name == "EU production"
    document = json.loads(again.path.read_text(encoding="utf-8"))
    assert document["schema_version"] == profiles.SCHEMA_VERSION


def test_the_file_never_holds_the_key_and_the_keyring_does(memory: MemoryKeyring, home: Path) -> None:
    store = ProfileStore.load()
    store.put(staging(), key=f"  {KEY}\n")
    assert stored(memory) == {"Staging": KEY}
    for file in home.rglob("*"):
        if file.is_file():
            assert KEY[:12] not in file.read_text(encoding="utf-8", errors="replace"), file


def test_writes_are_atomic_and_leave_no_temporary_files(
    memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ProfileStore.load()
    store.put(staging(), key=KEY)
    before = store.path.read_bytes()

    def crash(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        store.put(staging(name="Other"), key=KEY)
    monkeypatch.undo()
    assert store.path.read_bytes() == before
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["profiles.json"]


def test_an_unversioned_file_is_migrated_and_unknown_fields_are_dropped(memory: MemoryKeyring) -> None:
    path = paths.config_dir() / "profiles.json"
    old = {"profiles": [{"name": "Old", "project_id": PROJECT, "management_key": "leaked", "colour": "red"}]}
    path.write_text(json.dumps(old), encoding="utf-8")
    store = ProfileStore.load()
    assert store.get("Old") == Profile("Old", PROJECT)
    store.save()
    text = path.read_text(encoding="utf-8")
    assert "leaked" not in text
    assert "colour" not in text
    assert json.loads(text)["schema_version"] == profiles.SCHEMA_VERSION


def _profiles_file(**fields: object) -> str:
    """A profiles file of one profile with `fields` changed (wrong types, for the corrupt cases)."""
    profile = {"name": "Staging", "project_id": PROJECT, **fields}
    return json.dumps({"schema_version": 1, "profiles": [profile]})


_DEEP = 100_000
# (id, the file's bytes, or None for a directory in its place, a phrase the notice must hold)
CORRUPT_FILES: list[tuple[str, bytes | None, str]] = [
    ("not-json", b"{not json", "could not be read"),
    ("empty", b"", "could not be read"),
    ("only-spaces", b"  \n", "could not be read"),
    ("invalid-utf-8", b'{"profiles": [{"name": "Caf\xe9"}]}', "not UTF-8"),
    ("binary", bytes(range(256)), "could not be read"),
    ("a-list", b"[1, 2]", "could not be read"),
    ("a-list-of-123", b"[123]", "could not be read"),
    ("null", b"null", "could not be read"),
    ("a-number", b"5", "could not be read"),
    ("a-string", b'"profiles"', "could not be read"),
    ("profiles-a-string", b'{"profiles": "abc"}', "could not be read"),
    ("profiles-a-number", b'{"profiles": 5}', "could not be read"),
    ("profiles-null", b'{"profiles": null}', "could not be read"),
    ("profiles-an-object", b'{"profiles": {"name": "x"}}', "could not be read"),
    ("profiles-of-123", b'{"profiles": [123]}', "could not be read"),
    ("profiles-of-null", b'{"profiles": [null]}', "could not be read"),
    ("profiles-of-strings", b'{"profiles": ["Staging"]}', "could not be read"),
    ("profiles-of-lists", b'{"profiles": [[]]}', "could not be read"),
    ("profile-empty", b'{"profiles": [{}]}', "could not be read"),
    ("profile-without-project", b'{"profiles": [{"nom": "x"}]}', "could not be read"),
    ("deep-lists", b"[" * _DEEP + b"]" * _DEEP, "could not be read"),
    ("deep-objects", b'{"a": ' * _DEEP + b"1" + b"}" * _DEEP, "could not be read"),
    (
        "deep-in-a-profile",
        _profiles_file().encode()[:-3] + b', "x": ' + b"[" * _DEEP + b"]" * _DEEP + b"}]}",
        "could not be read",
    ),
    ("schema-99", b'{"schema_version": 99, "profiles": []}', "newer AnonConsole (schema 99)"),
    ("schema-string", b'{"schema_version": "1", "profiles": []}', "schema_version"),
    ("schema-null", b'{"schema_version": null, "profiles": []}', "schema_version"),
    ("schema-negative", b'{"schema_version": -1, "profiles": []}', "schema_version"),
    ("schema-float", b'{"schema_version": 1.0, "profiles": []}', "schema_version"),
    ("schema-true", b'{"schema_version": true, "profiles": []}', "schema_version"),
    ("project-id-number", _profiles_file(project_id=5).encode(), "project_id"),
    ("name-number", _profiles_file(name=5).encode(), "name"),
    ("name-null", _profiles_file(name=None).encode(), "name"),
    ("name-blank", _profiles_file(name="  ").encode(), "name"),
    ("base-url-list", _profiles_file(base_url=["https://api.descope.com"]).encode(), "base_url"),
    ("tenant-id-object", _profiles_file(anonymous_tenant_id={}).encode(), "anonymous_tenant_id"),
    ("tenant-name-number", _profiles_file(anonymous_tenant_name=1).encode(), "anonymous_tenant_name"),
    ("grace-string", _profiles_file(grace_days="3").encode(), "grace_days"),
    ("grace-float", _profiles_file(grace_days=1.5).encode(), "grace_days"),
    ("grace-bool", _profiles_file(grace_days=True).encode(), "grace_days"),
    ("grace-huge", _profiles_file(grace_days=10**30).encode(), "grace_days"),
    ("grace-negative", _profiles_file(grace_days=-1).encode(), "grace_days"),
    ("grace-nan", _profiles_file().encode().replace(b'"name"', b'"grace_days": NaN, "name"'), "grace_days"),
    (
        "grace-infinite",
        _profiles_file().encode().replace(b'"name"', b'"grace_days": 1e999, "name"'),
        "grace_days",
    ),
    ("is-sandbox-string", _profiles_file(is_sandbox="yes").encode(), "is_sandbox"),
    ("keep-rules-string", _profiles_file(keep_rules="role:keeper").encode(), "keep_rules"),
    ("keep-rules-of-numbers", _profiles_file(keep_rules=[5]).encode(), "keep_rules"),
    ("keep-rules-not-a-rule", _profiles_file(keep_rules=["keeper"]).encode(), 'looks like "attribute:NAME"'),
    ("keep-rules-role-value", _profiles_file(keep_rules=["role:a=b"]).encode(), "takes no value"),
    ("two-stage-number", _profiles_file(two_stage_cull=1).encode(), "two_stage_cull"),
    ("disabled-days-negative", _profiles_file(disabled_for_days=-1).encode(), "disabled_for_days"),
    ("disabled-days-string", _profiles_file(disabled_for_days="30").encode(), "disabled_for_days"),
    ("attestation-null", _profiles_file(allow_attestation=None).encode(), "allow_attestation"),
    ("keep-snapshot-string", _profiles_file(keep_snapshot="no").encode(), "keep_snapshot"),
    ("keep-snapshot-number", _profiles_file(keep_snapshot=0).encode(), "keep_snapshot"),
    ("a-directory", None, "could not be read"),
]


@pytest.mark.parametrize(
    ("content", "phrase"), [c[1:] for c in CORRUPT_FILES], ids=[c[0] for c in CORRUPT_FILES]
)
def test_a_corrupt_file_is_set_aside_intact_with_one_clear_message(
    content: bytes | None, phrase: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = paths.config_dir() / "profiles.json"
    if content is None:
        path.mkdir()
        (path / "inside.txt").write_text("kept", encoding="utf-8")
    else:
        path.write_bytes(content)
    store = ProfileStore.load()  # never raises: the console starts with the built-in profile
    assert store.names() == ["Sandbox (demo)"]
    assert store.startup_profile().is_sandbox
    assert str(path) in store.notice
    assert phrase in store.notice
    assert ("newer AnonConsole" in store.notice) == phrase.startswith("newer")
    assert "Traceback" not in store.notice
    aside = [p for p in path.parent.iterdir() if p.name.startswith("profiles.json.")]
    assert len(aside) == 1, aside
    assert aside[0].name in store.notice
    if content is None:
        assert (aside[0] / "inside.txt").read_text(encoding="utf-8") == "kept"
    else:
        assert aside[0].read_bytes() == content
    assert not path.exists()
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [store.notice]
    store.save()  # a new file can be written again
    assert ProfileStore.load().notice == ""


def test_a_corrupt_file_that_cannot_be_set_aside_is_never_overwritten(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = paths.config_dir() / "profiles.json"
    path.write_bytes(b"{damaged")

    def refuse(*_args: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(profiles.os, "replace", refuse)
    store = ProfileStore.load()
    assert store.names() == ["Sandbox (demo)"]
    assert str(path) in store.notice
    assert "could not be set aside (Permission denied)" in store.notice
    with pytest.raises(ProfileFileError):
        store.save()
    assert path.read_bytes() == b"{damaged"


def test_a_second_corrupt_file_in_the_same_second_does_not_replace_the_first() -> None:
    path = paths.config_dir() / "profiles.json"
    for content in (b"{first", b"{second"):
        path.write_bytes(content)
        ProfileStore.load()
    aside = sorted(p.read_bytes() for p in path.parent.iterdir() if p.name.startswith("profiles.json."))
    assert aside == [b"{first", b"{second"]


def test_a_file_with_a_byte_order_mark_is_read() -> None:
    path = paths.config_dir() / "profiles.json"
    path.write_bytes(b"\xef\xbb\xbf" + _profiles_file().encode())
    store = ProfileStore.load()
    assert store.notice == ""
    assert store.get("Staging") == Profile("Staging", PROJECT)


def test_the_migrator_hook_runs_each_step_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    steps: list[int] = []

    def step(version: int) -> profiles.Migration:
        def run(data: dict[str, object]) -> dict[str, object]:
            steps.append(version)
            return {**data, "schema_version": version + 1}

        return run

    monkeypatch.setattr(profiles, "SCHEMA_VERSION", 3)
    monkeypatch.setattr(profiles, "MIGRATIONS", {0: step(0), 1: step(1), 2: step(2)})
    assert profiles.migrate({"schema_version": 1})["schema_version"] == 3
    assert steps == [1, 2]


# -- the cull's and the conversion's settings -----------------------------------------------------------


def test_a_version_1_file_gains_the_cull_settings_at_their_defaults_and_is_saved_upgraded() -> None:
    path = paths.config_dir() / "profiles.json"
    old = {
        "schema_version": 1,
        "last_profile": "Staging",
        "profiles": [
            {"name": "Sandbox (demo)", "project_id": "P2AnonConsoleSandbox00000000", "grace_days": 3},
            {"name": "Staging", "project_id": PROJECT, "grace_days": 7, "is_sandbox": False},
        ],
    }
    path.write_text(json.dumps(old), encoding="utf-8")
    store = ProfileStore.load()
    assert store.notice == ""
    assert store.get("Staging") == staging(grace_days=7)
    loaded = store.get("Staging")
    assert loaded.keep_rules == ()
    assert not loaded.two_stage_cull
    assert loaded.disabled_for_days == profiles.DEFAULT_DISABLED_FOR_DAYS == 30
    assert loaded.allow_attestation
    assert loaded.cull_stages == (Stage.DELETE,)  # what version 1 did
    assert store.get("Sandbox (demo)").grace_days == 3
    store.save()
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["schema_version"] == profiles.SCHEMA_VERSION == 3
    assert document["profiles"][1] == {
        "name": "Staging",
        "project_id": PROJECT,
        "base_url": profiles.DEFAULT_BASE_URL,
        "anonymous_tenant_id": "",
        "anonymous_tenant_name": "Anonymous Users",
        "grace_days": 7,
        "keep_rules": [],
        "two_stage_cull": False,
        "disabled_for_days": 30,
        "allow_attestation": True,
        "keep_snapshot": True,
        "is_sandbox": False,
    }


def test_the_version_1_migrator_leaves_what_is_not_a_profile_for_the_load_to_refuse() -> None:
    migrated = profiles.migrate(
        {"schema_version": 1, "profiles": [5, {"name": "x", "keep_rules": ["role:a"]}]}
    )
    assert migrated["profiles"][0] == 5
    assert migrated["profiles"][1]["keep_rules"] == ["role:a"]  # a stored value wins over the default
    assert migrated["profiles"][1]["allow_attestation"] is True
    assert profiles.migrate({"schema_version": 1, "profiles": "abc"})["profiles"] == "abc"


def test_a_version_2_file_keeps_each_profiles_snapshot_and_is_saved_as_version_3() -> None:
    path = paths.config_dir() / "profiles.json"
    version_2 = {
        "schema_version": 2,
        "last_profile": "Staging",
        "profiles": [
            {"name": "Sandbox (demo)", "project_id": "P2AnonConsoleSandbox00000000", "grace_days": 3},
            {"name": "Staging", "project_id": PROJECT, "two_stage_cull": True, "allow_attestation": False},
        ],
    }
    path.write_text(json.dumps(version_2), encoding="utf-8")
    store = ProfileStore.load()
    assert store.notice == ""
    assert store.get("Staging") == staging(two_stage_cull=True, allow_attestation=False)
    assert store.get("Staging").keep_snapshot
    assert store.get("Sandbox (demo)").keep_snapshot
    assert store.last_profile == "Staging"
    store.save()
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["schema_version"] == 3
    assert [p["keep_snapshot"] for p in document["profiles"]] == [True, True]


def test_the_version_2_migrator_keeps_a_stored_value_and_leaves_what_is_not_a_profile() -> None:
    migrated = profiles.migrate(
        {"schema_version": 2, "profiles": [5, {"name": "x"}, {"name": "y", "keep_snapshot": False}]}
    )
    assert migrated["schema_version"] == 3
    assert migrated["profiles"] == [
        5,
        {"name": "x", "keep_snapshot": True},
        {"name": "y", "keep_snapshot": False},  # a stored value wins over the default
    ]
    assert profiles.migrate({"schema_version": 2, "profiles": "abc"})["profiles"] == "abc"


def test_the_cull_settings_survive_a_restart(memory: MemoryKeyring) -> None:
    store = ProfileStore.load()
    wanted = staging(
        grace_days=2,
        keep_rules=("attribute:plan=paid", "role:keeper", "attribute:hasData"),
        two_stage_cull=True,
        disabled_for_days=45,
        allow_attestation=False,
    )
    store.put(wanted, key=KEY)
    again = ProfileStore.load().get("Staging")
    assert again == wanted
    assert again.cull_stages == (Stage.DELETE_DISABLED, Stage.DISABLE)
    assert again.parsed_keep_rules() == (
        KeepRule("attribute", "plan", "paid"),
        KeepRule("role", "keeper"),
        KeepRule("attribute", "hasData"),
    )
    assert Profile.from_json(json.loads(json.dumps(again.to_json()))) == again
    assert Profile.from_json(again.to_json()) == again  # a tuple as well as JSON's list


def test_keep_rules_are_saved_in_one_spelling_without_blanks_or_repeats(memory: MemoryKeyring) -> None:
    store = ProfileStore.load()
    store.put(staging(keep_rules=(" role:keeper ", "", "role: keeper", "attribute: plan=paid")), key=KEY)
    assert ProfileStore.load().get("Staging").keep_rules == ("role:keeper", "attribute:plan=paid")


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (("keeper",), 'A keep-rule looks like "attribute:NAME", "attribute:NAME=VALUE" or "role:NAME"'),
        (("role:keeper", "tenant:x"), "not 'tenant:x'"),
        (("attribute:=paid",), "names no attribute or role"),
        (("role:keeper=yes",), 'A role keep-rule takes no value: write "role:keeper".'),
    ],
)
def test_a_bad_keep_rule_is_refused_with_the_rules_own_sentence(
    memory: MemoryKeyring, rules: tuple[str, ...], message: str
) -> None:
    store = ProfileStore.load()
    with pytest.raises(ValidationError) as caught:
        store.put(staging(keep_rules=rules), key=KEY)
    assert set(caught.value.problems) == {"keep_rules"}
    assert message in caught.value.problems["keep_rules"]
    assert ProfileStore.load().names() == ["Sandbox (demo)"]  # nothing saved
    assert stored(memory) == {}


@pytest.mark.parametrize(("days", "ok"), [(0, True), (30, True), (3650, True), (-1, False), (3651, False)])
def test_days_disabled_before_deletion_are_bounded_like_the_grace(days: int, ok: bool) -> None:
    problems = profiles.problems_of(staging(disabled_for_days=days), key=KEY, key_required=True)
    assert ("disabled_for_days" not in problems) == ok
    if not ok:
        assert problems["disabled_for_days"] == (
            "Users stay disabled between 0 and 3650 days before they are deleted."
        )


# -- the keyring in step with the file ----------------------------------------------------------------


def test_a_new_profile_needs_a_key(memory: MemoryKeyring) -> None:
    store = ProfileStore.load()
    with pytest.raises(ValidationError) as caught:
        store.put(staging(), key="")
    assert set(caught.value.problems) == {"key"}
    assert "Staging" not in store
    assert not store.path.exists()


def test_duplicate_names_are_refused_whatever_the_case(memory: MemoryKeyring) -> None:
    store = ProfileStore.load()
    store.put(staging(), key=KEY)
    with pytest.raises(ValidationError) as caught:
        store.put(staging(name="STAGING"), key=KEY)
    assert caught.value.problems == {"name": "A profile named “STAGING” already exists; choose another name."}
    with pytest.raises(ValidationError):
        store.put(staging(name="Sandbox (demo)"), key=KEY)


def test_editing_without_a_key_keeps_the_stored_one(memory: MemoryKeyring) -> None:
    store = ProfileStore.load()
    store.put(staging(), key=KEY)
    store.put(staging(grace_days=3), key="", replacing="Staging")
    assert store.get("Staging").grace_days == 3
    assert stored(memory) == {"Staging": KEY}
    assert profiles.stored_key(store.get("Staging")) == KEY


def test_renaming_moves_the_key_and_the_last_profile(memory: MemoryKeyring) -> None:
    store = ProfileStore.load()
    store.put(staging(), key=KEY)
    store.set_last_profile("Staging")
    store.put(staging(name="Staging EU"), replacing="Staging")
    assert stored(memory) == {"Staging EU": KEY}
    assert store.names() == ["Sandbox (demo)", "Staging EU"]
    assert ProfileStore.load().last_profile == "Staging EU"


def test_a_new_key_replaces_the_old_one(memory: MemoryKeyring) -> None:
    store = ProfileStore.load()
    store.put(staging(), key=KEY)
    store.put(staging(name="Renamed"), key="K2new", replacing="Staging")
    assert stored(memory) == {"Renamed": "K2new"}


def test_duplicate_copies_the_profile_and_its_key(memory: MemoryKeyring) -> None:
    store = ProfileStore.load()
    store.put(staging(grace_days=4), key=KEY)
    copy = store.duplicate("Staging")
    second = store.duplicate("Staging")
    assert (copy.name, second.name) == ("Staging (copy)", "Staging (copy) (2)")
    assert dataclasses.replace(copy, name="Staging") == store.get("Staging")
    assert stored(memory) == {"Staging": KEY, "Staging (copy)": KEY, "Staging (copy) (2)": KEY}


RUNNING = "http://127.0.0.1:41234"  # where the console's sandbox runs in these tests


@pytest.fixture
def consoles_sandbox_running() -> None:
    """The console's own sandbox running at RUNNING (its state file, as the launcher writes it)."""
    state = {"url": RUNNING, "pid": 1, "projectId": profiles.DEFAULT_PROJECT_ID, "db": "sandbox.db"}
    paths.sandbox_state_file().write_text(json.dumps(state), encoding="utf-8")


@pytest.mark.parametrize(
    "url",
    [
        profiles.LOCAL_SANDBOX_URL,
        "http://localhost:8788/",
        "http://[::1]:8788",
        RUNNING,
        "http://localhost:41234",
    ],
)
def test_a_profile_aimed_at_the_consoles_sandbox_by_address_is_refused(
    memory: MemoryKeyring, consoles_sandbox_running: None, url: str
) -> None:
    """Its port changes at every start and its key is the built-in profile's: only that profile reaches it."""
    store = ProfileStore.load()
    with pytest.raises(ValidationError) as caught:
        store.put(Profile("My sandbox", profiles.DEFAULT_PROJECT_ID, base_url=url), key=KEY)
    assert set(caught.value.problems) == {"base_url"}
    assert "“Sandbox (demo)”" in caught.value.problems["base_url"]
    assert "My sandbox" not in store
    assert stored(memory) == {}


@pytest.mark.parametrize(
    ("project_id", "url"),
    [
        ("P2MyOwnSandbox00000000000000", profiles.LOCAL_SANDBOX_URL),  # served by hand, its own project
        (profiles.DEFAULT_PROJECT_ID, "http://127.0.0.1:50123"),  # `serve --port 0`, a test's sandbox
    ],
)
def test_another_sandbox_on_this_computer_is_an_ordinary_profile(
    memory: MemoryKeyring, consoles_sandbox_running: None, project_id: str, url: str
) -> None:
    store = ProfileStore.load()
    assert store.put(Profile("Served", project_id, base_url=url), key=KEY).base_url == url


def test_the_sandbox_cannot_be_duplicated_into_a_profile_that_could_not_reach_it(
    memory: MemoryKeyring,
) -> None:
    store = ProfileStore.load()
    with pytest.raises(ConfigError, match="“Sandbox \\(demo\\)”"):
        store.duplicate("Sandbox (demo)")
    assert store.names() == ["Sandbox (demo)"]


def test_a_stored_profile_aimed_at_the_consoles_sandbox_is_kept_with_a_notice() -> None:
    path = paths.config_dir() / "profiles.json"
    old = {"name": "Old copy", "project_id": profiles.DEFAULT_PROJECT_ID, "base_url": "http://127.0.0.1:8788"}
    path.write_text(json.dumps({"schema_version": 1, "profiles": [old]}), encoding="utf-8")
    store = ProfileStore.load()
    assert store.names() == ["Sandbox (demo)", "Old copy"]
    assert "“Old copy”" in store.notice
    assert "“Sandbox (demo)”" in store.notice
    assert path.exists()


def test_removing_a_profile_removes_its_key(memory: MemoryKeyring) -> None:
    store = ProfileStore.load()
    store.put(staging(), key=KEY)
    store.set_last_profile("Staging")
    store.remove("Staging")
    assert stored(memory) == {}
    again = ProfileStore.load()
    assert again.names() == ["Sandbox (demo)"]
    assert again.last_profile is None


# -- the users snapshot: removed with its profile, on a rename, another project, or turned off -------------

ANON = "T2AnonymousUsers00000000000000"
TAKEN = 1_800_000_000


def snapshot_of(name: str, project_id: str = PROJECT) -> Path:
    """A real users snapshot of the profile `name` where the console keeps it (two users)."""
    table = UserTable(AnonymousPolicy(ANON, 30 * 86400), now=lambda: TAKEN)
    anonymous = (UserTenant(ANON, "Anonymous Users"),)
    table.append(
        [
            User("U1", ("a@example.com",), email="a@example.com", tenants=anonymous, created_time=TAKEN - 5),
            User("U2", ("b@example.com",), email="b@example.com", status="enabled", created_time=TAKEN - 9),
        ]
    )
    path = snapshot_path(name)
    assert write_snapshot(table, path, profile=name, project_id=project_id, taken_at=TAKEN)
    assert snapshot_info(path).users == 2
    return path


def test_removing_a_profile_removes_its_snapshot_and_no_other(memory: MemoryKeyring, home: Path) -> None:
    store = ProfileStore.load()
    store.put(staging(), key=KEY)
    store.put(Profile("Production", REGIONAL), key=KEY)
    mine, other, sandbox = (
        snapshot_of("Staging"),
        snapshot_of("Production", REGIONAL),
        snapshot_of(SANDBOX_NAME, profiles.DEFAULT_PROJECT_ID),
    )
    assert mine.is_relative_to(home / "cache")
    store.remove("Staging")
    assert not mine.exists()
    assert other.exists()
    assert sandbox.exists()
    assert sorted(p.name for p in mine.parent.iterdir()) == sorted([other.name, sandbox.name])


def test_renaming_removes_the_old_names_snapshot_and_moves_none(memory: MemoryKeyring) -> None:
    store = ProfileStore.load()
    store.put(staging(), key=KEY)
    store.put(Profile("Production", REGIONAL), key=KEY)
    old, other = snapshot_of("Staging"), snapshot_of("Production", REGIONAL)
    store.put(staging(name="Staging EU"), replacing="Staging")
    assert not old.exists()
    assert not snapshot_path("Staging EU").exists()  # the next load writes one under the new name
    assert other.exists()
    assert stored(memory) == {"Staging EU": KEY, "Production": KEY}


@pytest.mark.parametrize(
    ("changes", "removed"),
    [
        ({"project_id": REGIONAL}, True),  # its users belong to another project
        ({"base_url": "https://auth.example.com"}, True),  # another service answers for the project
        ({"keep_snapshot": False}, True),  # turned off: the file must not stay
        ({"base_url": profiles.DEFAULT_BASE_URL + "/"}, False),  # the same service, spelled with a slash
        ({"grace_days": 3, "anonymous_tenant_name": "Guests", "keep_rules": ("role:keeper",)}, False),
    ],
)
def test_editing_a_profile_removes_its_snapshot_only_when_its_users_no_longer_belong(
    memory: MemoryKeyring, changes: dict[str, object], removed: bool
) -> None:
    store = ProfileStore.load()
    store.put(staging(), key=KEY)
    store.put(Profile("Production", PROJECT), key=KEY)  # the same project: its snapshot is its own
    mine, other = snapshot_of("Staging"), snapshot_of("Production")
    store.put(staging(**changes), replacing="Staging")
    assert mine.exists() is not removed
    assert other.exists()


def test_a_url_stored_with_a_trailing_slash_is_the_same_service(memory: MemoryKeyring) -> None:
    """Written by hand, say: the form saves it without the slash, and the users stay the same."""
    path = paths.config_dir() / "profiles.json"
    slashed = {"name": "Staging", "project_id": PROJECT, "base_url": " https://auth.example.com/ "}
    path.write_text(json.dumps({"schema_version": 3, "profiles": [slashed]}), encoding="utf-8")
    store = ProfileStore.load()
    connected = store.get("Staging")
    snapshot = snapshot_of("Staging")
    store.put(dataclasses.replace(connected, grace_days=1), key=KEY, replacing="Staging")
    assert store.get("Staging").base_url == "https://auth.example.com"
    assert snapshot.exists()
    assert store.keeps_snapshot(connected)


def test_a_snapshot_turned_off_stays_off_and_is_never_kept_again(memory: MemoryKeyring) -> None:
    store = ProfileStore.load()
    store.put(staging(), key=KEY)
    path = snapshot_of("Staging")
    assert store.keeps_snapshot(store.get("Staging"))
    store.put(staging(keep_snapshot=False), replacing="Staging")
    assert not path.exists()
    again = ProfileStore.load()
    assert not again.get("Staging").keep_snapshot
    assert not again.keeps_snapshot(again.get("Staging"))
    again.put(staging(keep_snapshot=True), replacing="Staging")
    assert ProfileStore.load().get("Staging").keep_snapshot


def test_the_writer_is_told_whether_a_connected_profiles_snapshot_may_still_be_kept(
    memory: MemoryKeyring,
) -> None:
    store = ProfileStore.load()
    store.put(staging(), key=KEY)
    connected = store.get("Staging")  # as the window holds it while the users load
    assert store.keeps_snapshot(connected)
    assert store.keeps_snapshot(store.get(SANDBOX_NAME))
    store.put(staging(grace_days=4), replacing="Staging")
    assert store.keeps_snapshot(connected)  # the same users
    store.put(staging(project_id=REGIONAL), replacing="Staging")
    assert not store.keeps_snapshot(connected)  # they are another project's now
    store.put(staging(name="Renamed"), replacing="Staging")
    assert not store.keeps_snapshot(connected)  # no profile of that name any more
    renamed = store.get("Renamed")
    assert store.keeps_snapshot(renamed)
    store.remove("Renamed")
    assert not store.keeps_snapshot(renamed)


def test_a_leftover_snapshot_under_a_new_profiles_name_is_not_taken_for_its_own(
    memory: MemoryKeyring,
) -> None:
    """Left by a profiles file set aside, say: another profile's users, maybe of the same project."""
    store = ProfileStore.load()
    store.put(staging(), key=KEY)
    leftovers = [snapshot_of("Production"), snapshot_of("Staging (copy)"), snapshot_of("Staging EU")]
    store.put(Profile("Production", PROJECT), key=KEY)
    store.duplicate("Staging")
    store.put(staging(name="Staging EU"), replacing="Staging")
    assert [path.exists() for path in leftovers] == [False, False, False]


def test_the_sandbox_keeps_its_snapshot_unless_turned_off(memory: MemoryKeyring) -> None:
    store = ProfileStore.load()
    path = snapshot_of(SANDBOX_NAME, profiles.DEFAULT_PROJECT_ID)
    sandbox = store.get(SANDBOX_NAME)
    store.put(
        dataclasses.replace(sandbox, base_url="https://evil.example", grace_days=2), replacing=SANDBOX_NAME
    )
    assert path.exists()  # its project and service are fixed: the same users
    store.put(dataclasses.replace(sandbox, keep_snapshot=False), replacing=SANDBOX_NAME)
    assert not path.exists()


def test_a_snapshot_that_cannot_be_removed_stops_the_change_with_its_path(memory: MemoryKeyring) -> None:
    store = ProfileStore.load()
    store.put(staging(), key=KEY)
    path = snapshot_path("Staging")
    path.mkdir(parents=True)  # a folder in its place: unlink fails, as a file it may not remove would
    (path / "inside").write_text("x", encoding="utf-8")
    for change in (
        lambda: store.remove("Staging"),
        lambda: store.put(staging(keep_snapshot=False), replacing="Staging"),
    ):
        with pytest.raises(ConfigError) as caught:
            change()
        assert str(path) in caught.value.user_message
        assert "by hand" in caught.value.user_message
        assert ProfileStore.load().get("Staging") == staging()  # nothing changed
        assert stored(memory) == {"Staging": KEY}


def test_the_sandbox_cannot_be_removed_or_renamed_but_its_tenant_settings_can_change(
    memory: MemoryKeyring,
) -> None:
    store = ProfileStore.load()
    with pytest.raises(ConfigError, match="cannot be removed"):
        store.remove("Sandbox (demo)")
    sandbox = store.get("Sandbox (demo)")
    with pytest.raises(ValidationError, match="cannot be renamed"):
        store.put(dataclasses.replace(sandbox, name="Mine"), replacing="Sandbox (demo)")
    store.put(
        dataclasses.replace(
            sandbox,
            grace_days=2,
            base_url="https://evil.example",
            keep_rules=("role:keeper",),
            two_stage_cull=True,
            allow_attestation=False,
        ),
        replacing=sandbox.name,
    )
    again = ProfileStore.load().get("Sandbox (demo)")
    assert (again.grace_days, again.base_url, again.is_sandbox) == (2, "", True)
    assert (again.keep_rules, again.two_stage_cull, again.allow_attestation) == (
        ("role:keeper",),
        True,
        False,
    )
    with pytest.raises(ValidationError, match="Only the built-in"):
        store.put(staging(is_sandbox=True), key=KEY)


def test_without_a_keyring_nothing_is_saved_and_the_message_says_what_to_install(no_keyring: None) -> None:
    store = ProfileStore.load()
    with pytest.raises(key_store.KeyringUnavailable) as caught:
        store.put(staging(), key=KEY)
    assert "gnome-keyring" in caught.value.user_message
    assert KEY not in caught.value.user_message
    assert "Staging" not in store
    assert not store.path.exists()


# -- resolve_key: the keyring, or (CLI only) the environment -------------------------------------------


def test_resolve_key_prefers_the_keyring(memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(profiles.ENV_KEY, "K2fromenv")
    store = ProfileStore.load()
    store.put(staging(), key=KEY)
    resolved = profiles.resolve_key(store.get("Staging"), allow_env=True)
    assert (resolved.key, resolved.source, resolved.notice) == (KEY, "keyring", "")
    assert KEY not in repr(resolved)


def test_the_gui_never_takes_the_key_from_the_environment(
    memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(profiles.ENV_KEY, "K2fromenv")
    with pytest.raises(KeyMissing, match="No management key is stored for “Staging”") as caught:
        profiles.resolve_key(staging(), allow_env=False)
    assert profiles.ENV_KEY not in caught.value.user_message


def test_the_cli_falls_back_to_the_environment_and_says_so(
    memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(profiles.ENV_KEY, " K2fromenv ")
    resolved = profiles.resolve_key(staging(), allow_env=True)
    assert (resolved.key, resolved.source) == ("K2fromenv", "environment")
    assert profiles.ENV_KEY in resolved.notice
    assert "K2fromenv" not in resolved.notice


def test_the_cli_uses_the_environment_when_there_is_no_keyring(
    no_keyring: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(profiles.ENV_KEY, "K2fromenv")
    resolved = profiles.resolve_key(staging(), allow_env=True)
    assert resolved.source == "environment"
    assert "No system keyring is available" in resolved.notice
    monkeypatch.delenv(profiles.ENV_KEY)
    with pytest.raises(key_store.KeyringUnavailable, match=f"you may set {profiles.ENV_KEY} instead"):
        profiles.resolve_key(staging(), allow_env=True)


def test_the_cli_without_any_key_is_told_both_ways(
    memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(profiles.ENV_KEY, raising=False)
    with pytest.raises(
        KeyMissing, match=f"edit the profile and enter its key. On the command line .*{profiles.ENV_KEY}"
    ):
        profiles.resolve_key(staging(), allow_env=True)


def test_the_sandbox_key_is_generated_once_and_kept(memory: MemoryKeyring) -> None:
    sandbox = ProfileStore.load().get("Sandbox (demo)")
    first = profiles.resolve_key(sandbox, allow_env=False)
    assert first.key == profiles.resolve_key(sandbox, allow_env=False).key
    assert stored(memory) == {"Sandbox (demo)": first.key}
