"""The demo's events, at its two embassies, made through the events service.

::

    added = await seed_demo_events(settings)    # 5 the first time, 0 after

Nairobi (Africa/Nairobi) has a past reception (attendance still to be taken), an
upcoming reception for 40 with named guests, and a course reunion that was
cancelled; Bogotá (America/Bogota) an upcoming webinar open to its alumni and a
seminar still in draft. Dates are relative to today, times are the embassy's
wall-clock times. Idempotent: an event is known by its embassy and title.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from engage.accounts.actor import load_actor
from engage.accounts.users import find_user
from engage.clock import utcnow
from engage.events.models import Event
from engage.events.services import cancel_event, create_event
from engage.events.timefmt import to_local
from engage.places.models import Embassy
from engage.settings import Settings

#: Who creates each embassy's events (demo accounts of engage.cli.demo).
ATTACHES = {
    "NBO": "attache.nairobi@engage.example",
    "BOG": "attache.bogota@engage.example",
}


@dataclass(frozen=True)
class DemoEvent:
    embassy: str
    kind: str
    title: str
    #: Days from today and the local start time ("18:30").
    days: int
    at: str
    description: str
    status: str = "published"
    fields: dict[str, Any] = field(default_factory=dict)
    #: Cancelled after it was published, with this reason.
    cancelled: str = ""


DEMO_EVENTS = (
    DemoEvent(
        "NBO",
        "reception",
        "Reception for the Staff College graduates of 2025",
        days=-12,
        at="18:30",
        description=(
            "The Defence Attaché welcomes this year's graduates home.\n\n"
            "- A few words from the Ambassador at 19:00\n"
            "- Photographs of the graduation in the garden\n\n"
            "Please bring your invitation and an identity document."
        ),
        fields={
            "venue": "The Ambassador's Residence",
            "address": "Muthaiga Road\nNairobi",
            "capacity": 60,
        },
    ),
    DemoEvent(
        "NBO",
        "reception",
        "Evening reception at the Residence",
        days=21,
        at="18:00",
        description=(
            "An evening with alumni of the programme from **Kenya, Somalia and Uganda**.\n\n"
            "The residence has a security list: name your guest when you answer. "
            "Parking is at the [Muthaiga gate](https://maps.example.org/muthaiga)."
        ),
        fields={
            "venue": "The Ambassador's Residence",
            "address": "Muthaiga Road\nNairobi",
            "capacity": 40,
            "guests_allowed": 1,
            "guests_named": True,
        },
    ),
    DemoEvent(
        "NBO",
        "course_reunion",
        "Reunion of the Command and Staff course, class of 2019",
        days=35,
        at="17:00",
        description="Five years on: an afternoon with your classmates and instructors.",
        fields={"venue": "Embassy conference hall", "address": "United Nations Avenue, Gigiri"},
        cancelled="The hall is closed for renovation; a new date will follow.",
    ),
    DemoEvent(
        "BOG",
        "webinar",
        "Webinar: humanitarian demining, lessons from Colombia",
        days=10,
        at="10:00",
        description=(
            "## Programme\n\n"
            "1. Twenty years of humanitarian demining (45 minutes)\n"
            "2. Questions from alumni (15 minutes)\n\n"
            "Open to every alumnus of Colombia and Ecuador: share the news."
        ),
        fields={"online_url": "https://meet.example.org/engage-demining", "visibility": "open"},
    ),
    DemoEvent(
        "BOG",
        "seminar",
        "Seminar: maritime security in the Eastern Pacific",
        days=45,
        at="09:00",
        description="A day of talks and a panel. *The programme is being finalised.*",
        status="draft",
        fields={"venue": "Embassy conference room", "address": "Carrera 45 No. 24B-27, Bogotá"},
    ),
)


def _local_start(now: datetime, timezone: str, days: int, at: str) -> datetime:
    """Wall-clock time ``at`` in ``timezone``, ``days`` from today there (naive)."""
    hour, minute = (int(part) for part in at.split(":"))
    day = to_local(now, timezone).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, minute)


async def seed_demo_events(settings: Settings, *, now: datetime | None = None) -> int:
    """Create the demo events that do not exist yet; returns how many were added."""
    now = now or utcnow()
    added = 0
    for demo in DEMO_EVENTS:
        embassy = await Embassy.get_or_none(code=demo.embassy)
        user = await find_user(ATTACHES[demo.embassy])
        if embassy is None or user is None:
            continue
        if await Event.exists(embassy_id=embassy.id, title=demo.title):
            continue
        actor = await load_actor(user)
        starts = _local_start(now, embassy.timezone, demo.days, demo.at)
        data = {
            "embassy": embassy.code,
            "kind": demo.kind,
            "title": demo.title,
            "description": demo.description,
            "starts_at": starts,
            "status": demo.status,
            **demo.fields,
        }
        # Published a few weeks before it starts (or before today, for a past one).
        created = now + min(timedelta(days=demo.days - 30), timedelta(days=-1))
        event = await create_event(actor, data, settings=settings, now=created)
        if demo.cancelled:
            await cancel_event(actor, event.id, reason=demo.cancelled, now=now)
        added += 1
    return added
