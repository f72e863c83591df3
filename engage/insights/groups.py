"""Rows of a report: a group (a country, region, embassy, course category, class year,
course, event or month) with its counts, and the roll-up of country rows.

::

    rows = await by_country(counts, by="region", actor=attache)   # countries -> regions
    row.counts["total"], row.share("m12")                          # 120, 0.45

Reports count people by country in SQL; a region or an embassy is the sum of its
countries (each person has one country), added up here over at most a few hundred
country rows, never over people. A person whose country is accredited to two
embassies counts in both; an attaché sees only their own embassies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from engage.accounts.actor import Actor
from engage.accounts.models import Role
from engage.errors import InvalidInput
from engage.i18n import N_, _
from engage.places.models import Accreditation, Country, Embassy

#: What a people report may be grouped by.
Dimension = Literal["country", "region", "embassy", "course_category", "class_year"]
DIMENSIONS: tuple[Dimension, ...] = (
    "country",
    "region",
    "embassy",
    "course_category",
    "class_year",
)
#: The groupings that follow from the person's country (no training records needed).
PLACE_DIMENSIONS: tuple[Dimension, ...] = ("country", "region", "embassy")
DIMENSION_LABELS = {
    "country": N_("Country"),
    "region": N_("Region"),
    "embassy": N_("Embassy"),
    "course_category": N_("Course category"),
    "class_year": N_("Class year"),
}
CATEGORY_LABELS = {
    "pme": N_("Professional military education"),
    "technical": N_("Technical"),
    "english": N_("English language"),
    "other": N_("Other"),
}


def dimension_of(by: str, allowed: tuple[Dimension, ...] = DIMENSIONS) -> Dimension:
    """``by`` checked against the groupings a report offers (InvalidInput otherwise)."""
    for dimension in allowed:
        if by == dimension:
            return dimension
    raise InvalidInput(
        _("Please correct the marked fields."),
        fields={"by": _("Choose a grouping from the list.")},
    )


@dataclass(frozen=True)
class Row:
    """One group of a report and its counts (``total`` is the group's people)."""

    key: str
    label: str
    counts: dict[str, int] = field(default_factory=dict)

    def share(self, name: str, *, of: str = "total") -> float | None:
        """``counts[name]`` as a share of ``counts[of]`` (None when that is 0)."""
        whole = self.counts.get(of, 0)
        return self.counts.get(name, 0) / whole if whole else None

    def shares(self, names: Iterable[str], *, of: str = "total") -> dict[str, float | None]:
        return {name: self.share(name, of=of) for name in names}


def add_up(rows: Iterable[Mapping[str, int]], names: Iterable[str]) -> dict[str, int]:
    """The sum of each count in ``names`` over ``rows``."""
    wanted = list(names)
    total = dict.fromkeys(wanted, 0)
    for row in rows:
        for name in wanted:
            total[name] += int(row.get(name) or 0)
    return total


async def by_country(
    counts: Mapping[str, Mapping[str, int]],
    *,
    by: Dimension,
    actor: Actor,
    names: Iterable[str],
) -> list[Row]:
    """Country rows (``{"KE": {"total": 3, ...}}``) as rows of ``by``: countries,
    regions or embassies, largest first (then by name)."""
    wanted = list(names)
    codes = sorted(counts)
    countries = {
        c["code"]: c
        for c in await Country.filter(code__in=codes or [""]).values(
            "code", "name", "region", "continent"
        )
    }
    if by == "country":
        rows = [
            Row(
                code,
                str(countries.get(code, {}).get("name") or code),
                add_up([counts[code]], wanted),
            )
            for code in codes
        ]
    elif by == "region":
        members: dict[str, list[str]] = {}
        for code in codes:
            country = countries.get(code, {})
            region = str(country.get("region") or country.get("continent") or "")
            members.setdefault(region, []).append(code)
        rows = [
            Row(region, region or _("No region"), add_up((counts[c] for c in found), wanted))
            for region, found in members.items()
        ]
    elif by == "embassy":
        rows = await _embassy_rows(counts, actor=actor, names=wanted)
    else:
        raise ValueError(f"not a place grouping: {by}")
    return sorted(rows, key=lambda r: (-r.counts.get(wanted[0], 0), r.label))


async def _embassy_rows(
    counts: Mapping[str, Mapping[str, int]], *, actor: Actor, names: list[str]
) -> list[Row]:
    embassies = Embassy.all()
    if not actor.at_least(Role.STAFF):
        embassies = embassies.filter(id__in=sorted(actor.embassy_ids) or [0])
    found = {e["id"]: e for e in await embassies.values("id", "code", "name")}
    members: dict[int, list[str]] = {}
    for embassy_id, code in await Accreditation.filter(
        embassy_id__in=list(found) or [0], country_id__in=sorted(counts) or [""]
    ).values_list("embassy_id", "country_id"):
        members.setdefault(int(embassy_id), []).append(str(code))
    return [
        Row(
            str(found[pk]["code"]),
            f"{found[pk]['code']} · {found[pk]['name']}",
            add_up((counts[c] for c in codes), names),
        )
        for pk, codes in members.items()
    ]


def category_label(key: str | None) -> str:
    return _(CATEGORY_LABELS[key]) if key in CATEGORY_LABELS else _("Unknown")


def year_label(key: object) -> str:
    return str(key) if key not in (None, "") else _("Unknown")
