"""The invitation as people receive it: delivered by a real worker to a real aiosmtpd
server, From the embassy's alumni desk, Reply-To the attaché, the local time with
its zone, the personal RSVP link, and a calendar file that parses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar
import pytest

from engage.accounts.actor import load_actor
from engage.accounts.models import Role
from engage.clock import utcnow
from engage.invitations.links import invitation_for_token, rsvp_url
from engage.invitations.models import Invitation
from engage.invitations.services import invite, revoke_invitation
from engage.mail.models import OutboxMessage, Status

#: 18:00 in Riga in summer (UTC+3).
STARTS = datetime(2031, 6, 13, 15, 0, tzinfo=UTC)


async def _deliver(worker, clock) -> int:
    clock.now = utcnow() + timedelta(hours=1)
    return await worker.run_until_empty()


def _parts(message) -> tuple[str, str]:
    return (
        message.get_body(("plain",)).get_content(),
        message.get_body(("html",)).get_content(),
    )


@pytest.fixture
async def riga(db, make_embassy, make_user, make_event):
    embassy = await make_embassy(
        code="RIX", country="LV", accredited=["LV", "EE"], timezone="Europe/Riga", city="Riga"
    )
    attache = await make_user(role=Role.ATTACHE, embassies=["RIX"], email="ieva@embassy.example")
    event = await make_event(
        embassy,
        title="Midsummer reception",
        starts_at=STARTS,
        venue="The Residence",
        address="Elizabetes iela 1\nRiga",
        dress_code="Business attire",
        description='Drinks with the **ambassador**. <script>alert("x")</script>',
        created_by=attache,
        guests_allowed=1,
        guests_named=True,
    )
    return embassy, await load_actor(attache), event


async def test_the_invitation_arrives_from_the_desk_with_time_link_and_calendar(
    riga, make_alumnus, worker, clock, smtp_server, relay_settings
):
    _embassy, attache, event = riga
    person = await make_alumnus(
        country="LV", given_name="Jānis", preferred_name="Jāni", email="janis@example.lv"
    )

    await invite(attache, event.id, {"alumni_ids": [person.id]})
    assert await _deliver(worker, clock) == 1

    (message,) = smtp_server.messages()
    invitation = await Invitation.get(event_id=event.id, alumnus_id=person.id)
    assert str(message["From"]) == "Embassy RIX alumni desk <alumni-rix@engage.localhost>"
    assert str(message["Reply-To"]) == "ieva@embassy.example"
    assert message["To"].addresses[0].addr_spec == "janis@example.lv"
    assert message["Subject"] == "Invitation: Midsummer reception"
    text, html = _parts(message)
    link = rsvp_url(relay_settings, invitation)
    for part in (text, html):
        assert "Dear Jāni," in part
        assert "Friday 13 June 2031, 18:00 Riga time (UTC+3)" in part
        assert "20:00 Riga time (UTC+3)" in part
        assert "The Residence" in part and "Business attire" in part
        assert link in part
    assert "<script>" not in html and "<strong>ambassador</strong>" in html
    assert "**ambassador**" in text
    # The link opens the invitation, without signing in.
    token = link.rsplit("/", 1)[1]
    assert (await invitation_for_token(relay_settings, token)).id == invitation.id

    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "text/calendar"
    calendar = icalendar.Calendar.from_ical(attachment.get_content())
    assert str(calendar["METHOD"]) == "REQUEST"
    (vevent,) = calendar.walk("VEVENT")
    assert str(vevent["UID"]) == event.uid
    start = vevent.decoded("DTSTART")
    assert start == STARTS and str(start.tzinfo) == "Europe/Riga"
    assert "janis@example.lv" in str(vevent["ATTENDEE"]).lower()


async def test_an_invitation_revoked_before_it_was_sent_never_leaves(
    riga, make_alumnus, worker, clock, smtp_server
):
    _embassy, attache, event = riga
    kept = await make_alumnus(country="LV")
    revoked = await make_alumnus(country="EE")
    await invite(attache, event.id, {"alumni_ids": [kept.id, revoked.id]})
    invitation = await Invitation.get(event_id=event.id, alumnus_id=revoked.id)

    await revoke_invitation(attache, invitation.id)
    assert await _deliver(worker, clock) == 1

    assert [m["To"].addresses[0].addr_spec for m in smtp_server.messages()] == [kept.email]
    assert not await OutboxMessage.exists(dedupe_key=f"invitation:{invitation.id}")
    assert await OutboxMessage.filter(status=Status.SENT).count() == 1
