"""Who reaches which event: attachés their embassies (403 to create elsewhere, 404 to
read or edit elsewhere), staff all, alumni the published events open to their country
or they are invited to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engage.accounts.actor import load_actor
from engage.accounts.models import Role
from engage.alumni.models import Vetting
from engage.errors import InvalidInput, NotFound, PermissionDenied
from engage.events.models import EventStatus, Visibility
from engage.events.services import (
    alumnus_for_user,
    cancel_event,
    create_event,
    events_for_alumnus,
    get_event,
    list_events,
    publish_event,
    update_event,
)
from engage.invitations.models import Invitation, InvitationStatus

NEW = {"kind": "seminar", "title": "Seminar", "starts_at": "2026-09-10T10:00"}


@pytest.fixture
async def places(db, make_embassy):
    """RIX covers Latvia and Estonia; BKK covers Thailand."""
    rix = await make_embassy(code="RIX", country="LV", accredited=["LV", "EE"],
                             timezone="Europe/Riga")  # fmt: skip
    bkk = await make_embassy(code="BKK", country="TH", timezone="Asia/Bangkok")
    return rix, bkk


@pytest.fixture
async def attache(places, make_user):
    return await load_actor(await make_user(role=Role.ATTACHE, embassies=["RIX"]))


async def alumnus_actor(make_user, make_alumnus, country, **fields):
    user = await make_user(role=Role.ALUMNUS)
    person = await make_alumnus(country=country, user=user, **fields)
    return await load_actor(user), person


async def test_attache_creates_only_at_their_embassies(places, attache, settings):
    event = await create_event(attache, {**NEW, "embassy": "rix"}, settings=settings)
    assert event.embassy.code == "RIX"
    # One embassy: it may be left out.
    assert (await create_event(attache, NEW, settings=settings)).embassy.code == "RIX"
    with pytest.raises(PermissionDenied):
        await create_event(attache, {**NEW, "embassy": "BKK"}, settings=settings)


async def test_an_attache_of_several_embassies_names_one(places, make_user, settings):
    both = await load_actor(await make_user(role=Role.ATTACHE, embassies=["RIX", "BKK"]))
    with pytest.raises(InvalidInput) as caught:
        await create_event(both, NEW, settings=settings)
    assert "embassy" in caught.value.fields


async def test_another_embassys_event_is_not_found(places, attache, make_event, settings):
    _, bkk = places
    theirs = await make_event(bkk, status=EventStatus.DRAFT)
    for attempt in (
        get_event(attache, theirs.id),
        update_event(attache, theirs.id, {"title": "Mine now"}),
        publish_event(attache, theirs.id),
        cancel_event(attache, theirs.id),
    ):
        with pytest.raises(NotFound):
            await attempt
    with pytest.raises(NotFound):
        await get_event(attache, "no-such-id")
    assert [e.id for e in await list_events(attache, when="all")] == []
    with pytest.raises(NotFound):
        await list_events(attache, embassy="BKK")


async def test_staff_reach_every_embassy(places, actor_for, make_event, settings):
    staff = await actor_for(Role.STAFF)
    event = await create_event(staff, {**NEW, "embassy": "BKK"}, settings=settings)
    event = await update_event(staff, event.id, {"title": "Regional seminar"})
    assert (await get_event(staff, event.id)).title == "Regional seminar"


async def test_alumni_never_write(places, make_user, make_alumnus, make_event, settings):
    rix, _ = places
    actor, _person = await alumnus_actor(make_user, make_alumnus, "LV")
    event = await make_event(rix, visibility=Visibility.OPEN)
    with pytest.raises(PermissionDenied):
        await create_event(actor, {**NEW, "embassy": "RIX"}, settings=settings)
    for attempt in (
        update_event(actor, event.id, {"title": "Mine"}),
        publish_event(actor, event.id),
        cancel_event(actor, event.id),
    ):
        with pytest.raises(PermissionDenied):
            await attempt


async def test_what_an_alumnus_sees(places, make_user, make_alumnus, make_event):
    rix, bkk = places
    actor, person = await alumnus_actor(make_user, make_alumnus, "EE")  # RIX covers EE
    open_here = await make_event(rix, visibility=Visibility.OPEN)
    invitation_only = await make_event(rix)
    invited = await make_event(bkk)  # another embassy, but they hold an invitation
    revoked = await make_event(rix)
    open_draft = await make_event(rix, visibility=Visibility.OPEN, status=EventStatus.DRAFT)
    open_cancelled = await make_event(rix, visibility=Visibility.OPEN, status=EventStatus.CANCELLED)
    open_elsewhere = await make_event(bkk, visibility=Visibility.OPEN)
    invited_draft = await make_event(bkk, status=EventStatus.DRAFT)
    now = datetime.now(UTC)
    for event, status in (
        (invited, InvitationStatus.INVITED),
        (revoked, InvitationStatus.REVOKED),
        (invited_draft, InvitationStatus.INVITED),
    ):
        await Invitation.create(event=event, alumnus=person, status=status, invited_at=now)

    visible = {open_here.id, invited.id}
    assert {e.id for e in await list_events(actor, when="all")} == visible
    assert {e.id for e in await events_for_alumnus(person, when="all")} == visible
    for event in (open_here, invited):
        assert (await get_event(actor, event.id)).id == event.id
    for event in (invitation_only, revoked, open_draft, open_cancelled, open_elsewhere,
                  invited_draft):  # fmt: skip
        with pytest.raises(NotFound):
            await get_event(actor, event.id)
    # Another person of the same country sees the open event, not the invitation.
    other, _ = await alumnus_actor(make_user, make_alumnus, "LV")
    assert {e.id for e in await list_events(other, when="all")} == {open_here.id}


async def test_an_unvouched_registration_sees_only_invitations(
    places, make_user, make_alumnus, make_event
):
    rix, _ = places
    actor, person = await alumnus_actor(make_user, make_alumnus, "LV", vetting=Vetting.PENDING)
    await make_event(rix, visibility=Visibility.OPEN)
    invited = await make_event(rix)
    await Invitation.create(event=invited, alumnus=person, invited_at=datetime.now(UTC))
    assert [e.id for e in await list_events(actor, when="all")] == [invited.id]


async def test_an_account_without_a_profile_sees_nothing(places, make_user, make_event):
    rix, _ = places
    user = await make_user(role=Role.ALUMNUS)
    await make_event(rix, visibility=Visibility.OPEN)
    assert await alumnus_for_user(user) is None
    assert await list_events(await load_actor(user), when="all") == []


async def test_upcoming_for_an_alumnus(places, make_user, make_alumnus, make_event):
    rix, _ = places
    actor, person = await alumnus_actor(make_user, make_alumnus, "LV")
    now = datetime.now(UTC)
    past = await make_event(rix, visibility=Visibility.OPEN, starts_at=now - timedelta(days=5))
    soon = await make_event(rix, visibility=Visibility.OPEN, starts_at=now + timedelta(days=5))
    assert [e.id for e in await events_for_alumnus(person)] == [soon.id]
    assert [e.id for e in await events_for_alumnus(person, when="past")] == [past.id]
    assert (await alumnus_for_user(actor.user)).id == person.id
