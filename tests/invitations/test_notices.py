"""Notices to invitees: a new time or place goes to those coming, maybe coming or
waitlisted; a cancellation to every invitee not revoked, with calendar files that
update or remove the event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar
import pytest

from engage.accounts.actor import load_actor
from engage.accounts.models import Role
from engage.clock import utcnow
from engage.events.models import EventStatus
from engage.events.services import cancel_event, update_event
from engage.invitations.models import Invitation, InvitationStatus
from engage.invitations.services import invite
from engage.mail.models import Category, OutboxMessage, Status

STARTS = datetime(2031, 6, 13, 15, 0, tzinfo=UTC)  # 18:00 in Riga
STATUSES = ("yes", "maybe", "waitlisted", "no", "invited", "revoked")


@pytest.fixture
async def invited(db, make_embassy, make_user, make_event, make_alumnus):
    """A published event in Riga with one invitee in each status; every invitation
    email sent except the one to the person who has not answered."""
    embassy = await make_embassy(code="RIX", country="LV", timezone="Europe/Riga")
    user = await make_user(role=Role.ATTACHE, embassies=["RIX"], email="ieva@embassy.example")
    attache = await load_actor(user)
    event = await make_event(embassy, starts_at=STARTS, created_by=user)
    people = {status: await make_alumnus(country="LV", given_name=status) for status in STATUSES}
    await invite(attache, event.id, {"alumni_ids": [p.id for p in people.values()]})
    for status, person in people.items():
        await Invitation.filter(event_id=event.id, alumnus_id=person.id).update(status=status)
    unsent = await Invitation.get(event_id=event.id, alumnus_id=people["invited"].id)
    await OutboxMessage.exclude(dedupe_key=f"invitation:{unsent.id}").update(status=Status.SENT)
    return attache, event, people


async def _notices(template: str) -> dict[int, OutboxMessage]:
    rows = await OutboxMessage.filter(template=template)
    return {row.recipient_id: row for row in rows}


async def test_a_new_time_or_place_is_told_to_those_coming_maybe_or_waitlisted(invited):
    attache, event, people = invited

    await update_event(attache, event.id, {"starts_at": "2031-06-13T19:00"})

    notices = await _notices("event_changed")
    assert set(notices) == {people[s].id for s in ("yes", "maybe", "waitlisted")}
    for status in ("yes", "maybe", "waitlisted"):
        row = notices[people[status].id]
        invitation = await Invitation.get(event_id=event.id, alumnus_id=people[status].id)
        assert row.category == Category.TRANSACTIONAL
        assert row.dedupe_key == f"event_changed:{invitation.id}:1"
        assert row.context["attachments"] == [
            {
                "kind": "event_ics",
                "event": event.id,
                "method": "REQUEST",
                "invitation": invitation.id,
            }
        ]

    # The title is not time or place: no notice. The venue is: a second round.
    await update_event(attache, event.id, {"title": "Midsummer reception"})
    assert await OutboxMessage.filter(template="event_changed").count() == 3
    await update_event(attache, event.id, {"venue": "The Old Town Hall"})
    keys = set(
        await OutboxMessage.filter(template="event_changed").values_list("dedupe_key", flat=True)
    )
    assert len(keys) == 6 and sum(k.endswith(":2") for k in keys) == 3


async def test_a_draft_changing_tells_nobody(db, make_embassy, make_user, make_event, make_alumnus):
    embassy = await make_embassy(code="RIX", country="LV", timezone="Europe/Riga")
    user = await make_user(role=Role.ATTACHE, embassies=["RIX"])
    event = await make_event(embassy, status=EventStatus.DRAFT, starts_at=STARTS)
    person = await make_alumnus(country="LV")
    await Invitation.create(
        event=event, alumnus=person, status=InvitationStatus.YES, invited_at=utcnow()
    )

    await update_event(await load_actor(user), event.id, {"venue": "Elsewhere"})

    assert await OutboxMessage.filter(template="event_changed").count() == 0


async def test_cancelling_tells_every_invitee_not_revoked_whose_invitation_went_out(invited):
    attache, event, people = invited
    unsent = await Invitation.get(event_id=event.id, alumnus_id=people["invited"].id)

    await cancel_event(attache, event.id, reason="Storm warning")

    notices = await _notices("event_cancelled")
    assert set(notices) == {people[s].id for s in ("yes", "maybe", "waitlisted", "no")}
    assert all(row.category == Category.TRANSACTIONAL for row in notices.values())
    assert {row.context["attachments"][0]["method"] for row in notices.values()} == {"CANCEL"}
    assert all(row.dedupe_key.endswith(":1") for row in notices.values())
    # The invitation still queued is withdrawn: that person hears of neither.
    assert not await OutboxMessage.exists(dedupe_key=f"invitation:{unsent.id}")


async def test_the_notices_as_received(invited, worker, clock, smtp_server):
    attache, event, _people = invited

    await update_event(attache, event.id, {"starts_at": "2031-06-13T19:30"})
    await cancel_event(attache, event.id)
    clock.now = utcnow() + timedelta(hours=1)
    await worker.run_until_empty()

    received = {}
    for message in smtp_server.messages():
        received.setdefault(str(message["Subject"]), []).append(message)
    # The change notices still queued at the cancellation were withdrawn.
    assert set(received) == {"Cancelled: " + event.title}
    assert len(received["Cancelled: " + event.title]) == 4
    assert not await OutboxMessage.exists(template="event_changed")
    message = received["Cancelled: " + event.title][0]
    text = message.get_body(("plain",)).get_content()
    assert "Friday 13 June 2031, 19:30 Riga time (UTC+3)" in text
    assert str(message["From"]) == "Embassy RIX alumni desk <alumni-rix@engage.localhost>"
    (attachment,) = list(message.iter_attachments())
    calendar = icalendar.Calendar.from_ical(attachment.get_content())
    assert str(calendar["METHOD"]) == "CANCEL"
    (vevent,) = calendar.walk("VEVENT")
    assert int(vevent["SEQUENCE"]) == 2 and str(vevent["STATUS"]) == "CANCELLED"


async def test_the_change_notice_as_received(invited, worker, clock, smtp_server):
    attache, event, _people = invited

    await update_event(attache, event.id, {"starts_at": "2031-06-13T19:30"})
    clock.now = utcnow() + timedelta(hours=1)
    await worker.run_until_empty()

    messages = [m for m in smtp_server.messages() if m["Subject"].startswith("Changed:")]
    assert len(messages) == 3
    by_name = {m["To"].addresses[0].display_name.split()[0]: m for m in messages}
    waitlisted = by_name["waitlisted"].get_body(("plain",)).get_content()
    coming = by_name["yes"].get_body(("plain",)).get_content()
    assert "19:30 Riga time (UTC+3)" in coming and "Your answer: you will come." in coming
    assert "You are on the waitlist" in waitlisted
    (attachment,) = list(by_name["maybe"].iter_attachments())
    calendar = icalendar.Calendar.from_ical(attachment.get_content())
    assert str(calendar["METHOD"]) == "REQUEST"
    (vevent,) = calendar.walk("VEVENT")
    assert int(vevent["SEQUENCE"]) == 1
    assert vevent.decoded("DTSTART") == STARTS + timedelta(minutes=90)
