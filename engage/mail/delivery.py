"""The worker's side of the outbox: claim due rows under a lease, record outcomes.

Every state change is a conditional update on ``lease_owner``, so a worker whose
lease ran out (and whose row another worker took) cannot overwrite the new owner's
result. On PostgreSQL the claim uses ``FOR UPDATE SKIP LOCKED`` so several workers
share the queue without waiting on each other.
"""

from __future__ import annotations

import random
from collections.abc import Collection
from datetime import datetime, timedelta

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from engage.mail.hooks import message_sent
from engage.mail.models import OutboxMessage, Status

_CLAIMABLE = (Status.QUEUED, Status.DEFERRED)


def _due(now: datetime) -> Q:
    fresh = Q(status__in=list(_CLAIMABLE), next_attempt_at__lte=now)
    abandoned = Q(status=Status.SENDING, lease_expires_at__lt=now)
    return fresh | abandoned


async def claim_batch(
    owner: str, *, limit: int, lease_seconds: float, now: datetime
) -> list[OutboxMessage]:
    """Take up to ``limit`` due rows (or rows whose lease expired) for ``owner``."""
    expires = now + timedelta(seconds=lease_seconds)
    async with in_transaction() as conn:
        # .only("id"), not .values_list("id"): Tortoise's values_list() silently
        # drops select_for_update(), and without the lock clause two workers pick the
        # same ids and one waits on the other's row locks instead of skipping them.
        # (tests/mail/test_workers_postgres.py pins the SQL.)
        locked = await (
            OutboxMessage.filter(_due(now))
            .order_by("-priority", "next_attempt_at", "id")
            .limit(limit)
            .select_for_update(skip_locked=True)
            .only("id")
            .using_db(conn)
        )
        ids = [row.id for row in locked]
        if not ids:
            return []
        # The due condition is repeated: the update only takes what is still free.
        await (
            OutboxMessage.filter(_due(now), id__in=ids)
            .using_db(conn)
            .update(
                status=Status.SENDING,
                lease_owner=owner,
                lease_expires_at=expires,
                attempts=F("attempts") + 1,
                last_attempt_at=now,
            )
        )
        return await (
            OutboxMessage.filter(id__in=ids, lease_owner=owner, status=Status.SENDING)
            .using_db(conn)
            .order_by("-priority", "next_attempt_at", "id")
        )


async def extend_leases(
    owner: str, *, lease_seconds: float, now: datetime, ids: Collection[int] | None = None
) -> int:
    """Keep rows still being worked on from being taken by another worker.

    ``ids`` limits it to those rows (the ones the worker is still working on).
    """
    mine = OutboxMessage.filter(lease_owner=owner, status=Status.SENDING)
    if ids is not None:
        if not ids:
            return 0
        mine = mine.filter(id__in=list(ids))
    return await mine.update(lease_expires_at=now + timedelta(seconds=lease_seconds))


async def mark_sent(message: OutboxMessage, owner: str, *, now: datetime) -> bool:
    updated = await OutboxMessage.filter(
        id=message.id, lease_owner=owner, status=Status.SENDING
    ).update(
        status=Status.SENT,
        sent_at=now,
        lease_owner=None,
        lease_expires_at=None,
        last_error=None,
    )
    if updated:
        # Other domains hear of it (engage.mail.hooks): an invitation delivered is
        # contact on the person's timeline. After the mark, so nothing undoes it.
        await message_sent(message, now)
    return bool(updated)


async def mark_failed(message: OutboxMessage, owner: str, *, error: str, now: datetime) -> bool:
    """A permanent failure (5xx, or a message that cannot be rendered): not retried."""
    updated = await OutboxMessage.filter(
        id=message.id, lease_owner=owner, status=Status.SENDING
    ).update(
        status=Status.FAILED,
        last_error=error[:2000],
        lease_owner=None,
        lease_expires_at=None,
    )
    return bool(updated)


def retry_delay(attempts: int, *, base: float, maximum: float, rng: random.Random) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random.

    attempt 1 -> base/2..base, attempt 2 -> base..2*base, ... capped at ``maximum``.
    """
    ceiling = min(maximum, base * (2 ** max(attempts - 1, 0)))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


async def mark_temporary_failure(
    message: OutboxMessage,
    owner: str,
    *,
    error: str,
    now: datetime,
    max_age: timedelta,
    base_delay: float,
    max_delay: float,
    rng: random.Random,
) -> Status:
    """Defer with backoff, or mark dead once the message is older than ``max_age``."""
    if now - message.queued_at >= max_age:
        status, next_at = Status.DEAD, message.next_attempt_at
    else:
        delay = retry_delay(message.attempts, base=base_delay, maximum=max_delay, rng=rng)
        next_at = now + timedelta(seconds=delay)
        # Never schedule past the end of the window: the last try lands on it.
        next_at = min(next_at, message.queued_at + max_age)
        status = Status.DEFERRED
    await OutboxMessage.filter(id=message.id, lease_owner=owner, status=Status.SENDING).update(
        status=status,
        next_attempt_at=next_at,
        last_error=error[:2000],
        lease_owner=None,
        lease_expires_at=None,
    )
    return status


async def postpone(message: OutboxMessage, owner: str, *, until: datetime) -> bool:
    """Give back a claimed row unsent, due again at ``until`` (the relay's hourly
    budget is spent): not an attempt and not an error, so no backoff and no death."""
    mine = OutboxMessage.filter(id=message.id, lease_owner=owner, status=Status.SENDING)
    updated = await mine.update(
        status=Status.QUEUED if message.attempts <= 1 else Status.DEFERRED,
        attempts=F("attempts") - 1,
        next_attempt_at=until,
        lease_owner=None,
        lease_expires_at=None,
    )
    return bool(updated)


async def release(messages: list[OutboxMessage], owner: str) -> int:
    """Give back claimed rows that were never tried (shutdown): due again at once."""
    if not messages:
        return 0
    mine = OutboxMessage.filter(
        id__in=[m.id for m in messages], lease_owner=owner, status=Status.SENDING
    )
    cleared = {"attempts": F("attempts") - 1, "lease_owner": None, "lease_expires_at": None}
    # A row never tried before goes back to "queued"; one that was, to "deferred".
    first = await mine.filter(attempts__lte=1).update(status=Status.QUEUED, **cleared)
    again = await mine.filter(attempts__gt=1).update(status=Status.DEFERRED, **cleared)
    return first + again
