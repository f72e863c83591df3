"""The Insights pages on the small world of conftest.py: each report as staff and as
the Nairobi attaché, its accessible chart and table, CSV downloads, a segment saved
from a list."""

from __future__ import annotations

import csv
import io
import re

import pytest

from engage.accounts.models import Role
from engage.alumni.models import Segment

REPORTS = ("coverage", "lapsed", "funnel", "careers", "capabilities")


def svg_of(html: str) -> str:
    match = re.search(r"<svg class=\"insight-chart\".*?</svg>", html, re.S)
    assert match, "no chart"
    return match.group(0)


def csv_rows(response) -> list[dict[str, str]]:
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


@pytest.fixture
async def staff_client(client, world, sign_in):
    await sign_in(client, world.staff.user)
    return client


async def test_every_report_draws_an_accessible_chart_beside_its_table(staff_client):
    index = await staff_client.get("/insights")
    assert index.status_code == 200
    for name in REPORTS:
        assert f'/insights/{name}"' in index.text
        page = await staff_client.get(f"/insights/{name}")
        assert page.status_code == 200, (name, page.text[-2000:])
        assert page.text.count("<h1") == 1
        svg = svg_of(page.text)
        assert 'role="img"' in svg
        labelled = re.search(r'aria-labelledby="([\w-]+)-title ([\w-]+)-desc"', svg)
        assert labelled, svg[:300]
        assert f'<title id="{labelled.group(1)}-title">' in svg
        assert f'<desc id="{labelled.group(2)}-desc">' in svg
        assert "<script" not in page.text and "style=" not in page.text
        assert '<table class="insight-figures">' in page.text
        assert 'aria-current="page">Insights' in page.text


async def test_coverage_page_figures_and_csv(staff_client):
    page = await staff_client.get("/insights/coverage?by=region")
    # Eastern Africa: 5 alumni, 1 contacted within 3 months (20%).
    assert "Eastern Africa" in page.text
    assert "1 (20%)" in page.text
    desc = re.search(r"<desc[^>]*>(.*?)</desc>", page.text, re.S).group(1)
    assert "Eastern Africa: 3 months 20%, 6 months 40%, 12 months 40%, 24 months 60%." in desc
    download = await staff_client.get("/insights/coverage.csv?by=country")
    rows = csv_rows(download)
    kenya = next(r for r in rows if r["country"] == "KE")
    assert kenya["total"] == "4" and kenya["m6"] == "2" and kenya["m6_share"] == "0.5000"
    assert rows[-1]["label"] == "All alumni in the report" and rows[-1]["total"] == "6"
    assert "attachment" in download.headers["content-disposition"]


async def test_a_bad_filter_is_shown_beside_its_field(staff_client):
    page = await staff_client.get("/insights/coverage?date_from=2025-13-01&by=planet")
    assert page.status_code == 422
    assert 'id="f-date_from-error"' in page.text
    assert "<svg" not in page.text
    later = await staff_client.get("/insights/funnel?date_from=2025-06-01&date_to=2025-01-01")
    assert later.status_code == 422 and 'id="f-date_to-error"' in later.text


async def test_the_attache_sees_their_countries(client, world, sign_in):
    await sign_in(client, world.nbo.user)
    page = await client.get("/insights/coverage")
    assert page.status_code == 200
    assert "Kenya" in page.text and "Colombia" not in page.text
    assert (await client.get("/insights/coverage?embassy=BOG")).status_code == 404
    rows = csv_rows(await client.get("/insights/capabilities.csv?tag=C-130"))
    assert [(r["country"], r["total"]) for r in rows] == [("KE", "2"), ("", "2")]
    for name in REPORTS:
        assert (await client.get(f"/insights/{name}")).status_code == 200


async def test_alumni_may_not_see_insights(client, world, make_user, sign_in):
    await sign_in(client, await make_user(role=Role.ALUMNUS))
    assert (await client.get("/insights")).status_code == 403
    assert (await client.get("/insights/coverage.csv")).status_code == 403


async def test_lapsed_list_to_segment_and_work_list(client, world, sign_in):
    await sign_in(client, world.nbo.user)
    page = await client.get("/insights/lapsed?list=not_engaged&months=18")
    assert page.status_code == 200
    assert "Not engaged for 18 months (3)" in page.text
    assert 'name="date_from"' not in page.text  # about today: no period
    names = re.findall(r'href="[^"]*/alumni/(\d+)"', page.text)
    assert sorted(int(n) for n in names) == sorted(world.people[k].id for k in ("k2", "k3", "k4"))
    work = await client.get("/insights/lapsed/work-list.csv?list=not_engaged&months=18")
    assert {r["given_name"] for r in csv_rows(work)} == {"K2", "K3", "K4"}
    saved = await client.post(
        "/insights/lapsed/segment",
        data={"name": "Quiet Kenyans", "list": "not_engaged", "months": "18", "country": "KE"},
    )
    assert saved.status_code == 303
    segment = await Segment.get(name="Quiet Kenyans")
    assert saved.headers["location"] == f"/alumni?segment={segment.id}&saved=segment"
    assert segment.filters == {"country": ["KE"], "vetting": "confirmed", "not_engaged_months": 18}
    directory = await client.get(saved.headers["location"])
    assert directory.status_code == 200 and "3 people" in directory.text
    again = await client.post(
        "/insights/lapsed/segment",
        data={"name": "quiet kenyans", "list": "not_engaged", "months": "18", "country": "KE"},
    )
    assert again.status_code == 409
    assert "choose another name" in again.text
    assert 'name="country" value="KE"' in again.text


async def test_funnel_careers_capabilities_csv(staff_client, world):
    rows = csv_rows(await staff_client.get("/insights/funnel.csv?view=embassy"))
    assert rows == [] or rows[-1]["label"] == "All events in the report"
    careers = csv_rows(await staff_client.get("/insights/careers.csv?by=course"))
    pme = next(r for r in careers if r["label"].startswith("Command and Staff"))
    assert (pme["total"], pme["of5"], pme["of6"]) == ("3", "2", "0")
    recent = csv_rows(await staff_client.get("/insights/careers/recent.csv"))
    assert [r["given_name"] for r in recent] == ["K3"]
    people = csv_rows(await staff_client.get("/insights/capabilities/people.csv?tag=Patriot"))
    assert {r["given_name"] for r in people} == {"K2", "U1"}
    anything = csv_rows(await staff_client.get("/insights/capabilities/people.csv"))
    assert {r["given_name"] for r in anything} == {"K1", "K2", "K3", "U1", "C1"}
    page = await staff_client.get("/insights/capabilities?tag=C-130&by=embassy")
    assert "NBO · Embassy NBO" in page.text and "Command and Staff (Staff College)" in page.text


async def test_an_attache_of_two_embassies_chooses_the_segments_embassy(
    client, world, make_user, make_embassy, sign_in
):
    kampala = await make_embassy(code="KLA", country="UG", accredited=["UG"], city="Kampala")
    both = await make_user(role=Role.ATTACHE, embassies=["NBO", "KLA"])
    await sign_in(client, both)
    page = await client.get("/insights/lapsed?list=never_contacted")
    assert 'name="embassy"' in page.text and "KLA · Embassy KLA" in page.text
    data = {"name": "Never reached", "list": "never_contacted", "months": "18"}
    refused = await client.post("/insights/lapsed/segment", data=data)
    assert refused.status_code == 422
    assert "Choose the embassy this segment is for." in refused.text
    saved = await client.post("/insights/lapsed/segment", data={**data, "embassy": "KLA"})
    assert saved.status_code == 303
    segment = await Segment.get(name="Never reached")
    assert segment.embassy_id == kampala.id
    # Kampala's countries only: Uganda, where nobody was never contacted.
    listed = await client.get(saved.headers["location"])
    assert listed.status_code == 200 and "0 people" in listed.text
