"""Answering an invitation: yes, no or maybe, guests, questions; capacity and a fair waitlist.

::

    invitation = await answer(invitation.id, RsvpAnswer("yes", guests=1, guest_names=["Ana"]))
    invitation.status                         # "yes", or "waitlisted" when the event is full
    await waitlist_position(invitation)       # 1, 2, ... while waitlisted, else None

The capacity rule lives in the database, not in this process: every answer is one
transaction that first locks the event's row (``SELECT ... FOR UPDATE`` on
PostgreSQL; on SQLite the transaction begins ``IMMEDIATE``, taking the database's one
write lock until commit), then reads ``event.seats_taken``, decides, and writes the
invitation, the new ``seats_taken``, the confirmation email's outbox row and the
person's engagement line. Two answers to the same event, in any processes, run one
after the other; the answer time (``responded_at``, and ``waitlisted_at`` for the
waitlist's order) is taken once the lock is held, so the waitlist's order is the
order in which answers were decided. The transaction is
:mod:`engage.invitations.rsvp_flow`'s, run by :mod:`engage.invitations.sql_flow` (on
SQLite whole in the database's thread); answers given at once (to one event, on
PostgreSQL) share one, each decided in turn under the lock as if alone.

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

from collections import OrderedDict
from datetime import datetime
from functools import partial
from weakref import WeakKeyDictionary

from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.expressions import F, Q

from engage.alumni.models import Alumnus
from engage.clock import utcnow
from engage.errors import NotFound
from engage.events import services as events
from engage.events.hooks import Change, on_event_change
from engage.events.models import Event, EventStatus
from engage.i18n import _
from engage.invitations.models import Invitation, InvitationSource, InvitationStatus
from engage.invitations.rsvp_flow import (
    Accept,
    Answered,
    Given,
    Request,
    answers_flow,
    promotion_flow,
    refuse_revoked,
)
from engage.invitations.rsvp_form import RsvpAnswer
from engage.invitations.sql_flow import Flow, run_batched, run_flow

__all__ = [
    "Answered",
    "RsvpAnswer",
    "answer",
    "answer_open_event",
    "invitations_of_alumnus",
    "lock_event",
    "promote_waitlist",
    "record_answer",
    "waitlist_position",
    "waitlist_positions",
]

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


async def answer(
    invitation_id: int, given: RsvpAnswer, *, now: datetime | None = None
) -> Invitation:
    """Record ``given`` for the invitation; returns it (with ``event`` loaded).

    Raises NotFound (no such invitation, or revoked), Conflict (answers closed),
    InvalidInput (a bad field, or more guests than there are free seats).
    """
    return (await record_answer(invitation_id, given, now=now)).invitation


async def record_answer(
    invitation_id: int,
    given: RsvpAnswer | Given,
    *,
    accept: Accept | None = None,
    now: datetime | None = None,
) -> Answered:
    """:func:`answer` with the waitlist position, for the pages: ``given`` may be a
    function reading the answer for the invitation's event (the form's fields), and
    ``accept`` checks the invitation first, inside the transaction (a link still
    valid; raise NotFound or a subclass). By default a revoked invitation is NotFound.

    Answers given at once share a transaction (see engage.invitations.rsvp_flow).
    """
    request = Request(
        invitation_id,
        given if callable(given) else _fixed(given),
        accept or refuse_revoked,
        now,
    )
    conn = Invitation._choose_db(True)
    if not isinstance(conn, TransactionalDBClient):
        key = await _event_of(invitation_id, conn)
        answered: Answered = await run_batched(request, answers_flow, conn, key=key)
        return answered
    # Inside the caller's transaction: alone, in it.
    flow = partial(answers_flow, [request])
    ((ok, value),) = await run_flow(flow, conn, own_transaction=False)
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


def _fixed(given: RsvpAnswer) -> Given:
    return lambda _event: given


#: By database: invitation id -> its event's id (which never changes).
_EVENTS: WeakKeyDictionary[BaseDBAsyncClient, OrderedDict[int, int]] = WeakKeyDictionary()
_EVENTS_KEPT = 50_000


async def _event_of(invitation_id: int, conn: BaseDBAsyncClient) -> int | None:
    """On PostgreSQL, the invitation's event: answers to one event given at once share
    a transaction (one commit, where each would wait for the last one's while holding
    the event's lock; two events are never locked together, so two processes never
    wait for each other). Elsewhere None (SQLite has one writer: all answers may)."""
    if conn.capabilities.dialect != "postgres":
        return None
    known = _EVENTS.setdefault(conn, OrderedDict())
    event_id = known.get(invitation_id)
    if event_id is None:
        found = await conn.execute_query_dict(
            'SELECT "event_id" FROM "invitations_invitation" WHERE "id" = $1', [invitation_id]
        )
        if not found:
            return None
        event_id = known[invitation_id] = int(found[0]["event_id"])
        if len(known) > _EVENTS_KEPT:
            known.popitem(last=False)
    return event_id


# --- The waitlist -----------------------------------------------------------------------


async def promote_waitlist(event: Event, conn: BaseDBAsyncClient) -> list[Invitation]:
    """Give free seats to the waitlist, in order, to each first person who fits.

    Call with the event's row locked in ``conn`` (:func:`lock_event`). Each person
    promoted gets an email (transactional) with their RSVP link. ``event.seats_taken``
    is updated on the object too, so a caller saving it later keeps the count.
    """
    at = utcnow()

    def flow(dialect: str) -> Flow[list[Invitation]]:
        return promotion_flow(event, at, dialect=dialect)

    return await run_flow(flow, conn, own_transaction=False)


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
