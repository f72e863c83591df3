"""Several ``engage worker`` processes share one queue on PostgreSQL.

Each claim is ``SELECT ... FOR UPDATE SKIP LOCKED`` and a conditional update under
a lease: two workers never send the same message, and neither waits on rows the
other (or any transaction) has locked.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator

import asyncpg
import pytest
from tortoise.transactions import in_transaction

from engage import db as engage_db
from engage.clock import utcnow
from engage.mail import delivery, outbox
from engage.mail.models import Category, OutboxMessage, Status
from tests.conftest import make_settings
from tests.mail.processes import (
    WorkerPool,
    message_id,
    running_sink,
    wait_for,
    write_worker_config,
)

MESSAGES = 2_000


async def _enqueue(count: int) -> None:
    async with in_transaction() as conn:
        for i in range(count):
            await outbox.enqueue(
                "test_message",
                to=f"alumnus{i}@example.org",
                category=Category.BULK,
                dedupe_key=f"shared:{i}",
                using_db=conn,
            )


async def _sent() -> int:
    return await OutboxMessage.filter(status=Status.SENT).count()


async def test_the_claim_query_locks_with_skip_locked(postgres_url, tmp_path, caplog):
    # Tortoise drops select_for_update() from values_list() queries; this pins the
    # SQL the claim really sends.
    settings = make_settings(postgres_url, tmp_path / "var")
    async with engage_db.database(settings):
        await _enqueue(1)
        with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
            claimed = await delivery.claim_batch("w", limit=5, lease_seconds=5, now=utcnow())
    assert len(claimed) == 1
    selects = [r.getMessage() for r in caplog.records if "SELECT" in r.getMessage()]
    assert any("FOR UPDATE SKIP LOCKED" in sql for sql in selects), selects


@pytest.mark.slow
async def test_two_workers_share_the_queue_and_send_each_message_once(postgres_url, tmp_path):
    settings = make_settings(postgres_url, tmp_path / "var")
    async with engage_db.database(settings), running_sink(tmp_path) as sink:
        await _enqueue(MESSAGES)
        first = await OutboxMessage.all().order_by("-priority", "next_attempt_at", "id").first()
        assert first is not None
        config = write_worker_config(tmp_path, db_url=postgres_url, smtp_port=sink.port)
        async with WorkerPool(config) as pool:
            async with _row_locked_elsewhere(postgres_url, first.id):
                # Another transaction holds the row every claim would take first. With
                # SKIP LOCKED the workers pass over it; without, their claims would wait.
                started = time.monotonic()
                workers = [await pool.start(f"worker-{n}") for n in (1, 2)]

                async def all_but_the_locked_row_sent() -> bool:
                    return await _sent() >= MESSAGES - 1

                await wait_for(
                    all_but_the_locked_row_sent,
                    within=60,
                    what="the workers to send all but the locked row (do claims skip locks?)",
                    every=0.1,
                )
                assert (await OutboxMessage.get(id=first.id)).status == Status.QUEUED

            # The lock is gone: the last row goes too.
            async def all_sent() -> bool:
                return await _sent() == MESSAGES

            await wait_for(all_sent, within=60, what="the last row to be sent", every=0.1)
            wall = time.monotonic() - started
            for worker in workers:
                await worker.wait_running()
                assert await worker.terminate() == 0, worker.stderr()[-3000:]
        rows = await OutboxMessage.all()

    per_worker = [worker.sent_ids() for worker in workers]
    print(
        f"two workers on postgres: {MESSAGES} messages in {wall:.1f}s; "
        f"worker 1 sent {len(per_worker[0])}, worker 2 sent {len(per_worker[1])}"
    )
    assert Counter(row.status for row in rows) == {Status.SENT: MESSAGES}
    # Each Message-ID reached the server exactly once, and nothing else did.
    assert Counter(sink.received()) == {message_id(row): 1 for row in rows}
    # Both took part, and no row was sent (and marked) by both.
    assert all(per_worker), per_worker
    assert not set(per_worker[0]) & set(per_worker[1])
    assert sorted(per_worker[0] + per_worker[1]) == sorted(row.id for row in rows)
    # Each row was claimed once: no lease ran out under a live worker.
    assert all(row.attempts == 1 for row in rows)


@contextlib.asynccontextmanager
async def _row_locked_elsewhere(url: str, row_id: int) -> AsyncIterator[None]:
    """An open transaction of another connection holds ``FOR UPDATE`` on the row."""
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        async with conn.transaction():
            await conn.execute("SELECT id FROM mail_outbox WHERE id = $1 FOR UPDATE", row_id)
            yield
    finally:
        await conn.close()
