"""Running the worker and the scheduler (and on the embedded default, the mail sink;
with ``mail.bounce_port`` set, the bounce receiver) in a process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from engage.mail.bounce_server import BounceServer, start_bounce_server
from engage.mail.ratelimit import ConnectionSlots
from engage.mail.sink import Sink, start_sink
from engage.mail.transport import SmtpTransport
from engage.settings import Settings
from engage.worker.lock import sender_lock
from engage.worker.runner import Worker, worker_name
from engage.worker.scheduler import Scheduler

log = logging.getLogger("engage.worker")


@dataclass
class MailService:
    worker: Worker | None
    sink: Sink | None
    scheduler: Scheduler | None = None
    bounces: BounceServer | None = None


@contextlib.asynccontextmanager
async def mail_service(
    settings: Settings,
    *,
    run_worker: bool,
    hold_lock: bool = True,
    concurrency: int | None = None,
) -> AsyncIterator[MailService]:
    """Start the embedded sink (if configured) and the worker for the block's duration,
    with the scheduler (reminders) and, when ``mail.bounce_port`` is set, the bounce
    receiver beside the worker.

    On exit the worker stops claiming, finishes or releases its rows, the scheduler
    finishes its turn, and the sink closes. With ``hold_lock`` (on SQLite) raises
    :class:`SenderLockHeld` if another process already serves this database.
    """
    sink = None
    if settings.smtp.is_embedded:
        sink = await start_sink(settings.var_dir / "mailbox", port=settings.smtp.port)
        log.info("embedded mail sink listening", extra={"port": sink.port})
    lock = sender_lock(settings) if hold_lock else None
    worker = None
    task = None
    scheduler = None
    scheduling = None
    bounces = None
    stop = asyncio.Event()
    try:
        if lock is not None:
            lock.acquire()
        if run_worker:
            owner = worker_name()
            transport = SmtpTransport(
                settings.smtp,
                host="127.0.0.1" if sink else None,
                port=sink.port if sink else None,
                # The relay's connection limit across processes (None: none).
                gate=ConnectionSlots.from_settings(settings.smtp, holder=owner),
            )
            worker = Worker(settings, transport, owner=owner, concurrency=concurrency)
            task = asyncio.create_task(worker.run(stop))
            scheduler = Scheduler(settings)
            scheduling = asyncio.create_task(scheduler.run(stop))
            bounces = await _start_bounces(settings)
        yield MailService(worker=worker, sink=sink, scheduler=scheduler, bounces=bounces)
    finally:
        stop.set()
        if bounces is not None:
            await bounces.stop()
        if scheduling is not None:
            await scheduling
        if task is not None and worker is not None:
            await task
            await worker.transport.close()
        if lock is not None:
            lock.release()
        if sink is not None:
            await sink.stop()


async def _start_bounces(settings: Settings) -> BounceServer | None:
    if not settings.mail.bounce_port:
        return None
    try:
        return await start_bounce_server(settings)
    except OSError:
        # Sending goes on without it; the log says why bounces are not heard.
        log.exception(
            "cannot start the bounce receiver",
            extra={"host": settings.mail.bounce_host, "port": settings.mail.bounce_port},
        )
        return None
