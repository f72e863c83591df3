"""The door pages as a phone uses them, without JavaScript: the list and its search,
the Arrived and Undo buttons (forms posted as the page fills them, back to the same
search), walk-ins, scope, and a door that is not open."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from urllib.parse import urlsplit

import pytest

from engage.accounts.models import AuditEvent, Role
from engage.alumni.models import Alumnus, Vetting
from engage.clock import utcnow
from engage.events.models import Event
from engage.invitations.models import Invitation, InvitationSource, InvitationStatus

_FORM = re.compile(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', re.S)
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def post_form_list(html: str) -> list[tuple[str, dict[str, str]]]:
    return [
        (urlsplit(unescape(action)).path, {k: unescape(v) for k, v in _HIDDEN.findall(body)})
        for action, body in _FORM.findall(html)
        if action != "/logout"
    ]


def post_forms(html: str) -> dict[str, dict[str, str]]:
    """Each POST form of a page (but signing out) by its path, with its hidden fields."""
    return dict(post_form_list(html))


@pytest.fixture
async def party(db, make_embassy, make_user, make_event, make_alumnus):
    embassy = await make_embassy(code="NBO", country="KE", accredited=["KE", "SO"])
    await make_embassy(code="BOG", country="CO", accredited=["CO"])
    attache = await make_user(role=Role.ATTACHE, embassies=["NBO"])
    stranger = await make_user(role=Role.ATTACHE, embassies=["BOG"])
    event = await make_event(
        embassy,
        title="Jamhuri Day reception",
        starts_at=utcnow().replace(microsecond=0) + timedelta(minutes=20),
        guests_allowed=1,
    )
    amani = await make_alumnus(country="KE", given_name="Amani", family_name="Wanjiru")
    baraka = await make_alumnus(country="KE", given_name="Baraka", family_name="Otieno")
    inv = {
        "Amani": await Invitation.create(
            event=event,
            alumnus=amani,
            status=InvitationStatus.YES,
            guests=1,
            guest_names=["Zawadi Ruto"],
            invited_at=utcnow(),
        ),
        "Baraka": await Invitation.create(
            event=event, alumnus=baraka, status=InvitationStatus.YES, invited_at=utcnow()
        ),
    }
    return attache, stranger, event, inv


async def test_the_list_shows_who_is_coming_with_guests_and_counts(client, sign_in, party):
    attache, _stranger, event, _inv = party
    await sign_in(client, attache)

    page = await client.get(f"/events/{event.id}/door")

    assert page.status_code == 200
    html = page.text
    assert "Jamhuri Day reception" in html
    assert html.index("Baraka Otieno") < html.index("Amani Wanjiru")  # by family name
    assert "Zawadi Ruto" in html
    assert "Arrived: 0 of 2 coming" in html and "guests 0 of 1" in html
    assert 'name="viewport"' in html  # the phone's width
    assert "<script" not in html


async def test_search_marks_and_undo_come_back_to_the_same_search(client, sign_in, party):
    attache, _stranger, event, inv = party
    await sign_in(client, attache)
    amani = inv["Amani"]

    page = await client.get(f"/events/{event.id}/door", params={"q": "wanj"})
    assert "Amani Wanjiru" in page.text and "Baraka Otieno" not in page.text
    forms = post_forms(page.text)
    action = f"/events/{event.id}/door/{amani.id}/arrived"
    assert set(forms) == {action}
    assert forms[action]["q"] == "wanj"
    answer = await client.post(action, data=forms[action])

    assert answer.status_code == 303
    target = urlsplit(answer.headers["location"])
    assert target.path == f"/events/{event.id}/door"
    assert "q=wanj" in target.query and target.fragment == f"entry-{amani.id}"
    marked = await Invitation.get(id=amani.id)
    assert marked.arrived_at is not None and marked.arrived_by_id == attache.id
    assert await AuditEvent.filter(action="invitation.arrived").count() == 1

    page = await client.get(answer.headers["location"])
    assert "Amani Wanjiru is marked arrived." in page.text
    assert "Arrived: 1 of 2 coming" in page.text
    forms = post_forms(page.text)
    undo = f"/events/{event.id}/door/{amani.id}/undo"
    assert set(forms) == {undo}
    answer = await client.post(undo, data=forms[undo])
    assert answer.status_code == 303 and "q=wanj" in answer.headers["location"]
    assert (await Invitation.get(id=amani.id)).arrived_at is None
    page = await client.get(answer.headers["location"])
    assert "Amani Wanjiru is no longer marked arrived." in page.text


async def test_a_post_without_the_csrf_token_is_refused(client, sign_in, party):
    attache, _stranger, event, inv = party
    await sign_in(client, attache)
    del client.headers["X-CSRF-Token"]
    answer = await client.post(f"/events/{event.id}/door/{inv['Amani'].id}/arrived", data={})
    assert answer.status_code == 403
    assert (await Invitation.get(id=inv["Amani"].id)).arrived_at is None


async def test_scope_another_embassy_404_alumni_403_anonymous_sign_in(
    client, sign_in, party, make_user
):
    _attache, stranger, event, inv = party
    anonymous = await client.get(f"/events/{event.id}/door")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")

    await sign_in(client, stranger)
    assert (await client.get(f"/events/{event.id}/door")).status_code == 404
    answer = await client.post(f"/events/{event.id}/door/{inv['Amani'].id}/arrived", data={})
    assert answer.status_code == 404
    assert (await client.get(f"/events/{event.id}/door/walk-in")).status_code == 404
    assert (await Invitation.get(id=inv["Amani"].id)).arrived_at is None

    await sign_in(client, await make_user(role=Role.ALUMNUS))
    assert (await client.get(f"/events/{event.id}/door")).status_code == 403

    await sign_in(client, await make_user(role=Role.STAFF))
    assert (await client.get(f"/events/{event.id}/door")).status_code == 200


async def test_a_door_not_open_yet_shows_why_and_no_buttons(client, sign_in, party):
    attache, _stranger, event, inv = party
    await Event.filter(id=event.id).update(
        starts_at=event.starts_at + timedelta(days=3), ends_at=event.ends_at + timedelta(days=3)
    )
    await sign_in(client, attache)

    page = await client.get(f"/events/{event.id}/door")
    assert "Arrivals can be marked from the day before the event." in page.text
    assert post_forms(page.text) == {}
    answer = await client.post(
        f"/events/{event.id}/door/{inv['Amani'].id}/arrived", data={"q": "x"}
    )
    assert answer.status_code == 409
    assert "Arrivals can be marked from the day before the event." in answer.text


async def test_a_known_alumnus_walks_in(client, sign_in, party, make_alumnus):
    attache, _stranger, event, _inv = party
    hodan = await make_alumnus(country="SO", given_name="Hodan", family_name="Abdi")
    await sign_in(client, attache)

    page = await client.get(f"/events/{event.id}/door/walk-in", params={"q": "hodan"})
    assert page.status_code == 200 and "Hodan Abdi" in page.text
    action = f"/events/{event.id}/door/walk-in"
    (form,) = [f for path, f in post_form_list(page.text) if path == action and "alumnus" in f]
    assert form["alumnus"] == str(hodan.id)
    answer = await client.post(action, data=form)

    assert answer.status_code == 303
    invitation = await Invitation.get(event_id=event.id, alumnus_id=hodan.id)
    assert invitation.source == InvitationSource.WALK_IN and invitation.arrived_at is not None
    page = await client.get(answer.headers["location"])
    assert "Hodan Abdi was added as a walk-in and marked arrived." in page.text
    assert "Walk-in" in page.text


async def test_a_new_person_walks_in(client, sign_in, party):
    attache, _stranger, event, _inv = party
    await sign_in(client, attache)
    page = await client.get(f"/events/{event.id}/door/walk-in")
    assert '<option value="SO">' in page.text and '<option value="CO">' not in page.text

    bad = await client.post(
        f"/events/{event.id}/door/walk-in",
        data={"given_name": "Wanjiku", "family_name": "", "country": "", "q": ""},
    )
    assert bad.status_code == 422
    assert 'id="family_name-error"' in bad.text and 'id="country-error"' in bad.text
    assert 'value="Wanjiku"' in bad.text

    answer = await client.post(
        f"/events/{event.id}/door/walk-in",
        data={
            "given_name": "Wanjiku",
            "family_name": "Kamau",
            "country": "KE",
            "email": "wanjiku@example.ke",
            "accepts_invitations": "on",
            "q": "",
        },
    )
    assert answer.status_code == 303
    person = await Alumnus.get(email_key="wanjiku@example.ke")
    assert person.vetting == Vetting.PENDING and person.accepts_invitations
    page = await client.get(answer.headers["location"])
    assert "Wanjiku Kamau was added (pending vetting) and marked arrived." in page.text
