"""The alumni API: the contract (paths, status codes, JSON fields) and who may call what."""

from __future__ import annotations

import httpx
import pytest

from engage.accounts.api_tokens import create_api_token
from engage.accounts.models import AuditEvent, Role
from engage.alumni.models import Alumnus, CareerEntry, TrainingRecord
from tests.factories import ensure_country

CONTRACT_FIELDS = {
    "id",
    "email",
    "given_name",
    "family_name",
    "country",
    "service",
    "rank",
    "grade",
    "status",
    "accepts_invitations",
    "accepts_newsletter",
    "vetting",
    "training",
    "career",
}
NEW = {"given_name": "Amani", "family_name": "Wanjiru", "country": "KE"}


@pytest.fixture
async def as_role(client, make_user, make_embassy, sign_in):
    """Sign ``client`` in with a new user of ``role`` (an attaché covers KE and SO)."""

    async def sign(role: Role, **fields):
        embassies = []
        if role is Role.ATTACHE:
            embassies = [(await make_embassy(country="KE", accredited=["KE", "SO"])).code]
        user = await make_user(role=role, embassies=embassies, **fields)
        await sign_in(client, user)
        return user

    return sign


async def test_staff_create_and_read_a_profile(client, as_role):
    await ensure_country("KE", "Kenya")
    await as_role(Role.STAFF)
    response = await client.post(
        "/api/v1/alumni",
        json={**NEW, "email": "amani@example.ke", "service": "army", "rank": "Colonel"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) >= CONTRACT_FIELDS
    assert body["accepts_invitations"] is True and body["accepts_newsletter"] is True
    assert body["invitations_consent_source"] == "created by staff"
    assert body["vetting"] == "confirmed" and body["status"] == "serving"
    assert (body["country"], body["service"], body["rank"], body["grade"]) == (
        "KE",
        "army",
        "Colonel",
        "OF-5",
    )
    assert body["training"] == [] and body["career"][0]["source"] == "staff_verified"
    assert body["staff_notes"] == "" and body["do_not_engage"] is False

    again = await client.get(f"/api/v1/alumni/{body['id']}")
    assert again.status_code == 200 and again.json()["email"] == "amani@example.ke"


@pytest.mark.parametrize(
    ("data", "field", "status"),
    [
        ({**NEW, "country": "ZZ"}, "country", 422),
        ({**NEW, "service": "space_force"}, "service", 422),
        ({**NEW, "status": "missing"}, "status", 422),
        ({**NEW, "email": "nobody-at-example"}, "email", 422),
        ({"family_name": "W", "country": "KE"}, "given_name", 422),
        ({**NEW, "rank": "Major", "grade": "OF-3"}, "grade", 422),
        ({**NEW, "email": "TAKEN@example.org"}, "email", 409),
        ({**NEW, "programme_id": "P-1"}, "programme_id", 409),
    ],
)
async def test_create_errors_name_the_field(client, as_role, make_alumnus, data, field, status):
    await make_alumnus(email="taken@example.org", programme_id="P-1")
    await as_role(Role.STAFF)
    response = await client.post("/api/v1/alumni", json=data)
    assert response.status_code == status, response.text
    assert field in response.json()["error"]["fields"]
    assert await Alumnus.all().count() == 1


@pytest.mark.parametrize(("role", "status"), [(Role.ALUMNUS, 403), (Role.ATTACHE, 403)])
async def test_only_staff_create(client, as_role, role, status):
    await as_role(role)
    assert (await client.post("/api/v1/alumni", json=NEW)).status_code == status


async def test_anonymous_get_401(client, make_alumnus):
    person = await make_alumnus()
    response = await client.get(f"/api/v1/alumni/{person.id}")
    assert response.status_code == 401


async def test_attaches_read_their_countries_only(client, as_role, make_alumnus):
    kenyan = await make_alumnus(
        country="KE",
        staff_notes="secret",
        do_not_engage=True,
        do_not_engage_reason="coup",
        declared_class_year=2016,
        declared_programme_id="KE-0042",
    )
    ugandan = await make_alumnus(country="UG")
    await as_role(Role.ATTACHE)
    body = (await client.get(f"/api/v1/alumni/{kenyan.id}")).json()
    assert body["staff_notes"] is None and body["do_not_engage_reason"] is None
    assert body["do_not_engage"] is True
    assert (body["declared_class_year"], body["declared_programme_id"]) == (2016, "KE-0042")
    assert "secret" not in str(body) and "coup" not in str(body)
    for path in (f"/api/v1/alumni/{ugandan.id}", "/api/v1/alumni/999999", "/api/v1/alumni/x"):
        response = await client.get(path)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    # The same answer for out of scope and unknown: nothing is revealed.
    assert (await client.get(f"/api/v1/alumni/{ugandan.id}")).json() == (
        await client.get("/api/v1/alumni/999999")
    ).json()
    response = await client.patch(f"/api/v1/alumni/{ugandan.id}", json={"phone": "+256 1234"})
    assert response.status_code == 404


async def test_the_person_reads_and_edits_their_own(client, as_role, make_alumnus):
    user = await as_role(Role.ALUMNUS)
    person = await make_alumnus(
        user=user, staff_notes="secret", do_not_engage=True, declared_class_year=2015
    )
    other = await make_alumnus()
    own = await client.get("/api/v1/alumni/me")
    assert own.status_code == 200 and own.json()["id"] == person.id
    assert own.json()["do_not_engage"] is None and own.json()["staff_notes"] is None
    assert own.json()["declared_class_year"] == 2015
    assert (await client.get(f"/api/v1/alumni/{other.id}")).status_code == 404

    response = await client.patch(
        f"/api/v1/alumni/{person.id}",
        json={"phone": "+254 700 000 000", "accepts_newsletter": False},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["phone"] == "+254 700 000 000" and body["accepts_newsletter"] is False
    assert body["newsletter_consent_source"] == "api" and body["newsletter_consent_at"]
    assert body["contact_edited_at"] is not None

    denied = await client.patch(f"/api/v1/alumni/{person.id}", json={"staff_notes": "hi"})
    assert denied.status_code == 403
    assert set(denied.json()["error"]["fields"]) == {"staff_notes"}
    denied = await client.patch(f"/api/v1/alumni/{person.id}", json={"email": "new@example.org"})
    assert denied.status_code == 403 and "account page" in denied.json()["error"]["fields"]["email"]
    bad = await client.patch(f"/api/v1/alumni/{person.id}", json={"timezone": "Nowhere/Else"})
    assert bad.status_code == 422 and "timezone" in bad.json()["error"]["fields"]
    bad = await client.patch(f"/api/v1/alumni/{person.id}", json={"rank": "General"})
    assert bad.status_code == 422 and "rank" in bad.json()["error"]["fields"]
    read_only = await client.patch(
        f"/api/v1/alumni/{person.id}", json={"declared_class_year": 2020}
    )
    assert read_only.status_code == 422, "what the person declared is not edited"
    assert (await Alumnus.get(id=person.id)).declared_class_year == 2015
    assert (await client.delete(f"/api/v1/alumni/{person.id}")).status_code == 403


async def test_no_profile_for_me(client, as_role):
    await as_role(Role.ALUMNUS)
    assert (await client.get("/api/v1/alumni/me")).status_code == 404


async def test_state_changes_need_csrf_with_a_session(client, as_role, make_alumnus):
    user = await as_role(Role.ALUMNUS)
    person = await make_alumnus(user=user)
    del client.headers["X-CSRF-Token"]
    response = await client.patch(f"/api/v1/alumni/{person.id}", json={"phone": "+254 1234"})
    assert response.status_code == 403
    await person.refresh_from_db()
    assert person.phone == ""


async def test_bearer_tokens_work_without_csrf(app, make_user, make_alumnus):
    staff = await make_user(role=Role.STAFF)
    raw, _token = await create_api_token(staff, name="import script")
    person = await make_alumnus()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {raw}"},
    ) as api:
        response = await api.patch(f"/api/v1/alumni/{person.id}", json={"status": "retired"})
        assert response.status_code == 200 and response.json()["status"] == "retired"


async def test_do_not_engage_through_patch(client, as_role, make_alumnus):
    person = await make_alumnus()
    await as_role(Role.STAFF)
    path = f"/api/v1/alumni/{person.id}"
    response = await client.patch(path, json={"do_not_engage": True})
    assert response.status_code == 422
    assert "do_not_engage_reason" in response.json()["error"]["fields"]
    response = await client.patch(
        path, json={"do_not_engage": True, "do_not_engage_reason": "Rights abuse"}
    )
    body = response.json()
    assert body["do_not_engage"] is True and body["do_not_engage_reason"] == "Rights abuse"
    assert body["do_not_engage_at"] is not None
    # A null is not "no": it neither lifts the flag nor withdraws a consent.
    for field in ("do_not_engage", "accepts_newsletter"):
        response = await client.patch(path, json={field: None})
        assert response.status_code == 422 and field in response.json()["error"]["fields"]
    response = await client.patch(path, json={"do_not_engage": False})
    assert response.json()["do_not_engage"] is False
    assert await AuditEvent.filter(action="alumnus.do_not_engage").count() == 2


async def test_delete(client, as_role, make_alumnus, make_course):
    await as_role(Role.STAFF)
    person = await make_alumnus()
    assert (await client.delete(f"/api/v1/alumni/{person.id}")).status_code == 204
    assert (await client.get(f"/api/v1/alumni/{person.id}")).status_code == 404
    trained = await make_alumnus()
    await TrainingRecord.create(alumnus=trained, course=await make_course(), funding_type="FMS")
    response = await client.delete(f"/api/v1/alumni/{trained.id}")
    assert response.status_code == 409 and response.json()["error"]["code"] == "conflict"


async def test_training(client, as_role, make_alumnus):
    person = await make_alumnus()
    await as_role(Role.STAFF)
    course = await client.post(
        "/api/v1/courses",
        json={"title": "Captains Career", "school": "MCoE", "category": "pme", "tags": ["M1A2"]},
    )
    assert course.status_code == 201
    course_id = course.json()["id"]
    assert (await client.get("/api/v1/courses")).json()[0]["tags"] == ["M1A2"]
    path = f"/api/v1/alumni/{person.id}/training"
    bad = await client.post(path, json={"course_id": course_id, "funding_type": "Grant"})
    assert bad.status_code == 422 and "funding_type" in bad.json()["error"]["fields"]
    bad = await client.post(path, json={"course_id": 999_999, "funding_type": "IMET"})
    assert bad.status_code == 422 and "course_id" in bad.json()["error"]["fields"]
    response = await client.post(
        path,
        json={"course_id": course_id, "funding_type": "IMET", "end_date": "2018-05-30"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["class_year"] == 2018 and body["course"]["title"] == "Captains Career"
    profile = (await client.get(f"/api/v1/alumni/{person.id}")).json()
    assert [t["id"] for t in profile["training"]] == [body["id"]]
    assert (await client.delete(f"/api/v1/courses/{course_id}")).status_code == 409
    response = await client.delete(f"{path}/{body['id']}")
    assert response.status_code == 204
    assert (await client.delete(f"/api/v1/courses/{course_id}")).status_code == 204


async def test_attaches_may_not_add_training(client, as_role, make_alumnus, make_course):
    person = await make_alumnus(country="KE")
    course = await make_course()
    await as_role(Role.ATTACHE)
    response = await client.post(
        f"/api/v1/alumni/{person.id}/training",
        json={"course_id": course.id, "funding_type": "IMET"},
    )
    assert response.status_code == 403


async def test_career_updates(client, as_role, make_alumnus):
    user = await as_role(Role.ALUMNUS)
    person = await make_alumnus(user=user, country="KE")
    path = f"/api/v1/alumni/{person.id}/career"
    response = await client.post(
        path, json={"rank": "Brigadier", "position": "Commandant", "effective_date": "2024-02-01"}
    )
    assert response.status_code == 201, response.text
    entry = response.json()
    assert entry["source"] == "self_reported" and entry["grade"] == "OF-6"
    profile = (await client.get("/api/v1/alumni/me")).json()
    assert (profile["rank"], profile["grade"], profile["position"]) == (
        "Brigadier",
        "OF-6",
        "Commandant",
    )
    bad = await client.post(path, json={"rank": "Brigadier"})
    assert bad.status_code == 422 and "effective_date" in bad.json()["error"]["fields"]
    dup = await client.post(path, json={"rank": "brigadier", "effective_date": "2024-02-01"})
    assert dup.status_code == 409
    assert (await client.delete(f"{path}/{entry['id']}")).status_code == 204
    assert not await CareerEntry.exists(id=entry["id"])
