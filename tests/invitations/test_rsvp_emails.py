"""End to end: the invitation arrives at a real SMTP server (aiosmtpd), its link is
followed and answered, and the confirmation (and a waitlist promotion) arrive too."""

from __future__ import annotations

import re
from email.message import EmailMessage

import pytest

from engage.accounts.models import Role
from engage.clock import utcnow
from engage.invitations.links import rsvp_token
from engage.invitations.models import Invitation, InvitationStatus
from engage.invitations.services import invite as invite_people
from tests.accounts.conftest import Mailbox, text_of
from tests.invitations.test_rsvp import embassy  # noqa: F401

RSVP_LINK = re.compile(r"https?://[^\s\"<>]+(/rsvp/[A-Za-z0-9._-]+)")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
async def mailbox(app, worker, clock, smtp_server) -> Mailbox:
    return Mailbox(worker, clock, smtp_server)


def _link(message: EmailMessage) -> str:
    links = set(RSVP_LINK.findall(text_of(message)))
    assert len(links) == 1, links
    return links.pop()


def _calendar(message: EmailMessage) -> str:
    (part,) = [a for a in message.iter_attachments() if a.get_content_type() == "text/calendar"]
    return part.get_payload(decode=True).decode()


async def _answer(client, path: str, **fields):
    page = await client.get(path)
    assert page.status_code == 200, page.text
    token = CSRF.search(page.text).group(1)
    return await client.post(path, data={"csrf_token": token, **fields})


async def test_from_the_invitation_to_the_confirmation(
    client,
    mailbox,
    embassy,  # noqa: F811
    make_event,
    make_alumnus,
    actor_for,
):
    staff = await actor_for(Role.STAFF)
    event = await make_event(
        embassy, title="Reception at the Residence", capacity=20, guests_allowed=1
    )
    person = await make_alumnus(country="LV", given_name="Ilze", email="ilze@example.lv")
    await invite_people(staff, event.id, {"alumni_ids": [person.id]})
    await mailbox.deliver()
    invitation_email = mailbox.last("ilze@example.lv")
    path = _link(invitation_email)

    response = await _answer(client, path, status="yes", guests="1")
    assert response.status_code == 200 and "You are coming, with 1 guest." in response.text
    await mailbox.deliver()

    confirmation = mailbox.last("ilze@example.lv")
    assert confirmation is not invitation_email
    assert confirmation["Subject"] == "You are coming: Reception at the Residence"
    assert "alumni-rix@" in str(confirmation["From"])
    text = text_of(confirmation)
    assert "you are coming, with 1 guest" in text
    assert "Riga time (UTC+" in text and "The Residence" in text
    assert _link(confirmation) == path  # the same personal link, to change the answer
    ics = _calendar(confirmation)
    assert "METHOD:REQUEST" in ics and f"UID:{event.uid}" in ics
    assert "ilze@example.lv" in ics  # the invitee is the attendee
    html = confirmation.get_body(("html",)).get_content()
    assert f'{path}" style=' in html  # the link of the "Change my answer" button

    # The link still opens the page with the answer given.
    again = await client.get(path)
    assert 'value="yes" checked' in again.text


async def test_a_retried_answer_sends_one_confirmation(
    client,
    mailbox,
    settings,
    embassy,  # noqa: F811
    make_event,
    make_alumnus,
):
    event = await make_event(embassy, capacity=5)
    person = await make_alumnus(email="twice@example.org")
    invitation = await Invitation.create(event=event, alumnus=person, invited_at=utcnow())
    path = f"/rsvp/{rsvp_token(settings, invitation)}"

    for _ in range(2):
        assert (await _answer(client, path, status="maybe")).status_code == 200
    await mailbox.deliver()

    (only,) = mailbox.messages("twice@example.org")
    assert only["Subject"].startswith("Your answer is maybe")


async def test_a_decline_promotes_and_emails_the_first_in_line(
    client,
    mailbox,
    settings,
    embassy,  # noqa: F811
    make_event,
    make_alumnus,
):
    event = await make_event(embassy, title="Small dinner", capacity=1)
    paths = {}
    for name in ("first", "second"):
        person = await make_alumnus(email=f"{name}@example.org", given_name=name.title())
        made = await Invitation.create(event=event, alumnus=person, invited_at=utcnow())
        paths[name] = f"/rsvp/{rsvp_token(settings, made)}"
    await _answer(client, paths["first"], status="yes")
    waiting = await _answer(client, paths["second"], status="yes")
    assert "number 1 on the waiting list" in waiting.text
    await mailbox.deliver()
    waitlisted = mailbox.last("second@example.org")
    assert waitlisted["Subject"] == "On the waiting list: Small dinner"
    assert "number 1 on the waiting list" in text_of(waitlisted)
    assert not list(waitlisted.iter_attachments())

    await _answer(client, paths["first"], status="no")
    await mailbox.deliver()

    promoted = mailbox.last("second@example.org")
    assert promoted["Subject"] == "A seat is yours: Small dinner"
    assert _link(promoted) == paths["second"]  # they can still decline from it
    assert "METHOD:REQUEST" in _calendar(promoted)
    assert mailbox.last("first@example.org")["Subject"] == "You are not coming: Small dinner"
    second = await Invitation.get(alumnus__email="second@example.org")
    assert second.status == InvitationStatus.YES and second.promoted_at is not None
