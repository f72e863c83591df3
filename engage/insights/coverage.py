"""Contact coverage: how many of the alumni were contacted lately, by group.

::

    report = await contact_coverage(flt, actor=attache, by="country")
    report.total.counts     # {"total": 120, "m3": 14, "m6": 30, "m12": 54, "m24": 80,
                            #  "never_since_training": 25}
    report.total.share("m12")                        # 0.45
    for row in report.rows: row.label, row.counts

The people are the report's (``engage.insights.filters.population``: live, confirmed,
in scope); with a date range, those whose training ended in it (a graduating
cohort: one training record meeting the filter's course category and class years).
For each group:

- ``m3``, ``m6``, ``m12``, ``m24``: contacted (an invitation or newsletter delivered,
  or attendance) in the last 3, 6, 12 and 24 calendar months, read from the summary
  column ``Alumnus.last_contacted_at`` (the months as the directory's
  ``contacted_within_months`` counts them);
- ``never_since_training``: never contacted since their training ended: no contact at
  all, or the last one before the end of their latest training (of those the
  filter's category and class years select; by course category or class year, of
  the group's).

By country, region or embassy each person counts once (a region or embassy adds up
its countries). By course category or class year a person counts in each group of
their training (restricted to the filter's category and class years when given), so
those rows may add up to more than the total; the total counts each person with a
training record once. One aggregate statement either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet

from engage.accounts.actor import Actor
from engage.alumni.audience import months_before
from engage.alumni.models import Alumnus
from engage.clock import utcnow
from engage.i18n import _
from engage.insights.filters import (
    ReportFilter,
    course_join,
    population,
    training_conditions,
    training_records,
)
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
from engage.insights.sql import PEOPLE, Statement, by_country_key

#: The windows, in calendar months back from today.
WINDOWS = (3, 6, 12, 24)
NAMES = ("total", *(f"m{n}" for n in WINDOWS), "never_since_training")


def latest_ends(flt: ReportFilter) -> tuple[str, dict[str, Any]]:
    """A derived table ``(person, latest_end)``: the end of each person's latest
    training record the filter selects (one grouped pass over the records, which both
    databases join by hash or index rather than looking up person by person)."""
    where, values = training_conditions(flt)
    sql = (
        "SELECT t.alumnus_id AS person, MAX(t.end_date) AS latest_end "  # noqa: S608
        f"FROM alumni_training t {course_join(flt)} WHERE {' AND '.join(where)} "
        "GROUP BY t.alumnus_id"
    )
    return sql, values


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
        """The counts of each row."""
        return NAMES


async def coverage_people(flt: ReportFilter, *, actor: Actor) -> QuerySet[Alumnus]:
    """The report's people; with a date range, those whose training ended in it."""
    people = await population(flt, actor=actor)
    if flt.has_period:
        cohort = training_records(flt, period=True).values("alumnus_id")
        people = people.filter(id__in=Subquery(cohort))
    return people


async def contact_coverage(
    flt: ReportFilter, *, actor: Actor, by: str = "country", now: datetime | None = None
) -> CoverageReport:
    """The coverage report (attachés: their countries; 404 for an embassy not theirs)."""
    dimension = dimension_of(by)
    now = now or utcnow()
    stmt = Statement(await coverage_people(flt, actor=actor))
    values: dict[str, Any] = {f"m{n}": months_before(now, n) for n in WINDOWS}
    if dimension not in PLACE_DIMENSIONS:
        total, rows = await _by_training(stmt, flt, dimension, values)
        return CoverageReport(by=dimension, filter=flt, as_of=now, total=total, rows=rows)
    latest, more = latest_ends(flt)
    never = f"{PEOPLE}.last_contacted_at IS NULL OR {PEOPLE}.last_contacted_at < le.latest_end"
    select = ", ".join(
        [
            "COUNT(*) AS total",
            *(
                f"SUM(CASE WHEN {PEOPLE}.last_contacted_at >= :m{n} THEN 1 ELSE 0 END) AS m{n}"
                for n in WINDOWS
            ),
            f"SUM(CASE WHEN {never} THEN 1 ELSE 0 END) AS never_since_training",
        ]
    )
    country_rows = await stmt.fetch(
        f"SELECT {by_country_key()} AS key, {select} {stmt.people_from} "
        f"LEFT JOIN ({latest}) le ON le.person = {PEOPLE}.id "
        f"WHERE {stmt.people_where} GROUP BY {by_country_key()}",
        **values,
        **more,
    )
    counts = {str(r["key"]): _ints(r) for r in country_rows}
    total = Row("", _("All alumni in the report"), add_up(counts.values(), NAMES))
    rows = await by_country(counts, by=dimension, actor=actor, names=NAMES)
    return CoverageReport(by=dimension, filter=flt, as_of=now, total=total, rows=rows)


async def _by_training(
    stmt: Statement, flt: ReportFilter, dimension: Dimension, values: dict[str, Any]
) -> tuple[Row, list[Row]]:
    """The total and the rows by course category or class year, in one statement: each
    person's records grouped per group first (``pairs``), then added up by group, and
    by person for the total (everyone with a training record, once; never contacted
    since training if so since one group's)."""
    key = "c.category" if dimension == "course_category" else "t.class_year"
    where, more = training_conditions(flt)
    course = (
        "JOIN alumni_course c ON c.id = t.course_id" if key == "c.category" else course_join(flt)
    )
    flags = [
        *(
            f"MAX(CASE WHEN {PEOPLE}.last_contacted_at >= :m{n} THEN 1 ELSE 0 END) AS m{n}"
            for n in WINDOWS
        ),
        f"MAX(CASE WHEN {PEOPLE}.last_contacted_at IS NULL OR {PEOPLE}.last_contacted_at "
        "< t.end_date THEN 1 ELSE 0 END) AS never_since_training",
    ]
    pairs = (
        f"SELECT {key} AS key, {PEOPLE}.id AS person, {', '.join(flags)} "
        f"{stmt.people_from} JOIN alumni_training t ON t.alumnus_id = {PEOPLE}.id {course} "
        f"WHERE {stmt.people_where} AND {' AND '.join(where)} GROUP BY {key}, {PEOPLE}.id"
    )
    flagged = NAMES[1:]
    sums = ", ".join(f"SUM(g.{name}) AS {name}" for name in flagged)
    people = ", ".join(f"MAX(g.{name}) AS {name}" for name in flagged)
    rows = await stmt.fetch(
        f"WITH pairs AS ({pairs}) "  # noqa: S608
        f"SELECT 0 AS everyone, g.key AS key, COUNT(*) AS total, {sums} "
        "FROM pairs g GROUP BY g.key UNION ALL "
        f"SELECT 1 AS everyone, NULL AS key, COUNT(*) AS total, {sums} "
        f"FROM (SELECT g.person AS person, {people} FROM pairs g GROUP BY g.person) g",
        **{**values, **more},
    )
    label = category_label if dimension == "course_category" else year_label
    total = next(
        (Row("", _("All alumni in the report"), _ints(r)) for r in rows if r["everyone"]),
        Row("", _("All alumni in the report"), dict.fromkeys(NAMES, 0)),
    )
    found = [
        Row("" if r["key"] is None else str(r["key"]), label(r["key"]), _ints(r))
        for r in rows
        if not r["everyone"]
    ]
    if dimension == "class_year":
        return total, sorted(found, key=lambda r: (r.key == "", -int(r.key or 0)))
    return total, sorted(found, key=lambda r: (-r.counts["total"], r.label))


def _ints(row: dict[str, Any]) -> dict[str, int]:
    return {name: int(row.get(name) or 0) for name in NAMES}
