"""Invite jobs: chunks in id order with a checkpoint, resumed after a crash, two
runners of one job taking turns, and a run stopped by the event's cancellation."""

from __future__ import annotations

import asyncio

import pytest

from engage.accounts.actor import load_actor
from engage.accounts.models import Role
from engage.events.models import Event, EventStatus
from engage.invitations import jobs
from engage.invitations.models import Invitation, InviteJob, JobStatus
from engage.invitations.services import invite, run_invite_job, start_invite_job
from engage.mail.models import OutboxMessage


class Killed(BaseException):
    """The process died (not an Exception: nothing in the run catches it)."""


@pytest.fixture
async def setting(db, make_embassy, make_user, make_event, make_alumnus):
    embassy = await make_embassy(code="NBO", country="KE", accredited=["KE"])
    attache = await load_actor(await make_user(role=Role.ATTACHE, embassies=["NBO"]))
    event = await make_event(embassy)
    people = [await make_alumnus(country="KE") for _ in range(7)]
    return attache, event, people


def _die_after(monkeypatch, chunks: int) -> list[int]:
    """Make the run die once ``chunks`` chunks were committed; returns the checkpoints."""
    real = jobs._run_chunk
    seen: list[int] = []

    async def chunk(job_id, *args, **kwargs):
        if len(seen) == chunks:
            raise Killed()
        more = await real(job_id, *args, **kwargs)
        seen.append((await InviteJob.get(id=job_id)).checkpoint)
        return more

    monkeypatch.setattr(jobs, "_run_chunk", chunk)
    return seen


async def test_a_run_goes_in_chunks_and_resumes_from_its_checkpoint(setting, monkeypatch):
    attache, event, people = setting
    job = await start_invite_job(attache, event.id, {"filter": {}})
    assert (job.status, job.total, job.checkpoint) == (JobStatus.RUNNING, 7, 0)
    checkpoints = _die_after(monkeypatch, 2)

    with pytest.raises(Killed):
        await run_invite_job(job.id, chunk_size=3)

    ids = sorted(p.id for p in people)
    assert checkpoints == [ids[2], ids[5]]  # id order, three at a time
    stopped = await InviteJob.get(id=job.id)
    assert stopped.status == JobStatus.RUNNING and stopped.invited == 6
    assert stopped.checkpoint == ids[5]
    assert await Invitation.filter(event_id=event.id).count() == 6
    assert await OutboxMessage.all().count() == 6

    monkeypatch.undo()
    done = await run_invite_job(job.id, chunk_size=3)

    assert done.status == JobStatus.DONE and done.finished_at is not None
    assert (done.invited, done.skipped, done.checkpoint) == (7, {}, ids[6])
    assert (
        sorted(await Invitation.filter(event_id=event.id).values_list("alumnus_id", flat=True))
        == ids
    )
    assert await OutboxMessage.all().count() == 7
    # Running a finished job again does nothing.
    assert (await run_invite_job(job.id)).invited == 7
    assert await OutboxMessage.all().count() == 7


async def test_picked_people_go_in_chunks_too(setting, make_alumnus, make_embassy):
    attache, event, people = setting
    await make_embassy(code="KLA", country="UG", accredited=["UG"])
    foreign = await make_alumnus(country="UG")
    picked = [p.id for p in people[:4]] + [foreign.id, 10**15]

    job = await invite(attache, event.id, {"alumni_ids": picked}, chunk_size=2)

    assert job.total == 6 and job.invited == 4
    assert job.skipped == {"outside_scope": 2}
    assert job.checkpoint == 10**15


async def test_two_runners_of_one_job_take_turns(setting):
    attache, event, _people = setting
    job = await start_invite_job(attache, event.id, {"filter": {}})

    first, second = await asyncio.gather(
        run_invite_job(job.id, chunk_size=2), run_invite_job(job.id, chunk_size=2)
    )

    assert first.status == second.status == JobStatus.DONE
    assert (await InviteJob.get(id=job.id)).invited == 7
    assert await Invitation.filter(event_id=event.id).count() == 7
    assert await OutboxMessage.all().count() == 7


async def test_a_run_stops_when_its_event_is_cancelled(setting, monkeypatch):
    attache, event, _people = setting
    job = await start_invite_job(attache, event.id, {"filter": {}})
    _die_after(monkeypatch, 1)
    with pytest.raises(Killed):
        await run_invite_job(job.id, chunk_size=3)
    monkeypatch.undo()
    await Event.filter(id=event.id).update(status=EventStatus.CANCELLED)

    stopped = await run_invite_job(job.id, chunk_size=3)

    assert stopped.status == JobStatus.FAILED and "cancelled" in stopped.error
    assert stopped.invited == 3
    assert await Invitation.filter(event_id=event.id).count() == 3


async def test_a_run_whose_actor_lost_the_embassy_fails(setting):
    from engage.accounts.models import EmbassyAssignment

    attache, event, _people = setting
    job = await start_invite_job(attache, event.id, {"filter": {}})
    await EmbassyAssignment.filter(user_id=attache.id).delete()

    stopped = await run_invite_job(job.id)

    assert stopped.status == JobStatus.FAILED and stopped.invited == 0
    assert await Invitation.all().count() == 0


async def test_unfinished_runs_are_taken_up_at_start(setting, monkeypatch):
    attache, event, _people = setting
    job = await start_invite_job(attache, event.id, {"filter": {}})
    _die_after(monkeypatch, 1)
    with pytest.raises(Killed):
        await run_invite_job(job.id, chunk_size=2)
    monkeypatch.undo()

    assert await jobs.resume_invite_jobs(chunk_size=2) == 1

    done = await InviteJob.get(id=job.id)
    assert done.status == JobStatus.DONE and done.invited == 7
    assert await jobs.resume_invite_jobs() == 0
