"""Notices to invitees when an event changes, written in the transaction of the change.

Registered with ``engage.events.hooks.on_event_change`` when the package is imported::

    await event_changed(event, Change.TIME_OR_PLACE, conn)   # the events service
    # -> one "event_changed" to each invitee who said yes or maybe, or is waitlisted,
    #    with the updated calendar file (METHOD:REQUEST, the new SEQUENCE)
    await event_changed(event, Change.CANCELLED, conn)
    # -> invitations, change notices and reminders not sent yet are withdrawn; one
    #    "event_cancelled" to every other invitee not revoked, with a calendar file
    #    that removes it (METHOD:CANCEL)

Both are transactional (DESIGN.md: notices of a change or cancellation), take the
template of the event's kind, and are deduplicated per invitation and calendar
SEQUENCE (``event_changed:{invitation}:{sequence}``): the same change announced twice
writes one notice, a later change another. Waitlisted people are told too: they may
be given a seat at the new time. Someone whose invitation never left the outbox
hears nothing of a cancellation (their invitation is withdrawn instead), and one
still queued when the time changes will show the new time, being rendered at send
time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from engage.alumni.addresses import address_fields, deliverable_address
from engage.events.hooks import Change, on_event_change
from engage.events.models import Event
from engage.invitations.jobs import templates_for
from engage.invitations.models import Invitation, InvitationStatus
from engage.invitations.reminders import reminder_key
from engage.mail.models import Category
from engage.mail.outbox import enqueue_many, is_address, outbox_values, withdraw

#: Invitations read and notices written per batch.
BATCH = 500
#: Who hears of a new time or place.
TOLD_OF_CHANGES = (InvitationStatus.YES, InvitationStatus.MAYBE, InvitationStatus.WAITLISTED)


@on_event_change
async def _on_event_change(event: Event, change: Change, conn: BaseDBAsyncClient) -> None:
    if change is Change.TIME_OR_PLACE:
        await notify_change(event, conn)
    elif change is Change.CANCELLED:
        await notify_cancellation(event, conn)


async def notify_change(event: Event, conn: BaseDBAsyncClient) -> int:
    """Enqueue the change notice to those coming, maybe coming or waitlisted; how many."""
    template = templates_for(event).change
    written = 0
    async for batch in _invitees(event, conn, statuses=TOLD_OF_CHANGES):
        rows = [
            _notice(template, event, person, key=f"event_changed:{person['id']}", method="REQUEST")
            for person in batch
        ]
        await enqueue_many(rows, using_db=conn)
        written += len(rows)
    return written


async def notify_cancellation(event: Event, conn: BaseDBAsyncClient) -> int:
    """Withdraw unsent invitations; enqueue the cancellation to every other invitee
    not revoked; how many notices."""
    template = templates_for(event).cancellation
    statuses = tuple(s for s in InvitationStatus if s is not InvitationStatus.REVOKED)
    offsets = {r["before_minutes"] for r in event.reminders or () if isinstance(r, dict)}
    written = 0
    async for batch in _invitees(event, conn, statuses=statuses):
        # What was still queued for these people about this event will not go out:
        # the invitation (they then hear nothing of it), earlier change notices and
        # reminders (which would otherwise fail to render, the event being cancelled).
        changes = [
            f"event_changed:{p['id']}:{sequence}"
            for p in batch
            for sequence in range(1, event.sequence)
        ]
        reminders = [reminder_key(int(p["id"]), minutes) for p in batch for minutes in offsets]
        unsent = await withdraw(
            [f"invitation:{p['id']}" for p in batch] + changes + reminders, using_db=conn
        )
        rows = [
            _notice(template, event, p, key=f"event_cancelled:{p['id']}", method="CANCEL")
            for p in batch
            if f"invitation:{p['id']}" not in unsent
        ]
        await enqueue_many(rows, using_db=conn)
        written += len(rows)
    return written


async def _invitees(
    event: Event, conn: BaseDBAsyncClient, *, statuses: tuple[InvitationStatus, ...]
) -> AsyncIterator[list[dict[str, Any]]]:
    """The event's invitations in ``statuses`` with an address, in batches (by id)."""
    after = 0
    while True:
        batch = (
            await Invitation.filter(event_id=event.id, status__in=list(statuses), id__gt=after)
            .order_by("id")
            .limit(BATCH)
            .using_db(conn)
            .values(
                "id",
                "alumnus_id",
                "alumnus__given_name",
                "alumnus__family_name",
                *address_fields("alumnus__"),
            )
        )
        if not batch:
            return
        yield [p for p in batch if is_address(deliverable_address(p, prefix="alumnus__") or "")]
        after = int(batch[-1]["id"])


def _notice(
    template: str, event: Event, person: dict[str, Any], *, key: str, method: str
) -> dict[str, Any]:
    invitation_id = int(person["id"])
    return outbox_values(
        template,
        to=deliverable_address(person, prefix="alumnus__") or "",
        to_name=f"{person['alumnus__given_name']} {person['alumnus__family_name']}".strip(),
        category=Category.TRANSACTIONAL,
        dedupe_key=f"{key}:{event.sequence}",
        recipient=("alumnus", int(person["alumnus_id"])),
        context={
            "invitation": invitation_id,
            "attachments": [
                {
                    "kind": "event_ics",
                    "event": event.id,
                    "method": method,
                    "invitation": invitation_id,
                }
            ],
        },
    )
