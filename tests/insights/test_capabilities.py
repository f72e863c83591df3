"""Capability lookup on the small world of conftest.py."""

from __future__ import annotations

import csv
import io
from datetime import date

from engage.accounts.models import AuditEvent
from engage.insights.capabilities import (
    capability_lookup,
    capable_export,
    capable_people,
    equipment_tags,
)
from engage.insights.filters import report_filter


async def test_by_country_exact_tags(world):
    assert await equipment_tags() == ["C-130", "C-130J", "Patriot"]
    report = await capability_lookup(report_filter(), actor=world.staff, tag="C-130")
    # PME teaches "C-130" (k1, k3, c1); "C-130J" of TECH is another aircraft.
    assert {r.key: r.counts["total"] for r in report.rows} == {"KE": 2, "CO": 1}
    assert report.total.counts["total"] == 3
    assert [c.title for c in report.courses] == ["Command and Staff"]
    patriot = await capability_lookup(report_filter(), actor=world.staff, tag="Patriot")
    assert {r.key: r.counts["total"] for r in patriot.rows} == {"KE": 1, "UG": 1}
    nothing = await capability_lookup(report_filter(), actor=world.staff, tag="c-130")
    assert nothing.rows == [] and nothing.total.counts["total"] == 0


async def test_without_a_tag_people_per_tag(world):
    report = await capability_lookup(report_filter(), actor=world.staff, tag="")
    assert {r.key: r.counts["total"] for r in report.rows} == {
        "C-130": 3,  # k1 k3 c1
        "C-130J": 2,  # k2 u1
        "Patriot": 2,
    }
    assert report.total.counts["total"] == 5  # k4 learnt English only
    mine = await capability_lookup(report_filter(), actor=world.nbo, tag="")
    assert {r.key: r.counts["total"] for r in mine.rows} == {"C-130": 2, "C-130J": 2, "Patriot": 2}


async def test_scope_date_range_and_the_same_record(world):
    mine = await capability_lookup(report_filter(), actor=world.nbo, tag="C-130")
    assert {r.key: r.counts["total"] for r in mine.rows} == {"KE": 2}
    # Training that ended in the range: k3's (2019), not k1's (2015) nor c1's (2010).
    since = report_filter(date_from=date(2016, 1, 1))
    report = await capability_lookup(since, actor=world.staff, tag="C-130")
    assert report.total.counts["total"] == 1
    # k1 also takes English in 2020: class year 2020 and the tag are not one record.
    await world.add_training("k1", "ENG", 2020)
    later = report_filter(class_year_min=2019)
    report = await capability_lookup(later, actor=world.staff, tag="C-130")
    assert report.total.counts["total"] == 1  # k3 only
    embassy = await capability_lookup(report_filter(), actor=world.staff, tag="C-130", by="embassy")
    assert {r.key: r.counts["total"] for r in embassy.rows} == {"NBO": 2, "BOG": 1}


async def test_the_people_and_their_csv(world):
    page = await capable_people(report_filter(), actor=world.nbo, tag="C-130")
    assert sorted(p.alumnus.given_name for p in page.people) == ["K1", "K3"]
    assert all(p.training == [("Command and Staff", "Staff College", p.training[0][2])]
               for p in page.people)  # fmt: skip
    export = await capable_export(report_filter(), actor=world.staff, tag="Patriot")
    data = b"".join([chunk async for chunk in export.chunks()])
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    by_name = {r["given_name"]: r for r in rows}
    assert set(by_name) == {"K2", "U1"}
    assert by_name["U1"]["email"] == "u1.backup@example.org"  # the verified secondary
    assert by_name["K2"]["courses"] == "Air Defence (Fires School), 2018"
    event = await AuditEvent.filter(action="insights.capability_export").first()
    assert event is not None and event.details == {"tag": "Patriot", "filter": {}, "rows": 2}
