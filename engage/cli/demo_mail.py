"""The demo's mail troubles, so the staff mail page (``/admin/mail``) has something to
show: a few invitations that failed or wait for a retry, and the bounces, complaint
and unsubscribe that suppressed some addresses.

::

    touched = await seed_demo_mail(settings)    # rows changed; 0 the second time

Run after ``engage.cli.demo_invitations``: it takes the first invitation emails still
queued (people who have not answered, and who have no other mail waiting, so the
welcome emails all arrive) and writes, as the worker and the bounce receiver would:

- two **failed** invitations, refused by the receiving server at send time (550 5.1.1
  user unknown, and 552 5.2.2 "mailbox full" from a server that says it for good:
  the suppression to lift), each with its bounce and its hard-bounce suppression,
  and the person's profile flagged "primary email failing";
- two **deferred** ones (greylisting, a connection timed out), due again in a few
  hours, and a soft bounce received for the first of them;
- a **complaint** (a feedback-loop report) and an **unsubscribe** from invitations, on
  invitations still queued: the worker skips them at send time.

Idempotent: nothing is done when any bounce is already recorded.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from engage.alumni.models import Alumnus
from engage.clock import utcnow
from engage.mail.models import (
    Bounce,
    BounceKind,
    Category,
    OutboxMessage,
    Status,
    Suppression,
    SuppressionReason,
    SuppressionScope,
)
from engage.settings import Settings

#: Invitations the demo needs (fewer are used when fewer are queued).
_WANTED = 6


def _key(address: str) -> str:
    # As engage.mail.suppression.address_key: lower-cased, stripped.
    return address.strip().lower()


async def _candidates() -> list[OutboxMessage]:
    """Queued invitations to people with no other mail waiting, oldest first."""
    busy = await OutboxMessage.filter(category=Category.TRANSACTIONAL).values_list(
        "to_address", flat=True
    )
    rows = await OutboxMessage.filter(
        template="invitation", status=Status.QUEUED, category=Category.BULK
    ).order_by("id")
    taken = {_key(str(a)) for a in busy}
    picked: list[OutboxMessage] = []
    for row in rows:
        if _key(row.to_address) not in taken:
            picked.append(row)
            taken.add(_key(row.to_address))
        if len(picked) == _WANTED:
            break
    return picked


async def seed_demo_mail(settings: Settings, *, now: datetime | None = None) -> int:
    """Write the demo's failures, bounces and suppressions; returns the outbox rows
    changed (0 when the demo already has bounces, or no invitation is queued)."""
    now = now or utcnow()
    if await Bounce.exists():
        return 0
    rows = await _candidates()
    plan = [_failed_unknown, _failed_full, _deferred_greylisted, _deferred_timeout]
    plan += [_complaint, _unsubscribed]
    changed = 0
    async with in_transaction() as conn:
        for step, row in zip(plan, rows, strict=False):
            changed += await step(row, now, conn)
    return changed


async def _fail(
    row: OutboxMessage, now: datetime, conn: BaseDBAsyncClient, reply: str, code: str
) -> int:
    """The row refused at send time, with its bounce and hard-bounce suppression."""
    updated = await (
        OutboxMessage.filter(id=row.id, status=Status.QUEUED)
        .using_db(conn)
        .update(
            status=Status.FAILED,
            attempts=1,
            last_attempt_at=now - timedelta(minutes=50),
            last_error=reply,
        )
    )
    if not updated:
        return 0
    if row.recipient_type == "alumnus" and row.recipient_id is not None:
        # As the bounce rules do: the profile says "primary email failing".
        await (
            Alumnus.filter(id=row.recipient_id, email_failing_at=None)
            .using_db(conn)
            .update(email_failing_at=now - timedelta(minutes=50))
        )
    await Bounce.create(
        received_at=now - timedelta(minutes=50),
        kind=BounceKind.HARD,
        address_key=_key(row.to_address),
        message_id=row.id,
        status_code=code,
        diagnostic=reply,
        reporter="smtp",
        using_db=conn,
    )
    await Suppression.create(
        address_key=_key(row.to_address),
        scope=SuppressionScope.ALL,
        reason=SuppressionReason.HARD_BOUNCE,
        detail=reply,
        created_at=now - timedelta(minutes=50),
        message_id=row.id,
        using_db=conn,
    )
    return 1


async def _failed_unknown(row: OutboxMessage, now: datetime, conn: BaseDBAsyncClient) -> int:
    reply = (
        f"550 5.1.1 <{row.to_address}>: Recipient address rejected: "
        "User unknown in virtual mailbox table"
    )
    return await _fail(row, now, conn, reply, "5.1.1")


async def _failed_full(row: OutboxMessage, now: datetime, conn: BaseDBAsyncClient) -> int:
    reply = "552 5.2.2 The email account that you tried to reach is over quota"
    return await _fail(row, now, conn, reply, "5.2.2")


async def _defer(
    row: OutboxMessage, now: datetime, conn: BaseDBAsyncClient, reply: str, tries: int
) -> int:
    return await (
        OutboxMessage.filter(id=row.id, status=Status.QUEUED)
        .using_db(conn)
        .update(
            status=Status.DEFERRED,
            attempts=tries,
            last_attempt_at=now - timedelta(minutes=20),
            # Hours ahead: the demo shows them waiting rather than sent at once.
            next_attempt_at=now + timedelta(hours=3),
            last_error=reply,
        )
    )


async def _deferred_greylisted(row: OutboxMessage, now: datetime, conn: BaseDBAsyncClient) -> int:
    changed = await _defer(
        row, now, conn, "451 4.7.1 Greylisting in action, please come back later", 1
    )
    if changed:
        await Bounce.create(
            received_at=now - timedelta(hours=26),
            kind=BounceKind.SOFT,
            address_key=_key(row.to_address),
            status_code="4.2.2",
            diagnostic="smtp; 452 4.2.2 Mailbox full, try again later",
            reporter="mx1.mail.example.net",
            using_db=conn,
        )
    return changed


async def _deferred_timeout(row: OutboxMessage, now: datetime, conn: BaseDBAsyncClient) -> int:
    return await _defer(row, now, conn, "Connection to mx.example.org:25 timed out", 3)


async def _complaint(row: OutboxMessage, now: datetime, conn: BaseDBAsyncClient) -> int:
    """A spam report from the person's mailbox provider: no more bulk mail."""
    await Bounce.create(
        received_at=now - timedelta(days=2),
        kind=BounceKind.COMPLAINT,
        address_key=_key(row.to_address),
        diagnostic="Feedback-Type: abuse; User-Agent: ExampleFBL/1.0",
        reporter="fbl.mail.example.com",
        using_db=conn,
    )
    await Suppression.create(
        address_key=_key(row.to_address),
        scope=SuppressionScope.ALL,
        reason=SuppressionReason.COMPLAINT,
        detail="abuse report by fbl.mail.example.com",
        created_at=now - timedelta(days=2),
        using_db=conn,
    )
    return 0


async def _unsubscribed(row: OutboxMessage, now: datetime, conn: BaseDBAsyncClient) -> int:
    """Unsubscribed from invitations (by the one-click link of an earlier one)."""
    await Suppression.create(
        address_key=_key(row.to_address),
        scope=SuppressionScope.INVITATIONS,
        reason=SuppressionReason.UNSUBSCRIBED,
        detail="one-click unsubscribe",
        created_at=now - timedelta(hours=5),
        using_db=conn,
    )
    return 0
