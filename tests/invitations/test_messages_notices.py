"""The messages the events service causes: change and cancellation notices reach the
right people (transactional: also those who no longer take bulk mail) with the
updated calendar file; a cancellation takes back reminders still queued."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar
import pytest

from engage.accounts.actor import load_actor
from engage.accounts.models import Role
from engage.events.services import cancel_event, update_event
from engage.invitations.models import Invitation, InvitationStatus
from engage.invitations.reminders import due_reminders
from engage.invitations.services import invite
from engage.mail.models import OutboxMessage, Status

STARTS = datetime(2031, 6, 13, 15, 0, tzinfo=UTC)  # 18:00 in Riga (UTC+3)
DAY_BEFORE = STARTS - timedelta(days=1)
#: Invited through the service (their invitation went out) and then answered so.
ANSWERED = ("yes", "maybe", "waitlisted", "no", "invited", "revoked")


@pytest.fixture
async def riga(db, make_embassy, make_user, make_event, make_alumnus):
    embassy = await make_embassy(code="RIX", country="LV", timezone="Europe/Riga")
    user = await make_user(role=Role.ATTACHE, embassies=["RIX"], email="ieva@embassy.example")
    attache = await load_actor(user)
    event = await make_event(
        embassy,
        starts_at=STARTS,
        created_by=user,
        reminders=[{"before_minutes": 24 * 60, "to": "coming"}],
    )
    people = {
        name: await make_alumnus(country="LV", given_name=name, email=f"{name}@example.lv")
        for name in (*ANSWERED, "unsent")
    }
    await invite(attache, event.id, {"alumni_ids": [p.id for p in people.values()]})
    for name in ANSWERED:
        await Invitation.filter(event_id=event.id, alumnus_id=people[name].id).update(status=name)
    unsent = await Invitation.get(event_id=event.id, alumnus_id=people["unsent"].id)
    await OutboxMessage.exclude(dedupe_key=f"invitation:{unsent.id}").update(status=Status.SENT)
    # Said yes, then withdrew consent to invitations and asked not to be engaged:
    # no more bulk mail, but a notice about their own answer still reaches them.
    people["optout"] = await make_alumnus(
        country="LV",
        given_name="optout",
        email="optout@example.lv",
        accepts_invitations=False,
        do_not_engage=True,
    )
    await Invitation.create(
        event=event,
        alumnus=people["optout"],
        status=InvitationStatus.YES,
        invited_at=STARTS - timedelta(days=40),
    )
    return attache, event, people


def _received(smtp_server, prefix: str) -> dict[str, object]:
    return {
        m["To"].addresses[0].addr_spec.split("@")[0]: m
        for m in smtp_server.messages()
        if m["Subject"].strip().startswith(prefix)
    }


def _calendar(message) -> tuple[icalendar.Calendar, icalendar.Event]:
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "text/calendar"
    calendar = icalendar.Calendar.from_ical(attachment.get_content())
    (vevent,) = calendar.walk("VEVENT")
    return calendar, vevent


async def test_a_change_reaches_those_coming_with_the_updated_calendar(
    riga, worker, clock, smtp_server
):
    attache, event, _people = riga

    await update_event(
        attache, event.id, {"starts_at": "2031-06-13T19:30", "venue": "The Old Town Hall"}
    )
    clock.now = datetime.now(UTC) + timedelta(hours=1)
    await worker.run_until_empty()

    received = _received(smtp_server, "Changed:")
    assert set(received) == {"yes", "maybe", "waitlisted", "optout"}
    for name, message in received.items():
        text = message.get_body(("plain",)).get_content()
        assert "Friday 13 June 2031, 19:30 Riga time (UTC+3)" in text
        assert "The Old Town Hall" in text
        calendar, vevent = _calendar(message)
        assert str(calendar["METHOD"]) == "REQUEST"
        assert str(vevent["UID"]) == event.uid
        assert int(vevent["SEQUENCE"]) == 1
        assert vevent.decoded("DTSTART") == STARTS + timedelta(minutes=90)
        assert str(vevent["DTSTART"].params["TZID"]) == "Europe/Riga"
        assert "The Old Town Hall" in str(vevent["LOCATION"])
        assert str(vevent["ATTENDEE"]).lower() == f"mailto:{name}@example.lv"


async def test_a_cancellation_reaches_everyone_invited_and_takes_back_queued_reminders(
    riga, worker, clock, smtp_server
):
    attache, event, people = riga
    assert await due_reminders(DAY_BEFORE) == 2  # to yes and maybe, not yet sent
    reminders = await OutboxMessage.filter(dedupe_key__startswith="reminder:").count()
    assert reminders == 2

    await cancel_event(attache, event.id, reason="Storm warning")
    clock.now = DAY_BEFORE + timedelta(hours=1)  # past the reminders' time too
    await worker.run_until_empty()

    assert not await OutboxMessage.exists(dedupe_key__startswith="reminder:")
    assert not await OutboxMessage.exists(status=Status.FAILED)
    received = _received(smtp_server, "Cancelled:")
    # Not the revoked one; not the one whose invitation never left (withdrawn instead).
    assert set(received) == {"yes", "maybe", "waitlisted", "no", "invited", "optout"}
    assert not any(m["Subject"].strip().startswith("Reminder:") for m in smtp_server.messages())
    for name, message in received.items():
        calendar, vevent = _calendar(message)
        assert str(calendar["METHOD"]) == "CANCEL"
        assert str(vevent["UID"]) == event.uid
        assert str(vevent["STATUS"]) == "CANCELLED"
        assert int(vevent["SEQUENCE"]) == 1
        assert str(vevent["ATTENDEE"]).lower() == f"mailto:{name}@example.lv"
    unsent = await Invitation.get(event_id=event.id, alumnus_id=people["unsent"].id)
    assert not await OutboxMessage.exists(dedupe_key=f"invitation:{unsent.id}")
