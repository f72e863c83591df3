"""The engagement record (engage.alumni.engagement): each kind of event writes its
line and moves the summary columns forward only, wherever it happens (the worker's
deliveries, bounces, answers, arrivals and walk-ins, profile and career updates);
the timeline and its scope."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from engage.accounts.actor import load_actor
from engage.accounts.models import Role
from engage.alumni.career import add_career_entry
from engage.alumni.engagement import (
    EngagementRecord,
    record_engagement,
    record_engagements,
    timeline,
    timeline_lines,
    withdraw_engagement,
)
from engage.alumni.models import Alumnus, Engagement, EngagementKind
from engage.alumni.profiles import update_alumnus
from engage.clock import utcnow
from engage.errors import NotFound
from engage.invitations.checkin import add_walk_in, mark_arrived, undo_arrival
from engage.invitations.models import Invitation
from engage.invitations.rsvp import RsvpAnswer, answer
from engage.invitations.services import invite
from engage.mail import outbox
from engage.mail.bounces import BounceReport, record_bounce
from engage.mail.models import BounceKind, Category, OutboxMessage, Status, Topic
from engage.mail.transport import MemoryTransport
from engage.worker.runner import Worker
from tests.events import conftest as _events
from tests.mail_fixtures import FakeClock

#: The events' factory fixture, used here beside the alumni ones.
make_event = _events.make_event

K = EngagementKind


async def _columns(alumnus_id: int):
    person = await Alumnus.get(id=alumnus_id)
    return person.last_contacted_at, person.last_engaged_at


async def _kinds(alumnus_id: int) -> list[str]:
    rows = await Engagement.filter(alumnus_id=alumnus_id).order_by("at", "id")
    return [str(row.kind) for row in rows]


@pytest.fixture
def t0():
    return utcnow().replace(microsecond=0) - timedelta(days=400)


# --- The rule ---------------------------------------------------------------------------


async def test_each_kind_moves_its_columns_and_never_backwards(db, make_alumnus, t0):
    person = await make_alumnus()
    updated = (await Alumnus.get(id=person.id)).updated_at

    await record_engagement(person.id, K.BOUNCED, at=t0, detail="hard: x")
    assert await _columns(person.id) == (None, None)

    await record_engagement(person.id, K.INVITED, at=t0 + timedelta(days=10), ref=("event", 1))
    assert await _columns(person.id) == (t0 + timedelta(days=10), None)
    await record_engagement(person.id, K.NEWSLETTER, at=t0 + timedelta(days=5))
    assert await _columns(person.id) == (t0 + timedelta(days=10), None)  # older: stays
    await record_engagement(person.id, K.NEWSLETTER, at=t0 + timedelta(days=20))
    assert await _columns(person.id) == (t0 + timedelta(days=20), None)

    for n, kind in enumerate((K.ANSWERED, K.PROFILE_UPDATED, K.CAREER_UPDATED), start=1):
        await record_engagement(person.id, kind, at=t0 + timedelta(days=n))
        assert await _columns(person.id) == (t0 + timedelta(days=20), t0 + timedelta(days=n))
    await record_engagement(person.id, K.ANSWERED, at=t0)  # older than the last: stays
    assert (await _columns(person.id))[1] == t0 + timedelta(days=3)

    # Attendance is both contact and engagement.
    await record_engagement(person.id, K.ATTENDED, at=t0 + timedelta(days=30))
    assert await _columns(person.id) == (t0 + timedelta(days=30), t0 + timedelta(days=30))
    # A line only: the columns stay.
    await record_engagement(person.id, K.PROFILE_UPDATED, at=t0 + timedelta(days=40), summary=False)
    assert await _columns(person.id) == (t0 + timedelta(days=30), t0 + timedelta(days=30))

    assert len(await _kinds(person.id)) == 10
    # The summary columns are not an edit of the profile ("updated" sort).
    assert (await Alumnus.get(id=person.id)).updated_at == updated


async def test_many_lines_at_once_follow_the_same_rule(db, make_alumnus, t0):
    one, two, three = [await make_alumnus() for _ in range(3)]
    await record_engagement(two.id, K.INVITED, at=t0 + timedelta(days=100))
    days = list(range(0, 60, 3))
    random.Random(4).shuffle(days)
    records = [EngagementRecord(one.id, K.NEWSLETTER, t0 + timedelta(days=d)) for d in days]
    records += [
        EngagementRecord(two.id, K.INVITED, t0 + timedelta(days=50), ref=("event", 9)),
        EngagementRecord(two.id, K.ANSWERED, t0 + timedelta(days=51), detail="yes"),
        EngagementRecord(three.id, K.CAREER_UPDATED, t0, detail="staff: Colonel", summary=False),
    ]
    assert await record_engagements(records) == len(records)
    assert await _columns(one.id) == (t0 + timedelta(days=57), None)
    assert await _columns(two.id) == (t0 + timedelta(days=100), t0 + timedelta(days=51))
    assert await _columns(three.id) == (None, None)
    assert await Engagement.filter(alumnus_id=one.id).count() == len(days)
    assert await record_engagements([]) == 0


async def test_withdrawing_a_line_puts_the_column_back_to_the_latest_left(db, make_alumnus, t0):
    person = await make_alumnus()
    await record_engagement(person.id, K.NEWSLETTER, at=t0, ref=("newsletter", 1))
    await record_engagement(person.id, K.ATTENDED, at=t0 + timedelta(days=9), ref=("event", 4))
    assert await _columns(person.id) == (t0 + timedelta(days=9), t0 + timedelta(days=9))

    assert await withdraw_engagement(person.id, K.ATTENDED, ref=("event", 4)) == 1
    assert await _columns(person.id) == (t0, None)
    assert await withdraw_engagement(person.id, K.ATTENDED, ref=("event", 4)) == 0

    # A line older than the column's value leaves the column alone.
    await record_engagement(person.id, K.INVITED, at=t0 + timedelta(days=30), ref=("event", 5))
    assert await withdraw_engagement(person.id, K.NEWSLETTER, ref=("newsletter", 1)) == 1
    assert await _columns(person.id) == (t0 + timedelta(days=30), None)


# --- Deliveries and bounces, through the worker ----------------------------------------


@pytest.fixture
async def nairobi(db, make_embassy, make_user, make_event):
    embassy = await make_embassy(code="NBO", country="KE", accredited=["KE", "SO"])
    attache = await load_actor(await make_user(role=Role.ATTACHE, embassies=["NBO"]))
    event = await make_event(embassy, title="Evening reception", created_by=attache.user)
    return attache, event


async def _worker(settings, at) -> tuple[Worker, MemoryTransport]:
    transport = MemoryTransport()
    clock = FakeClock(at)
    return Worker(settings, transport, owner="w", clock=clock, rng=random.Random(1)), transport


async def _bulk(person, campaign: str, key: str, *, topic=Topic.NEWSLETTER) -> OutboxMessage:
    result = await outbox.enqueue(
        "test_message",
        to=person.email,
        category=Category.BULK,
        dedupe_key=key,
        topic=topic,
        campaign=campaign,
        context={"subject": "News", "body": "Hello"},
        recipient=("alumnus", person.id),
    )
    return result.message


async def test_a_delivered_invitation_is_contact_about_the_event(nairobi, make_alumnus, settings):
    attache, event = nairobi
    person = await make_alumnus(country="SO")
    await invite(attache, event.id, {"alumni_ids": [person.id]})
    sent_at = utcnow().replace(microsecond=0) + timedelta(minutes=5)
    worker, transport = await _worker(settings, sent_at)

    assert await worker.run_until_empty() == 1

    assert len(transport.sent) == 1
    (line,) = await Engagement.filter(alumnus_id=person.id)
    assert (line.kind, line.at, line.ref_type, line.ref_id) == (
        K.INVITED,
        sent_at,
        "event",
        event.id,
    )
    assert await _columns(person.id) == (sent_at, None)


async def test_delivered_newsletters_count_and_other_mail_does_not(db, make_alumnus, settings):
    person = await make_alumnus()
    sent_at = utcnow().replace(microsecond=0) + timedelta(minutes=5)
    await _bulk(person, "newsletter:7", "n7")
    await _bulk(person, "reminder:3", "r3", topic=Topic.INVITATIONS)
    await _bulk(person, "message:2", "m2", topic=Topic.INVITATIONS)
    await outbox.enqueue(
        "test_message",
        to=person.email,
        category=Category.TRANSACTIONAL,
        dedupe_key="t1",
        context={"subject": "Hi", "body": "Hello"},
        recipient=("alumnus", person.id),
    )
    worker, transport = await _worker(settings, sent_at)

    assert await worker.run_until_empty() == 4

    assert len(transport.sent) == 4
    (line,) = await Engagement.filter(alumnus_id=person.id)
    assert (line.kind, line.ref_type, line.ref_id) == (K.NEWSLETTER, "newsletter", 7)
    assert await _columns(person.id) == (sent_at, None)


async def test_a_message_not_delivered_is_not_contact(db, make_alumnus, settings):
    from engage.mail.transport import PermanentFailure

    person = await make_alumnus()
    await _bulk(person, "newsletter:7", "n7")
    worker, transport = await _worker(settings, utcnow() + timedelta(minutes=5))
    transport.fail_with.append(PermanentFailure("550 5.1.1 No such user", code=550))

    await worker.run_until_empty()

    assert (await OutboxMessage.get(dedupe_key="n7")).status == Status.FAILED
    assert await _kinds(person.id) == ["bounced"]  # the refusal counts as a bounce
    assert await _columns(person.id) == (None, None)


async def test_a_bounce_takes_back_the_delivery_and_a_complaint_does_not(
    db, make_alumnus, settings, t0
):
    person = await make_alumnus()
    await record_engagement(person.id, K.NEWSLETTER, at=t0, ref=("newsletter", 1))
    first = await _bulk(person, "newsletter:7", "n7")
    second = await _bulk(person, "newsletter:8", "n8")
    sent_at = utcnow().replace(microsecond=0) + timedelta(minutes=5)
    worker, _transport = await _worker(settings, sent_at)
    await worker.run_until_empty()
    assert await _columns(person.id) == (sent_at, None)

    report = BounceReport(
        kind=BounceKind.COMPLAINT, message_id=second.id, reporter="fbl.example.org"
    )
    await record_bounce(report, now=sent_at + timedelta(hours=1))
    assert await _columns(person.id) == (sent_at, None)

    hard = BounceReport(
        kind=BounceKind.HARD,
        message_id=first.id,
        status="5.1.1",
        diagnostic="550 5.1.1 User unknown",
        reporter="mx.example.org",
    )
    await record_bounce(hard, now=sent_at + timedelta(hours=2))

    lines = await Engagement.filter(alumnus_id=person.id).order_by("at", "id")
    assert [(str(x.kind), x.ref_id) for x in lines] == [
        ("newsletter", 1),
        ("newsletter", 8),
        ("bounced", 8),
        ("bounced", 7),
    ]
    assert lines[-1].detail == "hard: mx.example.org: 550 5.1.1 User unknown"
    # Issue 8 still counts (the complaint says it arrived), issue 7 no longer.
    assert await _columns(person.id) == (sent_at, None)
    await record_bounce(
        BounceReport(kind=BounceKind.HARD, message_id=second.id, reporter="mx.example.org"),
        now=sent_at + timedelta(hours=3),
    )
    assert await _columns(person.id) == (t0, None)


# --- Answers, arrivals, walk-ins ------------------------------------------------------


async def test_an_answer_is_engagement_about_the_event(nairobi, make_alumnus):
    attache, event = nairobi
    person = await make_alumnus(country="SO")
    await invite(attache, event.id, {"alumni_ids": [person.id]})
    invitation = await Invitation.get(event_id=event.id, alumnus_id=person.id)
    at = utcnow().replace(microsecond=0)

    await answer(invitation.id, RsvpAnswer("maybe"), now=at)
    await answer(invitation.id, RsvpAnswer("maybe"), now=at + timedelta(hours=1))  # no change
    await answer(invitation.id, RsvpAnswer("yes"), now=at + timedelta(hours=2))

    lines = await Engagement.filter(alumnus_id=person.id).order_by("at")
    assert [(str(x.kind), x.detail, x.ref_id) for x in lines] == [
        ("answered", "maybe", event.id),
        ("answered", "yes", event.id),
    ]
    assert await _columns(person.id) == (None, at + timedelta(hours=2))


async def test_arrival_walk_in_and_undo(db, make_embassy, make_user, make_event, make_alumnus):
    embassy = await make_embassy(code="NBO", country="KE", accredited=["KE"])
    attache = await load_actor(await make_user(role=Role.ATTACHE, embassies=["NBO"]))
    starts = utcnow().replace(microsecond=0) + timedelta(minutes=30)
    event = await make_event(embassy, starts_at=starts, capacity=10)
    guest, walker = await make_alumnus(), await make_alumnus()
    await invite(attache, event.id, {"alumni_ids": [guest.id]})
    invitation = await Invitation.get(event_id=event.id, alumnus_id=guest.id)
    at = utcnow().replace(microsecond=0)
    await record_engagement(guest.id, K.NEWSLETTER, at=at - timedelta(days=90))

    await mark_arrived(attache, invitation.id, now=at)
    await mark_arrived(attache, invitation.id, now=at + timedelta(minutes=1))  # already
    assert await _kinds(guest.id) == ["newsletter", "attended"]
    assert await _columns(guest.id) == (at, at)

    await undo_arrival(attache, invitation.id, now=at + timedelta(minutes=2))
    assert await _kinds(guest.id) == ["newsletter"]
    assert await _columns(guest.id) == (at - timedelta(days=90), None)

    result = await add_walk_in(attache, event.id, alumnus_id=walker.id, now=at)
    (line,) = await Engagement.filter(alumnus_id=walker.id)
    assert (line.kind, line.detail, line.ref_id) == (K.ATTENDED, "walk_in", event.id)
    assert await _columns(walker.id) == (at, at)
    assert await undo_arrival(attache, result.invitation.id, now=at) is None
    assert await _kinds(walker.id) == []
    assert await _columns(walker.id) == (None, None)

    # Someone invited who comes through the walk-in form is simply arrived.
    await add_walk_in(attache, event.id, alumnus_id=guest.id, now=at + timedelta(minutes=3))
    assert await _kinds(guest.id) == ["newsletter", "attended"]
    assert (await Engagement.get(alumnus_id=guest.id, kind=K.ATTENDED)).detail == ""


# --- Profile and career updates --------------------------------------------------------


async def test_the_persons_own_updates_are_engagement_and_others_a_line_only(
    db, make_alumnus, make_user, actor_for
):
    user = await make_user(role=Role.ALUMNUS)
    person = await make_alumnus(country="KE", user=user)
    owner = await load_actor(user)
    attache = await actor_for(Role.ATTACHE, countries=["KE"])
    staff = await actor_for(Role.STAFF)
    at = utcnow().replace(microsecond=0) - timedelta(days=3)

    await update_alumnus(person.id, {"phone": "+254 700 000 001"}, actor=attache, now=at)
    await update_alumnus(
        person.id, {"staff_notes": "Met at the expo", "status": "retired"}, actor=staff, now=at
    )
    await update_alumnus(person.id, {"staff_notes": "Only notes"}, actor=staff, now=at)
    assert await _columns(person.id) == (None, None)
    mine = at + timedelta(days=1)
    await update_alumnus(
        person.id, {"unit": "2nd Brigade", "phone": "+254 1"}, actor=owner, now=mine
    )
    assert await _columns(person.id) == (None, mine)

    await add_career_entry(
        person.id,
        {"rank": "Colonel", "effective_date": "2024-01-01"},
        actor=staff,
        now=mine + timedelta(hours=1),
    )
    assert await _columns(person.id) == (None, mine)
    await add_career_entry(
        person.id,
        {"rank": "Brigadier", "effective_date": "2025-01-01"},
        actor=owner,
        now=mine + timedelta(hours=2),
    )
    assert await _columns(person.id) == (None, mine + timedelta(hours=2))

    lines = await Engagement.filter(alumnus_id=person.id).order_by("at", "id")
    assert [(str(x.kind), x.detail.split(":")[0]) for x in lines] == [
        ("profile_updated", "attache"),
        ("profile_updated", "staff"),
        ("profile_updated", "owner"),
        ("career_updated", "staff"),
        ("career_updated", "owner"),
    ]
    # Staff notes and the flag are not the person's data: not on their timeline.
    assert lines[1].detail == "staff: status"
    assert lines[2].detail == "owner: phone, unit"
    assert lines[3].detail.startswith("staff: Colonel")


# --- The timeline ----------------------------------------------------------------------


async def test_the_timeline_is_newest_first_in_words_and_scoped_like_the_profile(
    nairobi, make_alumnus, make_user, make_embassy, actor_for, t0
):
    attache, event = nairobi
    user = await make_user(role=Role.ALUMNUS)
    person = await make_alumnus(country="SO", user=user)
    elsewhere = await actor_for(Role.ATTACHE, countries=["CO"])
    staff = await actor_for(Role.STAFF)
    stranger = await load_actor(await make_user(role=Role.ALUMNUS))
    await record_engagements(
        [
            EngagementRecord(person.id, K.INVITED, t0, ref=("event", event.id)),
            EngagementRecord(
                person.id, K.ANSWERED, t0 + timedelta(days=1), ("event", event.id), "yes"
            ),
            EngagementRecord(person.id, K.NEWSLETTER, t0 + timedelta(days=2), ("newsletter", 999)),
            EngagementRecord(
                person.id, K.NEWSLETTER, t0 + timedelta(days=2), detail="Bulletin 2019"
            ),
            EngagementRecord(
                person.id, K.CAREER_UPDATED, t0 + timedelta(days=3), detail="staff: Colonel (OF-5)"
            ),
        ]
    )

    lines = await timeline_lines(attache, person.id)
    assert [(x.label, x.about, x.note, x.event_id) for x in lines] == [
        ("Career updated", "", "Colonel (OF-5) (by staff)", None),
        ("Newsletter delivered", "Bulletin 2019", "", None),
        ("Newsletter delivered", "a newsletter no longer listed", "", None),
        ("Answered", "Evening reception", "yes", event.id),
        ("Invitation delivered", "Evening reception", "", event.id),
    ]
    assert [x.at for x in await timeline(staff, person.id)] == [
        t0 + timedelta(days=n) for n in (3, 2, 2, 1, 0)
    ]
    assert len(await timeline(await load_actor(user), person.id)) == 5  # their own
    older = await timeline(staff, person.id, limit=2, before=t0 + timedelta(days=2))
    assert [x.at for x in older] == [t0 + timedelta(days=1), t0]
    for outsider in (elsewhere, stranger):
        with pytest.raises(NotFound):
            await timeline(outsider, person.id)
    with pytest.raises(NotFound):
        await timeline(staff, "nobody")


# --- The person's data -----------------------------------------------------------------


async def test_the_timeline_is_in_the_export_and_erasure_clears_its_details(
    db, make_alumnus, make_user, actor_for, settings, t0
):
    from engage.alumni.rights import erase_alumnus, export_personal_data

    user = await make_user(role=Role.ALUMNUS)
    person = await make_alumnus(country="KE", user=user)
    await record_engagement(person.id, K.INVITED, at=t0, ref=("event", 7))
    await record_engagement(
        person.id, K.BOUNCED, at=t0 + timedelta(days=1), detail="hard: 550 <amani@example.org>"
    )

    data = await export_personal_data(actor=await load_actor(user))
    assert data["engagement"] == [
        {"kind": "invited", "at": t0, "about": "event:7", "detail": ""},
        {
            "kind": "bounced",
            "at": t0 + timedelta(days=1),
            "about": "",
            "detail": "hard: 550 <amani@example.org>",
        },
    ]

    await erase_alumnus(person.id, actor=await actor_for(Role.STAFF), settings=settings)
    lines = await Engagement.filter(alumnus_id=person.id).order_by("at")
    assert [(str(x.kind), x.at, x.detail) for x in lines] == [
        ("invited", t0, ""),
        ("bounced", t0 + timedelta(days=1), ""),
    ]


async def test_a_merge_moves_the_timeline_and_keeps_the_later_columns(
    db, make_alumnus, actor_for, t0
):
    from engage.alumni.duplicates import merge_alumni

    survivor = await make_alumnus(country="KE", given_name="Amani", family_name="Wanjiru")
    other = await make_alumnus(country="KE", given_name="Amani", family_name="Wanjiru")
    await record_engagement(survivor.id, K.NEWSLETTER, at=t0 + timedelta(days=50))
    await record_engagement(survivor.id, K.ANSWERED, at=t0, ref=("event", 1), detail="no")
    await record_engagement(other.id, K.INVITED, at=t0 + timedelta(days=10), ref=("event", 2))
    await record_engagement(other.id, K.ATTENDED, at=t0 + timedelta(days=30), ref=("event", 2))

    staff = await actor_for(Role.STAFF)
    await merge_alumni(survivor.id, other.id, keep=survivor.id, actor=staff)

    assert await _kinds(survivor.id) == ["answered", "invited", "attended", "newsletter"]
    assert await _columns(survivor.id) == (t0 + timedelta(days=50), t0 + timedelta(days=30))
    assert await _kinds(other.id) == []
