"""The directory: the audience filter as a searchable, sortable list in pages.

::

    listing = await search_directory(flt, actor=attache, page=2, sort="-grade")
    listing.items          # profiles of the page (country loaded)
    listing.total          # a SQL COUNT of everyone the filter selects
    listing.class_years    # {alumnus id: [class years]} of the page's people
    views = await directory_views(listing, actor=attache)   # full profiles (the API)

A page costs the same few queries however many people the database holds: the
embassy check (when the filter names one), the count, the page's ids in order (a
sort of narrow rows), its profiles, and the class years of its people
(``directory_views`` adds two: training and careers). Sorts end with the id, so
pages never overlap or skip anyone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tortoise.functions import Coalesce
from tortoise.queryset import QuerySet

from engage.accounts.actor import Actor, require_role
from engage.accounts.models import Role
from engage.alumni.audience import AudienceFilter, audience_query, check_filter
from engage.alumni.models import Alumnus, CareerEntry, Course, TrainingRecord
from engage.alumni.profiles import Audience, ProfileView
from engage.errors import InvalidInput
from engage.i18n import _
from engage.places.models import Country, Embassy

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
#: Pages beyond this are refused: narrow the filter instead (deep OFFSETs are slow).
MAX_PAGE = 10_000
_NAME = ("family_name", "given_name", "id")
#: Sort keys (a leading "-" reverses) and the columns they order by.
SORTS: dict[str, tuple[str, ...]] = {
    "name": _NAME,
    "-name": ("-family_name", "-given_name", "-id"),
    "country": ("country__name", *_NAME),
    "-country": ("-country__name", *_NAME),
    # Unknown grades count as the lowest, on both databases alike.
    "grade": ("_grade", *_NAME),
    "-grade": ("-_grade", *_NAME),
    "updated": ("updated_at", "id"),
    "-updated": ("-updated_at", "-id"),
}


@dataclass(frozen=True)
class DirectoryPage:
    items: list[Alumnus]
    #: Everyone the filter selects (not only this page).
    total: int
    page: int
    page_size: int
    sort: str
    filter: AudienceFilter
    #: Class years of each listed person's training, oldest first.
    class_years: dict[int, list[int]] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))

    @property
    def first(self) -> int:
        """Position of the page's first row (1-based; 0 when empty)."""
        return (self.page - 1) * self.page_size + 1 if self.items else 0

    @property
    def last(self) -> int:
        return self.first + len(self.items) - 1 if self.items else 0


def check_paging(page: int, page_size: int, sort: str) -> None:
    """InvalidInput naming ``page``, ``page_size`` or ``sort`` when out of range."""
    errors: dict[str, str] = {}
    if not 1 <= page <= MAX_PAGE:
        errors["page"] = _("A page number from 1 to %(n)s.", n=MAX_PAGE)
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        errors["page_size"] = _("From 1 to %(n)s rows a page.", n=MAX_PAGE_SIZE)
    if sort not in SORTS:
        errors["sort"] = _("One of: %(choices)s.", choices=", ".join(SORTS))
    if errors:
        raise InvalidInput(_("Please correct the marked fields."), fields=errors)


def sorted_query(query: QuerySet[Alumnus], sort: str) -> QuerySet[Alumnus]:
    """``query`` in the order of ``sort`` (a key of :data:`SORTS`)."""
    columns = SORTS[sort]
    if "grade" in sort:
        query = query.annotate(_grade=Coalesce("grade_level", 0))
    return query.order_by(*columns)


async def search_directory(
    flt: AudienceFilter,
    *,
    actor: Actor,
    page: int = 1,
    page_size: int = PAGE_SIZE,
    sort: str = "name",
) -> DirectoryPage:
    """One page of the people ``flt`` selects in the actor's scope (attachés, staff).

    Raises InvalidInput (page, page_size, sort), NotFound (an embassy not theirs),
    PermissionDenied (not an attaché or staff).
    """
    check_paging(page, page_size, sort)
    await check_filter(flt, actor=actor)
    query = audience_query(flt, actor=actor)
    total = await query.count()
    items: list[Alumnus] = []
    if total > (page - 1) * page_size:
        # Sort narrow rows (the sort keys and ids), then read the page's profiles:
        # sorting whole profiles costs several times more on a large directory.
        ids = await (
            sorted_query(query, sort)
            .offset((page - 1) * page_size)
            .limit(page_size)
            .values_list("id", flat=True)
        )
        found = {a.id: a for a in await Alumnus.filter(id__in=ids).select_related("country")}
        items = [found[pk] for pk in ids if pk in found]
    return DirectoryPage(
        items=items,
        total=total,
        page=page,
        page_size=page_size,
        sort=sort,
        filter=flt,
        class_years=await _class_years([a.id for a in items]),
    )


@dataclass(frozen=True)
class DirectoryChoices:
    """What the directory's filter form offers the actor."""

    #: Countries in the actor's scope, by name.
    countries: list[Country]
    #: UN M49 regions and sub-regions of those countries, by name.
    regions: list[str]
    #: Embassies the actor may filter by (attachés: their own), by code.
    embassies: list[Embassy]
    courses: list[Course]
    schools: list[str]
    #: Equipment tags of the catalogue, by name.
    tags: list[str]


async def directory_choices(*, actor: Actor) -> DirectoryChoices:
    """The options of the filter form, in three queries."""
    require_role(actor, Role.ATTACHE)
    countries = Country.all()
    embassies = Embassy.all()
    if actor.country_codes is not None:
        countries = countries.filter(code__in=sorted(actor.country_codes) or [""])
        embassies = embassies.filter(id__in=sorted(actor.embassy_ids) or [0])
    scoped = await countries.order_by("name")
    courses = await Course.all().order_by("title", "school", "id")
    return DirectoryChoices(
        countries=scoped,
        regions=sorted({r for c in scoped for r in (c.region, c.continent) if r}),
        embassies=await embassies.order_by("code"),
        courses=courses,
        schools=sorted({c.school for c in courses}, key=str.casefold),
        tags=sorted({t for c in courses for t in (c.tags or [])}, key=str.casefold),
    )


async def directory_views(listing: DirectoryPage, *, actor: Actor) -> list[ProfileView]:
    """The page's people as full profiles (training and career: two more queries)."""
    ids = [a.id for a in listing.items]
    training: dict[int, list[TrainingRecord]] = {pk: [] for pk in ids}
    career: dict[int, list[CareerEntry]] = {pk: [] for pk in ids}
    if ids:
        for record in (
            await TrainingRecord.filter(alumnus_id__in=ids)
            .select_related("course")
            .order_by("start_date", "class_year", "id")
        ):
            training[record.alumnus_id].append(record)  # type: ignore[attr-defined]
        for entry in await CareerEntry.filter(alumnus_id__in=ids).order_by(
            "-effective_date", "-id"
        ):
            career[entry.alumnus_id].append(entry)  # type: ignore[attr-defined]
    audience = Audience.STAFF if actor.at_least(Role.STAFF) else Audience.ATTACHE
    return [
        ProfileView(alumnus=a, audience=audience, training=training[a.id], career=career[a.id])
        for a in listing.items
    ]


async def _class_years(ids: list[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {pk: [] for pk in ids}
    if ids:
        rows = await (
            TrainingRecord.filter(alumnus_id__in=ids, class_year__isnull=False)
            .order_by("class_year")
            .values_list("alumnus_id", "class_year")
        )
        for pk, year in rows:
            if year not in found[pk]:
                found[pk].append(year)
    return found
