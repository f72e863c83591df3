"""Answering an invitation: yes, no or maybe, guests, questions; capacity and a fair waitlist.

::

    invitation = await answer(invitation.id, RsvpAnswer("yes", guests=1, guest_names=["Ana"]))
    invitation.status                         # "yes", or "waitlisted" when the event is full
    await waitlist_position(invitation)       # 1, 2, ... while waitlisted, else None

The capacity rule lives in the database, not in this process: every answer is one
transaction that first locks the event's row (``SELECT ... FOR UPDATE`` on
PostgreSQL; on SQLite a no-op ``UPDATE`` of the row, which takes the database's one
write lock until commit), then reads ``event.seats_taken``, decides, and writes the
invitation, the new ``seats_taken`` and the confirmation email's outbox row. Two
answers to the same event, in any processes, run one after the other; the answer
time (``responded_at``, and ``waitlisted_at`` for the waitlist's order) is taken
once the lock is held, so the waitlist's order is the order in which answers were
decided.

Rules:

- Seats needed by a yes: 1 + guests; ``capacity`` null means no limit. A yes that
  does not fit joins the waitlist (``waitlisted_at``), first come, first served.
- A person coming who asks for more guests than there are free seats is refused
  (422 on ``guests``) and keeps their seat; fewer guests, a no or a maybe, a
  revocation or a capacity raise free seats.
- Freed seats go down the waitlist in order (``waitlisted_at``, then id) to the first
  who *fits*: someone needing three seats when one is free is skipped, not blocking
  the line, and keeps their place for the next seats freed.
- Answering again exactly what is recorded changes nothing and sends nothing (a
  retried request, a double click); a waitlisted person who answers yes again keeps
  their place.
- Required questions bind those who come (yes or maybe); someone declining need
  answer none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from engage.alumni.engagement import record_engagement
from engage.alumni.models import Alumnus, EngagementKind
from engage.clock import utcnow
from engage.errors import Conflict, InvalidInput, NotFound
from engage.events import services as events
from engage.events.hooks import Change, on_event_change
from engage.events.models import Event, EventStatus
from engage.i18n import _
from engage.invitations.models import Invitation, InvitationSource, InvitationStatus
from engage.invitations.rsvp_form import RsvpAnswer, clean_answer
from engage.mail.models import Category
from engage.mail.outbox import enqueue_many, outbox_values

# --- Answering --------------------------------------------------------------------------


async def lock_event(event_id: int, conn: BaseDBAsyncClient) -> Event:
    """Lock the event's row until ``conn``'s transaction ends, and read it (NotFound)."""
    if not conn.capabilities.support_for_update:
        # SQLite has no row locks: writing the row first takes the database's write
        # lock, held to commit, so no other writer in any process gets past here.
        await Event.filter(id=event_id).using_db(conn).update(seats_taken=F("seats_taken"))
    event = await Event.filter(id=event_id).select_for_update().using_db(conn).first()
    if event is None:
        raise NotFound(_("Not found."))
    return event


@dataclass(frozen=True)
class Answered:
    #: With ``event`` (locked copy) and ``alumnus`` loaded.
    invitation: Invitation
    #: The waitlist position when the answer left the person waiting, else None.
    position: int | None


async def answer(
    invitation_id: int, given: RsvpAnswer, *, now: datetime | None = None
) -> Invitation:
    """Record ``given`` for the invitation; returns it (with ``event`` loaded).

    Raises NotFound (no such invitation, or revoked), Conflict (answers closed),
    InvalidInput (a bad field, or more guests than there are free seats).
    """
    event_id = await Invitation.filter(id=invitation_id).values_list("event_id", flat=True)
    if not event_id:
        raise NotFound(_("Not found."))
    return (await record_answer(invitation_id, event_id[0], given, now=now)).invitation


async def record_answer(
    invitation_id: int, event_id: int, given: RsvpAnswer, *, now: datetime | None = None
) -> Answered:
    """:func:`answer` for a caller that already read the invitation's event id (the
    link pages), with the waitlist position. NotFound if the two do not match."""
    async with in_transaction() as conn:
        event = await lock_event(event_id, conn)
        at = now or utcnow()  # taken under the lock: answer order is decision order
        invitation = (
            await Invitation.filter(id=invitation_id, event_id=event_id)
            .select_related("alumnus")
            .using_db(conn)
            .first()
        )
        if invitation is None or invitation.status == InvitationStatus.REVOKED:
            raise NotFound(_("Not found."))
        invitation.event = event
        if not events.can_answer(event, now=at):
            raise Conflict(_closed_message(event))
        cleaned = clean_answer(event, given)
        if not _changes(invitation, cleaned):
            position = await waitlist_position(invitation, using_db=conn)
            return Answered(invitation, position)
        freed = await _apply(invitation, cleaned, event, at, conn)
        promoted: list[Invitation] = []
        if freed:
            promoted = await _promote(event, at, conn, answering=invitation)
        position = await waitlist_position(invitation, using_db=conn)
        rows = [row for person in promoted if (row := _promotion(person))]
        if invitation.alumnus.email:
            rows.insert(0, _confirmation(invitation, position))
        await enqueue_many(rows, using_db=conn)
        # The person's timeline, and last_engaged_at (engage.alumni.engagement).
        await record_engagement(
            invitation.alumnus.id,
            EngagementKind.ANSWERED,
            at=at,
            ref=("event", event.id),
            detail=str(invitation.status),
            using_db=conn,
        )
    return Answered(invitation, position)


def _closed_message(event: Event) -> str:
    if event.status == EventStatus.CANCELLED:
        return _("This event has been cancelled.")
    return _("Answers to this invitation are closed.")


def _changes(invitation: Invitation, given: RsvpAnswer) -> bool:
    current = str(invitation.status)
    if current == InvitationStatus.WAITLISTED:
        current = "yes"
    return (
        current != given.status
        or invitation.guests != given.guests
        or list(invitation.guest_names or []) != given.guest_names
        or dict(invitation.answers or {}) != given.answers
    )


async def _apply(
    invitation: Invitation,
    given: RsvpAnswer,
    event: Event,
    at: datetime,
    conn: BaseDBAsyncClient,
) -> bool:
    """Write the answer and the seats; True when seats were freed (or a waitlisted
    person now needs fewer), so the waitlist should move."""
    before = invitation.status
    held = 1 + invitation.guests if before == InvitationStatus.YES else 0
    need = 1 + given.guests
    seats = event.seats_taken
    move_line = False
    if given.status != "yes":
        status = InvitationStatus(given.status)
        seats -= held
        invitation.waitlisted_at = None
        move_line = held > 0
    elif before == InvitationStatus.YES:
        if event.capacity is not None and seats - held + need > event.capacity:
            free = event.capacity - seats
            raise InvalidInput(
                _("Not enough free seats."),
                fields={
                    "guests": _(
                        "Only %(free)d more seat(s) are free: you can bring at most "
                        "%(most)d guest(s).",
                        free=free,
                        most=invitation.guests + free,
                    )
                },
            )
        status = InvitationStatus.YES
        seats += need - held
        move_line = need < held
    elif before == InvitationStatus.WAITLISTED:
        status = InvitationStatus.WAITLISTED  # keeps its place in the line
        move_line = need < 1 + invitation.guests
    elif event.capacity is None or seats + need <= event.capacity:
        status = InvitationStatus.YES
        seats += need
    else:
        status = InvitationStatus.WAITLISTED
        invitation.waitlisted_at = at
    invitation.status = status
    invitation.guests = given.guests
    invitation.guest_names = given.guest_names
    invitation.answers = given.answers
    invitation.responded_at = at
    await invitation.save(
        using_db=conn,
        update_fields=[
            "status",
            "guests",
            "guest_names",
            "answers",
            "responded_at",
            "waitlisted_at",
        ],
    )
    if seats != event.seats_taken:
        event.seats_taken = seats
        await Event.filter(id=event.id).using_db(conn).update(seats_taken=seats)
    return move_line or (status == InvitationStatus.WAITLISTED and _has_room(event, need))


def _has_room(event: Event, need: int) -> bool:
    return event.capacity is None or event.capacity - event.seats_taken >= need


# --- The waitlist -----------------------------------------------------------------------


async def promote_waitlist(event: Event, conn: BaseDBAsyncClient) -> list[Invitation]:
    """Give free seats to the waitlist, in order, to each first person who fits.

    Call with the event's row locked in ``conn`` (:func:`lock_event`). Each person
    promoted gets an email (transactional) with their RSVP link. ``event.seats_taken``
    is updated on the object too, so a caller saving it later keeps the count.
    """
    promoted = await _promote(event, utcnow(), conn)
    await enqueue_many([row for person in promoted if (row := _promotion(person))], using_db=conn)
    return promoted


async def _promote(
    event: Event,
    at: datetime,
    conn: BaseDBAsyncClient,
    *,
    answering: Invitation | None = None,
) -> list[Invitation]:
    free = None if event.capacity is None else event.capacity - event.seats_taken
    if free is not None and free <= 0:
        return []
    line = (
        await Invitation.filter(event_id=event.id, status=InvitationStatus.WAITLISTED)
        .select_related("alumnus")
        .order_by("waitlisted_at", "id")
        .using_db(conn)
    )
    promoted: list[Invitation] = []
    taken = 0
    for person in line:
        need = 1 + person.guests
        if free is not None and need > free - taken:
            continue
        taken += need
        person.status = InvitationStatus.YES
        person.promoted_at = at
        await person.save(using_db=conn, update_fields=["status", "promoted_at"])
        if answering is not None and person.id == answering.id:
            # The person answering learns it from their own confirmation.
            answering.status, answering.promoted_at = person.status, at
        else:
            promoted.append(person)
        if free is not None and free - taken <= 0:
            break
    if taken:
        event.seats_taken += taken
        await Event.filter(id=event.id).using_db(conn).update(seats_taken=event.seats_taken)
    return promoted


@on_event_change
async def _capacity_changed(event: Event, change: Change, conn: BaseDBAsyncClient) -> None:
    """The capacity was raised or removed (the event row is locked): seats for the line."""
    if change is not Change.CAPACITY:
        return
    seats = await Event.filter(id=event.id).using_db(conn).values_list("seats_taken", flat=True)
    event.seats_taken = seats[0]
    await promote_waitlist(event, conn)


async def waitlist_position(
    invitation: Invitation, *, using_db: BaseDBAsyncClient | None = None
) -> int | None:
    """1 for the first in line, ... ; None unless the invitation is waitlisted."""
    if invitation.status != InvitationStatus.WAITLISTED or invitation.waitlisted_at is None:
        return None
    ahead = await (
        Invitation.filter(
            Q(waitlisted_at__lt=invitation.waitlisted_at)
            | Q(waitlisted_at=invitation.waitlisted_at, id__lt=invitation.id),
            event_id=invitation.event_id,  # type: ignore[attr-defined]
            status=InvitationStatus.WAITLISTED,
        )
        .using_db(using_db)
        .count()
    )
    return ahead + 1


async def waitlist_positions(event_id: int) -> dict[int, int]:
    """Every waitlisted invitation's position for an event, by invitation id."""
    ids = await (
        Invitation.filter(event_id=event_id, status=InvitationStatus.WAITLISTED)
        .order_by("waitlisted_at", "id")
        .values_list("id", flat=True)
    )
    return {invitation_id: index for index, invitation_id in enumerate(ids, start=1)}


# --- Emails -----------------------------------------------------------------------------


def _name(alumnus: Alumnus) -> str:
    return alumnus.preferred_name or f"{alumnus.given_name} {alumnus.family_name}"


def _stamp(instant: datetime | None) -> int:
    return int((instant or utcnow()).timestamp() * 1_000_000)


def _confirmation(invitation: Invitation, position: int | None) -> dict[str, Any]:
    """The confirmation's outbox row: one per answer given (its time is in the key)."""
    alumnus = invitation.alumnus
    context: dict[str, Any] = {
        "invitation": invitation.id,
        "status": str(invitation.status),
        "guests": invitation.guests,
    }
    if position is not None:
        context["position"] = position
    if invitation.status in (InvitationStatus.YES, InvitationStatus.MAYBE):
        context["attachments"] = [_calendar(invitation.event.id, invitation.id)]
    return outbox_values(
        "rsvp_confirmation",
        to=alumnus.email or "",
        to_name=_name(alumnus),
        category=Category.TRANSACTIONAL,
        dedupe_key=f"rsvp:{invitation.id}:{_stamp(invitation.responded_at)}",
        context=context,
        recipient=("alumnus", alumnus.id),
    )


def _promotion(invitation: Invitation) -> dict[str, Any] | None:
    alumnus = invitation.alumnus
    if not alumnus.email:
        return None
    return outbox_values(
        "waitlist_promoted",
        to=alumnus.email,
        to_name=_name(alumnus),
        category=Category.TRANSACTIONAL,
        dedupe_key=f"promoted:{invitation.id}:{_stamp(invitation.promoted_at)}",
        context={
            "invitation": invitation.id,
            "guests": invitation.guests,
            "attachments": [_calendar(invitation.event_id, invitation.id)],  # type: ignore[attr-defined]
        },
        recipient=("alumnus", alumnus.id),
    )


def _calendar(event_id: int, invitation_id: int) -> dict[str, Any]:
    return {
        "kind": "event_ics",
        "event": event_id,
        "method": "REQUEST",
        "invitation": invitation_id,
    }


# --- Open events and the alumnus's own invitations ----------------------------------------


async def answer_open_event(
    alumnus: Alumnus, event_id: int, given: RsvpAnswer, *, now: datetime | None = None
) -> Invitation:
    """Answer an open event without an invitation: one is made (source "open") the
    first time, unique per (event, alumnus), and answered like any other."""
    event = await Event.filter(events.visible_to_alumnus_q(alumnus), id=event_id).first()
    if event is None:
        raise NotFound(_("Not found."))
    invitation = await Invitation.get_or_none(event_id=event.id, alumnus_id=alumnus.id)
    if invitation is None:
        # INSERT ... ON CONFLICT DO NOTHING: two first answers at once make one row.
        await Invitation.bulk_create(
            [
                Invitation(
                    event_id=event.id,
                    alumnus_id=alumnus.id,
                    source=InvitationSource.OPEN,
                    invited_at=now or utcnow(),
                )
            ],
            ignore_conflicts=True,
        )
        invitation = await Invitation.get(event_id=event.id, alumnus_id=alumnus.id)
    return await answer(invitation.id, given, now=now)


async def invitations_of_alumnus(alumnus: Alumnus) -> list[Invitation]:
    """The alumnus's invitations to published or cancelled events, soonest first,
    revoked ones left out (with ``event`` and ``event.embassy`` loaded)."""
    return (
        await Invitation.filter(alumnus_id=alumnus.id)
        .exclude(status=InvitationStatus.REVOKED)
        .exclude(event__status=EventStatus.DRAFT)
        .select_related("event", "event__embassy")
        .order_by("event__starts_at", "id")
    )
