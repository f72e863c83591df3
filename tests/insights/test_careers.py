"""Career outcomes on the small world of conftest.py."""

from __future__ import annotations

from datetime import date

import pytest

from engage.alumni.models import Alumnus
from engage.insights.careers import career_outcomes, recently_promoted
from engage.insights.filters import report_filter

NAMES = ("total", "of5", "of5_after", "of5_days", "of6", "of6_after", "of6_days")
#: k1: trained until 2015-06-30, colonel 2020-07-01; k2: until 2018-12-31, brigadier
#: (OF-6, so OF-5 too) 2024-01-01; c1: colonel in 2009, before training (2010).
K1_DAYS = (date(2020, 7, 1) - date(2015, 6, 30)).days
K2_DAYS = (date(2024, 1, 1) - date(2018, 12, 31)).days


def counts(row):
    return {name: row.counts[name] for name in NAMES}


async def test_by_country(world):
    report = await career_outcomes(report_filter(), actor=world.staff)
    rows = {r.key: counts(r) for r in report.rows}
    assert rows == {
        "KE": {"total": 4, "of5": 2, "of5_after": 2, "of5_days": K1_DAYS + K2_DAYS,
               "of6": 1, "of6_after": 1, "of6_days": K2_DAYS},
        "CO": {"total": 1, "of5": 1, "of5_after": 0, "of5_days": 0,
               "of6": 0, "of6_after": 0, "of6_days": 0},
        "UG": {"total": 1, "of5": 0, "of5_after": 0, "of5_days": 0,
               "of6": 0, "of6_after": 0, "of6_days": 0},
    }  # fmt: skip
    kenya = next(r for r in report.rows if r.key == "KE")
    assert kenya.years("of5") == pytest.approx((K1_DAYS + K2_DAYS) / 2 / 365.25)
    assert kenya.years("of6") == pytest.approx(K2_DAYS / 365.25)
    assert next(r for r in report.rows if r.key == "CO").years("of5") is None
    assert report.total.counts["of5"] == 3 and report.total.counts["of6"] == 1
    assert kenya.share("of5") == pytest.approx(2 / 4)
    # The merged u2 (a general) and the pending k5 are not counted.


async def test_by_course(world):
    report = await career_outcomes(report_filter(), actor=world.staff, by="course")
    rows = {r.label: counts(r) for r in report.rows}
    assert rows == {
        # k1, k3, c1: k1 after its end, c1 before.
        "Command and Staff (Staff College)": {
            "total": 3, "of5": 2, "of5_after": 1, "of5_days": K1_DAYS,
            "of6": 0, "of6_after": 0, "of6_days": 0,
        },
        # k2, u1.
        "Air Defence (Fires School)": {
            "total": 2, "of5": 1, "of5_after": 1, "of5_days": K2_DAYS,
            "of6": 1, "of6_after": 1, "of6_days": K2_DAYS,
        },
        "English (Language Institute)": {
            "total": 1, "of5": 0, "of5_after": 0, "of5_days": 0,
            "of6": 0, "of6_after": 0, "of6_days": 0,
        },
    }  # fmt: skip
    assert counts(report.total) == {
        "total": 6, "of5": 3, "of5_after": 2, "of5_days": K1_DAYS + K2_DAYS,
        "of6": 1, "of6_after": 1, "of6_days": K2_DAYS,
    }  # fmt: skip
    # A second course counts from its own end: k1 took English in 2018, colonel 2020.
    await world.add_training("k1", "ENG", 2018)
    report = await career_outcomes(report_filter(), actor=world.staff, by="course")
    english = next(r for r in report.rows if r.label.startswith("English"))
    assert english.counts["of5_days"] == (date(2020, 7, 1) - date(2018, 6, 30)).days
    # By country, the first training (2015) still counts.
    kenya = next(r for r in (await career_outcomes(report_filter(), actor=world.staff)).rows
                 if r.key == "KE")  # fmt: skip
    assert kenya.counts["of5_days"] == K1_DAYS + K2_DAYS


async def test_date_range_and_scope(world):
    since_2020 = report_filter(date_from=date(2020, 1, 1))
    report = await career_outcomes(since_2020, actor=world.staff)
    assert report.total.counts["of5"] == 2  # k1 (2020), k2 (2024); c1's 2009 left out
    until_2021 = report_filter(date_to=date(2021, 12, 31))
    report = await career_outcomes(until_2021, actor=world.staff)
    assert report.total.counts["of5"] == 2  # c1 (2009), k1 (2020)
    assert report.total.counts["of6"] == 0
    mine = await career_outcomes(report_filter(), actor=world.nbo)
    assert {r.key for r in mine.rows} == {"KE", "UG"}
    assert mine.total.counts["of5"] == 2
    regions = await career_outcomes(report_filter(), actor=world.staff, by="region")
    assert {r.key: r.counts["of5"] for r in regions.rows} == {
        "Eastern Africa": 2,
        "South America": 1,
    }


async def test_recently_promoted_and_not_engaged(world):
    page = await recently_promoted(report_filter(), actor=world.staff, now=world.now)
    # k3: OF-4 sixty days ago, never engaged. u1: OF-3 a hundred days ago, but engaged
    # 500 days ago (within 18 months). k1 and k2: promotions long ago.
    assert [p.alumnus.given_name for p in page.people] == ["K3"]
    assert page.people[0].grade == "OF-4" and page.total == 1
    # Once k3 answers an invitation, they are no longer quiet.
    await Alumnus.filter(id=world.people["k3"].id).update(last_engaged_at=world.ago(1))
    page = await recently_promoted(report_filter(), actor=world.nbo, now=world.now)
    assert page.people == []
