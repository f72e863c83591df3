"""Lapsed and lost: the alumni slipping away, as counts by group and as lists that
become a saved segment or the attaché's work list.

::

    report = await lapsed_report(flt, actor=attache, months=18)
    report.total.counts    # {"total": 120, "never_contacted": 30, "not_engaged": 70,
                           #  "no_working_email": 12, "any": 81}
    page = await lapsed_people(flt, "not_engaged", actor=attache, months=18)
    segment = await save_lapsed_segment(flt, "not_engaged", "Quiet since 2023",
                                        actor=attache, months=18)
    work = await lapsed_work_list(flt, "never_contacted", actor=attache)
    async for chunk in work.chunks(): ...                   # CSV bytes

The three lists, each exactly one filter of the shared audience filter
(``engage.alumni.audience``), so a list, its counts and the segment saved from it are
the same people (and the segment stays true to its name as time passes):

- ``never_contacted``: no invitation or newsletter delivered, no attendance, ever
  (``never_contacted=true``);
- ``not_engaged``: no answer, attendance or update of their own for ``months``
  months, or never (``not_engaged_months=N``);
- ``no_working_email``: no address mail can reach: none, or a primary address that
  hard-bounced without a verified secondary one (``has_working_email=false``).

``any`` counts the people on at least one list. Everyone counted is live, confirmed
and in the actor's scope (``engage.insights.filters``), by country, region or
embassy. Lapsed and lost is about today: the lists count months back from the day
they are read, so the report takes a number of months rather than a date range.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from tortoise.expressions import Q
from tortoise.functions import Count
from tortoise.queryset import QuerySet

from engage.accounts.actor import Actor
from engage.accounts.audit import record
from engage.alumni.addresses import address_fields, deliverable_address
from engage.alumni.audience import MAX_MONTHS, AudienceFilter, audience_conditions, audience_query
from engage.alumni.models import Alumnus, Segment
from engage.alumni.segments import create_segment
from engage.clock import utcnow
from engage.errors import InvalidInput
from engage.i18n import N_, _
from engage.insights.export import csv_text, keyset_after
from engage.insights.filters import ReportFilter, audience_for, population
from engage.insights.groups import (
    PLACE_DIMENSIONS,
    Dimension,
    Row,
    add_up,
    by_country,
    dimension_of,
)

Lapse = Literal["never_contacted", "not_engaged", "no_working_email"]
LISTS: tuple[Lapse, ...] = ("never_contacted", "not_engaged", "no_working_email")
LIST_LABELS = {
    "never_contacted": N_("Never contacted"),
    "not_engaged": N_("Not engaged for %(n)s months"),
    "no_working_email": N_("No working email"),
}
NAMES = ("total", *LISTS, "any")
DEFAULT_MONTHS = 18
#: People per page of a list.
PAGE_SIZE = 50
#: Rows per chunk of the work list.
CHUNK_ROWS = 500
WORK_LIST_COLUMNS = (
    "id",
    "given_name",
    "family_name",
    "given_name_latin",
    "family_name_latin",
    "email",
    "email_status",
    "phone",
    "country",
    "rank",
    "grade",
    "position",
    "last_contacted_at",
    "last_engaged_at",
    "list",
)


@dataclass(frozen=True)
class LapsedReport:
    by: Dimension
    filter: ReportFilter
    months: int
    total: Row
    rows: list[Row]


@dataclass(frozen=True)
class LapsedPage:
    which: Lapse
    months: int
    people: list[Alumnus]
    total: int
    page: int
    pages: int


def lapse_of(which: str) -> Lapse:
    for name in LISTS:
        if which == name:
            return name
    raise InvalidInput(
        _("Please correct the marked fields."),
        fields={"list": _("Never contacted, not engaged or no working email.")},
    )


def months_of(months: object) -> int:
    text = str(months).strip() if months is not None else ""
    if not text:
        return DEFAULT_MONTHS
    if text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_MONTHS:
        return int(text)
    raise InvalidInput(
        _("Please correct the marked fields."),
        fields={"months": _("A number of months, e.g. 18.")},
    )


def criteria(which: Lapse, months: int) -> dict[str, Any]:
    """The shared audience filter's fields of one list."""
    if which == "never_contacted":
        return {"never_contacted": True}
    if which == "not_engaged":
        return {"not_engaged_months": months}
    return {"has_working_email": False}


def lapsed_filter(
    flt: ReportFilter, which: Lapse, *, months: int = DEFAULT_MONTHS
) -> AudienceFilter:
    """The audience filter of a list: the report's people and the list's criterion."""
    return audience_for(flt, **criteria(which, months))


async def lapsed_report(
    flt: ReportFilter, *, actor: Actor, months: int = DEFAULT_MONTHS, by: str = "country"
) -> LapsedReport:
    """How many are on each list, by country, region or embassy (one grouped query)."""
    dimension = dimension_of(by, PLACE_DIMENSIONS)
    people = await population(flt, actor=actor)
    conditions = {
        name: Q(*audience_conditions(AudienceFilter(**criteria(name, months)), actor=actor))
        for name in LISTS
    }
    counts = {
        "total": Count("id"),
        **{name: Count("id", _filter=q) for name, q in conditions.items()},
        "any": Count("id", _filter=Q(*conditions.values(), join_type=Q.OR)),
    }
    found = await people.annotate(**counts).group_by("country_id").values("country_id", *NAMES)
    by_code = {str(r["country_id"]): {n: int(r[n] or 0) for n in NAMES} for r in found}
    total = Row("", _("All alumni in the report"), add_up(by_code.values(), NAMES))
    rows = await by_country(by_code, by=dimension, actor=actor, names=NAMES)
    return LapsedReport(by=dimension, filter=flt, months=months, total=total, rows=rows)


async def lapsed_query(
    flt: ReportFilter, which: Lapse, *, actor: Actor, months: int = DEFAULT_MONTHS
) -> QuerySet[Alumnus]:
    """The people of one list, as one query (unordered); scope checked."""
    await population(flt, actor=actor)  # the scope check: 404 for an embassy not theirs
    return audience_query(lapsed_filter(flt, which, months=months), actor=actor)


async def lapsed_people(
    flt: ReportFilter,
    which: Lapse,
    *,
    actor: Actor,
    months: int = DEFAULT_MONTHS,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> LapsedPage:
    """One page of a list, by name (country loaded)."""
    query = await lapsed_query(flt, which, actor=actor, months=months)
    total = await query.count()
    pages = max(1, -(-total // page_size))
    number = min(max(1, page), pages)
    people = (
        await query.select_related("country")
        .order_by("family_name", "given_name", "id")
        .offset((number - 1) * page_size)
        .limit(page_size)
    )
    return LapsedPage(which, months, list(people), total, number, pages)


async def save_lapsed_segment(
    flt: ReportFilter,
    which: Lapse,
    name: str,
    *,
    actor: Actor,
    months: int = DEFAULT_MONTHS,
    embassy: str = "",
    ip: str = "",
) -> Segment:
    """Save a list as a segment (``engage.alumni.segments.create_segment``: an
    attaché's belongs to their embassy), for an invitation or a newsletter."""
    await population(flt, actor=actor)
    return await create_segment(
        name, lapsed_filter(flt, which, months=months), actor=actor, embassy=embassy, ip=ip
    )


@dataclass(frozen=True)
class WorkList:
    """A list as the attaché's work list (CSV), checked and audit-logged; stream it."""

    filter: AudienceFilter
    which: Lapse
    actor: Actor
    total: int
    filename: str

    async def chunks(self) -> AsyncIterator[bytes]:
        """The CSV file: a byte-order mark and the header, then rows by name."""
        yield ("\ufeff" + csv_text([WORK_LIST_COLUMNS])).encode("utf-8")
        query = audience_query(self.filter, actor=self.actor)
        after: tuple[str, str, int] | None = None
        fields = (
            "id",
            "given_name",
            "family_name",
            "given_name_latin",
            "family_name_latin",
            "phone",
            "country_id",
            "rank",
            "grade",
            "position",
            "last_contacted_at",
            "last_engaged_at",
            *address_fields(),
        )
        while True:
            chunk = query if after is None else query.filter(keyset_after(after))
            people = (
                await chunk.order_by("family_name", "given_name", "id")
                .limit(CHUNK_ROWS)
                .values(*fields)
            )
            if not people:
                return
            yield csv_text(self._row(p) for p in people).encode("utf-8")
            last = people[-1]
            after = (last["family_name"], last["given_name"], last["id"])
            if len(people) < CHUNK_ROWS:
                return

    def _row(self, person: dict[str, Any]) -> list[object]:
        address = deliverable_address(person)
        if address is None:
            status = "none"
        elif person["email_failing_at"] and address == person["email"]:
            status = "failing"
        else:
            status = "working"
        values = {
            **person,
            "email": address or "",
            "email_status": status,
            "country": person["country_id"],
            "last_contacted_at": _day(person["last_contacted_at"]),
            "last_engaged_at": _day(person["last_engaged_at"]),
            "list": self.which,
        }
        return [values.get(column) for column in WORK_LIST_COLUMNS]


async def lapsed_work_list(
    flt: ReportFilter,
    which: Lapse,
    *,
    actor: Actor,
    months: int = DEFAULT_MONTHS,
    ip: str = "",
    now: datetime | None = None,
) -> WorkList:
    """A list as a CSV work list: scope checked, counted and audit-logged (like the
    directory's export)."""
    query = await lapsed_query(flt, which, actor=actor, months=months)
    total = await query.count()
    audience = lapsed_filter(flt, which, months=months)
    await record(
        "insights.work_list",
        actor=actor.user,
        details={"list": which, "filter": audience.to_json(), "rows": total},
        ip=ip,
    )
    stamp = (now or utcnow()).strftime("%Y-%m-%d")
    return WorkList(
        audience, which, actor, total, f"work-list-{which.replace('_', '-')}-{stamp}.csv"
    )


def _day(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else ""
