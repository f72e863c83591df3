"""Lapsed and lost on the small world of conftest.py: the counts, the lists, a saved
segment from a list, and the attaché's work list."""

from __future__ import annotations

import csv
import io

import pytest

from engage.accounts.models import AuditEvent
from engage.alumni.segments import segment_audience, segment_count
from engage.errors import InvalidInput, NotFound
from engage.insights.filters import report_filter
from engage.insights.lapsed import (
    lapsed_people,
    lapsed_report,
    lapsed_work_list,
    save_lapsed_segment,
)

NAMES = ("total", "never_contacted", "not_engaged", "no_working_email", "any")


def counts(row):
    return {name: row.counts[name] for name in NAMES}


async def test_counts_by_country(world):
    report = await lapsed_report(report_filter(), actor=world.staff, months=18)
    # Never contacted: k3. Not engaged for 18 months: k2, k3, k4 (never), c1 (800 days).
    # No working email: k2 (none), k3 (bounced); u1 has a verified secondary.
    assert {r.key: counts(r) for r in report.rows} == {
        "KE": {"total": 4, "never_contacted": 1, "not_engaged": 3, "no_working_email": 2, "any": 3},
        "UG": {"total": 1, "never_contacted": 0, "not_engaged": 0, "no_working_email": 0, "any": 0},
        "CO": {"total": 1, "never_contacted": 0, "not_engaged": 1, "no_working_email": 0, "any": 1},
    }
    assert counts(report.total) == {
        "total": 6, "never_contacted": 1, "not_engaged": 4, "no_working_email": 2, "any": 4,
    }  # fmt: skip
    # Twelve months: u1 (500 days) has not engaged for 12 either.
    report = await lapsed_report(report_filter(), actor=world.staff, months=12)
    assert report.total.counts["not_engaged"] == 5
    regions = await lapsed_report(report_filter(), actor=world.staff, by="region")
    assert {r.key: r.counts["any"] for r in regions.rows} == {
        "Eastern Africa": 3,
        "South America": 1,
    }


async def test_the_lists_are_the_counted_people(world):
    for which, names in (
        ("never_contacted", ["K3"]),
        ("not_engaged", ["C1", "K2", "K3", "K4"]),
        ("no_working_email", ["K2", "K3"]),
    ):
        page = await lapsed_people(report_filter(), which, actor=world.staff)
        assert sorted(p.given_name for p in page.people) == names
        assert page.total == len(names)
    attache = await lapsed_people(report_filter(), "not_engaged", actor=world.nbo)
    assert sorted(p.given_name for p in attache.people) == ["K2", "K3", "K4"]
    with pytest.raises(InvalidInput):
        await lapsed_report(report_filter(), actor=world.staff, by="class_year")


async def test_one_click_saves_the_list_as_a_segment(world):
    flt = report_filter(region="Eastern Africa")
    segment = await save_lapsed_segment(
        flt, "not_engaged", "Quiet for 18 months", actor=world.staff, months=18
    )
    assert segment.filters == {
        "region": "Eastern Africa",
        "vetting": "confirmed",
        "not_engaged_months": 18,
    }
    assert segment.embassy_id is None  # staff: a global segment
    people = await segment_audience(segment.id, actor=world.staff)
    assert sorted(p.given_name for p in await people) == ["K2", "K3", "K4"]
    # An attaché's segment belongs to their embassy; the same list, in their scope.
    mine = await save_lapsed_segment(
        report_filter(), "no_working_email", "No email", actor=world.nbo
    )
    assert mine.embassy_id == world.embassies["NBO"].id
    assert mine.filters == {"vetting": "confirmed", "has_working_email": False}
    assert await segment_count(mine.id, actor=world.nbo) == 2
    report = await lapsed_report(report_filter(), actor=world.nbo)
    assert report.total.counts["no_working_email"] == 2
    with pytest.raises(NotFound):
        await save_lapsed_segment(
            report_filter(embassy="BOG"), "never_contacted", "Theirs", actor=world.nbo
        )


async def test_the_work_list_csv(world):
    work = await lapsed_work_list(report_filter(), "not_engaged", actor=world.nbo, ip="10.0.0.1")
    assert work.total == 3
    assert work.filename.startswith("work-list-not-engaged-")
    data = b"".join([chunk async for chunk in work.chunks()])
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    # By family name (the factory numbers them in the order they were made).
    order = sorted(["k2", "k3", "k4"], key=lambda k: world.people[k].family_name)
    assert [r["given_name"] for r in rows] == [k.upper() for k in order]
    by_name = {r["given_name"]: r for r in rows}
    assert by_name["K2"]["email"] == "" and by_name["K2"]["email_status"] == "none"
    assert by_name["K3"]["email_status"] == "failing"
    assert by_name["K4"]["last_contacted_at"] == "2016-01-01"
    assert {r["list"] for r in rows} == {"not_engaged"}
    assert {r["country"] for r in rows} == {"KE"}
    logged = await AuditEvent.filter(action="insights.work_list").first()
    assert logged is not None and logged.details["rows"] == 3


async def test_a_work_list_cell_is_never_a_formula(world):
    k3 = world.people["k3"]
    k3.phone = '=HYPERLINK("http://x")'
    await k3.save()
    work = await lapsed_work_list(report_filter(), "never_contacted", actor=world.staff)
    text = b"".join([chunk async for chunk in work.chunks()]).decode("utf-8-sig")
    assert "'=HYPERLINK" in text
