"""The crash drill: a real worker is SIGKILLed again and again while it sends.

DESIGN.md promises that a crash at any point leaves each message either sent and
marked, or still claimable, and that a resend keeps the Message-ID. Here a real
``engage worker`` sends 1,000 messages to a real SMTP server (its own process,
which syncs every Message-ID it accepts to a file before replying 250) and is
killed with SIGKILL at seeded moments, then restarted, until the outbox is empty.

At each kill the test records which rows the dead worker held and which of those
had already reached the server: the only rows allowed to arrive twice. Afterwards:

- nothing is lost: every row is ``sent`` and its Message-ID reached the server;
- nothing unknown was sent: every Message-ID received belongs to one row;
- every duplicate is explained by a kill that fell between the server's 250 and
  the mark, at most ``concurrency`` per kill.

Repeat a run with ``ENGAGE_DRILL_SEED=<seed>`` (the seed is printed; see ``-rP``).
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from tortoise.transactions import in_transaction

from engage import db as engage_db
from engage.mail import outbox
from engage.mail.models import Category, OutboxMessage, Status
from tests.conftest import make_settings
from tests.mail.processes import (
    Sink,
    WorkerPool,
    WorkerProcess,
    message_id,
    running_sink,
    wait_for,
    write_worker_config,
)

MESSAGES = 1_000
KILLS = 24
CONCURRENCY = 4
#: Small batches, so that kills also land between batches and in claims.
BATCH_SIZE = 20
#: A kill lands at most this many new arrivals into a worker's run, so the kills
#: never drain the queue (24 x 40 < 1,000): every kill point is used.
MOST_ARRIVALS = 40
#: After a SIGKILL the server may still be finishing a message whose last bytes
#: were already in its socket; it is given this long before the test reads its log.
SETTLE_SECONDS = 0.2


@dataclass(frozen=True)
class KillPoint:
    #: Kill once this many new messages reached the server in this worker's run...
    arrivals: int
    #: ...or this many seconds after starting it, whichever comes first.
    delay: float

    def __str__(self) -> str:
        if math.isinf(self.delay):
            return f"after {self.arrivals} arrivals"
        return f"after {self.delay:.2f}s (or {self.arrivals} arrivals)"


def kill_plan(rng: random.Random) -> list[KillPoint]:
    """Mostly "right after a message reached the server", which is the moment that
    hits the window between 250 and the mark; some after a random delay, which also
    lands in start-up (a worker takes about 0.3 s to start) and in claims."""
    points = []
    for _ in range(KILLS):
        if rng.random() < 0.7:
            points.append(KillPoint(rng.randint(1, MOST_ARRIVALS), math.inf))
        else:
            points.append(KillPoint(MOST_ARRIVALS, round(rng.uniform(0.0, 0.5), 2)))
    return points


@dataclass(frozen=True)
class Kill:
    number: int
    point: KillPoint
    arrivals: int
    seconds: float
    #: Rows the killed worker held (status sending, its lease).
    held: frozenset[str]
    #: Of those, the ones this worker had got to the server: sent, not marked.
    sent_unmarked: frozenset[str]


async def _enqueue(count: int) -> None:
    async with in_transaction() as conn:
        for i in range(count):
            await outbox.enqueue(
                "test_message",
                to=f"alumnus{i}@example.org",
                category=Category.BULK,
                dedupe_key=f"drill:{i}",
                context={"note": f"drill message {i}"},
                using_db=conn,
            )


async def _run_until_kill(
    worker: WorkerProcess, sink: Sink, point: KillPoint, *, before: int
) -> float:
    async def due() -> bool:
        if worker.returncode is not None:
            raise AssertionError(
                f"worker exited by itself ({worker.returncode}):\n{worker.stderr()}"
            )
        elapsed = time.monotonic() - worker.started
        return sink.count() - before >= point.arrivals or elapsed >= point.delay

    # Polled often: the sooner the kill follows an arrival, the likelier it falls
    # between the server's 250 and the worker's mark.
    await wait_for(due, within=60, what=f"kill point {point}", every=0.002)
    await worker.kill()
    return time.monotonic() - worker.started


async def _held_by(worker: WorkerProcess) -> list[OutboxMessage]:
    owner = worker.owner()
    if owner is None:  # killed before its runner started: it claimed nothing
        return []
    return await OutboxMessage.filter(status=Status.SENDING, lease_owner=owner)


@pytest.mark.slow
async def test_crash_drill(db_url: str, tmp_path: Path):
    seed = int(os.environ.get("ENGAGE_DRILL_SEED") or secrets.randbelow(1_000_000))
    plan = kill_plan(random.Random(seed))
    database = "sqlite" if db_url.startswith("sqlite") else "postgres"
    print(f"crash drill on {database}: seed {seed} (repeat with ENGAGE_DRILL_SEED={seed})")
    started = time.monotonic()
    settings = make_settings(db_url, tmp_path / "var")
    async with engage_db.database(settings), running_sink(tmp_path) as sink:
        await _enqueue(MESSAGES)
        config = write_worker_config(
            tmp_path,
            db_url=db_url,
            smtp_port=sink.port,
            concurrency=CONCURRENCY,
            batch_size=BATCH_SIZE,
        )

        kills: list[Kill] = []
        async with WorkerPool(config) as pool:
            for number, point in enumerate(plan, 1):
                before = sink.count()
                worker = await pool.start(f"worker-{number}")
                seconds = await _run_until_kill(worker, sink, point, before=before)
                await asyncio.sleep(SETTLE_SECONDS)
                held = frozenset(message_id(row) for row in await _held_by(worker))
                # Only what reached the server during this run: a held row may have
                # arrived before, from an earlier worker that was killed holding it.
                this_run = sink.received()[before:]
                kill = Kill(number, point, len(this_run), seconds, held, held & set(this_run))
                kills.append(kill)
                print(
                    f"kill {number:2}: {point!s:<28} -> at {seconds:4.2f}s, "
                    f"{kill.arrivals:2} arrivals; held {len(held):2} rows, "
                    f"{len(kill.sent_unmarked)} sent but not marked"
                )

            # The last worker runs undisturbed until the queue is empty (it also waits
            # out the leases of the rows the last killed worker held).
            last = await pool.start("worker-last")

            async def drained() -> bool:
                return not await OutboxMessage.exclude(status=Status.SENT).exists()

            await wait_for(drained, within=120, what="the queue to drain", every=0.1)
            assert await last.terminate() == 0, last.stderr()[-3000:]

        rows = await OutboxMessage.all()
    wall = time.monotonic() - started

    by_id = {message_id(row): row for row in rows}
    arrivals = Counter(sink.received())
    duplicates = {mid: count - 1 for mid, count in arrivals.items() if count > 1}
    print(
        f"crash drill on {database}: seed {seed}, {len(kills)} kills, {len(rows)} messages, "
        f"{sum(arrivals.values())} deliveries, {sum(duplicates.values())} duplicate(s) "
        f"of {len(duplicates)} row(s), wall time {wall:.1f}s"
    )

    assert len(kills) >= 20
    assert len(rows) == MESSAGES
    # Nothing lost: every row is marked sent, without a lease, and reached the server.
    assert Counter(row.status for row in rows) == {Status.SENT: MESSAGES}
    assert all(row.lease_owner is None and row.lease_expires_at is None for row in rows)
    assert not [mid for mid in by_id if mid not in arrivals], "sent rows that never arrived"
    # Nothing unknown: every Message-ID received is one row's.
    assert set(arrivals) <= set(by_id), "messages that belong to no outbox row"
    # Duplicates only where a kill fell between 250 and the mark.
    for kill in kills:
        assert len(kill.sent_unmarked) <= CONCURRENCY, kill
    for mid, extra in duplicates.items():
        explained = sum(mid in kill.sent_unmarked for kill in kills)
        assert extra <= explained, (
            f"{mid} (row {by_id[mid].id}) arrived {extra + 1} times; "
            f"only {explained} kill(s) caught it sent but not marked"
        )
    assert sum(duplicates.values()) <= len(kills) * CONCURRENCY
