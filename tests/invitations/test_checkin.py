"""The check-in link of the QR code: an attaché of the event's embassy (or staff),
signed in, sees the person and marks them arrived; anyone else, whatever the link,
gets one page that reveals nothing (anonymous people are offered to sign in)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest

from engage.accounts.models import AuditEvent, Role
from engage.clock import utcnow
from engage.events.models import Event
from engage.invitations.links import checkin_token, checkin_url, rsvp_token
from engage.invitations.models import Invitation, InvitationStatus
from engage.tokens import make_token


@pytest.fixture
async def guest(db, make_embassy, make_user, make_event, make_alumnus):
    embassy = await make_embassy(code="NBO", country="KE", accredited=["KE"])
    await make_embassy(code="BOG", country="CO", accredited=["CO"])
    attache = await make_user(role=Role.ATTACHE, embassies=["NBO"])
    event = await make_event(
        embassy,
        title="Jamhuri Day reception",
        starts_at=utcnow().replace(microsecond=0) + timedelta(minutes=20),
        guests_allowed=1,
    )
    user = await make_user(role=Role.ALUMNUS, email="amani@example.ke")
    amani = await make_alumnus(
        country="KE", given_name="Amani", family_name="Wanjiru", user=user, email=None
    )
    invitation = await Invitation.create(
        event=event,
        alumnus=amani,
        status=InvitationStatus.YES,
        guests=1,
        guest_names=["Zawadi Ruto"],
        invited_at=utcnow(),
    )
    return attache, user, event, invitation


def _path(settings, invitation) -> str:
    url = checkin_url(settings, invitation)
    assert url.startswith(settings.app.base_url + "/checkin/")
    return url.removeprefix(settings.app.base_url)


async def test_the_attache_sees_the_person_and_marks_them_arrived(client, sign_in, guest, settings):
    attache, _user, _event, invitation = guest
    path = _path(settings, invitation)
    await sign_in(client, attache)

    page = await client.get(path)

    assert page.status_code == 200
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "Amani Wanjiru" in page.text and "Zawadi Ruto" in page.text
    assert "Jamhuri Day reception" in page.text and "Not arrived yet" in page.text
    assert "Mark arrived" in page.text

    answer = await client.post(path, data={})
    assert answer.status_code == 303 and answer.headers["location"] == f"{path}?marked=1"
    marked = await Invitation.get(id=invitation.id)
    assert marked.arrived_at is not None and marked.arrived_by_id == attache.id
    entry = await AuditEvent.get(action="invitation.arrived")
    assert entry.target_id == str(invitation.id)

    page = await client.get(answer.headers["location"])
    assert "Amani Wanjiru is marked arrived." in page.text
    assert "Mark arrived</button>" not in page.text
    assert f"marked by {attache.email}" in page.text


async def test_staff_may_check_in_anywhere(client, sign_in, guest, settings, make_user):
    _attache, _user, _event, invitation = guest
    await sign_in(client, await make_user(role=Role.STAFF))
    page = await client.get(_path(settings, invitation))
    assert page.status_code == 200 and "Amani Wanjiru" in page.text


async def _invalid_page(client, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 404
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "This link is not valid" in page.text
    for secret in ("Amani", "Wanjiru", "Zawadi", "Jamhuri"):
        assert secret not in page.text
    return page.text


def _forged(settings, invitation) -> str:
    return "/checkin/" + make_token("wrong secret", "checkin", invitation.id, 1)


async def test_anonymous_sees_nothing_and_may_sign_in_first(client, guest, settings):
    _attache, _user, _event, invitation = guest
    path = _path(settings, invitation)

    valid = await _invalid_page(client, path)
    forged = await _invalid_page(client, _forged(settings, invitation))

    sign_in_link = f"/login?next={quote(path, safe='')}"
    assert sign_in_link.replace("&", "&amp;") in valid
    # The same page whatever the link: nothing to learn from it but the link itself.
    assert forged.replace(quote(_forged(settings, invitation), safe=""), "") == valid.replace(
        quote(path, safe=""), ""
    )
    # The sign-in page comes back here afterwards.
    login = await client.get(sign_in_link)
    assert f'name="next" value="{path}"' in login.text
    answer = await client.post(path, data={})
    assert answer.status_code in (403, 404)  # no CSRF cookie, or the same page
    assert (await Invitation.get(id=invitation.id)).arrived_at is None


async def test_the_alumnus_and_another_embassys_attache_see_nothing(
    client, sign_in, guest, settings, make_user
):
    _attache, user, _event, invitation = guest
    path = _path(settings, invitation)

    await sign_in(client, user)  # the invitee themselves
    as_alumnus = await _invalid_page(client, path)
    assert "/login?next=" not in as_alumnus
    assert as_alumnus == await _invalid_page(client, _forged(settings, invitation))
    assert (await client.post(path, data={})).status_code == 404

    await sign_in(client, await make_user(role=Role.ATTACHE, embassies=["BOG"]))
    other = await _invalid_page(client, path)
    assert other == await _invalid_page(client, _forged(settings, invitation))
    assert (await client.post(path, data={})).status_code == 404
    assert (await Invitation.get(id=invitation.id)).arrived_at is None


async def test_revoked_links_and_rsvp_tokens_open_nothing(client, sign_in, guest, settings):
    attache, _user, _event, invitation = guest
    await sign_in(client, attache)
    # An RSVP token is not a check-in token (the purpose is in the MAC).
    await _invalid_page(client, "/checkin/" + rsvp_token(settings, invitation))
    await _invalid_page(client, "/checkin/not-a-token")
    old = _path(settings, invitation)
    await Invitation.filter(id=invitation.id).update(
        status=InvitationStatus.REVOKED, token_version=invitation.token_version + 1
    )
    await _invalid_page(client, old)
    await invitation.refresh_from_db()
    await _invalid_page(client, "/checkin/" + checkin_token(settings, invitation))


async def test_a_check_in_before_the_door_opens_is_refused(client, sign_in, guest, settings):
    attache, _user, event, invitation = guest
    await Event.filter(id=event.id).update(
        starts_at=event.starts_at + timedelta(days=2), ends_at=event.ends_at + timedelta(days=2)
    )
    await sign_in(client, attache)
    path = _path(settings, invitation)
    page = await client.get(path)
    assert page.status_code == 200 and "Arrivals can be marked from the day before" in page.text
    assert "Mark arrived</button>" not in page.text
    answer = await client.post(path, data={})
    assert answer.status_code == 409
    assert (await Invitation.get(id=invitation.id)).arrived_at is None
