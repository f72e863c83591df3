"""The send run: one outbox row per eligible recipient in id order with a checkpoint,
the audience fixed when the send starts, one copy each however often it is started
and by however many workers, pause and resume, resuming after a crash."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from engage.accounts.models import Role
from engage.alumni.audience import filter_from
from engage.alumni.models import Alumnus, Segment
from engage.alumni.segments import create_segment, update_segment
from engage.mail.models import Category, OutboxMessage, Topic
from engage.newsletters import sending, services
from engage.newsletters.models import IssueStatus, Newsletter

BODY = 'Dear {{ preferred_name | "colleague" }}, the news.'


async def _people(make_alumnus, n: int, country: str = "KE") -> list[Alumnus]:
    return [await make_alumnus(country=country) for _ in range(n)]


async def _sending(staff, **audience) -> Newsletter:
    audience = audience or {"filter": {"country": ["KE"]}}
    issue = await services.create_newsletter(staff, {"subject": "News", "body": BODY, **audience})
    return await services.send_newsletter(staff, issue.id)


async def _rows(issue: Newsletter) -> list[OutboxMessage]:
    return await OutboxMessage.filter(campaign=f"newsletter:{issue.id}").order_by("id")


async def test_one_row_per_eligible_recipient_in_id_order(db, actor_for, make_alumnus):
    people = await _people(make_alumnus, 7)
    left_out = await make_alumnus(country="KE", accepts_newsletter=False)
    await make_alumnus(country="GH")  # not in the audience
    staff = await actor_for(Role.STAFF)
    issue = await _sending(staff)

    done = await sending.run_send(issue.id, owner="w1", chunk_size=3)

    assert done.status == IssueStatus.SENT
    assert done.finished_at is not None and done.started_at is not None
    assert (done.total, done.written) == (7, 7)
    assert done.skipped == {"no_consent": 1}
    assert done.checkpoint == max(p.id for p in [*people, left_out])
    assert (done.lease_owner, done.lease_expires_at) == (None, None)
    rows = await _rows(issue)
    assert [r.recipient_id for r in rows] == [p.id for p in people]
    row = rows[0]
    assert row.template == "newsletter"
    assert (row.category, row.topic) == (Category.BULK, Topic.NEWSLETTER)
    assert row.dedupe_key == f"newsletter:{issue.id}:{people[0].id}"
    assert row.context == {"newsletter": issue.id}
    assert (row.recipient_type, row.to_address) == ("alumnus", people[0].email)
    # A finished run does nothing more.
    again = await sending.run_send(issue.id, owner="w2")
    assert again.written == 7 and len(await _rows(issue)) == 7


async def test_the_audience_is_fixed_when_the_send_starts(db, actor_for, make_alumnus):
    first = await _people(make_alumnus, 4)
    staff = await actor_for(Role.STAFF)
    segment = await create_segment("Kenya", filter_from({"country": ["KE"]}), actor=staff)
    issue = await _sending(staff, segment_id=segment.id)
    # The run starts and writes its first chunk...
    assert await sending._take_lease(issue.id, "w1")
    assert await sending._write_chunk(issue.id, "w1", chunk_size=2)
    started = await Newsletter.get(id=issue.id)
    assert started.audience["segment_id"] == segment.id
    assert started.audience["fixed"] == {"filter": {"country": ["KE"]}, "until": first[-1].id}
    assert (started.total, started.written) == (4, 2)
    # ...then the segment changes and someone joins: neither changes this issue.
    await update_segment(segment.id, actor=staff, flt=filter_from({"country": ["GH"]}))
    await make_alumnus(country="KE")
    await make_alumnus(country="GH")
    done = await sending.run_send(issue.id, owner="w1", chunk_size=2)
    assert done.written == 4
    assert [r.recipient_id for r in await _rows(issue)] == [p.id for p in first]


async def test_eligibility_is_read_again_at_each_chunk(db, actor_for, make_alumnus):
    people = await _people(make_alumnus, 4)
    staff = await actor_for(Role.STAFF)
    issue = await _sending(staff)
    assert await sending._take_lease(issue.id, "w1")
    assert await sending._write_chunk(issue.id, "w1", chunk_size=2)
    # Someone later in the audience withdraws their consent meanwhile.
    await Alumnus.filter(id=people[3].id).update(accepts_newsletter=False)
    done = await sending.run_send(issue.id, owner="w1", chunk_size=2)
    assert done.written == 3 and done.skipped == {"no_consent": 1}
    assert people[3].id not in [r.recipient_id for r in await _rows(issue)]


async def test_double_send_gives_one_copy_each(db, actor_for, make_alumnus):
    await _people(make_alumnus, 5)
    staff = await actor_for(Role.STAFF)
    issue = await _sending(staff)
    await services.send_newsletter(staff, issue.id)  # clicked twice
    await sending.run_send(issue.id, owner="w1")
    await services.send_newsletter(staff, issue.id)  # and again once sent
    await sending.run_send(issue.id, owner="w1")
    await sending.run_send(issue.id, owner="w2")
    # Started over by hand from the beginning: the dedupe keys hold.
    await Newsletter.filter(id=issue.id).update(status=IssueStatus.SENDING, checkpoint=0)
    redone = await sending.run_send(issue.id, owner="w3", chunk_size=2)
    rows = await _rows(issue)
    assert len(rows) == 5 == len({r.recipient_id for r in rows})
    assert redone.status == IssueStatus.SENT


async def test_two_workers_at_once_give_one_copy_each(db, actor_for, make_alumnus):
    people = await _people(make_alumnus, 25)
    staff = await actor_for(Role.STAFF)
    issue = await _sending(staff)
    # Two runners started together (on PostgreSQL each on its own connection).
    results = await asyncio.gather(
        sending.run_send(issue.id, owner="w1", chunk_size=3),
        sending.run_send(issue.id, owner="w2", chunk_size=3),
        sending.due_newsletters(datetime.now(UTC), owner="scheduler"),
    )
    done = await Newsletter.get(id=issue.id)
    assert done.status == IssueStatus.SENT
    assert done.written == 25
    rows = await _rows(issue)
    assert sorted(r.recipient_id for r in rows) == sorted(p.id for p in people)
    assert results[0].status == IssueStatus.SENT or results[1].status == IssueStatus.SENT


async def test_a_runner_that_lost_its_lease_stops(db, actor_for, make_alumnus):
    people = await _people(make_alumnus, 6)
    staff = await actor_for(Role.STAFF)
    issue = await _sending(staff)
    assert await sending._take_lease(issue.id, "slow")
    assert await sending._write_chunk(issue.id, "slow", chunk_size=2)
    # A lease held by a live runner is respected...
    untouched = await sending.run_send(issue.id, owner="other", chunk_size=2)
    assert untouched.written == 2 and untouched.lease_owner == "slow"
    # ...until it expires (the runner stalled): another takes over and finishes.
    past = datetime.now(UTC) - timedelta(seconds=1)
    await Newsletter.filter(id=issue.id).update(lease_expires_at=past)
    finished = await sending.run_send(issue.id, owner="other", chunk_size=2)
    assert finished.status == IssueStatus.SENT and finished.written == 6
    # The stalled runner wakes up: its next chunk finds the issue is not its own.
    await Newsletter.filter(id=issue.id).update(status=IssueStatus.SENDING, lease_owner="other")
    assert not await sending._write_chunk(issue.id, "slow", chunk_size=2)
    assert sorted(r.recipient_id for r in await _rows(issue)) == [p.id for p in people]


async def test_pause_stops_the_run_and_resume_goes_on(db, actor_for, make_alumnus):
    people = await _people(make_alumnus, 6)
    staff = await actor_for(Role.STAFF)
    issue = await _sending(staff)
    assert await sending._take_lease(issue.id, "w1")
    assert await sending._write_chunk(issue.id, "w1", chunk_size=2)
    await services.pause_newsletter(staff, issue.id)
    # The run stops at its next chunk; nobody starts a paused issue.
    assert not await sending._write_chunk(issue.id, "w1", chunk_size=2)
    assert (await sending.run_send(issue.id, owner="w2", chunk_size=2)).written == 2
    assert await sending.due_newsletters(datetime.now(UTC), owner="s") == 0
    assert len(await _rows(issue)) == 2
    await services.resume_newsletter(staff, issue.id)
    done = await sending.run_send(issue.id, owner="w2", chunk_size=2)
    assert (done.status, done.written) == (IssueStatus.SENT, 6)
    assert [r.recipient_id for r in await _rows(issue)] == [p.id for p in people]


async def test_due_newsletters_starts_scheduled_issues_and_resumes_crashed_runs(
    db, actor_for, make_alumnus
):
    await _people(make_alumnus, 3)
    staff = await actor_for(Role.STAFF)
    later = datetime.now(UTC) + timedelta(hours=2)
    scheduled = await services.create_newsletter(
        staff, {"subject": "Later", "body": BODY, "filter": {"country": ["KE"]}}
    )
    await services.send_newsletter(staff, scheduled.id, send_at=later)
    crashed = await _sending(staff)
    assert await sending._take_lease(crashed.id, "dead-worker")
    assert await sending._write_chunk(crashed.id, "dead-worker", chunk_size=1)
    # The worker died: its lease runs out.
    past = datetime.now(UTC) - timedelta(seconds=1)
    await Newsletter.filter(id=crashed.id).update(lease_expires_at=past)

    assert await sending.due_newsletters(datetime.now(UTC), owner="s") == 2
    assert (await Newsletter.get(id=crashed.id)).status == IssueStatus.SENT
    assert (await Newsletter.get(id=scheduled.id)).status == IssueStatus.SCHEDULED
    assert await sending.due_newsletters(later + timedelta(seconds=1), owner="s") == 3
    assert (await Newsletter.get(id=scheduled.id)).status == IssueStatus.SENT
    assert len(await _rows(crashed)) == 3 and len(await _rows(scheduled)) == 3
    assert await sending.due_newsletters(later + timedelta(hours=1), owner="s") == 0


async def test_a_run_whose_segment_is_gone_is_paused(db, actor_for, make_alumnus):
    await _people(make_alumnus, 2)
    staff = await actor_for(Role.STAFF)
    segment = await create_segment("Kenya", filter_from({"country": ["KE"]}), actor=staff)
    issue = await _sending(staff, segment_id=segment.id)
    await Segment.filter(id=segment.id).delete()
    stopped = await sending.run_send(issue.id, owner="w1")
    assert stopped.status == IssueStatus.PAUSED
    assert stopped.lease_owner is None and stopped.written == 0


async def test_a_failing_secondary_address_is_used(db, actor_for, make_alumnus):
    person = await make_alumnus(
        country="KE",
        email="old@example.org",
        secondary_email="new@example.org",
        secondary_verified_at=datetime.now(UTC),
        email_failing_at=datetime.now(UTC),
    )
    staff = await actor_for(Role.STAFF)
    issue = await _sending(staff)
    await sending.run_send(issue.id, owner="w1")
    rows = await _rows(issue)
    assert [(r.recipient_id, r.to_address) for r in rows] == [(person.id, "new@example.org")]


async def test_chunks_written_at_once_take_turns_on_the_issue_row(db, actor_for, make_alumnus):
    # Should two writers ever hold the run at once (the same name twice, say), the
    # issue's row lock makes them take turns: each chunk once, the count exact.
    people = await _people(make_alumnus, 25)
    staff = await actor_for(Role.STAFF)
    issue = await _sending(staff)
    assert await sending._take_lease(issue.id, "w1")
    while True:
        wrote = await asyncio.gather(
            *(sending._write_chunk(issue.id, "w1", chunk_size=3) for _ in range(4))
        )
        if not any(wrote):
            break
    done = await Newsletter.get(id=issue.id)
    assert (done.status, done.written, done.total) == (IssueStatus.SENT, 25, 25)
    assert [r.recipient_id for r in await _rows(issue)] == [p.id for p in people]
