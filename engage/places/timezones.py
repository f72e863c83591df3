"""IANA time zones an embassy may sit in, and the choices a form offers.

::

    is_embassy_zone("Africa/Nairobi")   # True
    is_embassy_zone("EST5EDT")          # False: not a place
    zone_groups()                       # [("Africa", ["Africa/Abidjan", ...]), ...]
"""

from __future__ import annotations

import functools
import zoneinfo

#: The areas of the tz database that name places; an embassy is in one of them.
AREAS = (
    "Africa",
    "America",
    "Antarctica",
    "Arctic",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
)


@functools.lru_cache(maxsize=1)
def embassy_zones() -> frozenset[str]:
    return frozenset(key for key in zoneinfo.available_timezones() if key.split("/", 1)[0] in AREAS)


def is_embassy_zone(key: str) -> bool:
    """True for an IANA zone of a place ("Area/City") that this system can load."""
    if key not in embassy_zones():
        return False
    try:
        zoneinfo.ZoneInfo(key)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


@functools.lru_cache(maxsize=1)
def zone_groups() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Every embassy zone, grouped by area (for a ``<select>`` with ``<optgroup>``)."""
    return tuple(
        (area, tuple(sorted(z for z in embassy_zones() if z.startswith(area + "/"))))
        for area in AREAS
    )
