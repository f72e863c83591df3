"""Reminders: sent at the kind's offsets computed in the event's zone (a day before is
the same wall-clock time, across a change of the clocks), to the right people, through
the eligibility rule, once per person however often the scheduler runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engage.events.models import EventStatus
from engage.invitations.models import Invitation, InvitationStatus
from engage.invitations.reminders import due_reminders, reminder_key, reminder_time
from engage.mail.models import Category, OutboxMessage

WEEK = 7 * 24 * 60
DAY = 24 * 60
#: 18:00 Riga time on Thursday 2 April 2026 (summer time, UTC+3). The clocks went
#: forward on Sunday 29 March, so a week before, 18:00 Riga time was UTC+2.
STARTS = datetime(2026, 4, 2, 15, 0, tzinfo=UTC)
WEEK_BEFORE = datetime(2026, 3, 26, 16, 0, tzinfo=UTC)  # 18:00 Riga, UTC+2
DAY_BEFORE = datetime(2026, 4, 1, 15, 0, tzinfo=UTC)  # 18:00 Riga, UTC+3
INVITED_AT = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
RULES = [{"before_minutes": WEEK, "to": "unanswered"}, {"before_minutes": DAY, "to": "coming"}]
STATUSES = ("invited", "yes", "maybe", "no", "waitlisted", "revoked")


def test_whole_days_are_the_same_wall_clock_time_in_the_event_zone():
    # Spring: 7 x 24 h before would be 15:00 UTC = 17:00 Riga time on 26 March.
    assert reminder_time(STARTS, "Europe/Riga", WEEK) == WEEK_BEFORE
    assert reminder_time(STARTS, "Europe/Riga", DAY) == DAY_BEFORE
    # Autumn (clocks back on 25 October): 18:00 on 28 October is UTC+2, on 21 October UTC+3.
    autumn = datetime(2026, 10, 28, 16, 0, tzinfo=UTC)
    assert reminder_time(autumn, "Europe/Riga", WEEK) == datetime(2026, 10, 21, 15, 0, tzinfo=UTC)
    # A zone without clock changes: exactly 7 x 24 h.
    assert reminder_time(STARTS, "Asia/Bangkok", WEEK) == STARTS - timedelta(days=7)


def test_hours_are_absolute_and_a_skipped_wall_clock_time_falls_an_hour_later():
    assert reminder_time(STARTS, "Europe/Riga", 60) == STARTS - timedelta(hours=1)
    assert reminder_time(STARTS, "Europe/Riga", 36 * 60) == STARTS - timedelta(hours=36)
    # 03:30 on Sunday 5 April; a week before, 03:30 did not exist in Riga (03:00 -> 04:00).
    early = datetime(2026, 4, 5, 0, 30, tzinfo=UTC)
    assert reminder_time(early, "Europe/Riga", WEEK) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


@pytest.fixture
async def riga(db, make_embassy, make_event, make_alumnus):
    """The reception with one invitee in each status, plus people the rule leaves out."""
    embassy = await make_embassy(code="RIX", country="LV", timezone="Europe/Riga")
    event = await make_event(embassy, starts_at=STARTS, reminders=RULES)
    people = {}
    for status in STATUSES:
        people[status] = await make_alumnus(country="LV", given_name=status)
    people["invited_no_consent"] = await make_alumnus(country="LV", accepts_invitations=False)
    people["yes_do_not_engage"] = await make_alumnus(country="LV", do_not_engage=True)
    people["maybe_no_email"] = await make_alumnus(country="LV", email="")
    for name, person in people.items():
        await Invitation.create(
            event=event, alumnus=person, status=name.split("_")[0], invited_at=INVITED_AT
        )
    return event, people


async def _reminded() -> dict[str, set[int]]:
    """Alumnus ids reminded, by offset in minutes."""
    found: dict[str, set[int]] = {}
    for row in await OutboxMessage.filter(dedupe_key__startswith="reminder:"):
        found.setdefault(row.dedupe_key.rsplit(":", 1)[1], set()).add(row.recipient_id)
    return found


async def test_a_week_before_at_the_same_riga_time_to_those_who_have_not_answered(riga):
    event, people = riga

    assert await due_reminders(WEEK_BEFORE - timedelta(hours=1)) == 0  # 7 x 24 h before
    assert await due_reminders(WEEK_BEFORE - timedelta(seconds=1)) == 0
    assert await due_reminders(WEEK_BEFORE) == 1

    (row,) = await OutboxMessage.filter(dedupe_key__startswith="reminder:")
    invitation = await Invitation.get(event_id=event.id, alumnus_id=people["invited"].id)
    assert row.dedupe_key == reminder_key(invitation.id, WEEK) == f"reminder:{invitation.id}:{WEEK}"
    assert row.template == "event_reminder"
    assert row.category == Category.BULK
    assert row.recipient_id == people["invited"].id
    assert row.to_address == people["invited"].email
    assert row.context == {"invitation": invitation.id}


async def test_a_day_before_to_those_coming_or_maybe(riga):
    _event, people = riga

    assert await due_reminders(WEEK_BEFORE) == 1
    assert await due_reminders(DAY_BEFORE - timedelta(seconds=1)) == 0
    assert await due_reminders(DAY_BEFORE) == 2

    reminded = await _reminded()
    assert reminded == {
        str(WEEK): {people["invited"].id},
        str(DAY): {people["yes"].id, people["maybe"].id},
    }


async def test_each_reminder_is_written_once_however_often_the_scheduler_runs(riga):
    await due_reminders(DAY_BEFORE)
    first = await OutboxMessage.filter(dedupe_key__startswith="reminder:").count()
    assert first == 3  # a late run catches up with both offsets

    for minutes in (0, 1, 60, 60 * 20):
        assert await due_reminders(DAY_BEFORE + timedelta(minutes=minutes)) == 0
    assert await OutboxMessage.filter(dedupe_key__startswith="reminder:").count() == first


async def test_nothing_once_the_event_has_started_nor_for_drafts_and_cancelled_events(
    riga, make_event
):
    event, _people = riga
    assert await due_reminders(STARTS) == 0
    assert await due_reminders(STARTS + timedelta(days=1)) == 0

    for status in (EventStatus.DRAFT, EventStatus.CANCELLED):
        await event.filter(id=event.id).update(status=status)
        assert await due_reminders(DAY_BEFORE) == 0
    assert not await OutboxMessage.exists(dedupe_key__startswith="reminder:")


async def test_those_who_got_there_after_the_send_time_are_not_reminded(riga, make_alumnus):
    event, people = riga
    late = await make_alumnus(country="LV")
    # Invited after the week-before time: the invitation itself is the news.
    await Invitation.create(event=event, alumnus=late, invited_at=WEEK_BEFORE + timedelta(hours=2))
    # Said yes after the day-before time: the confirmation has just told them everything.
    await Invitation.filter(event_id=event.id, alumnus_id=people["maybe"].id).update(
        status=InvitationStatus.YES, responded_at=DAY_BEFORE + timedelta(minutes=5)
    )
    # Given a seat from the waitlist after it: the promotion email says it all.
    await Invitation.filter(event_id=event.id, alumnus_id=people["waitlisted"].id).update(
        status=InvitationStatus.YES,
        responded_at=INVITED_AT,
        promoted_at=DAY_BEFORE + timedelta(minutes=9),
    )
    # Said yes before it: reminded.
    await Invitation.filter(event_id=event.id, alumnus_id=people["no"].id).update(
        status=InvitationStatus.YES, responded_at=DAY_BEFORE - timedelta(minutes=1)
    )

    await due_reminders(DAY_BEFORE + timedelta(minutes=10))

    assert await _reminded() == {
        str(WEEK): {people["invited"].id},
        str(DAY): {people["yes"].id, people["no"].id},
    }


async def test_no_reminder_to_answer_once_answers_are_closed(riga):
    event, _people = riga
    await event.filter(id=event.id).update(rsvp_deadline=WEEK_BEFORE - timedelta(days=1))

    assert await due_reminders(DAY_BEFORE) == 2  # those coming are still reminded
    assert set(await _reminded()) == {str(DAY)}


async def test_chunks_give_the_same_result(riga, make_alumnus):
    event, _people = riga
    more = [await make_alumnus(country="LV") for _ in range(5)]
    for person in more:
        await Invitation.create(event=event, alumnus=person, invited_at=INVITED_AT)

    assert await due_reminders(WEEK_BEFORE, chunk_size=2) == 6
    assert await due_reminders(WEEK_BEFORE, chunk_size=2) == 0
    assert {p.id for p in more} < (await _reminded())[str(WEEK)]


async def test_an_hours_offset_and_a_kind_template(db, make_embassy, make_event, make_alumnus):
    embassy = await make_embassy(code="BKK", country="TH", timezone="Asia/Bangkok")
    event = await make_event(
        embassy,
        kind="webinar",
        starts_at=STARTS,
        reminders=[{"before_minutes": 60, "to": "coming"}],
    )
    person = await make_alumnus(country="TH")
    await Invitation.create(
        event=event, alumnus=person, status=InvitationStatus.YES, invited_at=INVITED_AT
    )

    assert await due_reminders(STARTS - timedelta(minutes=61)) == 0
    assert await due_reminders(STARTS - timedelta(minutes=60)) == 1
    (row,) = await OutboxMessage.filter(dedupe_key__startswith="reminder:")
    assert row.dedupe_key.endswith(":60") and row.template == "event_reminder"
