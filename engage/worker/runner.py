"""The mail worker: claims due outbox rows, renders and sends them, records outcomes.

Runs inside ``engage serve`` on the embedded default, and as ``engage worker``
processes in a deployment. Safe to run several on PostgreSQL: claims are leases
taken with ``SKIP LOCKED``; a worker that dies leaves rows that are claimed again
once their lease expires (and are re-sent with the same Message-ID).

Usage::

    worker = Worker(settings, SmtpTransport(settings.smtp))
    stop = asyncio.Event()
    await worker.run(stop)        # until stop is set; then finishes in-flight rows
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from engage.clock import utcnow
from engage.mail import delivery
from engage.mail.bounces import record_rejection
from engage.mail.dkim import DkimSigner
from engage.mail.gate import mark_skipped, skip_reason, skip_reasons
from engage.mail.models import OutboxMessage, Status
from engage.mail.ratelimit import RateLimiter
from engage.mail.render import Renderer, RenderError
from engage.mail.transport import MailTransport, PermanentFailure, TemporaryFailure
from engage.mail.verp import envelope_sender
from engage.settings import Settings

log = logging.getLogger("engage.worker")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self,
        settings: Settings,
        transport: MailTransport,
        *,
        owner: str | None = None,
        concurrency: int | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.owner = owner or worker_name()
        self.concurrency = concurrency or settings.smtp.concurrency
        self.clock = clock
        self.rng = rng or random.Random()
        self.renderer = Renderer(settings)
        #: The relay's send rate, shared by every worker (None: unlimited).
        self.limiter = RateLimiter.from_settings(settings.smtp)
        #: DKIM signing of what is sent (None: no key configured).
        self.signer = DkimSigner.from_settings(settings.mail)
        self.sent = 0
        self._wake = asyncio.Event()
        #: Ids of the claimed rows not yet done with: the rows the heartbeat keeps.
        self._held: set[int] = set()

    def wake(self) -> None:
        """Look for work now instead of at the next poll (after an enqueue, say)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        log.info("worker started", extra={"owner": self.owner, "concurrency": self.concurrency})
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            while not stop.is_set():
                try:
                    handled = await self.run_once(stop)
                except Exception:
                    # The database went away for a moment, say: log, wait, go on.
                    log.exception("worker cycle failed")
                    handled = 0
                if handled == 0:
                    await self._rest()
                    await self._idle(stop)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            log.info("worker stopped", extra={"owner": self.owner, "sent": self.sent})

    async def _rest(self) -> None:
        """Nothing to send: close idle connections, so that their slots of the relay's
        connection limit (smtp.max_connections) go to workers that have mail."""
        close_idle = getattr(self.transport, "close_idle", None)
        if close_idle is not None:
            with contextlib.suppress(Exception):
                await close_idle()

    async def _idle(self, stop: asyncio.Event) -> None:
        self._wake.clear()
        waits = [asyncio.create_task(stop.wait()), asyncio.create_task(self._wake.wait())]
        await asyncio.wait(
            waits, timeout=self.settings.mail.poll_seconds, return_when=asyncio.FIRST_COMPLETED
        )
        for task in waits:
            task.cancel()

    async def _heartbeat(self) -> None:
        lease = self.settings.mail.lease_seconds
        # Runs until run() cancels it once the last row is done, not until stop is
        # set: a message still being sent after a SIGTERM must keep its lease, or
        # another worker may take the row and send it a second time.
        while True:
            await asyncio.sleep(lease / 3)
            with contextlib.suppress(Exception):
                # Only the rows still being worked on: a row whose outcome could not
                # be recorded (see run_once) must be let go, not held forever.
                await delivery.extend_leases(
                    self.owner, ids=list(self._held), lease_seconds=lease, now=self.clock()
                )

    async def run_once(self, stop: asyncio.Event | None = None) -> int:
        """Claim one batch and deliver it; returns how many rows were claimed."""
        mail = self.settings.mail
        rows = await delivery.claim_batch(
            self.owner, limit=mail.batch_size, lease_seconds=mail.lease_seconds, now=self.clock()
        )
        if not rows:
            return 0
        claimed = {row.id for row in rows}
        self._held |= claimed
        checked = await self._check(rows)
        pending: asyncio.Queue[OutboxMessage] = asyncio.Queue()
        for row in rows:
            pending.put_nowait(row)

        async def lane() -> None:
            while not pending.empty():
                if stop is not None and stop.is_set():
                    return
                row = pending.get_nowait()
                try:
                    await self.deliver(row, checked=checked)
                except Exception:
                    # Recording the outcome failed (the database went away, say).
                    # Caught here so the other lanes and the release below go on
                    # under supervision; the row stays "sending" and, no longer held,
                    # its lease runs out and it is claimed again: perhaps a resend
                    # with the same Message-ID, never a loss.
                    log.exception("cannot deliver or record a message", extra={"outbox_id": row.id})
                finally:
                    self._held.discard(row.id)

        try:
            await asyncio.gather(*(lane() for _ in range(min(self.concurrency, len(rows)))))
            leftover = []
            while not pending.empty():
                leftover.append(pending.get_nowait())
            if leftover:
                released = await delivery.release(leftover, self.owner)
                log.info("released unsent rows", extra={"count": released})
        finally:
            self._held -= claimed
        return len(rows)

    async def run_until_empty(self, *, max_cycles: int = 10_000) -> int:
        """Deliver until nothing is due (tests, ``engage mail drain``)."""
        total = 0
        for _ in range(max_cycles):
            handled = await self.run_once()
            if not handled:
                break
            total += handled
        return total

    async def _check(self, rows: list[OutboxMessage]) -> Mapping[int, str] | None:
        """The send-time check (engage.mail.gate) for a claimed batch, in a few
        queries; None when it failed (each row then asks alone)."""
        try:
            return await skip_reasons(rows)
        except Exception:
            log.exception("cannot check the batch before sending")
            return None

    async def deliver(
        self, row: OutboxMessage, *, checked: Mapping[int, str] | None = None
    ) -> Status:
        """Send ``row``, or record why not. ``checked``: the send-time check's answer
        for the row's batch (asked here when not given)."""
        now = self.clock()
        context = {"outbox_id": row.id, "template": row.template, "attempt": row.attempts}
        # Before rendering: someone who unsubscribed, bounced or withdrew consent
        # since the row was queued gets nothing (the row says why).
        try:
            skip = checked.get(row.id) if checked is not None else await skip_reason(row)
        except Exception as exc:
            log.exception("cannot check whether the message may go", extra=context)
            return await self._record_temporary_failure(row, f"check: {type(exc).__name__}: {exc}")
        if skip is not None:
            await mark_skipped(row, self.owner, reason=skip, now=now)
            log.info("skipped: %s", skip, extra=context)
            return Status.SKIPPED
        try:
            # The bytes that go out, rendered once per campaign and filled in; signed
            # after rendering (DKIM covers the List-Unsubscribe headers too).
            message = await self.renderer.render_bytes(row, now=now)
            if self.signer is not None:
                message = self.signer.sign(message)
        except RenderError as exc:
            log.error("cannot render message: %s", exc, extra=context)
            await delivery.mark_failed(row, self.owner, error=f"render: {exc}", now=now)
            return Status.FAILED
        except Exception as exc:
            # A context loader failed (a lookup, the database): perhaps passing, so
            # retried with backoff, and dead after mail.max_age_hours, rather than
            # left "sending" to come back at every lease expiry without end.
            log.exception("cannot load what the message needs", extra=context)
            error = f"render: {type(exc).__name__}: {exc}"
            return await self._record_temporary_failure(row, error)
        postponed = await self._wait_for_slot(row, context)
        if postponed is not None:
            return postponed
        try:
            await self.transport.send(
                message, sender=envelope_sender(self.settings, row), recipients=[row.to_address]
            )
        except PermanentFailure as exc:
            log.warning("permanent failure: %s", exc, extra=context)
            await delivery.mark_failed(row, self.owner, error=str(exc), now=self.clock())
            await self._record_rejection(row, exc)
            return Status.FAILED
        except TemporaryFailure as exc:
            status = await self._record_temporary_failure(row, str(exc))
            log.warning("temporary failure (%s): %s", status, exc, extra=context)
            return status
        # Between the server's 250 and this mark, a crash means a resend of the same
        # message (same Message-ID) once the lease expires: at least once, never lost.
        if await delivery.mark_sent(row, self.owner, now=self.clock()):
            self.sent += 1
            log.info("sent", extra=context)
        else:
            log.warning("sent, but the lease was lost before marking", extra=context)
        return Status.SENT

    async def _record_rejection(self, row: OutboxMessage, exc: PermanentFailure) -> None:
        """A 5xx counts as a bounce of the address (engage.mail.bounces); a failure to
        record it must not undo the row's outcome."""
        try:
            await record_rejection(
                row, exc.code or 550, str(exc), now=self.clock(), mail=self.settings.mail
            )
        except Exception:
            log.exception("cannot record the refusal as a bounce", extra={"outbox_id": row.id})

    async def _wait_for_slot(self, row: OutboxMessage, context: dict[str, object]) -> Status | None:
        """Take the next slot of the relay's send rate (engage.mail.ratelimit) and wait
        for it; None to send now, else the status of a row given back unsent."""
        if self.limiter is None:
            return None
        try:
            grant = await self.limiter.take(now=self.clock())
        except Exception as exc:
            log.exception("cannot take a slot of the relay's send rate", extra=context)
            return await self._record_temporary_failure(row, f"rate: {type(exc).__name__}: {exc}")
        if grant.defer_until is not None:
            # The hour's budget is spent (or the next slot is far off): the row waits
            # in the queue, not in this worker, and it is not an attempt.
            await delivery.postpone(row, self.owner, until=grant.defer_until)
            log.info("postponed by the relay's rate limit", extra=context)
            return Status.DEFERRED
        if grant.wait > 0:
            await asyncio.sleep(grant.wait)
        return None

    async def _record_temporary_failure(self, row: OutboxMessage, error: str) -> Status:
        return await delivery.mark_temporary_failure(
            row,
            self.owner,
            error=error,
            now=self.clock(),
            max_age=timedelta(hours=self.settings.mail.max_age_hours),
            base_delay=self.settings.mail.retry_base_seconds,
            max_delay=self.settings.mail.retry_max_seconds,
            rng=self.rng,
        )
