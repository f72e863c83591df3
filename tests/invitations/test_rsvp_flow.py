"""The answer's transaction (engage.invitations.rsvp_flow run by sql_flow): answers
given at once in one process (on SQLite they go to the database's thread together),
an answer given twice at once, times in another zone, and the PostgreSQL statement
forms."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest

from engage.alumni.models import Engagement
from engage.clock import utcnow
from engage.errors import InvalidInput
from engage.events.models import Event
from engage.invitations.models import Invitation, InvitationStatus
from engage.invitations.rsvp import (
    Answered,
    RsvpAnswer,
    _event_of,
    answer,
    record_answer,
    waitlist_position,
    waitlist_positions,
)
from engage.invitations.sql_flow import Sql, _merge, _numbered
from engage.mail.models import OutboxMessage
from tests.invitations.test_rsvp import embassy, invite  # noqa: F401


async def _seats(event: Event) -> int:
    return (await Event.get(id=event.id)).seats_taken


async def test_answers_given_at_once_take_the_seats_then_wait_in_answer_order(
    embassy,  # noqa: F811
    make_event,
    invite,  # noqa: F811
):
    event = await make_event(embassy, capacity=5)
    people = [await invite(event) for _ in range(20)]

    done = await asyncio.gather(*(answer(p.id, RsvpAnswer("yes")) for p in people))

    assert sum(d.status == InvitationStatus.YES for d in done) == 5
    assert await _seats(event) == 5
    rows = await Invitation.filter(event_id=event.id).order_by("responded_at", "id")
    assert [r.status for r in rows] == [InvitationStatus.YES] * 5 + [
        InvitationStatus.WAITLISTED
    ] * 15
    times = [r.responded_at for r in rows]
    assert len(set(times)) == 20  # decided one at a time
    positions = await waitlist_positions(event.id)
    waiting = [r.id for r in rows if r.status == InvitationStatus.WAITLISTED]
    assert [positions[i] for i in waiting] == list(range(1, 16))
    confirmations = await OutboxMessage.filter(template="rsvp_confirmation")
    assert len(confirmations) == 20
    shown = sorted(c.context["position"] for c in confirmations if "position" in c.context)
    assert shown == list(range(1, 16))
    assert await Engagement.filter(kind="answered", ref_id=event.id).count() == 20


async def test_a_bad_answer_among_others_fails_alone(embassy, make_event, invite):  # noqa: F811
    event = await make_event(embassy, capacity=10, guests_allowed=1)
    people = [await invite(event) for _ in range(6)]
    answers = [RsvpAnswer("yes")] * 6
    answers[2] = RsvpAnswer("yes", guests=3)  # more than the event allows

    done = await asyncio.gather(
        *(answer(p.id, a) for p, a in zip(people, answers, strict=True)),
        return_exceptions=True,
    )

    assert isinstance(done[2], InvalidInput)
    assert all(isinstance(d, Invitation) for i, d in enumerate(done) if i != 2)
    assert await _seats(event) == 5
    assert str((await Invitation.get(id=people[2].id)).status) == "invited"


async def test_the_same_answer_sent_twice_at_once_counts_once(
    embassy,  # noqa: F811
    make_event,
    invite,  # noqa: F811
):
    event = await make_event(embassy, capacity=3, guests_allowed=1)
    invitation = await invite(event)

    await asyncio.gather(*(answer(invitation.id, RsvpAnswer("yes", guests=1)) for _ in range(4)))

    assert await _seats(event) == 2
    assert await OutboxMessage.filter(template="rsvp_confirmation").count() == 1


async def test_answer_times_in_another_zone_keep_the_waitlist_order(
    embassy,  # noqa: F811
    make_event,
    invite,  # noqa: F811
):
    event = await make_event(embassy, capacity=1)
    first, second, third = [await invite(event) for _ in range(3)]
    riga, utc = ZoneInfo("Europe/Riga"), utcnow().replace(microsecond=0)
    await answer(first.id, RsvpAnswer("yes"), now=utc)
    # Ten o'clock in Riga is earlier than eleven UTC, whatever the text of each says.
    await answer(second.id, RsvpAnswer("yes"), now=(utc + timedelta(hours=1)).astimezone(riga))
    await answer(third.id, RsvpAnswer("yes"), now=utc + timedelta(minutes=90))

    assert await waitlist_positions(event.id) == {second.id: 1, third.id: 2}
    stored = (await Invitation.get(id=second.id)).waitlisted_at
    assert stored == utc + timedelta(hours=1) and stored.utcoffset() == UTC.utcoffset(None)


def test_postgres_batches_go_as_one_statement_with_numbered_marks():
    batch = [
        Sql('UPDATE "a" SET "x" = ? WHERE "id" = ?', (1, 2)),
        Sql('INSERT INTO "b" ("y") VALUES (?)', ("z",)),
        Sql('UPDATE "c" SET "x" = ? WHERE "id" = ? RETURNING "id"', (3, 4)),
    ]

    merged = _merge(batch)

    assert _numbered(merged.text) == (
        'WITH w0 AS (UPDATE "a" SET "x" = $1 WHERE "id" = $2), '
        'w1 AS (INSERT INTO "b" ("y") VALUES ($3)) '
        'UPDATE "c" SET "x" = $4 WHERE "id" = $5 RETURNING "id"'
    )
    assert list(merged.values) == [1, 2, "z", 3, 4]


@pytest.mark.parametrize("status", ["no", "maybe"])
async def test_a_decline_among_answers_at_once_hands_its_seat_on(
    embassy,  # noqa: F811
    make_event,
    invite,  # noqa: F811
    status,
):
    event = await make_event(embassy, capacity=2)
    host = await invite(event)
    await answer(host.id, RsvpAnswer("yes"))
    others = [await invite(event) for _ in range(6)]

    await asyncio.gather(
        answer(host.id, RsvpAnswer(status)),
        *(answer(p.id, RsvpAnswer("yes")) for p in others),
    )

    assert await _seats(event) == 2
    assert str((await Invitation.get(id=host.id)).status) == status
    assert await Invitation.filter(event_id=event.id, status="yes").count() == 2
    assert await Invitation.filter(event_id=event.id, status="waitlisted").count() == 4


# --- Answers given at once decide as the same answers given one by one ---------------------


def _script(seed: int, people: int, answers: int) -> list[tuple[int, RsvpAnswer]]:
    rng = random.Random(seed)
    script = []
    for _ in range(answers):
        status = rng.choice(["yes", "yes", "yes", "no", "maybe"])
        guests = rng.choice([0, 0, 0, 1, 2]) if status != "no" else 0
        script.append((rng.randrange(people), RsvpAnswer(status, guests=guests)))
    return script


async def _state(event: Event, people: list[Invitation]) -> dict[str, object]:
    index = {p.id: n for n, p in enumerate(people)}
    rows = {r.id: r for r in await Invitation.filter(event_id=event.id)}
    positions = await waitlist_positions(event.id)
    mails = await OutboxMessage.filter(recipient_id__in=[p.alumnus_id for p in people])
    by_person = {p.alumnus_id: n for n, p in enumerate(people)}
    return {
        "seats": await _seats(event),
        "rows": [
            (
                str(rows[p.id].status),
                rows[p.id].guests,
                rows[p.id].responded_at,
                rows[p.id].waitlisted_at,
                rows[p.id].promoted_at,
                positions.get(p.id),
            )
            for p in people
        ],
        "mails": sorted(
            (
                m.template,
                by_person[m.recipient_id],
                m.context.get("status"),
                m.context.get("position"),
                m.context.get("guests"),
            )
            for m in mails
        ),
        "promoted": sorted(
            index[m.context["invitation"]] for m in mails if m.template == "waitlist_promoted"
        ),
    }


def _outcome(done: object) -> object:
    if isinstance(done, Exception):
        return type(done).__name__
    assert isinstance(done, Answered)
    return (str(done.invitation.status), done.invitation.guests, done.position)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_answers_at_once_decide_as_one_by_one(
    embassy,  # noqa: F811
    make_event,
    invite,  # noqa: F811
    seed,
):
    t0 = utcnow().replace(microsecond=0)
    script = _script(seed, people=12, answers=60)
    results: list[tuple[dict[str, object], list[object]]] = []
    for together in (False, True):
        event = await make_event(embassy, capacity=4, guests_allowed=2)
        people = [await invite(event) for _ in range(12)]
        conn = Invitation._choose_db(True)
        for person in people:
            await _event_of(person.id, conn)  # answers then queue in the order given
        calls = [
            record_answer(people[who].id, given, now=t0 + timedelta(seconds=n))
            for n, (who, given) in enumerate(script)
        ]
        if together:
            rng, outcomes = random.Random(seed), []
            while calls:
                size = rng.randint(1, 12)
                chunk, calls = calls[:size], calls[size:]
                outcomes += await asyncio.gather(*chunk, return_exceptions=True)
        else:
            outcomes = []
            for call in calls:
                try:
                    done = await call
                except Exception as exc:
                    outcomes.append(exc)
                    continue
                outcomes.append(done)
                # One by one, each answer agrees with the database's own count.
                stored = await Invitation.get(id=done.invitation.id)
                assert done.position == await waitlist_position(stored)
                coming = await Invitation.filter(event_id=event.id, status="yes")
                assert await _seats(event) == sum(1 + p.guests for p in coming) <= 4
        results.append((await _state(event, people), [_outcome(o) for o in outcomes]))

    (alone, alone_outcomes), (at_once, at_once_outcomes) = results
    assert at_once_outcomes == alone_outcomes
    assert at_once == alone
    assert alone["seats"] <= 4


async def test_freed_seats_reach_past_the_head_of_a_long_line(
    embassy,  # noqa: F811
    make_event,
    invite,  # noqa: F811
):
    event = await make_event(embassy, capacity=3, guests_allowed=2)
    host = await invite(event)
    await answer(host.id, RsvpAnswer("yes", guests=2))
    groups = [await invite(event) for _ in range(20)]  # three seats each: none fits in one
    for person in groups:
        await answer(person.id, RsvpAnswer("yes", guests=2))
    alone = await invite(event)
    await answer(alone.id, RsvpAnswer("yes"))
    assert await waitlist_position(await Invitation.get(id=alone.id)) == 21

    await answer(host.id, RsvpAnswer("yes", guests=1))  # one seat freed

    assert str((await Invitation.get(id=alone.id)).status) == "yes"
    assert await _seats(event) == 3
    waiting = await Invitation.filter(id__in=[p.id for p in groups], status="waitlisted")
    assert len(waiting) == len(groups)
    promoted = await OutboxMessage.filter(template="waitlist_promoted")
    assert [m.context["invitation"] for m in promoted] == [alone.id]
