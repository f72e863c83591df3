"""The scheduler: a tick runs the jobs with the time; on PostgreSQL only the process
holding the advisory lock takes a turn, and schedulers running at the same moment on
separate connections write each reminder exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from engage.clock import utcnow
from engage.invitations.models import Invitation, InvitationStatus
from engage.invitations.reminders import due_reminders
from engage.mail.models import OutboxMessage, Status
from engage.worker.scheduler import SCHEDULER_LOCK, Scheduler
from tests.mail.processes import wait_for
from tests.mail_fixtures import FakeClock

STARTS = datetime(2026, 4, 2, 15, 0, tzinfo=UTC)  # 18:00 Riga time
WEEK_BEFORE = datetime(2026, 3, 26, 16, 0, tzinfo=UTC)
DAY_BEFORE = datetime(2026, 4, 1, 15, 0, tzinfo=UTC)
RULES = [
    {"before_minutes": 7 * 24 * 60, "to": "unanswered"},
    {"before_minutes": 24 * 60, "to": "coming"},
]
postgres_only = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
#: The newsletter jobs of a tick, with nothing to do in these tests.
QUIET = {"newsletter_series": 0, "newsletters": 0}


async def _reception(make_embassy, make_event, make_alumnus, *, unanswered: int, coming: int):
    embassy = await make_embassy(code="RIX", country="LV", timezone="Europe/Riga")
    event = await make_event(embassy, starts_at=STARTS, reminders=RULES)
    for n in range(unanswered + coming):
        person = await make_alumnus(country="LV")
        status = InvitationStatus.INVITED if n < unanswered else InvitationStatus.YES
        await Invitation.create(
            event=event, alumnus=person, status=status, invited_at=STARTS - timedelta(days=30)
        )
    return event


async def _reminder_keys() -> Counter[str]:
    keys = await OutboxMessage.filter(dedupe_key__startswith="reminder:").values_list(
        "dedupe_key", flat=True
    )
    return Counter(keys)


async def test_a_tick_runs_the_jobs_at_the_scheduler_time(
    settings, db, make_embassy, make_event, make_alumnus
):
    await _reception(make_embassy, make_event, make_alumnus, unanswered=3, coming=2)
    clock = FakeClock(WEEK_BEFORE - timedelta(minutes=1))
    scheduler = Scheduler(settings, clock=clock)

    assert await scheduler.tick() == {"reminders": 0, **QUIET}
    clock.now = WEEK_BEFORE
    assert await scheduler.tick() == {"reminders": 3, **QUIET}
    clock.now = DAY_BEFORE
    assert await scheduler.tick() == {"reminders": 2, **QUIET}
    assert await scheduler.tick() == {"reminders": 0, **QUIET}
    assert scheduler.ran == 4 and scheduler.skipped == 0
    assert len(await _reminder_keys()) == 5


async def test_a_failing_job_is_logged_and_the_others_still_run(settings, db, caplog):
    seen = []

    async def broken(now):
        raise RuntimeError("boom")

    async def fine(now):
        seen.append(now)
        return 7

    scheduler = Scheduler(settings, clock=FakeClock(STARTS), jobs={"a": broken, "b": fine})

    assert await scheduler.tick() == {"a": 0, "b": 7}
    assert seen == [STARTS]
    assert any(r.getMessage() == "scheduled job failed" for r in caplog.records)


async def test_run_ticks_until_stopped(settings, db, make_embassy, make_event, make_alumnus):
    await _reception(make_embassy, make_event, make_alumnus, unanswered=2, coming=0)
    ticks = asyncio.Queue()

    async def watched(now):
        written = await due_reminders(now)
        await ticks.put(written)
        return written

    scheduler = Scheduler(
        _quick(settings), clock=FakeClock(WEEK_BEFORE), jobs={"reminders": watched}
    )
    stop = asyncio.Event()
    running = asyncio.create_task(scheduler.run(stop))
    assert await ticks.get() == 2  # at once on start
    assert await ticks.get() == 0  # the next turn finds nothing new
    stop.set()
    await running
    assert len(await _reminder_keys()) == 2


def _quick(settings):
    return settings.model_copy(
        update={"scheduler": settings.scheduler.model_copy(update={"interval_seconds": 0.05})}
    )


async def test_the_app_runs_the_scheduler_beside_its_worker(
    settings, make_embassy, make_event, make_alumnus
):
    # As `engage serve` does on SQLite (and `engage worker` in a deployment): the
    # scheduler writes a due reminder, the worker beside it sends it to the embedded
    # mail server.
    from engage.app import create_app

    app = create_app(_quick(settings), run_worker=True, hold_lock=False)
    async with app.router.lifespan_context(app):
        assert isinstance(app.state.mail.scheduler, Scheduler)
        embassy = await make_embassy(code="RIX", country="LV", timezone="Europe/Riga")
        soon = utcnow().replace(microsecond=0) + timedelta(hours=2)
        event = await make_event(
            embassy, starts_at=soon, reminders=[{"before_minutes": 180, "to": "coming"}]
        )
        await Invitation.create(
            event=event,
            alumnus=await make_alumnus(country="LV"),
            status=InvitationStatus.YES,
            invited_at=soon - timedelta(days=9),
        )

        async def reminded() -> bool:
            return await OutboxMessage.exists(
                dedupe_key__startswith="reminder:", status=Status.SENT
            )

        await wait_for(reminded, within=30, what="the reminder to be written and sent")
        assert app.state.mail.scheduler.ran >= 1
    assert app.state.mail.scheduler.skipped == 0


# --- PostgreSQL: one place at a time ------------------------------------------------------


def _asyncpg_url(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


@postgres_only
async def test_no_turn_while_another_process_holds_the_lock(
    settings, db, db_url, make_embassy, make_event, make_alumnus
):
    await _reception(make_embassy, make_event, make_alumnus, unanswered=2, coming=0)
    scheduler = Scheduler(settings, clock=FakeClock(WEEK_BEFORE))
    elsewhere = await asyncpg.connect(_asyncpg_url(db_url))
    try:
        # Another process's scheduler in the middle of its turn.
        transaction = elsewhere.transaction()
        await transaction.start()
        await elsewhere.execute("SELECT pg_advisory_xact_lock($1)", SCHEDULER_LOCK)

        assert await scheduler.tick() is None
        assert scheduler.skipped == 1
        assert not await _reminder_keys()

        await transaction.commit()  # its turn is over: the lock goes with the transaction
        assert await scheduler.tick() == {"reminders": 2, **QUIET}
    finally:
        await elsewhere.close()


@postgres_only
async def test_two_schedulers_never_take_a_turn_at_the_same_time(settings, db):
    inside = asyncio.Event()
    release = asyncio.Event()

    async def long_job(now):
        inside.set()
        await release.wait()
        return 1

    first = Scheduler(settings, jobs={"long": long_job})
    second = Scheduler(settings, jobs={"long": long_job})
    turn = asyncio.create_task(first.tick())
    await inside.wait()  # the first holds the lock, on its own connection

    # (wait_for only keeps a broken lock from hanging the suite: it would wait forever)
    assert await asyncio.wait_for(second.tick(), 30) is None
    assert await asyncio.wait_for(second.tick(), 30) is None

    release.set()
    assert await turn == {"long": 1}
    inside.clear()
    release.set()
    assert await second.tick() == {"long": 1}  # now free
    assert (first.ran, first.skipped, second.ran, second.skipped) == (1, 0, 1, 2)


@postgres_only
async def test_schedulers_ticking_together_write_each_reminder_once(
    settings, db, make_embassy, make_event, make_alumnus
):
    await _reception(make_embassy, make_event, make_alumnus, unanswered=120, coming=80)
    schedulers = [Scheduler(settings, clock=FakeClock(DAY_BEFORE)) for _ in range(4)]

    results = await asyncio.gather(*(s.tick() for s in schedulers))

    keys = await _reminder_keys()
    assert len(keys) == 200 and set(keys.values()) == {1}
    turns = [r for r in results if r is not None]
    assert sum(r["reminders"] for r in turns) == 200  # nobody wrote a row twice
    again = await asyncio.gather(*(s.tick() for s in schedulers))
    assert sum(r["reminders"] for r in again if r is not None) == 0
    assert len(await _reminder_keys()) == 200


@postgres_only
async def test_without_the_lock_the_dedupe_keys_still_hold(
    settings, db, make_embassy, make_event, make_alumnus
):
    # The lock spares duplicate work; once-only rests on the outbox's unique dedupe
    # key: reminder runs racing each other on separate connections write each once.
    await _reception(make_embassy, make_event, make_alumnus, unanswered=150, coming=50)

    await asyncio.gather(*(due_reminders(DAY_BEFORE, chunk_size=40) for _ in range(4)))

    keys = await _reminder_keys()
    assert len(keys) == 200 and set(keys.values()) == {1}
