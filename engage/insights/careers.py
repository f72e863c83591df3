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
(each person once per course: its earliest end). ``total`` is the group's people.
One aggregate query.
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
from engage.insights.filters import ReportFilter, population, training_conditions
from engage.insights.groups import Row, add_up, by_country
from engage.insights.sql import Statement

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
    training, values = _training(flt, per_course=grouping == "course")
    promotions = (
        "SELECT c.alumnus_id AS alumnus_id, MIN(c.effective_date) AS of5, "
        "MIN(CASE WHEN c.grade IN (:of6_grades) THEN c.effective_date END) AS of6 "
        "FROM alumni_career c WHERE c.grade IN (:of5_grades) "
        "AND c.alumnus_id IN (SELECT id FROM pop) GROUP BY c.alumnus_id"
    )
    values |= {"of5_grades": grades_from("OF-5"), "of6_grades": grades_from("OF-6")}
    select = ", ".join(["COUNT(*) AS total", *_level_columns(stmt, flt, values)])
    if grouping == "course":
        sql = (
            f"SELECT f.course_id AS key, {select} FROM ({training}) f "  # noqa: S608
            f"LEFT JOIN ({promotions}) p ON p.alumnus_id = f.alumnus_id GROUP BY f.course_id"
        )
    else:
        sql = (
            f"SELECT a.country_id AS key, {select} FROM alumni_alumnus a "  # noqa: S608
            f"LEFT JOIN ({promotions}) p ON p.alumnus_id = a.id "
            f"LEFT JOIN ({training}) f ON f.alumnus_id = a.id "
            "WHERE a.id IN (SELECT id FROM pop) GROUP BY a.country_id"
        )
    found = {
        str(r["key"]): {n: int(r.get(n) or 0) for n in NAMES}
        for r in await stmt.fetch(sql, **values)
    }
    if grouping == "course":
        rows = await _course_rows(found)
        # Everyone once: the people of the report, whatever their courses.
        total_counts = await _totals(stmt, flt, select, promotions, values)
    else:
        rows = [
            CareerRow(r.key, r.label, r.counts)
            for r in await by_country(found, by=grouping, actor=actor, names=NAMES)  # type: ignore[arg-type]
        ]
        total_counts = add_up(found.values(), NAMES)
    total = CareerRow("", _("All alumni in the report"), total_counts)
    rows.sort(key=lambda r: (-r.counts["of5"], -r.counts["total"], r.label))
    return CareerReport(by=grouping, filter=flt, total=total, rows=rows)


def _level_columns(stmt: Statement, flt: ReportFilter, values: dict[str, Any]) -> list[str]:
    """Per level: reached (in the period), reached after training, days after training."""
    columns = []
    for level in LEVELS:
        reached = [f"p.{level} IS NOT NULL"]
        if flt.date_from:
            reached.append(f"p.{level} >= :date_from")
            values["date_from"] = flt.date_from
        if flt.date_to:
            reached.append(f"p.{level} <= :date_to")
            values["date_to"] = flt.date_to
        when = " AND ".join(reached)
        after = f"{when} AND f.end_date IS NOT NULL AND p.{level} >= f.end_date"
        days = stmt.days(f"p.{level}", "f.end_date")
        columns += [
            f"SUM(CASE WHEN {when} THEN 1 ELSE 0 END) AS {level}",
            f"SUM(CASE WHEN {after} THEN 1 ELSE 0 END) AS {level}_after",
            f"SUM(CASE WHEN {after} THEN {days} ELSE 0 END) AS {level}_days",
        ]
    return columns


def _training(flt: ReportFilter, *, per_course: bool) -> tuple[str, dict[str, Any]]:
    """Each person's earliest training end (per course when ``per_course``), over the
    records the filter's training criteria select."""
    where, values = training_conditions(flt)
    keys = "t.alumnus_id, t.course_id" if per_course else "t.alumnus_id"
    course = ", t.course_id AS course_id" if per_course else ""
    sql = (
        f"SELECT t.alumnus_id AS alumnus_id{course}, MIN(t.end_date) AS end_date "  # noqa: S608
        "FROM alumni_training t JOIN alumni_course c ON c.id = t.course_id "
        f"WHERE {' AND '.join(where)} GROUP BY {keys}"
    )
    return sql, values


async def _totals(
    stmt: Statement, flt: ReportFilter, select: str, promotions: str, values: dict[str, Any]
) -> dict[str, int]:
    training, more = _training(flt, per_course=False)
    rows = await stmt.fetch(
        f"SELECT {select} FROM alumni_alumnus a "  # noqa: S608
        f"LEFT JOIN ({promotions}) p ON p.alumnus_id = a.id "
        f"LEFT JOIN ({training}) f ON f.alumnus_id = a.id "
        "WHERE a.id IN (SELECT id FROM pop)",
        **{**values, **more},
    )
    return {n: int(rows[0].get(n) or 0) for n in NAMES} if rows else dict.fromkeys(NAMES, 0)


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
