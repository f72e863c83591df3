"""Fill the countries table from the reference catalogue; run after every migration.

::

    added = await seed_countries()     # 249 on a new database, then 0

Idempotent and cheap: one query reads what is there, one bulk insert adds what is
missing, and names or regions the catalogue has since corrected are refreshed. The
programme status and its reason belong to staff and are never touched. Several
processes may start at once (PostgreSQL): a country another one just inserted is
skipped, not an error.
"""

from __future__ import annotations

from engage.places.catalogue import catalogue
from engage.places.models import Country

_REFRESHED = ("name", "region", "continent")


async def seed_countries() -> int:
    """Add the countries missing from the table; return how many were missing."""
    existing = {country.code: country for country in await Country.all()}
    taken_alpha3 = {country.alpha3 for country in existing.values()}
    missing: list[Country] = []
    stale: list[Country] = []
    for entry in catalogue().values():
        current = existing.get(entry.code)
        if current is None:
            if entry.alpha3 not in taken_alpha3:
                missing.append(
                    Country(
                        code=entry.code,
                        alpha3=entry.alpha3,
                        name=entry.name,
                        region=entry.region,
                        continent=entry.continent,
                    )
                )
            continue
        wanted = {field: getattr(entry, field) for field in _REFRESHED}
        if any(getattr(current, field) != value for field, value in wanted.items()):
            for field, value in wanted.items():
                setattr(current, field, value)
            stale.append(current)
    if missing:
        await Country.bulk_create(missing, ignore_conflicts=True)
    if stale:
        await Country.bulk_update(stale, fields=list(_REFRESHED))
    return len(missing)
