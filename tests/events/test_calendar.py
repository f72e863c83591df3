"""Calendar files parsed back with icalendar: instant and zone, VTIMEZONE with the
daylight-saving changes, UID, SEQUENCE, METHOD and STATUS; and the email attachment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest
from icalendar import Calendar

from engage.clock import utcnow
from engage.events.calendar import Method, event_ics
from engage.events.models import EventStatus
from engage.invitations.models import Invitation
from engage.mail.models import Category, OutboxMessage
from engage.mail.render import Renderer, RenderError

RIGA_SPRING = datetime(2026, 3, 29, 15, 0, tzinfo=UTC)  # 18:00 in Riga, the day clocks change


@pytest.fixture
async def riga(db, make_embassy):
    return await make_embassy(code="RIX", country="LV", timezone="Europe/Riga", city="Riga")


@pytest.fixture
async def bangkok(db, make_embassy):
    return await make_embassy(code="BKK", country="TH", timezone="Asia/Bangkok", city="Bangkok")


def _parse(data: bytes):
    calendar = Calendar.from_ical(data)
    (vevent,) = calendar.walk("VEVENT")
    return calendar, vevent


def _observances(calendar, name: str):
    (vtimezone,) = calendar.walk("VTIMEZONE")
    found = []
    for observance in vtimezone.walk(name):
        onsets = [observance.DTSTART] + [moment for moment, _end in observance.rdates]
        for onset in onsets:
            # RFC 5545: the onset is local time in TZOFFSETFROM.
            utc = (onset - observance.TZOFFSETFROM).replace(tzinfo=UTC)
            found.append((utc, observance.TZOFFSETFROM, observance.TZOFFSETTO))
    return vtimezone, found


async def test_a_riga_event_on_the_day_the_clocks_change(riga, make_event, settings):
    event = await make_event(
        riga,
        title="Spring reception",
        starts_at=RIGA_SPRING,
        ends_at=RIGA_SPRING + timedelta(hours=2),
        venue="The Residence",
        address="Kalpaka bulvāris 1\nRīga LV-1050",
        description="Welcome to **the residence**. [Directions](https://example.org/map)",
        dress_code="Business attire",
    )
    data = event_ics(
        event,
        riga,
        method=Method.REQUEST,
        settings=settings,
        attendee=("Ilze Kalniņa", "ilze@example.lv"),
        organizer=("Alumni desk, Riga", "alumni-rix@engage.test"),
        url="https://engage.test/events/1",
    )
    calendar, vevent = _parse(data)
    assert calendar["VERSION"] == "2.0"
    assert "Engage" in str(calendar["PRODID"])
    assert calendar["METHOD"] == "REQUEST"

    start, end = vevent.DTSTART, vevent.DTEND
    assert start.tzinfo.key == "Europe/Riga"
    assert (start.hour, start.minute) == (18, 0)
    assert start.astimezone(UTC) == RIGA_SPRING
    assert end.astimezone(UTC) == RIGA_SPRING + timedelta(hours=2)
    assert vevent["DTSTART"].params["TZID"] == "Europe/Riga"
    assert b"DTSTART;TZID=Europe/Riga:20260329T180000" in data
    assert vevent["DTSTAMP"].dt.tzinfo is not None

    assert vevent["UID"] == event.uid
    assert vevent["SEQUENCE"] == 0
    assert vevent["STATUS"] == "CONFIRMED"
    assert vevent["SUMMARY"] == "Spring reception"
    assert vevent["LOCATION"] == "The Residence, Kalpaka bulvāris 1, Rīga LV-1050"
    assert vevent["URL"] == "https://engage.test/events/1"
    description = str(vevent["DESCRIPTION"])
    assert "Directions (https://example.org/map)" in description
    assert "<" not in description
    assert "Dress code: Business attire" in description

    organizer = vevent["ORGANIZER"]
    assert organizer == "mailto:alumni-rix@engage.test"
    assert organizer.params["CN"] == "Alumni desk, Riga"
    attendee = vevent["ATTENDEE"]
    assert attendee == "mailto:ilze@example.lv"
    assert attendee.params["CN"] == "Ilze Kalniņa"
    assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"


async def test_the_vtimezone_carries_riga_s_clock_changes(riga, make_event, settings):
    event = await make_event(riga, starts_at=RIGA_SPRING, ends_at=RIGA_SPRING + timedelta(hours=2))
    calendar, _ = _parse(event_ics(event, riga, method=Method.PUBLISH, settings=settings))
    vtimezone, daylight = _observances(calendar, "DAYLIGHT")
    assert vtimezone["TZID"] == "Europe/Riga"
    _, standard = _observances(calendar, "STANDARD")
    # Both EU changes happen at 01:00 UTC: forward on 29 March, back on 25 October.
    plus2, plus3 = timedelta(hours=2), timedelta(hours=3)
    assert (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), plus2, plus3) in daylight
    assert (datetime(2026, 10, 25, 1, 0, tzinfo=UTC), plus3, plus2) in standard
    # In Riga's words: 03:00 becomes 04:00, and 04:00 becomes 03:00.
    spring = next(o for o in vtimezone.walk("DAYLIGHT"))
    assert datetime(2026, 3, 29, 3, 0) in [spring.DTSTART, *(m for m, _e in spring.rdates)]


async def test_a_bangkok_event_has_one_offset_all_year(bangkok, make_event, settings):
    starts = datetime(2026, 3, 29, 11, 0, tzinfo=UTC)  # 18:00 in Bangkok
    event = await make_event(bangkok, starts_at=starts, ends_at=starts + timedelta(hours=3))
    calendar, vevent = _parse(event_ics(event, bangkok, method=Method.PUBLISH, settings=settings))
    assert calendar["METHOD"] == "PUBLISH"
    assert vevent.DTSTART.tzinfo.key == "Asia/Bangkok"
    assert (vevent.DTSTART.hour, vevent.DTSTART.minute) == (18, 0)
    assert vevent.DTSTART.astimezone(UTC) == starts
    vtimezone, daylight = _observances(calendar, "DAYLIGHT")
    assert vtimezone["TZID"] == "Asia/Bangkok"
    assert daylight == []
    _, standard = _observances(calendar, "STANDARD")
    assert {(before, after) for _at, before, after in standard} == {
        (timedelta(hours=7), timedelta(hours=7))
    }
    assert "ORGANIZER" not in vevent
    assert "ATTENDEE" not in vevent


async def test_uid_is_stable_and_sequence_and_method_follow_changes(riga, make_event, settings):
    event = await make_event(riga, starts_at=RIGA_SPRING, ends_at=RIGA_SPRING + timedelta(hours=1))
    _, first = _parse(event_ics(event, riga, method=Method.REQUEST, settings=settings))
    _, again = _parse(event_ics(event, riga, method=Method.REQUEST, settings=settings))
    assert first["UID"] == again["UID"] == event.uid

    event.starts_at += timedelta(days=1)
    event.ends_at += timedelta(days=1)
    event.sequence += 1
    await event.save()
    _, moved = _parse(event_ics(event, riga, method=Method.REQUEST, settings=settings))
    assert moved["UID"] == event.uid
    assert moved["SEQUENCE"] == 1
    assert moved.DTSTART.astimezone(UTC) == RIGA_SPRING + timedelta(days=1)

    event.status = EventStatus.CANCELLED
    event.sequence += 1
    await event.save()
    calendar, cancelled = _parse(event_ics(event, riga, method=Method.CANCEL, settings=settings))
    assert calendar["METHOD"] == "CANCEL"
    assert cancelled["STATUS"] == "CANCELLED"
    assert cancelled["SEQUENCE"] == 2
    assert cancelled["UID"] == event.uid


async def test_an_online_event_is_located_at_its_link(riga, make_event, settings):
    event = await make_event(
        riga, kind="webinar", venue="", address="", online_url="https://meet.example.org/abc"
    )
    _, vevent = _parse(event_ics(event, riga, method=Method.PUBLISH, settings=settings))
    assert vevent["LOCATION"] == "https://meet.example.org/abc"


def _row(context: dict) -> OutboxMessage:
    return OutboxMessage(
        id=1,
        template="test_message",
        category=Category.TRANSACTIONAL,
        to_address="ilze@example.lv",
        to_name="Ilze Kalniņa",
        context=context,
        message_key="ics1",
        auto_submitted=True,
    )


async def _attachment(settings, spec: dict):
    msg = await Renderer(settings).render(_row({"attachments": [spec]}), now=utcnow())
    (part,) = list(msg.iter_attachments())
    # Through the wire format, as a mail client gets it.
    received = message_from_bytes(msg.as_bytes(), policy=policy.SMTP)
    (received_part,) = list(received.iter_attachments())
    return part, received_part


async def test_the_invitation_attachment_names_the_invitee_and_the_desk(
    riga, make_event, make_alumnus, settings
):
    event = await make_event(riga, starts_at=RIGA_SPRING, ends_at=RIGA_SPRING + timedelta(hours=2))
    alumnus = await make_alumnus(
        country="LV", given_name="Ilze", family_name="Kalniņa", email="ilze@example.lv"
    )
    invitation = await Invitation.create(event=event, alumnus=alumnus, invited_at=utcnow())
    spec = {
        "kind": "event_ics",
        "event": event.id,
        "method": "REQUEST",
        "invitation": invitation.id,
    }
    part, received = await _attachment(settings, spec)

    assert part.get_filename() == "invitation.ics"
    for each in (part, received):
        assert each.get_content_type() == "text/calendar"
        assert each.get_param("method") == "REQUEST"
    calendar, vevent = _parse(received.get_payload(decode=True))
    assert calendar["METHOD"] == "REQUEST"
    assert vevent["UID"] == event.uid
    assert vevent.DTSTART.astimezone(UTC) == RIGA_SPRING
    assert vevent["ATTENDEE"] == "mailto:ilze@example.lv"
    assert vevent["ATTENDEE"].params["CN"] == "Ilze Kalniņa"
    assert vevent["ORGANIZER"] == f"mailto:alumni-rix@{settings.mail.domain}"
    assert vevent["ORGANIZER"].params["CN"] == "Embassy RIX alumni desk"
    assert vevent["URL"] == f"{settings.app.base_url}/events/{event.id}"


async def test_the_cancellation_attachment(riga, make_event, settings):
    event = await make_event(riga, status=EventStatus.CANCELLED, sequence=3)
    part, received = await _attachment(
        settings, {"kind": "event_ics", "event": event.id, "method": "CANCEL"}
    )
    assert part.get_filename() == "cancellation.ics"
    assert received.get_param("method") == "CANCEL"
    calendar, vevent = _parse(received.get_payload(decode=True))
    assert calendar["METHOD"] == "CANCEL"
    assert vevent["STATUS"] == "CANCELLED"
    assert vevent["SEQUENCE"] == 3
    assert "ATTENDEE" not in vevent


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "event_ics", "event": 999_999, "method": "REQUEST"},
        {"kind": "event_ics", "event": None, "method": "REQUEST"},
        {"kind": "event_ics", "event": "EVENT", "method": "RSVP"},
        {"kind": "event_ics", "event": "EVENT", "method": "REQUEST", "invitation": 999_999},
    ],
)
async def test_a_bad_attachment_spec_is_a_render_error(riga, make_event, settings, spec):
    event = await make_event(riga)
    spec = {key: event.id if value == "EVENT" else value for key, value in spec.items()}
    with pytest.raises(RenderError, match="event_ics"):
        await Renderer(settings).render(_row({"attachments": [spec]}), now=utcnow())
