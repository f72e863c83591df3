"""The places API as its contract says: routes, statuses, JSON bodies."""

from __future__ import annotations

import pytest

from engage.accounts.api_tokens import create_api_token
from engage.accounts.models import Role
from engage.places.models import Country, Embassy

NEW = {
    "code": "NBO",
    "name": "Embassy in Nairobi",
    "country": "KE",
    "city": "Nairobi",
    "timezone": "Africa/Nairobi",
}
EMBASSY_KEYS = {"code", "name", "country", "city", "timezone", "accredited"}


async def test_countries_for_anyone_signed_in(client, make_user, sign_in):
    assert (await client.get("/api/v1/countries")).status_code == 401
    await sign_in(client, await make_user(role=Role.ALUMNUS))
    response = await client.get("/api/v1/countries")
    assert response.status_code == 200
    body = response.json()
    assert 245 <= len(body) <= 255
    kenya = next(c for c in body if c["code"] == "KE")
    assert {k: kenya[k] for k in ("alpha3", "name", "region", "continent")} == {
        "alpha3": "KEN",
        "name": "Kenya",
        "region": "Eastern Africa",
        "continent": "Africa",
    }
    assert kenya["programme_status"] == "active"


async def test_countries_with_a_bearer_token_and_filters(client, make_user):
    user = await make_user(role=Role.ATTACHE)
    raw, _token = await create_api_token(user, name="script")
    await Country.filter(code="ML").update(programme_status="suspended")
    response = await client.get(
        "/api/v1/countries",
        params={"programme_status": "suspended"},
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert response.status_code == 200
    assert [c["code"] for c in response.json()] == ["ML"]
    bad = await client.get(
        "/api/v1/countries",
        params={"programme_status": "paused"},
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert bad.status_code == 422


async def test_staff_create_an_embassy(client, make_user, sign_in):
    await sign_in(client, await make_user(role=Role.STAFF))
    response = await client.post("/api/v1/embassies", json={**NEW, "accredited": ["SO"]})
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == EMBASSY_KEYS
    assert body["code"] == "NBO"
    assert body["country"] == "KE"
    assert sorted(body["accredited"]) == ["KE", "SO"]

    plain = await client.post("/api/v1/embassies", json={**NEW, "code": "NBO2"})
    assert plain.json()["accredited"] == ["KE"]

    again = await client.post("/api/v1/embassies", json=NEW)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**NEW, "timezone": "Africa/Atlantis"}, "timezone"),
        ({**NEW, "country": "XX"}, "country"),
        ({**NEW, "accredited": ["SO", "XX"]}, "accredited"),
        ({**NEW, "code": "nbo!"}, "code"),
        ({k: v for k, v in NEW.items() if k != "city"}, "city"),
        ({**NEW, "colour": "blue"}, "colour"),
        ({**NEW, "accredited": "SO"}, "accredited"),
    ],
)
async def test_invalid_embassies_get_422_with_fields(client, make_user, sign_in, body, field):
    await sign_in(client, await make_user(role=Role.ADMIN))
    response = await client.post("/api/v1/embassies", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert field in error["fields"]
    assert await Embassy.all().count() == 0


@pytest.mark.parametrize("role", [Role.ALUMNUS, Role.ATTACHE])
async def test_writes_are_for_staff(client, make_user, make_embassy, sign_in, role):
    await make_embassy(code="ADD", country="ET")
    await sign_in(client, await make_user(role=role))
    assert (await client.post("/api/v1/embassies", json=NEW)).status_code == 403
    patched = await client.patch("/api/v1/embassies/ADD", json={"name": "Taken"})
    assert patched.status_code == 403
    assert patched.json()["error"]["code"] == "forbidden"
    assert not await Embassy.exists(code="NBO")
    assert (await Embassy.get(code="ADD")).name == "Embassy ADD"


async def test_attache_reads_only_their_own(client, make_user, make_embassy, sign_in):
    await make_embassy(code="NBO", accredited=["KE", "SO"])
    await make_embassy(code="ADD", country="ET", timezone="Africa/Addis_Ababa")
    await sign_in(client, await make_user(role=Role.ATTACHE, embassies=["NBO"]))

    listed = await client.get("/api/v1/embassies")
    assert listed.status_code == 200
    assert [e["code"] for e in listed.json()] == ["NBO"]

    own = await client.get("/api/v1/embassies/NBO")
    assert own.status_code == 200
    assert own.json() == {
        "code": "NBO",
        "name": "Embassy NBO",
        "country": "KE",
        "city": "Nairobi",
        "timezone": "Africa/Nairobi",
        "accredited": ["KE", "SO"],
    }
    other = await client.get("/api/v1/embassies/ADD")
    unknown = await client.get("/api/v1/embassies/NOPE")
    assert other.status_code == unknown.status_code == 404
    assert other.json()["error"]["code"] == "not_found"


async def test_alumni_may_not_list_embassies(client, make_user, sign_in):
    await sign_in(client, await make_user(role=Role.ALUMNUS))
    assert (await client.get("/api/v1/embassies")).status_code == 403


async def test_staff_list_every_embassy(client, make_user, make_embassy, sign_in):
    await make_embassy(code="NBO")
    await make_embassy(code="ADD", country="ET")
    await sign_in(client, await make_user(role=Role.STAFF))
    body = (await client.get("/api/v1/embassies")).json()
    assert [e["code"] for e in body] == ["ADD", "NBO"]
    assert all(set(e) == EMBASSY_KEYS for e in body)


async def test_patch_changes_only_the_fields_sent(client, make_user, make_embassy, sign_in):
    await make_embassy(code="NBO", accredited=["KE", "SO"])
    await make_embassy(code="ADD", country="ET")
    await sign_in(client, await make_user(role=Role.STAFF))

    response = await client.patch("/api/v1/embassies/NBO", json={"city": "Gigiri"})
    assert response.status_code == 200
    assert response.json()["city"] == "Gigiri"
    assert response.json()["accredited"] == ["KE", "SO"]

    response = await client.patch("/api/v1/embassies/NBO", json={"accredited": ["UG"]})
    assert sorted(response.json()["accredited"]) == ["KE", "UG"]

    bad = await client.patch("/api/v1/embassies/NBO", json={"timezone": "Nowhere"})
    assert bad.status_code == 422
    assert "timezone" in bad.json()["error"]["fields"]
    taken = await client.patch("/api/v1/embassies/NBO", json={"code": "ADD"})
    assert taken.status_code == 409
    missing = await client.patch("/api/v1/embassies/ZZZ", json={"city": "x"})
    assert missing.status_code == 404
    assert (await Embassy.get(code="NBO")).timezone == "Africa/Nairobi"


async def test_a_session_write_without_the_csrf_header_is_refused(client, make_user, sign_in):
    await sign_in(client, await make_user(role=Role.STAFF))
    del client.headers["X-CSRF-Token"]
    response = await client.post("/api/v1/embassies", json=NEW)
    assert response.status_code == 403
    assert not await Embassy.exists(code="NBO")


async def test_a_bearer_token_writes_without_csrf(client, make_user):
    staff = await make_user(role=Role.STAFF)
    raw, _token = await create_api_token(staff, name="sync")
    response = await client.post(
        "/api/v1/embassies", json=NEW, headers={"Authorization": f"Bearer {raw}"}
    )
    assert response.status_code == 201


async def test_the_routes_are_documented(client):
    document = (await client.get("/openapi.json")).json()
    paths = document["paths"]
    assert set(paths["/api/v1/embassies"]) == {"get", "post"}
    assert set(paths["/api/v1/embassies/{code}"]) == {"get", "patch"}
    assert paths["/api/v1/embassies"]["post"]["x-access"] == "staff"
    assert "409" in paths["/api/v1/embassies"]["post"]["responses"]
    assert paths["/api/v1/countries"]["get"]["x-access"] == "token"
