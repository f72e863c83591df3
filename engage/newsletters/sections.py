"""The generated sections of a newsletter: what is new for each recipient.

::

    events, links = await upcoming_events(person, weeks=6, now=now, settings=settings)
    news = await alumni_news(since, now=now)

- **Upcoming events** (``"events"``): published events starting in the next
  ``weeks`` weeks that the person may attend, soonest first (at most
  :data:`MAX_EVENTS`): open events at an embassy accredited to their country, and
  events they hold an invitation to, with their own RSVP link
  (engage.events.services.visible_to_alumnus_q, the rule of the events pages). An
  invitation-only event is never shown to someone not invited to it. The links are
  returned apart (``links``, by key): they are the only personal part, so the mail
  renderer can share the rest between recipients.
- **Alumni news** (``"news"``): career entries (a promotion, a new position)
  recorded since ``since``, of people who allow their news to be shared
  (``Alumnus.shares_news``), are confirmed and live, not flagged "do not engage" and
  not deceased; only entries staff recorded or verified (a claim nobody checked is
  not published); one entry per person, the latest (at most :data:`MAX_NEWS`).

An empty section is left out of the email.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from babel.dates import format_date
from tortoise.expressions import Q

from engage import i18n
from engage.alumni.models import AlumnusStatus, CareerEntry, CareerSource, Vetting
from engage.events.models import Event
from engage.events.services import visible_to_alumnus_q
from engage.events.timefmt import format_local_datetime
from engage.invitations.links import rsvp_url
from engage.invitations.models import Invitation, InvitationStatus
from engage.settings import Settings

#: The sections an issue may include, in the order the email shows them.
SECTIONS = ("events", "news")
MAX_EVENTS = 10
MAX_NEWS = 20
#: How far ahead the events section may look.
MAX_WEEKS = 26


async def upcoming_events(
    person: Any, *, weeks: int, now: datetime, settings: Settings
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The events section for ``person`` (an Alumnus) and their RSVP links by key."""
    until = now + timedelta(weeks=max(1, min(int(weeks), MAX_WEEKS)))
    events = await (
        Event.filter(visible_to_alumnus_q(person), starts_at__gt=now, starts_at__lte=until)
        .select_related("embassy")
        .order_by("starts_at", "id")
        .limit(MAX_EVENTS)
    )
    if not events:
        return [], {}
    invitations = {
        int(inv.event_id): inv  # type: ignore[attr-defined]
        for inv in await Invitation.filter(
            alumnus_id=person.id, event_id__in=[e.id for e in events]
        ).exclude(status=InvitationStatus.REVOKED)
    }
    items: list[dict[str, Any]] = []
    links: dict[str, str] = {}
    for event in events:
        invitation = invitations.get(event.id)
        key = f"e{event.id}" if invitation is not None else ""
        answered = invitation is not None and invitation.status != InvitationStatus.INVITED
        if invitation is not None:
            links[key] = rsvp_url(settings, invitation)
        items.append(
            {
                "title": event.title,
                "when": format_local_datetime(event.starts_at, event.timezone),
                "where": ", ".join(p for p in (event.venue, event.embassy.city) if p),
                "online": bool(event.online_url),
                "embassy": event.embassy.name,
                "invited": invitation is not None,
                "answered": answered,
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
