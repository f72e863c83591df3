"""The embassy and country pages: who sees what, forms that keep input, CSRF."""

from __future__ import annotations

import re

import pytest

from engage.accounts.models import Role
from engage.places.models import Country, Embassy, ProgrammeStatus

FORM = {
    "code": "nbo",
    "name": "Embassy in Nairobi",
    "country": "KE",
    "city": "Nairobi",
    "timezone": "Africa/Nairobi",
}


def without_csrf_header(client):
    """Send forms as a browser does: the token travels in the form, not a header."""
    token = client.headers.pop("X-CSRF-Token")
    return token


async def test_staff_list_embassies_with_their_countries(client, make_user, make_embassy, sign_in):
    await make_embassy(code="NBO", accredited=["KE", "SO"])
    await sign_in(client, await make_user(role=Role.STAFF))
    page = await client.get("/admin/embassies")
    assert page.status_code == 200
    assert "NBO" in page.text
    assert "Kenya, Somalia" in page.text
    assert '/admin/embassies/new"' in page.text
    assert 'href="/admin/countries"' in page.text  # staff navigation


async def test_attache_sees_their_embassy_read_only(client, make_user, make_embassy, sign_in):
    await make_embassy(code="NBO", accredited=["KE", "SO"])
    await make_embassy(code="ADD", country="ET")
    await sign_in(client, await make_user(role=Role.ATTACHE, embassies=["NBO"]))
    listing = await client.get("/admin/embassies")
    assert listing.status_code == 200
    assert "NBO" in listing.text
    assert "ADD" not in listing.text
    assert "/admin/embassies/new" not in listing.text
    detail = await client.get("/admin/embassies/NBO")
    assert detail.status_code == 200
    assert "Somalia" in detail.text
    assert 'name="accredited"' not in detail.text  # no edit form
    assert (await client.get("/admin/embassies/ADD")).status_code == 404
    assert (await client.get("/admin/embassies/new")).status_code == 403
    assert (await client.get("/admin/countries")).status_code == 403
    posted = await client.post("/admin/embassies/NBO", data={"name": "Mine", "city": "X"})
    assert posted.status_code == 403
    assert (await Embassy.get(code="NBO")).name == "Embassy NBO"


async def test_alumni_are_kept_out(client, make_user, sign_in):
    await sign_in(client, await make_user(role=Role.ALUMNUS))
    assert (await client.get("/admin/embassies")).status_code == 403
    assert (await client.get("/admin/countries")).status_code == 403


async def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = await client.get("/admin/embassies")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


async def test_staff_add_an_embassy(client, make_user, sign_in):
    await sign_in(client, await make_user(role=Role.STAFF))
    form = await client.get("/admin/embassies/new")
    assert form.status_code == 200
    assert 'name="csrf_token"' in form.text
    assert '<optgroup label="Africa">' in form.text
    assert 'value="Africa/Nairobi"' in form.text
    assert "Eastern Africa" in form.text  # accredited countries grouped by region

    token = without_csrf_header(client)
    response = await client.post(
        "/admin/embassies/new",
        data={**FORM, "accredited": ["SO", "DJ"], "csrf_token": token},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/embassies/NBO?saved=created"
    embassy = await Embassy.get(code="NBO").prefetch_related("accreditations")
    assert sorted(a.country_id for a in embassy.accreditations) == ["DJ", "KE", "SO"]

    page = await client.get(response.headers["location"])
    assert "The embassy was added." in page.text
    assert re.search(r'value="SO" checked', page.text)


async def test_a_wrong_form_comes_back_with_input_and_errors(client, make_user, sign_in):
    await sign_in(client, await make_user(role=Role.STAFF))
    response = await client.post(
        "/admin/embassies/new",
        data={**FORM, "code": "N B O", "timezone": "", "accredited": ["SO"]},
    )
    assert response.status_code == 422
    text = response.text
    assert 'value="Embassy in Nairobi"' in text  # kept
    assert 'value="N B O"' in text
    assert re.search(r'value="SO" checked', text)
    assert 'id="code-error"' in text
    assert 'id="timezone-error"' in text
    assert re.search(
        r'id="code"[^>]*aria-describedby="code-hint code-error" aria-invalid="true"', text
    )
    assert not await Embassy.exists()


async def test_a_taken_code_says_so(client, make_user, make_embassy, sign_in):
    await make_embassy(code="NBO")
    await sign_in(client, await make_user(role=Role.ADMIN))
    response = await client.post("/admin/embassies/new", data={**FORM, "name": "Another"})
    assert response.status_code == 409
    assert "already exists" in response.text
    assert await Embassy.all().count() == 1


async def test_a_post_without_csrf_token_changes_nothing(client, make_user, make_embassy, sign_in):
    await make_embassy(code="ADD", country="ET")
    await sign_in(client, await make_user(role=Role.STAFF))
    without_csrf_header(client)
    created = await client.post("/admin/embassies/new", data=FORM)
    assert created.status_code == 403
    forged = await client.post("/admin/embassies/new", data={**FORM, "csrf_token": "x" * 43})
    assert forged.status_code == 403
    edited = await client.post("/admin/embassies/ADD", data={"name": "Forged", "city": "X"})
    assert edited.status_code == 403
    status = await client.post("/admin/countries/ML", data={"status": "suspended", "reason": "x"})
    assert status.status_code == 403
    assert not await Embassy.exists(code="NBO")
    assert (await Embassy.get(code="ADD")).name == "Embassy ADD"
    assert (await Country.get(code="ML")).programme_status == ProgrammeStatus.ACTIVE


async def test_staff_edit_an_embassy(client, make_user, make_embassy, sign_in):
    await make_embassy(code="NBO", accredited=["KE", "SO"])
    await sign_in(client, await make_user(role=Role.STAFF))
    page = await client.get("/admin/embassies/NBO")
    assert page.status_code == 200
    assert re.search(r'<option value="Africa/Nairobi" selected>', page.text)
    response = await client.post(
        "/admin/embassies/NBO",
        data={
            "name": "Embassy in Nairobi",
            "city": "Gigiri",
            "timezone": "Africa/Nairobi",
            "accredited": ["UG"],
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/embassies/NBO?saved=updated"
    embassy = await Embassy.get(code="NBO").prefetch_related("accreditations")
    assert (embassy.name, embassy.city) == ("Embassy in Nairobi", "Gigiri")
    assert sorted(a.country_id for a in embassy.accreditations) == ["KE", "UG"]

    wrong = await client.post(
        "/admin/embassies/NBO",
        data={"name": "", "city": "Gigiri", "timezone": "Moon/Base", "accredited": ["UG"]},
    )
    assert wrong.status_code == 422
    assert 'id="name-error"' in wrong.text
    assert 'id="timezone-error"' in wrong.text


async def test_countries_by_region_with_status(client, make_user, sign_in):
    await Country.filter(code="ML").update(
        programme_status=ProgrammeStatus.SUSPENDED, status_reason="Coup"
    )
    await sign_in(client, await make_user(role=Role.STAFF))
    page = await client.get("/admin/countries")
    assert page.status_code == 200
    assert re.search(r'<h3 id="region-[0-9-]+">Eastern Africa</h3>', page.text)
    assert '/admin/countries/KE"' in page.text
    suspended = await client.get("/admin/countries?status=suspended")
    assert "Mali" in suspended.text
    assert "Kenya" not in suspended.text
    assert "Coup" in suspended.text


async def test_staff_suspend_and_reactivate_a_country(client, make_user, sign_in):
    await sign_in(client, await make_user(role=Role.STAFF))
    page = await client.get("/admin/countries/ML")
    assert page.status_code == 200
    assert "Western Africa" in page.text

    token = without_csrf_header(client)
    missing_reason = await client.post(
        "/admin/countries/ML", data={"status": "suspended", "reason": "", "csrf_token": token}
    )
    assert missing_reason.status_code == 422
    assert 'id="reason-error"' in missing_reason.text
    assert re.search(r'value="suspended" checked', missing_reason.text)  # kept
    assert (await Country.get(code="ML")).programme_status == ProgrammeStatus.ACTIVE

    done = await client.post(
        "/admin/countries/ML",
        data={"status": "suspended", "reason": "Coup d'état", "csrf_token": token},
    )
    assert done.status_code == 303
    mali = await Country.get(code="ML")
    assert (mali.programme_status, mali.status_reason) == ("suspended", "Coup d'état")
    shown = await client.get(done.headers["location"])
    assert "The programme status was saved." in shown.text

    back = await client.post(
        "/admin/countries/ML", data={"status": "active", "reason": "", "csrf_token": token}
    )
    assert back.status_code == 303
    assert (await Country.get(code="ML")).programme_status == ProgrammeStatus.ACTIVE


@pytest.mark.parametrize("path", ["/admin/countries/ZZ", "/admin/embassies/NOPE"])
async def test_unknown_places_are_404(client, make_user, sign_in, path):
    await sign_in(client, await make_user(role=Role.ADMIN))
    assert (await client.get(path)).status_code == 404
