"""The reference list of countries: ISO 3166-1 from pycountry, UN M49 regions from CLDR.

::

    entry = catalogue()["KE"]
    entry.name, entry.region, entry.continent   # "Kenya", "Eastern Africa", "Africa"

Nothing here is typed by hand. Codes and names come from pycountry (the ISO 3166
tables). The region a country belongs to comes from the ``territoryContainment``
table of Unicode CLDR's ``supplementalData.xml``, which CLDR builds from UN M49 and
which the ``language-data`` package (the data half of langcodes) ships unchanged.
Region names are Babel's English names for the M49 codes.

CLDR's table also holds groupings (EU, UN, Sub-Saharan Africa, Latin America) and
private-use codes such as ``QO`` (Outlying Oceania); only M49's numeric regions count
here, so a territory M49 leaves unplaced (Antarctica) gets no region.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from importlib import resources

import pycountry
from babel import Locale

#: Where CLDR's supplemental data sits inside the language-data package.
_CLDR_PACKAGE = "language_data"
_CLDR_FILE = ("data", "supplementalData.xml")
_WORLD = "001"


@dataclass(frozen=True)
class CatalogueEntry:
    code: str
    alpha3: str
    name: str
    #: UN M49 sub-region ("Eastern Africa"), or "" where M49 has none.
    region: str
    #: UN M49 region ("Africa"), or "".
    continent: str


def _is_m49(code: str) -> bool:
    return len(code) == 3 and code.isdigit()


@functools.lru_cache(maxsize=1)
def containment() -> dict[str, str]:
    """Each territory or region code mapped to the M49 region that directly contains it."""
    source = resources.files(_CLDR_PACKAGE).joinpath(*_CLDR_FILE)
    with source.open("rb") as handle:
        root = ET.parse(handle).getroot()  # noqa: S314 - trusted file from an installed package
    parent: dict[str, str] = {}
    for group in root.iterfind("./territoryContainment/group"):
        kind = group.get("type", "")
        # Groupings overlap the hierarchy (EU, UN, 202 Sub-Saharan Africa); deprecated
        # entries name codes that no longer exist. Neither says where a country is.
        if group.get("status") or group.get("grouping") == "true" or not _is_m49(kind):
            continue
        for member in group.get("contains", "").split():
            parent.setdefault(member, kind)
    return parent


def _country_name(country: object) -> str:
    # pycountry's common name where ISO's is formal ("Bolivia", not "Bolivia,
    # Plurinational State of").
    return str(getattr(country, "common_name", None) or country.name)  # type: ignore[attr-defined]


@functools.lru_cache(maxsize=1)
def catalogue() -> dict[str, CatalogueEntry]:
    """Every ISO 3166-1 country, by alpha-2 code."""
    parent = containment()
    names = Locale("en").territories
    entries: dict[str, CatalogueEntry] = {}
    for country in pycountry.countries:
        sub_region = parent.get(country.alpha_2, "")
        region = parent.get(sub_region, "") if sub_region else ""
        if region == _WORLD:
            # A country placed directly in a continent (none today): no sub-region.
            sub_region, region = "", sub_region
        entries[country.alpha_2] = CatalogueEntry(
            code=country.alpha_2,
            alpha3=country.alpha_3,
            name=_country_name(country),
            region=str(names.get(sub_region, "")) if sub_region else "",
            continent=str(names.get(region, "")) if region else "",
        )
    return entries
