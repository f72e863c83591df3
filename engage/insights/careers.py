"""Career outcomes: who reached colonel (OF-5) and general (OF-6 or above)
equivalents, by country or course, and how many years after their training.

::

    report = await career_outcomes(flt, actor=staff, by="course")
    row.counts    # {"total": 40, "of5": 9, "of5_after": 8, "of5_days": 29220, "of6": 2, ...}
    row.years("of5")                      # 10.0: mean years from training end to OF-5
    page = await recently_promoted(flt, actor=attache)   # a new rank in 12 months,
                                                         # not engaged for 18

Reaching a grade level is the first career entry at that level or above
(``CareerEntry.grade``, NATO grades of ``engage.alumni.grades``): a general who was
never recorded as a colonel reached OF-5 too, on the day they reached OF-6. With a
date range, only promotions dated in it count. ``of5_after`` counts those promoted
on or after the end of their training (``of5_days`` adds up the days between, for the
mean); promotions before the training are counted in ``of5`` only.

By country (region, embassy) the training is the person's first (the earliest end
among the records the filter's training criteria select); by course, that course's
(each person once per course: its earliest end; the total then counts everyone with
a training record, once). ``total`` is the group's people. One aggregate statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from tortoise.expressions import Q, Subquery

from engage.accounts.actor import Actor
from engage.alumni.audience import AudienceFilter, audience_conditions, months_before
from engage.alumni.grades import GRADE_LEVEL
from engage.alumni.models import Alumnus, CareerEntry, Course
from engage.clock import utcnow
from engage.errors import InvalidInput
from engage.i18n import N_, _
from engage.insights.filters import (
    ReportFilter,
    course_join,
    population,
    training_conditions,
)
from engage.insights.groups import Row, add_up, by_country
from engage.insights.sql import PEOPLE, Statement, by_country_key

#: The two grade levels the report follows, and the grades at or above each.
LEVELS = {"of5": "OF-5", "of6": "OF-6"}
LEVEL_LABELS = {"of5": N_("Colonel (OF-5) or above"), "of6": N_("General (OF-6) or above")}
NAMES = ("total", "of5", "of5_after", "of5_days", "of6", "of6_after", "of6_days")
GROUPINGS = ("country", "region", "embassy", "course")
GROUPING_LABELS = {
    "country": N_("Country"),
    "region": N_("Region"),
    "embassy": N_("Embassy"),
    "course": N_("Course"),
}
#: "Recently promoted and not engaged": the two spans, in months.
RECENT_MONTHS = 12
QUIET_MONTHS = 18
PAGE_SIZE = 50
DAYS_PER_YEAR = 365.25


def grades_from(grade: str) -> list[str]:
    """The grades at or above ``grade``."""
    return [g for g, level in GRADE_LEVEL.items() if level >= GRADE_LEVEL[grade]]


@dataclass(frozen=True)
class CareerRow(Row):
    def years(self, level: str) -> float | None:
        """Mean years from training end to reaching ``level`` ("of5", "of6")."""
        after = self.counts.get(f"{level}_after", 0)
        return self.counts.get(f"{level}_days", 0) / after / DAYS_PER_YEAR if after else None


@dataclass(frozen=True)
class CareerReport:
    by: str
    filter: ReportFilter
    total: CareerRow
    rows: list[CareerRow]


def grouping_of(by: str) -> str:
    if by in GROUPINGS:
        return by
    raise InvalidInput(
        _("Please correct the marked fields."),
        fields={"by": _("Country, region, embassy or course.")},
    )


async def career_outcomes(flt: ReportFilter, *, actor: Actor, by: str = "country") -> CareerReport:
    """The career outcomes report (attachés: their countries)."""
    grouping = grouping_of(by)
    stmt = Statement(await population(flt, actor=actor))
    values: dict[str, Any] = {
        "of5_grades": grades_from("OF-5"),
        "of6_grades": grades_from("OF-6"),
    }
    where, more = training_conditions(flt)
    values |= more
    # Each person's first day at OF-5 or above and at OF-6 or above, and the end of
    # their first training: grouped passes, joined to the people.
    promotions = (
        "SELECT ce.alumnus_id AS person, MIN(ce.effective_date) AS of5, "
        "MIN(CASE WHEN ce.grade IN (:of6_grades) THEN ce.effective_date END) AS of6 "
        "FROM alumni_career ce WHERE ce.grade IN (:of5_grades) GROUP BY ce.alumnus_id"
    )
    first_ends = (
        "SELECT t.alumnus_id AS person, MIN(t.end_date) AS first_end "  # noqa: S608
        f"FROM alumni_training t {course_join(flt)} WHERE {' AND '.join(where)} "
        "GROUP BY t.alumnus_id"
    )
    if grouping == "course":
        total, rows = await _by_course(stmt, flt, promotions, values)
    else:
        select = ", ".join(["COUNT(*) AS total", *_levels(stmt, flt, values, "p", "f.first_end")])
        country_rows = await stmt.fetch(
            f"SELECT {by_country_key()} AS key, {select} {stmt.people_from} "
            f"LEFT JOIN ({promotions}) p ON p.person = {PEOPLE}.id "
            f"LEFT JOIN ({first_ends}) f ON f.person = {PEOPLE}.id "
            f"WHERE {stmt.people_where} GROUP BY {by_country_key()}",
            **values,
        )
        by_code = {str(r["key"]): _ints(r) for r in country_rows}
        total = CareerRow("", _("All alumni in the report"), add_up(by_code.values(), NAMES))
        rows = [
            CareerRow(r.key, r.label, r.counts)
            for r in await by_country(by_code, by=grouping, actor=actor, names=NAMES)  # type: ignore[arg-type]
        ]
    rows.sort(key=lambda r: (-r.counts["of5"], -r.counts["total"], r.label))
    return CareerReport(by=grouping, filter=flt, total=total, rows=rows)


def _levels(
    stmt: Statement, flt: ReportFilter, values: dict[str, Any], dates: str, end: str
) -> list[str]:
    """Per level: reached (in the period), reached after training, days after training
    (``dates.of5``, ``dates.of6``: first days at the level; ``end``: training end)."""
    columns = []
    for level in LEVELS:
        day = f"{dates}.{level}"
        reached = [f"{day} IS NOT NULL"]
        if flt.date_from:
            reached.append(f"{day} >= :date_from")
            values["date_from"] = flt.date_from
        if flt.date_to:
            reached.append(f"{day} <= :date_to")
            values["date_to"] = flt.date_to
        when = " AND ".join(reached)
        after = f"{when} AND {end} IS NOT NULL AND {day} >= {end}"
        columns += [
            f"SUM(CASE WHEN {when} THEN 1 ELSE 0 END) AS {level}",
            f"SUM(CASE WHEN {after} THEN 1 ELSE 0 END) AS {level}_after",
            f"SUM(CASE WHEN {after} THEN {stmt.days(day, end)} ELSE 0 END) AS {level}_days",
        ]
    return columns


async def _by_course(
    stmt: Statement, flt: ReportFilter, promotions: str, values: dict[str, Any]
) -> tuple[CareerRow, list[CareerRow]]:
    """The total and the rows by course, in one statement: each person once per course
    (from that course's first end), and for the total once (from their first training
    end: everyone with a training record)."""
    where, _values = training_conditions(flt)
    # The training records of the report's people, read in one pass over the records
    # and checked against the people's ids (not a lookup of each record's person).
    pairs = (
        "SELECT t.course_id AS course, t.alumnus_id AS person, "  # noqa: S608
        f"MIN(t.end_date) AS course_end FROM alumni_training t {course_join(flt)} "
        f"WHERE t.alumnus_id IN ({stmt.people_ids}) AND {' AND '.join(where)} "
        "GROUP BY t.alumnus_id, t.course_id"
    )
    select = ", ".join(["COUNT(*) AS total", *_levels(stmt, flt, values, "p", "g.course_end")])
    rows = await stmt.fetch(
        f"WITH pairs AS ({pairs}), p AS ({promotions}) "  # noqa: S608
        f"SELECT 0 AS everyone, g.course AS key, {select} FROM pairs g "
        "LEFT JOIN p ON p.person = g.person GROUP BY g.course UNION ALL "
        f"SELECT 1 AS everyone, NULL AS key, {select} FROM (SELECT g.person AS person, "
        "MIN(g.course_end) AS course_end FROM pairs g GROUP BY g.person) g "
        "LEFT JOIN p ON p.person = g.person",
        **values,
    )
    everyone = [r for r in rows if r["everyone"]]
    total = CareerRow(
        "", _("All alumni in the report"), _ints(everyone[0]) if everyone else _ints({})
    )
    courses = await _course_rows({str(r["key"]): _ints(r) for r in rows if not r["everyone"]})
    return total, courses


def _ints(row: dict[str, Any]) -> dict[str, int]:
    return {n: int(row.get(n) or 0) for n in NAMES}


async def _course_rows(found: dict[str, dict[str, int]]) -> list[CareerRow]:
    courses = {
        str(c["id"]): c
        for c in await Course.filter(id__in=[int(k) for k in found] or [0]).values(
            "id", "title", "school"
        )
    }
    return [
        CareerRow(
            key,
            f"{courses[key]['title']} ({courses[key]['school']})" if key in courses else key,
            counts,
        )
        for key, counts in found.items()
    ]


# --- Recently promoted, not engaged -----------------------------------------------------


@dataclass(frozen=True)
class Promoted:
    alumnus: Alumnus
    #: The latest new rank within the span, and its date.
    rank: str
    grade: str
    promoted_on: date


@dataclass(frozen=True)
class PromotedPage:
    people: list[Promoted]
    total: int
    page: int
    pages: int
    since: date


async def recently_promoted_query(
    flt: ReportFilter, *, actor: Actor, now: datetime | None = None
) -> tuple[Any, date]:
    """People with a new rank (a mapped grade) dated in the last 12 months who have
    not engaged for 18 months (the directory's ``not_engaged_months``), and the day
    the span starts."""
    since = months_before(now or utcnow(), RECENT_MONTHS).date()
    people = await population(flt, actor=actor)
    quiet = audience_conditions(AudienceFilter(not_engaged_months=QUIET_MONTHS), actor=actor)
    new_rank = CareerEntry.filter(effective_date__gte=since).exclude(grade="").values("alumnus_id")
    return people.filter(Q(*quiet), id__in=Subquery(new_rank)), since


async def recently_promoted(
    flt: ReportFilter,
    *,
    actor: Actor,
    page: int = 1,
    page_size: int = PAGE_SIZE,
    now: datetime | None = None,
) -> PromotedPage:
    """One page of the list, most senior first (country loaded)."""
    query, since = await recently_promoted_query(flt, actor=actor, now=now)
    total = await query.count()
    pages = max(1, -(-total // page_size))
    number = min(max(1, page), pages)
    people = (
        await query.select_related("country")
        .order_by("-grade_level", "family_name", "given_name", "id")
        .offset((number - 1) * page_size)
        .limit(page_size)
    )
    return PromotedPage(await _with_ranks(people, since), total, number, pages, since)


async def _with_ranks(people: list[Alumnus], since: date) -> list[Promoted]:
    latest: dict[int, tuple[str, str, date]] = {}
    for pk, rank, grade, day in (
        await CareerEntry.filter(
            alumnus_id__in=[p.id for p in people] or [0], effective_date__gte=since
        )
        .exclude(grade="")
        .order_by("effective_date", "id")
        .values_list("alumnus_id", "rank", "grade", "effective_date")
    ):
        latest[int(pk)] = (str(rank), str(grade), day)
    return [Promoted(p, *latest[p.id]) for p in people if p.id in latest]
