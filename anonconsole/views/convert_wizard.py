"""The conversion wizard: an anonymous user becomes a regular one, keeping its user ID, with an address
Descope itself verified (or, where the profile allows it, that the agent attests).

Pages: address → check (nobody else holds it) → verification (a code Descope sends, or an attestation
with a reason and a ticket) → review (before → after; keep or drop the random login ID; a display name)
→ apply → result. The rules are `core.convert`'s, the work `operations.convert`'s.

By code, Descope attaches the address the moment it accepts the code (its OTP update is one step): the
wizard then moves on to the review with no way back, and Cancel removes the address again. Attested,
nothing changes before Convert. Every call to Descope runs in a task the wizard owns, on the loop: the
UI thread never waits for the network.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from anonconsole.core.convert import (
    Address,
    Attestation,
    Channel,
    ConversionPlan,
    InputError,
    Verification,
    facts,
    parse_address,
    parse_code,
    review_rows,
    warm_up,
)
from anonconsole.core.errors import GatewayError
from anonconsole.core.records import User
from anonconsole.operations.audit_log import AuditLog
from anonconsole.operations.convert import (
    AddressCheck,
    CodeVerification,
    ConversionReport,
    Outcome,
    abandon_conversion,
    apply_conversion,
    check_address,
)
from anonconsole.operations.shape import Refusal
from anonconsole.runtime import messages
from anonconsole.runtime.tasks import TaskOwner, in_thread
from anonconsole.views import style
from anonconsole.views.widgets import named, tab_chain

if TYPE_CHECKING:
    from anonconsole.gateway import Gateway

COMMIT = QWizard.WizardButton.CommitButton
T = TypeVar("T")


def _label(name: str, accessible: str, *, selectable: bool = False) -> QLabel:
    label = named(QLabel(), name, accessible)
    label.setWordWrap(True)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _say(label: QLabel, text: str, *, error: bool = False) -> None:
    """Show a sentence; errors in the style sheet's error colour."""
    label.setText(text)
    style.set_state(label, "role", "error" if error else "")


def _loop_running() -> bool:
    """Whether an event loop runs (not so while the application shuts down): async work can start."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _comparison_table(name: str, accessible: str) -> QTableWidget:
    table = named(QTableWidget(0, 3), name, accessible)
    table.setHorizontalHeaderLabels(["", "Before", "After"])
    table.verticalHeader().hide()
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
    table.setWordWrap(True)
    table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    return table


def _fill(table: QTableWidget, rows: list[tuple[str, str, str]]) -> None:
    table.setRowCount(len(rows))
    for row, values in enumerate(rows):
        for column, text in enumerate(values):
            table.setItem(row, column, QTableWidgetItem(text))
    table.resizeRowsToContents()
    rows_height = sum(table.rowHeight(row) for row in range(table.rowCount()))
    table.setFixedHeight(table.horizontalHeader().sizeHint().height() + rows_height + 2 * table.frameWidth())


class _Page(QWizardPage):
    """A page of the wizard: its object name (`<key>Page`), title and subtitle, and the wizard."""

    def __init__(self, wizard: ConvertWizard, key: str, title: str, subtitle: str = "") -> None:
        super().__init__()
        self._wizard = wizard
        self.setObjectName(f"{key}Page")
        self.setTitle(title)
        if subtitle:
            self.setSubTitle(subtitle)


class AddressPage(_Page):
    """The new email address or phone number, checked as it is typed."""

    def __init__(self, wizard: ConvertWizard) -> None:
        super().__init__(
            wizard,
            "address",
            "The new address",
            "The email address or phone number the person wants to sign in with. Descope will verify it "
            "before it is attached: that is what stops anyone from taking over an account they do not own.",
        )
        self.user_summary = _label("userSummary", "The user to convert", selectable=True)
        self.email = named(QRadioButton("Email address"), "channelEmail", "Email address")
        self.phone = named(QRadioButton("Phone number (text message)"), "channelPhone", "Phone number")
        group = QButtonGroup(self)
        group.addButton(self.email)
        group.addButton(self.phone)
        self.email.setChecked(True)
        self.address = named(QLineEdit(), "address", "New address")
        self.problem = _label("addressProblem", "What is wrong with the address")
        choice = QHBoxLayout()
        choice.addWidget(self.email)
        choice.addWidget(self.phone)
        choice.addStretch(1)
        form = QFormLayout(self)
        form.addRow(self.user_summary)
        form.addRow("Kind:", choice)
        form.addRow("Address:", self.address)
        form.addRow(self.problem)
        self.parsed: Address | None = None
        self.address.textChanged.connect(self._changed)
        self.email.toggled.connect(self._changed)
        tab_chain([self.email, self.phone, self.address])
        self._changed()

    def initializePage(self) -> None:
        user = self._wizard.user
        self.user_summary.setText(f"Converting the anonymous user {user.user_id}. {facts(user)}")

    @property
    def channel(self) -> Channel:
        return Channel.EMAIL if self.email.isChecked() else Channel.PHONE

    def _changed(self, *_args: object) -> None:
        channel = self.channel
        self.address.setPlaceholderText("name@example.com" if channel is Channel.EMAIL else "+1 650 253 0000")
        self.parsed = None
        text = self.address.text()
        if text.strip():
            try:
                self.parsed = parse_address(channel, text)
            except InputError as exc:
                _say(self.problem, str(exc), error=True)
        if self.parsed is not None:
            stored = f" (stored as {self.parsed})" if self.parsed.value != text.strip() else ""
            _say(self.problem, f"A valid {channel.label}{stored}.")
        elif not text.strip():
            _say(self.problem, "")
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.parsed is not None


class CheckPage(_Page):
    """Reads the user again and looks for anyone else holding the address (test and disabled users
    included); Next only when the address is free and the user still anonymous."""

    def __init__(self, wizard: ConvertWizard) -> None:
        super().__init__(
            wizard,
            "check",
            "Is the address free?",
            "No other user may hold it as a login ID, an email or a phone, verified or not.",
        )
        self.outcome = _label("checkOutcome", "Result of the check", selectable=True)
        self.again = named(QPushButton("Check again"), "checkAgain", "Check again")
        self.again.clicked.connect(self._start)
        layout = QVBoxLayout(self)
        layout.addWidget(self.outcome)
        layout.addWidget(self.again, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addStretch(1)
        self.result: AddressCheck | None = None

    def initializePage(self) -> None:
        self._start()

    def _start(self) -> None:
        self._wizard.tasks.start(self._check(), key="check")

    async def _check(self) -> None:
        wizard = self._wizard
        address = wizard.address_page.parsed
        assert address is not None
        self.result = None
        self.again.setEnabled(False)
        self.completeChanged.emit()
        _say(self.outcome, f"Checking {address}…")
        try:
            result = await check_address(
                wizard.gateway, wizard.user.user_id, address, tenant_id=wizard.tenant_id
            )
        except GatewayError as exc:
            _say(self.outcome, f"The check could not be made: {exc.user_message}", error=True)
            self.again.setEnabled(True)
            wizard.checked.emit(None)
            return
        self.again.setEnabled(True)
        self.result = result
        if result.user is not None:
            wizard.user = result.user
        if result.ok:
            _say(
                self.outcome,
                f"{address} is free: no other user (test and disabled users included) holds it, and the "
                "user is still anonymous.",
            )
        else:
            _say(self.outcome, "\n".join(result.sentences()), error=True)
        self.completeChanged.emit()
        wizard.checked.emit(result)

    def isComplete(self) -> bool:
        return self.result is not None and self.result.ok

    def cleanupPage(self) -> None:
        self._wizard.tasks.cancel("check")


class VerificationPage(_Page):
    """Proof that the address is the person's: a code Descope sends to it (the default), or, where the
    profile allows it, the agent's attestation with a reason and a ticket."""

    def __init__(self, wizard: ConvertWizard) -> None:
        super().__init__(
            wizard,
            "verification",
            "Verify the address",
            "Descope sends a one-time code to the new address; the person reads it out to you.",
        )
        self.by_code = named(
            QRadioButton("Descope sends a code to the address (recommended)"),
            "verifyByCode",
            "Verify by code",
        )
        self.by_attestation = named(
            QRadioButton("I attest: the person proved the address another way"),
            "verifyByAttestation",
            "Verify by attestation",
        )
        group = QButtonGroup(self)
        group.addButton(self.by_code)
        group.addButton(self.by_attestation)
        self.by_code.setChecked(True)
        self.attestation_note = _label("attestationNote", "Why attestation is not available")

        self.send = named(QPushButton("Send a code"), "sendCode", "Send a code")
        self.sent = _label("codeStatus", "Where the code was sent")
        self.code = named(QLineEdit(), "code", "Code the person reads out")
        self.code.setPlaceholderText("6 digits")
        self.code.setMaxLength(16)
        self.verify = named(QPushButton("Verify"), "verifyCode", "Verify the code")
        self.code_outcome = _label("codeOutcome", "Result of the verification", selectable=True)
        code_box = QWidget()
        code_form = QFormLayout(code_box)
        code_form.addRow(self.send, self.sent)
        code_line = QHBoxLayout()
        code_line.addWidget(self.code)
        code_line.addWidget(self.verify)
        code_form.addRow("Code:", code_line)
        self.code_box = named(code_box, "codeBox")

        self.reason = named(QPlainTextEdit(), "attestReason", "How the person proved the address")
        self.reason.setPlaceholderText(
            "How did the person prove the address? e.g. replied from it to ticket 4711"
        )
        self.reason.setTabChangesFocus(True)
        self.reason.setFixedHeight(70)
        self.ticket = named(QLineEdit(), "attestTicket", "Ticket reference")
        self.ticket.setPlaceholderText("SUP-4711")
        self.attest_problems = _label("attestProblems", "What the attestation still needs")
        attest_box = QWidget()
        attest_form = QFormLayout(attest_box)
        attest_form.addRow("Reason:", self.reason)
        attest_form.addRow("Ticket:", self.ticket)
        attest_form.addRow(self.attest_problems)
        self.attest_box = named(attest_box, "attestBox")

        layout = QVBoxLayout(self)
        layout.addWidget(self.by_code)
        layout.addWidget(self.code_box)
        layout.addWidget(self.code_outcome)
        layout.addWidget(self.by_attestation)
        layout.addWidget(self.attestation_note)
        layout.addWidget(self.attest_box)
        layout.addStretch(1)

        self.send.clicked.connect(self._send)
        self.verify.clicked.connect(self._verify)
        self.code.returnPressed.connect(self._verify)
        self.code.textChanged.connect(self._update)
        self.by_code.toggled.connect(self._update)
        self.reason.textChanged.connect(self._update)
        self.ticket.textChanged.connect(self._update)
        tab_chain(
            [self.by_code, self.send, self.code, self.verify, self.by_attestation, self.reason, self.ticket]
        )
        self._busy = False
        if not wizard.allow_attestation:
            self.by_attestation.setEnabled(False)
            self.attestation_note.setText(
                "Attestation is turned off for this connection: the address must be verified by code."
            )
        self.attestation_note.setVisible(not wizard.allow_attestation)

    @property
    def attested(self) -> bool:
        return self.by_attestation.isChecked()

    def attestation(self) -> Attestation:
        return Attestation(self.reason.toPlainText(), self.ticket.text())

    def initializePage(self) -> None:
        wizard = self._wizard
        address = wizard.address_page.parsed
        assert address is not None
        current = wizard.code
        if current is None or current.address != address or current.user.user_id != wizard.user.user_id:
            if current is not None:
                wizard.tasks.start(current.close())  # the sessions of a code for another address
            wizard.code = CodeVerification(wizard.gateway, wizard.user, address, tenant_id=wizard.tenant_id)
            self.send.setText("Send a code")
            self.sent.setText("")
            self.code.clear()
            _say(self.code_outcome, "")
        where = "email" if address.channel is Channel.EMAIL else "phone by text message"
        self.setSubTitle(
            f"Descope sends a one-time code to {address} ({where}); the person reads it out to you and you "
            "type it here. Descope attaches the address the moment it accepts the code."
        )
        self._update()

    def _update(self, *_args: object) -> None:
        by_code = not self.attested
        self.code_box.setEnabled(by_code)
        self.attest_box.setVisible(self.attested)
        code = self._wizard.code
        self.send.setEnabled(by_code and not self._busy)
        self.verify.setEnabled(by_code and not self._busy and code is not None and code.sent is not None)
        problems = self.attestation().problems() if self.attested else []
        _say(self.attest_problems, "\n".join(problems))
        self.completeChanged.emit()

    async def _while_busy(self, work: Awaitable[T]) -> T:
        """`work` with Send and Verify off meanwhile. A cancelled task (the application closing) does
        not touch the widgets again: they may be gone by then."""
        self._busy = True
        self._update()
        result = await work
        self._busy = False
        self._update()
        return result

    def _send(self) -> None:
        if not self._busy:
            self._wizard.tasks.start(self._sending(), key="send")

    async def _sending(self) -> None:
        code = self._wizard.code
        assert code is not None
        _say(self.code_outcome, "Asking Descope to send a code…")
        sent = await self._while_busy(code.send())
        if isinstance(sent, Refusal):
            _say(self.code_outcome, sent.summary(), error=True)
        else:
            at = time.strftime("%H:%M:%S", time.localtime(sent.at))
            self.sent.setText(f"Sent to {sent.sent_to} at {at}.")
            self.send.setText("Send a new code")
            _say(self.code_outcome, "Type the code the person reads out, then Verify.")
            self.code.setFocus()
        self._wizard.code_sent.emit(sent)

    def _verify(self) -> None:
        code = self._wizard.code
        if self._busy or code is None or code.sent is None:
            return
        try:
            typed = parse_code(self.code.text())
        except InputError as exc:
            _say(self.code_outcome, str(exc), error=True)
            return
        self._wizard.tasks.start(self._verifying(typed), key="verify")

    async def _verifying(self, typed: str) -> None:
        wizard = self._wizard
        code = wizard.code
        assert code is not None
        _say(self.code_outcome, "Descope is checking the code…")
        result = await self._while_busy(code.verify(typed))
        if isinstance(result, Refusal):
            _say(self.code_outcome, result.summary(), error=True)
            wizard.code_checked.emit(result)
            return
        _say(
            self.code_outcome,
            f"Verified: Descope attached {code.address} to the user as a verified login ID.",
        )
        self.by_attestation.setEnabled(False)
        self.send.setEnabled(False)
        self.verify.setEnabled(False)
        self.code.setReadOnly(True)
        # No way back past this point: the address is attached; Cancel removes it again.
        self.setCommitPage(True)
        self.setButtonText(COMMIT, "&Next")
        self.completeChanged.emit()
        wizard.code_checked.emit(result)
        if not wizard.closing:  # closing: Cancel came during the verification and removes it again
            QTimer.singleShot(0, wizard.next)

    def isComplete(self) -> bool:
        if self.attested:
            return not self.attestation().problems()
        code = self._wizard.code
        return code is not None and code.verified is not None


class ReviewPage(_Page):
    """Before → after of everything that changes, the last choices, and the commit (Convert)."""

    def __init__(self, wizard: ConvertWizard) -> None:
        super().__init__(wizard, "review", "Review", "Everything that changes, before and after.")
        self.setCommitPage(True)
        self.setButtonText(COMMIT, "&Convert")
        self.note = _label("reviewNote", "What has happened so far")
        self.table = _comparison_table("reviewTable", "The user before and after")
        self.keep = named(
            QCheckBox("Keep the random anonymous login ID as a second login ID"),
            "keepLoginId",
            "Keep login ID",
        )
        self.keep_note = _label("keepNote", "About keeping the random login ID")
        self.name = named(QLineEdit(), "displayName", "Display name (optional)")
        self.name.setPlaceholderText("Optional")
        self.steps = _label("reviewSteps", "The steps, in order", selectable=True)
        self.problems = _label("reviewProblems", "Why the conversion cannot be applied")
        form = QFormLayout()
        form.addRow(self.keep)
        form.addRow(self.keep_note)
        form.addRow("Display name:", self.name)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.table)
        layout.addLayout(form)
        layout.addWidget(self.steps)
        layout.addWidget(self.problems)
        layout.addStretch(1)
        self.keep.toggled.connect(self._refresh)
        self.name.textChanged.connect(self._refresh)
        tab_chain([self.keep, self.name])
        self.plan: ConversionPlan | None = None

    def initializePage(self) -> None:
        wizard = self._wizard
        attested = wizard.verification_page.attested
        self.keep.setEnabled(not attested)
        if attested:
            self.keep.setChecked(False)
            self.keep_note.setText(
                "Attested, the address takes the random login ID's place: Descope's management API can "
                "replace a login ID but not add one."
            )
            self.note.setText("Nothing has changed yet: Convert makes these changes in Descope.")
        else:
            self.keep_note.setText(
                "Drop it unless the app looks users up by it: the user's sessions and data belong to its "
                "user ID, which stays."
            )
            self.note.setText(
                "Descope attached the address when it accepted the code. Convert makes the remaining "
                "changes; Cancel removes the address again."
            )
        self._refresh()

    def _refresh(self, *_args: object) -> None:
        self.plan = self._wizard.make_plan(
            keep_login_id=self.keep.isChecked(), display_name=self.name.text().strip()
        )
        _fill(self.table, review_rows(self.plan.before, self.plan.after(), self.plan.tenant_id))
        lines = [
            f"{number}. {step.text}" + (f" (undone by: {step.undo})" if step.undo else "")
            for number, step in enumerate(self.plan.steps, 1)
        ]
        self.steps.setText("Steps, in order:\n" + "\n".join(lines))
        problems = self.plan.problems(allow_attestation=self._wizard.allow_attestation)
        _say(self.problems, "\n".join(problems), error=bool(problems))
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.plan is not None and not self.plan.problems(
            allow_attestation=self._wizard.allow_attestation
        )


class ApplyPage(_Page):
    """Carries the plan out, step by step, then moves on to the result."""

    def __init__(self, wizard: ConvertWizard) -> None:
        super().__init__(
            wizard, "apply", "Converting", "The user is read again first: nothing is written if it changed."
        )
        self.progress = named(QListWidget(), "applyProgress", "Steps under way")
        self.status = _label("applyStatus", "What is being done")
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.progress)
        self.report: ConversionReport | None = None

    def initializePage(self) -> None:
        self.report = None
        self.progress.clear()
        self.status.setText("Reading the user again…")
        # Cancel cannot stop writes under way: they finish, or are undone, and the result says which.
        self._wizard.button(QWizard.WizardButton.CancelButton).setEnabled(False)
        self._wizard.tasks.start(self._apply(), key="apply")

    def _progressed(self, done: int, total: int, text: str) -> None:
        self.status.setText(f"{text}… ({done + 1} of {total})")
        self.progress.addItem(f"… {text}")

    async def _apply(self) -> None:
        wizard = self._wizard
        plan = wizard.review_page.plan
        assert plan is not None
        code = wizard.code
        attested = wizard.verification_page.attested
        if attested and code is not None:
            await code.close()  # a code was sent before the agent chose to attest: end its session
        sent = code.sent if code is not None and not attested else None
        report = await apply_conversion(
            wizard.gateway,
            plan,
            audit=wizard.audit,
            profile=wizard.profile,
            allow_attestation=wizard.allow_attestation,
            code_sent_to=sent.sent_to if sent else "",
            progress=self._progressed,
        )
        self.report = report
        wizard.report = report
        self.completeChanged.emit()
        wizard.conversion_ended.emit(report)
        if report.ok and report.user is not None:
            wizard.converted.emit(report.user)
        wizard.next()

    def isComplete(self) -> bool:
        return self.report is not None


class ResultPage(_Page):
    """How it ended, the user's exact state, and the audit entry written."""

    def __init__(self, wizard: ConvertWizard) -> None:
        super().__init__(wizard, "result", "Result", "How it ended, and the user as Descope holds it now.")
        self.headline = _label("resultHeadline", "How the conversion ended", selectable=True)
        self.state = _label("resultState", "The user's state now", selectable=True)
        self.table = _comparison_table("resultTable", "The user before and now")
        self.table.setHorizontalHeaderLabels(["", "Before", "Now"])
        self.steps = _label("resultSteps", "What each step did", selectable=True)
        self.audit_note = _label("resultAudit", "Where this is recorded")
        layout = QVBoxLayout(self)
        layout.addWidget(self.headline)
        layout.addWidget(self.state)
        layout.addWidget(self.table)
        layout.addWidget(self.steps)
        layout.addWidget(self.audit_note)
        layout.addStretch(1)

    def initializePage(self) -> None:
        report = self._wizard.report
        assert report is not None
        _say(self.headline, report.summary(), error=not report.ok)
        self.state.setText(report.state)
        self.table.setVisible(report.user is not None)
        if report.user is not None:
            _fill(self.table, review_rows(report.plan.before, report.user, report.plan.tenant_id))
        marks = {"done": "✓", "undone": "↶", "not done": "–", "not undone": "✗", "unknown": "?"}
        self.steps.setText("\n".join(f"{marks.get(r.state, '•')}  {r.line()}" for r in report.steps))
        how = "attested" if report.plan.verification is Verification.ATTESTED else "verified by code"
        self.audit_note.setText(
            f"Recorded in the console's audit log ({report.outcome.value}, {how}, by you, now): "
            f"{self._wizard.audit.path}"
        )


class ConvertWizard(QWizard):
    """Converts one anonymous user into a regular one.

    Signals:
        converted(object): the updated `User`, once converted (same user ID, now regular).
        conversion_ended(object): the `ConversionReport` of an apply or of a cancel after the code,
            whatever the outcome (its `user` is the user as last seen, None when deleted).
        checked(object): the `AddressCheck` of the check page (None when it could not be made).
        code_sent(object): `CodeSent`, or the `Refusal` saying why no code was sent.
        code_checked(object): the `User` once the code was verified, or the `Refusal` saying why not.
    """

    converted = Signal(object)
    conversion_ended = Signal(object)
    checked = Signal(object)
    code_sent = Signal(object)
    code_checked = Signal(object)

    def __init__(
        self,
        gateway: Gateway,
        user: User,
        *,
        tenant_id: str,
        profile: str,
        audit: AuditLog,
        allow_attestation: bool,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        style.apply(named(self, "convertWizard", "Convert an anonymous user"))
        self.setWindowTitle("Convert to a regular user")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, True)
        self.gateway = gateway
        self.user = user
        self.tenant_id = tenant_id
        self.profile = profile
        self.audit = audit
        self.allow_attestation = allow_attestation
        self.code: CodeVerification | None = None
        self.report: ConversionReport | None = None
        self.tasks = TaskOwner("convert wizard")
        if _loop_running():  # the address checks' libraries, imported before the first keystroke
            self.tasks.start(in_thread(warm_up), key="warm up")
        self._closing = False
        self.address_page = AddressPage(self)
        self.check_page = CheckPage(self)
        self.verification_page = VerificationPage(self)
        self.review_page = ReviewPage(self)
        self.apply_page = ApplyPage(self)
        self.result_page = ResultPage(self)
        for page in (
            self.address_page,
            self.check_page,
            self.verification_page,
            self.review_page,
            self.apply_page,
            self.result_page,
        ):
            self.addPage(page)
        self.resize(780, 600)

    def make_plan(self, *, keep_login_id: bool, display_name: str) -> ConversionPlan:
        """The conversion as chosen so far (the review page's choices)."""
        if not self.verification_page.attested and self.code is not None:
            return self.code.plan(keep_login_id=keep_login_id, display_name=display_name)
        address = self.address_page.parsed
        assert address is not None
        return ConversionPlan(
            self.user,
            address,
            self.tenant_id,
            Verification.ATTESTED,
            keep_login_id=keep_login_id,
            display_name=display_name,
            attestation=self.verification_page.attestation(),
        )

    def _attached_not_applied(self) -> bool:
        """The code was verified (the address is on the user) and Convert has not run."""
        return self.code is not None and self.code.verified is not None and self.report is None

    @property
    def closing(self) -> bool:
        """Cancel was asked for and waits for work under way (a request, or removing the address)."""
        return self._closing

    def reject(self) -> None:
        """Cancel (the button, Escape, the window's close box), never leaving a change unsaid.

        While Convert writes, the wizard stays open (its result page says what happened). While a code
        is sent or verified, it closes once Descope has answered. After a verified code, the address is
        removed again first. Read-only work (the check) is simply stopped.
        """
        if self._closing:
            return
        looping = _loop_running()
        if looping and self.tasks.running("apply"):
            messages.info("The conversion is writing to Descope: the wizard closes once it has ended.")
            return
        answering = [key for key in ("send", "verify") if self.tasks.running(key)]
        if looping and answering:
            self._wait_then_close(answering, "Closing once Descope has answered…")
            return
        self.tasks.cancel("check")
        if self._attached_not_applied():
            if looping:
                self._closing = True
                self.setEnabled(False)
                self.currentPage().setSubTitle("Removing the verified address again…")
                self.tasks.start(self._abandon_then_close(), key="abandon")
                return
            messages.warning(  # closed with the application: nothing can be sent any more
                f"The conversion of {self.user.user_id} was left after its code: {self.address_page.parsed} "
                "stays attached; the user is listed under Needs attention."
            )
        if looping and self.code is not None and self.code.verified is None and self.code.has_sessions:
            self.tasks.start(self.code.close())  # the console's session with the user
        super().reject()

    def _wait_then_close(self, keys: list[str], text: str) -> None:
        """Cancel again once the tasks under `keys` have ended (the wizard greyed out meanwhile)."""
        self._closing = True
        self.setEnabled(False)
        self.currentPage().setSubTitle(text)

        async def close_after() -> None:
            names = {f"{self.tasks.name}:{key}" for key in keys}
            pending = [t for t in asyncio.all_tasks() if t.get_name() in names and not t.done()]
            await asyncio.gather(*pending, return_exceptions=True)
            self._closing = False
            self.setEnabled(True)
            self.reject()

        self.tasks.start(close_after(), key="close")

    async def _abandon_then_close(self) -> None:
        assert self.code is not None
        sent = self.code.sent
        try:
            report = await abandon_conversion(
                self.gateway,
                self.code.plan(),
                audit=self.audit,
                profile=self.profile,
                code_sent_to=sent.sent_to if sent else "",
            )
        finally:
            self.setEnabled(True)
            QWizard.reject(self)
        self.report = report
        self.conversion_ended.emit(report)
        if report.outcome is Outcome.ABANDONED:
            messages.info(f"Conversion cancelled: {report.summary()}")
        else:
            messages.warning(f"Conversion cancelled, but {report.summary()} {report.state}")

    async def wait_idle(self) -> None:
        """Until the work under way (check, code, apply, cancel) has ended; for tests and closing."""
        prefix = f"{self.tasks.name}:"
        while pending := [t for t in asyncio.all_tasks() if t.get_name().startswith(prefix) and not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)

    async def aclose(self) -> None:
        """Stop every task and end the console's sessions with the user (the window is closing)."""
        await self.tasks.aclose()
        if self.code is not None:
            await self.code.close()
