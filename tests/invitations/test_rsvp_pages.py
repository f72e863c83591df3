"""The RSVP pages: the personal link (GET, POST, calendar), the one "not valid" page,
read-only after the deadline, My invitations and an event's reply page."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest

from engage.accounts.models import Role
from engage.clock import utcnow
from engage.events.models import Event, EventStatus, Visibility
from engage.invitations.links import rsvp_token
from engage.invitations.models import Invitation, InvitationSource, InvitationStatus
from engage.invitations.rsvp import RsvpAnswer, answer
from engage.mail.models import OutboxMessage
from engage.web.identity import csrf_cookie_name
from tests.invitations.test_rsvp import QUESTIONS, embassy, invite  # noqa: F401

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _open(client, path: str) -> str:
    """GET the page; the CSRF token of its form (the cookie comes with it)."""
    response = await client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["referrer-policy"] == "no-referrer"
    return CSRF.search(response.text).group(1)


async def _post(client, path: str, **fields):
    token = await _open(client, path)
    return await client.post(path, data={"csrf_token": token, **fields})


@pytest.fixture
async def reception(embassy, make_event):  # noqa: F811
    return await make_event(
        embassy,
        title="Independence Day reception",
        capacity=1,
        guests_allowed=2,
        guests_named=True,
        dress_code="Lounge suit",
        venue="The Residence",
        description="Drinks *at seven*.<script>alert(1)</script> [x](javascript:alert(1))",
        questions=QUESTIONS,
    )


async def test_the_page_shows_the_event_and_the_form(client, settings, reception, invite):  # noqa: F811
    invitation = await invite(reception)
    path = f"/rsvp/{rsvp_token(settings, invitation)}"

    response = await client.get(path)

    assert response.status_code == 200
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    page = response.text
    assert "<h1>Independence Day reception</h1>" in page
    assert "Riga time (UTC+" in page
    assert "The Residence" in page and "Lounge suit" in page
    assert "<em>at seven</em>" in page
    assert "<script>" not in page and 'href="javascript:' not in page
    for value in ("yes", "no", "maybe"):
        assert f'name="status" value="{value}"' in page
    assert 'name="guests"' in page and 'max="2"' in page
    assert 'name="guest_name_1"' in page and 'name="guest_name_2"' in page
    assert 'name="q_menu"' in page and '<option value="Veg"' in page
    assert 'name="q_parking" value="yes"' in page
    assert "You have not answered yet." in page
    assert f'href="{path}/event.ics"' in page


async def test_answering_yes_and_the_page_remembers_it(client, settings, reception, invite):  # noqa: F811
    invitation = await invite(reception)
    path = f"/rsvp/{rsvp_token(settings, invitation)}"

    response = await _post(
        client, path, status="yes", guests="0", q_menu="Fish", q_parking="yes", q_diet="None"
    )

    assert response.status_code == 200
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "You are coming." in response.text
    stored = await Invitation.get(id=invitation.id)
    assert stored.status == InvitationStatus.YES
    assert stored.answers == {"menu": "Fish", "parking": "yes", "diet": "None"}
    assert await OutboxMessage.filter(template="rsvp_confirmation").count() == 1

    again = (await client.get(path)).text
    assert 'value="yes" checked' in again
    assert '<option value="Fish" selected>' in again
    assert 'id="q_parking-yes" name="q_parking" value="yes" checked' in again


async def test_a_full_event_shows_the_waitlist_position(client, settings, reception, invite):  # noqa: F811
    first, second = await invite(reception), await invite(reception)
    await answer(first.id, RsvpAnswer("yes", answers={"menu": "Fish"}))

    response = await _post(
        client, f"/rsvp/{rsvp_token(settings, second)}", status="yes", q_menu="Veg"
    )

    assert response.status_code == 200
    assert "number 1 on the waiting list" in response.text
    assert await Invitation.get(id=second.id).values_list("status", flat=True) == "waitlisted"


async def test_form_errors_keep_what_was_typed(client, settings, reception, invite):  # noqa: F811
    invitation = await invite(reception)
    path = f"/rsvp/{rsvp_token(settings, invitation)}"

    response = await _post(
        client, path, status="yes", guests="2", guest_name_1="Ana Ruiz", q_diet="Halal"
    )

    assert response.status_code == 422
    assert response.headers["referrer-policy"] == "no-referrer"
    page = response.text
    assert 'value="Ana Ruiz"' in page and 'value="Halal"' in page and 'value="2"' in page
    assert "Give the name of each guest." in page and "Answer this question." in page
    assert 'id="guest_name_2" name="guest_name_2"' in page
    assert (await Invitation.get(id=invitation.id)).status == InvitationStatus.INVITED

    bad_number = await _post(client, path, status="yes", guests="lots")
    assert bad_number.status_code == 422 and "A number of guests." in bad_number.text


async def test_a_post_without_the_csrf_token_is_refused(client, settings, reception, invite):  # noqa: F811
    invitation = await invite(reception)
    path = f"/rsvp/{rsvp_token(settings, invitation)}"

    response = await client.post(path, data={"status": "no"})

    assert response.status_code == 403
    assert response.headers["referrer-policy"] == "no-referrer"
    assert (await Invitation.get(id=invitation.id)).status == InvitationStatus.INVITED


async def test_after_the_deadline_the_page_is_read_only(
    client,
    settings,
    embassy,  # noqa: F811
    make_event,
    invite,  # noqa: F811
):
    event = await make_event(embassy, rsvp_deadline=utcnow() + timedelta(hours=1))
    invitation = await invite(event)
    path = f"/rsvp/{rsvp_token(settings, invitation)}"
    await answer(invitation.id, RsvpAnswer("yes", guests=1))
    token = await _open(client, path)
    await Event.filter(id=event.id).update(rsvp_deadline=utcnow() - timedelta(minutes=1))

    page = (await client.get(path)).text
    refused = await client.post(path, data={"csrf_token": token, "status": "no"})

    assert "Answers are closed" in page and 'name="status"' not in page
    assert "You are coming, with 1 guest." in page
    assert refused.status_code == 409 and "closed" in refused.text
    assert 'name="status"' not in refused.text
    assert (await Invitation.get(id=invitation.id)).status == InvitationStatus.YES


async def test_a_cancelled_event_shows_read_only(client, settings, embassy, make_event, invite):  # noqa: F811
    event = await make_event(embassy, status=EventStatus.CANCELLED)
    page = (await client.get(f"/rsvp/{rsvp_token(settings, await invite(event))}")).text
    assert "This event has been cancelled." in page and 'name="status"' not in page


async def test_one_not_valid_page_for_unknown_revoked_and_expired_links(
    client,
    settings,
    embassy,  # noqa: F811
    make_event,
    invite,  # noqa: F811
):
    event = await make_event(embassy)
    revoked = await invite(event)
    revoked_token = rsvp_token(settings, revoked)
    await Invitation.filter(id=revoked.id).update(
        status=InvitationStatus.REVOKED, token_version=2, revoked_at=utcnow()
    )
    bumped = await invite(event)
    bumped_token = rsvp_token(settings, bumped)
    await Invitation.filter(id=bumped.id).update(token_version=2)
    past = await make_event(
        embassy,
        starts_at=utcnow() - timedelta(days=40),
        ends_at=utcnow() - timedelta(days=40) + timedelta(hours=2),
    )
    expired_token = rsvp_token(settings, await invite(past))
    forged = f"{revoked.id}.1.{'A' * 43}"

    answers = []
    for token in ("nonsense", forged, revoked_token, bumped_token, expired_token):
        for method in ("GET", "POST"):
            csrf = "c" * 43
            client.cookies.set(csrf_cookie_name(settings), csrf)
            response = await client.request(
                method,
                f"/rsvp/{token}",
                data={"csrf_token": csrf, "status": "yes"} if method == "POST" else None,
            )
            assert response.headers["referrer-policy"] == "no-referrer"
            answers.append((response.status_code, response.text))
        ics = await client.get(f"/rsvp/{token}/event.ics")
        answers.append((ics.status_code, ics.text))

    assert len(set(answers)) == 1
    status, body = answers[0]
    assert status == 404 and "This link is not valid" in body
    assert await Invitation.filter(status=InvitationStatus.YES).count() == 0


async def test_the_calendar_file_for_an_invitation(client, settings, reception, invite):  # noqa: F811
    invitation = await invite(reception)

    response = await client.get(f"/rsvp/{rsvp_token(settings, invitation)}/event.ics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    assert response.headers["referrer-policy"] == "no-referrer"
    assert f"UID:{reception.uid}" in response.text
    assert "METHOD:PUBLISH" in response.text and "TZID=Europe/Riga" in response.text


async def test_the_token_stays_out_of_the_access_log(client, settings, reception, invite, caplog):  # noqa: F811
    token = rsvp_token(settings, await invite(reception))
    with caplog.at_level(logging.INFO, logger="engage.access"):
        await client.get(f"/rsvp/{token}")
    assert token not in caplog.text and "/rsvp/<token>" in caplog.text


# --- Signed in ------------------------------------------------------------------------


@pytest.fixture
async def signed_in(client, make_user, make_alumnus, sign_in):
    user = await make_user(role=Role.ALUMNUS)
    person = await make_alumnus(user=user, country="LV")
    await sign_in(client, user)
    return person


async def test_my_invitations_lists_and_answers_ones_own(
    client,
    signed_in,
    reception,
    embassy,  # noqa: F811
    make_event,
    invite,  # noqa: F811
):
    mine = await invite(reception, signed_in)
    other_event = await make_event(embassy, title="Seminar on logistics")
    await invite(other_event)  # someone else's
    withdrawn = await make_event(embassy, title="Withdrawn dinner")
    await invite(withdrawn, signed_in, status=InvitationStatus.REVOKED)

    page = (await client.get("/my/invitations")).text

    assert "Independence Day reception" in page
    assert '<a href="/my/invitations" aria-current="page">' in page  # in the navigation
    assert "Seminar on logistics" not in page and "Withdrawn dinner" not in page
    assert f'action="/my/invitations/{mine.id}"' in page
    assert f'id="i{mine.id}-status-yes"' in page

    response = await client.post(
        f"/my/invitations/{mine.id}", data={"status": "no", "q_diet": "ignored when no"}
    )
    assert response.status_code == 200 and "You are not coming." in response.text
    assert (await Invitation.get(id=mine.id)).status == InvitationStatus.NO

    invalid = await client.post(f"/my/invitations/{mine.id}", data={"status": "yes"})
    assert invalid.status_code == 422 and "Answer this question." in invalid.text


async def test_my_invitations_are_scoped(client, signed_in, reception, invite):  # noqa: F811
    others = await invite(reception)
    withdrawn = await invite(reception, signed_in, status=InvitationStatus.REVOKED)

    for target in (others.id, withdrawn.id, 999_999, "abc"):
        response = await client.post(f"/my/invitations/{target}", data={"status": "no"})
        assert response.status_code == 404, target
    assert (await Invitation.get(id=others.id)).status == InvitationStatus.INVITED


async def test_my_invitations_needs_a_sign_in(client, db):
    response = await client.get("/my/invitations")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


async def test_replying_to_an_open_event(client, signed_in, embassy, make_event):  # noqa: F811
    event = await make_event(embassy, visibility=Visibility.OPEN, title="Open day")
    closed = await make_event(embassy, visibility=Visibility.INVITATION)

    page = await client.get(f"/events/{event.id}/reply")
    answered = await client.post(f"/events/{event.id}/reply", data={"status": "yes"})

    assert page.status_code == 200 and "Open day" in page.text
    assert answered.status_code == 200 and "You are coming." in answered.text
    made = await Invitation.get(event_id=event.id)
    assert made.alumnus_id == signed_in.id and made.source == InvitationSource.OPEN
    assert (await client.get(f"/events/{closed.id}/reply")).status_code == 404
    assert (
        await client.post(f"/events/{closed.id}/reply", data={"status": "yes"})
    ).status_code == 404
