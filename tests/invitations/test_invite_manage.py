"""What the attaché does with invitations: counts, the list, revoking."""

from __future__ import annotations

import pytest

from engage.accounts.actor import load_actor
from engage.accounts.models import AuditEvent, Role
from engage.errors import InvalidInput, NotFound, PermissionDenied
from engage.events.models import Event
from engage.invitations.links import invitation_for_token, rsvp_token
from engage.invitations.models import Invitation, InvitationStatus
from engage.invitations.rsvp import RsvpAnswer, answer
from engage.invitations.services import (
    count_invitations,
    invitation_counts,
    invite,
    list_invitations,
    revoke_invitation,
)


@pytest.fixture
async def party(db, make_embassy, make_user, make_event, make_alumnus):
    """An event of capacity 3 (one guest each): Amani yes with a guest, Baraka yes,
    Chege waitlisted (with a guest), Dalia no, Eli maybe, Faith not answered."""
    embassy = await make_embassy(code="NBO", country="KE", accredited=["KE"])
    attache = await load_actor(await make_user(role=Role.ATTACHE, embassies=["NBO"]))
    event = await make_event(embassy, capacity=3, guests_allowed=1, guests_named=True)
    names = ("Amani", "Baraka", "Chege", "Dalia", "Eli", "Faith")
    people = {n: await make_alumnus(country="KE", given_name=n) for n in names}
    await invite(attache, event.id, {"alumni_ids": [p.id for p in people.values()]})
    inv = {n: await Invitation.get(event_id=event.id, alumnus_id=p.id) for n, p in people.items()}
    await answer(inv["Amani"].id, RsvpAnswer("yes", guests=1, guest_names=["Wanjiku"]))
    await answer(inv["Baraka"].id, RsvpAnswer("yes"))
    await answer(inv["Chege"].id, RsvpAnswer("yes", guests=1, guest_names=["Otieno"]))
    await answer(inv["Dalia"].id, RsvpAnswer("no"))
    await answer(inv["Eli"].id, RsvpAnswer("maybe"))
    return attache, event, inv


async def test_counts(party):
    attache, event, _inv = party

    counts = await invitation_counts(attache, event.id)

    assert counts == {
        "invited": 6,
        "yes": 2,
        "no": 1,
        "maybe": 1,
        "waitlisted": 1,
        "not_answered": 1,
        "revoked": 0,
        "guests": 1,
        "seats_taken": 3,
        "attended": 0,
        "no_show": 0,
    }


async def test_the_list_has_answers_guests_and_waitlist_positions(party):
    attache, event, inv = party

    found = await list_invitations(attache, event.id)
    waitlisted = await list_invitations(attache, event.id, status="waitlisted")

    assert [i.id for i in found] == sorted(i.id for i in inv.values())
    amani = found[0]
    assert amani.alumnus.given_name == "Amani" and amani.status == InvitationStatus.YES
    assert amani.guests == 1 and amani.guest_names == ["Wanjiku"]
    assert amani.responded_at is not None and amani.waitlist_position is None
    assert [(i.alumnus.given_name, i.waitlist_position) for i in waitlisted] == [("Chege", 1)]
    page = await list_invitations(attache, event.id, limit=2, offset=4)
    assert [i.alumnus.given_name for i in page] == ["Eli", "Faith"]
    assert await count_invitations(attache, event.id) == 6
    assert await count_invitations(attache, event.id, status="yes") == 2
    with pytest.raises(InvalidInput):
        await list_invitations(attache, event.id, status="coming")


async def test_revoking_kills_the_link_frees_the_seats_and_promotes(party, settings):
    attache, event, inv = party
    old_token = rsvp_token(settings, inv["Amani"])

    revoked = await revoke_invitation(attache, inv["Amani"].id, ip="10.1.2.3")

    assert revoked.status == InvitationStatus.REVOKED and revoked.revoked_at is not None
    assert revoked.token_version == inv["Amani"].token_version + 1
    assert await invitation_for_token(settings, old_token) is None
    # Two seats freed: Chege (with a guest) comes off the waitlist.
    chege = await Invitation.get(id=inv["Chege"].id)
    assert chege.status == InvitationStatus.YES and chege.promoted_at is not None
    assert (await Event.get(id=event.id)).seats_taken == 3
    entry = await AuditEvent.get(action="invitation.revoke")
    assert entry.target_id == str(inv["Amani"].id) and entry.ip == "10.1.2.3"
    assert entry.details == {"event": event.id, "status": "yes", "seats": 2}
    counts = await invitation_counts(attache, event.id)
    assert (counts["invited"], counts["revoked"], counts["yes"], counts["waitlisted"]) == (
        5,
        1,
        2,
        0,
    )

    # Revoking again changes nothing; inviting again does not reopen it.
    again = await revoke_invitation(attache, inv["Amani"].id)
    assert again.token_version == revoked.token_version
    job = await invite(attache, event.id, {"alumni_ids": [inv["Amani"].alumnus_id]})
    assert job.invited == 0 and job.skipped == {"already_invited": 1}
    assert (await Invitation.get(id=inv["Amani"].id)).status == InvitationStatus.REVOKED


async def test_revoking_someone_not_coming_frees_nothing(party):
    attache, event, inv = party

    await revoke_invitation(attache, inv["Eli"].id)
    await revoke_invitation(attache, inv["Chege"].id)

    assert (await Event.get(id=event.id)).seats_taken == 3
    assert (await Invitation.get(id=inv["Chege"].id)).status == InvitationStatus.REVOKED


async def test_scope_of_counts_list_and_revoke(party, make_embassy, make_user, actor_for):
    _attache, event, inv = party
    await make_embassy(code="KLA", country="UG", accredited=["UG"])
    other = await load_actor(await make_user(role=Role.ATTACHE, embassies=["KLA"]))
    alumnus = await actor_for(Role.ALUMNUS)
    staff = await actor_for(Role.STAFF)

    for call in (
        invitation_counts(other, event.id),
        list_invitations(other, event.id),
        revoke_invitation(other, inv["Faith"].id),
        revoke_invitation(other, 10**12),
        revoke_invitation(other, "x"),
    ):
        with pytest.raises(NotFound):
            await call
    with pytest.raises(PermissionDenied):
        await revoke_invitation(alumnus, inv["Faith"].id)
    assert (await Invitation.get(id=inv["Faith"].id)).status == InvitationStatus.INVITED
    assert (await invitation_counts(staff, event.id))["invited"] == 6
