"""The Connect dialog against real sandboxes: add, test, save, connect, reconnect; every error told apart."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from memory_keyring import MemoryKeyring, installed
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QGroupBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QSpinBox,
    QWidget,
)
from pytestqt.qtbot import QtBot
from waiting import emitted

from anonconsole.core.classify import AnonymousPolicy
from anonconsole.core.records import User
from anonconsole.core.user_table import UserTable
from anonconsole.gateway import (
    Connection,
    ConnectionCheck,
    Gateway,
)
from anonconsole.settings import key_store, paths, profiles
from anonconsole.settings.profiles import Profile, ProfileStore
from anonconsole.settings.user_snapshot import snapshot_path, write_snapshot
from anonconsole.views.connect_dialog import ConnectDialog

SANDBOX = profiles.SANDBOX_PROFILE


@pytest.fixture
def memory() -> Iterator[MemoryKeyring]:
    """A working keyring (the GUI conftest installs one that fails)."""
    with installed() as backend:
        yield backend


@pytest.fixture
def store() -> ProfileStore:
    return ProfileStore.load()


@pytest.fixture
def make_dialog(qtbot: QtBot, console_qapp: Any) -> Callable[..., ConnectDialog]:
    def make(store: ProfileStore, **kwargs: Any) -> ConnectDialog:
        dialog = ConnectDialog(store, **kwargs)
        qtbot.addWidget(dialog)
        dialog.show()
        return dialog

    return make


@pytest.fixture
def dialog(make_dialog: Callable[..., ConnectDialog], store: ProfileStore) -> ConnectDialog:
    return make_dialog(store)


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fill(dialog: ConnectDialog, qtbot: QtBot, *, name: str, project_id: str, url: str, key: str) -> None:
    """Type into the form as a user would."""
    for edit, text in ((dialog.name, name), (dialog.project_id, project_id), (dialog.key, key)):
        edit.clear()
        qtbot.keyClicks(edit, text)
    dialog.set_base_url(url)


def add_sandbox_profile(
    dialog: ConnectDialog, qtbot: QtBot, sandbox: Any, *, name: str = "Local", **changes: str
) -> None:
    dialog.add_profile()
    values = {
        "name": name,
        "project_id": sandbox.project_id,
        "url": sandbox.url,
        "key": sandbox.management_key,
    }
    values.update(changes)
    fill(dialog, qtbot, **values)


def visible_texts(dialog: ConnectDialog) -> str:
    """Title, labels and every field except the key field itself: where a key must never show."""
    texts = [dialog.windowTitle()]
    texts += [label.text() + label.toolTip() for label in dialog.findChildren(QLabel)]
    texts += [edit.text() for edit in dialog.findChildren(QLineEdit) if edit is not dialog.key]
    texts += [dialog.profile_list.item(row).text() for row in range(dialog.profile_list.count())]
    return "\n".join(texts)


def files_containing(secret: str, *roots: Path) -> list[Path]:
    """Files under `roots` holding the secret, or a 12-character piece of it."""
    piece = secret[:12].encode()
    return [
        path
        for root in roots
        for path in root.rglob("*")
        if path.is_file() and (secret.encode() in path.read_bytes() or piece in path.read_bytes())
    ]


async def run_test(dialog: ConnectDialog) -> tuple[bool, str]:
    """Click Test connection and wait for its verdict (`test_finished`), then for its task to end."""
    async with emitted(dialog.test_finished) as verdict:
        dialog.test_button.click()
        task = dialog.wait_idle()
        assert task is not None
    await task
    ok, text = verdict.args
    return ok, text


def users_snapshot(profile: str, project_id: str) -> Path:
    """A real users snapshot of `profile` (one user) where the console keeps it."""
    table = UserTable(AnonymousPolicy("", None), now=lambda: 1_800_000_000)
    table.append([User("U1", ("a@example.com",), email="a@example.com", status="enabled")])
    path = snapshot_path(profile)
    assert write_snapshot(table, path, profile=profile, project_id=project_id, taken_at=1_800_000_000)
    return path


async def answer_remove(dialog: ConnectDialog, button: QMessageBox.StandardButton) -> None:
    """Wait for the removal question to show, then answer it."""
    while (box := dialog.findChild(QMessageBox, "confirmRemove")) is None or not box.isVisible():
        await asyncio.sleep(0.01)
    box.button(button).click()


# -- looks and names ----------------------------------------------------------------------------------


def test_every_widget_has_an_object_name_and_an_accessible_name(dialog: ConnectDialog) -> None:
    kinds = (QAbstractButton, QLineEdit, QComboBox, QSpinBox, QListWidget, QLabel, QGroupBox)
    internal = (QComboBox, QSpinBox)
    checked = [
        widget
        for widget in dialog.findChildren(QWidget)
        if isinstance(widget, kinds) and not isinstance(widget.parent(), internal)
    ]
    assert len(checked) > 25
    unnamed = [f"{type(w).__name__} {w.objectName()!r}" for w in checked if not w.objectName()]
    silent = [w.objectName() for w in checked if not w.accessibleName()]
    assert unnamed == []
    assert silent == []


def test_it_opens_on_the_last_profile_and_the_key_field_is_masked(
    memory: MemoryKeyring, make_dialog: Callable[..., ConnectDialog], store: ProfileStore, qtbot: QtBot
) -> None:
    store.put(Profile("Production", "P2abcdefghijklmnopqrstuvwxyz"), key="K2stored")
    store.set_last_profile("Production")
    dialog = make_dialog(ProfileStore.load())
    assert dialog.selected_name() == "Production"
    assert dialog.profile_list.currentItem().text() == "Production"
    assert dialog.key.text() == ""
    assert dialog.key.placeholderText() == "leave empty to keep the stored key"
    assert dialog.key.echoMode() == QLineEdit.EchoMode.Password
    dialog.show_key.click()
    assert dialog.key.echoMode() == QLineEdit.EchoMode.Normal
    assert dialog.show_key.accessibleName() == "Hide the management key"
    dialog.show_key.click()
    assert dialog.key.echoMode() == QLineEdit.EchoMode.Password


def test_base_url_presets_follow_the_project_id(dialog: ConnectDialog, qtbot: QtBot) -> None:
    dialog.add_profile()
    regional_item = dialog.base_url_preset.model().item(1)  # type: ignore[attr-defined]
    assert dialog.base_url.text() == "https://api.descope.com"
    assert dialog.base_url.isReadOnly()
    assert not regional_item.isEnabled()
    qtbot.keyClicks(dialog.project_id, "Puse12aAc4T2V93bddihGEx2Ryhc8e5Z")
    assert regional_item.isEnabled()
    dialog.base_url_preset.setCurrentIndex(1)
    dialog.base_url_preset.activated.emit(1)
    assert dialog.base_url.text() == "https://api.use1.descope.com"
    custom = dialog.base_url_preset.findData("custom")
    dialog.base_url_preset.setCurrentIndex(custom)
    dialog.base_url_preset.activated.emit(custom)
    assert not dialog.base_url.isReadOnly()
    dialog.set_base_url("https://auth.example.com")
    assert dialog.base_url_preset.currentIndex() == custom
    dialog.set_base_url("http://127.0.0.1:8788")
    assert dialog.base_url_preset.currentText() == "Local sandbox"


# -- the whole story: add, test, save, connect, restart, connected again --------------------------------


def test_add_test_save_connect_then_reconnect_after_a_restart_without_retyping_the_key(
    memory: MemoryKeyring,
    make_dialog: Callable[..., ConnectDialog],
    store: ProfileStore,
    qtbot: QtBot,
    arun: Callable[..., Any],
    sandbox: Any,
    app_dirs: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    dialog = make_dialog(store)
    add_sandbox_profile(dialog, qtbot, sandbox, name="My sandbox")
    requested: list[Profile] = []
    dialog.connect_requested.connect(requested.append)

    async def scenario() -> tuple[bool, str]:
        verdict = await run_test(dialog)
        dialog.save_button.click()
        await dialog.wait_idle()  # type: ignore[misc]
        dialog.connect_button.click()
        await dialog.wait_idle()  # type: ignore[misc]
        return verdict

    ok, text = arun(scenario())
    assert ok, text
    assert text.startswith(
        f"Connected to {sandbox.url.removeprefix('http://')}: project {sandbox.project_id}"
    )
    assert "users" in text
    assert memory.entries == {(key_store.SERVICE, "My sandbox"): sandbox.management_key}
    assert dialog.key.text() == ""
    assert [p.name for p in requested] == ["My sandbox"]
    assert requested[0].base_url == sandbox.url
    assert dialog.result() == ConnectDialog.DialogCode.Accepted

    # Restart: a new store from the file, a new dialog; the key comes from the keyring only.
    again = ProfileStore.load()
    assert again.last_profile == "My sandbox"
    reopened = make_dialog(again)
    assert reopened.selected_name() == "My sandbox"
    profile = again.startup_profile()
    resolved = profiles.resolve_key(profile, allow_env=False)

    async def reconnect() -> ConnectionCheck:
        async with Gateway(Connection(profile.project_id, profile.base_url, resolved.key)) as gateway:
            return await gateway.check()

    assert arun(reconnect()).project_id == sandbox.project_id
    dirs = (paths.config_dir(), paths.data_dir(), paths.cache_dir(), paths.log_dir())
    assert all(app_dirs in d.parents for d in dirs)
    assert files_containing(sandbox.management_key, *dirs) == []
    assert sandbox.management_key not in caplog.text
    assert sandbox.management_key not in visible_texts(dialog) + visible_texts(reopened)


# -- what a test tells apart -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"key": "K2" + "x" * 40}, "The management key was refused."),
        (
            {"project_id": "P2SomeOtherProject0000000000"},
            "The project ID P2SomeOtherProject0000000000 was not",
        ),
        ({"url": "closed"}, "Cannot reach 127.0.0.1:"),
    ],
    ids=["wrong-key", "wrong-project", "unreachable"],
)
def test_a_failed_test_says_what_is_wrong(
    dialog: ConnectDialog,
    qtbot: QtBot,
    arun: Callable[..., Any],
    sandbox: Any,
    changes: dict[str, str],
    expected: str,
) -> None:
    if changes.get("url") == "closed":
        changes["url"] = f"http://127.0.0.1:{closed_port()}"
    add_sandbox_profile(dialog, qtbot, sandbox, **changes)
    ok, text = arun(run_test(dialog))
    assert not ok
    assert text.startswith(expected), text
    assert dialog.result_label.text() == text
    assert dialog.result_label.property("state") == "error"
    typed = changes.get("key", sandbox.management_key)
    assert typed not in visible_texts(dialog)
    assert sandbox.management_key not in visible_texts(dialog)


def test_testing_a_saved_profile_uses_its_stored_key(
    memory: MemoryKeyring,
    make_dialog: Callable[..., ConnectDialog],
    store: ProfileStore,
    arun: Callable[..., Any],
    sandbox: Any,
) -> None:
    store.put(Profile("Saved", sandbox.project_id, sandbox.url), key=sandbox.management_key)
    dialog = make_dialog(store, selected="Saved")
    ok, text = arun(run_test(dialog))
    assert ok, text
    memory.entries.clear()
    ok, text = arun(run_test(dialog))
    assert (ok, text) == (
        False,
        "No management key is stored for “Saved”; edit the profile and enter its key.",
    )


# -- validation, inline -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"key": ""}, "key", "Enter the management key"),
        ({"project_id": "P2short"}, "project_id", "this one has 7"),
        ({"project_id": ""}, "project_id", "Enter the project ID"),
        ({"url": "http://sandbox.example.com"}, "base_url", "plain http:// is only allowed"),
        ({"url": "https://"}, "base_url", "no host name"),
        ({"url": "api.descope.com"}, "base_url", "must start with https://"),
        ({"name": ""}, "name", "Give the profile a name."),
        ({"name": "sandbox (DEMO)"}, "name", "already exists"),
    ],
)
def test_save_shows_each_problem_next_to_its_field_and_saves_nothing(
    memory: MemoryKeyring,
    dialog: ConnectDialog,
    qtbot: QtBot,
    arun: Callable[..., Any],
    sandbox: Any,
    changes: dict[str, str],
    field: str,
    message: str,
) -> None:
    add_sandbox_profile(dialog, qtbot, sandbox, **changes)
    assert arun(dialog.save()) is None
    label = dialog.errors[field]
    assert label.isVisible()
    assert message in label.text()
    assert [name for name, shown in dialog.errors.items() if shown.isVisible()] == [field]
    assert dialog.store.names() == [SANDBOX]
    assert memory.entries == {}
    # Fixing the field clears its message as the user types.
    fixes = {
        "key": (dialog.key, sandbox.management_key),
        "project_id": (dialog.project_id, sandbox.project_id),
        "name": (dialog.name, "Fixed"),
    }
    if field in fixes:
        edit, text = fixes[field]
        edit.clear()
        qtbot.keyClicks(edit, text)
    else:
        dialog.set_base_url(sandbox.url)
    assert not label.isVisible()


def test_an_invalid_form_is_not_tested_and_connect_does_not_close(
    memory: MemoryKeyring, dialog: ConnectDialog, qtbot: QtBot, arun: Callable[..., Any], sandbox: Any
) -> None:
    add_sandbox_profile(dialog, qtbot, sandbox, project_id="nope")
    ok, text = arun(run_test(dialog))
    assert (ok, text) == (False, "Correct the fields marked above, then test again.")
    requested: list[Profile] = []
    dialog.connect_requested.connect(requested.append)
    assert arun(dialog.connect_selected()) is None
    assert requested == []
    assert dialog.isVisible()


# -- editing, duplicating, removing --------------------------------------------------------------------


def test_editing_without_retyping_the_key_keeps_it(
    memory: MemoryKeyring,
    make_dialog: Callable[..., ConnectDialog],
    store: ProfileStore,
    qtbot: QtBot,
    arun: Callable[..., Any],
) -> None:
    store.put(Profile("Production", "P2abcdefghijklmnopqrstuvwxyz"), key="K2stored")
    dialog = make_dialog(store, selected="Production")
    assert not dialog.is_dirty()
    dialog.grace_days.setValue(5)
    dialog.name.clear()
    qtbot.keyClicks(dialog.name, "Production EU")
    assert dialog.is_dirty()
    saved = arun(dialog.save())
    assert saved == Profile("Production EU", "P2abcdefghijklmnopqrstuvwxyz", grace_days=5)
    assert memory.entries == {(key_store.SERVICE, "Production EU"): "K2stored"}
    assert [dialog.profile_list.item(i).text() for i in range(dialog.profile_list.count())] == [
        SANDBOX,
        "Production EU",
    ]
    assert dialog.result_label.text() == "Saved “Production EU”; its key is in the system keyring."


def test_duplicate_copies_the_profile_and_its_key(
    memory: MemoryKeyring,
    make_dialog: Callable[..., ConnectDialog],
    store: ProfileStore,
    arun: Callable[..., Any],
) -> None:
    store.put(Profile("Staging", "P2abcdefghijklmnopqrstuvwxyz", grace_days=2), key="K2stored")
    dialog = make_dialog(store, selected="Staging")

    async def duplicate() -> None:
        dialog.duplicate_button.click()
        await dialog.wait_idle()  # type: ignore[misc]

    arun(duplicate())
    assert dialog.selected_name() == "Staging (copy)"
    assert dialog.grace_days.value() == 2
    assert memory.entries[(key_store.SERVICE, "Staging (copy)")] == "K2stored"


def test_remove_asks_then_deletes_the_profile_and_its_key(
    memory: MemoryKeyring,
    make_dialog: Callable[..., ConnectDialog],
    store: ProfileStore,
    arun: Callable[..., Any],
) -> None:
    store.put(Profile("Old", "P2abcdefghijklmnopqrstuvwxyz"), key="K2stored")
    snapshot = users_snapshot("Old", "P2abcdefghijklmnopqrstuvwxyz")
    dialog = make_dialog(store, selected="Old")

    async def remove(answer: QMessageBox.StandardButton) -> bool:
        dialog.remove_button.click()
        task = dialog.wait_idle()
        await answer_remove(dialog, answer)
        return bool(await task)  # type: ignore[misc]

    assert arun(remove(QMessageBox.StandardButton.Cancel)) is False
    assert "Old" in store
    assert snapshot.exists()
    assert arun(remove(QMessageBox.StandardButton.Yes)) is True
    assert store.names() == [SANDBOX]
    assert not snapshot.exists()
    assert ProfileStore.load().names() == [SANDBOX]
    assert memory.entries == {}
    assert dialog.selected_name() == SANDBOX
    assert not dialog.remove_button.isEnabled()


def test_an_unsaved_new_profile_disappears_when_another_is_selected(dialog: ConnectDialog) -> None:
    dialog.add_profile()
    assert dialog.profile_list.count() == 2
    assert dialog.selected_name() is None
    assert dialog.name.text() == "New profile"
    dialog.select(SANDBOX)
    assert dialog.profile_list.count() == 1
    assert dialog.selected_name() == SANDBOX


# -- the built-in sandbox ---------------------------------------------------------------------------------


def test_the_sandbox_profile_is_fixed_and_connects_without_a_key(
    memory: MemoryKeyring, dialog: ConnectDialog, arun: Callable[..., Any]
) -> None:
    assert dialog.selected_name() == SANDBOX
    for widget in (dialog.name, dialog.project_id, dialog.base_url, dialog.key, dialog.base_url_preset):
        assert not widget.isEnabled()
    assert dialog.tenant_name.isEnabled()
    assert dialog.keep_rules_list.isEnabled()
    assert not dialog.remove_button.isEnabled()
    assert not dialog.test_button.isEnabled()
    assert "Connect starts it" in dialog.hint.text()
    requested: list[Profile] = []
    dialog.connect_requested.connect(requested.append)
    assert arun(dialog.connect_selected()) == profiles.SANDBOX
    assert requested == [profiles.SANDBOX]
    assert memory.entries == {}
    assert ProfileStore.load().last_profile == SANDBOX


def test_the_sandbox_profile_is_tested_through_the_apps_hook(
    make_dialog: Callable[..., ConnectDialog], store: ProfileStore, arun: Callable[..., Any], sandbox: Any
) -> None:
    async def sandbox_check() -> ConnectionCheck:
        async with Gateway(Connection(sandbox.project_id, sandbox.url, sandbox.management_key)) as gateway:
            return await gateway.check()

    dialog = make_dialog(store, sandbox_check=sandbox_check)
    assert dialog.test_button.isEnabled()
    ok, text = arun(run_test(dialog))
    assert ok, text
    assert sandbox.project_id in text


# -- the cull's and the conversion's settings ----------------------------------------------------------


def add_rule(dialog: ConnectDialog, qtbot: QtBot, text: str) -> None:
    """Type a keep-rule and press Enter, as a person would."""
    qtbot.keyClicks(dialog.keep_rule_edit, text)
    qtbot.keyClick(dialog.keep_rule_edit, Qt.Key.Key_Return)


def listed_rules(dialog: ConnectDialog) -> list[str]:
    return [dialog.keep_rules_list.item(row).text() for row in range(dialog.keep_rules_list.count())]


def test_the_cull_settings_are_saved_and_shown_again(
    dialog: ConnectDialog, qtbot: QtBot, arun: Callable[..., Any], make_dialog: Callable[..., ConnectDialog]
) -> None:
    assert dialog.selected_name() == SANDBOX  # editable here too, like its grace period
    for widget in (dialog.grace_days, dialog.keep_rule_edit, dialog.two_stage, dialog.allow_attestation):
        assert widget.isEnabled()
    assert dialog.allow_attestation.isChecked()
    assert not dialog.two_stage.isChecked()
    assert not dialog.disabled_for_days.isEnabled()  # only with two stages
    requested: list[Profile] = []
    dialog.connect_requested.connect(requested.append)
    add_rule(dialog, qtbot, "attribute:hasData")
    add_rule(dialog, qtbot, " role: keeper ")
    add_rule(dialog, qtbot, "role:keeper")  # already there: not twice
    assert dialog.wait_idle() is None  # Enter added the rule; it did not press Connect
    assert requested == []
    assert listed_rules(dialog) == ["attribute:hasData", "role:keeper"]
    assert dialog.keep_rule_edit.text() == ""
    qtbot.keyClicks(dialog.keep_rule_edit, "attribute:plan=paid")  # typed, not added: saved all the same
    dialog.two_stage.click()
    assert dialog.disabled_for_days.isEnabled()
    dialog.disabled_for_days.setValue(45)
    dialog.allow_attestation.click()
    dialog.grace_days.setValue(3)
    assert dialog.is_dirty()
    saved = arun(dialog.save())
    assert saved is not None
    wanted = (("attribute:hasData", "role:keeper", "attribute:plan=paid"), True, 45, False, 3)
    assert (
        saved.keep_rules,
        saved.two_stage_cull,
        saved.disabled_for_days,
        saved.allow_attestation,
        saved.grace_days,
    ) == wanted
    assert ProfileStore.load().get(SANDBOX) == saved
    again = make_dialog(ProfileStore.load())
    assert listed_rules(again) == list(wanted[0])
    assert again.keep_rule_edit.text() == ""
    assert again.two_stage.isChecked()
    assert again.disabled_for_days.isEnabled()
    assert again.disabled_for_days.value() == 45
    assert not again.allow_attestation.isChecked()
    assert not again.is_dirty()


def test_a_bad_keep_rule_is_refused_with_its_message(
    dialog: ConnectDialog, qtbot: QtBot, arun: Callable[..., Any]
) -> None:
    message = dialog.errors["keep_rules"]
    add_rule(dialog, qtbot, "keeper")
    assert listed_rules(dialog) == []
    assert dialog.keep_rule_edit.text() == "keeper"  # left to correct
    assert message.isVisible()
    assert message.text() == (
        'A keep-rule looks like "attribute:NAME", "attribute:NAME=VALUE" or "role:NAME", not \'keeper\'.'
    )
    qtbot.keyClick(dialog.keep_rule_edit, Qt.Key.Key_Backspace)  # typing again: the message goes
    assert not message.isVisible()
    dialog.keep_rule_edit.clear()
    qtbot.keyClicks(dialog.keep_rule_edit, "role:keeper=yes")
    dialog.add_rule_button.click()
    assert message.text() == 'A role keep-rule takes no value: write "role:keeper".'
    assert arun(dialog.save()) is None  # the typed rule is part of what Save saves: refused
    assert message.isVisible()
    assert 'write "role:keeper"' in message.text()
    assert ProfileStore.load().get(SANDBOX).keep_rules == ()
    dialog.keep_rule_edit.clear()
    qtbot.keyClicks(dialog.keep_rule_edit, "role:keeper")
    assert not message.isVisible()  # after a refused Save, the check follows the typing
    assert arun(dialog.save()) is not None
    assert ProfileStore.load().get(SANDBOX).keep_rules == ("role:keeper",)


def test_keep_rules_are_removed_with_the_button_or_the_delete_key(
    dialog: ConnectDialog, qtbot: QtBot
) -> None:
    for rule in ("role:a", "role:b", "role:c"):
        add_rule(dialog, qtbot, rule)
    assert not dialog.remove_rule_button.isEnabled()  # nothing selected
    dialog.keep_rules_list.setCurrentRow(1)
    assert dialog.remove_rule_button.isEnabled()
    dialog.remove_rule_button.click()
    assert listed_rules(dialog) == ["role:a", "role:c"]
    dialog.keep_rules_list.setCurrentRow(0)
    dialog.keep_rules_list.setFocus()
    qtbot.keyClick(dialog.keep_rules_list, Qt.Key.Key_Delete)
    assert listed_rules(dialog) == ["role:c"]
    assert dialog.is_dirty()


def test_a_new_profile_saves_its_cull_settings_with_it(
    memory: MemoryKeyring, dialog: ConnectDialog, qtbot: QtBot, arun: Callable[..., Any], sandbox: Any
) -> None:
    add_sandbox_profile(dialog, qtbot, sandbox, name="Staging")
    assert dialog.keep_rules_list.count() == 0  # the sandbox profile's rules are not carried over
    assert dialog.disabled_for_days.value() == profiles.DEFAULT_DISABLED_FOR_DAYS
    add_rule(dialog, qtbot, "attribute:hasData")
    dialog.two_stage.click()
    saved = arun(dialog.save())
    assert saved is not None
    stored = ProfileStore.load().get("Staging")
    assert (stored.keep_rules, stored.two_stage_cull, stored.allow_attestation) == (
        ("attribute:hasData",),
        True,
        True,
    )


def test_the_local_snapshot_is_kept_until_turned_off_and_then_its_file_is_removed(
    dialog: ConnectDialog, arun: Callable[..., Any], make_dialog: Callable[..., ConnectDialog]
) -> None:
    box = dialog.keep_snapshot
    assert box.accessibleName() == "Keep a local snapshot of the users for an instant start"
    for words in (
        "private to your account",
        "holds no key",
        "removed when you clear this",
        "with the profile",
    ):
        assert words in box.toolTip()
    assert box.isEnabled()
    assert box.isChecked()  # on unless turned off
    snapshot = users_snapshot(SANDBOX, profiles.DEFAULT_PROJECT_ID)
    assert not dialog.is_dirty()
    box.click()
    assert dialog.is_dirty()
    saved = arun(dialog.save())
    assert saved is not None
    assert not saved.keep_snapshot
    assert not snapshot.exists()
    assert not ProfileStore.load().get(SANDBOX).keep_snapshot
    again = make_dialog(ProfileStore.load())
    assert not again.keep_snapshot.isChecked()
    assert not again.is_dirty()
    again.keep_snapshot.click()
    assert arun(again.save()) is not None
    assert ProfileStore.load().get(SANDBOX).keep_snapshot


def test_tab_reads_the_cull_settings_in_order(dialog: ConnectDialog, qtbot: QtBot) -> None:
    dialog.keep_rules_list.addItem("role:keeper")
    dialog.keep_rules_list.setCurrentRow(0)  # the remove button takes focus only when enabled
    dialog.two_stage.setChecked(True)
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow)
    dialog.tenant_name.setFocus()
    expected = [
        dialog.allow_attestation,
        dialog.grace_days,
        dialog.keep_rule_edit,
        dialog.add_rule_button,
        dialog.keep_rules_list,
        dialog.remove_rule_button,
        dialog.two_stage,
        dialog.disabled_for_days,
        dialog.keep_snapshot,
        dialog.save_button,  # Test connection is off for the sandbox without the app's hook
    ]
    assert not dialog.test_button.isEnabled()
    reached = []
    for _ in expected:
        qtbot.keyClick(dialog.focusWidget(), Qt.Key.Key_Tab)
        focused = dialog.focusWidget()
        reached.append(focused.parent() if isinstance(focused.parent(), QSpinBox) else focused)
    assert [w.objectName() for w in reached] == [w.objectName() for w in expected]


def test_mnemonics_are_unique(dialog: ConnectDialog) -> None:
    texts = [w.text() for w in dialog.findChildren(QLabel) if w.buddy() is not None]
    texts += [w.text() for w in dialog.findChildren(QAbstractButton)]
    letters = [text[text.index("&") + 1].lower() for text in texts if "&" in text.replace("&&", "")]
    assert {"e", "d", "a", "l"} <= set(letters)  # keep-rules, two stages, attestation, local snapshot
    assert sorted(letters) == sorted(set(letters))


# -- no keyring ---------------------------------------------------------------------------------------------


def test_without_a_keyring_save_says_what_to_install_and_keeps_the_form(
    dialog: ConnectDialog, qtbot: QtBot, arun: Callable[..., Any], sandbox: Any
) -> None:
    add_sandbox_profile(dialog, qtbot, sandbox)
    assert arun(dialog.save()) is None
    assert "No system keyring is available" in dialog.result_label.text()
    assert "gnome-keyring" in dialog.result_label.text()
    assert dialog.store.names() == [SANDBOX]
    assert dialog.key.text() == sandbox.management_key  # nothing lost: install a keyring, Save again
    assert not dialog.store.path.exists()


# -- cancelling --------------------------------------------------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback server that accepts connections and never answers: a test against it hangs."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


@pytest.mark.parametrize("how", ["switch-profile", "close"])
def test_switching_profile_or_closing_cancels_a_running_test(
    dialog: ConnectDialog,
    qtbot: QtBot,
    arun: Callable[..., Any],
    sandbox: Any,
    silent_server: str,
    how: str,
) -> None:
    add_sandbox_profile(dialog, qtbot, sandbox, url=silent_server)
    verdicts: list[tuple[bool, str]] = []
    dialog.test_finished.connect(lambda ok, text: verdicts.append((ok, text)))

    async def scenario() -> asyncio.Task[Any]:
        dialog.test_button.click()
        task = dialog.wait_idle()
        assert isinstance(task, asyncio.Task)
        while dialog.result_label.text() != "Testing the connection…":
            await asyncio.sleep(0.01)
        assert not dialog.test_button.isEnabled()
        if how == "close":
            dialog.reject()
        else:
            dialog.select(SANDBOX)
        await asyncio.gather(task, return_exceptions=True)
        return task

    task = arun(scenario(), timeout=10)
    assert task.cancelled()
    assert verdicts == []
    assert dialog.wait_idle() is None
    assert dialog.result_label.text() == ""
