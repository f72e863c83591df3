"""Countries come from pycountry and CLDR (UN M49), not from a hand-typed list."""

from __future__ import annotations

import asyncio
from importlib import resources

from engage.places.catalogue import catalogue, containment
from engage.places.models import Country, ProgrammeStatus
from engage.places.seed import seed_countries

M49_REGIONS = {"Africa", "Americas", "Asia", "Europe", "Oceania"}


def test_catalogue_places_every_country_in_an_m49_region():
    entries = catalogue()
    assert 245 <= len(entries) <= 255
    assert entries["KE"].name == "Kenya"
    assert entries["KE"].alpha3 == "KEN"
    assert (entries["KE"].region, entries["KE"].continent) == ("Eastern Africa", "Africa")
    assert (entries["VN"].region, entries["VN"].continent) == ("Southeast Asia", "Asia")
    assert (entries["CO"].region, entries["CO"].continent) == ("South America", "Americas")
    assert (entries["UA"].region, entries["UA"].continent) == ("Eastern Europe", "Europe")
    assert (entries["FJ"].region, entries["FJ"].continent) == ("Melanesia", "Oceania")
    # M49 places Antarctica in no region; CLDR's private "Outlying Oceania" is not M49.
    assert (entries["AQ"].region, entries["AQ"].continent) == ("", "")
    unplaced = [code for code, e in entries.items() if not e.region or not e.continent]
    assert unplaced == ["AQ"]
    assert {e.continent for e in entries.values()} - {""} == M49_REGIONS


def test_containment_skips_groupings():
    parent = containment()
    assert parent["KE"] == "014"  # not "UN" or "202" (Sub-Saharan Africa), both groupings
    assert parent["014"] == "002"
    assert parent["FR"] == "155"  # not "EU"


def test_the_cldr_file_ships_with_its_package():
    source = resources.files("language_data").joinpath("data", "supplementalData.xml")
    assert source.is_file()


async def test_seeding_fills_the_table(db):
    added = await seed_countries()
    assert added == len(catalogue())
    assert await Country.all().count() == added
    kenya = await Country.get(code="KE")
    assert (kenya.name, kenya.alpha3, kenya.region, kenya.continent) == (
        "Kenya",
        "KEN",
        "Eastern Africa",
        "Africa",
    )
    assert kenya.programme_status == ProgrammeStatus.ACTIVE


async def test_seeding_is_idempotent_and_keeps_programme_status(db):
    await seed_countries()
    await Country.filter(code="ML").update(
        programme_status=ProgrammeStatus.SUSPENDED, status_reason="Coup"
    )
    await Country.filter(code="KE").update(name="Old name", region="Wrong")
    await Country.filter(code="TV").delete()
    total = await Country.all().count()

    assert await seed_countries() == 1  # only Tuvalu was missing
    assert await Country.all().count() == total + 1
    assert await seed_countries() == 0

    mali = await Country.get(code="ML")
    assert mali.programme_status == ProgrammeStatus.SUSPENDED
    assert mali.status_reason == "Coup"
    kenya = await Country.get(code="KE")
    assert (kenya.name, kenya.region) == ("Kenya", "Eastern Africa")  # corrected from source


async def test_seeding_leaves_other_rows_alone(db):
    await Country.create(code="XA", alpha3="XAA", name="Test territory")
    await seed_countries()
    assert (await Country.get(code="XA")).name == "Test territory"


async def test_the_app_seeds_at_start(app):
    assert await Country.all().count() == len(catalogue())


async def test_two_starts_at_once_both_succeed(db):
    # Several web processes may start together on PostgreSQL.
    added = await asyncio.gather(seed_countries(), seed_countries())
    assert await Country.all().count() == len(catalogue())
    assert max(added) == len(catalogue())
