"""GET /api/v1/insights/*: the reports as JSON with the pages' filters (the small world
of conftest.py)."""

from __future__ import annotations

import pytest

from engage.accounts.models import Role


@pytest.fixture
async def staff_api(client, world, sign_in):
    await sign_in(client, world.staff.user)
    return client


async def test_coverage(staff_api):
    answer = await staff_api.get("/api/v1/insights/coverage?country=KE&country=UG")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["by"] == "country" and body["windows"] == [3, 6, 12, 24]
    assert body["filter"]["filters"] == {"country": ["KE", "UG"]}
    groups = {g["key"]: g for g in body["groups"]}
    assert groups["KE"]["counts"]["total"] == 4 and groups["KE"]["counts"]["m6"] == 2
    assert groups["KE"]["shares"]["m6"] == 0.5
    assert body["total"]["counts"]["total"] == 5
    assert body["total"]["shares"]["m24"] == pytest.approx(3 / 5)
    # The same filter, comma-separated.
    same = await staff_api.get("/api/v1/insights/coverage?country=KE,UG")
    assert same.json()["total"] == body["total"]
    years = await staff_api.get("/api/v1/insights/coverage?by=class_year&class_year_min=2015")
    assert [g["key"] for g in years.json()["groups"]] == ["2019", "2018", "2017", "2015"]


async def test_bad_filters_answer_422_with_the_fields(staff_api):
    for query, field in (
        ("by=planet", "by"),
        ("date_from=2025-02-30", "date_from"),
        ("country=Kenya", "country"),
        ("surprise=1", "surprise"),
    ):
        answer = await staff_api.get(f"/api/v1/insights/coverage?{query}")
        assert answer.status_code == 422, query
        assert field in answer.json()["error"]["fields"], (query, answer.json())
    dated = await staff_api.get("/api/v1/insights/lapsed?date_from=2025-01-01")
    assert dated.status_code == 422 and "date_from" in dated.json()["error"]["fields"]
    later = await staff_api.get("/api/v1/insights/funnel?date_from=2025-06-01&date_to=2025-01-01")
    assert later.status_code == 422 and "date_to" in later.json()["error"]["fields"]


async def test_lapsed_funnel_careers_capabilities(staff_api, world):
    body = (await staff_api.get("/api/v1/insights/lapsed?months=12&by=region")).json()
    assert body["months"] == 12
    assert body["total"]["counts"] == {
        "total": 6, "never_contacted": 1, "not_engaged": 5, "no_working_email": 2, "any": 5,
    }  # fmt: skip
    assert body["total"]["shares"]["no_working_email"] == pytest.approx(2 / 6)
    body = (await staff_api.get("/api/v1/insights/funnel")).json()
    assert body["total"]["counts"]["invited"] == 0 and body["no_show_rate"] is None
    body = (await staff_api.get("/api/v1/insights/careers?by=course")).json()
    assert body["total"]["counts"]["of5"] == 3
    assert body["total"]["years_to_of6"] == pytest.approx(1827 / 365.25)
    body = (await staff_api.get("/api/v1/insights/capabilities?tag=C-130")).json()
    assert {g["key"]: g["counts"]["total"] for g in body["groups"]} == {"KE": 2, "CO": 1}
    assert [c["title"] for c in body["courses"]] == ["Command and Staff"]
    body = (await staff_api.get("/api/v1/insights/capabilities")).json()
    assert {g["key"] for g in body["groups"]} == {"C-130", "C-130J", "Patriot"}


async def test_scope(client, world, sign_in, make_user):
    await sign_in(client, world.nbo.user)
    body = (await client.get("/api/v1/insights/coverage?by=embassy")).json()
    assert [g["key"] for g in body["groups"]] == ["NBO"]
    assert body["total"]["counts"]["total"] == 5
    for report in ("coverage", "lapsed", "funnel", "careers", "capabilities"):
        answer = await client.get(f"/api/v1/insights/{report}?embassy=BOG")
        assert answer.status_code == 404, report
    await sign_in(client, await make_user(role=Role.ALUMNUS))
    assert (await client.get("/api/v1/insights/coverage")).status_code == 403
    client.cookies.clear()
    assert (await client.get("/api/v1/insights/coverage")).status_code == 401


async def test_documented_in_openapi(client):
    document = (await client.get("/openapi.json")).json()
    for report in ("coverage", "lapsed", "funnel", "careers", "capabilities"):
        operation = document["paths"][f"/api/v1/insights/{report}"]["get"]
        assert operation["x-access"] == "attache"
        names = {p["name"] for p in operation["parameters"]}
        assert {"country", "region", "embassy", "course_category", "class_year_min"} <= names
        # Lapsed and lost counts months back from today: no period.
        assert ("date_from" in names) == (report != "lapsed")
