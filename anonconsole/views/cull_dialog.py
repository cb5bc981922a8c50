"""The cull preview: what a cull will do and why the others are kept, what-if, approval, run, report.

Nothing is deleted before the confirmation, which names the project and the profile and wants the
count typed. The plan comes from `core.cull.plan_cull` over the window's `UserTable` (the candidates
are the table's own rows, shown through a `UsersModel`); the what-if controls recount through a
`Recounter` in a few ms per move and only "Make this the plan" plans again. The run is
`operations.cull.run_plan` (journaled, re-checked batch by batch, audited); Cancel and closing the
dialog stop it after the batch under way, never in the middle of one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCharts import (
    QBarCategoryAxis,
    QBarSet,
    QChart,
    QChartView,
    QLineSeries,
    QStackedBarSeries,
    QValueAxis,
)
from PySide6.QtCore import QEvent, QMargins, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QCloseEvent, QColor, QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from anonconsole.core.classify import format_duration
from anonconsole.core.cull import (
    AgeBucket,
    CullPlan,
    CullRules,
    Exclusion,
    Recounter,
    Stage,
    Steps,
    WhatIf,
    finish,
    plan_cull_steps,
)
from anonconsole.core.user_table import Column, Rows, TableFilter, UserTable
from anonconsole.models.users_model import UsersModel
from anonconsole.operations import cull as cull_ops
from anonconsole.operations.audit_log import AuditLog
from anonconsole.operations.batch_run import RunReport
from anonconsole.operations.export import ExportReport
from anonconsole.operations.journal import Journal
from anonconsole.runtime.cpu_turns import run_steps
from anonconsole.runtime.tasks import TaskOwner, in_thread
from anonconsole.views import export_dialog, style
from anonconsole.views.users_table_view import UsersTableView
from anonconsole.views.widgets import named, tab_chain

if TYPE_CHECKING:
    from anonconsole.gateway import Gateway

log = logging.getLogger(__name__)

DAY = 86400
MONTH = 30 * DAY  # the units of `classify.format_duration` and of the age buckets
YEAR = 365 * DAY
MAX_DAYS = 3650
SEARCH_DELAY_MS = 120
LISTED_PER_REASON = 200  # user IDs listed under an exclusion; the rest as "and N more"
REPORT_ROWS = 1000  # skipped and failed users listed in the report; the saved report has all
PAINT_SECONDS = 0.02  # a frame, so the busy state is on screen before the loop is busy planning

CANDIDATE_COLUMNS = (
    Column.LOGIN_IDS,
    Column.USER_ID,
    Column.CREATED,
    Column.LAST_SIGN_IN,
    Column.EXPIRES,
    Column.STATUS,
)
_COLUMN_WIDTHS = {
    Column.LOGIN_IDS: 210,
    Column.USER_ID: 265,
    Column.CREATED: 125,
    Column.LAST_SIGN_IN: 125,
    Column.EXPIRES: 215,
}

EXCLUSION_TITLES = {
    Exclusion.TEST_USER: "Test user",
    Exclusion.VERIFIED: "Verified email or phone",
    Exclusion.OTHER_TENANTS: "In another tenant",
    Exclusion.NEEDS_ATTENTION: "Needs attention",
    Exclusion.FUTURE_SIGN_IN: "Sign-in in the future",
    Exclusion.DISABLED_ELSEWHERE: "Disabled by someone else",
    Exclusion.KEEP_RULE: "Keep-rule",
    Exclusion.SIGNED_IN_AFTER_CUTOFF: "Signed in after the cutoff",
}
_VERB = {Stage.DELETE: "delete", Stage.DISABLE: "disable", Stage.DELETE_DISABLED: "delete"}
_STAGE_TEXT = {
    Stage.DELETE: "delete at once",
    Stage.DISABLE: "disable first (a later stage deletes them)",
    Stage.DELETE_DISABLED: "delete the users this console disabled",
}
# Exclusions tree columns.
_REASON, _PLAN_COUNT, _WHAT_IF_COUNT, _WHY = range(4)


def users_text(count: int) -> str:
    """ "1 user", "1,234 users"."""
    return f"{count:,} user" if count == 1 else f"{count:,} users"


def duration_text(seconds: float) -> str:
    """How long a run takes at the rate limit, in words ("about 2 minutes")."""
    return f"about {format_duration(max(1, math.ceil(seconds)))}" if seconds > 0 else "no time"


def short_label(bucket: AgeBucket) -> str:
    """A bucket's label short enough for the histogram's axis ("0–1 mo", "6–12 mo", "1–2 y", "> 3 y");
    the full labels are in the chart's description. Months of 30 days up to a year, then years."""
    lower, upper = bucket.from_seconds, bucket.to_seconds
    top = upper if upper is not None else lower
    size, unit = (MONTH, "mo") if top <= YEAR else (YEAR, "y")
    if upper is None:
        return f"> {round(lower / size)} {unit}"
    if lower == 0:  # not "< 1 mo": the chart takes a label for rich text, and "<" for a tag
        return f"0–{round(upper / size)} {unit}"
    return f"{round(lower / size)}–{round(upper / size)} {unit}"


def bucket_of(age_seconds: int, buckets: Sequence[AgeBucket]) -> int:
    """The index of the bucket holding this age (the last one past every bound)."""
    for index, bucket in enumerate(buckets):
        if bucket.to_seconds is None or age_seconds < bucket.to_seconds:
            return index
    return len(buckets) - 1


def cutoff_position(age_seconds: int, buckets: Sequence[AgeBucket]) -> float:
    """Where the cutoff falls on the histogram's x axis: bar i spans i - 0.5 .. i + 0.5, and the
    cutoff sits inside its bucket's bar in proportion to where its age falls in the bucket."""
    if not buckets:
        return 0.0
    index = bucket_of(age_seconds, buckets)
    bucket = buckets[index]
    width = (bucket.to_seconds or 2 * max(bucket.from_seconds, DAY)) - bucket.from_seconds
    share = min(max((age_seconds - bucket.from_seconds) / max(width, 1), 0.0), 1.0)
    return index - 0.5 + share


def planning_steps(
    table: UserTable, rules: CullRules, *, now: int, profile: str, project_id: str
) -> Steps[tuple[CullPlan, Recounter]]:
    """The plan and the what-if `Recounter` the dialog shows, in steps for `run_steps`."""
    plan = yield from plan_cull_steps(table, rules, now=now, profile=profile, project_id=project_id)
    yield
    return plan, Recounter(table, rules, plan.now)


class CullConfirmation(QDialog):
    """ "Type the count": the one door to a run. OK stays disabled (and `accept` refuses) until the
    exact number of users is typed."""

    def __init__(self, plan: CullPlan, profile: str, parent: QWidget) -> None:
        super().__init__(parent)
        named(self, "cullConfirmation", "Confirm the cull")
        self.count = plan.count
        verb = _VERB[plan.stage]
        self.setWindowTitle(f"{verb.capitalize()} {users_text(plan.count)}?")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        message = named(QLabel(self), "cullConfirmText", "What will happen")
        message.setWordWrap(True)
        message.setTextFormat(Qt.TextFormat.PlainText)
        undo = "Deleted users cannot be restored." if verb == "delete" else "They can be enabled again."
        message.setText(
            f"{verb.capitalize()} {users_text(plan.count)} of “{plan.tenant_name}” in project "
            f"{plan.project_id} (profile “{profile}”)?\n\n"
            f"Each batch is checked again right before it runs: a user who came back or changed is "
            f"left alone. {undo}\n\nType {plan.count} to confirm."
        )
        self.count_edit = named(QLineEdit(self), "cullConfirmCount", "Type the number of users to confirm")
        self.count_edit.setPlaceholderText(str(plan.count))
        self.buttons = QDialogButtonBox(self)
        self.ok_button = named(
            self.buttons.addButton(
                f"{verb.capitalize()} {users_text(plan.count)}", QDialogButtonBox.ButtonRole.AcceptRole
            ),
            "cullConfirmOk",
            f"{verb.capitalize()} the users",
        )
        cancel = named(
            self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel), "cullConfirmCancel", "Cancel"
        )
        self.ok_button.setEnabled(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.count_edit.textChanged.connect(self._typed)
        layout = QVBoxLayout(self)
        layout.addWidget(message)
        layout.addWidget(self.count_edit)
        layout.addWidget(self.buttons)
        self.setTabOrder(self.count_edit, self.ok_button)
        self.setTabOrder(self.ok_button, cancel)
        self.count_edit.setFocus()
        self.resize(520, 240)

    def matches(self) -> bool:
        """The exact count was typed: its digits ("1234"), or as the dialog writes it ("1,234")."""
        return self.count_edit.text().strip() in (str(self.count), f"{self.count:,}")

    def _typed(self, _text: str) -> None:
        self.ok_button.setEnabled(self.matches())

    def accept(self) -> None:
        if self.matches():  # Enter or a programmatic accept with a wrong count: nothing happens
            super().accept()


class CullDialog(QDialog):
    """Preview, approve and run a cull of one project's anonymous users.

    Open with `open()` (non-blocking). The plan is made when the dialog is built.

    Attributes:
        plan / rules: the plan shown (and approved by the confirmation) and the rules it follows.
        what_if: the counts for the what-if controls' values; None while they equal the plan's.
        report: the run's report once it ended.
        plan_seconds: how long the last `plan_cull` took, in seconds (run on the loop).
        confirmation / stop_question: the window-modal dialog open, if any.

    Signals:
        users_removed(object): the user IDs (list[str]) a batch removed, after each batch, so the
            users views drop the rows without a reload.
        finished_run(object): the RunReport, once the run ended (done, cancelled or stopped).
        plan_changed(object): the new CullPlan after "Make this the plan".
        recounted(object): the WhatIf after the what-if controls moved (None: back at the plan).
        file_saved(str, str): a plan or report save ended: the path and "" or the error shown.
    """

    users_removed = Signal(object)
    finished_run = Signal(object)
    plan_changed = Signal(object)
    recounted = Signal(object)
    file_saved = Signal(str, str)

    def __init__(
        self,
        gateway: Gateway,
        table: UserTable,
        rules: CullRules,
        *,
        profile: str,
        project_id: str,
        audit: AuditLog,
        now: Callable[[], float] = time.time,
        planned: tuple[CullPlan, Recounter] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        """`planned`: the plan and recounter for `rules`, made beforehand in CPU turns
        (`plan_in_turns`); without it the dialog plans at once, on the loop."""
        super().__init__(parent)
        named(self, "cullDialog", "Cull anonymous users")
        self.setWindowTitle(f"Cull anonymous users — {project_id}")
        self.gateway = gateway
        self.table = table
        self.profile = profile
        self.project_id = project_id
        self.audit = audit
        self._now = now
        self.rules = rules
        self.what_if: WhatIf | None = None
        self.report: RunReport | None = None
        self.plan_seconds = 0.0
        self.confirmation: CullConfirmation | None = None
        self.stop_question: QMessageBox | None = None
        self._tasks = TaskOwner("cull dialog")
        self._run_task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._busy = False
        self._exclusion_items: dict[Exclusion, QTreeWidgetItem] = {}
        self._removed_rows: list[int] = []
        self._candidate_rows: Rows = np.zeros(0, dtype=np.int64)

        self.plan, self._recounter = planned or finish(self._plan_steps(rules))
        self._build()
        self._show_plan()
        self.resize(1200, 800)

    # ---- construction ---------------------------------------------------------------------------
    def _build(self) -> None:
        self._build_header()
        self._build_candidates()
        self._build_histogram()
        self._build_exclusions()
        self._build_report()
        self._build_footer()

        # The candidates across the whole width (six columns fit), the ages and the exclusions below.
        below = named(QSplitter(Qt.Orientation.Horizontal, self), "cullLowerSplitter", "Ages and exclusions")
        below.addWidget(self.chart_view)
        below.addWidget(self._exclusions_box)
        below.setSizes([620, 560])
        body = named(
            QSplitter(Qt.Orientation.Vertical, self), "cullSplitter", "Candidates, ages and exclusions"
        )
        body.addWidget(self._candidates_box)
        body.addWidget(below)
        body.setStretchFactor(0, 4)
        body.setStretchFactor(1, 3)
        body.setSizes([360, 300])
        preview = QWidget(self)
        preview_layout = QVBoxLayout(preview)
        preview_layout.setContentsMargins(0, 0, 0, 0)
        preview_layout.addWidget(body)
        self.pages = named(QStackedWidget(self), "cullPages", "Preview or report")
        self.pages.addWidget(preview)
        self.pages.addWidget(self.report_view)

        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.run_box)
        layout.addLayout(self._buttons)
        self._set_tab_order()

    def _build_header(self) -> None:
        self.header = named(QWidget(self), "cullHeader", "What the cull will do")
        self.summary = named(QLabel(self.header), "cullSummary", "What the cull will do")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.details = named(QLabel(self.header), "cullDetails", "Stage, estimated duration and cutoff")
        self.details.setWordWrap(True)
        self.plan_hash = named(QLabel(self.header), "cullPlanHash", "Plan hash")
        self.plan_hash.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.what_if_text = named(QLabel(self.header), "cullWhatIf", "What if (not the plan)")
        self.what_if_text.setWordWrap(True)
        self.what_if_text.setTextFormat(Qt.TextFormat.PlainText)
        self.what_if_text.hide()

        self.lifetime = named(QSpinBox(self.header), "cullLifetime", "What-if lifetime in days")
        self.lifetime.setRange(1, MAX_DAYS)
        self.lifetime.setSuffix(" days")
        self.lifetime.setAccessibleDescription(
            "How long an anonymous user lives after its last sign-in; moving it recounts, it does "
            "not change the plan."
        )
        self.grace = named(QSpinBox(self.header), "cullGrace", "What-if grace in days")
        self.grace.setRange(0, MAX_DAYS)
        self.grace.setSuffix(" days")
        self.grace.setAccessibleDescription("Extra time past the lifetime before a user is a candidate.")
        self.reset_button = named(
            QPushButton("Back to the plan", self.header), "cullResetWhatIf", "Back to the plan"
        )
        self.make_plan_button = named(
            QPushButton("Make this the plan", self.header), "cullMakePlan", "Make the what-if values the plan"
        )
        for button in (self.reset_button, self.make_plan_button):
            button.setAutoDefault(False)
            button.setEnabled(False)
        self.reset_button.clicked.connect(self.reset_what_if)
        self.make_plan_button.clicked.connect(self._make_plan_clicked)
        self.lifetime.valueChanged.connect(self._recount)
        self.grace.valueChanged.connect(self._recount)

        self._controls = QWidget(self.header)
        controls = QHBoxLayout(self._controls)
        controls.setContentsMargins(0, 0, 0, 0)
        what_if_label = named(QLabel("What if:", self.header), "cullWhatIfLabel", "What if")
        lifetime_label = QLabel("&Lifetime", self.header)
        lifetime_label.setBuddy(self.lifetime)
        grace_label = QLabel("&Grace", self.header)
        grace_label.setBuddy(self.grace)
        for widget in (what_if_label, lifetime_label, self.lifetime, grace_label, self.grace):
            controls.addWidget(widget)
        controls.addSpacing(12)
        controls.addWidget(self.reset_button)
        controls.addWidget(self.make_plan_button)
        controls.addStretch(1)
        details = QHBoxLayout()
        details.addWidget(self.details, 1)
        details.addWidget(self.plan_hash)

        layout = QVBoxLayout(self.header)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addLayout(details)
        layout.addWidget(self._controls)
        layout.addWidget(self.what_if_text)
        style.apply(self.header)  # the header only: a style sheet on the table slows every cell

    def _build_candidates(self) -> None:
        self._candidates_box = QWidget(self)
        self.search = named(QLineEdit(self._candidates_box), "cullSearch", "Search the candidates")
        self.search.setPlaceholderText("Search login ID or user ID")
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.apply_search)
        self.search.textChanged.connect(lambda _text: self._search_timer.start())
        self.search.returnPressed.connect(self.apply_search)
        self.candidate_count = named(QLabel(self._candidates_box), "cullCandidateCount", "Candidates shown")

        self.model = UsersModel(self.table, CANDIDATE_COLUMNS, self._candidate_filter(), self)
        self.model.set_badge_colors(*style.badge_colors(self))
        view = named(UsersTableView(self._candidates_box), "cullCandidates", "Users the plan acts on")
        self.candidates = view
        view.setModel(self.model)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        view.setAlternatingRowColors(True)
        view.setWordWrap(False)
        view.setSortingEnabled(False)  # through `sort_by`: a column's first sort off the UI thread
        vertical = view.verticalHeader()
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(view.fontMetrics().height() + 8)
        vertical.hide()
        header = view.horizontalHeader()
        header.setSectionsClickable(True)
        header.setSortIndicatorShown(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        header.setStretchLastSection(True)
        header.sectionClicked.connect(self._header_clicked)
        for section, column in enumerate(CANDIDATE_COLUMNS):
            header.resizeSection(section, _COLUMN_WIDTHS.get(column, 90))

        title = named(QLabel("Candidates", self._candidates_box), "cullCandidatesTitle", "Candidates")
        top = QHBoxLayout()
        top.addWidget(title)
        top.addStretch(1)
        top.addWidget(self.candidate_count)
        layout = QVBoxLayout(self._candidates_box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.search)
        layout.addWidget(view, 1)

    def _build_histogram(self) -> None:
        chart = QChart()
        chart.setObjectName("cullChart")
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        chart.setMargins(QMargins(4, 4, 4, 4))
        self.chart = chart
        self.delete_set = QBarSet("To delete")
        self.kept_set = QBarSet("Kept")
        self.bars = QStackedBarSeries()
        self.bars.append(self.delete_set)
        self.bars.append(self.kept_set)
        chart.addSeries(self.bars)
        self.ages_axis = QBarCategoryAxis()
        self.ages_axis.setTitleText("Last active")
        self.count_axis = QValueAxis()
        self.count_axis.setLabelFormat("%d")
        self.count_axis.setTitleText("Users")
        chart.addAxis(self.ages_axis, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(self.count_axis, Qt.AlignmentFlag.AlignLeft)
        self.bars.attachAxis(self.ages_axis)
        self.bars.attachAxis(self.count_axis)
        # The cutoff: a vertical line on a hidden value axis laid over the categories (bar i spans
        # i - 0.5 .. i + 0.5), so it can stand inside the bucket where the cutoff falls.
        self.cutoff_line = QLineSeries()
        self.cutoff_axis = QValueAxis()
        self.cutoff_axis.setVisible(False)
        chart.addSeries(self.cutoff_line)
        chart.addAxis(self.cutoff_axis, Qt.AlignmentFlag.AlignBottom)
        self.cutoff_line.attachAxis(self.cutoff_axis)
        self.cutoff_line.attachAxis(self.count_axis)
        self.chart_view = named(QChartView(chart, self), "cullHistogram", "Ages of the anonymous users")
        self.chart_view.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.chart_view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.chart_view.setMinimumHeight(240)
        self._color_chart()

    def _build_exclusions(self) -> None:
        self._exclusions_box = QWidget(self)
        tree = named(QTreeWidget(self._exclusions_box), "cullExclusions", "Users kept, and why")
        tree.setColumnCount(4)
        tree.setHeaderLabels(["Kept because", "Plan", "What if", "Why"])
        tree.setAlternatingRowColors(True)
        tree.setColumnHidden(_WHAT_IF_COUNT, True)
        header = tree.header()
        header.setStretchLastSection(True)
        header.resizeSection(_REASON, 200)
        header.resizeSection(_PLAN_COUNT, 60)
        header.resizeSection(_WHAT_IF_COUNT, 70)
        self.exclusions = tree
        # The "Why" column is too narrow for its sentences: the current reason's is shown in full.
        self.exclusion_why = named(
            QLabel(self._exclusions_box), "cullExclusionWhy", "Why these users are kept"
        )
        self.exclusion_why.setWordWrap(True)
        self.exclusion_why.setTextFormat(Qt.TextFormat.PlainText)
        self.exclusion_why.setMinimumHeight(2 * self.exclusion_why.fontMetrics().lineSpacing())
        self.exclusion_why.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        tree.currentItemChanged.connect(self._explain_exclusion)
        title = named(QLabel("Kept, and why", self._exclusions_box), "cullExclusionsTitle", "Kept, and why")
        layout = QVBoxLayout(self._exclusions_box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(title)
        layout.addWidget(tree, 1)
        layout.addWidget(self.exclusion_why)

    def _explain_exclusion(self, current: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        """The sentence of the reason the current item belongs to (a user ID: its parent's)."""
        item = (current.parent() or current) if current is not None else None
        value = item.data(_REASON, Qt.ItemDataRole.UserRole) if item is not None else None
        reason = Exclusion(value) if value else None
        text = "" if reason is None else f"{EXCLUSION_TITLES[reason]}: {reason.reason}"
        self.exclusion_why.setText(text)
        self.exclusion_why.setAccessibleDescription(text)

    def _build_report(self) -> None:
        self.report_view = named(QWidget(self), "cullReport", "What the run did")
        self.report_summary = named(QLabel(self.report_view), "cullReportSummary", "Outcome of the run")
        self.report_summary.setWordWrap(True)
        self.report_counts = named(
            QLabel(self.report_view), "cullReportCounts", "Deleted, skipped and failed"
        )
        self.report_table = named(
            QTableWidget(0, 3, self.report_view), "cullReportTable", "Skipped and failed users"
        )
        self.report_table.setHorizontalHeaderLabels(["User ID", "Outcome", "Reason or error"])
        self.report_table.verticalHeader().hide()
        self.report_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.report_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.report_table.horizontalHeader().setStretchLastSection(True)
        self.report_table.horizontalHeader().resizeSection(0, 260)
        self.report_table.horizontalHeader().resizeSection(1, 90)
        self.report_empty = named(QLabel(self.report_view), "cullReportEmpty", "Skipped and failed users")
        self.report_journal = named(QLabel(self.report_view), "cullJournal", "The run's journal")
        self.report_journal.setWordWrap(True)
        self.report_journal.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self.report_view)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.report_summary)
        layout.addWidget(self.report_counts)
        layout.addWidget(self.report_journal)
        layout.addSpacing(8)
        layout.addWidget(self.report_empty)
        layout.addWidget(self.report_table, 1)
        layout.addStretch(0)  # takes the room when there is no table (see `_show_report`)
        self._report_layout = layout
        style.apply(self.report_summary)

    def _build_footer(self) -> None:
        self.run_box = named(QWidget(self), "cullRun", "Progress of the run")
        self.progress = named(QProgressBar(self.run_box), "cullProgress", "Users handled")
        self.progress.setFormat("%v of %m")
        self.progress_text = named(QLabel(self.run_box), "cullProgressText", "Progress of the run")
        self.cancel_button = named(QPushButton("Cancel", self.run_box), "cullCancel", "Cancel the run")
        self.cancel_button.setAccessibleDescription("Finishes the batch under way, then stops.")
        self.cancel_button.setAutoDefault(False)
        self.cancel_button.clicked.connect(self.cancel_run)
        row = QHBoxLayout(self.run_box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.progress, 1)
        row.addWidget(self.progress_text, 2)
        row.addWidget(self.cancel_button)
        self.run_box.hide()

        self.status = named(QLabel(self), "cullStatus", "Status")
        self.status.setWordWrap(True)
        style.apply(self.status)
        self.export_button = named(QPushButton("Export plan…", self), "cullExport", "Export the plan")
        self.export_button.setAccessibleDescription("Saves the plan as JSON for someone else to approve.")
        self.save_report_button = named(
            QPushButton("Save report…", self), "cullSaveReport", "Save the report"
        )
        self.save_report_button.hide()
        self.close_button = named(QPushButton("Close", self), "cullClose", "Close")
        self.approve_button = named(QPushButton(self), "cullApprove", "Approve the cull")
        self.approve_button.setAccessibleDescription("Opens a confirmation; nothing is deleted before it.")
        for button in (self.export_button, self.save_report_button, self.close_button, self.approve_button):
            button.setAutoDefault(False)  # Enter in the search field must not press any of them
        self.export_button.clicked.connect(self.export_plan)
        self.save_report_button.clicked.connect(self.export_report)
        self.close_button.clicked.connect(self.reject)
        self.approve_button.clicked.connect(self.approve)
        self._buttons = QHBoxLayout()
        self._buttons.addWidget(self.export_button)
        self._buttons.addWidget(self.save_report_button)
        self._buttons.addWidget(self.status, 1)
        self._buttons.addWidget(self.close_button)
        self._buttons.addWidget(self.approve_button)

    def _set_tab_order(self) -> None:
        chain: list[QWidget] = [
            self.search,
            self.candidates,
            self.lifetime,
            self.grace,
            self.reset_button,
            self.make_plan_button,
            self.exclusions,
            self.report_table,
            self.cancel_button,
            self.export_button,
            self.save_report_button,
            self.close_button,
            self.approve_button,
        ]
        tab_chain(chain)
        self.candidates.setFocus()

    # ---- the plan -------------------------------------------------------------------------------
    def _plan_steps(self, rules: CullRules) -> Steps[tuple[CullPlan, Recounter]]:
        """`planning_steps` for `rules`, now, timed (`plan_seconds`)."""
        started = time.perf_counter()
        planned = yield from planning_steps(
            self.table, rules, now=int(self._now()), profile=self.profile, project_id=self.project_id
        )
        self.plan_seconds = time.perf_counter() - started
        log.info(
            "cull plan of %d users (%d candidates) in %.1f ms of steps",
            len(self.table),
            planned[0].count,
            self.plan_seconds * 1000,
        )
        return planned

    def _show_plan(self) -> None:
        """Everything about `self.plan`: header, candidates, exclusions, histogram, buttons."""
        plan = self.plan
        self._candidate_rows = self._rows_of(c.user_id for c in plan.candidates)
        self._removed_rows = []
        self.apply_search()
        for spin, seconds in ((self.lifetime, plan.lifetime_seconds), (self.grace, plan.grace_seconds)):
            spin.blockSignals(True)
            spin.setValue(max(spin.minimum(), round(seconds / DAY)))
            spin.blockSignals(False)
        self.summary.setText(self._sentence(plan))
        self.details.setText(
            f"Stage: {_STAGE_TEXT[plan.stage]}.   Estimated duration: "
            f"{duration_text(cull_ops.estimated_seconds(plan.count))} at Descope's rate limit.   "
            f"Cutoff: last active before {_utc(plan.cutoff)}."
        )
        digest = plan.plan_hash.removeprefix("sha256:")
        self.plan_hash.setText(f"Plan sha256:{digest[:12]}…")
        self.plan_hash.setToolTip(plan.plan_hash)
        self.plan_hash.setAccessibleDescription(plan.plan_hash)
        self._fill_exclusions(plan)
        self._recount()
        self._update_buttons()

    def _rows_of(self, user_ids: Iterable[str]) -> Rows:
        """The table rows of these users (the plan was made from this table: every one has a row;
        one that has none is left out). About 0.6 µs per user: 0.1 s for 160k candidates."""
        ids = list(user_ids)
        try:
            return np.fromiter(map(self.table.row_of, ids), np.int64, len(ids))
        except TypeError:  # a user without a row (None)
            return np.array([r for r in map(self.table.row_of, ids) if r is not None], dtype=np.int64)

    def _sentence(self, plan: CullPlan, *, ran: bool = False) -> str:
        """The plan in one sentence: how many, of what, where, why, and what happens to them
        (`ran`: the start of a sentence about the run, once it has ended)."""
        where = f"of “{plan.tenant_name}” in project {plan.project_id} (profile “{self.profile}”)"
        age = format_duration(plan.lifetime_seconds + plan.grace_seconds)
        disabled = ""
        if plan.stage is Stage.DELETE_DISABLED:
            disabled = (
                f", disabled by this console at least {format_duration(plan.disabled_for_seconds)} ago,"
            )
        outcome = "will be disabled" if plan.stage is Stage.DISABLE else "will be deleted"
        if plan.count == 0:
            return (
                f"No anonymous users {where}{disabled} were last active more than {age} ago: "
                "there is nothing to do."
            )
        were = "was" if plan.count == 1 else "were"
        noun = "anonymous user" if plan.count == 1 else "anonymous users"
        if ran:
            return (
                f"The plan to {_VERB[plan.stage]} {plan.count:,} {noun} {where}{disabled}, last active "
                f"more than {age} ago"
            )
        return (
            f"{plan.count:,} {noun} {where}{disabled} {were} last active more than {age} ago and {outcome}."
        )

    def _fill_exclusions(self, plan: CullPlan) -> None:
        tree = self.exclusions
        tree.clear()
        self._exclusion_items = {}
        for reason in Exclusion:
            ids = plan.exclusions.get(reason, ())
            item = QTreeWidgetItem([EXCLUSION_TITLES[reason], f"{len(ids):,}", "", reason.reason])
            item.setData(_REASON, Qt.ItemDataRole.UserRole, reason.value)
            item.setToolTip(_WHY, reason.reason)
            item.setToolTip(_REASON, reason.reason)
            item.setData(_REASON, Qt.ItemDataRole.AccessibleDescriptionRole, reason.reason)
            item.setTextAlignment(_PLAN_COUNT, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            item.setTextAlignment(_WHAT_IF_COUNT, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            for user_id in ids[:LISTED_PER_REASON]:
                child = QTreeWidgetItem([user_id])
                row = self.table.row_of(user_id)
                if row is not None:
                    child.setToolTip(_REASON, self.table.display(row, Column.LOGIN_IDS))
                item.addChild(child)
            if len(ids) > LISTED_PER_REASON:
                item.addChild(QTreeWidgetItem([f"and {len(ids) - LISTED_PER_REASON:,} more"]))
            tree.addTopLevelItem(item)
            self._exclusion_items[reason] = item
        listed = [item for reason, item in self._exclusion_items.items() if plan.exclusions.get(reason)]
        tree.setCurrentItem(listed[0] if listed else self._exclusion_items[Exclusion.TEST_USER])

    # ---- what-if --------------------------------------------------------------------------------
    def _what_if_seconds(self) -> tuple[int, int]:
        """The controls' lifetime and grace in seconds; a control still at the plan's (rounded)
        value stands for the plan's exact value (a lifetime need not be whole days)."""
        plan = self.plan
        values = []
        for spin, planned in ((self.lifetime, plan.lifetime_seconds), (self.grace, plan.grace_seconds)):
            shown = max(spin.minimum(), round(planned / DAY))
            values.append(planned if spin.value() == shown else spin.value() * DAY)
        return values[0], values[1]

    def set_what_if(self, lifetime_days: int, grace_days: int) -> None:
        """Move both what-if controls; the counts follow at once (one recount)."""
        for spin, days in ((self.lifetime, lifetime_days), (self.grace, grace_days)):
            spin.blockSignals(True)
            spin.setValue(days)
            spin.blockSignals(False)
        self._recount()

    def reset_what_if(self) -> None:
        """Put the what-if controls back at the plan's values."""
        for spin, seconds in (
            (self.lifetime, self.plan.lifetime_seconds),
            (self.grace, self.plan.grace_seconds),
        ):
            spin.blockSignals(True)
            spin.setValue(max(spin.minimum(), round(seconds / DAY)))
            spin.blockSignals(False)
        self._recount()

    def _recount(self, *_args: object) -> None:
        """Counts for the controls' values (a few ms); the plan itself does not change."""
        lifetime, grace = self._what_if_seconds()
        plan = self.plan
        if (lifetime, grace) == (plan.lifetime_seconds, plan.grace_seconds):
            self.what_if = None
        else:
            self.what_if = self._recounter.count(lifetime, grace)
        self._show_counts()
        self._update_buttons()
        self.recounted.emit(self.what_if)

    def _show_counts(self) -> None:
        """The numbers that follow the what-if: its line, the exclusions' column, the histogram."""
        plan, what_if = self.plan, self.what_if
        active = what_if is not None
        self.exclusions.setColumnHidden(_WHAT_IF_COUNT, not active)
        for reason, item in self._exclusion_items.items():
            planned = len(plan.exclusions.get(reason, ()))
            counted = what_if.exclusions[reason] if what_if else 0
            item.setText(_WHAT_IF_COUNT, f"{counted:,}" if what_if else "")
            item.setDisabled(not planned and not counted)  # greyed: nobody is kept for this reason
        if what_if is None:
            self.what_if_text.hide()
            self._draw_histogram(plan.buckets, plan.now - plan.cutoff, "")
            return
        kept = sum(what_if.exclusions.values())
        self.what_if_text.setText(
            f"What if (not the plan): with a lifetime of {_days(what_if.lifetime_seconds)} and a grace of "
            f"{_days(what_if.grace_seconds)}, {users_text(what_if.count)} would be "
            f"{_VERB[plan.stage]}d (the plan: {plan.count:,}) and {kept:,} kept for a reason below; "
            f"{duration_text(cull_ops.estimated_seconds(what_if.count))} at the rate limit. "
            "“Make this the plan” to act on these values."
        )
        self.what_if_text.show()
        self._draw_histogram(what_if.buckets, plan.now - what_if.cutoff, "What if: ")

    def _draw_histogram(self, buckets: Sequence[AgeBucket], cutoff_age: int, prefix: str) -> None:
        labels = [short_label(b) for b in buckets]
        if self.ages_axis.categories() != labels:
            self.ages_axis.clear()
            self.ages_axis.append(labels)
        self.delete_set.remove(0, self.delete_set.count())
        self.kept_set.remove(0, self.kept_set.count())
        self.delete_set.append([float(b.candidates) for b in buckets])
        self.kept_set.append([float(b.users - b.candidates) for b in buckets])
        self.count_axis.setRange(0, max([b.users for b in buckets] + [1]))
        self.count_axis.applyNiceNumbers()
        self.cutoff_axis.setRange(-0.5, len(buckets) - 0.5)
        x = cutoff_position(cutoff_age, buckets)
        top = self.count_axis.max()
        self.cutoff_line.replace([QPointF(x, 0), QPointF(x, top)])
        self.cutoff_line.setName(f"Cutoff: {format_duration(cutoff_age)}")
        self.chart.setTitle(f"{prefix}Users of “{self.plan.tenant_name}” by time since last activity")
        self.chart_view.setAccessibleDescription(
            "; ".join(
                f"{b.label}: {b.candidates:,} to {_VERB[self.plan.stage]}, {b.users - b.candidates:,} kept"
                for b in buckets
            )
            + f"; cutoff in “{buckets[bucket_of(cutoff_age, buckets)].label}”"
            if buckets
            else "No users"
        )

    def _color_chart(self) -> None:
        """The chart in the colours of the palette in use (light or dark), from the style sheet."""
        palette = self.palette()
        scheme = style.scheme_of(palette)
        colors = style.palette_colors(scheme)
        dark = scheme == "dark"
        self.chart.setTheme(QChart.ChartTheme.ChartThemeDark if dark else QChart.ChartTheme.ChartThemeLight)
        self.chart.setBackgroundBrush(QBrush(palette.color(QPalette.ColorRole.Window)))
        self.chart.setBackgroundRoundness(0)
        text = palette.color(QPalette.ColorRole.WindowText)
        self.chart.setTitleBrush(QBrush(text))
        self.chart.legend().setLabelColor(text)
        for axis in (self.ages_axis, self.count_axis):
            axis.setLabelsColor(text)
            axis.setTitleBrush(QBrush(text))
        for bar_set, name in ((self.delete_set, "chartDelete"), (self.kept_set, "chartKept")):
            color = QColor(colors[name])
            bar_set.setColor(color)
            bar_set.setBorderColor(color)
        pen = QPen(QColor(colors["chartCutoff"]), 2, Qt.PenStyle.DashLine)
        self.cutoff_line.setPen(pen)
        self.chart_view.setBackgroundBrush(QBrush(palette.color(QPalette.ColorRole.Window)))

    def changeEvent(self, event: QEvent) -> None:
        """Light <-> dark: the chart and the table's badges take the new palette's colours."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "chart"):
            self._color_chart()
            self.model.set_badge_colors(*style.badge_colors(self))

    def _make_plan_clicked(self) -> None:
        self._tasks.start(self.make_plan(), key="plan")

    async def make_plan(self) -> None:
        """Plan again with the what-if values: the plan (and its hash) shown and approved change.

        Planning is seconds of Python and numpy work at 500,000 users: it runs on the loop in CPU
        turns (a worker thread would hold the GIL against every paint), behind a busy progress bar.
        """
        if self.running:
            return
        lifetime, grace = self._what_if_seconds()
        rules = dataclasses.replace(self.rules, lifetime_seconds=lifetime, grace_seconds=grace)
        self._set_busy(True, "Making the plan…")
        try:
            await asyncio.sleep(PAINT_SECONDS)  # let the busy state paint first
            plan, recounter = await run_steps(self._plan_steps(rules))
        finally:
            self._set_busy(False)
        self.rules, self.plan, self._recounter = rules, plan, recounter
        self._show_plan()
        self._say(
            f"The plan now uses a lifetime of {_days(lifetime)} and a grace of {_days(grace)}: "
            f"{users_text(plan.count)}."
        )
        self.plan_changed.emit(plan)

    def _set_busy(self, busy: bool, text: str = "") -> None:
        if busy:
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
            self.progress.setRange(0, 0)
            self.progress_text.setText(text)
            self.cancel_button.hide()
            self.run_box.show()
        else:
            QApplication.restoreOverrideCursor()
            self.run_box.hide()
            self.cancel_button.show()
        self._busy = busy
        self._update_buttons()

    # ---- candidates: search and sort ------------------------------------------------------------
    def _candidate_filter(self) -> TableFilter:
        rows = self._candidate_rows
        if self._removed_rows:
            rows = np.setdiff1d(rows, np.asarray(self._removed_rows, dtype=np.int64), assume_unique=True)
        return TableFilter(text=self.search.text(), test_users="include", rows=rows)

    def apply_search(self) -> None:
        """Show the candidates (still to do) that the search matches."""
        self._search_timer.stop()
        self.model.set_filter(self._candidate_filter())
        shown = self.model.rowCount()
        left = len(self._candidate_rows) - len(self._removed_rows)
        text = users_text(left) if shown == left else f"{shown:,} of {users_text(left)}"
        self.candidate_count.setText(text)

    def _header_clicked(self, section: int) -> None:
        header = self.candidates.horizontalHeader()
        same = self.model.sort_column == self.model.columns[section]
        ascending = not same or header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
        order = Qt.SortOrder.AscendingOrder if ascending else Qt.SortOrder.DescendingOrder
        self._tasks.start(self.sort_by(section, order), key="sort")

    async def sort_by(self, section: int, order: Qt.SortOrder) -> None:
        """Sort the candidates by a column; its first sort key is computed in a worker thread
        (numpy sorts without the GIL), as the users pages do."""
        column = self.model.table_column(self.model.columns[section])
        if not self.table.sort_ready(column):
            await asyncio.to_thread(self.table.prepare_sort, column)
        self.model.sort(section, order)
        self.candidates.horizontalHeader().setSortIndicator(section, order)

    # ---- export ---------------------------------------------------------------------------------
    def export_plan(self) -> None:
        """Ask where to export the plan (JSON to approve, or CSV to read) and export it."""
        self._tasks.start(self._exported(export_dialog.export_plan(self, self.plan)), key="save")

    def export_report(self) -> None:
        """Ask where to save the run's report (JSON or CSV) and save it."""
        if self.report is not None:
            self._tasks.start(self._exported(export_dialog.export_report(self, self.report)), key="save")

    async def save_plan(self, path: Path) -> bool:
        """Write the plan to `path` (JSON or CSV by its suffix); False (and a message) when it cannot."""
        return await self._exported(export_dialog.export_plan(self, self.plan, path=path))

    async def save_report(self, path: Path) -> bool:
        """Write the report to `path` (JSON or CSV by its suffix); False (and a message) when it cannot."""
        if self.report is None:
            raise RuntimeError("There is no report before a run has ended.")
        return await self._exported(export_dialog.export_report(self, self.report, path=path))

    async def _exported(self, export: Awaitable[ExportReport | None]) -> bool:
        written = await export_dialog.told(export, self.status)
        if written is None:  # no file chosen, or cancelled: nothing written
            return False
        self.file_saved.emit(str(written.path), written.error)
        return written.ok

    def _say(self, text: str, *, error: bool = False) -> None:
        style.say(self.status, text, error=error)

    # ---- approval and the run -------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """A run is under way (from the confirmation to its report)."""
        return self._run_task is not None and not self._run_task.done()

    def approve(self) -> None:
        """Open the confirmation (window-modal); the run starts only when it is accepted."""
        if self.running or self._busy or self.plan.count == 0 or self.what_if is not None:
            return
        confirmation = CullConfirmation(self.plan, self.profile, self)
        plan, rules = self.plan, self.rules
        confirmation.accepted.connect(lambda: self._start_run(plan, rules))
        confirmation.finished.connect(confirmation.deleteLater)
        confirmation.finished.connect(self._confirmation_closed)
        self.confirmation = confirmation
        confirmation.open()

    def _confirmation_closed(self, _result: int) -> None:
        self.confirmation = None

    def _start_run(self, plan: CullPlan, rules: CullRules) -> None:
        if self.running or plan is not self.plan:
            return
        self._stop = asyncio.Event()
        self._run_task = self._tasks.start(self._run(plan, rules, self._stop), key="run")
        self._run_task.add_done_callback(lambda _task: self._update_buttons())
        self._update_buttons()

    async def _run(self, plan: CullPlan, rules: CullRules, stop: asyncio.Event) -> None:
        self.progress.setRange(0, max(plan.count, 1))
        self.progress.setValue(0)
        self.progress_text.setText("Writing the journal…")
        self.cancel_button.setText("Cancel")
        self.cancel_button.setEnabled(True)
        self.run_box.show()
        self._say("")
        project_id, profile = self.project_id, self.profile
        try:
            journal = await in_thread(lambda: Journal.create(plan, project_id=project_id, profile=profile))
        except OSError as exc:
            self.run_box.hide()
            self._say(
                f"Nothing was done: the journal could not be written ({exc.strerror or exc}).", error=True
            )
            return
        try:
            report = await cull_ops.run_plan(
                self.gateway,
                plan,
                rules,
                journal=journal,
                audit=self.audit,
                profile=profile,
                progress=self._progress,
                stop=stop,
                on_done=self._batch_done,
                now=self._now,
            )
        except BaseException:
            self.progress_text.setText(f"The run stopped unexpectedly; its journal is {journal.path}.")
            self.cancel_button.setEnabled(False)
            raise
        self.report = report
        self.run_box.hide()
        self._show_report(report)
        self.finished_run.emit(report)

    def _progress(self, done: int, total: int, text: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        stopping = self._stop is not None and self._stop.is_set()
        self.progress_text.setText(f"{text} — stopping after this batch…" if stopping else text)

    def _batch_done(self, user_ids: Sequence[str]) -> None:
        self._removed_rows.extend(self._rows_of(user_ids).tolist())
        self.apply_search()
        self.users_removed.emit(list(user_ids))

    def cancel_run(self) -> None:
        """Stop after the batch under way (a batch is never cut in the middle)."""
        if not self.running or self._stop is None or self._stop.is_set():
            return
        self._stop.set()
        self.cancel_button.setText("Stopping after this batch…")
        self.cancel_button.setEnabled(False)
        self.progress_text.setText(f"{self.progress_text.text()} — stopping after this batch…")

    def _show_report(self, report: RunReport) -> None:
        word = report.action.past
        self.report_summary.setText(report.summary())
        # A cancel is the person's choice, not a failure: neither green nor red.
        state = "ok" if report.ok else "error" if report.failed or report.stopped else "cancelled"
        style.set_state(self.report_summary, "state", state)
        self.report_counts.setText(
            f"{word.capitalize()}: {len(report.done):,}   ·   Skipped: {len(report.skipped):,}   ·   "
            f"Failed: {len(report.failed):,}"
            + ("   ·   Cancelled: the rest were left alone" if report.cancelled else "")
        )
        rows = [(u, "skipped", why) for u, why in report.skipped] + [
            (u, "failed", e) for u, e in report.failed
        ]
        shown = rows[:REPORT_ROWS]
        self.report_table.setRowCount(len(shown))
        for index, cells in enumerate(shown):
            for column, text in enumerate(cells):
                self.report_table.setItem(index, column, QTableWidgetItem(text))
        if len(rows) > len(shown):
            self.report_empty.setText(
                f"The first {len(shown):,} of {len(rows):,}; the saved report lists all."
            )
        else:
            self.report_empty.setText("" if rows else "Nothing was skipped and nothing failed.")
        self.report_table.setVisible(bool(rows))
        self._report_layout.setStretch(self._report_layout.count() - 1, 0 if rows else 1)
        self.report_journal.setText(f"Journal: {report.journal}")
        ended = "was cancelled" if report.cancelled else "stopped" if report.stopped else "has ended"
        self.summary.setText(f"{self._sentence(self.plan, ran=True)}: the run {ended}.")
        self._controls.hide()
        self.what_if_text.hide()
        self.pages.setCurrentWidget(self.report_view)
        self.save_report_button.show()
        self._update_buttons()

    def _update_buttons(self) -> None:
        plan = self.plan
        busy = self._busy
        running = self.running
        spent = self.report is not None
        what_if = self.what_if is not None
        verb = _VERB[plan.stage]
        self.approve_button.setText(f"{verb.capitalize()} {users_text(plan.count)}…")
        self.approve_button.setEnabled(
            plan.count > 0 and not what_if and not running and not busy and not spent
        )
        self.approve_button.setToolTip(
            "Back to the plan, or make the what-if the plan, to approve."
            if what_if
            else f"Asks you to confirm; nothing is {verb}d before that."
        )
        self.approve_button.setVisible(not spent)
        self.make_plan_button.setEnabled(what_if and not running and not busy and not spent)
        self.reset_button.setEnabled(what_if and not busy)
        for spin in (self.lifetime, self.grace):
            spin.setEnabled(not running and not busy and not spent)

    # ---- closing --------------------------------------------------------------------------------
    def reject(self) -> None:
        """Esc, Close or the window's close button: closes when idle; while a run is under way,
        asks whether to stop after the batch under way (the dialog stays until the run ended)."""
        if not self.running:
            super().reject()
            return
        if self._stop is not None and self._stop.is_set():
            self._say("Stopping after this batch; close the dialog once the report is shown.")
            return
        if self.stop_question is not None:
            return
        question = QMessageBox(self)
        named(question, "cullStopQuestion", "Stop the run?")
        question.setIcon(QMessageBox.Icon.Question)
        question.setWindowTitle("Stop the cull?")
        question.setText("A cull is running. Stop it after the batch under way?")
        question.setInformativeText("A batch is never cut in the middle; the report shows what was done.")
        stop = question.addButton("Stop after this batch", QMessageBox.ButtonRole.AcceptRole)
        named(stop, "cullStopConfirm", "Stop after this batch")
        keep = question.addButton("Keep running", QMessageBox.ButtonRole.RejectRole)
        named(keep, "cullKeepRunning", "Keep running")
        question.setDefaultButton(keep)
        question.setWindowModality(Qt.WindowModality.WindowModal)

        def answered(button: object) -> None:
            if button is stop:
                self.cancel_run()

        question.buttonClicked.connect(answered)
        question.finished.connect(self._question_closed)
        question.finished.connect(question.deleteLater)
        self.stop_question = question
        question.open()

    def _question_closed(self, _result: int) -> None:
        self.stop_question = None

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.running:
            event.ignore()
            self.reject()
            return
        super().closeEvent(event)

    async def aclose(self) -> None:
        """For the window's shutdown: a run stops after its batch under way (awaited); the rest of
        the dialog's work is cancelled."""
        task = self._run_task
        if task is not None and not task.done():
            self.cancel_run()
            await asyncio.gather(asyncio.shield(task), return_exceptions=True)
        await self._tasks.aclose()


def _days(seconds: int) -> str:
    """A lifetime or grace in the what-if's unit: "364 days", "0 days", "1 day", "36 hours"."""
    if seconds % DAY:
        return format_duration(seconds)
    days = seconds // DAY
    return "1 day" if days == 1 else f"{days:,} days"


def _utc(epoch_seconds: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch_seconds))
