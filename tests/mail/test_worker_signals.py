"""How an ``engage worker`` process starts and stops.

- On SQLite one process sends: a second worker refuses to start (exit status 2).
- SIGTERM stops claiming; messages in flight are finished, claimed rows not yet
  tried are given back, and the process exits 0 promptly. Nothing stays in
  ``sending``; a new worker sends the rest, each message once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from email import message_from_bytes, policy

import pytest
from tortoise.transactions import in_transaction

from engage import db as engage_db
from engage.clock import utcnow
from engage.mail import delivery, outbox
from engage.mail.models import Category, OutboxMessage, Status
from engage.worker.runner import Worker
from tests.conftest import make_settings
from tests.mail.processes import (
    WorkerPool,
    message_id,
    running_sink,
    wait_for,
    write_worker_config,
)


async def _enqueue(count: int, prefix: str) -> None:
    async with in_transaction() as conn:
        for i in range(count):
            await outbox.enqueue(
                "test_message",
                to=f"{prefix}{i}@example.org",
                category=Category.TRANSACTIONAL,
                dedupe_key=f"{prefix}:{i}",
                using_db=conn,
            )


@pytest.mark.slow
async def test_a_second_worker_on_the_same_sqlite_database_refuses_to_start(sqlite_url, tmp_path):
    async with running_sink(tmp_path) as sink:
        config = write_worker_config(tmp_path, db_url=sqlite_url, smtp_port=sink.port)
        async with WorkerPool(config) as pool:
            first = await pool.start("first")
            await first.wait_running()

            second = await pool.start("second")
            assert await second.wait(within=20) == 2
            lines = second.stderr().splitlines()
            assert len(lines) == 1, lines
            assert lines[0].startswith("engage: ")
            assert "lock" in lines[0]
            assert first.returncode is None

            assert await first.terminate() == 0
            # The lock went with the first worker: another may start now.
            third = await pool.start("third")
            await third.wait_running()
            assert await third.terminate() == 0


@pytest.mark.slow
async def test_sigterm_finishes_or_releases_what_the_worker_holds(db_url, tmp_path):
    messages, concurrency = 30, 4
    settings = make_settings(db_url, tmp_path / "var")
    # Each message takes the server half a second: there is always mail in flight.
    async with engage_db.database(settings), running_sink(tmp_path, stall=0.5) as sink:
        await _enqueue(messages, "term")
        config = write_worker_config(
            tmp_path,
            db_url=db_url,
            smtp_port=sink.port,
            concurrency=concurrency,
            # A batch takes 2.5 s: the SIGTERM always finds rows not yet tried.
            batch_size=20,
        )
        async with WorkerPool(config) as pool:
            worker = await pool.start("stopped")
            await worker.wait_running()

            async def in_flight() -> bool:
                # The first messages went through and the next ones are on the wire.
                return sink.count() >= concurrency

            await wait_for(in_flight, within=30, what="messages in flight")
            held = await OutboxMessage.filter(status=Status.SENDING, lease_owner=worker.owner())
            assert held, "the worker held nothing when stopped"

            asked = time.monotonic()
            assert await worker.terminate(within=10) == 0, worker.stderr()[-3000:]
            took = time.monotonic() - asked
            print(f"SIGTERM with {len(held)} rows held: exited 0 after {took:.2f}s")
            # Promptly: the messages in flight (0.5 s each), not the whole batch.
            assert took < 3.0

            rows = await OutboxMessage.all()
            assert not [r for r in rows if r.status == Status.SENDING]
            assert not [r for r in rows if r.lease_owner or r.lease_expires_at]
            assert {r.status for r in rows} <= {Status.SENT, Status.QUEUED, Status.DEFERRED}
            # What was held was either finished or given back.
            by_id = {r.id: r for r in rows}
            assert {by_id[r.id].status for r in held} <= {Status.SENT, Status.QUEUED}
            assert any(by_id[r.id].status == Status.QUEUED for r in held)
            # Marked sent exactly when the server has it: nothing sent and forgotten.
            sent = {message_id(r) for r in rows if r.status == Status.SENT}
            assert sent == set(sink.received())
            assert 0 < len(sent) < messages

            # A new worker sends the rest.
            after = await pool.start("after")

            async def all_sent() -> bool:
                return await OutboxMessage.filter(status=Status.SENT).count() == messages

            await wait_for(all_sent, within=60, what="the new worker to send the rest")
            assert await after.terminate() == 0, after.stderr()[-3000:]
            rows = await OutboxMessage.all()

    assert Counter(sink.received()) == {message_id(r): 1 for r in rows}


class _SlowTransport:
    """Takes ``seconds`` to send each message; says when a send has begun."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.sending = asyncio.Event()
        self.sent: list[str] = []

    async def send(self, message, *, sender, recipients):
        self.sending.set()
        await asyncio.sleep(self.seconds)
        if isinstance(message, bytes):  # the worker sends the wire bytes
            message = message_from_bytes(message, policy=policy.SMTP)
        self.sent.append(str(message["Message-ID"]))

    async def close(self):
        return None


async def test_a_stopping_worker_keeps_the_lease_of_the_message_in_flight(db_url, tmp_path):
    settings = make_settings(db_url, tmp_path / "var", smtp={"host": "127.0.0.1", "port": 2525})
    # A one-second lease (below what settings allow) keeps the test short: the send
    # below outlasts it, so only the heartbeat keeps the row from other workers.
    mail = settings.mail.model_copy(update={"lease_seconds": 1})
    settings = settings.model_copy(update={"mail": mail})
    async with engage_db.database(settings):
        await _enqueue(1, "slow")
        transport = _SlowTransport(seconds=2.5)
        worker = Worker(settings, transport, owner="stopping")
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        await asyncio.wait_for(transport.sending.wait(), 10)
        stop.set()

        await asyncio.sleep(1.8)
        taken = await delivery.claim_batch("other", limit=10, lease_seconds=1, now=utcnow())
        await asyncio.wait_for(task, 10)
        row = await OutboxMessage.get()

    assert taken == [], "another worker took a message still being sent"
    assert row.status == Status.SENT
    assert len(transport.sent) == 1
