"""The engagement timeline on the profile page: newest first, with dates and links to
the events, paged, and scoped like the profile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engage.accounts.models import Role
from engage.alumni.engagement import EngagementRecord, record_engagements
from engage.alumni.models import EngagementKind
from tests.events import conftest as _events

#: The events' factory fixture, used here beside the alumni ones.
make_event = _events.make_event

K = EngagementKind
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def person(db, make_embassy, make_event, make_alumnus):
    embassy = await make_embassy(code="NBO", country="KE", accredited=["KE"])
    await make_embassy(code="BOG", country="CO", accredited=["CO"])
    event = await make_event(embassy, title="Evening reception")
    alumnus = await make_alumnus(country="KE", given_name="Amani", family_name="Wanjiru")
    ref = ("event", event.id)
    await record_engagements(
        [
            EngagementRecord(alumnus.id, K.INVITED, T0, ref),
            EngagementRecord(alumnus.id, K.ANSWERED, T0 + timedelta(days=2), ref, "yes"),
            EngagementRecord(alumnus.id, K.ATTENDED, T0 + timedelta(days=20), ref),
            EngagementRecord(
                alumnus.id, K.PROFILE_UPDATED, T0 + timedelta(days=40), detail="owner: phone"
            ),
        ]
    )
    return alumnus, event


async def test_the_profile_shows_the_timeline_newest_first(client, make_user, sign_in, person):
    alumnus, event = person
    await sign_in(client, await make_user(role=Role.ATTACHE, embassies=["NBO"]))
    page = await client.get(f"/alumni/{alumnus.id}")
    assert page.status_code == 200
    html = page.text
    section = html[html.index('id="engagement"') :]
    assert "Last contacted" in section and "2024-03-21" in section
    lines = section[section.index('<ol class="timeline"') :]
    order = [lines.index(text) for text in ("2024-04-10", "2024-03-21", "2024-03-03", "2024-03-01")]
    assert order == sorted(order)
    assert "Profile updated" in section and "phone (by the person)" in section
    assert f'/events/{event.id}">Evening reception</a> — yes' in section
    assert "Invitation delivered" in section and "Attended" in section
    assert "Older entries" not in section


async def test_another_embassys_attache_sees_no_profile_nor_timeline(
    client, make_user, sign_in, person
):
    alumnus, _event = person
    await sign_in(client, await make_user(role=Role.ATTACHE, embassies=["BOG"]))
    page = await client.get(f"/alumni/{alumnus.id}")
    assert page.status_code == 404
    assert "Evening reception" not in page.text


async def test_a_long_timeline_pages_back(client, make_user, sign_in, person):
    alumnus, _event = person
    await record_engagements(
        [
            EngagementRecord(alumnus.id, K.NEWSLETTER, T0 + timedelta(days=100 + n))
            for n in range(60)
        ]
    )
    await sign_in(client, await make_user(role=Role.STAFF))
    first = await client.get(f"/alumni/{alumnus.id}")
    assert first.text.count("Newsletter delivered") == 50
    assert "Older entries" in first.text and "Evening reception" not in first.text
    before = (T0 + timedelta(days=110)).isoformat()
    older = await client.get(f"/alumni/{alumnus.id}", params={"before": before})
    assert older.text.count("Newsletter delivered") == 10
    assert "Evening reception" in older.text and "Newest entries" in older.text
    ignored = await client.get(f"/alumni/{alumnus.id}", params={"before": "yesterday"})
    assert ignored.status_code == 200 and ignored.text.count("Newsletter delivered") == 50


async def test_nothing_recorded_says_so(client, make_user, sign_in, make_alumnus, db):
    alumnus = await make_alumnus(country="KE")
    await sign_in(client, await make_user(role=Role.STAFF))
    page = await client.get(f"/alumni/{alumnus.id}")
    assert "Nothing recorded yet" in page.text
    assert page.text.count("Never") >= 2
