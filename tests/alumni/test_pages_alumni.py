"""Alumni pages: the person's own profile, profiles for attachés and staff, courses."""

from __future__ import annotations

import re

import pytest

from engage.accounts.models import AuditEvent, Role
from engage.alumni.models import Alumnus, CareerEntry, CareerSource, Course, TrainingRecord
from tests.factories import ensure_country


@pytest.fixture
async def as_role(client, make_user, make_embassy, sign_in):
    """Sign ``client`` in with a new user of ``role`` (an attaché covers KE and SO)."""

    async def sign(role: Role):
        embassies = []
        if role is Role.ATTACHE:
            embassies = [(await make_embassy(country="KE", accredited=["KE", "SO"])).code]
        user = await make_user(role=role, embassies=embassies)
        await sign_in(client, user)
        return user

    return sign


async def _post(client, path, data):
    """A browser form post: the token in the form, not the header."""
    token = client.headers.pop("X-CSRF-Token")
    try:
        return await client.post(path, data={"csrf_token": token, **data})
    finally:
        client.headers["X-CSRF-Token"] = token


# --- The person's own profile -----------------------------------------------------------


async def test_own_profile_shows_person_training_and_career(
    client, as_role, make_alumnus, make_course
):
    user = await as_role(Role.ALUMNUS)
    person = await make_alumnus(
        user=user, given_name="Amani", staff_notes="Secret note", do_not_engage=True
    )
    await TrainingRecord.create(
        alumnus=person, course=await make_course(title="Captains Career"), funding_type="IMET"
    )
    await CareerEntry.create(
        alumnus=person,
        rank="Major",
        grade="OF-3",
        effective_date="2019-01-01",
        source=CareerSource.STAFF_VERIFIED,
    )
    response = await client.get("/profile")
    assert response.status_code == 200
    html = response.text
    assert "Amani" in html and "Captains Career" in html and "Major" in html
    assert "Secret note" not in html and "Do not engage" not in html
    assert response.headers["cache-control"] == "no-store"
    assert 'href="/profile"' in html and 'aria-current="page"' in html


async def test_no_profile_yet(client, as_role):
    await as_role(Role.ALUMNUS)
    response = await client.get("/profile")
    assert response.status_code == 200
    assert "No alumni profile is linked to your account yet." in response.text


async def test_edit_own_contact_details_with_csrf(client, as_role, make_alumnus):
    user = await as_role(Role.ALUMNUS)
    person = await make_alumnus(user=user, email="me@example.org")
    form = await client.get("/profile/edit")
    assert form.status_code == 200
    assert 'name="phone"' in form.text and 'name="accepts_newsletter"' in form.text
    assert 'name="staff_notes"' not in form.text and 'name="email"' not in form.text
    assert 'name="csrf_token"' in form.text

    data = {
        "preferred_name": "Ami",
        "phone": "+254 700 000 000",
        "language": "fr",
        "timezone": "Africa/Nairobi",
        "accepts_invitations": "on",
        # the newsletter box left unticked: withdrawn
    }
    token = client.headers.pop("X-CSRF-Token")
    missing = await client.post("/profile/edit", data=data)
    wrong = await client.post("/profile/edit", data={**data, "csrf_token": "x" * 43})
    client.headers["X-CSRF-Token"] = token
    assert missing.status_code == 403 and wrong.status_code == 403
    await person.refresh_from_db()
    assert person.phone == ""

    response = await _post(client, "/profile/edit", data)
    assert response.status_code == 303 and response.headers["location"] == "/profile?saved=contact"
    await person.refresh_from_db()
    assert person.phone == "+254 700 000 000" and person.preferred_name == "Ami"
    assert person.accepts_invitations and not person.accepts_newsletter
    assert person.newsletter_consent_source == "profile page"
    assert person.contact_edited_at is not None
    page = await client.get(response.headers["location"])
    assert "Your changes were saved." in page.text


async def test_a_failed_edit_keeps_what_was_typed(client, as_role, make_alumnus):
    user = await as_role(Role.ALUMNUS)
    await make_alumnus(user=user)
    response = await _post(
        client,
        "/profile/edit",
        {"phone": "call me maybe", "unit": "1st Battalion", "timezone": "UTC", "language": "en"},
    )
    assert response.status_code == 422
    assert 'value="call me maybe"' in response.text and 'value="1st Battalion"' in response.text
    assert 'id="phone-error"' in response.text and 'aria-invalid="true"' in response.text


async def test_add_and_remove_a_career_update(client, as_role, make_alumnus):
    user = await as_role(Role.ALUMNUS)
    person = await make_alumnus(user=user, country="KE")
    bad = await _post(client, "/profile/career", {"rank": "Colonel", "effective_date": ""})
    assert bad.status_code == 422
    assert 'id="effective_date-error"' in bad.text and 'value="Colonel"' in bad.text
    response = await _post(
        client,
        "/profile/career",
        {"rank": "Colonel", "position": "Chief of Staff", "effective_date": "2023-05-01"},
    )
    assert response.status_code == 303
    entry = await CareerEntry.get(alumnus_id=person.id)
    assert entry.source == CareerSource.SELF_REPORTED
    page = await client.get("/profile")
    assert "Self-reported" in page.text and "OF-5" in page.text
    response = await _post(client, f"/profile/career/{entry.id}/delete", {})
    assert response.status_code == 303
    assert not await CareerEntry.exists(id=entry.id)


# --- Profiles for attachés and staff ----------------------------------------------------


async def test_attache_sees_their_countries_only(client, as_role, make_alumnus):
    kenyan = await make_alumnus(
        country="KE",
        given_name="Kamau",
        staff_notes="Secret note",
        do_not_engage=True,
        do_not_engage_reason="Coup attempt",
    )
    ugandan = await make_alumnus(country="UG", given_name="Okello")
    await as_role(Role.ATTACHE)
    listing = await client.get("/alumni")
    assert "Kamau" in listing.text and "Okello" not in listing.text
    page = await client.get(f"/alumni/{kenyan.id}")
    assert page.status_code == 200
    assert "Do not engage." in page.text
    assert "Secret note" not in page.text and "Coup attempt" not in page.text
    assert f'/alumni/{kenyan.id}/career"' in page.text
    assert 'name="course_id"' not in page.text and 'name="status"' not in page.text
    for path in (f"/alumni/{ugandan.id}", f"/alumni/{ugandan.id}/edit", "/alumni/99999"):
        assert (await client.get(path)).status_code == 404
    response = await _post(
        client, f"/alumni/{ugandan.id}/career", {"rank": "Major", "effective_date": "2020-01-01"}
    )
    assert response.status_code == 404
    assert (await client.get("/alumni/new")).status_code == 403
    assert (await client.get("/admin/courses")).status_code == 403


async def test_attache_edits_contact_details_and_verifies_updates(client, as_role, make_alumnus):
    person = await make_alumnus(country="SO")
    entry = await CareerEntry.create(
        alumnus=person,
        rank="Major",
        effective_date="2021-01-01",
        source=CareerSource.SELF_REPORTED,
    )
    await as_role(Role.ATTACHE)
    form = await client.get(f"/alumni/{person.id}/edit")
    assert 'name="email"' in form.text and 'name="staff_notes"' not in form.text
    assert 'name="accepts_newsletter"' not in form.text and 'name="country"' not in form.text
    response = await _post(
        client,
        f"/alumni/{person.id}/edit",
        {
            "email": "new@example.so",
            "phone": "+252 61 000 0000",
            "language": "en",
            "timezone": "Africa/Mogadishu",
        },
    )
    assert response.status_code == 303, response.text
    await person.refresh_from_db()
    assert person.email_key == "new@example.so"
    response = await _post(client, f"/alumni/{person.id}/career/{entry.id}/verify", {})
    assert response.status_code == 303
    await entry.refresh_from_db()
    assert entry.source == CareerSource.STAFF_VERIFIED


async def test_alumni_may_not_open_staff_pages(client, as_role, make_alumnus):
    user = await as_role(Role.ALUMNUS)
    own = await make_alumnus(user=user)
    for path in (f"/alumni/{own.id}", "/alumni", "/alumni/new", "/admin/courses"):
        assert (await client.get(path)).status_code == 403


async def test_staff_add_a_profile(client, as_role):
    await ensure_country("KE", "Kenya")
    await as_role(Role.STAFF)
    form = await client.get("/alumni/new")
    assert form.status_code == 200 and 'name="given_name"' in form.text
    assert '<option value="KE"' in form.text
    bad = await _post(
        client,
        "/alumni/new",
        {"given_name": "Amani", "family_name": "", "country": "KE", "email": "x@example.org"},
    )
    assert bad.status_code == 422
    assert 'value="Amani"' in bad.text and 'id="family_name-error"' in bad.text
    response = await _post(
        client,
        "/alumni/new",
        {
            "given_name": "Amani",
            "family_name": "Wanjiru",
            "country": "KE",
            "service": "army",
            "rank": "Major",
            "email": "amani@example.ke",
            "language": "en",
            "timezone": "UTC",
            "accepts_invitations": "on",
            "accepts_newsletter": "on",
        },
    )
    assert response.status_code == 303
    match = re.fullmatch(r"/alumni/(\d+)\?saved=created", response.headers["location"])
    assert match
    person = await Alumnus.get(id=int(match.group(1)))
    assert person.grade == "OF-3" and person.accepts_newsletter
    page = await client.get(response.headers["location"])
    assert "The profile was added." in page.text and "Wanjiru" in page.text


async def test_staff_forms_on_a_profile(client, as_role, make_alumnus, make_course):
    person = await make_alumnus(country="KE")
    course = await make_course(title="Basic Officer")
    staff = await as_role(Role.STAFF)
    page = await client.get(f"/alumni/{person.id}")
    assert "Basic Officer" in page.text and 'name="funding_type"' in page.text
    assert "IMET" in page.text

    bad = await _post(
        client, f"/alumni/{person.id}/training", {"course_id": str(course.id), "funding_type": "X"}
    )
    assert bad.status_code == 422 and 'id="funding_type-error"' in bad.text
    response = await _post(
        client,
        f"/alumni/{person.id}/training",
        {"course_id": str(course.id), "funding_type": "FMS", "class_year": "2019", "graduated": ""},
    )
    assert response.status_code == 303
    record = await TrainingRecord.get(alumnus_id=person.id)
    assert record.funding_type == "FMS" and record.graduated is False

    response = await _post(
        client, f"/alumni/{person.id}/career", {"rank": "Colonel", "effective_date": "2022-01-01"}
    )
    assert response.status_code == 303
    await person.refresh_from_db()
    assert person.grade == "OF-5"

    response = await _post(client, f"/alumni/{person.id}/status", {"status": "retired"})
    assert response.status_code == 303
    await person.refresh_from_db()
    assert person.status == "retired"

    bad = await _post(client, f"/alumni/{person.id}/do-not-engage", {"flag": "set", "reason": ""})
    assert bad.status_code == 422 and 'id="reason-error"' in bad.text
    response = await _post(
        client, f"/alumni/{person.id}/do-not-engage", {"flag": "set", "reason": "Rights abuse"}
    )
    assert response.status_code == 303
    page = await client.get(f"/alumni/{person.id}")
    assert "Reason: Rights abuse" in page.text and "Lift the flag" in page.text
    response = await _post(
        client, f"/alumni/{person.id}/do-not-engage", {"flag": "lift", "reason": "Cleared"}
    )
    assert response.status_code == 303
    await person.refresh_from_db()
    assert not person.do_not_engage
    events = await AuditEvent.filter(action="alumnus.do_not_engage").order_by("id")
    assert [(e.details["flag"], e.actor_id) for e in events] == [
        (True, staff.id),
        (False, staff.id),
    ]

    response = await _post(client, f"/alumni/{person.id}/training/{record.id}/delete", {})
    assert response.status_code == 303
    assert not await TrainingRecord.exists(id=record.id)


async def test_staff_edit_withdraws_but_never_gives_consent(client, as_role, make_alumnus):
    person = await make_alumnus(accepts_invitations=False, accepts_newsletter=True)
    await as_role(Role.STAFF)
    form = await client.get(f"/alumni/{person.id}/edit")
    assert re.search(
        r'id="accepts_invitations" name="accepts_invitations"[^>]* disabled', form.text
    )
    values = {
        "given_name": person.given_name,
        "family_name": person.family_name,
        "country": "KE",
        "service": "army",
        "email": person.email,
        "language": "en",
        "timezone": "UTC",
        "staff_notes": "Prefers phone calls.",
        # both boxes unticked: the newsletter is withdrawn, invitations stay off
    }
    response = await _post(client, f"/alumni/{person.id}/edit", values)
    assert response.status_code == 303, response.text
    await person.refresh_from_db()
    assert not person.accepts_newsletter and person.newsletter_consent_source == "changed by staff"
    assert person.staff_notes == "Prefers phone calls."


async def test_delete_a_profile(client, as_role, make_alumnus, make_course):
    person = await make_alumnus()
    await as_role(Role.STAFF)
    confirm = await client.get(f"/alumni/{person.id}/delete")
    assert confirm.status_code == 200
    response = await _post(client, f"/alumni/{person.id}/delete", {})
    assert response.status_code == 303
    assert not await Alumnus.exists(id=person.id)
    trained = await make_alumnus()
    await TrainingRecord.create(alumnus=trained, course=await make_course(), funding_type="IMET")
    response = await _post(client, f"/alumni/{trained.id}/delete", {})
    assert response.status_code == 409 and "erase" in response.text


async def test_course_catalogue(client, as_role):
    await as_role(Role.STAFF)
    page = await client.get("/admin/courses")
    assert page.status_code == 200 and "No courses yet." in page.text
    bad = await _post(client, "/admin/courses", {"title": "", "school": "CGSC"})
    assert bad.status_code == 422 and 'value="CGSC"' in bad.text
    response = await _post(
        client,
        "/admin/courses",
        {
            "title": "Command and General Staff",
            "school": "CGSC",
            "category": "pme",
            "tags": "C-130, Patriot",
        },
    )
    assert response.status_code == 303
    course = await Course.get(title="Command and General Staff")
    assert course.tags == ["C-130", "Patriot"]
    dup = await _post(
        client, "/admin/courses", {"title": "Command and General Staff", "school": "CGSC"}
    )
    assert dup.status_code == 409
    edit = await client.get(f"/admin/courses/{course.id}")
    assert 'value="C-130, Patriot"' in edit.text
    response = await _post(
        client,
        f"/admin/courses/{course.id}",
        {"title": "CGSOC", "school": "CGSC", "category": "pme", "tags": ""},
    )
    assert response.status_code == 303
    await course.refresh_from_db()
    assert course.title == "CGSOC" and course.tags == []
    response = await _post(client, f"/admin/courses/{course.id}/delete", {})
    assert response.status_code == 303
    assert not await Course.exists(id=course.id)
    assert (await client.get("/admin/courses/abc")).status_code == 404
