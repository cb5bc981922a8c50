"""The Lifecycle page: anonymous -> converted -> culled per month, the anonymous users' ages with the
cull's cutoff, expirations coming up per week, and the monthly active users by kind with the
anonymous share (what Descope bills: the KB notes anonymous users count as monthly active users).

The figures are `core.lifecycle`'s; this page only draws them (QtCharts), so a chart shows exactly
what core computed. They are computed in CPU turns on the loop (`lifecycle_steps`, ~1 ms a step),
never in one block that would stall the window. A click on a bar of the ages or the expirations
(or Left/Right and Enter on a focused chart) asks for its users: `filter_requested(BarFilter)`,
which the window hands to the Anonymous view.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Generator, Sequence
from datetime import UTC, datetime

from PySide6.QtCharts import (
    QAbstractBarSeries,
    QBarCategoryAxis,
    QBarSeries,
    QBarSet,
    QChart,
    QChartView,
    QLineSeries,
    QStackedBarSeries,
    QValueAxis,
)
from PySide6.QtCore import QEvent, QMargins, QPointF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QKeyEvent, QPainter, QPalette, QPen
from PySide6.QtWidgets import QGridLayout, QLabel, QStackedWidget, QVBoxLayout, QWidget

from anonconsole.core.classify import format_duration
from anonconsole.core.lifecycle import (
    BarFilter,
    Lifecycle,
    LoggedChange,
    Options,
    Period,
    age_filter,
    expiry_filter,
    lifecycle_steps,
)
from anonconsole.core.user_table import UserTable
from anonconsole.operations.audit_log import AuditLog
from anonconsole.runtime.cpu_turns import run_steps
from anonconsole.runtime.tasks import TaskOwner, in_thread
from anonconsole.views import style
from anonconsole.views.cull_dialog import cutoff_position, short_label
from anonconsole.views.widgets import named, tab_chain

NO_USERS_TEXT = (
    "No users loaded.\n\nThe lifecycle of a project's anonymous users shows here once its users are "
    "loaded: connect with File → Connect… (Ctrl+Shift+O)."
)
CHART_MIN_HEIGHT = 250
CLICK_HINT = "Click a bar (or choose one with ← → and press Enter) to show its users in the Anonymous view."


def month_label(period: Period, index: int) -> str:
    """ "Jun" over "2023" for the first month and each January, "Jul" for the others: narrow enough
    for twelve bars, unambiguous. (Axis labels are rich text: <br> breaks the line.)"""
    start = datetime.fromtimestamp(period.start, UTC)
    return f"{start:%b}<br>{start:%Y}" if index == 0 or start.month == 1 else f"{start:%b}"


def week_label(period: Period, index: int) -> str:
    """ "This week", then the weeks by their Monday: "May" over "20"."""
    monday = datetime.fromisoformat(period.label)
    return "This<br>week" if index == 0 else f"{monday:%b}<br>{monday.day}"


def with_total(label: str, total: int) -> str:
    """A stacked bar's category under its total (the segments are too small for numbers)."""
    return f"<b>{total:,}</b><br>{label}"


def plain(label: str) -> str:
    """An axis label as words (for descriptions and tooltips)."""
    return " ".join(re.sub(r"<[^>]+>", " ", label).split())


def month_name(period: Period) -> str:
    return f"{datetime.fromtimestamp(period.start, UTC):%B %Y}"


class BarChart(QChartView):
    """Bars over categories, grouped or stacked, with an optional vertical marker line; when
    `clickable`, a bar is activated by a click, or chosen with Left/Right and activated with
    Enter or Space (the chart takes focus).

    Signals:
        bar_activated(int): the category of the bar clicked or activated.
    """

    bar_activated = Signal(int)

    def __init__(
        self,
        name: str,
        accessible: str,
        sets: Sequence[tuple[str, str]],
        *,
        stacked: bool,
        clickable: bool,
        parent: QWidget | None = None,
    ) -> None:
        chart = QChart()
        chart.setMargins(QMargins(4, 4, 4, 4))
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        chart.setBackgroundRoundness(0)
        super().__init__(chart, parent)
        named(self, name, accessible)
        self.chart_ = chart
        self.clickable = clickable
        self.current = -1  # the bar chosen with the keyboard
        self._describe: Callable[[int], str] = str
        self.series: QAbstractBarSeries = QStackedBarSeries() if stacked else QBarSeries()
        self.bar_sets: list[QBarSet] = []
        self.colors: list[str] = []  # the palette entry of each set
        for label, color in sets:
            bar_set = QBarSet(label)
            self.series.append(bar_set)
            self.bar_sets.append(bar_set)
            self.colors.append(color)
        if not stacked:  # a stacked bar's segments are too small for their numbers: hover them
            self.series.setLabelsVisible(True)
            self.series.setLabelsPosition(QAbstractBarSeries.LabelsPosition.LabelsOutsideEnd)
            self.series.setLabelsFormat("@value")
        chart.addSeries(self.series)
        self.categories = QBarCategoryAxis()
        self.counts = QValueAxis(labelFormat="%d")
        self.counts.setTitleText("Users")
        # A marker (the cutoff): a vertical line on a hidden value axis laid over the categories,
        # bar i spanning i - 0.5 .. i + 0.5, so it can stand inside a bar's category.
        self.marker = QLineSeries()
        self.marker_axis = QValueAxis()
        self.marker_axis.setVisible(False)
        chart.addSeries(self.marker)
        bottom, left = Qt.AlignmentFlag.AlignBottom, Qt.AlignmentFlag.AlignLeft
        for axis, side in ((self.categories, bottom), (self.counts, left), (self.marker_axis, bottom)):
            chart.addAxis(axis, side)
        for series, axis in (
            (self.series, self.categories),
            (self.series, self.counts),
            (self.marker, self.marker_axis),
            (self.marker, self.counts),
        ):
            series.attachAxis(axis)
        self.marker.setVisible(False)
        chart.legend().markers(self.marker)[0].setVisible(False)

        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setMinimumHeight(CHART_MIN_HEIGHT)
        self.series.hovered.connect(self._hovered)
        if clickable:
            self.series.clicked.connect(lambda index, _set: self.bar_activated.emit(index))
            self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            self.setCursor(Qt.CursorShape.PointingHandCursor)
        else:
            self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.recolor()

    def set_bars(
        self,
        title: str,
        labels: Sequence[str],
        values: Sequence[Sequence[int]],
        describe: Callable[[int], str],
    ) -> None:
        """One list of values per bar set, one value per category; `describe(i)` says category i
        in words (its tooltip, and the chart's accessible description)."""
        self.chart_.setTitle(title)
        self._describe = describe
        centred = [f"<center>{label}</center>" for label in labels]
        if self.categories.categories() != centred:
            self.categories.clear()
            self.categories.append(centred)
        for bar_set, numbers in zip(self.bar_sets, values, strict=True):
            bar_set.remove(0, bar_set.count())
            bar_set.append([float(n) for n in numbers])
        stacks = [sum(column) for column in zip(*values, strict=True)] if self._stacked else []
        top = max(stacks or [max(numbers, default=0) for numbers in values] or [0])
        self.counts.setRange(0, max(top * 1.12, 1))  # room above the highest bar for its number
        self.counts.applyNiceNumbers()
        self.marker_axis.setRange(-0.5, len(labels) - 0.5)
        self.current = min(self.current, len(labels) - 1)
        self._select(self.current)
        text = "; ".join(describe(i) for i in range(len(labels)))
        self.setAccessibleDescription(f"{title}. {text}" if text else title)

    @property
    def _stacked(self) -> bool:
        return isinstance(self.series, QStackedBarSeries)

    def set_marker(self, x: float | None, name: str = "") -> None:
        """The vertical line at category position `x` (None: no line)."""
        self.marker.setVisible(x is not None)
        self.chart_.legend().markers(self.marker)[0].setVisible(x is not None)
        if x is None:
            self.marker.clear()
            return
        self.marker.replace([QPointF(x, 0), QPointF(x, self.counts.max())])
        self.marker.setName(name)

    def values(self) -> dict[str, list[int]]:
        """The bars as drawn: per bar set's label, its values (what the tests compare with core)."""
        return {s.label(): [round(s.at(i)) for i in range(s.count())] for s in self.bar_sets}

    def bar_center(self, index: int) -> QPointF:
        """Where bar `index` is in the viewport (its lowest non-empty segment's middle)."""
        value = next((s.at(index) for s in self.bar_sets if s.at(index) > 0), 0.0)
        point = self.chart_.mapToPosition(QPointF(index, value / 2), self.series)
        return QPointF(self.mapFromScene(self.chart_.mapToScene(point)))

    def recolor(self) -> None:
        """The chart in the colours of the palette in use (light or dark), from the style sheet."""
        palette = self.palette()
        scheme = style.scheme_of(palette)
        colors = style.palette_colors(scheme)
        dark = scheme == "dark"
        chart = self.chart_
        chart.setTheme(QChart.ChartTheme.ChartThemeDark if dark else QChart.ChartTheme.ChartThemeLight)
        background = QBrush(palette.color(QPalette.ColorRole.Window))
        chart.setBackgroundBrush(background)
        self.setBackgroundBrush(background)
        text = palette.color(QPalette.ColorRole.WindowText)
        title_font = QFont(self.font())
        title_font.setBold(True)
        chart.setTitleFont(title_font)
        chart.setTitleBrush(QBrush(text))
        chart.legend().setLabelColor(text)
        grid = palette.color(QPalette.ColorRole.WindowText)
        grid.setAlpha(40)  # the dark theme's grid is as bright as the bars otherwise
        for axis in (self.categories, self.counts):
            axis.setLabelsColor(text)
            axis.setTitleBrush(QBrush(text))
            axis.setGridLineColor(grid)
            axis.setLinePenColor(grid)
        for bar_set, name in zip(self.bar_sets, self.colors, strict=True):
            color = QColor(colors[name])
            bar_set.setColor(color)
            bar_set.setBorderColor(color)
            bar_set.setLabelColor(text)
            label_font = QFont(self.font())
            label_font.setPointSizeF(label_font.pointSizeF() * 0.9)
            bar_set.setLabelFont(label_font)
            bar_set.setSelectedColor(palette.color(QPalette.ColorRole.Highlight))
        self.marker.setPen(QPen(QColor(colors["chartCutoff"]), 2, Qt.PenStyle.DashLine))

    def _hovered(self, status: bool, index: int, _set: QBarSet) -> None:
        self.setToolTip(self._describe(index) if status else "")

    def _select(self, index: int) -> None:
        for bar_set in self.bar_sets:
            bar_set.deselectAllBars()
            if index >= 0:
                bar_set.selectBar(index)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Left/Right choose a bar (its description becomes the accessible one), Enter or Space
        activates it."""
        count = self.categories.count()
        key = event.key()
        if not self.clickable or not count:
            super().keyPressEvent(event)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            step = 1 if key == Qt.Key.Key_Right else -1
            self.current = (self.current + step) % count if self.current >= 0 else 0
            self._select(self.current)
            self.setAccessibleDescription(self._describe(self.current))
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space) and self.current >= 0:
            self.bar_activated.emit(self.current)
        else:
            super().keyPressEvent(event)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self.recolor()


class LifecyclePage(QWidget):
    """The four lifecycle pictures of one connection's users.

    Attributes:
        picture: the figures shown (None: nothing loaded).
        options: what the pictures span and which audit actions count (`core.lifecycle.Options`).
        funnel_chart, ages_chart, expirations_chart, active_chart: the charts.

    Signals:
        filter_requested(object): a `core.lifecycle.BarFilter`: the anonymous users of a bar that
            was clicked (ages or expirations), for the Anonymous view to show.
        shown(object): the `Lifecycle` just drawn.
    """

    filter_requested = Signal(object)
    shown = Signal(object)

    def __init__(self, parent: QWidget | None = None, *, options: Options | None = None) -> None:
        super().__init__(parent)
        named(self, "lifecyclePage", "Lifecycle page")
        self.options = options or Options()
        self.picture: Lifecycle | None = None
        self._tasks = TaskOwner("lifecycle page")

        title = named(QLabel("Lifecycle", self), "lifecycleTitle", "Lifecycle")
        title.setProperty("role", "pageTitle")
        self.share = named(QLabel(self), "lifecycleShare", "Anonymous share of this month's active users")
        self.summary = named(QLabel(self), "lifecycleSummary", "Users, anonymous users and expiries")
        for label in (self.share, self.summary):
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.funnel_chart = BarChart(
            "lifecycleFunnel",
            "Anonymous users created, converted and culled per month",
            (
                ("Created (anonymous)", "chartAnonymous"),
                ("Converted", "chartRegular"),
                ("Culled", "chartDelete"),
            ),
            stacked=False,
            clickable=False,
        )
        self.ages_chart = BarChart(
            "lifecycleAges",
            "Anonymous users by time since their last activity",
            (("Past the cutoff", "chartDelete"), ("Within the lifetime", "chartKept")),
            stacked=True,
            clickable=True,
        )
        self.expirations_chart = BarChart(
            "lifecycleExpirations",
            "Anonymous users expiring per week",
            (("Expiring", "chartExpiring"),),
            stacked=False,
            clickable=True,
        )
        self.active_chart = BarChart(
            "lifecycleActive",
            "Monthly active users by kind",
            (
                ("Anonymous", "chartAnonymous"),
                ("Regular", "chartRegular"),
                ("Needs attention", "chartAttention"),
            ),
            stacked=True,
            clickable=False,
        )
        self.ages_chart.bar_activated.connect(self._ages_clicked)
        self.expirations_chart.bar_activated.connect(self._expirations_clicked)
        self.notes: dict[str, QLabel] = {}
        grid = QGridLayout()
        charts = (self.funnel_chart, self.ages_chart, self.expirations_chart, self.active_chart)
        for position, chart in enumerate(charts):
            note = named(QLabel(self), f"{chart.objectName()}Note", f"About: {chart.accessibleName()}")
            note.setWordWrap(True)
            note.setTextFormat(Qt.TextFormat.PlainText)
            self.notes[chart.objectName()] = note
            cell = QVBoxLayout()
            cell.addWidget(chart, 1)
            cell.addWidget(note)
            grid.addLayout(cell, position // 2, position % 2)

        charts_page = QWidget(self)
        charts_layout = QVBoxLayout(charts_page)
        charts_layout.setContentsMargins(0, 0, 0, 0)
        charts_layout.addWidget(self.share)
        charts_layout.addWidget(self.summary)
        charts_layout.addLayout(grid, 1)
        self.empty = named(QLabel(NO_USERS_TEXT, self), "lifecycleEmptyState", "No users loaded")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.pages = named(QStackedWidget(self), "lifecyclePages", "Lifecycle pictures or empty state")
        self.pages.addWidget(charts_page)
        self.pages.addWidget(self.empty)
        self.pages.setCurrentWidget(self.empty)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(title)
        layout.addWidget(self.pages, 1)
        tab_chain([self.ages_chart, self.expirations_chart])
        style.apply(title)
        style.apply(self.share)

    # ---- data -----------------------------------------------------------------------------------
    def show_table(
        self, table: UserTable, entries: Sequence[LoggedChange], now: int | None = None
    ) -> asyncio.Task[Lifecycle]:
        """Compute the pictures of `table` and the log's `entries` at `now` (default: the clock) in
        CPU turns, then draw them; a computation still running for an earlier call is dropped."""
        moment = int(time.time()) if now is None else now
        return self._tasks.start(self._compute_and_show(table, entries, moment), key="compute")

    async def show_from_log(
        self, table: UserTable, audit: AuditLog, profile: str, now: int | None = None
    ) -> Lifecycle:
        """`show_table` with the entries of `audit` written for `profile` (read off the UI thread)."""
        entries = await in_thread(lambda: [entry for entry in audit.entries() if entry.profile == profile])
        return await self.show_table(table, entries, now)

    async def _compute_and_show(
        self, table: UserTable, entries: Sequence[LoggedChange], now: int
    ) -> Lifecycle:
        picture = await run_steps(lifecycle_steps(table, entries, now=now, options=self.options))
        await run_steps(self._drawing(picture))  # a chart a turn: ~10 ms each at 1,000,000 users
        return picture

    def clear(self, text: str = NO_USERS_TEXT) -> None:
        """Nothing to show (no connection, or its users are gone): the empty state says `text`."""
        self._tasks.cancel("compute")
        self._show_empty(text)

    def _show_empty(self, text: str) -> None:
        self.picture = None
        self.empty.setText(text)
        self.empty.setAccessibleName(text.split("\n")[0])
        self.pages.setCurrentWidget(self.empty)

    async def aclose(self) -> None:
        """Stop a computation under way and wait for its end."""
        await self._tasks.aclose()

    # ---- drawing --------------------------------------------------------------------------------
    def show_lifecycle(self, picture: Lifecycle) -> None:
        """Draw `picture` (the empty state when it has no users)."""
        for _step in self._drawing(picture):
            pass

    def _drawing(self, picture: Lifecycle) -> Generator[None, None, None]:
        """`show_lifecycle` as steps, a chart each."""
        if not picture.users:
            self._show_empty(NO_USERS_TEXT)
            self.shown.emit(picture)
            return
        self.picture = picture
        self._show_header(picture)
        for draw in (self._show_funnel, self._show_ages, self._show_expirations, self._show_active):
            yield
            draw(picture)
        self.pages.setCurrentIndex(0)
        self.shown.emit(picture)

    def _show_header(self, picture: Lifecycle) -> None:
        active = picture.active
        self.share.setText(f"{month_name(active.months[-1])} so far — {active.share_text()}")
        ages, expirations = picture.ages, picture.expirations
        parts = [f"{picture.users:,} users, {picture.anonymous:,} of them anonymous"]
        if ages.cutoff_age is not None:
            parts.append(f"{ages.past_cutoff:,} anonymous users past the cull's cutoff")
            parts.append(f"{expirations.overdue:,} expired and not culled yet")
        self.summary.setText("; ".join(parts) + ".")

    def _show_funnel(self, picture: Lifecycle) -> None:
        funnel = picture.funnel
        self._show_months(
            self.funnel_chart,
            "Anonymous → converted → culled, per month",
            funnel.months,
            {"created": funnel.created, "converted": funnel.converted, "culled": funnel.culled},
            totals=False,
        )
        actions = ", ".join(f"{prefix}*" for prefix in funnel.converted_actions + funnel.culled_actions)
        note = (
            "Created: anonymous users created that month that are anonymous now or were converted or "
            f"culled since (users deleted before this load are not counted). Converted and culled: "
            f"from this console's audit log ({actions})."
        )
        if funnel.unreadable:
            note += f" {funnel.unreadable:,} entries with an unreadable time were left out."
        self.notes["lifecycleFunnel"].setText(note)

    @staticmethod
    def _show_months(
        chart: BarChart,
        title: str,
        months: Sequence[Period],
        counts: dict[str, tuple[int, ...]],
        *,
        totals: bool,
    ) -> None:
        """A chart of one bar (or stack) a month; `counts` by what they count ("created": ...), in
        the order of the chart's bar sets; `totals`: each stack's total over its month."""

        def total(i: int) -> int:
            return sum(values[i] for values in counts.values())

        def describe(i: int) -> str:
            parts = ", ".join(f"{values[i]:,} {words}" for words, values in counts.items())
            return f"{month_name(months[i])}: {f'{total(i):,} active — ' if totals else ''}{parts}"

        labels = [month_label(m, i) for i, m in enumerate(months)]
        if totals:
            labels = [with_total(label, total(i)) for i, label in enumerate(labels)]
        chart.set_bars(title, labels, tuple(counts.values()), describe)

    def _show_ages(self, picture: Lifecycle) -> None:
        ages = picture.ages
        buckets = ages.buckets

        def describe(i: int) -> str:
            b = buckets[i]
            return f"{b.label}: {b.users:,} users, {b.candidates:,} of them past the cutoff"

        self.ages_chart.set_bars(
            "Anonymous users by time since their last activity",
            [with_total(short_label(b), b.users) for b in buckets],
            ([b.candidates for b in buckets], [b.users - b.candidates for b in buckets]),
            describe,
        )
        if ages.cutoff_age is None:
            self.ages_chart.set_marker(None)
            note = "The anonymous tenant has no custom session lifetime, so there is no cutoff to draw."
        else:
            self.ages_chart.set_marker(
                cutoff_position(ages.cutoff_age, buckets), f"Cutoff: {format_duration(ages.cutoff_age)}"
            )
            note = (
                f"{ages.past_cutoff:,} of {ages.total:,} anonymous users were last active before the cutoff "
                "(lifetime + grace): a cull would delete them, unless its preview lists a reason to keep one."
            )
        self.notes["lifecycleAges"].setText(f"{note} {CLICK_HINT}")

    def _show_expirations(self, picture: Lifecycle) -> None:
        expirations = picture.expirations
        weeks = expirations.weeks

        def describe(i: int) -> str:
            when = "this week" if i == 0 else f"in the week of {plain(week_label(weeks[i], i))}"
            return f"{expirations.counts[i]:,} expiring {when}"

        self.expirations_chart.set_bars(
            f"Expirations in the next {len(weeks)} weeks",
            [week_label(w, i) for i, w in enumerate(weeks)],
            (expirations.counts,),
            describe,
        )
        if expirations.known:
            note = (
                f"Expired already, waiting for a cull: {expirations.overdue:,}. After these "
                f"{len(weeks)} weeks: {expirations.later:,}. {CLICK_HINT}"
            )
        else:
            note = "The anonymous tenant has no custom session lifetime, so no expiry can be computed."
        self.notes["lifecycleExpirations"].setText(note)

    def _show_active(self, picture: Lifecycle) -> None:
        active = picture.active
        months = active.months
        self._show_months(
            self.active_chart,
            "Monthly active users (by last sign-in)",
            months,
            {"anonymous": active.anonymous, "regular": active.regular, "needing attention": active.attention},
            totals=True,
        )
        note = f"{month_name(months[-1])} so far: {active.share_text()}."
        if len(months) > 1:
            note += f" {month_name(months[-2])}: {active.share_text(-2)}."
        note += (
            " Descope counts anonymous users as monthly active users. A past month counts the users "
            "whose last sign-in fell in it (those who came back later count in a later month); "
            "test users are left out."
        )
        self.notes["lifecycleActive"].setText(note)

    # ---- bars clicked ---------------------------------------------------------------------------
    def _ages_clicked(self, index: int) -> None:
        if self.picture is not None:
            self._request(age_filter(self.picture.ages, index))

    def _expirations_clicked(self, index: int) -> None:
        if self.picture is not None and self.picture.expirations.known:
            self._request(expiry_filter(self.picture.expirations, index))

    def _request(self, wanted: BarFilter) -> None:
        self.filter_requested.emit(wanted)
