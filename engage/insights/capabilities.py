"""Capability lookup: the alumni trained on an equipment or weapons system (a course
tag of the catalogue), by country.

::

    tags = await equipment_tags()                       # ["C-130", "Patriot", ...]
    report = await capability_lookup(flt, actor=attache, tag="C-130")
    report.total.counts["total"], report.rows           # people, by country
    overview = await capability_lookup(flt, actor=staff, tag="")   # people per tag
    page = await capable_people(flt, actor=attache, tag="C-130")   # who, with courses

A person counts once, when one of their training records is of a course whose tags
hold the tag exactly ("C-130" is not "C-130J", case counts, as in the directory),
and that same record meets the filter's course category and class years and, with a
date range, ended in it. The people are the report's (live, confirmed, in scope).
Without a tag, the report counts the people trained on each tag of the catalogue.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.expressions import Subquery
from tortoise.functions import Count
from tortoise.queryset import QuerySet

from engage.accounts.actor import Actor
from engage.accounts.audit import record
from engage.alumni.addresses import address_fields, deliverable_address
from engage.alumni.models import Alumnus, Course
from engage.clock import utcnow
from engage.errors import InvalidInput
from engage.i18n import _
from engage.insights.export import csv_text, keyset_after
from engage.insights.filters import (
    ReportFilter,
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
    dimension_of,
)
from engage.insights.sql import Statement

TAG_MAX = 60
PAGE_SIZE = 50
CHUNK_ROWS = 500
PEOPLE_COLUMNS = (
    "id",
    "given_name",
    "family_name",
    "given_name_latin",
    "family_name_latin",
    "country",
    "rank",
    "grade",
    "position",
    "email",
    "courses",
)


@dataclass(frozen=True)
class CapabilityReport:
    tag: str
    by: Dimension
    filter: ReportFilter
    #: The catalogue's courses that teach the tag.
    courses: list[Course]
    total: Row
    #: By place with a tag; by tag (most people first) without one.
    rows: list[Row]


async def equipment_tags() -> list[str]:
    """Every tag of the catalogue, by name."""
    tags = {
        str(t) for tags in await Course.all().values_list("tags", flat=True) for t in tags or []
    }
    return sorted(tags, key=str.casefold)


def tag_of(tag: object) -> str:
    text = " ".join(str(tag or "").split())
    if len(text) > TAG_MAX:
        raise InvalidInput(
            _("Please correct the marked fields."),
            fields={"tag": _("At most %(n)s characters.", n=TAG_MAX)},
        )
    return text


async def courses_with(tag: str) -> list[Course]:
    """The courses whose tags hold ``tag`` exactly; with no tag, every course that
    has one (the catalogue is small)."""
    courses = await Course.all().order_by("title", "school")
    return [c for c in courses if (tag in (c.tags or []) if tag else c.tags)]


async def capable_query(flt: ReportFilter, *, actor: Actor, tag: str) -> QuerySet[Alumnus]:
    """The people trained on ``tag`` (any equipment without one): one query,
    unordered; scope checked."""
    people = await population(flt, actor=actor)
    courses = [c.id for c in await courses_with(tag)]
    trained = training_records(flt, period=True).filter(course_id__in=courses or [0])
    return people.filter(id__in=Subquery(trained.values("alumnus_id")))


async def capability_lookup(
    flt: ReportFilter, *, actor: Actor, tag: str, by: str = "country"
) -> CapabilityReport:
    """People trained on ``tag`` by country, region or embassy (one grouped query);
    without a tag, people per tag."""
    tag = tag_of(tag)
    dimension = dimension_of(by, PLACE_DIMENSIONS)
    if not tag:
        return await _overview(flt, actor=actor, by=dimension)
    courses = await courses_with(tag)
    query = await capable_query(flt, actor=actor, tag=tag)
    found = (
        await query.annotate(total=Count("id")).group_by("country_id").values("country_id", "total")
    )
    counts = {str(r["country_id"]): {"total": int(r["total"] or 0)} for r in found}
    total = Row("", _("All alumni in the report"), add_up(counts.values(), ["total"]))
    rows = await by_country(counts, by=dimension, actor=actor, names=["total"])
    return CapabilityReport(tag, dimension, flt, courses, total, rows)


async def _overview(flt: ReportFilter, *, actor: Actor, by: Dimension) -> CapabilityReport:
    stmt = Statement(await population(flt, actor=actor))
    where, values = training_conditions(flt, period=True)
    # The records of the report's people on tagged courses, read in one pass and
    # checked against the people's ids; each (tag, person) once, then counted.
    records = (
        "FROM alumni_training t JOIN alumni_course c ON c.id = t.course_id "
        f"{stmt.join_tags('c.tags', 'j')} WHERE t.alumnus_id IN ({stmt.people_ids}) "
        f"AND {' AND '.join(where)}"
    )
    pairs = (
        f"SELECT j.value AS key, t.alumnus_id AS person {records} GROUP BY j.value, t.alumnus_id"
    )
    per_tag = await stmt.fetch(
        f"SELECT g.key AS key, COUNT(*) AS total FROM ({pairs}) g GROUP BY g.key",  # noqa: S608
        **values,
    )
    people = f"SELECT t.alumnus_id AS person {records} GROUP BY t.alumnus_id"
    anyone = await stmt.fetch(f"SELECT COUNT(*) AS total FROM ({people}) g", **values)  # noqa: S608
    rows = sorted(
        (Row(str(r["key"]), str(r["key"]), {"total": int(r["total"] or 0)}) for r in per_tag),
        key=lambda r: (-r.counts["total"], r.key.casefold()),
    )
    total = Row("", _("Trained on any equipment"), {"total": int(anyone[0]["total"] or 0)})
    return CapabilityReport("", by, flt, [], total, rows)


@dataclass(frozen=True)
class CapablePerson:
    alumnus: Alumnus
    #: The person's training on the tag: (course title, school, class year).
    training: list[tuple[str, str, int | None]]


@dataclass(frozen=True)
class CapablePage:
    people: list[CapablePerson]
    total: int
    page: int
    pages: int


async def capable_people(
    flt: ReportFilter, *, actor: Actor, tag: str, page: int = 1, page_size: int = PAGE_SIZE
) -> CapablePage:
    """One page of the people trained on ``tag``, by name, with those courses."""
    tag = tag_of(tag)
    if not tag:
        return CapablePage([], 0, 1, 1)
    query = await capable_query(flt, actor=actor, tag=tag)
    total = await query.count()
    pages = max(1, -(-total // page_size))
    number = min(max(1, page), pages)
    people = (
        await query.select_related("country")
        .order_by("family_name", "given_name", "id")
        .offset((number - 1) * page_size)
        .limit(page_size)
    )
    training = await _training(flt, tag, [p.id for p in people])
    return CapablePage(
        [CapablePerson(p, training.get(p.id, [])) for p in people], total, number, pages
    )


async def _training(
    flt: ReportFilter, tag: str, ids: list[int]
) -> dict[int, list[tuple[str, str, int | None]]]:
    courses = [c.id for c in await courses_with(tag)]
    found: dict[int, list[tuple[str, str, int | None]]] = {}
    for pk, title, school, year in (
        await training_records(flt, period=True)
        .filter(alumnus_id__in=ids or [0], course_id__in=courses or [0])
        .order_by("class_year", "id")
        .values_list("alumnus_id", "course__title", "course__school", "class_year")
    ):
        found.setdefault(int(pk), []).append((str(title), str(school), year))
    return found


@dataclass(frozen=True)
class CapableExport:
    """The people trained on a tag as CSV, checked and audit-logged; stream it."""

    filter: ReportFilter
    tag: str
    query: QuerySet[Alumnus]
    total: int
    filename: str

    async def chunks(self) -> AsyncIterator[bytes]:
        yield ("\ufeff" + csv_text([PEOPLE_COLUMNS])).encode("utf-8")
        fields = (
            "id",
            "given_name",
            "family_name",
            "given_name_latin",
            "family_name_latin",
            "country_id",
            "rank",
            "grade",
            "position",
            *address_fields(),
        )
        after: tuple[str, str, int] | None = None
        while True:
            chunk = self.query if after is None else self.query.filter(keyset_after(after))
            people = (
                await chunk.order_by("family_name", "given_name", "id")
                .limit(CHUNK_ROWS)
                .values(*fields)
            )
            if not people:
                return
            training = await _training(self.filter, self.tag, [p["id"] for p in people])
            yield csv_text(_row(p, training.get(p["id"], [])) for p in people).encode("utf-8")
            last = people[-1]
            after = (last["family_name"], last["given_name"], last["id"])
            if len(people) < CHUNK_ROWS:
                return


def _row(person: dict[str, Any], training: list[tuple[str, str, int | None]]) -> list[object]:
    values = {
        **person,
        "country": person["country_id"],
        "email": deliverable_address(person) or "",
        "courses": "; ".join(
            f"{title} ({school}){f', {year}' if year else ''}" for title, school, year in training
        ),
    }
    return [values.get(column) for column in PEOPLE_COLUMNS]


async def capable_export(
    flt: ReportFilter,
    *,
    actor: Actor,
    tag: str,
    ip: str = "",
    now: datetime | None = None,
) -> CapableExport:
    """The people trained on ``tag`` (any equipment without one) as a CSV file,
    counted and audit-logged."""
    tag = tag_of(tag)
    query = await capable_query(flt, actor=actor, tag=tag)
    total = await query.count()
    await record(
        "insights.capability_export",
        actor=actor.user,
        details={"tag": tag, "filter": flt.to_json(), "rows": total},
        ip=ip,
    )
    stamp = (now or utcnow()).strftime("%Y-%m-%d")
    return CapableExport(flt, tag, query, total, f"trained-on-equipment-{stamp}.csv")
