"""The worker against a real SMTP server (aiosmtpd) and a real database."""

from __future__ import annotations

import random
from datetime import timedelta

from tortoise import connections

from engage.mail import delivery, outbox
from engage.mail.models import Category, OutboxMessage, Status, Suppression
from engage.mail.verp import envelope_sender


async def _enqueue(key: str, **kwargs) -> OutboxMessage:
    kwargs.setdefault("to", f"{key}@example.org")
    kwargs.setdefault("category", Category.TRANSACTIONAL)
    kwargs.setdefault("template", "test_message")
    template = kwargs.pop("template")
    return (await outbox.enqueue(template, dedupe_key=key, **kwargs)).message


async def test_sends_and_marks(worker, smtp_server, clock):
    rows = [await _enqueue(f"m{i}", now=clock()) for i in range(3)]
    assert await worker.run_until_empty() == 3
    assert len(smtp_server.received) == 3
    ids = {m["Message-ID"] for m in smtp_server.messages()}
    assert ids == {f"<{r.message_key}@engage.localhost>" for r in rows}
    for row in rows:
        await row.refresh_from_db()
        assert row.status == Status.SENT
        assert row.attempts == 1
        assert row.sent_at == clock()
        assert row.lease_owner is None
    # The envelope sender names the message (VERP): bounces come back to it.
    first = next(r for r in rows if r.to_address == smtp_server.received[0].rcpt_tos[0])
    assert smtp_server.received[0].mail_from == envelope_sender(worker.settings, first)
    assert smtp_server.received[0].mail_from.startswith("bounces+")


async def test_connections_are_reused(worker, smtp_server, clock):
    worker.concurrency = 1
    for i in range(5):
        await _enqueue(f"r{i}", now=clock())
    await worker.run_until_empty()
    assert len(smtp_server.received) == 5
    assert smtp_server.connections == 1


async def test_transactional_goes_before_bulk(worker, smtp_server, clock):
    worker.concurrency = 1
    await _enqueue("bulk", category=Category.BULK, now=clock())
    await _enqueue("reset", category=Category.TRANSACTIONAL, now=clock())
    await worker.run_until_empty()
    assert [r.rcpt_tos[0] for r in smtp_server.received] == [
        "reset@example.org",
        "bulk@example.org",
    ]


async def test_temporary_failure_is_retried_with_backoff(worker, smtp_server, clock):
    smtp_server.script = ["451 4.3.0 Mailbox temporarily unavailable"]
    row = await _enqueue("t", now=clock())
    await worker.run_until_empty()
    await row.refresh_from_db()
    assert row.status == Status.DEFERRED
    assert row.attempts == 1
    assert "451" in row.last_error
    delay = (row.next_attempt_at - clock()).total_seconds()
    assert 30 <= delay <= 60  # first retry: half to all of retry_base_seconds
    # Not due yet: nothing happens.
    assert await worker.run_until_empty() == 0
    clock.advance(seconds=delay)
    await worker.run_until_empty()
    await row.refresh_from_db()
    assert row.status == Status.SENT
    assert row.attempts == 2
    assert len(smtp_server.received) == 1


async def test_dropped_connection_and_stall_are_temporary(
    worker, smtp_server, clock, relay_settings
):
    smtp_server.script = ["drop", ("stall", 3.0)]  # the stall outlasts the 2 s timeout
    a = await _enqueue("drop", now=clock())
    worker.concurrency = 1
    await worker.run_until_empty()
    await a.refresh_from_db()
    assert a.status == Status.DEFERRED
    clock.advance(hours=1)
    await worker.run_until_empty()
    await a.refresh_from_db()
    assert a.status == Status.DEFERRED
    assert "Timeout" in a.last_error or "timed out" in a.last_error.lower()
    clock.advance(hours=2)
    await worker.run_until_empty()
    await a.refresh_from_db()
    assert a.status == Status.SENT
    assert a.attempts == 3


async def test_permanent_failure_is_not_retried(worker, smtp_server, clock):
    smtp_server.script = ["550 5.1.1 <x@example.org>: Recipient address rejected"]
    row = await _enqueue("p", now=clock())
    await worker.run_until_empty()
    await row.refresh_from_db()
    assert row.status == Status.FAILED
    assert row.last_error.startswith("550 5.1.1")
    clock.advance(days=3)
    assert await worker.run_until_empty() == 0
    # The 5xx counted as a hard bounce: a retry would be skipped until the
    # suppression is lifted (staff, on the mail page). Then a person can send it again.
    await Suppression.filter(address_key="p@example.org").delete()
    await outbox.retry_message(row.id, now=clock())
    await worker.run_until_empty()
    await row.refresh_from_db()
    assert row.status == Status.SENT


async def test_dead_after_the_maximum_age(worker, smtp_server, clock):
    smtp_server.script = ["421 4.7.0 Try again later"] * 500
    row = await _enqueue("d", now=clock())
    started = clock()
    delays = []
    while True:
        await worker.run_until_empty()
        await row.refresh_from_db()
        if row.status != Status.DEFERRED:
            break
        delays.append((row.next_attempt_at - clock()).total_seconds())
        clock.now = row.next_attempt_at
    assert row.status == Status.DEAD
    assert clock() - started >= timedelta(hours=48)
    # Exponential: each wait at least as long as half the one before, capped at 1 h.
    assert delays[0] <= 60 and max(delays) <= 3600
    assert delays[5] > delays[0] * 4
    assert len(smtp_server.received) == 0
    stats = await outbox.queue_stats(now=clock())
    assert stats.dead == 1


def test_retry_delay_is_exponential_with_jitter():
    rng = random.Random(1)
    for attempt, ceiling in [(1, 60), (2, 120), (3, 240), (7, 3600), (20, 3600)]:
        for _ in range(50):
            delay = delivery.retry_delay(attempt, base=60, maximum=3600, rng=rng)
            assert ceiling / 2 <= delay <= ceiling


async def test_expired_lease_is_claimed_again_and_a_live_one_is_not(worker, smtp_server, clock):
    row = await _enqueue("lease", now=clock())
    claimed = await delivery.claim_batch("dead-worker", limit=10, lease_seconds=300, now=clock())
    assert [r.id for r in claimed] == [row.id]
    # The lease is live: nobody else takes the row.
    assert await worker.run_until_empty() == 0
    clock.advance(seconds=301)
    assert await worker.run_until_empty() == 1
    await row.refresh_from_db()
    assert row.status == Status.SENT
    assert row.attempts == 2
    # The dead worker, back from the grave, cannot overwrite the outcome.
    assert not await delivery.mark_sent(claimed[0], "dead-worker", now=clock())
    assert not await delivery.mark_failed(claimed[0], "dead-worker", error="x", now=clock())
    await row.refresh_from_db()
    assert row.status == Status.SENT


async def test_unrenderable_message_fails_without_sending(worker, smtp_server, clock):
    row = await _enqueue("bad", template="no_such_template", now=clock())
    await worker.run_until_empty()
    await row.refresh_from_db()
    assert row.status == Status.FAILED
    assert "template not found" in row.last_error
    assert smtp_server.received == []


async def test_outbox_holds_no_body_and_no_token(worker, smtp_server, clock, relay_settings):
    await _enqueue("secret", to_name="Ілля Коваленко", context={"note": "Room 12"}, now=clock())
    await worker.run_until_empty()
    sent = smtp_server.messages()[0]
    body_text = sent.get_body(("plain",)).get_content()
    html = sent.get_body(("html",)).get_content()
    conn = connections.get("default")
    _, rows = await conn.execute_query("SELECT * FROM mail_outbox")
    dump = " ".join(str(v) for row in rows for v in dict(row).values())
    assert "This is a test message" in body_text
    assert "This is a test message" not in dump
    assert "<html" not in dump and "<p>" not in html[:0] + dump
    assert str(sent["Subject"]) not in dump
    assert relay_settings.app.secret_key not in dump
