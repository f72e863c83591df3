"""The events service: local times to UTC (across DST), defaults from the kind,
validation, status, SEQUENCE, change hooks and the capacity rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engage.accounts.models import AuditEvent, Role
from engage.errors import Conflict, InvalidInput
from engage.events import hooks
from engage.events.hooks import Change
from engage.events.kinds import get_kind
from engage.events.models import Event, EventStatus, Visibility
from engage.events.services import (
    can_answer,
    cancel_event,
    create_event,
    kind_defaults,
    list_events,
    publish_event,
    update_event,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
async def riga(db, make_embassy):
    return await make_embassy(code="RIX", country="LV", timezone="Europe/Riga", city="Riga")


@pytest.fixture
async def bangkok(db, make_embassy):
    return await make_embassy(code="BKK", country="TH", timezone="Asia/Bangkok", city="Bangkok")


@pytest.fixture
async def staff(db, actor_for):
    return await actor_for(Role.STAFF)


@pytest.fixture
def heard():
    """Changes announced to listeners: (event id, change, status, sequence)."""
    found: list[tuple[int, Change, str, int]] = []

    async def listener(event, change, conn):
        found.append((event.id, change, str(event.status), event.sequence))

    hooks.on_event_change(listener)
    yield found
    hooks._LISTENERS.remove(listener)


async def new_event(actor, settings, embassy="RIX", **fields):
    data = {"embassy": embassy, "kind": "reception", "title": "Spring reception"}
    data.setdefault("starts_at", "2026-06-12T18:00")
    data.update(fields)
    return await create_event(actor, data, settings=settings)


# --- Local time, stored in UTC ------------------------------------------------------------


@pytest.mark.parametrize(
    ("embassy", "local", "expected"),
    [
        ("RIX", "2026-06-12T18:00", utc(2026, 6, 12, 15, 0)),  # summer, UTC+3
        ("RIX", "2026-01-15T18:00", utc(2026, 1, 15, 16, 0)),  # winter, UTC+2
        ("RIX", "2026-03-28T18:00", utc(2026, 3, 28, 16, 0)),  # the day before spring forward
        ("RIX", "2026-03-29T18:00", utc(2026, 3, 29, 15, 0)),  # the day of spring forward
        ("RIX", "2026-03-29T02:30", utc(2026, 3, 29, 0, 30)),  # before the jump (03:00)
        ("RIX", "2026-10-25T18:00", utc(2026, 10, 25, 16, 0)),  # the day of fall back
        ("RIX", "2026-10-25T03:30", utc(2026, 10, 25, 0, 30)),  # twice: the first one
        ("BKK", "2026-03-29T18:00", utc(2026, 3, 29, 11, 0)),  # no DST, UTC+7
        ("BKK", "2026-10-25T18:00", utc(2026, 10, 25, 11, 0)),
    ],
)
async def test_local_wall_time_is_stored_as_utc(
    riga, bangkok, staff, settings, embassy, local, expected
):
    event = await new_event(staff, settings, embassy=embassy, starts_at=local)
    stored = await Event.get(id=event.id)
    assert stored.starts_at == expected
    assert stored.timezone == ("Europe/Riga" if embassy == "RIX" else "Asia/Bangkok")
    # The reception lasts two hours: the end is two real hours later.
    assert stored.ends_at - stored.starts_at == timedelta(minutes=120)


async def test_end_across_the_spring_forward_night_is_in_real_hours(riga, staff, settings):
    event = await new_event(
        staff, settings, starts_at="2026-03-28T22:00", ends_at="2026-03-29T05:00"
    )
    # 22:00 EET (UTC+2) to 05:00 EEST (UTC+3): six hours, not seven.
    assert (event.starts_at, event.ends_at) == (utc(2026, 3, 28, 20), utc(2026, 3, 29, 2))


async def test_a_time_skipped_by_the_clocks_is_a_field_error(riga, staff, settings):
    with pytest.raises(InvalidInput) as caught:
        await new_event(staff, settings, starts_at="2026-03-29T03:30")
    assert "does not exist" in caught.value.fields["starts_at"]
    with pytest.raises(InvalidInput) as caught:
        await new_event(staff, settings, ends_at="2026-03-29T03:15", starts_at="2026-03-29T01:00")
    assert set(caught.value.fields) == {"ends_at"}
    assert not await Event.exists()


async def test_a_time_with_an_offset_is_converted_as_given(riga, staff, settings):
    event = await new_event(
        staff, settings, starts_at="2026-06-12T18:00+02:00", ends_at=datetime(2026, 6, 12, 20, 30)
    )
    assert event.starts_at == utc(2026, 6, 12, 16)
    assert event.ends_at == utc(2026, 6, 12, 17, 30)  # naive: Riga time (UTC+3)


# --- Defaults from the kind ---------------------------------------------------------------


async def test_create_copies_the_kinds_defaults(riga, staff, settings):
    kind = get_kind("reception")
    event = await new_event(staff, settings)
    assert event.status == EventStatus.DRAFT and event.published_at is None
    assert event.embassy.code == "RIX"
    assert (event.capacity, event.guests_allowed, event.guests_named) == (
        kind.capacity,
        kind.guests_allowed,
        kind.guests_named,
    )
    assert event.visibility == Visibility(kind.visibility)
    assert event.dress_code == kind.dress_code
    assert [q["id"] for q in event.questions] == [q.id for q in kind.questions]
    assert [r["before_minutes"] for r in event.reminders] == [
        r.before_minutes for r in kind.reminders
    ]
    assert event.uid.endswith("@" + settings.mail.domain) and event.sequence == 0
    assert event.created_by_id == staff.id
    audit = await AuditEvent.get(action="event.create")
    assert audit.target_id == str(event.id) and audit.details["embassy"] == "RIX"


async def test_given_values_win_over_the_kind_and_questions_may_be_added(riga, staff, settings):
    questions = [
        *[q.model_dump() for q in get_kind("reception").questions],
        {"id": "shuttle", "label": "Shuttle from the hotel?", "type": "choice",
         "choices": ["Yes", "No"]},
    ]  # fmt: skip
    event = await new_event(
        staff,
        settings,
        capacity=None,
        guests_allowed="0",
        guests_named="off",
        visibility="open",
        questions=questions,
        status="published",
        online_url="https://meet.example.org/x",
    )
    assert event.capacity is None and event.guests_allowed == 0 and not event.guests_named
    assert event.visibility == Visibility.OPEN and event.status == EventStatus.PUBLISHED
    assert event.published_at is not None
    assert event.questions[-1] == {
        "id": "shuttle",
        "label": "Shuttle from the hotel?",
        "type": "choice",
        "required": False,
        "choices": ["Yes", "No"],
    }


async def test_kind_defaults_prefill_a_form_in_local_time(riga):
    now = utc(2026, 3, 20, 9, 0)
    values = await kind_defaults("webinar", riga, now=now)
    kind = get_kind("webinar")
    assert values["kind"] == "webinar" and values["embassy"] == "RIX"
    assert values["timezone"] == "Europe/Riga"
    assert values["starts_at"] == datetime(2026, 4, 3, 18, 0)  # naive, Riga time
    assert values["ends_at"] - values["starts_at"] == timedelta(minutes=kind.duration_minutes)
    assert values["capacity"] == kind.capacity
    assert values["questions"] == [q.model_dump(mode="json") for q in kind.questions]
    with pytest.raises(InvalidInput):
        await kind_defaults("garden_party", riga)


# --- Validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "wrong"),
    [
        ({"title": "  "}, "title"),
        ({"kind": "garden_party"}, "kind"),
        ({"kind": ""}, "kind"),
        ({"starts_at": ""}, "starts_at"),
        ({"starts_at": "next friday"}, "starts_at"),
        ({"ends_at": "2026-06-12T17:00"}, "ends_at"),
        ({"ends_at": "2026-06-12T18:00"}, "ends_at"),
        ({"capacity": -1}, "capacity"),
        ({"capacity": "many"}, "capacity"),
        ({"guests_allowed": 11}, "guests_allowed"),
        ({"guests_allowed": -1}, "guests_allowed"),
        ({"rsvp_deadline": "2026-06-12T18:30"}, "rsvp_deadline"),
        ({"online_url": "http://meet.example.org/x"}, "online_url"),
        ({"online_url": "javascript:alert(1)"}, "online_url"),
        ({"online_url": "https://"}, "online_url"),
        ({"visibility": "public"}, "visibility"),
        ({"status": "cancelled"}, "status"),
        ({"questions": [{"id": "q", "label": "Pick", "type": "choice"}]}, "questions"),
        ({"questions": [{"id": "q", "label": "A", "type": "text"}] * 2}, "questions"),
        ({"questions": "dietary"}, "questions"),
        ({"contact": "nobody@example.org"}, "contact"),
        ({"colour": "red"}, "colour"),
        ({"embassy": "ZZZ"}, "embassy"),
    ],
)
async def test_bad_input_is_refused_naming_the_field(riga, staff, settings, fields, wrong):
    with pytest.raises(InvalidInput) as caught:
        await new_event(staff, settings, **fields)
    assert wrong in caught.value.fields, caught.value.fields
    assert caught.value.fields[wrong]
    assert not await Event.exists()


async def test_every_problem_is_reported_at_once(riga, staff, settings):
    with pytest.raises(InvalidInput) as caught:
        await new_event(staff, settings, title="", capacity=-5, guests_allowed=99)
    assert set(caught.value.fields) == {"title", "capacity", "guests_allowed"}


async def test_deadline_on_the_start_is_accepted(riga, staff, settings):
    event = await new_event(staff, settings, rsvp_deadline="2026-06-10T12:00")
    assert event.rsvp_deadline == utc(2026, 6, 10, 9)


# --- Status -------------------------------------------------------------------------------


async def test_draft_published_cancelled(riga, staff, settings, heard):
    event = await new_event(staff, settings)
    now = utc(2026, 5, 1, 12)
    published = await publish_event(staff, event.id, now=now)
    assert published.status == EventStatus.PUBLISHED and published.published_at == now
    again = await publish_event(staff, event.id)
    assert again.published_at == now  # publishing twice changes nothing
    cancelled = await cancel_event(staff, event.id, reason="Storm warning", now=now)
    assert cancelled.status == EventStatus.CANCELLED and cancelled.cancelled_at == now
    assert cancelled.sequence == 1
    assert heard == [(event.id, Change.CANCELLED, "cancelled", 1)]
    actions = await AuditEvent.filter(target_type="event").values_list("action", flat=True)
    assert sorted(actions) == ["event.cancel", "event.create", "event.publish"]
    cancel = await AuditEvent.get(action="event.cancel")
    assert cancel.details["reason"] == "Storm warning" and cancel.details["was"] == "published"

    with pytest.raises(Conflict):
        await cancel_event(staff, event.id)
    with pytest.raises(Conflict):
        await publish_event(staff, event.id)
    with pytest.raises(Conflict):
        await update_event(staff, event.id, {"title": "Back on"})
    assert (await Event.get(id=event.id)).title == "Spring reception"


async def test_a_draft_may_be_cancelled(riga, staff, settings, heard):
    event = await new_event(staff, settings)
    cancelled = await cancel_event(staff, event.id)
    assert cancelled.status == EventStatus.CANCELLED
    assert heard == [(event.id, Change.CANCELLED, "cancelled", 1)]


async def test_status_changes_only_by_publishing_or_cancelling(riga, staff, settings):
    event = await new_event(staff, settings)
    with pytest.raises(InvalidInput) as caught:
        await update_event(staff, event.id, {"status": "published"})
    assert "status" in caught.value.fields
    with pytest.raises(InvalidInput) as caught:
        await update_event(staff, event.id, {"embassy": "BKK", "kind": "webinar"})
    assert set(caught.value.fields) == {"embassy", "kind"}


def test_answers_are_taken_until_the_deadline_or_the_start():
    start = utc(2026, 6, 12, 15)
    event = Event(status=EventStatus.PUBLISHED, starts_at=start, rsvp_deadline=None)
    assert can_answer(event, now=start - timedelta(seconds=1))
    assert not can_answer(event, now=start)
    event.rsvp_deadline = start - timedelta(days=2)
    assert can_answer(event, now=start - timedelta(days=3))
    assert not can_answer(event, now=start - timedelta(days=1))
    event.status = EventStatus.DRAFT
    assert not can_answer(event, now=start - timedelta(days=3))


# --- SEQUENCE and change hooks ------------------------------------------------------------


async def test_sequence_rises_only_when_time_or_place_changes(riga, staff, settings, heard):
    event = await new_event(staff, settings, status="published")
    steps = [
        ({"title": "Summer reception", "description": "Welcome"}, 0),
        ({"capacity": 60, "dress_code": "Casual"}, 0),
        ({"venue": "The Residence"}, 1),
        ({"address": "Elizabetes iela 1\nRiga"}, 2),
        ({"online_url": "https://meet.example.org/r"}, 3),
        ({"starts_at": "2026-06-12T19:00"}, 4),
        ({"ends_at": "2026-06-12T22:00"}, 5),
        ({"venue": "The Residence", "starts_at": "2026-06-12T19:00"}, 5),  # same values
        ({"venue": "The Garden", "address": "Somewhere else"}, 6),  # two at once: one step
    ]
    for changes, sequence in steps:
        event = await update_event(staff, event.id, changes)
        assert event.sequence == sequence, changes
        assert (await Event.get(id=event.id)).sequence == sequence
    assert [(change, seq) for _, change, _, seq in heard] == [
        (Change.TIME_OR_PLACE, n) for n in range(1, 7)
    ]


async def test_a_new_start_keeps_the_length(riga, staff, settings):
    event = await new_event(staff, settings, ends_at="2026-06-12T21:00")
    moved = await update_event(staff, event.id, {"starts_at": "2026-06-13T10:00"})
    assert moved.starts_at == utc(2026, 6, 13, 7)
    assert moved.ends_at == utc(2026, 6, 13, 10)
    with pytest.raises(InvalidInput) as caught:
        await update_event(staff, event.id, {"ends_at": "2026-06-13T09:00"})
    assert set(caught.value.fields) == {"ends_at"}
    with pytest.raises(InvalidInput) as caught:
        await update_event(staff, event.id, {"rsvp_deadline": "2026-06-14T09:00"})
    assert set(caught.value.fields) == {"rsvp_deadline"}


async def test_a_drafts_changes_are_not_announced(riga, staff, settings, heard):
    event = await new_event(staff, settings)
    event = await update_event(staff, event.id, {"venue": "The Residence"})
    assert event.sequence == 1 and heard == []


async def test_the_announcement_is_part_of_the_change(riga, staff, settings):
    """A listener that fails rolls the change back: both happen in one transaction."""
    event = await new_event(staff, settings, status="published")

    async def failing(event, change, conn):
        await Event.filter(id=event.id).using_db(conn).update(title="seen in the transaction")
        raise RuntimeError("listener failed")

    hooks.on_event_change(failing)
    try:
        with pytest.raises(RuntimeError):
            await update_event(staff, event.id, {"venue": "Elsewhere"})
    finally:
        hooks._LISTENERS.remove(failing)
    stored = await Event.get(id=event.id)
    assert (stored.venue, stored.sequence, stored.title) == ("", 0, "Spring reception")


async def test_capacity_raised_or_removed_is_announced(riga, staff, settings, heard):
    event = await new_event(staff, settings, status="published", capacity=50)
    await update_event(staff, event.id, {"capacity": 40})  # lowered: nobody to promote
    await update_event(staff, event.id, {"capacity": 60})
    await update_event(staff, event.id, {"capacity": None})
    await update_event(staff, event.id, {"capacity": 70})  # from no limit: not more seats
    assert [(change, status) for _, change, status, _ in heard] == [
        (Change.CAPACITY, "published"),
        (Change.CAPACITY, "published"),
    ]
    assert (await Event.get(id=event.id)).capacity == 70


async def test_capacity_never_below_the_seats_taken(riga, staff, settings, heard):
    event = await new_event(staff, settings, status="published", capacity=50)
    await Event.filter(id=event.id).update(seats_taken=30)
    with pytest.raises(InvalidInput) as caught:
        await update_event(staff, event.id, {"capacity": 29, "title": "Smaller"})
    assert "30" in caught.value.fields["capacity"]
    stored = await Event.get(id=event.id)
    assert (stored.capacity, stored.title) == (50, "Spring reception")
    lowered = await update_event(staff, event.id, {"capacity": 30})
    assert lowered.capacity == 30 and lowered.seats_taken == 30
    assert heard == []


async def test_an_edit_never_overwrites_the_seats_taken(riga, staff, settings):
    """The seats are counted under the row lock by RSVPs: an edit saves only its fields."""
    event = await new_event(staff, settings, status="published")
    await Event.filter(id=event.id).update(seats_taken=12)
    await update_event(staff, event.id, {"title": "Renamed", "venue": "Hall"})
    stored = await Event.get(id=event.id)
    assert (stored.seats_taken, stored.title, stored.sequence) == (12, "Renamed", 1)


async def test_update_is_audited_with_field_names(riga, staff, settings):
    event = await new_event(staff, settings)
    await update_event(staff, event.id, {"title": "Renamed", "capacity": 10})
    audit = await AuditEvent.get(action="event.update")
    assert audit.details["changed"] == ["capacity", "title"]


# --- Listing ----------------------------------------------------------------------------


async def test_upcoming_past_and_all(riga, bangkok, staff, settings, make_event):
    now = utc(2026, 6, 1, 12)
    past = await make_event(riga, starts_at=now - timedelta(days=3))
    running = await make_event(riga, starts_at=now - timedelta(hours=1))
    later = await make_event(bangkok, starts_at=now + timedelta(days=9))
    soon = await make_event(riga, starts_at=now + timedelta(days=2))

    async def ids(**options):
        return [e.id for e in await list_events(staff, now=now, **options)]

    assert await ids() == [running.id, soon.id, later.id]
    assert await ids(when="past") == [past.id]
    assert await ids(when="all") == [later.id, soon.id, running.id, past.id]
    assert await ids(when="all", embassy="bkk") == [later.id]
    assert await ids(when="all", limit=2, offset=1) == [soon.id, running.id]
    await cancel_event(staff, soon.id)
    assert await ids(status=EventStatus.PUBLISHED) == [running.id, later.id]


# --- Contact ------------------------------------------------------------------------------


async def test_the_contact_is_an_attache_of_the_embassy_or_staff(
    riga, bangkok, staff, settings, make_user
):
    ilze = await make_user(role=Role.ATTACHE, email="Ilze@rix.example.org", embassies=["RIX"])
    somchai = await make_user(role=Role.ATTACHE, embassies=["BKK"])
    alumnus = await make_user(role=Role.ALUMNUS)
    event = await new_event(staff, settings, contact="ilze@RIX.example.org")
    assert event.contact_id == ilze.id and event.contact.email == "Ilze@rix.example.org"
    for wrong in (somchai.email, alumnus.email, somchai.id, "nobody@example.org"):
        with pytest.raises(InvalidInput) as caught:
            await update_event(staff, event.id, {"contact": wrong})
        assert set(caught.value.fields) == {"contact"}
    event = await update_event(staff, event.id, {"contact": staff.id})
    assert event.contact_id == staff.id
    event = await update_event(staff, event.id, {"contact": ""})
    assert event.contact_id is None and event.sequence == 0
