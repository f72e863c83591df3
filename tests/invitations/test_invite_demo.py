"""The demo's invitations (engage.cli.demo_invitations): invitations on the upcoming
Nairobi reception with a spread of answers filling it to a waitlist, the Bogotá
webinar, answers on the past reception; made once."""

from __future__ import annotations

from collections import Counter

import pytest

from engage.cli.demo import load_demo
from engage.cli.demo_invitations import seed_demo_invitations
from engage.events.models import Event
from engage.invitations.models import Invitation, InvitationStatus
from engage.mail.models import OutboxMessage


@pytest.fixture
async def demo(db, settings):
    """`engage demo` seeds the invitations itself: the count is what it made."""
    await load_demo(settings)
    return await Invitation.all().count()


async def _statuses(title: str) -> tuple[Event, Counter]:
    event = await Event.get(title=title)
    found = await Invitation.filter(event_id=event.id).values_list("status", flat=True)
    return event, Counter(str(s) for s in found)


async def test_the_demo_invites_and_answers_once(demo, settings):
    assert demo > 0
    event, upcoming = await _statuses("Evening reception at the Residence")
    assert {"yes", "no", "maybe", "waitlisted", "invited"} <= set(upcoming)
    coming = await Invitation.filter(event_id=event.id, status=InvitationStatus.YES)
    seats = sum(1 + i.guests for i in coming)
    assert seats == event.seats_taken <= event.capacity
    assert event.capacity - seats < 2  # full: the waitlist waits for a seat
    assert any(i.guest_names for i in coming)
    assert all(len(i.guest_names) == i.guests for i in coming)
    assert await OutboxMessage.filter(template="invitation").count() >= sum(upcoming.values())

    past, held = await _statuses("Reception for the Staff College graduates of 2025")
    assert {"yes", "no", "maybe"} <= set(held) and past.seats_taken > 0
    _webinar, online = await _statuses("Webinar: humanitarian demining, lessons from Colombia")
    assert online["yes"] > 0
    cancelled = await Event.get(title="Reunion of the Command and Staff course, class of 2019")
    assert not await Invitation.exists(event_id=cancelled.id)

    before = await Invitation.all().count()
    assert await seed_demo_invitations(settings) == 0
    assert await Invitation.all().count() == before
