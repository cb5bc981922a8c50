"""The tenant setup wizard: find or create "Anonymous Users", choose lifetimes, review, apply, verify.

Nothing changes in Descope before the review page's Apply. The plan (what will be created and the
exact before → after of every setting) comes from `core.tenant_setup`; applying is
`tenant_apply.apply_plan` (audited, says what was done and what not); the last page runs the doctor
with a probe user that is always removed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QRadioButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from anonconsole.core.classify import ANONYMOUS_TENANT_NAME
from anonconsole.core.errors import GatewayError
from anonconsole.core.records import SessionSettings, Tenant
from anonconsole.core.tenant_setup import (
    PRESETS,
    Desired,
    Lifetime,
    TenantPlan,
    doubts,
    validate,
)
from anonconsole.operations.audit_log import AuditLog
from anonconsole.operations.doctor import Check, DoctorReport, run_doctor
from anonconsole.operations.shape import Refusal
from anonconsole.operations.tenant_members import count_members
from anonconsole.operations.tenant_setup import ApplyResult, apply_plan, inspect_tenant, plan_setup
from anonconsole.runtime.tasks import TaskOwner
from anonconsole.views import style
from anonconsole.views.widgets import camel, named

if TYPE_CHECKING:
    from anonconsole.gateway import Gateway

UNITS = ("minutes", "hours", "days", "weeks")
CUSTOM = "Custom"
LOOKUP_DELAY_MS = 300

# Called with the tenant ID once the tenant exists, so the profile remembers it.
TenantRemembered = Callable[[str], Awaitable[None]]


class _LifetimeEdit(QWidget):
    """A value and a unit, as Descope stores a token lifetime."""

    def __init__(self, name: str, label: str, value: int, unit: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.value = QSpinBox(self)
        self.value.setRange(0, 100_000)
        self.value.setValue(value)
        named(self.value, camel(name, "value"), f"{label} value")
        self.unit = QComboBox(self)
        self.unit.addItems(UNITS)
        self.unit.setCurrentText(unit)
        named(self.unit, camel(name, "unit"), f"{label} unit")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.value)
        layout.addWidget(self.unit)
        layout.addStretch(1)

    def lifetime(self) -> Lifetime:
        return Lifetime(self.value.value(), self.unit.currentText())

    def set_lifetime(self, lifetime: Lifetime) -> None:
        self.value.setValue(lifetime.value)
        self.unit.setCurrentText(lifetime.unit)


R = TypeVar("R")  # what a work page's work returns


class _Page(QWizardPage):
    """A page of the wizard: its object name (`<key>Page`), title and subtitle, and the wizard."""

    def __init__(self, wizard: TenantWizard, key: str, title: str, subtitle: str = "") -> None:
        super().__init__()
        self._wizard = wizard
        self.setObjectName(f"{key}Page")
        self.setTitle(title)
        if subtitle:
            self.setSubTitle(subtitle)


class TenantPage(_Page):
    """Which tenant: found by name (created when missing) or given by ID. Looks it up as you type.

    A tenant found is counted: adopting one that holds users with verified addresses (regular
    users, as in someone's customer tenant) needs the admin's confirmation.
    """

    def __init__(self, wizard: TenantWizard) -> None:
        super().__init__(
            wizard,
            "tenant",
            "The anonymous tenant",
            "Anonymous users live in their own tenant, whose session settings give them a limited "
            "lifetime. Find it by name (it is created if missing) or give its ID.",
        )
        self.by_name = named(QRadioButton("Find or create the tenant named"), "byName", "Find by name")
        self.by_id = named(QRadioButton("Use the existing tenant with ID"), "byId", "Use tenant ID")
        group = QButtonGroup(self)
        group.addButton(self.by_name)
        group.addButton(self.by_id)
        self.name = named(QLineEdit(ANONYMOUS_TENANT_NAME), "tenantName", "Tenant name")
        self.tenant_id = named(QLineEdit(), "tenantId", "Tenant ID")
        self.tenant_id.setPlaceholderText("T2…")
        self.status = named(QLabel(), "lookupStatus", "Lookup result")
        self.status.setWordWrap(True)
        self.adopt_warning = named(QLabel(), "adoptWarning", "Warning about adopting this tenant")
        self.adopt_warning.setWordWrap(True)
        self.confirm_adopt = named(QCheckBox(), "confirmAdopt", "Adopt this tenant anyway")
        self.confirm_adopt.toggled.connect(lambda _on: self.completeChanged.emit())
        form = QFormLayout(self)
        form.addRow(self.by_name, self.name)
        form.addRow(self.by_id, self.tenant_id)
        form.addRow(self.status)
        form.addRow(self.adopt_warning)
        form.addRow(self.confirm_adopt)
        self._ask_to_adopt("")
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(LOOKUP_DELAY_MS)
        self._timer.timeout.connect(self._lookup_now)
        for signal in (self.name.textChanged, self.tenant_id.textChanged, self.by_name.toggled):
            signal.connect(self._changed)
        self._task: asyncio.Task[None] | None = None
        self._done = False

    def _ask_to_adopt(self, warning: str, tenant_name: str = "") -> None:
        """Show (or, with "", hide) why adopting needs a confirmation, and the checkbox for it."""
        self.adopt_warning.setText(warning)
        self.adopt_warning.setVisible(bool(warning))
        self.confirm_adopt.setText(f"Adopt “{tenant_name}” anyway" if tenant_name else "")
        self.confirm_adopt.setChecked(False)
        self.confirm_adopt.setVisible(bool(warning))

    def initializePage(self) -> None:
        remembered = self._wizard.remembered_tenant_id
        (self.by_id if remembered else self.by_name).setChecked(True)
        if remembered:
            self.tenant_id.setText(remembered)
        self._lookup_now()

    def _changed(self, *_args: object) -> None:
        self.name.setEnabled(self.by_name.isChecked())
        self.tenant_id.setEnabled(self.by_id.isChecked())
        self._done = False
        self._ask_to_adopt("")
        self.completeChanged.emit()
        self.status.setText("Looking up…")
        self._timer.start()

    def _lookup_now(self) -> None:
        self._timer.stop()
        self._task = self._wizard.tasks.start(self._lookup(), key="lookup")

    async def _lookup(self) -> None:
        wizard = self._wizard
        wizard.tenant = None
        wizard.settings = None
        self._done = False
        self._ask_to_adopt("")
        self.completeChanged.emit()
        by_id = self.by_id.isChecked()
        wanted = (self.tenant_id if by_id else self.name).text().strip()
        if not wanted:
            self.status.setText("Enter a tenant ID." if by_id else "Enter a tenant name.")
            return
        self.status.setText("Looking up…")
        try:
            tenant, settings = await inspect_tenant(
                wizard.gateway, tenant_id=wanted if by_id else "", tenant_name=wanted
            )
        except GatewayError as exc:
            self.status.setText(f"Could not look up the tenant: {exc.user_message}")
            return
        if tenant is None and by_id:
            self.status.setText(f"No tenant has the ID {wanted}. Check it, or find the tenant by name.")
            return
        if tenant is None:
            wizard.tenant, wizard.settings, wizard.tenant_name = None, None, wanted
            self.status.setText(f'No tenant is named "{wanted}": it will be created.')
        else:
            found = f'Found "{tenant.name}" ({tenant.id}): it will be adopted.'
            self.status.setText(f"{found} Counting its users…")
            try:
                users, verified = await count_members(wizard.gateway, tenant.id)
            except GatewayError as exc:
                self.status.setText(f"{found} Its users could not be counted: {exc.user_message}")
                self._ask_to_adopt(
                    "Whether it holds regular users is unknown: adopt it only if it is meant for "
                    "anonymous users.",
                    tenant.name,
                )
            else:
                current = self._is_current(tenant)
                self.status.setText(f"{found} {_members_sentence(users, verified, current=current)}")
                if verified and not current:
                    self._ask_to_adopt(_adopt_warning(verified), tenant.name)
            wizard.tenant, wizard.settings, wizard.tenant_name = tenant, settings, wanted
        self._done = True
        self.completeChanged.emit()

    def _is_current(self, tenant: Tenant) -> bool:
        """Whether `tenant` is the anonymous tenant already (the profile's, else the one by the
        default name): its verified members are unfinished conversions, not someone's customers."""
        remembered = self._wizard.remembered_tenant_id
        if remembered:
            return tenant.id == remembered
        return tenant.name.casefold() == ANONYMOUS_TENANT_NAME.casefold()

    def isComplete(self) -> bool:
        return self._done and (self.confirm_adopt.isHidden() or self.confirm_adopt.isChecked())

    def cleanupPage(self) -> None:
        if self._task and not self._task.done():
            self._task.cancel()


def _members_sentence(users: int, verified: int, *, current: bool) -> str:
    if not users:
        return "It holds no users."
    some = "none" if not verified else f"{verified:,}"
    sentence = f"It holds {users:,} users, {some} of them with a verified email or phone"
    if verified and current:  # verified members of the anonymous tenant: conversions not finished
        return f"{sentence} (listed under Needs attention)."
    return f"{sentence}."


def _adopt_warning(verified: int) -> str:
    return (
        f"{verified:,} of its users have a verified email or phone: this looks like a tenant of "
        "regular users. Adopting it as the anonymous tenant changes their session lifetimes, lists "
        "them as needing attention, and makes its members without a verified address count as "
        "anonymous users, which can be culled."
    )


class LifetimesPage(_Page):
    """How long anonymous users live (refresh token) and how often sessions refresh.

    It starts from the adopted tenant's settings. Values Descope would refuse block Next; values it
    accepts but that are almost surely a mistake (`core.tenant_setup.doubts`) are explained and need
    the "I mean it" box ticked.
    """

    def __init__(self, wizard: TenantWizard) -> None:
        super().__init__(
            wizard,
            "lifetimes",
            "Lifetimes",
            "An anonymous user can come back until its refresh token expires, counted from its last "
            "sign-in; after that it can be culled.",
        )
        self.preset = named(QComboBox(), "preset", "Lifetime preset")
        self.preset.addItems([*PRESETS, CUSTOM])
        desired = Desired()
        self.refresh = _LifetimeEdit(
            "refresh", "Refresh token lifetime", desired.refresh.value, desired.refresh.unit
        )
        self.session = _LifetimeEdit(
            "session", "Session token lifetime", desired.session.value, desired.session.unit
        )
        self.inactivity_on = named(
            QCheckBox("Sign out after inactivity of"), "inactivityOn", "Inactivity timeout"
        )
        self.inactivity = _LifetimeEdit("inactivity", "Inactivity timeout", 1, "days")
        self.inactivity.setEnabled(False)
        self.errors = named(QLabel(), "lifetimeErrors", "Problems with these lifetimes")
        self.errors.setWordWrap(True)
        self.warnings = named(QLabel(), "lifetimeWarnings", "Doubts about these lifetimes")
        self.warnings.setWordWrap(True)
        self.confirm = named(
            QCheckBox("I mean it: use these lifetimes anyway"),
            "confirmLifetimes",
            "Use these lifetimes anyway",
        )
        self.confirm.toggled.connect(lambda _on: self.completeChanged.emit())
        self._doubts: list[str] = []
        form = QFormLayout(self)
        form.addRow("Anonymous users live:", self.preset)
        form.addRow("Refresh token:", self.refresh)
        form.addRow("Session token:", self.session)
        form.addRow(self.inactivity_on, self.inactivity)
        form.addRow(self.errors)
        form.addRow(self.warnings)
        form.addRow(self.confirm)
        self.preset.currentTextChanged.connect(self._preset_chosen)
        self.inactivity_on.toggled.connect(self.inactivity.setEnabled)
        for edit in (self.refresh, self.session, self.inactivity):
            edit.value.valueChanged.connect(self._changed)
            edit.unit.currentTextChanged.connect(self._changed)
        self.inactivity_on.toggled.connect(self._changed)
        self._changed()

    def initializePage(self) -> None:
        """Start from the tenant's settings (the defaults for a new tenant): a re-run proposes no
        change the admin did not make, and never drops a setting it does not show."""
        desired = Desired()
        self.refresh.set_lifetime(desired.refresh)
        self.session.set_lifetime(desired.session)
        self.inactivity_on.setChecked(False)
        settings = self._wizard.settings
        if settings and settings.enabled:
            current = Lifetime.of(settings.refresh_token_expiration, settings.refresh_token_expiration_unit)
            session = Lifetime.of(settings.session_token_expiration, settings.session_token_expiration_unit)
            if current:
                self.refresh.set_lifetime(current)
            if session:
                self.session.set_lifetime(session)
        if settings and settings.enable_inactivity:
            # Even with custom session management off: what the tenant stores stays unless changed.
            inactivity = Lifetime.of(settings.inactivity_time, settings.inactivity_time_unit)
            if inactivity:
                self.inactivity.set_lifetime(inactivity)
                self.inactivity_on.setChecked(True)
        self._match_preset()

    def _preset_chosen(self, name: str) -> None:
        if name in PRESETS:
            self.refresh.set_lifetime(PRESETS[name])

    def _match_preset(self) -> None:
        current = self.refresh.lifetime()
        match = next((n for n, p in PRESETS.items() if p == current), CUSTOM)
        self.preset.blockSignals(True)
        self.preset.setCurrentText(match)
        self.preset.blockSignals(False)

    def desired(self) -> Desired:
        inactivity = self.inactivity.lifetime() if self.inactivity_on.isChecked() else None
        return Desired(self.refresh.lifetime(), self.session.lifetime(), inactivity)

    def problems(self) -> list[str]:
        return validate(self.desired())

    def doubts(self) -> list[str]:
        """What is legal but surely a mistake (nothing while something is refused)."""
        desired = self.desired()
        return [] if validate(desired) else doubts(desired)

    def _changed(self, *_args: object) -> None:
        self._match_preset()
        self.errors.setText("\n".join(self.problems()))
        found = self.doubts()
        if found != self._doubts:  # a new doubt needs a new confirmation
            self._doubts = found
            self.confirm.setChecked(False)
        self.warnings.setText("\n".join(found))
        self.warnings.setVisible(bool(found))
        self.confirm.setVisible(bool(found))
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return not self.problems() and (not self._doubts or self.confirm.isChecked())


class ReviewPage(_Page):
    """What will change, before → after, in plain words. Its Apply is the only commit."""

    def __init__(self, wizard: TenantWizard) -> None:
        super().__init__(
            wizard, "review", "Review", "Nothing has changed yet. Apply makes these changes in Descope."
        )
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "&Apply")
        self.summary = named(QLabel(), "planSummary", "What will happen")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.diff = named(QTableWidget(0, 3), "planDiff", "Settings before and after")
        self.diff.setHorizontalHeaderLabels(["Setting", "Before", "After"])
        self.diff.verticalHeader().hide()
        self.diff.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.diff.horizontalHeader().setStretchLastSection(True)
        self.diff.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.diff.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.diff.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.diff)

    def initializePage(self) -> None:
        wizard = self._wizard
        planned = plan_setup(
            wizard.tenant, wizard.settings, wizard.lifetimes.desired(), name=wizard.tenant_name
        )
        if isinstance(planned, Refusal):  # the Lifetimes page checks first: this is a safety net
            wizard.plan = None
            self.summary.setText(planned.summary())
            self.diff.setVisible(False)
            return
        wizard.plan = planned
        self.summary.setText("\n\n".join(wizard.plan.summary()))
        self.diff.setRowCount(len(wizard.plan.changes))
        for row, change in enumerate(wizard.plan.changes):
            for column, text in enumerate((change.setting, change.before, change.after)):
                self.diff.setItem(row, column, QTableWidgetItem(text))
        self.diff.setVisible(bool(wizard.plan.changes))
        self.setButtonText(
            QWizard.WizardButton.CommitButton, "&Continue" if wizard.plan.is_noop else "&Apply"
        )

    def isComplete(self) -> bool:
        return self._wizard.plan is not None


class _ResultList(QListWidget):
    def add(self, passed: bool | None, text: str) -> None:
        mark = "…" if passed is None else ("✓" if passed else "✗")
        item = QListWidgetItem(f"{mark}  {text}")
        item.setData(Qt.ItemDataRole.UserRole, passed)
        self.addItem(item)


class _WorkPage(_Page, Generic[R]):
    """A page that runs one piece of async work on entry and lists its results as they come.

    Attributes:
        result: what the work returned; None while it runs (or before).
    """

    busy_text = ""

    def __init__(
        self, wizard: TenantWizard, key: str, title: str, items: tuple[str, str], subtitle: str = ""
    ) -> None:
        super().__init__(wizard, key, title, subtitle)
        self.result: R | None = None
        self.items = named(_ResultList(), *items)
        self.outcome = named(QLabel(), f"{key}Outcome", f"{title} outcome")
        self.outcome.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.items)
        layout.addWidget(self.outcome)
        self._task: asyncio.Task[None] | None = None

    def initializePage(self) -> None:
        self.result = None
        self.items.clear()
        self.outcome.setText(self.busy_text)
        self._task = self._wizard.tasks.start(self._work(), key=self.objectName())

    async def _work(self) -> None:
        raise NotImplementedError


class ApplyPage(_WorkPage[ApplyResult]):
    """Applies the plan and says what was done; on failure, what was not and how to complete it."""

    busy_text = "Applying…"

    def __init__(self, wizard: TenantWizard) -> None:
        super().__init__(wizard, "apply", "Applying", ("applySteps", "What was done"))
        self.steps = self.items

    async def _work(self) -> None:
        wizard = self._wizard
        assert wizard.plan is not None
        result = await apply_plan(
            wizard.gateway,
            wizard.plan,
            wizard.audit,
            profile=wizard.profile_name,
            before=wizard.settings,
            progress=lambda done, total, step: self.outcome.setText(f"{step}… ({done + 1} of {total})"),
        )
        for step in result.steps:
            self.steps.add(step.done, f"{step.name}: {step.detail}")
        if not result.steps:
            self.steps.add(True, "Nothing to change: the tenant is already set up as asked.")
        if result.tenant_id and wizard.remember is not None:
            try:
                await wizard.remember(result.tenant_id)
                self.steps.add(True, "The connection profile remembers the tenant.")
            except Exception as exc:
                self.steps.add(False, f"The profile could not remember the tenant: {exc}")
        self.result = result
        self.outcome.setText(result.summary())
        self.completeChanged.emit()
        wizard.applied.emit(result.ok)

    def isComplete(self) -> bool:
        return self.result is not None and self.result.ok


class VerifyPage(_WorkPage[DoctorReport]):
    """Runs the doctor: a probe anonymous user, its tokens, then its removal."""

    busy_text = "Verifying…"

    def __init__(self, wizard: TenantWizard) -> None:
        super().__init__(
            wizard,
            "verify",
            "Verify",
            ("verifyChecks", "Verification checks"),
            "A probe anonymous user is created by the recipe, checked and deleted.",
        )
        self.checks = self.items

    @property
    def passed(self) -> bool | None:
        """Whether every check passed; None until the doctor has ended."""
        return None if self.result is None else self.result.ok

    async def _work(self) -> None:
        wizard = self._wizard
        tenant_id = wizard.apply_page.result.tenant_id if wizard.apply_page.result else None

        def show(check: Check) -> None:
            self.checks.add(check.passed, f"{check.name}: {check.detail}")

        report = await run_doctor(wizard.gateway, tenant_id=tenant_id or "", on_check=show)
        self.result = report
        self.outcome.setText(
            "Everything works: new anonymous users get the tenant's lifetime."
            if report.ok
            else "Verification failed: see the checks above."
        )
        self.completeChanged.emit()
        wizard.verified.emit(report.ok)

    def isComplete(self) -> bool:
        return self.passed is not None


class TenantWizard(QWizard):
    """Sets up the anonymous tenant of one connection.

    Signals:
        applied(bool): the apply step ended (True: everything done).
        verified(bool): the doctor ended (True: every check passed).
    """

    applied = Signal(bool)
    verified = Signal(bool)

    def __init__(
        self,
        gateway: Gateway,
        audit: AuditLog,
        *,
        profile_name: str,
        remembered_tenant_id: str = "",
        remember: TenantRemembered | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        style.apply(named(self, "tenantWizard", "Anonymous tenant setup"))
        self.setWindowTitle("Set up the anonymous tenant")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.gateway = gateway
        self.audit = audit
        self.profile_name = profile_name
        self.remembered_tenant_id = remembered_tenant_id
        self.remember = remember
        self.tenant: Tenant | None = None
        self.settings: SessionSettings | None = None
        self.tenant_name = ANONYMOUS_TENANT_NAME
        self.plan: TenantPlan | None = None
        self.tasks = TaskOwner("tenant wizard")
        self.tenant_page = TenantPage(self)
        self.lifetimes = LifetimesPage(self)
        self.review = ReviewPage(self)
        self.apply_page = ApplyPage(self)
        self.verify_page = VerifyPage(self)
        for page in (self.tenant_page, self.lifetimes, self.review, self.apply_page, self.verify_page):
            self.addPage(page)
        self.resize(720, 520)

    async def wait_idle(self) -> None:
        """Until the running lookup, apply or verification (if any) ends; for tests and closing."""
        for page in (self.tenant_page, self.apply_page, self.verify_page):
            task: Any = page._task
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(task)
