"""How the Insights pages show a report: its chart and its table (the same figures),
and the rows of its CSV file.

::

    chart, table = coverage_view(report)      # BarChart, Table
    header = csv_header("country", columns); rows = [csv_row(r, columns) for r in ...]

A table cell shows a count and, where it is a part of something, its share ("14
(12%)"); the CSV keeps them apart (``m12``, ``m12_share``). Charts draw shares where
groups differ in size (coverage) and counts where the people themselves matter (the
lists, the funnel, careers, capabilities).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from engage.events.timefmt import to_local
from engage.i18n import N_, _
from engage.insights import capabilities, careers, coverage, funnel, lapsed
from engage.insights.charts import BarChart, bar_chart
from engage.insights.groups import DIMENSION_LABELS, Row

FUNNEL_VIEWS = {"event": N_("Event"), "embassy": N_("Embassy"), "month": N_("Month")}
STAGES = {
    "invited": N_("Invited"),
    "answered": N_("Answered"),
    "yes": N_("Yes"),
    "attended": N_("Attended"),
}
EMAIL_STATUS = {"none": N_("none"), "failing": N_("bounced"), "working": N_("working")}

# --- Tables -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A count of the report's rows, shown with its share of ``share_of`` if given."""

    key: str
    heading: str
    share_of: str | None = None


@dataclass(frozen=True)
class TableRow:
    label: str
    cells: list[str]
    href: str = ""
    #: Text cells before the counts (an event's date and embassy).
    before: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Table:
    caption: str
    group: str
    headings: list[str]
    rows: list[TableRow]
    total: TableRow | None = None
    #: Headings of the text cells before the counts.
    before: list[str] = field(default_factory=list)


def percent(value: float | None) -> str:
    """A share as a whole percentage ("—" when it has no base)."""
    return "—" if value is None else f"{value * 100:.0f}%"


def _years(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _cells(row: Row, columns: Sequence[Column]) -> list[str]:
    cells = []
    for column in columns:
        n = row.counts.get(column.key, 0)
        if column.share_of:
            cells.append(f"{n:,} ({percent(row.share(column.key, of=column.share_of))})")
        else:
            cells.append(f"{n:,}")
    return cells


def csv_header(group: str, columns: Sequence[Column], extra: Sequence[str] = ()) -> list[str]:
    header = [group, "label", *extra]
    for column in columns:
        header.append(column.key)
        if column.share_of:
            header.append(f"{column.key}_share")
    return header


def csv_row(row: Row, columns: Sequence[Column], extra: Sequence[object] = ()) -> list[object]:
    values: list[object] = [row.key, row.label, *extra]
    for column in columns:
        values.append(row.counts.get(column.key, 0))
        if column.share_of:
            values.append(row.share(column.key, of=column.share_of))
    return values


def coverage_columns(report: coverage.CoverageReport) -> list[Column]:
    columns = [Column("total", _("Alumni"))]
    columns += [
        Column(f"m{n}", _("Contacted within %(n)s months", n=n), "total") for n in coverage.WINDOWS
    ]
    columns.append(Column("never_since_training", _("Never since training"), "total"))
    return columns


def coverage_view(report: coverage.CoverageReport) -> tuple[BarChart, Table]:
    group = _(DIMENSION_LABELS[report.by])
    columns = coverage_columns(report)
    chart = bar_chart(
        chart_id="coverage-chart",
        title=_(
            "Share of alumni contacted in the last 3, 6, 12 and 24 months, by %(group)s",
            group=group.lower(),
        ),
        labels=[r.label for r in report.rows],
        series=[_("%(n)s months", n=n) for n in coverage.WINDOWS],
        values=[[r.share(f"m{n}") for n in coverage.WINDOWS] for r in report.rows],
        percent=True,
    )
    table = Table(
        caption=_(
            "Alumni contacted, by %(group)s (people and share of the group)", group=group.lower()
        ),
        group=group,
        headings=[c.heading for c in columns],
        rows=[TableRow(r.label, _cells(r, columns)) for r in report.rows],
        total=TableRow(_("All"), _cells(report.total, columns)),
    )
    return chart, table


def lapsed_columns(months: int) -> list[Column]:
    return [
        Column("total", _("Alumni")),
        Column("never_contacted", _("Never contacted"), "total"),
        Column("not_engaged", _("Not engaged for %(n)s months", n=months), "total"),
        Column("no_working_email", _("No working email"), "total"),
        Column("any", _("Any of these"), "total"),
    ]


def lapsed_view(report: lapsed.LapsedReport) -> tuple[BarChart, Table]:
    group = _(DIMENSION_LABELS[report.by])
    columns = lapsed_columns(report.months)
    chart = bar_chart(
        chart_id="lapsed-chart",
        title=_("Lapsed and lost alumni, by %(group)s", group=group.lower()),
        labels=[r.label for r in report.rows],
        series=[c.heading for c in columns[1:4]],
        values=[[float(r.counts[c.key]) for c in columns[1:4]] for r in report.rows],
    )
    table = Table(
        caption=_(
            "Lapsed and lost alumni, by %(group)s (people and share of the group)",
            group=group.lower(),
        ),
        group=group,
        headings=[c.heading for c in columns],
        rows=[TableRow(r.label, _cells(r, columns)) for r in report.rows],
        total=TableRow(_("All"), _cells(report.total, columns)),
    )
    return chart, table


def funnel_columns() -> list[Column]:
    return [
        Column("invited", _("Invited")),
        Column("answered", _("Answered"), "invited"),
        Column("yes", _("Yes"), "invited"),
        Column("attended", _("Attended"), "invited"),
        Column("no_show", _("No-show"), "yes_started"),
    ]


def funnel_view(report: funnel.FunnelReport, view: str) -> dict[str, Any]:
    columns = funnel_columns()
    stages = list(STAGES)
    overall = bar_chart(
        chart_id="funnel-chart",
        title=_("The funnel: invited, answered, yes, attended"),
        labels=[_(STAGES[s]) for s in stages],
        series=[_("People")],
        values=[[float(report.total.counts[s])] for s in stages],
    )
    rows: Sequence[Row]
    if view == "event":
        rows = report.events
        before = [_("Date"), _("Embassy")]
    elif view == "embassy":
        rows, before = report.embassies, [_("Events")]
    else:
        rows, before = report.months, [_("Events")]
    detail = bar_chart(
        chart_id="funnel-detail-chart",
        title=_(
            "Invited, answered, yes and attended, by %(view)s", view=_(FUNNEL_VIEWS[view]).lower()
        ),
        labels=[r.label for r in rows],
        series=[_(STAGES[s]) for s in stages],
        values=[[float(r.counts[s]) for s in stages] for r in rows],
    )
    table = Table(
        caption=_(
            "The funnel by %(view)s (people; shares of those invited; no-shows of the "
            "yes answers to events that have started)",
            view=_(FUNNEL_VIEWS[view]).lower(),
        ),
        group=_(FUNNEL_VIEWS[view]),
        before=before,
        headings=[c.heading for c in columns],
        rows=[
            TableRow(r.label, _cells(r, columns), href=_event_link(r), before=_before(r, view))
            for r in rows
        ],
        total=TableRow(_("All"), _cells(report.total, columns), before=_total_before(report, view)),
    )
    return {"overall": overall, "chart": detail, "table": table}


def _event_link(row: Row) -> str:
    return f"/events/{row.event_id}" if isinstance(row, funnel.EventRow) else ""


def _before(row: Row, view: str) -> list[str]:
    if isinstance(row, funnel.EventRow):
        day = to_local(row.starts_at, row.timezone).strftime("%Y-%m-%d") if row.starts_at else ""
        return [day, row.embassy]
    return [f"{row.counts.get('events', 0):,}"]


def _total_before(report: funnel.FunnelReport, view: str) -> list[str]:
    events = f"{report.total.counts.get('events', 0):,}"
    return ["", events] if view == "event" else [events]


def _career_cells(row: careers.CareerRow) -> list[str]:
    return [
        f"{row.counts['total']:,}",
        f"{row.counts['of5']:,} ({percent(row.share('of5'))})",
        _years(row.years("of5")),
        f"{row.counts['of6']:,} ({percent(row.share('of6'))})",
        _years(row.years("of6")),
    ]


def careers_view(report: careers.CareerReport) -> tuple[BarChart, Table]:
    group = _(careers.GROUPING_LABELS[report.by])
    levels = [_(careers.LEVEL_LABELS[k]) for k in careers.LEVELS]
    chart = bar_chart(
        chart_id="careers-chart",
        title=_("Alumni who reached OF-5 and OF-6 or above, by %(group)s", group=group.lower()),
        labels=[r.label for r in report.rows],
        series=levels,
        values=[[float(r.counts[k]) for k in careers.LEVELS] for r in report.rows],
    )
    table = Table(
        caption=_(
            "Career outcomes by %(group)s (people, share of the group, mean years from "
            "the end of training)",
            group=group.lower(),
        ),
        group=group,
        headings=[
            _("Alumni"),
            levels[0],
            _("Years to OF-5"),
            levels[1],
            _("Years to OF-6"),
        ],
        rows=[TableRow(r.label, _career_cells(r)) for r in report.rows],
        total=TableRow(_("All"), _career_cells(report.total)),
    )
    return chart, table


def capabilities_view(report: capabilities.CapabilityReport) -> tuple[BarChart, Table]:
    if report.tag:
        group = _(DIMENSION_LABELS[report.by])
        title = _("Alumni trained on %(tag)s, by %(group)s", tag=report.tag, group=group.lower())
    else:
        group = _("Equipment")
        title = _("Alumni trained on each equipment or weapons system")
    chart = bar_chart(
        chart_id="capabilities-chart",
        title=title,
        labels=[r.label for r in report.rows],
        series=[_("Alumni")],
        values=[[float(r.counts["total"])] for r in report.rows],
    )
    table = Table(
        caption=title,
        group=group,
        headings=[_("Alumni")],
        rows=[
            TableRow(
                r.label,
                [f"{r.counts['total']:,}"],
                href=""
                if report.tag
                else "?" + urlencode([*report.filter.query_items(), ("tag", r.key)]),
            )
            for r in report.rows
        ],
        total=TableRow(
            report.total.label if not report.tag else _("All"),
            [f"{report.total.counts['total']:,}"],
        ),
    )
    return chart, table
