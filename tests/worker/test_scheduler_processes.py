"""Two real ``engage worker`` processes on one PostgreSQL database, each running its
scheduler every 0.1 s: every reminder is written once and received once."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest

from engage.clock import utcnow
from engage.invitations.models import Invitation, InvitationStatus
from engage.mail.models import OutboxMessage, Status
from tests.mail.processes import WorkerPool, running_sink, wait_for, write_worker_config

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("db_url", ["postgres"], indirect=True)]


async def _event_with_due_reminders(make_embassy, make_event, make_alumnus, *, code, people):
    """An event in two hours whose reminders are all due: one day before to those who
    have not answered, three hours before to those coming."""
    embassy = await make_embassy(code=code, country="LV", timezone="Europe/Riga")
    now = utcnow().replace(microsecond=0)
    event = await make_event(
        embassy,
        starts_at=now + timedelta(hours=2),
        reminders=[
            {"before_minutes": 24 * 60, "to": "unanswered"},
            {"before_minutes": 3 * 60, "to": "coming"},
        ],
    )
    for n in range(people):
        status = InvitationStatus.INVITED if n % 2 else InvitationStatus.YES
        await Invitation.create(
            event=event,
            alumnus=await make_alumnus(country="LV"),
            status=status,
            invited_at=now - timedelta(days=3),
        )
    return event


async def test_two_workers_schedule_each_reminder_once(
    db, db_url, tmp_path, make_embassy, make_event, make_alumnus
):
    async with running_sink(tmp_path) as sink:
        config = write_worker_config(tmp_path, db_url=db_url, smtp_port=sink.port)
        with config.open("a", encoding="utf-8") as fh:
            fh.write("[scheduler]\ninterval_seconds = 0.1\n")
        await _event_with_due_reminders(
            make_embassy, make_event, make_alumnus, code="RIX", people=60
        )

        async with WorkerPool(config) as pool:
            workers = [await pool.start(name) for name in ("w1", "w2")]
            for worker in workers:
                await worker.wait_running()

            async def sent(n: int) -> bool:
                return sink.count() >= n and (
                    await OutboxMessage.filter(status=Status.SENT).count() >= n
                )

            await wait_for(lambda: sent(60), within=60, what="the first 60 reminders")
            # While both keep taking turns, a second event's reminders fall due.
            await _event_with_due_reminders(
                make_embassy, make_event, make_alumnus, code="TLL", people=40
            )
            await wait_for(lambda: sent(100), within=60, what="the next 40 reminders")
            for worker in workers:
                assert await worker.terminate() == 0

    rows = await OutboxMessage.filter(dedupe_key__startswith="reminder:")
    assert len(rows) == 100 and {row.status for row in rows} == {Status.SENT}
    received = Counter(sink.received())
    assert len(received) == 100 and set(received.values()) == {1}
    # What the processes say they wrote adds up to the rows: neither wrote one twice.
    ticks = [
        entry["counts"]["reminders"]
        for worker in workers
        for entry in worker.log_records()
        if entry.get("message") == "scheduler tick"
    ]
    assert sum(ticks) == 100
    stopped = [
        entry
        for worker in workers
        for entry in worker.log_records()
        if entry.get("message") == "scheduler stopped"
    ]
    assert len(stopped) == 2, json.dumps([w.stderr()[-2000:] for w in workers])
    assert all(entry["ran"] + entry["skipped"] >= 1 for entry in stopped)
