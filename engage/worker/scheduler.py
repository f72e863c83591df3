"""The scheduler: periodic work (reminders before events, newsletter issues) run in one
place at a time.

It runs beside the mail worker (``engage.worker.service.mail_service``): inside
``engage serve`` on the embedded default, in every ``engage worker`` process in a
deployment. Every ``scheduler.interval_seconds`` it takes a turn ("a tick") and
calls each job with the time::

    scheduler = Scheduler(settings)
    await scheduler.tick()          # {"reminders": 12}, or None: not this process's turn
    await scheduler.run(stop)       # a tick now and every interval until stop is set

**One place at a time.** On PostgreSQL a tick runs only in the process that obtains
``pg_try_advisory_xact_lock(SCHEDULER_LOCK)`` in a transaction, held for the tick;
the others skip their turn without waiting. On SQLite a single process serves the
database (``engage.worker.lock``), so it simply runs.

**Once, whatever happens.** The lock spares the database duplicate work; it is not
what makes a reminder go out once. The jobs are idempotent: each outbox row has a
dedupe key (a unique column), so a tick repeated after a crash, or one running
while a lost connection let the lock go, writes nothing twice.

A job is ``async def job(now: datetime) -> int`` (the rows it wrote). A failing job
is logged and the others still run; the next tick tries it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

from tortoise.transactions import in_transaction

from engage.clock import utcnow
from engage.invitations.reminders import due_reminders
from engage.newsletters.sending import due_newsletters
from engage.newsletters.series import due_series
from engage.settings import Settings

log = logging.getLogger("engage.scheduler")

#: The advisory lock key every scheduler takes on PostgreSQL ("EngageS1" in ASCII).
SCHEDULER_LOCK = 0x456E_6761_6765_5331

Job = Callable[[datetime], Awaitable[int]]
#: The work of each tick, by name, in order: a series' issue made this turn (and
#: scheduled, for an automatic series) goes out in the same turn.
JOBS: Mapping[str, Job] = {
    "reminders": due_reminders,
    "newsletter_series": due_series,
    "newsletters": due_newsletters,
}


class Scheduler:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        jobs: Mapping[str, Job] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.jobs = dict(JOBS if jobs is None else jobs)
        #: Ticks this scheduler ran, and skipped because another process had the turn.
        self.ran = 0
        self.skipped = 0

    async def tick(self) -> dict[str, int] | None:
        """Run every job once if this process gets the turn; what each wrote, or None."""
        if self.settings.database.is_sqlite:
            counts = await self._run_jobs()
        else:
            counts = await self._with_lock(self._run_jobs)
        if counts is None:
            self.skipped += 1
            log.debug("scheduler turn taken elsewhere")
        else:
            self.ran += 1
        return counts

    async def _with_lock(
        self, work: Callable[[], Awaitable[dict[str, int]]]
    ) -> dict[str, int] | None:
        # The jobs run in a task started from the context *outside* the lock's
        # transaction: they open their own short transactions on other pooled
        # connections (committed chunk by chunk, so the worker can send at once),
        # rather than savepoints inside this one.
        outside = contextvars.copy_context()
        async with in_transaction() as conn:
            rows = await conn.execute_query_dict(
                "SELECT pg_try_advisory_xact_lock($1) AS taken", [SCHEDULER_LOCK]
            )
            if not rows or not rows[0]["taken"]:
                return None
            # Held until this transaction ends, whatever the jobs do.
            return await asyncio.create_task(work(), context=outside)

    async def _run_jobs(self) -> dict[str, int]:
        now = self.clock()
        counts: dict[str, int] = {}
        for name, job in self.jobs.items():
            try:
                counts[name] = await job(now)
            except Exception:
                log.exception("scheduled job failed", extra={"job": name})
                counts[name] = 0
        if any(counts.values()):
            log.info("scheduler tick", extra={"counts": counts})
        return counts

    async def run(self, stop: asyncio.Event) -> None:
        """Tick now, then every ``scheduler.interval_seconds``, until ``stop`` is set
        (a tick under way is finished first)."""
        interval = self.settings.scheduler.interval_seconds
        log.info("scheduler started", extra={"interval_seconds": interval})
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:
                # The database went away for a moment, say: the next turn tries again.
                log.exception("scheduler tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
        log.info("scheduler stopped", extra={"ran": self.ran, "skipped": self.skipped})
