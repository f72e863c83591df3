"""Bounces and complaints: what a failed delivery does to an address.

The bounce receiver (:mod:`engage.mail.bounce_server`) turns each report it
believes into a :class:`BounceReport` about one outbox message; the worker reports a
5xx reply at send time with :func:`record_rejection`. Either way::

    await record_bounce(BounceReport(kind=BounceKind.HARD, message_id=row.id,
                                     status="5.1.1", diagnostic="550 5.1.1 User unknown",
                                     reporter="mx.example.org"))

The rules (DESIGN.md, issue 10):

- a hard bounce suppresses the address for everything (scope all, reason
  hard_bounce): no bulk mail, and no transactional mail either. Whoever keeps
  addresses is told (:func:`on_hard_bounce`): the alumni flag "primary email
  failing", and mail then goes to a verified secondary address;
- soft bounces are counted per address: ``mail.soft_bounce_limit`` of them within
  ``mail.soft_bounce_days`` make a hard bounce;
- a complaint ("this is spam") suppresses the address for all bulk mail (scope all,
  reason complaint); transactional mail still goes;
- a report about no message we sent is ignored, and each message counts once per
  kind (a report delivered twice changes nothing the second time).

Every report believed is kept as a :class:`~engage.mail.models.Bounce`, with the
remote server's words, for the staff mail page.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from engage.clock import utcnow
from engage.mail.dsn import classify, enhanced_status
from engage.mail.hooks import message_bounced
from engage.mail.models import (
    Bounce,
    BounceKind,
    OutboxMessage,
    SuppressionReason,
    SuppressionScope,
)
from engage.mail.suppression import address_key, suppress
from engage.settings import MailSettings

log = logging.getLogger("engage.mail.bounces")

#: ``listener(address_key, now, conn)``: runs in the transaction that records a hard
#: bounce of ``address_key``.
HardBounceListener = Callable[[str, datetime, BaseDBAsyncClient], Awaitable[None]]
_HARD_BOUNCE_LISTENERS: list[HardBounceListener] = []

#: ``Bounce.reporter`` of a reply at send time.
SMTP_REPORTER = "smtp"


@dataclass(frozen=True)
class BounceReport:
    """One report about one message we sent."""

    kind: BounceKind
    #: The outbox row the report is about (from the envelope token); None: unknown.
    message_id: int | None
    #: RFC 3463 status ("5.1.1") or the SMTP reply code.
    status: str = ""
    #: The remote server's words, as reported.
    diagnostic: str = ""
    #: The reporting server ("mx.example.org"), or "smtp" for a reply at send time.
    reporter: str = ""
    #: The address the report names (the message's own address is what counts).
    address: str = ""


def on_hard_bounce(listener: HardBounceListener) -> HardBounceListener:
    """Register ``listener`` to hear of hard bounces (a decorator)::

    @on_hard_bounce
    async def _flag(key: str, now: datetime, conn: BaseDBAsyncClient) -> None: ...
    """
    if listener not in _HARD_BOUNCE_LISTENERS:
        _HARD_BOUNCE_LISTENERS.append(listener)
    return listener


async def record_bounce(
    report: BounceReport, *, now: datetime | None = None, mail: MailSettings | None = None
) -> Bounce | None:
    """Apply the rules to ``report``; the Bounce kept, or None when ignored (no such
    message, or this message's report of that kind was already counted).

    ``mail`` gives the soft bounce limit and window (defaults: the settings' own).
    """
    row = await OutboxMessage.get_or_none(id=report.message_id) if report.message_id else None
    if row is None:
        log.info("bounce report about no message of ours ignored", extra={"kind": report.kind})
        return None
    return await _record(row, report, now=now or utcnow(), mail=mail or MailSettings())


async def record_rejection(
    row: OutboxMessage,
    code: int,
    text: str,
    *,
    now: datetime | None = None,
    mail: MailSettings | None = None,
) -> Bounce | None:
    """A 5xx reply at send time: a bounce without a report.

    Counted like the same code in a report: hard for an address the server refuses
    ("550 5.1.1 No such user"), soft when the address is good but the message was
    not taken ("552 5.2.2 Mailbox full", a policy block). A refusal about the
    session or the sender rather than the recipient (535 authentication failed,
    503 bad sequence, 5.1.7 bad sender address) is not the address's fault and
    counts for nothing: the message is marked failed, the address stays.
    """
    kind = classify(diagnostic=text, code=code)
    if kind is None or kind is BounceKind.COMPLAINT:
        log.info("refusal not about the recipient", extra={"outbox_id": row.id, "code": code})
        return None
    found = enhanced_status(text) or str(code)
    report = BounceReport(
        kind=kind,
        message_id=row.id,
        status=found,
        diagnostic=text,
        reporter=SMTP_REPORTER,
        address=row.to_address,
    )
    return await _record(row, report, now=now or utcnow(), mail=mail or MailSettings())


async def _record(
    row: OutboxMessage, report: BounceReport, *, now: datetime, mail: MailSettings
) -> Bounce | None:
    address = row.to_address
    key = address_key(address)
    async with in_transaction() as conn:
        if await Bounce.filter(message_id=row.id, kind=report.kind).using_db(conn).exists():
            log.info("bounce already counted", extra={"outbox_id": row.id, "kind": report.kind})
            return None
        bounce = await Bounce.create(
            received_at=now,
            kind=report.kind,
            address_key=key,
            message_id=row.id,
            status_code=report.status[:16],
            diagnostic=report.diagnostic[:4000],
            reporter=report.reporter[:200],
            using_db=conn,
        )
        detail = _detail(report)
        if report.kind is BounceKind.COMPLAINT:
            await suppress(
                address,
                SuppressionScope.ALL,
                SuppressionReason.COMPLAINT,
                detail=detail,
                message_id=row.id,
                now=now,
                using_db=conn,
            )
        elif report.kind is BounceKind.HARD:
            await _hard(address, detail, row.id, now, conn)
        else:
            since = now - timedelta(days=mail.soft_bounce_days)
            count = await (
                Bounce.filter(address_key=key, kind=BounceKind.SOFT, received_at__gte=since)
                .using_db(conn)
                .count()
            )
            if count >= mail.soft_bounce_limit:
                days = f"{mail.soft_bounce_days:g}"
                await _hard(
                    address,
                    f"{count} soft bounces in {days} days; last: {detail}",
                    row.id,
                    now,
                    conn,
                )
        # The person's timeline (engage.mail.hooks), in the same transaction.
        await message_bounced(row, report.kind, detail, now, conn)
    log.info(
        "bounce recorded",
        extra={"outbox_id": row.id, "kind": str(report.kind), "status": report.status},
    )
    return bounce


async def _hard(
    address: str, detail: str, message_id: int, now: datetime, conn: BaseDBAsyncClient
) -> None:
    await suppress(
        address,
        SuppressionScope.ALL,
        SuppressionReason.HARD_BOUNCE,
        detail=detail,
        message_id=message_id,
        now=now,
        using_db=conn,
    )
    for listener in _HARD_BOUNCE_LISTENERS:
        await listener(address_key(address), now, conn)


def _detail(report: BounceReport) -> str:
    words = " ".join(report.diagnostic.split()) or report.status
    return f"{report.reporter}: {words}" if report.reporter else words
