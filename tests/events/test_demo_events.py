"""The demo's events: made through the events service at both demo embassies, once."""

from __future__ import annotations

from datetime import UTC, datetime

from engage.accounts.models import Role
from engage.cli.demo_events import ATTACHES, DEMO_EVENTS, seed_demo_events
from engage.events.models import Event, EventStatus, Visibility
from engage.events.timefmt import to_local


async def test_demo_events_are_made_once(db, settings, make_embassy, make_user):
    await make_embassy(code="NBO", country="KE", accredited=["KE", "SO", "UG"])
    await make_embassy(code="BOG", country="CO", timezone="America/Bogota", city="Bogotá")
    for code, email in ATTACHES.items():
        await make_user(role=Role.ATTACHE, email=email, embassies=[code])
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    assert await seed_demo_events(settings, now=now) == len(DEMO_EVENTS)
    assert await seed_demo_events(settings, now=now) == 0
    assert await Event.all().count() == len(DEMO_EVENTS)

    events = {e.title: e for e in await Event.all().select_related("embassy")}
    past = events["Reception for the Staff College graduates of 2025"]
    assert past.status == EventStatus.PUBLISHED and past.starts_at < now
    assert past.published_at is not None and past.published_at < past.starts_at

    reception = events["Evening reception at the Residence"]
    assert reception.embassy.code == "NBO" and reception.status == EventStatus.PUBLISHED
    assert reception.capacity == 40 and reception.guests_named and reception.guests_allowed == 1
    local = to_local(reception.starts_at, "Africa/Nairobi")
    assert (local.hour, local.minute) == (18, 0) and reception.starts_at > now
    assert reception.questions  # the kind's questions

    webinar = events["Webinar: humanitarian demining, lessons from Colombia"]
    assert webinar.embassy.code == "BOG" and webinar.visibility == Visibility.OPEN
    assert webinar.online_url.startswith("https://") and webinar.timezone == "America/Bogota"
    assert to_local(webinar.starts_at, "America/Bogota").hour == 10

    statuses = sorted(str(e.status) for e in events.values())
    assert statuses == ["cancelled", "draft", "published", "published", "published"]
    cancelled = next(e for e in events.values() if e.status == EventStatus.CANCELLED)
    assert cancelled.sequence == 1 and cancelled.cancelled_at is not None
    assert all(e.description for e in events.values())


async def test_demo_events_wait_for_their_embassies(db, settings):
    assert await seed_demo_events(settings) == 0
