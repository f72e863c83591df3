"""What the mail package tells other domains: a message delivered, a bounce received.

The mail package knows nothing of alumni or events. A domain that cares registers
a listener (importing the domain is enough)::

    @on_sent
    async def _delivered(row: OutboxMessage, at: datetime) -> None: ...

    @on_bounce
    async def _bounced(row: OutboxMessage, kind: BounceKind, detail: str,
                       at: datetime, conn: BaseDBAsyncClient) -> None: ...

A sent listener runs once the worker has marked the row sent, after that statement:
a failing listener is logged and never undoes the delivery (nor makes the worker
send the message again). It runs on the send path, once per message: it should
return at once for rows it has no interest in, and cost a statement or two for the
others. A bounce listener runs inside the transaction that records the bounce.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from engage.mail.models import BounceKind, OutboxMessage

log = logging.getLogger("engage.mail.hooks")

#: ``listener(row, at)``: the row was delivered (marked sent) at ``at``.
SentListener = Callable[[OutboxMessage, datetime], Awaitable[None]]
#: ``listener(row, kind, detail, at, conn)``: a bounce of ``row`` was recorded in ``conn``.
BounceListener = Callable[
    [OutboxMessage, BounceKind, str, datetime, BaseDBAsyncClient], Awaitable[None]
]

_SENT: list[SentListener] = []
_BOUNCE: list[BounceListener] = []


def on_sent(listener: SentListener) -> SentListener:
    """Hear of every message delivered (a decorator)."""
    if listener not in _SENT:
        _SENT.append(listener)
    return listener


def on_bounce(listener: BounceListener) -> BounceListener:
    """Hear of every bounce or complaint recorded (a decorator)."""
    if listener not in _BOUNCE:
        _BOUNCE.append(listener)
    return listener


async def message_sent(row: OutboxMessage, at: datetime) -> None:
    """Tell the listeners ``row`` was delivered; their failures are logged only."""
    for listener in _SENT:
        try:
            await listener(row, at)
        except Exception:
            log.exception("a listener of sent messages failed", extra={"outbox_id": row.id})


async def message_bounced(
    row: OutboxMessage, kind: BounceKind, detail: str, at: datetime, conn: BaseDBAsyncClient
) -> None:
    """Tell the listeners about a bounce of ``row``, in the bounce's transaction."""
    for listener in _BOUNCE:
        await listener(row, kind, detail, at, conn)
