"""The waitlist: order, positions, and promotion on a decline, on fewer guests and on a
capacity raise (through the events service's hook)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tortoise.transactions import in_transaction

from engage.accounts.models import Role
from engage.clock import utcnow
from engage.events.models import Event
from engage.events.services import update_event
from engage.invitations.links import invitation_for_token, rsvp_token
from engage.invitations.models import Invitation, InvitationStatus
from engage.invitations.rsvp import (
    RsvpAnswer,
    answer,
    lock_event,
    promote_waitlist,
    waitlist_position,
    waitlist_positions,
)
from engage.invitations.services import revoke_invitation
from engage.mail.models import OutboxMessage
from tests.invitations.test_rsvp import embassy, invite  # noqa: F401

T0 = utcnow().replace(microsecond=0)


def at(minutes: int):
    return T0 + timedelta(minutes=minutes)


async def _seats(event: Event) -> int:
    return (await Event.get(id=event.id)).seats_taken


async def _status(invitation: Invitation) -> str:
    return str((await Invitation.get(id=invitation.id)).status)


async def _promotions() -> list[int]:
    rows = await OutboxMessage.filter(template="waitlist_promoted").order_by("id")
    return [r.context["invitation"] for r in rows]


async def _position(invitation: Invitation) -> int | None:
    return await waitlist_position(await Invitation.get(id=invitation.id))


async def _fill(event, invite, count: int, *, start: int = 0, guests: int = 0):  # noqa: F811
    people = []
    for n in range(count):
        person = await invite(event)
        await answer(person.id, RsvpAnswer("yes", guests=guests), now=at(start + n))
        people.append(person)
    return people


async def test_a_full_event_waitlists_in_answer_order(embassy, make_event, invite):  # noqa: F811
    event = await make_event(embassy, capacity=2)
    coming = await _fill(event, invite, 2)
    # Invitation ids in the opposite order to the answers: the time decides.
    late, early = await invite(event), await invite(event)
    await answer(early.id, RsvpAnswer("yes"), now=at(10))
    await answer(late.id, RsvpAnswer("yes"), now=at(11))

    assert [await _status(p) for p in coming] == ["yes", "yes"]
    assert await _status(early) == await _status(late) == "waitlisted"
    assert await _position(early) == 1 and await _position(late) == 2
    assert await waitlist_positions(event.id) == {early.id: 1, late.id: 2}
    assert await _position(coming[0]) is None
    assert await _seats(event) == 2
    rows = await OutboxMessage.filter(template="rsvp_confirmation").order_by("id")
    assert [r.context.get("position") for r in rows] == [None, None, 1, 2]
    assert "attachments" not in rows[-1].context  # not coming yet: no calendar


async def test_a_decline_promotes_the_first_in_line(embassy, make_event, invite):  # noqa: F811
    event = await make_event(embassy, capacity=2)
    coming = await _fill(event, invite, 2)
    first, second = await _fill(event, invite, 2, start=10)

    await answer(coming[0].id, RsvpAnswer("no"), now=at(20))

    promoted = await Invitation.get(id=first.id)
    assert promoted.status == InvitationStatus.YES and promoted.promoted_at == at(20)
    assert await _position(second) == 1
    assert await _seats(event) == 2
    assert await _promotions() == [first.id]
    row = await OutboxMessage.get(template="waitlist_promoted")
    assert row.context["attachments"][0]["invitation"] == first.id


async def test_a_waitlisted_person_leaving_moves_the_line_up(embassy, make_event, invite):  # noqa: F811
    event = await make_event(embassy, capacity=1)
    await _fill(event, invite, 1)
    first, second, third = await _fill(event, invite, 3, start=10)

    await answer(second.id, RsvpAnswer("maybe"), now=at(20))

    assert await _status(second) == "maybe"
    assert (await Invitation.get(id=second.id)).waitlisted_at is None
    assert [await _position(p) for p in (first, third)] == [1, 2]
    assert await _promotions() == []


async def test_the_first_who_fits_is_promoted(embassy, make_event, invite):  # noqa: F811
    event = await make_event(embassy, capacity=5, guests_allowed=3)
    (host,) = await _fill(event, invite, 1, guests=1)
    (big,) = await _fill(event, invite, 1, start=1, guests=2)
    family, single = await invite(event), await invite(event)
    await answer(family.id, RsvpAnswer("yes", guests=3), now=at(10))
    await answer(single.id, RsvpAnswer("yes"), now=at(11))
    assert await _seats(event) == 5
    assert await _position(family) == 1 and await _position(single) == 2

    # Two seats free up: the family of four does not fit, the single person does.
    await answer(host.id, RsvpAnswer("no"), now=at(20))

    assert await _status(family) == "waitlisted" and await _position(family) == 1
    assert await _status(single) == "yes"
    assert await _seats(event) == 3 + 1
    assert await _promotions() == [single.id]

    # Three more seats: now the family fits (keeping its place meant it was first).
    await answer(big.id, RsvpAnswer("no"), now=at(21))
    assert await _status(family) == "yes" and await _seats(event) == 1 + 4
    assert await _promotions() == [single.id, family.id]


async def test_fewer_guests_promote(embassy, make_event, invite):  # noqa: F811
    event = await make_event(embassy, capacity=3, guests_allowed=2)
    (host,) = await _fill(event, invite, 1, guests=2)
    (waiting,) = await _fill(event, invite, 1, start=5)

    await answer(host.id, RsvpAnswer("yes", guests=1), now=at(10))

    assert await _status(host) == "yes" and await _status(waiting) == "yes"
    assert await _seats(event) == 3
    assert await _promotions() == [waiting.id]


async def test_a_waitlisted_yes_again_keeps_its_place(embassy, make_event, invite):  # noqa: F811
    diet = [{"id": "diet", "label": "Dietary needs", "type": "text"}]
    event = await make_event(embassy, capacity=1, guests_allowed=1, questions=diet)
    await _fill(event, invite, 1)
    first, second = await _fill(event, invite, 2, start=10, guests=1)

    await answer(first.id, RsvpAnswer("yes", guests=1), now=at(30))  # the same: nothing
    assert await OutboxMessage.filter(template="rsvp_confirmation").count() == 3
    await answer(first.id, RsvpAnswer("yes", guests=1, answers={"diet": "vegan"}), now=at(31))

    assert await _position(first) == 1 and await _position(second) == 2
    assert (await Invitation.get(id=first.id)).waitlisted_at == at(10)
    assert await OutboxMessage.filter(template="rsvp_confirmation").count() == 4


async def test_a_waitlisted_person_with_fewer_guests_may_fit(embassy, make_event, invite):  # noqa: F811
    event = await make_event(embassy, capacity=2, guests_allowed=1)
    await _fill(event, invite, 1)
    (waiting,) = await _fill(event, invite, 1, start=5, guests=1)

    done = await answer(waiting.id, RsvpAnswer("yes", guests=0), now=at(10))

    assert done.status == InvitationStatus.YES and done.promoted_at == at(10)
    assert await _seats(event) == 2
    # Told by their own confirmation, not by a second email.
    assert await _promotions() == []
    rows = await OutboxMessage.filter(template="rsvp_confirmation").order_by("id")
    assert rows[-1].context["status"] == "yes"


async def test_a_capacity_raise_promotes_through_the_events_service(
    embassy,  # noqa: F811
    make_event,
    invite,  # noqa: F811
    actor_for,
):
    staff = await actor_for(Role.STAFF)
    event = await make_event(embassy, capacity=2)
    await _fill(event, invite, 2)
    first, second, third = await _fill(event, invite, 3, start=10)

    await update_event(staff, event.id, {"capacity": 4})

    assert [await _status(p) for p in (first, second, third)] == ["yes", "yes", "waitlisted"]
    assert await _position(third) == 1
    assert await _seats(event) == 4
    assert (await Event.get(id=event.id)).capacity == 4
    assert await _promotions() == [first.id, second.id]

    await update_event(staff, event.id, {"capacity": None})  # no limit: everyone in

    assert await _status(third) == "yes" and await _seats(event) == 5


async def test_promote_waitlist_under_the_lock(embassy, make_event, invite):  # noqa: F811
    event = await make_event(embassy, capacity=1)
    await _fill(event, invite, 1)
    (waiting,) = await _fill(event, invite, 1, start=5)
    await Event.filter(id=event.id).update(capacity=2)  # behind the service's back

    async with in_transaction() as conn:
        locked = await lock_event(event.id, conn)
        promoted = await promote_waitlist(locked, conn)

    assert [p.id for p in promoted] == [waiting.id]
    assert locked.seats_taken == 2 == await _seats(event)
    assert await _promotions() == [waiting.id]


@pytest.mark.parametrize("freed", ["no", "maybe"])
async def test_the_promoted_person_can_still_decline(embassy, make_event, invite, freed):  # noqa: F811
    event = await make_event(embassy, capacity=1)
    (host,) = await _fill(event, invite, 1)
    first, second = await _fill(event, invite, 2, start=5)
    await answer(host.id, RsvpAnswer(freed), now=at(10))
    assert await _status(first) == "yes"

    await answer(first.id, RsvpAnswer("no"), now=at(11))

    assert await _status(first) == "no" and await _status(second) == "yes"
    assert await _seats(event) == 1


async def test_a_revocation_frees_the_seats_for_the_line(
    settings,
    embassy,  # noqa: F811
    make_event,
    invite,  # noqa: F811
    actor_for,
):
    staff = await actor_for(Role.STAFF)
    event = await make_event(embassy, capacity=2, guests_allowed=1)
    (host,) = await _fill(event, invite, 1, guests=1)
    first, second = await _fill(event, invite, 2, start=5)
    token = rsvp_token(settings, host)

    await revoke_invitation(staff, host.id)

    assert await invitation_for_token(settings, token) is None  # the link is dead at once
    assert [await _status(p) for p in (host, first, second)] == ["revoked", "yes", "yes"]
    assert await _seats(event) == 2
    assert await _promotions() == [first.id, second.id]
