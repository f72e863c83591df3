"""Bulk mail about an invitation still queued when the invitation is revoked or the
event cancelled is skipped with that reason at send time (not failed at render)."""

from __future__ import annotations

from engage.clock import utcnow
from engage.events.models import EventStatus
from engage.invitations.models import Invitation, InvitationStatus
from engage.mail.gate import skip_reasons
from engage.mail.models import Category, Topic
from engage.mail.outbox import enqueue


async def _reminder(invitation: Invitation, key: str, category=Category.BULK):
    queued = await enqueue(
        "event_reminder",
        to="amani@example.org",
        category=category,
        topic=Topic.INVITATIONS if category is Category.BULK else None,
        dedupe_key=key,
        context={"invitation": invitation.id},
    )
    return queued.message


async def test_revoked_invitations_and_cancelled_events_stop_their_bulk_mail(
    db, make_embassy, make_event
):
    from engage.alumni.models import Alumnus

    embassy = await make_embassy(code="RIX", country="LV", timezone="Europe/Riga")
    standing = await make_event(embassy)
    cancelled = await make_event(embassy, status=EventStatus.CANCELLED)
    people = [
        await Alumnus.create(given_name="A", family_name=f"P{i}", country_id="LV") for i in range(3)
    ]
    live = await Invitation.create(event=standing, alumnus=people[0], invited_at=utcnow())
    revoked = await Invitation.create(
        event=standing, alumnus=people[1], invited_at=utcnow(), status=InvitationStatus.REVOKED
    )
    of_cancelled = await Invitation.create(event=cancelled, alumnus=people[2], invited_at=utcnow())
    rows = {
        "live": await _reminder(live, "r1"),
        "revoked": await _reminder(revoked, "r2"),
        "cancelled": await _reminder(of_cancelled, "r3"),
        # A cancellation notice is transactional: never stopped by this check.
        "notice": await _reminder(of_cancelled, "r4", category=Category.TRANSACTIONAL),
    }
    found = await skip_reasons(list(rows.values()))
    assert {name: found.get(row.id) for name, row in rows.items()} == {
        "live": None,
        "revoked": "invitation_revoked",
        "cancelled": "event_cancelled",
        "notice": None,
    }
