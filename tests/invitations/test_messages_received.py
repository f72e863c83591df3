"""A reminder and a message to invitees as people receive them: delivered by a real
worker to a real aiosmtpd server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engage.accounts.actor import load_actor
from engage.accounts.models import Role
from engage.invitations.links import rsvp_url
from engage.invitations.messages import send_message
from engage.invitations.models import Invitation
from engage.invitations.reminders import due_reminders
from engage.mail.models import OutboxMessage, Status

#: 18:00 in Riga in summer (UTC+3).
STARTS = datetime(2031, 6, 13, 15, 0, tzinfo=UTC)
DAY_BEFORE = STARTS - timedelta(days=1)


@pytest.fixture
async def riga(db, make_embassy, make_user, make_event, make_alumnus):
    embassy = await make_embassy(code="RIX", country="LV", timezone="Europe/Riga", city="Riga")
    contact = await make_user(role=Role.ATTACHE, embassies=["RIX"], email="ieva@embassy.example")
    writer = await make_user(role=Role.ATTACHE, embassies=["RIX"], email="martins@embassy.example")
    event = await make_event(
        embassy,
        title="Midsummer reception",
        starts_at=STARTS,
        venue="The Residence",
        created_by=contact,
        reminders=[{"before_minutes": 24 * 60, "to": "coming"}],
    )
    coming = await make_alumnus(
        country="LV", given_name="Jānis", preferred_name="Jāni", email="janis@example.lv"
    )
    invitation = await Invitation.create(
        event=event,
        alumnus=coming,
        status="yes",
        guests=1,
        invited_at=STARTS - timedelta(days=30),
        responded_at=STARTS - timedelta(days=20),
    )
    return event, invitation, await load_actor(writer)


def _parts(message) -> tuple[str, str]:
    return (
        message.get_body(("plain",)).get_content(),
        message.get_body(("html",)).get_content(),
    )


async def test_the_reminder_as_received(riga, worker, clock, smtp_server, relay_settings):
    _event, invitation, _writer = riga

    assert await due_reminders(DAY_BEFORE) == 1
    clock.now = DAY_BEFORE + timedelta(minutes=1)
    assert await worker.run_until_empty() == 1

    (message,) = smtp_server.messages()
    # (strip: Python folds a subject of just this length onto the next line, and its
    # parser keeps the fold's space; mail clients drop it)
    assert message["Subject"].strip() == (
        "Reminder: Midsummer reception, Friday 13 June 2031, 18:00 Riga time (UTC+3)"
    )
    assert str(message["From"]) == "Embassy RIX alumni desk <alumni-rix@engage.localhost>"
    assert str(message["Reply-To"]) == "ieva@embassy.example"
    assert message["To"].addresses[0].addr_spec == "janis@example.lv"
    text, html = _parts(message)
    for part in (text, html):
        assert "Dear Jāni," in part
        assert "We look forward to welcoming you to Midsummer reception." in part
        assert "Friday 13 June 2031, 18:00 Riga time (UTC+3)" in part
        assert "With 1 guest." in part
        assert rsvp_url(relay_settings, invitation) in part
    row = await OutboxMessage.get(dedupe_key__startswith="reminder:")
    assert row.status == Status.SENT


async def test_the_message_as_received(riga, worker, clock, smtp_server, relay_settings):
    event, invitation, writer = riga

    await send_message(
        writer,
        event.id,
        "Parking at the residence",
        "Please use **gate 2**; see [the map](https://example.org/map).",
        ["coming"],
    )
    clock.now = datetime.now(UTC) + timedelta(minutes=1)
    assert await worker.run_until_empty() == 1

    (message,) = smtp_server.messages()
    assert message["Subject"] == "Parking at the residence"
    assert str(message["From"]) == "Embassy RIX alumni desk <alumni-rix@engage.localhost>"
    # Replies go to whoever wrote the message, not to the event's contact.
    assert str(message["Reply-To"]) == "martins@embassy.example"
    assert message["Auto-Submitted"] is None  # a person wrote it
    text, html = _parts(message)
    assert "Dear Jāni," in text and "Dear Jāni," in html
    assert "Please use **gate 2**; see the map (https://example.org/map)." in text
    assert "<strong>gate 2</strong>" in html
    assert 'href="https://example.org/map"' in html
    for part in (text, html):
        assert "About Midsummer reception, Friday 13 June 2031, 18:00 Riga time (UTC+3)." in part
        assert rsvp_url(relay_settings, invitation) in part
