"""Unexpected errors inside the worker: no row may be left in ``sending`` for good.

A row the worker cannot finish must either be recorded (deferred, to be retried
with backoff) or let go, so that its lease runs out and it is claimed again.
"""

from __future__ import annotations

import asyncio

from tortoise.exceptions import OperationalError

from engage import db as engage_db
from engage.mail import delivery, outbox, render
from engage.mail.models import Category, OutboxMessage, Status
from engage.mail.transport import MemoryTransport
from engage.worker.runner import Worker
from tests.conftest import make_settings
from tests.mail.processes import wait_for


async def _enqueue(template: str, count: int) -> None:
    for i in range(count):
        await outbox.enqueue(
            template, to=f"f{i}@example.org", category=Category.BULK, dedupe_key=f"{template}:{i}"
        )


async def test_an_error_loading_the_context_defers_the_message(db_url, tmp_path, monkeypatch):
    async def broken_loader(row, settings):
        raise LookupError("the event is not there")

    monkeypatch.setitem(render._CONTEXT, "test_message", broken_loader)
    settings = make_settings(db_url, tmp_path / "var", smtp={"host": "127.0.0.1", "port": 2525})
    async with engage_db.database(settings):
        await _enqueue("test_message", 3)
        transport = MemoryTransport()
        assert await Worker(settings, transport, owner="w").run_once() == 3
        rows = await OutboxMessage.all()

    assert transport.sent == []
    assert {r.status for r in rows} == {Status.DEFERRED}
    assert all(r.lease_owner is None for r in rows)
    assert all("LookupError: the event is not there" in (r.last_error or "") for r in rows)


async def test_a_row_whose_outcome_cannot_be_recorded_is_claimed_again(
    db_url, tmp_path, monkeypatch
):
    real_mark_sent = delivery.mark_sent
    failures = []

    async def mark_sent_once_broken(message, owner, *, now):
        if not failures:
            failures.append(message.id)
            raise OperationalError("the database went away")
        return await real_mark_sent(message, owner, now=now)

    monkeypatch.setattr(delivery, "mark_sent", mark_sent_once_broken)
    settings = make_settings(db_url, tmp_path / "var", smtp={"host": "127.0.0.1", "port": 2525})
    # A one-second lease (below what settings allow) keeps the test short.
    mail = settings.mail.model_copy(update={"lease_seconds": 1})
    settings = settings.model_copy(update={"mail": mail})
    async with engage_db.database(settings):
        await _enqueue("test_message", 4)
        transport = MemoryTransport()
        worker = Worker(settings, transport, owner="w")
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))

        async def all_sent() -> bool:
            return await OutboxMessage.filter(status=Status.SENT).count() == 4

        try:
            # The heartbeat must not keep the unrecorded row's lease alive.
            await wait_for(all_sent, within=10, what="the unrecorded row to be sent again")
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)

    # Sent twice with the same Message-ID (at least once, never lost); the others once.
    ids = [str(m["Message-ID"]) for m in transport.sent]
    assert len(ids) == 5
    assert len(set(ids)) == 4
