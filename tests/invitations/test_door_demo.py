"""The demo's past reception has attendance, taken through the check-in service:
most of those who said yes came, some did not, one person walked in."""

from __future__ import annotations

import pytest

from engage.accounts.models import AuditEvent
from engage.cli.demo import load_demo
from engage.cli.demo_invitations import PAST, seed_demo_invitations
from engage.events.models import Event
from engage.invitations.checkin import attendance_counts
from engage.invitations.models import Invitation, InvitationSource, InvitationStatus


@pytest.fixture
async def past(db, settings) -> Event:
    await load_demo(settings)
    await seed_demo_invitations(settings)
    return await Event.get(title=PAST.title)


async def test_the_past_reception_has_attendance(past, settings):
    counts = await attendance_counts(past)
    assert counts["attended"] > 0 and counts["no_show"] > 0
    arrived = await Invitation.filter(event_id=past.id, arrived_at__isnull=False)
    assert all(i.arrived_by_id is not None for i in arrived)
    assert all(i.status != InvitationStatus.NO for i in arrived)
    (walk_in,) = [i for i in arrived if i.source == InvitationSource.WALK_IN]
    assert walk_in.status == InvitationStatus.YES
    marks = await AuditEvent.filter(action="invitation.arrived").count()
    assert marks == len(arrived) - 1  # the walk-in is logged as such
    assert await AuditEvent.filter(action="invitation.walk_in").count() == 1
    coming = await Invitation.filter(event_id=past.id, status=InvitationStatus.YES)
    assert past.seats_taken == sum(1 + i.guests for i in coming)

    # Once: a second run changes nothing.
    assert await seed_demo_invitations(settings) == 0
    assert await attendance_counts(past) == counts
