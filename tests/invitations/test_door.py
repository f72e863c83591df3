"""The door list: who is on it, search by name, marking arrivals and undoing them,
when the door is open, scope, and the attendance counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from engage.accounts.actor import Actor, load_actor
from engage.accounts.models import AuditEvent, Role
from engage.clock import utcnow
from engage.errors import Conflict, NotFound, PermissionDenied
from engage.events.models import Event, EventStatus
from engage.invitations.checkin import (
    attendance_counts,
    door_list,
    mark_arrived,
    undo_arrival,
)
from engage.invitations.models import Invitation, InvitationSource, InvitationStatus


@dataclass
class Door:
    attache: Actor
    stranger: Actor
    staff: Actor
    event: Event
    inv: dict[str, Invitation]


async def _invitation(event, person, status, **fields) -> Invitation:
    return await Invitation.create(
        event=event, alumnus=person, status=status, invited_at=utcnow(), **fields
    )


@pytest.fixture
async def door(db, make_embassy, make_user, make_event, make_alumnus) -> Door:
    """A reception in Nairobi starting in an hour: Amani Wanjiru yes with two guests
    (one named), Baraka Otieno yes, Chege Kamau maybe, Dalia Mwangi waitlisted, Eli
    Njoroge no, Faith Achieng not answered, Gideon Kiprop revoked."""
    embassy = await make_embassy(code="NBO", country="KE", accredited=["KE", "SO"])
    await make_embassy(code="BOG", country="CO", accredited=["CO"])
    attache = await load_actor(await make_user(role=Role.ATTACHE, embassies=["NBO"]))
    stranger = await load_actor(await make_user(role=Role.ATTACHE, embassies=["BOG"]))
    staff = await load_actor(await make_user(role=Role.STAFF))
    event = await make_event(
        embassy, starts_at=utcnow().replace(microsecond=0) + timedelta(hours=1), guests_allowed=2
    )
    people = {
        "Amani": ("Wanjiru", InvitationStatus.YES, {"guests": 2, "guest_names": ["Zawadi Ruto"]}),
        "Baraka": ("Otieno", InvitationStatus.YES, {}),
        "Chege": ("Kamau", InvitationStatus.MAYBE, {}),
        "Dalia": ("Mwangi", InvitationStatus.WAITLISTED, {}),
        "Eli": ("Njoroge", InvitationStatus.NO, {}),
        "Faith": ("Achieng", InvitationStatus.INVITED, {}),
        "Gideon": ("Kiprop", InvitationStatus.REVOKED, {}),
    }
    inv = {}
    for given, (family, status, fields) in people.items():
        person = await make_alumnus(country="KE", given_name=given, family_name=family)
        inv[given] = await _invitation(event, person, status, **fields)
    await Event.filter(id=event.id).update(seats_taken=4)
    return Door(attache, stranger, staff, event, inv)


def _names(listing) -> list[str]:
    return [e.name for e in listing.entries]


async def test_the_list_has_who_is_coming_maybe_or_waiting_by_family_name(door):
    listing = await door_list(door.attache, door.event.id)

    assert _names(listing) == ["Chege Kamau", "Dalia Mwangi", "Baraka Otieno", "Amani Wanjiru"]
    assert listing.total == 4 and listing.closed == ""
    amani = listing.entries[-1]
    assert amani.guest_names == ["Zawadi Ruto"] and amani.unnamed_guests == 1
    assert not amani.arrived and not amani.walk_in
    assert [e.status for e in listing.entries] == ["maybe", "waitlisted", "yes", "yes"]
    counts = listing.counts
    assert (counts.expected, counts.expected_guests, counts.arrived, counts.arrived_guests) == (
        2,
        2,
        0,
        0,
    )
    assert (counts.maybe, counts.waitlisted) == (1, 1)


async def test_search_by_name_folds_case_and_accents_and_finds_guests(door):
    async def found(q: str) -> list[str]:
        return _names(await door_list(door.attache, door.event.id, q=q))

    assert await found("wanj") == ["Amani Wanjiru"]
    assert await found("  OTIÉNO  ") == ["Baraka Otieno"]
    assert await found("amani wanjiru") == ["Amani Wanjiru"]
    # A guest's name finds the person who brings them.
    assert await found("zawadi") == ["Amani Wanjiru"]
    # Not on the list (declined, not answered, revoked): not found.
    assert await found("Njoroge") == []
    assert await found("Achieng") == []
    assert await found("Kiprop") == []
    assert await found("nobody") == []
    assert await found("!!! ?") == []  # nothing to search for: nobody, not everyone
    listing = await door_list(door.attache, door.event.id, q="wanj")
    assert listing.total == 1 and listing.counts.expected == 2  # counts are the event's


async def test_pages(door):
    first = await door_list(door.attache, door.event.id, limit=3)
    second = await door_list(door.attache, door.event.id, limit=3, offset=3)
    assert first.total == second.total == 4
    assert _names(first) + _names(second) == _names(await door_list(door.attache, door.event.id))


async def test_marking_an_arrival_records_time_and_who_once(door):
    amani = door.inv["Amani"]
    at = utcnow().replace(microsecond=0)

    marked = await mark_arrived(door.attache, amani.id, now=at, ip="10.0.0.7")

    assert marked.arrived_at == at and marked.arrived_by.id == door.attache.id
    # A second phone marks the same person a minute later: the first mark stays.
    again = await mark_arrived(door.staff, amani.id, now=at + timedelta(minutes=1))
    assert again.arrived_at == at and again.arrived_by.id == door.attache.id
    (entry,) = await AuditEvent.filter(action="invitation.arrived")
    assert (entry.target_id, entry.actor_id) == (str(amani.id), door.attache.id)
    assert entry.ip == "10.0.0.7"
    assert entry.details == {"event": door.event.id}

    listing = await door_list(door.attache, door.event.id)
    assert [e.arrived for e in listing.entries] == [False, False, False, True]
    assert (listing.counts.arrived, listing.counts.arrived_guests) == (1, 2)


async def test_undo_clears_the_arrival(door):
    baraka = door.inv["Baraka"]
    await mark_arrived(door.attache, baraka.id)

    undone = await undo_arrival(door.attache, baraka.id, ip="10.0.0.8")

    assert undone is not None and undone.arrived_at is None and undone.arrived_by is None
    assert undone.status == InvitationStatus.YES
    entry = await AuditEvent.get(action="invitation.arrival_undone")
    assert entry.target_id == str(baraka.id) and entry.ip == "10.0.0.8"
    # Undoing again changes nothing and logs nothing more.
    await undo_arrival(door.attache, baraka.id)
    assert await AuditEvent.filter(action="invitation.arrival_undone").count() == 1


async def test_someone_who_declined_but_came_stays_on_the_list_once_marked(door):
    eli = door.inv["Eli"]
    await mark_arrived(door.attache, eli.id)

    listing = await door_list(door.attache, door.event.id, q="njoroge")

    assert _names(listing) == ["Eli Njoroge"] and listing.entries[0].status == "no"
    assert (await attendance_counts(door.event))["attended"] == 1


async def test_a_revoked_invitation_cannot_be_marked(door):
    with pytest.raises(Conflict):
        await mark_arrived(door.attache, door.inv["Gideon"].id)
    assert (await Invitation.get(id=door.inv["Gideon"].id)).arrived_at is None


async def test_scope_other_embassy_404_alumni_403_staff_allowed(door, make_user):
    amani = door.inv["Amani"]
    with pytest.raises(NotFound):
        await door_list(door.stranger, door.event.id)
    with pytest.raises(NotFound):
        await mark_arrived(door.stranger, amani.id)
    with pytest.raises(NotFound):
        await undo_arrival(door.stranger, amani.id)
    alumnus = await load_actor(await make_user(role=Role.ALUMNUS))
    with pytest.raises(PermissionDenied):
        await door_list(alumnus, door.event.id)
    with pytest.raises(PermissionDenied):
        await mark_arrived(alumnus, amani.id)
    # An invitation named under another event's door list is not found there.
    with pytest.raises(NotFound):
        await mark_arrived(door.attache, amani.id, event_id=door.event.id + 1)
    assert (await Invitation.get(id=amani.id)).arrived_at is None

    assert len((await door_list(door.staff, door.event.id)).entries) == 4
    assert (await mark_arrived(door.staff, amani.id)).arrived_by.id == door.staff.id


async def test_the_door_opens_the_day_before_and_stays_open(door):
    amani = door.inv["Amani"]
    starts = door.event.starts_at
    early = starts - timedelta(hours=25)
    with pytest.raises(Conflict):
        await mark_arrived(door.attache, amani.id, now=early)
    assert (await door_list(door.attache, door.event.id, now=early)).closed
    # A week later, from a paper list: still possible.
    late = starts + timedelta(days=7)
    assert (await mark_arrived(door.attache, amani.id, now=late)).arrived_at == late


@pytest.mark.parametrize("status", [EventStatus.DRAFT, EventStatus.CANCELLED])
async def test_no_arrivals_for_a_draft_or_a_cancelled_event(door, status):
    await Event.filter(id=door.event.id).update(status=status)
    with pytest.raises(Conflict):
        await mark_arrived(door.attache, door.inv["Amani"].id)
    assert (await door_list(door.attache, door.event.id)).closed


async def test_attended_and_no_show_counts(door):
    event = door.event
    await mark_arrived(door.attache, door.inv["Amani"].id)
    await mark_arrived(door.attache, door.inv["Chege"].id)  # said maybe, came

    before = await attendance_counts(event, now=event.starts_at - timedelta(minutes=5))
    after = await attendance_counts(event, now=event.starts_at + timedelta(minutes=5))

    assert before == {"attended": 2, "no_show": 0}
    # Baraka said yes and did not come; Dalia (waiting list) is no no-show.
    assert after == {"attended": 2, "no_show": 1}


async def test_walk_in_entries_are_labelled(door, make_alumnus):
    person = await make_alumnus(country="SO", given_name="Hodan", family_name="Abdi")
    await _invitation(
        door.event,
        person,
        InvitationStatus.YES,
        source=InvitationSource.WALK_IN,
        arrived_at=utcnow(),
    )
    listing = await door_list(door.attache, door.event.id, q="hodan")
    (entry,) = listing.entries
    assert entry.walk_in and entry.arrived
