"""The relay's limits, held in the database: the send rate (per second and per hour),
connections at once across processes, messages per connection; and workers on
PostgreSQL against a server answering occasional 421s: everything goes, nothing
deadlocks, the limits hold."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.smtp import SMTP

from engage import db as engage_db
from engage.mail.models import Category, OutboxMessage, RelayBudget, RelayConnection, Status
from engage.mail.outbox import enqueue
from engage.mail.ratelimit import ConnectionSlots, RateLimiter, relay_key
from engage.mail.transport import MemoryTransport, SmtpTransport, TemporaryFailure
from engage.worker.runner import Worker
from tests.conftest import make_settings
from tests.mail.processes import WorkerPool, wait_for, write_worker_config
from tests.smtp_server import ScriptedSMTP

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


async def test_slots_are_spaced_by_the_rate_and_the_hour_is_capped(db):
    limiter = RateLimiter("relay:587", per_second=4, per_hour=5)

    grants = [await limiter.take(now=T0) for _ in range(5)]

    assert [g.at for g in grants] == [T0 + timedelta(seconds=0.25 * i) for i in range(5)]
    assert [g.wait for g in grants] == [0.25 * i for i in range(5)]
    # The hour is full: no slot, the row waits for the next hour (not in the worker).
    full = await limiter.take(now=T0 + timedelta(minutes=10))
    assert full.at is None and full.defer_until == T0 + timedelta(hours=1)
    # A new hour, a new count; a slot in the past is not waited for.
    later = await limiter.take(now=T0 + timedelta(hours=1, seconds=1))
    assert later.at == T0 + timedelta(hours=1, seconds=1) and later.wait == 0
    budget = await RelayBudget.get(relay="relay:587")
    assert budget.hour_count == 1


async def test_a_slot_too_far_off_is_not_taken(db):
    limiter = RateLimiter("relay:25", per_second=1, max_wait=2)

    taken = [await limiter.take(now=T0) for _ in range(3)]
    refused = await limiter.take(now=T0)

    assert [g.wait for g in taken] == [0, 1, 2]
    assert refused.defer_until == T0 + timedelta(seconds=3)
    assert (await limiter.take(now=T0 + timedelta(seconds=3))).at == T0 + timedelta(seconds=3)


async def test_concurrent_takes_get_distinct_slots(db):
    # Separate limiters, as separate processes would have: only the row is shared.
    limiters = [RateLimiter("relay", per_second=10) for _ in range(20)]

    grants = await asyncio.gather(*(limiter.take(now=T0) for limiter in limiters))

    slots = sorted(g.at for g in grants)
    assert slots == [T0 + timedelta(seconds=0.1 * i) for i in range(20)]
    assert (await RelayBudget.get(relay="relay")).hour_count == 20


async def test_connection_slots_are_leased_across_holders(db):
    a = ConnectionSlots("relay", limit=2, holder="worker-a", lease_seconds=30)
    b = ConnectionSlots("relay", limit=2, holder="worker-b", lease_seconds=30)

    first, second = await a.open(now=T0), await b.open(now=T0)
    assert first and second and first != second
    assert await a.open(now=T0) is None  # the limit is across holders
    await a.close(first)
    third = await b.open(now=T0)
    assert third is not None and third.startswith("worker-b/")

    # A holder that died: its lease runs out and the slot is taken over.
    assert await a.open(now=T0 + timedelta(seconds=10)) is None
    taken_over = await a.open(now=T0 + timedelta(seconds=31))
    assert taken_over is not None
    assert taken_over.startswith("worker-a/")
    # The slot taken over was third's (the lowest free): its renewal fails, so its
    # transport drops that connection; second's late lease was not taken and renews.
    assert not await b.renew(third, now=T0 + timedelta(seconds=32))
    assert await b.renew(second, now=T0 + timedelta(seconds=32))
    assert await RelayConnection.filter(relay="relay").count() == 2


async def test_a_connection_is_closed_after_messages_per_connection(
    relay_settings, db, smtp_server
):
    smtp = relay_settings.smtp.model_copy(update={"messages_per_connection": 3, "concurrency": 1})
    transport = SmtpTransport(smtp)
    try:
        for i in range(7):
            await transport.send(
                _message(i), sender="bounces@engage.localhost", recipients=[f"a{i}@example.org"]
            )
    finally:
        await transport.close()

    assert len(smtp_server.received) == 7
    assert smtp_server.connections == 3  # 3 + 3 + 1


def _message(i: int) -> bytes:
    return (
        f"From: alumni@engage.localhost\r\nTo: a{i}@example.org\r\nSubject: {i}\r\n"
        f"Message-ID: <{i}.{uuid.uuid4().hex}@engage.localhost>\r\n\r\nBody {i}\r\n"
    ).encode()


class _Tracking(SMTP):
    """Counts connections open at once (the relay's view of the limit)."""

    open_now = 0
    most = 0

    def connection_made(self, transport):
        type(self).open_now += 1
        type(self).most = max(type(self).most, type(self).open_now)
        super().connection_made(transport)

    def connection_lost(self, exc):
        type(self).open_now -= 1
        super().connection_lost(exc)


@pytest.fixture
async def tracking_server():
    handler = ScriptedSMTP()

    class Server(_Tracking):
        open_now = 0
        most = 0

    loop = asyncio.get_running_loop()
    handler.server = await loop.create_server(
        lambda: Server(handler, hostname="test-smtp", loop=loop), host="127.0.0.1", port=0
    )
    handler.port = handler.server.sockets[0].getsockname()[1]
    handler.tracking = Server  # type: ignore[attr-defined]
    yield handler
    handler.server.close()
    await handler.server.wait_closed()


async def test_two_transports_share_one_connection_slot(db_url, tmp_path, db, tracking_server):
    """Two "processes" (transports with their own gates) of 3 lanes each, and a relay
    limit of one connection: never two connections at once, and everything goes."""
    settings = make_settings(
        db_url,
        tmp_path / "var",
        smtp={"host": "127.0.0.1", "port": tracking_server.port, "concurrency": 3},
    )
    transports = [
        SmtpTransport(
            settings.smtp,
            gate=ConnectionSlots(relay_key(settings.smtp), limit=1, holder=f"p{n}"),
        )
        for n in range(2)
    ]

    async def send(n: int) -> None:
        transport = transports[n % 2]
        for _attempt in range(20):
            try:
                await transport.send(
                    _message(n), sender="b@engage.localhost", recipients=[f"a{n}@example.org"]
                )
                return
            except TemporaryFailure:  # no slot within the timeout: try again
                await asyncio.sleep(0.05)
        raise AssertionError(f"message {n} never went")

    async def one_batch(transport: SmtpTransport, numbers: range) -> None:
        await asyncio.gather(*(send(n) for n in numbers))
        await transport.close_idle()  # done: the slot goes to the other process

    try:
        await asyncio.gather(
            one_batch(transports[0], range(0, 12, 2)), one_batch(transports[1], range(1, 12, 2))
        )
    finally:
        for transport in transports:
            await transport.close()

    assert len(tracking_server.received) == 12
    assert tracking_server.tracking.most == 1
    assert await RelayConnection.filter(holder__isnull=False).count() == 0  # all given back


async def test_a_full_hour_postpones_rows_without_counting_an_attempt(settings, db):
    hourly = settings.model_copy(
        update={"smtp": settings.smtp.model_copy(update={"rate_per_hour": 3})}
    )
    for i in range(5):
        await enqueue(
            "test_message",
            to=f"a{i}@example.org",
            category=Category.TRANSACTIONAL,
            dedupe_key=f"hour:{i}",
            context={"note": "n"},
        )
    transport = MemoryTransport()
    worker = Worker(hourly, transport, owner="w", concurrency=1)

    await worker.run_until_empty()

    assert len(transport.sent) == 3
    waiting = await OutboxMessage.filter(status=Status.QUEUED).order_by("id")
    assert len(waiting) == 2
    budget = await RelayBudget.get(relay=relay_key(hourly.smtp))
    for row in waiting:
        assert row.attempts == 0 and row.last_error is None
        assert row.next_attempt_at == budget.hour_started_at + timedelta(hours=1)


# --- Several worker processes on PostgreSQL, a relay that says 421 now and then -----


def _config_with_limits(folder, *, db_url, port, **smtp):
    path = write_worker_config(folder, db_url=db_url, smtp_port=port, concurrency=3, batch_size=10)
    text = path.read_text()
    extra = "".join(f"{key} = {value}\n" for key, value in smtp.items())
    path.write_text(text.replace("[smtp]\n", f"[smtp]\n{extra}", 1))
    return path


@pytest.mark.slow
async def test_workers_with_retries_and_limits_never_deadlock(
    postgres_url, tmp_path, tracking_server
):
    messages, rate, workers = 60, 20.0, 3
    # Every seventh DATA is refused for now: those messages are retried later.
    tracking_server.script = [
        "421 4.7.0 Try again later" if i % 7 == 3 else "accept" for i in range(messages + 20)
    ]
    arrivals: list[float] = []
    handle = tracking_server.handle_DATA

    async def timed(server, session, envelope):
        reply = await handle(server, session, envelope)
        if reply.startswith("250"):
            arrivals.append(time.monotonic())
        return reply

    tracking_server.handle_DATA = timed  # type: ignore[method-assign]
    settings = make_settings(postgres_url, tmp_path / "var")
    async with engage_db.database(settings):
        for i in range(messages):
            await enqueue(
                "test_message",
                to=f"a{i}@example.org",
                category=Category.BULK,
                campaign="drill:1",
                dedupe_key=f"drill:{i}",
                context={"note": f"message {i}"},
            )
        config = _config_with_limits(
            tmp_path,
            db_url=postgres_url,
            port=tracking_server.port,
            rate_per_second=rate,
            max_connections=2,
            messages_per_connection=5,
        )

        async def all_sent() -> bool:
            return await OutboxMessage.filter(status=Status.SENT).count() == messages

        async with WorkerPool(config) as pool:
            started = [await pool.start(f"w{n}") for n in range(workers)]
            for worker in started:
                await worker.wait_running()
            await wait_for(all_sent, within=180, what="every message to be sent")
            for worker in started:
                assert await worker.terminate() == 0

        statuses = await OutboxMessage.all().values_list("status", flat=True)
        assert set(statuses) == {Status.SENT}
        retried = await OutboxMessage.filter(attempts__gt=1).count()
        assert retried >= 1  # some 421s were met, and the rows went on the next try
        assert await RelayConnection.filter(holder__isnull=False).count() == 0

    received = {msg["Message-ID"] for msg in tracking_server.messages()}
    assert len(received) == messages
    # Never more connections at once than the relay allows, across the processes.
    assert tracking_server.tracking.most <= 2
    # The rate holds across processes: 60 messages at 20/s take at least ~3 s (a
    # lower bound, which slowness cannot break; only the first message's delay is
    # allowed for).
    assert arrivals[-1] - arrivals[0] >= (messages - 1) / rate - 1.0
    assert sum(1 for w in started for _ in w.sent_ids()) == messages
