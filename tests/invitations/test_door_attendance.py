"""Attendance where the attaché reads it: attended and no-show counts on the event page
(and in the counts service), and the attendance columns of the CSV export."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest

from engage.accounts.actor import load_actor
from engage.accounts.models import Role
from engage.clock import utcnow
from engage.events.timefmt import to_local
from engage.invitations.checkin import add_walk_in, mark_arrived
from engage.invitations.models import Invitation, InvitationStatus
from engage.invitations.services import invitation_counts, invitations_csv


@pytest.fixture
async def evening(db, make_embassy, make_user, make_event, make_alumnus):
    """A reception that started an hour ago: Amani (yes) came, Baraka (yes) did not,
    Chege (maybe) came, Hodan walked in."""
    embassy = await make_embassy(code="NBO", country="KE", accredited=["KE"])
    user = await make_user(role=Role.ATTACHE, embassies=["NBO"], email="ieva@embassy.example")
    attache = await load_actor(user)
    event = await make_event(
        embassy, starts_at=utcnow().replace(microsecond=0) - timedelta(hours=1)
    )
    inv = {}
    for given, status in (("Amani", "yes"), ("Baraka", "yes"), ("Chege", "maybe")):
        person = await make_alumnus(country="KE", given_name=given, family_name="Kenya")
        inv[given] = await Invitation.create(
            event=event, alumnus=person, status=InvitationStatus(status), invited_at=utcnow()
        )
    await mark_arrived(attache, inv["Amani"].id)
    await mark_arrived(attache, inv["Chege"].id)
    hodan = await make_alumnus(country="KE", given_name="Hodan", family_name="Abdi")
    inv["Hodan"] = (await add_walk_in(attache, event.id, alumnus_id=hodan.id)).invitation
    return user, attache, event, inv


async def test_counts_have_attended_and_no_show(evening):
    _user, attache, event, _inv = evening
    counts = await invitation_counts(attache, event.id)
    assert (counts["attended"], counts["no_show"]) == (3, 1)
    assert counts["yes"] == 3  # the walk-in said yes at the door


async def test_the_event_page_shows_them_and_links_the_door_list(client, sign_in, evening):
    user, _attache, event, _inv = evening
    await sign_in(client, user)

    page = await client.get(f"/events/{event.id}")

    assert page.status_code == 200
    assert re.search(r'id="count-attended">3<', page.text)
    assert re.search(r'id="count-no-show">1<', page.text)
    assert f'/events/{event.id}/door"' in page.text


async def test_the_csv_has_the_attendance_columns(evening):
    _user, attache, event, inv = evening
    data = b"".join([chunk async for chunk in await invitations_csv(attache, event.id)])
    rows = {
        row["given_name"]: row
        for row in csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    }

    arrived = await Invitation.get(id=inv["Amani"].id)
    local = to_local(arrived.arrived_at, event.timezone).strftime("%Y-%m-%d %H:%M")
    assert (rows["Amani"]["arrived_at"], rows["Amani"]["arrived_by"]) == (
        local,
        "ieva@embassy.example",
    )
    assert rows["Amani"]["walk_in"] == "no"
    assert (rows["Baraka"]["arrived_at"], rows["Baraka"]["arrived_by"]) == ("", "")
    assert rows["Hodan"]["walk_in"] == "yes" and rows["Hodan"]["arrived_at"]
    assert rows["Chege"]["status"] == "maybe" and rows["Chege"]["arrived_at"]
