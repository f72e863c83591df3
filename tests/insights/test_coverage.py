"""Contact coverage on the small world of conftest.py, each figure worked out here."""

from __future__ import annotations

from datetime import date

import pytest

from engage.errors import NotFound, PermissionDenied
from engage.insights.coverage import contact_coverage
from engage.insights.filters import report_filter

#: Counted: k1 k2 k3 k4 (KE), u1 (UG), c1 (CO). k5 is pending, u2 merged.
#: Contacted 30 (k1), 120 (k2), 500 (u1), 800 days ago (c1), in 2016 (k4), never (k3).
KE = {"total": 4, "m3": 1, "m6": 2, "m12": 2, "m24": 2, "never_since_training": 2}
UG = {"total": 1, "m3": 0, "m6": 0, "m12": 0, "m24": 1, "never_since_training": 0}
CO = {"total": 1, "m3": 0, "m6": 0, "m12": 0, "m24": 0, "never_since_training": 0}


def counts(row, names=("total", "m3", "m6", "m12", "m24", "never_since_training")):
    return {name: row.counts[name] for name in names}


async def test_by_country_as_staff(world):
    report = await contact_coverage(report_filter(), actor=world.staff, now=world.now)
    rows = {row.key: counts(row) for row in report.rows}
    assert rows == {"KE": KE, "UG": UG, "CO": CO}
    # Never since training: k3 never contacted; k4 last in 2016, trained until mid-2017.
    assert counts(report.total) == {
        "total": 6, "m3": 1, "m6": 2, "m12": 2, "m24": 3, "never_since_training": 2,
    }  # fmt: skip
    assert report.total.share("m24") == pytest.approx(3 / 6)
    assert report.rows[0].label == "Kenya"  # the largest first


async def test_regions_and_embassies_add_up_their_countries(world):
    regions = await contact_coverage(report_filter(), actor=world.staff, by="region")
    assert {r.key: counts(r) for r in regions.rows} == {
        "Eastern Africa": {k: KE[k] + UG[k] for k in KE},
        "South America": CO,
    }
    embassies = await contact_coverage(report_filter(), actor=world.staff, by="embassy")
    assert {r.key: r.counts["total"] for r in embassies.rows} == {"NBO": 5, "BOG": 1}


async def test_by_training_a_person_counts_in_each_of_their_groups(world):
    years = await contact_coverage(report_filter(), actor=world.staff, by="class_year")
    assert {r.key: counts(r) for r in years.rows} == {
        "2019": {"total": 1, "m3": 0, "m6": 0, "m12": 0, "m24": 0, "never_since_training": 1},
        "2018": {"total": 1, "m3": 0, "m6": 1, "m12": 1, "m24": 1, "never_since_training": 0},
        "2017": {"total": 1, "m3": 0, "m6": 0, "m12": 0, "m24": 0, "never_since_training": 1},
        "2015": {"total": 2, "m3": 1, "m6": 1, "m12": 1, "m24": 2, "never_since_training": 0},
        "2010": {"total": 1, "m3": 0, "m6": 0, "m12": 0, "m24": 0, "never_since_training": 0},
    }
    assert [r.key for r in years.rows] == ["2019", "2018", "2017", "2015", "2010"]
    categories = await contact_coverage(report_filter(), actor=world.staff, by="course_category")
    assert {r.key: r.counts["total"] for r in categories.rows} == {
        "pme": 3,  # k1 k3 c1
        "technical": 2,  # k2 u1
        "english": 1,  # k4
    }
    # A second course: k4 also took PME in 2020, so counts under both categories.
    await world.add_training("k4", "PME", 2020)
    categories = await contact_coverage(report_filter(), actor=world.staff, by="course_category")
    assert {r.key: r.counts["total"] for r in categories.rows}["pme"] == 4
    assert categories.total.counts["total"] == 6  # each person once


async def test_the_filter_narrows_people_and_training_groups(world):
    flt = report_filter(course_category="technical")
    report = await contact_coverage(flt, actor=world.staff, by="course_category")
    assert {r.key: r.counts["total"] for r in report.rows} == {"technical": 2}
    flt = report_filter(class_year_min=2016, country=["KE"])
    report = await contact_coverage(flt, actor=world.staff, by="class_year")
    assert {r.key: r.counts["total"] for r in report.rows} == {"2019": 1, "2018": 1, "2017": 1}
    report = await contact_coverage(report_filter(region="South America"), actor=world.staff)
    assert counts(report.total) == CO


async def test_a_date_range_selects_the_graduates_of_the_period(world):
    # Training that ended in 2015: k1 (PME) and u1 (TECH).
    flt = report_filter(date_from=date(2015, 1, 1), date_to=date(2015, 12, 31))
    report = await contact_coverage(flt, actor=world.staff, now=world.now)
    assert {r.key: counts(r) for r in report.rows} == {
        "KE": {"total": 1, "m3": 1, "m6": 1, "m12": 1, "m24": 1, "never_since_training": 0},
        "UG": UG,
    }
    # The date range and the category hold for the same training record.
    pme = report_filter(
        date_from=date(2015, 1, 1), date_to=date(2015, 12, 31), course_category="pme"
    )
    report = await contact_coverage(pme, actor=world.staff)
    assert report.total.counts["total"] == 1
    # 2016 to 2019: k4 (2017), k2 (2018), k3 (2019); k4 and k3 not contacted since.
    later = report_filter(date_from=date(2016, 1, 1), date_to=date(2019, 12, 31))
    report = await contact_coverage(later, actor=world.staff, by="class_year")
    assert report.total.counts["total"] == 3
    assert report.total.counts["never_since_training"] == 2
    assert {r.key: r.counts["total"] for r in report.rows} == {"2019": 1, "2018": 1, "2017": 1}


async def test_an_attache_sees_their_countries(world, actor_for):
    report = await contact_coverage(report_filter(), actor=world.nbo)
    assert {r.key for r in report.rows} == {"KE", "UG"}
    assert report.total.counts["total"] == 5
    embassies = await contact_coverage(report_filter(), actor=world.nbo, by="embassy")
    assert [r.key for r in embassies.rows] == ["NBO"]
    # A country outside their scope matches nobody; another embassy is not found.
    report = await contact_coverage(report_filter(country=["CO"]), actor=world.nbo)
    assert report.rows == [] and report.total.counts["total"] == 0
    with pytest.raises(NotFound):
        await contact_coverage(report_filter(embassy="BOG"), actor=world.nbo)
    from engage.accounts.models import Role

    with pytest.raises(PermissionDenied):
        await contact_coverage(report_filter(), actor=await actor_for(Role.ALUMNUS))
