"""The generated sections of a newsletter: what is new for each recipient.

::

    events, links = await upcoming_events(reader, weeks=6, now=now, settings=settings)
    news = await alumni_news(since, now=now)

- **Upcoming events** (``"events"``): published events starting in the next
  ``weeks`` weeks that the person may attend, soonest first (at most
  :data:`MAX_EVENTS`): open events at an embassy accredited to their country, and
  events they hold an invitation to, with their own RSVP link
  (engage.events.services.visible_to_alumnus_q, the rule of the events pages: its
  open part is the same for everyone of a country, so the email's loader keeps it a
  minute, and only the invitations are read per person). An invitation-only event is
  never shown to someone not invited to it. The links are returned apart
  (``links``, by key): they are the only personal part, so the mail renderer can
  share the rest between recipients.
- **Alumni news** (``"news"``): career entries (a promotion, a new position)
  recorded since ``since``, of people who allow their news to be shared
  (``Alumnus.shares_news``), are confirmed and live, not flagged "do not engage" and
  not deceased; only entries staff recorded or verified (a claim nobody checked is
  not published); one entry per person, the latest (at most :data:`MAX_NEWS`).

An empty section is left out of the email.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from babel.dates import format_date
from tortoise.expressions import Q

from engage import i18n
from engage.alumni.models import Alumnus, AlumnusStatus, CareerEntry, CareerSource, Vetting
from engage.events.models import Event, EventStatus
from engage.events.services import visible_to_alumnus_q
from engage.events.timefmt import format_local_datetime
from engage.invitations.links import rsvp_url
from engage.invitations.models import Invitation, InvitationStatus
from engage.settings import Settings

#: The sections an issue may include, in the order the email shows them.
SECTIONS = ("events", "news")
MAX_EVENTS = 10
#: Published events in a window the section looks at for invitations (far more than
#: any programme holds in a few weeks).
MAX_PUBLISHED = 1000
MAX_NEWS = 20
#: How far ahead the events section may look.
MAX_WEEKS = 26


@dataclass(frozen=True)
class Reader:
    """Whom a digest is for: what the events section needs of a person."""

    id: int
    country_id: str
    #: Confirmed and not erased: sees the open events of their country's embassies.
    confirmed: bool

    @classmethod
    def of(cls, alumnus: Alumnus) -> Reader:
        return cls(
            id=int(alumnus.id),
            country_id=str(alumnus.country_id),  # type: ignore[attr-defined]
            confirmed=alumnus.vetting == Vetting.CONFIRMED and alumnus.erased_at is None,
        )


def window(weeks: int, now: datetime) -> datetime:
    """The end of the events section's window."""
    return now + timedelta(weeks=max(1, min(int(weeks), MAX_WEEKS)))


async def open_events(reader: Reader, *, now: datetime, until: datetime) -> list[Event]:
    """The published open events ``reader`` may attend between ``now`` and ``until``
    without an invitation (the same for everyone of their country: worth keeping)."""
    # Someone with no invitation at all: visible_to_alumnus_q's open part, exactly.
    uninvited = Alumnus(
        id=0,
        country_id=reader.country_id,
        vetting=Vetting.CONFIRMED if reader.confirmed else Vetting.PENDING,
        erased_at=None,
    )
    return await (
        Event.filter(visible_to_alumnus_q(uninvited), starts_at__gt=now, starts_at__lte=until)
        .select_related("embassy")
        .order_by("starts_at", "id")
        .limit(MAX_EVENTS)
    )


async def published_events(*, now: datetime, until: datetime) -> list[Event]:
    """Every published event between ``now`` and ``until`` (embassy loaded): those a
    person may be invited to (the same for everyone: worth keeping)."""
    return await (
        Event.filter(status=EventStatus.PUBLISHED, starts_at__gt=now, starts_at__lte=until)
        .select_related("embassy")
        .order_by("starts_at", "id")
        .limit(MAX_PUBLISHED)
    )


async def upcoming_events(
    reader: Reader | Alumnus,
    *,
    weeks: int,
    now: datetime,
    settings: Settings,
    shared: list[Event] | None = None,
    published: list[Event] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The events section for ``reader`` and their RSVP links by key.

    ``shared`` (:func:`open_events` of their country) and ``published``
    (:func:`published_events`), when the caller keeps them; else they are read.
    """
    if isinstance(reader, Alumnus):
        reader = Reader.of(reader)
    until = window(weeks, now)
    if shared is None:
        shared = await open_events(reader, now=now, until=until)
    if published is None:
        published = await published_events(now=now, until=until)
    in_window = {e.id: e for e in published if now < e.starts_at <= until}
    # The other part of visible_to_alumnus_q: published events they are invited to
    # (one narrow query, none when nothing is coming up).
    invitations = {
        int(row["event_id"]): row
        for row in (
            await Invitation.filter(alumnus_id=reader.id, event_id__in=list(in_window))
            .exclude(status=InvitationStatus.REVOKED)
            .values("id", "event_id", "status", "token_version")
            if in_window
            else []
        )
    }
    events = {e.id: e for e in shared if now < e.starts_at <= until}
    events.update({pk: in_window[pk] for pk in invitations})
    chosen = sorted(events.values(), key=lambda e: (e.starts_at, e.id))[:MAX_EVENTS]
    items: list[dict[str, Any]] = []
    links: dict[str, str] = {}
    for event in chosen:
        invitation = invitations.get(event.id)
        key = f"e{event.id}" if invitation is not None else ""
        if invitation is not None:
            link = Invitation(id=invitation["id"], token_version=invitation["token_version"])
            links[key] = rsvp_url(settings, link)
        items.append(
            {
                "title": event.title,
                "when": format_local_datetime(event.starts_at, event.timezone),
                "where": ", ".join(p for p in (event.venue, event.embassy.city) if p),
                "online": bool(event.online_url),
                "embassy": event.embassy.name,
                "invited": invitation is not None,
                "answered": invitation is not None
                and invitation["status"] != InvitationStatus.INVITED,
                #: The personal RSVP link's key in ``links`` (invited), or "".
                "link": key,
                #: The event's page (open events: signed-in alumni answer there).
                "url": f"{settings.app.base_url}/events/{event.id}",
            }
        )
    return items, links


def news_q(since: datetime, *, now: datetime) -> Q:
    """The career entries the news section may show (a filter on CareerEntry)."""
    return Q(
        Q(source=CareerSource.STAFF_VERIFIED) | Q(verified_at__isnull=False),
        created_at__gte=since,
        created_at__lte=now,
        alumnus__shares_news=True,
        alumnus__vetting=Vetting.CONFIRMED,
        alumnus__merged_into_id=None,
        alumnus__erased_at=None,
        alumnus__do_not_engage=False,
    ) & ~Q(alumnus__status=AlumnusStatus.DECEASED)


async def alumni_news(since: datetime, *, now: datetime) -> list[dict[str, Any]]:
    """The news section: the latest shared career entry of each person since ``since``."""
    entries = await (
        CareerEntry.filter(news_q(since, now=now))
        .select_related("alumnus", "alumnus__country")
        .order_by("-effective_date", "-id")
        .limit(MAX_NEWS * 3)
    )
    seen: set[int] = set()
    items: list[dict[str, Any]] = []
    for entry in entries:
        person = entry.alumnus
        if person.id in seen:
            continue
        seen.add(person.id)
        given = person.preferred_name or person.given_name
        items.append(
            {
                "name": f"{given} {person.family_name}".strip(),
                "country": person.country.name,
                "rank": entry.rank,
                "position": entry.position,
                "since": _day(entry.effective_date),
            }
        )
        if len(items) == MAX_NEWS:
            break
    return items


def _day(value: date) -> str:
    return format_date(value, "d MMMM y", locale=i18n.current_language.get())
