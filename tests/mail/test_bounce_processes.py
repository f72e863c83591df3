"""The bounce receiver in real processes: ``engage bounces`` on its own, and inside
``engage worker`` processes that share one port on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiosmtplib
import pytest

from engage import db as engage_db
from engage.mail import outbox
from engage.mail.models import Category, OutboxMessage, Suppression
from engage.mail.verp import envelope_sender
from engage.settings import load_settings
from tests.mail.fixtures.bounces import load
from tests.mail.processes import (
    WorkerPool,
    message_id,
    running_sink,
    wait_for,
    write_worker_config,
)

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _engage() -> str:
    return str(Path(sys.executable).parent / "engage")


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not (k.startswith("ENGAGE_") and "__" in k)}


async def _queue(key: str) -> OutboxMessage:
    return (
        await outbox.enqueue(
            "test_message", to=f"{key}@example.org", category=Category.BULK, dedupe_key=key
        )
    ).message


async def _return(port: int, config: Path, row: OutboxMessage) -> None:
    settings = load_settings(config, environ={})
    sender = envelope_sender(settings, row)
    raw = load(
        "postfix_hard",
        envelope=sender,
        recipient=row.to_address,
        message_id=message_id(row),
        domain=settings.mail.domain,
    )
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10) as smtp:
        await smtp.mail("")
        await smtp.rcpt(sender)
        await smtp.data(raw)


async def _suppressed(address: str) -> bool:
    return await Suppression.exists(address_key=address)


@contextlib.asynccontextmanager
async def _bounces_command(config: Path, out: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    with out.open("wb") as stdout:
        proc = await asyncio.create_subprocess_exec(
            _engage(),
            "bounces",
            "--config",
            str(config),
            stdout=stdout,
            stderr=asyncio.subprocess.STDOUT,
            cwd=config.parent,
            env=_environment(),
        )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_engage_bounces_on_its_own(sqlite_url, tmp_path):
    port = _free_port()
    config = write_worker_config(tmp_path, db_url=sqlite_url, smtp_port=2525, bounce_port=port)
    settings = load_settings(config, environ={})
    async with engage_db.database(settings):
        row = await _queue("alone")
        out = tmp_path / "bounces.out"
        async with _bounces_command(config, out) as proc:

            async def listening() -> bool:
                assert proc.returncode is None, out.read_text()
                return "bounce receiver listening" in out.read_text()

            await wait_for(listening, within=20, what="engage bounces to listen")
            await _return(port, config, row)
            await wait_for(
                lambda: _suppressed("alone@example.org"), within=10, what="the bounce recorded"
            )
            # SQLite has one serving process: a second receiver stops with one line.
            second = await asyncio.create_subprocess_exec(
                _engage(),
                "bounces",
                "--config",
                str(config),
                "--port",
                str(_free_port()),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=config.parent,
                env=_environment(),
            )
            _stdout, stderr = await asyncio.wait_for(second.communicate(), 30)
            assert second.returncode == 2
            assert stderr.decode().strip().startswith("engage: another process already serves")
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 20) == 0


async def test_engage_bounces_needs_a_port(sqlite_url, tmp_path):
    config = write_worker_config(tmp_path, db_url=sqlite_url, smtp_port=2525)
    proc = await asyncio.create_subprocess_exec(
        _engage(),
        "bounces",
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_environment(),
    )
    _stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert stderr.decode().strip() == (
        "engage: mail.bounce_port: set a port (or --port) to run the bounce receiver"
    )


async def test_worker_processes_share_the_bounce_port(postgres_url, tmp_path):
    port = _free_port()
    async with running_sink(tmp_path) as sink:
        config = write_worker_config(
            tmp_path, db_url=postgres_url, smtp_port=sink.port, bounce_port=port
        )
        settings = load_settings(config, environ={})
        async with engage_db.database(settings), WorkerPool(config) as pool:
            rows = [await _queue(f"shared{i}") for i in range(12)]
            workers = [await pool.start("w1"), await pool.start("w2")]
            for worker in workers:
                await worker.wait_running()
            for worker in workers:
                listening = [
                    r
                    for r in worker.log_records()
                    if r.get("message") == "bounce receiver listening"
                ]
                assert listening and listening[0]["port"] == port, worker.stderr()

            async def all_sent() -> bool:
                return sink.count() >= len(rows)

            await wait_for(all_sent, within=60, what="the messages to be sent")
            for row in rows:
                await _return(port, config, row)

            async def all_suppressed() -> bool:
                return await Suppression.filter(address_key__startswith="shared").count() == len(
                    rows
                )

            await wait_for(all_suppressed, within=20, what="every bounce recorded")
            for worker in workers:
                assert await worker.terminate() == 0
