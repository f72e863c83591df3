"""Throughput of the mail worker against plain aiosmtplib, to one local SMTP server.

Engage: N messages are enqueued (``test_message``, transactional) into a fresh,
migrated database, then drained by ``Worker`` + ``SmtpTransport``: claim, render,
send, mark sent. Baseline: the same number of messages, rendered beforehand, sent
with plain aiosmtplib over the same number of connections. The server
(``_smtp_sink.py``) runs in its own process and accepts everything. The ratio is
Engage's messages/s over the baseline's.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import tempfile
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
from _database import BENCH_SECRET, scratch_database
from _processes import smtp_sink
from _result import Result
from tortoise.transactions import in_transaction

from engage import db
from engage.clock import utcnow
from engage.mail.models import Category, OutboxMessage, Status
from engage.mail.outbox import enqueue
from engage.mail.render import Renderer
from engage.mail.transport import SmtpTransport
from engage.settings import Settings, load_settings
from engage.worker.runner import Worker

NAME = "mail_worker"
#: Parameters by mode; the runner adds ``database``.
PARAMETERS: dict[str, dict[str, Any]] = {
    "quick": {"messages": 300, "concurrency": 4, "batch_size": 50, "rounds": 2},
    "full": {"messages": 3000, "concurrency": 8, "batch_size": 100, "rounds": 3},
}
MEASURE = "messages/s"


def _settings(url: str, smtp_port: int, var_dir: Path, params: dict[str, Any]) -> Settings:
    return load_settings(
        environ={},
        read_file=False,
        overrides={
            "app": {"var_dir": str(var_dir), "secret_key": BENCH_SECRET, "log_level": "warning"},
            "database": {"url": url},
            "smtp": {"host": "127.0.0.1", "port": smtp_port, "concurrency": params["concurrency"]},
            "mail": {"batch_size": params["batch_size"], "poll_seconds": 0.05},
        },
    )


async def _enqueue(count: int, *, round_no: int) -> None:
    async with in_transaction() as conn:
        for i in range(count):
            await enqueue(
                "test_message",
                to=f"alumnus{i}@example.org",
                to_name=f"Alumnus {i}",
                category=Category.TRANSACTIONAL,
                dedupe_key=f"bench:{round_no}:{i}",
                context={"note": f"Benchmark message {i} of round {round_no}."},
                using_db=conn,
            )


async def _prerender(settings: Settings) -> list[tuple[EmailMessage, str]]:
    renderer = Renderer(settings)
    rows = await OutboxMessage.filter(status=Status.QUEUED).order_by("id")
    return [(await renderer.render(row, now=utcnow()), row.to_address) for row in rows]


async def _drain(settings: Settings, params: dict[str, Any]) -> tuple[float, int]:
    """Seconds the worker took to send everything due, and how many it sent."""
    transport = SmtpTransport(settings.smtp)
    worker = Worker(settings, transport, concurrency=params["concurrency"])
    start = time.perf_counter()
    try:
        await worker.run_until_empty()
    finally:
        await transport.close()
    return time.perf_counter() - start, worker.sent


async def _send_plain(
    messages: list[tuple[EmailMessage, str]], *, port: int, concurrency: int, sender: str
) -> tuple[float, int]:
    """Seconds plain aiosmtplib took to send ``messages`` over ``concurrency`` connections."""
    pending: Iterator[tuple[EmailMessage, str]] = iter(messages)
    sent = itertools.count()

    async def lane() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30, start_tls=False)
        await client.connect()
        try:
            for message, to in pending:
                await client.send_message(message, sender=sender, recipients=[to])
                next(sent)
        finally:
            await client.quit()

    start = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return time.perf_counter() - start, next(sent)


async def _measure(
    settings: Settings, params: dict[str, Any], smtp_port: int
) -> tuple[list[float], list[float], list[str]]:
    count, engage_rates, base_rates, notes = params["messages"], [], [], []
    async with db.database(settings) as ctx:
        await db.apply_migrations(ctx)
        messages: list[tuple[EmailMessage, str]] = []
        for round_no in range(params["rounds"]):
            await _enqueue(count, round_no=round_no)
            messages = messages or await _prerender(settings)
            sides = ["engage", "baseline"] if round_no % 2 == 0 else ["baseline", "engage"]
            for side in sides:
                if side == "engage":
                    seconds, sent = await _drain(settings, params)
                    rates = engage_rates
                else:
                    seconds, sent = await _send_plain(
                        messages,
                        port=smtp_port,
                        concurrency=params["concurrency"],
                        sender=settings.mail.from_address,
                    )
                    rates = base_rates
                rates.append(sent / seconds)
                if sent != count:
                    notes.append(f"{side}, round {round_no}: sent {sent} of {count}")
    return engage_rates, base_rates, notes


def run(params: dict[str, Any]) -> Result:
    """Measure messages/s of Engage's worker against plain aiosmtplib.

    ``params``: messages (per round), concurrency (SMTP connections), batch_size
    (rows claimed at a time), rounds, database ("sqlite" or "postgres").
    """
    with (
        tempfile.TemporaryDirectory(prefix="engage-bench-") as tmp,
        scratch_database(params["database"], Path(tmp)) as url,
        smtp_sink(Path(tmp)) as sink,
    ):
        settings = _settings(url, sink.port, Path(tmp) / "var", params)
        engage_rates, base_rates, notes = asyncio.run(_measure(settings, params, sink.port))
    expected = 2 * params["messages"] * params["rounds"]
    if sink.received != expected:
        notes.append(f"the SMTP server accepted {sink.received} messages, expected {expected}")

    def figures(rates: list[float]) -> dict[str, float]:
        return {MEASURE: round(statistics.median(rates), 1), "messages": params["messages"]}

    return Result(NAME, MEASURE, figures(engage_rates), figures(base_rates), dict(params), notes)
