"""GET /api/v1/alumni and /api/v1/segments: the contract, validation, scope."""

from __future__ import annotations

import typing

import pytest

from engage.accounts.models import Role
from engage.alumni.directory import SORTS
from engage.alumni.models import CareerEntry, CareerSource, TrainingRecord
from engage.api.alumni import AlumniQuery
from tests.factories import ensure_country


@pytest.fixture
async def people(db, make_alumnus, make_course, make_embassy):
    await ensure_country("KE", "Kenya")
    await ensure_country("UG", "Uganda")
    await make_embassy(code="NBO", country="KE", accredited=["KE"])
    await make_embassy(code="KLA", country="UG", accredited=["UG"])
    course = await make_course(title="Air Defence", school="Air School", tags=["Patriot"])
    garcia = await make_alumnus(
        country="KE",
        given_name="José",
        family_name="García",
        grade_level=15,
        grade="OF-5",
        staff_notes="Staff only",
    )
    await TrainingRecord.create(alumnus=garcia, course=course, class_year=2018)
    await CareerEntry.create(
        alumnus=garcia,
        rank="Colonel",
        grade="OF-5",
        effective_date="2020-01-01",
        source=CareerSource.STAFF_VERIFIED,
    )
    others = [
        await make_alumnus(country="KE", given_name="Amani", family_name=f"Otieno{n}")
        for n in range(3)
    ]
    ugandan = await make_alumnus(country="UG", given_name="Okello", family_name="Mugisha")
    return {"garcia": garcia, "others": others, "ugandan": ugandan}


async def test_the_list_answers_pages_of_profiles(client, make_user, sign_in, people):
    await sign_in(client, await make_user(role=Role.STAFF))
    response = await client.get("/api/v1/alumni", params={"page_size": 2})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"items", "total", "page", "page_size", "pages"}
    assert (body["total"], body["page"], body["page_size"], body["pages"]) == (5, 1, 2, 3)
    assert [i["family_name"] for i in body["items"]] == ["García", "Mugisha"]
    first = body["items"][0]
    assert first["id"] == people["garcia"].id and first["country"] == "KE"
    assert first["staff_notes"] == "Staff only", "staff see what staff see"
    assert first["training"][0]["course"]["tags"] == ["Patriot"]
    assert first["career"][0]["rank"] == "Colonel"
    last = (await client.get("/api/v1/alumni", params={"page_size": 2, "page": 3})).json()
    assert [i["family_name"] for i in last["items"]] == ["Otieno2"]


async def test_filters_sorting_and_repeated_countries(client, make_user, sign_in, people):
    await sign_in(client, await make_user(role=Role.STAFF))

    async def names(params) -> list[str]:
        response = await client.get("/api/v1/alumni", params=params)
        assert response.status_code == 200, response.text
        return [i["given_name"] for i in response.json()["items"]]

    assert await names({"q": "jose garcia"}) == ["José"]
    assert await names({"q": "GARCÍA", "tag": "Patriot", "class_year_min": "2018"}) == ["José"]
    assert await names({"tag": "Patriot", "class_year_min": "2019"}) == []
    assert await names([("country", "UG")]) == ["Okello"]
    assert len(await names([("country", "UG"), ("country", "KE")])) == 5
    assert len(await names({"country": "UG,KE"})) == 5
    assert await names({"grade_min": "OF-5", "sort": "-grade"}) == ["José"]
    assert (await names({"sort": "-grade"}))[0] == "José"
    assert (await names({"sort": "-name"}))[0] == "Amani"
    assert await names({"embassy": "KLA"}) == ["Okello"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"grade_min": "general"}, "grade_min"),
        ({"page": "0"}, "page"),
        ({"page_size": "1000"}, "page_size"),
        ({"sort": "email"}, "sort"),
        ({"colour": "blue"}, "colour"),
        ({"country": "Kenya"}, "country"),
        ({"class_year_min": "2020", "class_year_max": "2010"}, "class_year_max"),
        ({"has_account": "perhaps"}, "has_account"),
    ],
)
async def test_bad_parameters_answer_422_naming_the_field(
    client, make_user, sign_in, people, params, field
):
    await sign_in(client, await make_user(role=Role.STAFF))
    response = await client.get("/api/v1/alumni", params=params)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert field in error["fields"], error


async def test_attache_scope(client, make_user, sign_in, people):
    await sign_in(client, await make_user(role=Role.ATTACHE, embassies=["NBO"]))
    body = (await client.get("/api/v1/alumni")).json()
    assert body["total"] == 4
    assert {i["country"] for i in body["items"]} == {"KE"}
    assert all(i["staff_notes"] is None for i in body["items"])
    assert (await client.get("/api/v1/alumni", params={"country": "UG"})).json()["total"] == 0
    refused = await client.get("/api/v1/alumni", params={"embassy": "KLA"})
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
    assert (await client.get("/api/v1/alumni", params={"embassy": "NBO"})).status_code == 200


async def test_who_may_call(client, make_user, sign_in, people):
    assert (await client.get("/api/v1/alumni")).status_code == 401
    await sign_in(client, await make_user(role=Role.ALUMNUS))
    assert (await client.get("/api/v1/alumni")).status_code == 403
    assert (await client.get("/api/v1/segments")).status_code == 403


def test_the_documented_sorts_are_the_directory_sorts():
    sort = AlumniQuery.model_fields["sort"].annotation
    assert set(typing.get_args(sort)) == set(SORTS)


async def test_the_openapi_document_lists_the_filters(client):
    document = (await client.get("/openapi.json")).json()
    operation = document["paths"]["/api/v1/alumni"]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    for name in ("q", "country", "grade_min", "tag", "page", "page_size", "sort"):
        assert name in params, name
    assert params["country"]["schema"]["type"] == "array"
    assert operation["x-access"] == "attache"
    assert "/api/v1/segments/{id}/count" in document["paths"]


# --- Segments ----------------------------------------------------------------------------


async def test_segments_api(client, make_user, sign_in, people):
    await sign_in(client, await make_user(role=Role.ATTACHE, embassies=["NBO"]))
    created = await client.post(
        "/api/v1/segments",
        json={"name": "Senior officers", "filters": {"grade_min": "OF-4", "country": ["KE"]}},
    )
    assert created.status_code == 201, created.text
    segment = created.json()
    assert segment["name"] == "Senior officers" and segment["embassy"] == "NBO"
    assert segment["filters"]["grade_min"] == "OF-4" and segment["filters"]["country"] == ["KE"]
    assert segment["owner"].startswith("attache")
    sid = segment["id"]
    listed = (await client.get("/api/v1/segments")).json()
    assert [s["id"] for s in listed] == [sid]
    assert (await client.get(f"/api/v1/segments/{sid}")).json()["name"] == "Senior officers"
    count = await client.get(f"/api/v1/segments/{sid}/count")
    assert count.status_code == 200 and count.json() == {"id": sid, "count": 1}
    changed = await client.patch(
        f"/api/v1/segments/{sid}", json={"name": "Kenyans", "filters": {"country": ["KE"]}}
    )
    assert changed.status_code == 200 and changed.json()["name"] == "Kenyans"
    assert (await client.get(f"/api/v1/segments/{sid}/count")).json()["count"] == 4
    taken = await client.post("/api/v1/segments", json={"name": "KENYANS"})
    assert taken.status_code == 409 and "name" in taken.json()["error"]["fields"]
    bad = await client.post(
        "/api/v1/segments", json={"name": "Bad", "filters": {"country": ["Kenya"]}}
    )
    assert bad.status_code == 422 and "filters.country" in bad.json()["error"]["fields"]
    elsewhere = await client.post(
        "/api/v1/segments", json={"name": "Theirs", "filters": {"embassy": "KLA"}}
    )
    assert elsewhere.status_code == 404
    opened = await client.get("/api/v1/alumni", params={"segment": sid})
    assert opened.status_code == 200 and opened.json()["total"] == 4
    both = await client.get("/api/v1/alumni", params={"segment": sid, "q": "x"})
    assert both.status_code == 422 and "segment" in both.json()["error"]["fields"]
    assert (await client.delete(f"/api/v1/segments/{sid}")).status_code == 204
    assert (await client.get("/api/v1/alumni", params={"segment": sid})).status_code == 404
    assert (await client.get(f"/api/v1/segments/{sid}")).status_code == 404


async def test_segments_of_another_embassy_answer_404(client, make_user, sign_in, people):
    await sign_in(client, await make_user(role=Role.ATTACHE, embassies=["KLA"]))
    sid = (await client.post("/api/v1/segments", json={"name": "Ugandans"})).json()["id"]
    await sign_in(client, await make_user(role=Role.ATTACHE, embassies=["NBO"]))
    for method, path in (
        ("GET", f"/api/v1/segments/{sid}"),
        ("GET", f"/api/v1/segments/{sid}/count"),
        ("DELETE", f"/api/v1/segments/{sid}"),
        ("GET", "/api/v1/segments/abc"),
    ):
        response = await client.request(method, path)
        assert response.status_code == 404, (method, path)
    await sign_in(client, await make_user(role=Role.STAFF))
    count = (await client.get(f"/api/v1/segments/{sid}/count")).json()["count"]
    assert count == 1, "staff see the segment held to its embassy's countries"
