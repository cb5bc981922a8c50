"""The Connect dialog: manage connection profiles, test one, and ask the app to connect to it.

Profiles on the left (Add / Duplicate / Remove), the selected one's form on the right: the connection,
the anonymous users (tenant, whether conversions may be attested), how they are culled (grace,
keep-rules, one or two stages), which both the window's cull and `anonconsole cull` start from, and
what this computer keeps (a local snapshot of the users for an instant start). The management
key field is masked and only ever travels from the field into the keyring (`ProfileStore.put`, off the
UI thread) or into the SDK client of a connection test; it is cleared after a save, and never shown in
a message, the title or a log.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QFont, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from anonconsole.core.connection import Connection, ConnectionCheck
from anonconsole.core.errors import GatewayError
from anonconsole.operations.connection_check import check_connection, describe_check, explain_failure
from anonconsole.runtime.tasks import TaskOwner, in_thread
from anonconsole.settings import key_store, profiles
from anonconsole.settings.profiles import ConfigError, Profile, ProfileStore, ValidationError
from anonconsole.views import style
from anonconsole.views.widgets import named, tab_chain

T = TypeVar("T")
Check = Callable[[Connection], Awaitable[ConnectionCheck]]
SandboxCheck = Callable[[], Awaitable[ConnectionCheck]]

TITLE = "Connections — AnonConsole"
NEW_PROFILE_NAME = "New profile"
CUSTOM = "custom"


class _RuleEdit(QLineEdit):
    """The new keep-rule's field: Enter adds the rule (`returnPressed`) instead of pressing the
    dialog's default button, which would connect with the rule left out."""

    def keyPressEvent(self, event: QKeyEvent) -> None:
        super().keyPressEvent(event)
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.accept()


def _current_task() -> asyncio.Task[Any] | None:
    """The task running now, or None outside the event loop."""
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


class ConnectDialog(QDialog):
    """Add, edit, duplicate, remove and test connection profiles; Connect hands one to the app.

    Open it with `open()` and listen to `connect_requested`; the dialog never connects by itself.

    Attributes:
        store: the profiles (and, through it, their keyring entries).
        profile_list, name, project_id, base_url_preset, base_url, key, show_key, tenant_id,
        tenant_name, allow_attestation, grace_days, keep_rule_edit, add_rule_button, keep_rules_list,
        remove_rule_button, two_stage, disabled_for_days, keep_snapshot, result_label, test_button,
        save_button, connect_button: the widgets.

    Signals:
        connect_requested(object): the user chose Connect; the argument is the saved `Profile`.
        test_finished(bool, str): a connection test ended (ok?, the sentence shown).
        saved(object): a profile was saved (the `Profile`).
        profiles_changed: the list of profiles changed (added, renamed, duplicated, removed).
    """

    connect_requested = Signal(object)
    test_finished = Signal(bool, str)
    saved = Signal(object)
    profiles_changed = Signal()

    def __init__(
        self,
        store: ProfileStore,
        parent: QWidget | None = None,
        *,
        selected: str | None = None,
        check: Check = check_connection,
        sandbox_check: SandboxCheck | None = None,
    ) -> None:
        super().__init__(parent)
        named(self, "connectDialog", "Connections")
        style.apply(self)
        self.setWindowTitle(TITLE)
        self.resize(860, 690)  # every group shown without squeezing (size hint ~650)
        self.store = store
        self._check = check
        self._sandbox_check = sandbox_check
        self._editing: str | None = None  # the stored profile in the form; None for a new one
        self._tasks = TaskOwner("connect dialog")
        self._task: asyncio.Task[Any] | None = None
        self._show_errors = False
        self._loading = False
        self._build()
        self._fill_list(selected or store.last_profile or store.names()[0])

    # -- building -------------------------------------------------------------------------------

    def _build(self) -> None:
        """Profiles | form and test, above the dialog's buttons."""
        self.errors: dict[str, QLabel] = {}
        panes = QHBoxLayout()
        panes.addLayout(self._build_list())
        right = QVBoxLayout()
        self.hint = named(QLabel(), "profileHint", "About this profile")
        self.hint.setWordWrap(True)
        right.addWidget(self.hint)
        right.addWidget(self._build_connection_group())
        right.addWidget(self._build_tenant_group())
        right.addWidget(self._build_cull_group())
        right.addWidget(self._build_local_group())
        right.addLayout(self._build_test_row())
        right.addStretch(1)
        panes.addLayout(right, stretch=1)
        layout = QVBoxLayout(self)
        layout.addLayout(panes, stretch=1)
        layout.addWidget(self._build_buttons())
        self._align_labels()
        tab_chain(
            [
                self.profile_list,
                self.add_button,
                self.duplicate_button,
                self.remove_button,
                self.name,
                self.project_id,
                self.base_url_preset,
                self.base_url,
                self.key,
                self.show_key,
                self.tenant_id,
                self.tenant_name,
                self.allow_attestation,
                self.grace_days,
                self.keep_rule_edit,
                self.add_rule_button,
                self.keep_rules_list,
                self.remove_rule_button,
                self.two_stage,
                self.disabled_for_days,
                self.keep_snapshot,
                self.test_button,
                self.save_button,
                self.connect_button,
                self.cancel_button,
            ]
        )

    def _align_labels(self) -> None:
        """One label column width for all groups, so their fields line up."""
        labels = [label for label in self.findChildren(QLabel) if label.objectName().endswith("Label")]
        width = max(label.sizeHint().width() for label in labels)
        for label in labels:
            label.setMinimumWidth(width)

    def _build_list(self) -> QVBoxLayout:
        column = QVBoxLayout()
        self.profile_list = named(QListWidget(), "profileList", "Profiles")
        self.profile_list.setMinimumWidth(200)
        self.profile_list.setMaximumWidth(260)
        self.profile_list.currentItemChanged.connect(self._on_selection)
        column.addWidget(self.profile_list, stretch=1)
        row = QHBoxLayout()
        self.add_button = self._button("Add", "addProfile", "Add a profile", self.add_profile)
        self.duplicate_button = self._button(
            "Duplicate", "duplicateProfile", "Duplicate the selected profile", self._on_duplicate
        )
        self.remove_button = self._button(
            "Remove", "removeProfile", "Remove the selected profile and its key", self._on_remove
        )
        for button in (self.add_button, self.duplicate_button, self.remove_button):
            row.addWidget(button)
        column.addLayout(row)
        return column

    def _button(self, text: str, name: str, accessible: str, slot: Callable[[], object]) -> QPushButton:
        button = named(QPushButton(text), name, accessible)
        button.setAutoDefault(False)
        button.clicked.connect(lambda: slot())
        return button

    def _line(self, name: str, accessible: str, placeholder: str = "") -> QLineEdit:
        edit = named(QLineEdit(), name, accessible)
        edit.setPlaceholderText(placeholder)
        edit.textEdited.connect(self._on_edited)
        return edit

    @staticmethod
    def _group(title: str, name: str) -> tuple[QGroupBox, QFormLayout]:
        group = named(QGroupBox(title), name, title)
        form = QFormLayout(group)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        return group, form

    def _build_connection_group(self) -> QGroupBox:
        group, form = self._group("Connection", "connectionGroup")
        self.name = self._line("profileName", "Profile name", "e.g. Production")
        self.project_id = self._line("projectId", "Project ID", "P… (Descope console → Project settings)")
        self.project_id.textEdited.connect(self._update_presets)
        self._add_row(form, "&Name:", self.name, "name")
        self._add_row(form, "&Project ID:", self.project_id, "project_id")
        self._add_row(form, "&Base URL:", self._build_url_row(), "base_url", buddy=self.base_url_preset)
        self._add_row(form, "Management &key:", self._build_key_row(), "key", buddy=self.key)
        return group

    def _build_tenant_group(self) -> QGroupBox:
        group, form = self._group("Anonymous users", "anonymousGroup")
        self.tenant_id = self._line(
            "anonymousTenantId", "Anonymous tenant ID", "leave empty to look it up by name"
        )
        self.tenant_name = self._line("anonymousTenantName", "Anonymous tenant name", "e.g. Anonymous Users")
        self._add_row(form, "Tenant &ID:", self.tenant_id, None)
        self._add_row(form, "Tenant na&me:", self.tenant_name, "anonymous_tenant")
        self.allow_attestation = self._checkbox(
            "&Allow attested conversions",
            "allowAttestation",
            "Let the conversion wizard convert a user on an address you vouch for, without a "
            "verification code; clear it to require a verified address for every conversion here",
        )
        self._add_row(form, "Conversions:", self.allow_attestation, None)
        return group

    def _checkbox(self, text: str, name: str, tip: str) -> QCheckBox:
        box = named(QCheckBox(text), name, text.replace("&", ""))
        box.setToolTip(tip)
        box.toggled.connect(self._on_edited)
        return box

    def _build_cull_group(self) -> QGroupBox:
        """What `anonconsole cull` and the window's cull start from for this project."""
        group, form = self._group("Culling", "cullGroup")
        self.grace_days = named(QSpinBox(), "graceDays", "Grace period in days")
        self.grace_days.setRange(0, profiles.MAX_GRACE_DAYS)
        self.grace_days.setSuffix(" days")
        self.grace_days.setToolTip("Extra days past an anonymous user's lifetime before it may be culled")
        self.grace_days.valueChanged.connect(self._on_edited)
        self._add_row(form, "&Grace period:", self.grace_days, "grace_days")
        self._add_row(form, "K&eep-rules:", self._build_keep_rules(), "keep_rules", buddy=self.keep_rule_edit)
        self._add_row(form, "Stages:", self._build_stages_row(), "disabled_for_days", buddy=self.two_stage)
        return group

    def _build_local_group(self) -> QGroupBox:
        """What this computer keeps of the profile besides its key: the users snapshot."""
        group, form = self._group("This computer", "localGroup")
        self.keep_snapshot = self._checkbox(
            "Keep a &local snapshot of the users for an instant start",
            "keepSnapshot",
            "Show the users saved at the last load at once, while they are loaded again. The file is "
            "private to your account on this computer and holds no key; it is removed when you clear "
            "this and save, and with the profile.",
        )
        self._add_row(form, "Start-up:", self.keep_snapshot, None)
        return group

    def _build_keep_rules(self) -> QWidget:
        """A field for a new rule (checked as it is added) above the profile's rules."""
        cell = named(QWidget(), "keepRulesRow", "Keep-rules")
        grid = QGridLayout(cell)
        grid.setContentsMargins(0, 0, 0, 0)
        self.keep_rule_edit = named(_RuleEdit(), "keepRuleEdit", "New keep-rule")
        self.keep_rule_edit.setPlaceholderText("attribute:NAME, attribute:NAME=VALUE or role:NAME")
        self.keep_rule_edit.setToolTip(
            "Users an app marks as owning data worth keeping are never culled: a custom attribute "
            "that is set (attribute:hasData), that has a value (attribute:plan=paid), or a role "
            "(role:keeper). Enter adds the rule."
        )
        self.keep_rule_edit.textEdited.connect(self._on_rule_typed)
        self.keep_rule_edit.returnPressed.connect(self.add_keep_rule)
        self.add_rule_button = self._button("Add", "addKeepRule", "Add the keep-rule", self.add_keep_rule)
        self.keep_rules_list = named(QListWidget(), "keepRulesList", "Keep-rules")
        self.keep_rules_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.keep_rules_list.setToolTip(
            "Users any of these rules match are kept; Delete removes the selected ones"
        )
        self.keep_rules_list.setMaximumHeight((self.fontMetrics().height() + 6) * 4)  # about four rules
        self.keep_rules_list.itemSelectionChanged.connect(self._update_rule_buttons)
        delete = QShortcut(QKeySequence.StandardKey.Delete, self.keep_rules_list)
        delete.setContext(Qt.ShortcutContext.WidgetShortcut)
        delete.activated.connect(self.remove_keep_rules)
        self.remove_rule_button = self._button(
            "Remove", "removeKeepRule", "Remove the selected keep-rules", self.remove_keep_rules
        )
        grid.addWidget(self.keep_rule_edit, 0, 0)
        grid.addWidget(self.add_rule_button, 0, 1)
        grid.addWidget(self.keep_rules_list, 1, 0)
        grid.addWidget(self.remove_rule_button, 1, 1, alignment=Qt.AlignmentFlag.AlignTop)
        self._update_rule_buttons()
        return cell

    def _build_stages_row(self) -> QWidget:
        row = named(QWidget(), "cullStagesRow", "Cull stages")
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        self.two_stage = self._checkbox(
            "&Disable first, delete after",
            "twoStageCull",
            "Cull in two stages: disable the candidates first (reversible: they can be enabled again), "
            "and delete them in a later run once they have been disabled this long and are still "
            "eligible. Unchecked: delete at once.",
        )
        self.two_stage.toggled.connect(self._update_stage_fields)
        self.disabled_for_days = named(QSpinBox(), "disabledForDays", "Days disabled before deletion")
        self.disabled_for_days.setRange(0, profiles.MAX_DISABLED_FOR_DAYS)
        self.disabled_for_days.setSuffix(" days")
        self.disabled_for_days.setToolTip(
            "How long a user the console disabled stays disabled before a later run deletes it"
        )
        self.disabled_for_days.valueChanged.connect(self._on_edited)
        layout.addWidget(self.two_stage)
        layout.addWidget(self.disabled_for_days)
        layout.addStretch(1)
        self._update_stage_fields()
        return row

    def _build_test_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.test_button = self._button(
            "&Test connection", "testConnection", "Test connection", self._on_test
        )
        self.result_label = named(QLabel(), "testResult", "Connection test result")
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row.addWidget(self.test_button, alignment=Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.result_label, stretch=1)
        return row

    def _on_test(self) -> None:
        self._launch(self.test_connection(), blocking=False)

    def _add_row(
        self, form: QFormLayout, text: str, field: QWidget, error: str | None, buddy: QWidget | None = None
    ) -> None:
        """A labelled row with, when `error` names a field, an inline error line under it."""
        label_name = (buddy or field).objectName() + "Label"
        label = named(QLabel(text), label_name, text.replace("&", "").rstrip(":"))
        label.setBuddy(buddy or field)
        if error is None:
            form.addRow(label, field)
            return
        cell = named(QWidget(), field.objectName() + "Cell", label.accessibleName())
        column = QVBoxLayout(cell)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(field)
        message = named(QLabel(), f"{field.objectName()}Error", f"{label.accessibleName()} problem")
        message.setProperty("role", "error")
        message.setWordWrap(True)
        message.hide()
        column.addWidget(message)
        self.errors[error] = message
        form.addRow(label, cell)

    def _build_url_row(self) -> QWidget:
        row = named(QWidget(), "baseUrlRow", "Base URL")
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        self.base_url_preset = named(QComboBox(), "baseUrlPreset", "Base URL preset")
        self.base_url_preset.addItem("Descope", profiles.DEFAULT_BASE_URL)
        self.base_url_preset.addItem("Regional", "")
        self.base_url_preset.addItem("Local sandbox", profiles.LOCAL_SANDBOX_URL)
        self.base_url_preset.addItem("Custom domain", CUSTOM)
        self.base_url_preset.setToolTip(
            "Descope's default service, the regional one your project ID implies, the sandbox started by "
            "`anonconsole sandbox serve`, or your own domain"
        )
        self.base_url_preset.activated.connect(self._on_preset)
        self.base_url = self._line("baseUrl", "Base URL", "https://auth.example.com")
        layout.addWidget(self.base_url_preset)
        layout.addWidget(self.base_url, stretch=1)
        self._update_presets()
        return row

    def _build_key_row(self) -> QWidget:
        row = named(QWidget(), "managementKeyRow", "Management key")
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        self.key = self._line("managementKey", "Management key")
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setAccessibleDescription("Stored only in the system keyring, never in a file")
        self.show_key = named(QToolButton(), "showKey", "Show the management key")
        self.show_key.setText("Show")
        self.show_key.setCheckable(True)
        self.show_key.toggled.connect(self._on_show_key)
        layout.addWidget(self.key, stretch=1)
        layout.addWidget(self.show_key)
        return row

    def _build_buttons(self) -> QDialogButtonBox:
        box = named(QDialogButtonBox(), "dialogButtons", "Dialog buttons")
        self.save_button = named(
            box.addButton(QDialogButtonBox.StandardButton.Save), "saveProfile", "Save profile"
        )
        self.connect_button = named(
            box.addButton("&Connect", QDialogButtonBox.ButtonRole.AcceptRole), "connectProfile", "Connect"
        )
        cancel = named(box.addButton(QDialogButtonBox.StandardButton.Cancel), "cancelDialog", "Cancel")
        self.cancel_button = cancel
        for button in (self.save_button, cancel):
            button.setAutoDefault(False)
        self.connect_button.setDefault(True)
        self.save_button.clicked.connect(lambda: self._launch(self.save()))
        box.accepted.connect(lambda: self._launch(self.connect_selected()))
        box.rejected.connect(self.reject)
        return box

    # -- the list ---------------------------------------------------------------------------------

    def _fill_list(self, select: str | None) -> None:
        """Rebuild the list from the store and show `select` (else the first profile).

        A rebuild is not the user choosing another profile, so it cancels nothing.
        """
        profiles = self.store.profiles()
        names = [p.name for p in profiles]
        row = names.index(select) if select in names else 0
        self._loading = True
        try:
            self.profile_list.clear()
            for profile in profiles:
                item = QListWidgetItem(profile.name)
                item.setData(Qt.ItemDataRole.UserRole, profile.name)
                if profile.is_sandbox:
                    item.setToolTip("Runs the local sandbox with demo data on this computer")
                self.profile_list.addItem(item)
            self.profile_list.setCurrentRow(row)
        finally:
            self._loading = False
        self._show_profile(profiles[row], editing=names[row])

    def _on_selection(self, current: QListWidgetItem | None, previous: QListWidgetItem | None) -> None:
        """Another profile chosen: stop what the previous one was doing, drop a new one's draft."""
        if self._loading or current is None:
            return
        self._cancel_running()
        if previous is not None and previous.data(Qt.ItemDataRole.UserRole) is None:
            self.profile_list.takeItem(self.profile_list.row(previous))  # an unsaved new profile
        name = current.data(Qt.ItemDataRole.UserRole)
        if name is None:
            return
        self._show_profile(self.store.get(name), editing=name)

    def selected_name(self) -> str | None:
        """The stored profile in the form, or None while a new one is being added."""
        return self._editing

    def select(self, name: str) -> None:
        """Show the profile `name` (as if the user had clicked it)."""
        self.profile_list.setCurrentRow(self.store.names().index(name))

    # -- the form ---------------------------------------------------------------------------------

    def _show_profile(self, profile: Profile, *, editing: str | None) -> None:
        """Fill the form with `profile`; the key field starts empty (the stored key stays stored)."""
        self._editing = editing
        self._show_errors = False
        self.name.setText(profile.name)
        self.project_id.setText(profile.project_id)
        self.base_url.setText(profile.base_url)
        self.key.clear()
        self.show_key.setChecked(False)
        self.tenant_id.setText(profile.anonymous_tenant_id)
        self.tenant_name.setText(profile.anonymous_tenant_name)
        self.allow_attestation.setChecked(profile.allow_attestation)
        self.grace_days.setValue(profile.grace_days)
        self.keep_rule_edit.clear()
        self.keep_rules_list.clear()
        self.keep_rules_list.addItems(list(profile.keep_rules))
        self.two_stage.setChecked(profile.two_stage_cull)
        self.disabled_for_days.setValue(profile.disabled_for_days)
        self.keep_snapshot.setChecked(profile.keep_snapshot)
        self._update_stage_fields()
        self._update_rule_buttons()
        self._update_presets()
        self._select_preset(profiles.LOCAL_SANDBOX_URL if profile.is_sandbox else profile.base_url)
        self._apply_kind(profile)
        self._show_problems({})
        self._set_result("", "")

    def _apply_kind(self, profile: Profile) -> None:
        """The sandbox's connection fields are fixed; a stored profile's key may stay as it is."""
        fixed = profile.is_sandbox
        for widget in (
            self.name,
            self.project_id,
            self.base_url_preset,
            self.base_url,
            self.key,
            self.show_key,
        ):
            widget.setEnabled(not fixed)
        if fixed:
            self.base_url.setPlaceholderText("a free local port, chosen when it starts")
            self.key.setPlaceholderText("generated for you and kept in the system keyring")
            self.hint.setText(
                "The built-in sandbox runs on this computer with demo data. Connect starts it; "
                "only the anonymous users', the cull's and this computer's settings can be changed."
            )
        else:
            self.base_url.setPlaceholderText("https://auth.example.com")
            stored = self._editing is not None
            self.key.setPlaceholderText(
                "leave empty to keep the stored key" if stored else "paste the management key"
            )
            self.hint.setText("" if stored else "A new profile: fill it in, then Test connection and Save.")
        self.hint.setVisible(bool(self.hint.text()))
        self.remove_button.setEnabled(self._editing is not None and not fixed)
        self.duplicate_button.setEnabled(self._editing is not None)
        self.test_button.setEnabled(not fixed or self._sandbox_check is not None)
        self.test_button.setToolTip(
            "" if self.test_button.isEnabled() else "The sandbox is started, and so tested, when you connect"
        )

    def _base(self) -> Profile:
        """The profile the form started from (for the fields the form does not show)."""
        if self._editing is not None:
            return self.store.get(self._editing)
        return Profile(NEW_PROFILE_NAME, "")

    def form_profile(self) -> Profile:
        """The profile as the form now describes it (not validated)."""
        base = self._base()
        return dataclasses.replace(
            base,
            name=self.name.text(),
            project_id=self.project_id.text(),
            base_url=base.base_url if base.is_sandbox else self.base_url.text(),
            anonymous_tenant_id=self.tenant_id.text(),
            anonymous_tenant_name=self.tenant_name.text(),
            grace_days=self.grace_days.value(),
            keep_rules=self.keep_rules(),
            two_stage_cull=self.two_stage.isChecked(),
            disabled_for_days=self.disabled_for_days.value(),
            allow_attestation=self.allow_attestation.isChecked(),
            keep_snapshot=self.keep_snapshot.isChecked(),
        )

    def keep_rules(self) -> tuple[str, ...]:
        """The listed keep-rules and, when the field holds one not yet added, that one too: a rule
        typed and then saved is saved (or refused with its message), never silently dropped."""
        listed = [self.keep_rules_list.item(row).text() for row in range(self.keep_rules_list.count())]
        pending = self.keep_rule_edit.text()
        return (*listed, pending) if pending.strip() else tuple(listed)

    def is_dirty(self) -> bool:
        """Whether the form differs from what is saved (a typed key counts)."""
        if self._editing is None or self.key.text().strip():
            return True
        return profiles.normalized(self.form_profile()) != self._base()

    def _validated(self, *, for_test: bool = False) -> Profile | None:
        """The form's profile, validated; else None with the problems shown next to their fields."""
        self._show_errors = True
        try:
            profile = self.store.validate(self.form_profile(), key=self.key.text(), replacing=self._editing)
        except ValidationError as invalid:
            problems = dict(invalid.problems)
            if for_test:
                problems.pop("name", None)
            self._show_problems(problems)
            return None if problems else profiles.normalized(self.form_profile())
        self._show_problems({})
        return profile

    def _show_problems(self, problems: dict[str, str]) -> None:
        for field, label in self.errors.items():
            label.setText(problems.get(field, ""))
            label.setVisible(field in problems)

    def _set_result(self, text: str, state: str) -> None:
        """The line under the form: a test's verdict, or what went wrong saving ("ok"/"error"/"")."""
        self.result_label.setText(text)
        style.set_state(self.result_label, "state", state)

    def show_message(self, text: str, *, error: bool = True) -> None:
        """Show why the dialog opened (e.g. "Could not connect to Production: …") under the form."""
        self._set_result(text, "error" if error else "")

    def _on_edited(self, *_args: object) -> None:
        """Keep inline messages current once they have been shown."""
        if self._show_errors:
            try:
                self.store.validate(self.form_profile(), key=self.key.text(), replacing=self._editing)
            except ValidationError as invalid:
                self._show_problems(invalid.problems)
            else:
                self._show_problems({})

    # -- keep-rules and stages ---------------------------------------------------------------------

    def add_keep_rule(self) -> bool:
        """Add the typed rule to the list, in its one spelling; a rule that is not one stays in the
        field with the reason under it. Returns whether the list now holds it."""
        text = self.keep_rule_edit.text()
        if not text.strip():
            return False
        problem = profiles.check_keep_rule(text)
        if problem:
            self._show_problem("keep_rules", problem)
            self.keep_rule_edit.setFocus()
            return False
        (spelled,) = profiles.normalized_keep_rules([text])
        found = self.keep_rules_list.findItems(spelled, Qt.MatchFlag.MatchExactly)
        if found:
            self.keep_rules_list.setCurrentItem(found[0])  # already there: shown, not repeated
        else:
            self.keep_rules_list.addItem(spelled)
        self.keep_rule_edit.clear()
        self._show_problem("keep_rules", None)
        self._on_edited()
        return True

    def remove_keep_rules(self) -> None:
        """Remove the selected keep-rules."""
        for item in self.keep_rules_list.selectedItems():
            self.keep_rules_list.takeItem(self.keep_rules_list.row(item))
        self._update_rule_buttons()
        self._on_edited()

    def _on_rule_typed(self, _text: str) -> None:
        """A message about the rule being typed is stale once it changes (until Save shows all)."""
        if self._show_errors:
            self._on_edited()
        else:
            self._show_problem("keep_rules", None)

    def _update_rule_buttons(self) -> None:
        self.remove_rule_button.setEnabled(bool(self.keep_rules_list.selectedItems()))

    def _update_stage_fields(self, *_args: object) -> None:
        """The days matter only with two stages."""
        self.disabled_for_days.setEnabled(self.two_stage.isChecked())

    def _show_problem(self, field: str, text: str | None) -> None:
        """One field's inline message (None hides it)."""
        label = self.errors[field]
        label.setText(text or "")
        label.setVisible(bool(text))

    def _on_show_key(self, shown: bool) -> None:
        self.key.setEchoMode(QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password)
        self.show_key.setText("Hide" if shown else "Show")
        self.show_key.setAccessibleName("Hide the management key" if shown else "Show the management key")

    # -- base URL presets -------------------------------------------------------------------------

    def _update_presets(self, *_args: object) -> None:
        """The Regional entry follows the project ID (enabled only for a regional one)."""
        regional = profiles.regional_base_url(self.project_id.text())
        index = 1
        self.base_url_preset.setItemData(index, regional or "")
        self.base_url_preset.setItemText(
            index, f"Regional ({regional.split('.')[1]})" if regional else "Regional"
        )
        item = self.base_url_preset.model().item(index)  # type: ignore[attr-defined]
        item.setEnabled(regional is not None)
        if self.base_url_preset.currentIndex() == index:
            if regional:
                self.base_url.setText(regional)
            else:
                self._select_preset(self.base_url.text())

    def _select_preset(self, url: str) -> None:
        """Pick the preset matching `url`, else Custom (then the URL field is editable)."""
        url = url.strip().rstrip("/")
        found = self.base_url_preset.findData(url) if url else -1
        index = found if found >= 0 else self.base_url_preset.findData(CUSTOM)
        self.base_url_preset.setCurrentIndex(index)
        self.base_url.setReadOnly(index != self.base_url_preset.findData(CUSTOM))

    def set_base_url(self, url: str) -> None:
        """Put `url` in the form, choosing its preset (Custom domain when none matches)."""
        self._select_preset(url)
        self.base_url.setText(url)
        self._on_edited()

    def _on_preset(self, index: int) -> None:
        value = self.base_url_preset.itemData(index)
        custom = value == CUSTOM
        self.base_url.setReadOnly(not custom)
        if custom:
            self.base_url.setFocus()
        else:
            self.base_url.setText(value)
        self._on_edited()

    # -- running async work -----------------------------------------------------------------------

    def _launch(self, work: Coroutine[Any, Any, T], *, blocking: bool = True) -> asyncio.Task[T]:
        """Run `work` on the loop; a blocking one freezes the dialog's controls until it ends."""
        self._cancel_running()
        task = self._tasks.start(work, key="work")
        self._task = task
        self._set_busy(True, blocking=blocking)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        if self._task is task:  # its failure, if any, reaches the error dialog through the owner
            self._task = None
            self._set_busy(False)

    def _cancel_running(self) -> None:
        """Stop a test still running (switching profile, closing): its answer no longer matters."""
        task = self._task
        if task is None or task.done() or task is _current_task():
            return  # nothing running, or the work itself is closing the dialog (Connect)
        self._task = None
        task.cancel()
        self._set_busy(False)
        self._set_result("", "")

    def _controls(self) -> list[QWidget]:
        return [
            self.add_button,
            self.duplicate_button,
            self.remove_button,
            self.save_button,
            self.connect_button,
        ]

    def _set_busy(self, busy: bool, *, blocking: bool = True) -> None:
        self.test_button.setEnabled(not busy)
        if blocking or not busy:
            for widget in self._controls():
                widget.setEnabled(not busy)
            self.profile_list.setEnabled(not busy)
        if not busy:
            self._apply_kind(self._base())

    def wait_idle(self) -> Awaitable[Any] | None:
        """The running task (tests and the app await it), or None."""
        return self._task

    def done(self, result: int) -> None:
        """Closing (Connect, Cancel, Esc, the window's ✕) stops a running test first."""
        self._cancel_running()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        self._cancel_running()
        super().closeEvent(event)

    # -- operations (each returns what it did, so tests and callers can await them) ------------------

    async def test_connection(self) -> bool:
        """License handshake + a one-user search with the form's values; the verdict in plain words."""
        ok, text = await self._run_test()
        self._set_result(text, "ok" if ok else "error")
        self.test_finished.emit(ok, text)
        return ok

    async def _run_test(self) -> tuple[bool, str]:
        profile = self._validated(for_test=True)
        if profile is None:
            return False, "Correct the fields marked above, then test again."
        self._set_result("Testing the connection…", "")
        try:
            if profile.is_sandbox:
                assert self._sandbox_check is not None
                return True, describe_check(await self._sandbox_check())
            answer = await self._check(await self._connection(profile))
        except GatewayError as failure:
            return False, explain_failure(failure, profile.project_id)
        except (ConfigError, key_store.KeyringUnavailable) as problem:
            return False, problem.user_message
        return True, describe_check(answer)

    async def _connection(self, profile: Profile) -> Connection:
        """The test's connection: the typed key, else the stored one read straight into it."""
        typed = self.key.text().strip()
        if typed:
            return Connection(profile.project_id, profile.base_url, typed)
        if self._editing is None:
            raise profiles.KeyMissing("Enter the management key to test the connection.")
        stored = self.store.get(self._editing)
        return await in_thread(
            lambda: Connection(profile.project_id, profile.base_url, profiles.stored_key(stored))
        )

    async def save(self) -> Profile | None:
        """Validate, store the key in the keyring and the profile in the file (off the UI thread)."""
        profile = self._validated()
        if profile is None:
            self._set_result("Correct the fields marked above, then save again.", "error")
            return None
        replacing, key = self._editing, self.key.text()
        try:
            saved = await in_thread(lambda: self.store.put(profile, key=key, replacing=replacing))
        except ValidationError as invalid:
            self._show_problems(invalid.problems)
            return None
        except (ConfigError, key_store.KeyringUnavailable) as problem:
            self._set_result(problem.user_message, "error")
            return None
        self._editing = saved.name
        self._fill_list(saved.name)
        self._set_result(f"Saved “{saved.name}”; its key is in the system keyring.", "ok")
        self.saved.emit(saved)
        if replacing != saved.name:
            self.profiles_changed.emit()
        return saved

    async def connect_selected(self) -> Profile | None:
        """Save pending changes, remember the profile for next time, and ask the app to connect."""
        profile: Profile | None = self._base()
        if self.is_dirty():
            profile = await self.save()
        if profile is None:
            return None
        try:
            await in_thread(lambda: self.store.set_last_profile(profile.name))
        except OSError as problem:
            self._set_result(f"Could not remember the last profile ({problem.strerror}).", "error")
        self.connect_requested.emit(profile)
        self.accept()
        return profile

    def add_profile(self) -> None:
        """Start a new, unsaved profile (it disappears if another profile is selected before Save)."""
        self._cancel_running()
        draft = Profile(self.store.unique_name(NEW_PROFILE_NAME), "")
        item = QListWidgetItem(draft.name)
        font = QFont(item.font())
        font.setItalic(True)
        item.setFont(font)
        self._loading = True
        self.profile_list.addItem(item)
        self.profile_list.setCurrentItem(item)
        self._loading = False
        self._show_profile(draft, editing=None)
        self.name.setFocus()
        self.name.selectAll()

    def _on_duplicate(self) -> None:
        self._launch(self.duplicate_selected())

    async def duplicate_selected(self) -> Profile | None:
        """Copy the selected profile and its key under a new name, and select the copy."""
        name = self._editing
        if name is None:
            return None
        try:
            copy = await in_thread(lambda: self.store.duplicate(name))
        except (ConfigError, key_store.KeyringUnavailable) as problem:
            self._set_result(problem.user_message, "error")
            return None
        self._fill_list(copy.name)
        self._set_result(f"“{copy.name}” is a copy; rename it and Save.", "ok")
        self.profiles_changed.emit()
        return copy

    def _on_remove(self) -> None:
        self._launch(self.remove_selected())

    async def remove_selected(self) -> bool:
        """After confirmation, delete the selected profile and its key from the keyring."""
        name = self._editing
        if name is None or not await self._confirm_remove(name):
            return False
        try:
            await in_thread(lambda: self.store.remove(name))
        except (ConfigError, key_store.KeyringUnavailable) as problem:
            self._set_result(problem.user_message, "error")
            return False
        self._fill_list(self.store.last_profile)
        self._set_result(f"Removed “{name}” and its management key.", "ok")
        self.profiles_changed.emit()
        return True

    async def _confirm_remove(self, name: str) -> bool:
        """A window-modal question opened with `open()`, so the loop keeps running while it waits."""
        box = named(QMessageBox(self), "confirmRemove", "Confirm removal")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Remove profile")
        box.setText(f"Remove “{name}”?")
        box.setInformativeText(
            "Its management key is deleted from the system keyring too, and its local snapshot of "
            "the users from this computer."
        )
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def finished(_result: int) -> None:
            if not answer.done():
                clicked: QAbstractButton | None = box.clickedButton()
                answer.set_result(clicked is box.button(QMessageBox.StandardButton.Yes))

        box.finished.connect(finished)
        box.open()
        try:
            return await answer
        finally:
            box.deleteLater()
