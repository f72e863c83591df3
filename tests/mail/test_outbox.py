from __future__ import annotations

import pytest
from tortoise.transactions import in_transaction

from engage.errors import InvalidInput
from engage.mail import outbox
from engage.mail.models import Category, OutboxMessage, Status


async def _enqueue(key: str = "k", **kwargs):
    kwargs.setdefault("to", "officer@example.org")
    kwargs.setdefault("category", Category.TRANSACTIONAL)
    return await outbox.enqueue("test_message", dedupe_key=key, **kwargs)


async def test_enqueue_creates_a_queued_row(db):
    result = await _enqueue(to_name="Nguyễn Văn Minh", context={"note": "hello"})
    assert result.created
    row = result.message
    assert row.status == Status.QUEUED
    assert row.template == "test_message"
    assert row.category == Category.TRANSACTIONAL
    assert row.priority > 0  # transactional mail goes first
    assert row.next_attempt_at == row.queued_at
    assert len(row.message_key) == 32


async def test_double_enqueue_is_deduplicated(db):
    first = await _enqueue("invite:1:7")
    second = await _enqueue("invite:1:7")
    assert first.created and not second.created
    assert second.message.id == first.message.id
    assert await OutboxMessage.all().count() == 1


async def test_duplicate_inside_a_transaction_does_not_break_it(db):
    # On PostgreSQL a failed INSERT would abort the whole transaction; ON CONFLICT
    # DO NOTHING keeps the caller's change alive.
    async with in_transaction() as conn:
        await _enqueue("same", using_db=conn)
        again = await _enqueue("same", using_db=conn)
        await _enqueue("other", using_db=conn)
    assert not again.created
    assert await OutboxMessage.all().count() == 2


async def test_rollback_of_the_causing_change_leaves_no_row(db):
    with pytest.raises(RuntimeError):
        async with in_transaction() as conn:
            await _enqueue("doomed", using_db=conn)
            raise RuntimeError("the change failed")
    assert await OutboxMessage.all().count() == 0


async def test_context_holds_ids_and_scalars_only(db):
    with pytest.raises(InvalidInput):
        await _enqueue(context={"body": {"html": "<p>hi</p>"}})
    with pytest.raises(InvalidInput):
        await _enqueue(to="not-an-address")
    with pytest.raises(InvalidInput):
        await _enqueue(to="a@example.org\r\nBcc: x@example.org")
    assert await OutboxMessage.all().count() == 0


async def test_retry_by_hand_only_for_failed_or_dead(db):
    row = (await _enqueue()).message
    with pytest.raises(InvalidInput):
        await outbox.retry_message(row.id)
    await OutboxMessage.filter(id=row.id).update(status=Status.FAILED, last_error="550")
    again = await outbox.retry_message(row.id)
    assert again.status == Status.QUEUED
    assert again.attempts == 0


async def test_list_and_stats(db):
    await _enqueue("a")
    await _enqueue("b", category=Category.BULK)
    rows = await outbox.list_messages()
    assert [r.dedupe_key for r in rows] == ["b", "a"]
    stats = await outbox.queue_stats()
    assert stats.due == 2 and stats.failed == 0 and stats.dead == 0
