"""Calendar files (iCalendar, RFC 5545/5546) for an event, in the embassy's zone.

The event's UID never changes and its SEQUENCE rises with each change of time or
place, so a calendar updates the entry it already has instead of adding another::

    data = event_ics(event, embassy, method=Method.REQUEST, settings=settings,
                     attendee=("Ilze Kalniņa", "ilze@example.lv"),
                     organizer=("Alumni desk, Riga", "alumni-rix@engage.example"))

Emails attach it through the outbox; the worker builds it at send time::

    {"attachments": [{"kind": "event_ics", "event": 7, "method": "REQUEST",
                      "invitation": 42}]}   # "invitation" (optional) names the ATTENDEE
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, Timezone, vCalAddress
from icalendar import Event as VEvent

from engage.alumni.addresses import deliverable_address
from engage.clock import utcnow
from engage.events.models import Event, EventStatus
from engage.events.sender import sender_for
from engage.events.timefmt import to_local
from engage.i18n import _
from engage.mail.render import Attachment, RenderError, register_attachment
from engage.markdown import markdown_to_text
from engage.places.models import Embassy
from engage.settings import Settings


class Method(StrEnum):
    #: A file to download: "add this to your calendar".
    PUBLISH = "PUBLISH"
    #: An invitation, or its update after a change of time or place.
    REQUEST = "REQUEST"
    #: The event is cancelled: calendars remove it.
    CANCEL = "CANCEL"


_FILENAMES = {
    Method.PUBLISH: "event.ics",
    Method.REQUEST: "invitation.ics",
    Method.CANCEL: "cancellation.ics",
}


def event_ics(
    event: Event,
    embassy: Embassy,
    *,
    method: Method,
    settings: Settings,
    attendee: tuple[str, str] | None = None,
    organizer: tuple[str, str] | None = None,
    url: str | None = None,
) -> bytes:
    """The calendar file of ``event``: a VTIMEZONE for its zone and one VEVENT.

    ``attendee`` and ``organizer`` are (name, email). STATUS is CANCELLED when the
    event is cancelled or ``method`` is CANCEL, else CONFIRMED.
    """
    cal = Calendar()
    cal.add("prodid", f"-//{settings.app.site_name}//Engage events//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method.value)

    starts = to_local(event.starts_at, event.timezone)
    ends = to_local(event.ends_at, event.timezone)
    vevent = VEvent()
    vevent.add("uid", event.uid)
    vevent.add("sequence", event.sequence)
    vevent.add("dtstamp", utcnow().replace(microsecond=0))
    vevent.add("dtstart", starts)
    vevent.add("dtend", ends)
    vevent.add("summary", event.title)
    if description := _description(event, embassy):
        vevent.add("description", description)
    if location := _location(event):
        vevent.add("location", location)
    if url:
        vevent.add("url", url)
    if organizer is not None:
        vevent.add("organizer", _address(*organizer))
    if attendee is not None:
        address = _address(*attendee)
        address.params.update(
            {"CUTYPE": "INDIVIDUAL", "ROLE": "REQ-PARTICIPANT", "PARTSTAT": "NEEDS-ACTION"}
        )
        # Answers go through the RSVP link, not calendar replies to the desk.
        address.params["RSVP"] = "FALSE"
        vevent.add("attendee", address)
    cancelled = method is Method.CANCEL or event.status == EventStatus.CANCELLED
    vevent.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    vevent.add("transp", "TRANSPARENT" if cancelled else "OPAQUE")

    # One year either side is plenty for an event, and keeps the VTIMEZONE short.
    first = date(starts.year, 1, 1)
    last = date(ends.year + 1, 1, 1)
    cal.add_component(_vtimezone(event.timezone, first, last))
    cal.add_component(vevent)
    return cal.to_ical()


def _description(event: Event, embassy: Embassy) -> str:
    parts = [markdown_to_text(event.description)]
    if event.dress_code:
        parts.append(_("Dress code: %(dress)s", dress=event.dress_code))
    if event.online_url and _place(event):
        parts.append(_("Online: %(link)s", link=event.online_url))
    parts.append(_("Hosted by %(embassy)s.", embassy=embassy.name))
    return "\n\n".join(part for part in parts if part)


def _place(event: Event) -> str:
    address = ", ".join(line.strip() for line in event.address.splitlines() if line.strip())
    return ", ".join(part for part in (event.venue.strip(), address) if part)


def _location(event: Event) -> str:
    return _place(event) or event.online_url


def _address(name: str, email: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    if name:
        address.params["CN"] = name
    return address


@lru_cache(maxsize=32)
def _vtimezone_ical(tz: str, first: date, last: date) -> bytes:
    vtimezone = Timezone.from_tzid(tz, first_date=first, last_date=last)
    _onsets_in_offset_from(vtimezone, ZoneInfo(tz))
    return vtimezone.to_ical()


def _vtimezone(tz: str, first: date, last: date) -> Timezone:
    # Built once per zone and year range (it takes milliseconds), a fresh copy each time.
    return Timezone.from_ical(_vtimezone_ical(tz, first, last))


def _onsets_in_offset_from(vtimezone: Timezone, zone: ZoneInfo) -> None:
    """RFC 5545 gives an observance's onset as local time in its TZOFFSETFROM (clocks
    going forward at 03:00 in Riga: DTSTART 03:00). icalendar writes the first wall
    time after a forward change (04:00), an hour late; move such onsets to the real
    transition. Onsets already right, and backward changes, stay as they are."""
    for observance in vtimezone.walk():
        if observance.name not in ("STANDARD", "DAYLIGHT"):
            continue
        before, after = observance.TZOFFSETFROM, observance.TZOFFSETTO
        if before == after:
            continue
        observance.DTSTART = _onset(observance.DTSTART, before, after, zone)
        rdates = [_onset(moment, before, after, zone) for moment, _end in observance.rdates]
        if rdates:
            del observance["RDATE"]
            observance.add("RDATE", rdates)


def _onset(wall: datetime, before: timedelta, after: timedelta, zone: ZoneInfo) -> datetime:
    for offset in (before, after):
        instant = (wall - offset).replace(tzinfo=UTC)
        if (
            instant.astimezone(zone).utcoffset() == after
            and (instant - timedelta(seconds=1)).astimezone(zone).utcoffset() == before
        ):
            return (instant + before).replace(tzinfo=None)
    return wall


@register_attachment("event_ics")
async def _event_ics_attachment(spec: dict[str, Any], settings: Settings) -> Attachment:
    """``{"kind": "event_ics", "event": id, "method": "REQUEST" | "CANCEL" | "PUBLISH",
    "invitation": id}``: the invitee (if named) is the ATTENDEE, the embassy's alumni
    desk the ORGANIZER."""
    # Imported here: invitations import events, and may import this module.
    from engage.invitations.models import Invitation

    try:
        method = Method(str(spec.get("method", Method.REQUEST)))
    except ValueError:
        raise RenderError(f"event_ics: unknown method {spec.get('method')!r}") from None
    event = await Event.get_or_none(id=spec.get("event")).select_related("embassy")
    if event is None:
        raise RenderError(f"event_ics: no event {spec.get('event')!r}")
    attendee = None
    if spec.get("invitation") is not None:
        invitation = await Invitation.get_or_none(
            id=spec["invitation"], event_id=event.id
        ).select_related("alumnus")
        if invitation is None:
            raise RenderError(f"event_ics: no invitation {spec['invitation']!r} to this event")
        person = invitation.alumnus
        # The address the message goes to (a verified secondary once the primary failed).
        if to := deliverable_address(person):
            name = f"{person.preferred_name or person.given_name} {person.family_name}"
            attendee = (name.strip(), to)
    sender = await sender_for(event, settings)
    data = event_ics(
        event,
        event.embassy,
        method=method,
        settings=settings,
        attendee=attendee,
        organizer=(sender["name"], sender["address"]),
        url=f"{settings.app.base_url}/events/{event.id}",
    )
    return Attachment(
        filename=_FILENAMES[method],
        content_type=f"text/calendar; charset=utf-8; method={method.value}",
        data=data,
    )
