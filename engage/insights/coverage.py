"""Contact coverage: how many of the alumni were contacted lately, by group.

::

    report = await contact_coverage(flt, actor=attache, by="country")
    report.total.counts     # {"total": 120, "m3": 14, "m6": 30, "m12": 54, "m24": 80,
                            #  "never_since_training": 25, "period": 41}
    report.total.share("m12")                        # 0.45
    for row in report.rows: row.label, row.counts

The people are the report's (``engage.insights.filters.population``: live, confirmed,
in scope). For each group:

- ``m3``, ``m6``, ``m12``, ``m24``: contacted (an invitation or newsletter delivered,
  or attendance) in the last 3, 6, 12 and 24 calendar months, read from the summary
  column ``Alumnus.last_contacted_at`` (the months as the directory's
  ``contacted_within_months`` counts them);
- ``never_since_training``: never contacted since their training ended: no contact at
  all, or the last one before the end of their latest training;
- ``period`` (only with a date range): contacted at least once in the period, read
  from the engagement lines (``Engagement``, kinds that count as contact).

By country, region or embassy each person counts once (a region or embassy adds up
its countries). By course category or class year a person counts in each group of
their training (restricted to the filter's category and class years when given), so
those rows may add up to more than the total; the total counts each person once.
One aggregate query by country, and one more for a training grouping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engage.accounts.actor import Actor
from engage.alumni.audience import months_before
from engage.alumni.engagement import CONTACTED
from engage.clock import utcnow
from engage.i18n import _
from engage.insights.filters import ReportFilter, population, training_conditions
from engage.insights.groups import (
    PLACE_DIMENSIONS,
    Dimension,
    Row,
    add_up,
    by_country,
    category_label,
    dimension_of,
    year_label,
)
from engage.insights.sql import Statement

#: The windows, in calendar months back from today.
WINDOWS = (3, 6, 12, 24)
NAMES = ("total", *(f"m{n}" for n in WINDOWS), "never_since_training", "period")


@dataclass(frozen=True)
class CoverageReport:
    by: Dimension
    filter: ReportFilter
    as_of: datetime
    #: Everyone the report counts, each once.
    total: Row
    rows: list[Row]

    @property
    def names(self) -> tuple[str, ...]:
        """The counts shown: ``period`` only with a date range."""
        return NAMES if self.filter.has_period else NAMES[:-1]


async def contact_coverage(
    flt: ReportFilter, *, actor: Actor, by: str = "country", now: datetime | None = None
) -> CoverageReport:
    """The coverage report (attachés: their countries; 404 for an embassy not theirs)."""
    dimension = dimension_of(by)
    now = now or utcnow()
    stmt = Statement(await population(flt, actor=actor))
    select, values = _counts(stmt, flt, now)
    country_rows = await stmt.fetch(
        f"SELECT a.country_id AS key, {select} FROM alumni_alumnus a "  # noqa: S608
        "WHERE a.id IN (SELECT id FROM pop) GROUP BY a.country_id",
        **values,
    )
    counts = {str(r["key"]): _ints(r) for r in country_rows}
    total = Row("", _("All alumni in the report"), add_up(counts.values(), NAMES))
    if dimension in PLACE_DIMENSIONS:
        rows = await by_country(counts, by=dimension, actor=actor, names=NAMES)
    else:
        rows = await _by_training(stmt, flt, dimension, select, values)
    return CoverageReport(by=dimension, filter=flt, as_of=now, total=total, rows=rows)


def _counts(stmt: Statement, flt: ReportFilter, now: datetime) -> tuple[str, dict[str, object]]:
    """The aggregate columns over people ``a`` and their values."""
    values: dict[str, object] = {f"m{n}": months_before(now, n) for n in WINDOWS}
    parts = ["COUNT(*) AS total"]
    parts += [
        f"SUM(CASE WHEN a.last_contacted_at >= :m{n} THEN 1 ELSE 0 END) AS m{n}" for n in WINDOWS
    ]
    parts.append(
        "SUM(CASE WHEN a.last_contacted_at IS NULL OR a.last_contacted_at < "
        "(SELECT MAX(t.end_date) FROM alumni_training t WHERE t.alumnus_id = a.id) "
        "THEN 1 ELSE 0 END) AS never_since_training"
    )
    if flt.has_period:
        start, end = flt.period
        lines = ["e.kind IN (:contact_kinds)"]
        values["contact_kinds"] = sorted(str(k.value) for k in CONTACTED)
        if start is not None:
            lines.append("e.at >= :period_start")
            values["period_start"] = start
        if end is not None:
            lines.append("e.at < :period_end")
            values["period_end"] = end
        contacted = f"SELECT e.alumnus_id FROM alumni_engagement e WHERE {' AND '.join(lines)}"  # noqa: S608
        parts.append(f"SUM(CASE WHEN a.id IN ({contacted}) THEN 1 ELSE 0 END) AS period")
    else:
        parts.append("0 AS period")
    return ", ".join(parts), values


async def _by_training(
    stmt: Statement,
    flt: ReportFilter,
    dimension: Dimension,
    select: str,
    values: dict[str, object],
) -> list[Row]:
    """Rows by course category or class year: each person once per group of theirs."""
    key = "c.category" if dimension == "course_category" else "t.class_year"
    groups, more = training_groups(flt, key)
    rows = await stmt.fetch(
        f"SELECT g.key AS key, {select} FROM alumni_alumnus a "  # noqa: S608
        f"JOIN ({groups}) g ON g.alumnus_id = a.id GROUP BY g.key",
        **{**values, **more},
    )
    label = category_label if dimension == "course_category" else year_label
    found = [
        Row("" if r["key"] is None else str(r["key"]), label(r["key"]), _ints(r)) for r in rows
    ]
    if dimension == "class_year":
        return sorted(found, key=lambda r: (r.key == "", -int(r.key or 0)))
    return sorted(found, key=lambda r: (-r.counts["total"], r.label))


def training_groups(flt: ReportFilter, key: str) -> tuple[str, dict[str, Any]]:
    """A subquery of (alumnus_id, key) pairs, one per person and group, over the
    training records the filter's training criteria select (``t``, ``c``)."""
    where, values = training_conditions(flt)
    sql = (
        f"SELECT DISTINCT t.alumnus_id AS alumnus_id, {key} AS key FROM alumni_training t "  # noqa: S608
        f"JOIN alumni_course c ON c.id = t.course_id WHERE {' AND '.join(where)}"
    )
    return sql, values


def _ints(row: dict[str, Any]) -> dict[str, int]:
    return {name: int(row.get(name) or 0) for name in NAMES}
