"""Walk-ins: a known alumnus added at the door, someone already invited, a person not
in the directory (created pending for vetting), undoing a walk-in, and scope."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engage.accounts.actor import load_actor
from engage.accounts.models import AuditEvent, Role
from engage.alumni.identity import list_pending
from engage.alumni.models import Alumnus, Vetting
from engage.clock import utcnow
from engage.errors import Conflict, InvalidInput, NotFound
from engage.events.models import Event
from engage.invitations.checkin import (
    add_walk_in,
    door_list,
    undo_arrival,
    walk_in_candidates,
    walk_in_countries,
)
from engage.invitations.models import Invitation, InvitationSource, InvitationStatus


@pytest.fixture
async def reception(db, make_embassy, make_user, make_event):
    embassy = await make_embassy(code="NBO", country="KE", accredited=["KE", "SO"])
    await make_embassy(code="BOG", country="CO", accredited=["CO"])
    attache = await load_actor(await make_user(role=Role.ATTACHE, embassies=["NBO"]))
    stranger = await load_actor(await make_user(role=Role.ATTACHE, embassies=["BOG"]))
    starts = utcnow().replace(microsecond=0) + timedelta(minutes=30)
    event = await make_event(embassy, starts_at=starts, capacity=10)
    return attache, stranger, event


async def test_a_known_alumnus_walks_in(reception, make_alumnus):
    attache, _stranger, event = reception
    person = await make_alumnus(country="SO", given_name="Hodan", family_name="Abdi")
    at = utcnow().replace(microsecond=0)

    (candidate,) = await walk_in_candidates(attache, event.id, "hodan")
    assert candidate.alumnus.id == person.id and candidate.invitation is None
    result = await add_walk_in(attache, event.id, alumnus_id=str(person.id), now=at, ip="10.1.1.1")

    invitation = result.invitation
    assert not result.created and not result.existing
    assert invitation.source == InvitationSource.WALK_IN
    assert invitation.status == InvitationStatus.YES
    assert invitation.arrived_at == at and invitation.arrived_by.id == attache.id
    assert invitation.invited_by_id == attache.id
    assert (await Event.get(id=event.id)).seats_taken == 1
    entry = await AuditEvent.get(action="invitation.walk_in")
    assert entry.details == {"event": event.id, "alumnus": person.id, "new_person": False}
    assert entry.ip == "10.1.1.1"
    (listed,) = (await door_list(attache, event.id, q="abdi")).entries
    assert listed.walk_in and listed.arrived
    (candidate,) = await walk_in_candidates(attache, event.id, "hodan")
    assert candidate.arrived

    # The same person again (a double tap): nothing new.
    again = await add_walk_in(attache, event.id, alumnus_id=person.id)
    assert again.existing and again.invitation.id == invitation.id
    assert await Invitation.filter(event_id=event.id).count() == 1
    assert (await Event.get(id=event.id)).seats_taken == 1


async def test_someone_already_invited_is_just_marked_arrived(reception, make_alumnus):
    attache, _stranger, event = reception
    person = await make_alumnus(country="KE", given_name="Faith", family_name="Achieng")
    invited = await Invitation.create(
        event=event, alumnus=person, status=InvitationStatus.INVITED, invited_at=utcnow()
    )

    (candidate,) = await walk_in_candidates(attache, event.id, "achieng")
    assert candidate.invitation.id == invited.id and not candidate.arrived
    result = await add_walk_in(attache, event.id, alumnus_id=person.id)

    assert result.existing and result.invitation.id == invited.id
    assert result.invitation.arrived_at is not None
    assert result.invitation.source == InvitationSource.INVITED
    assert result.invitation.status == InvitationStatus.INVITED
    assert (await Event.get(id=event.id)).seats_taken == 0
    assert await AuditEvent.filter(action="invitation.arrived").count() == 1
    # On the door list now, as arrived.
    assert [e.name for e in (await door_list(attache, event.id, q="faith")).entries] == [
        "Faith Achieng"
    ]


async def test_a_revoked_person_cannot_walk_in(reception, make_alumnus):
    attache, _stranger, event = reception
    person = await make_alumnus(country="KE")
    await Invitation.create(
        event=event, alumnus=person, status=InvitationStatus.REVOKED, invited_at=utcnow()
    )
    with pytest.raises(Conflict):
        await add_walk_in(attache, event.id, alumnus_id=person.id)
    assert (await Invitation.get(event_id=event.id)).arrived_at is None


async def test_only_people_of_the_embassys_countries(reception, make_alumnus):
    attache, stranger, event = reception
    colombian = await make_alumnus(country="CO", given_name="Camilo", family_name="Rojas")
    assert await walk_in_candidates(attache, event.id, "rojas") == []
    with pytest.raises(NotFound):
        await add_walk_in(attache, event.id, alumnus_id=colombian.id)
    with pytest.raises(NotFound):
        await add_walk_in(stranger, event.id, alumnus_id=colombian.id)
    with pytest.raises(NotFound):
        await walk_in_candidates(stranger, event.id, "rojas")
    assert [c.code for c in await walk_in_countries(attache, event.id)] == ["KE", "SO"]
    assert not await Invitation.exists(event_id=event.id)


async def test_a_new_person_is_created_pending_and_recorded(reception, settings):
    attache, _stranger, event = reception
    result = await add_walk_in(
        attache,
        event.id,
        person={
            "given_name": "Олена",
            "family_name": "Шевченко",
            "given_name_latin": "Olena",
            "family_name_latin": "Shevchenko",
            "country": "so",
            "email": "olena@example.org",
            "accepts_invitations": "on",
        },
        settings=settings,
        ip="10.2.2.2",
    )

    assert result.created and not result.existing
    person = await Alumnus.get(id=result.invitation.alumnus_id)
    assert person.vetting == Vetting.PENDING and person.user_id is None
    assert (person.country_id, person.email, person.email_key) == (
        "SO",
        "olena@example.org",
        "olena@example.org",
    )
    assert person.accepts_invitations and not person.accepts_newsletter
    assert person.invitations_consent_source == "walk_in"
    assert result.invitation.source == InvitationSource.WALK_IN
    assert result.invitation.arrived_at is not None
    created = await AuditEvent.get(action="alumnus.create")
    assert created.details == {"country": "SO", "walk_in": event.id, "vetting": "pending"}
    # Found by name in either script, on the door list and by the vetting page.
    for q in ("shevch", "Шевченко", "olena"):
        assert [e.name for e in (await door_list(attache, event.id, q=q)).entries] == [
            "Олена Шевченко (Olena Shevchenko)"
        ]
    assert [p.alumnus.id for p in await list_pending(actor=attache)] == [person.id]


async def test_a_new_person_without_consent_or_address(reception, settings):
    attache, _stranger, event = reception
    result = await add_walk_in(
        attache,
        event.id,
        person={"given_name": "Hodan", "family_name": "Abdi", "country": "KE"},
        settings=settings,
    )
    person = await Alumnus.get(id=result.invitation.alumnus_id)
    assert person.email is None and not person.accepts_invitations


async def test_a_new_persons_form_is_checked(reception, settings, make_alumnus):
    attache, _stranger, event = reception
    with pytest.raises(InvalidInput) as bad:
        await add_walk_in(
            attache,
            event.id,
            person={"given_name": "", "family_name": "x" * 101, "country": "CO", "email": "no"},
            settings=settings,
        )
    assert set(bad.value.fields) == {"given_name", "family_name", "country", "email"}
    await make_alumnus(country="KE", email="taken@example.org")
    with pytest.raises(Conflict) as taken:
        await add_walk_in(
            attache,
            event.id,
            person={
                "given_name": "A",
                "family_name": "B",
                "country": "KE",
                "email": "Taken@Example.org",
            },
            settings=settings,
        )
    assert "email" in taken.value.fields
    assert await Alumnus.filter(vetting=Vetting.PENDING).count() == 0
    assert not await Invitation.exists(event_id=event.id)


async def test_undoing_a_walk_in_takes_them_off_the_list(reception, make_alumnus):
    attache, _stranger, event = reception
    person = await make_alumnus(country="KE", given_name="Hodan", family_name="Abdi")
    result = await add_walk_in(attache, event.id, alumnus_id=person.id)

    assert await undo_arrival(attache, result.invitation.id) is None

    assert not await Invitation.exists(id=result.invitation.id)
    assert (await Event.get(id=event.id)).seats_taken == 0
    entry = await AuditEvent.get(action="invitation.arrival_undone")
    assert entry.details["walk_in"] is True and entry.details["alumnus"] == person.id
    assert (await door_list(attache, event.id)).entries == []
