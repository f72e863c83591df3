"""Enqueueing mail, and what people see of the queue.

Mail never leaves from a request: code that causes an email calls :func:`enqueue`
inside the transaction of its change, so both commit or neither does::

    async with in_transaction() as conn:
        await user.save(using_db=conn)
        await enqueue("verify_email", to=user.email, category=Category.TRANSACTIONAL,
                      dedupe_key=f"verify:{user.id}:{user.email_version}",
                      context={"user": user.id}, using_db=conn)

The worker (``engage.worker``) claims, renders and sends the rows after commit.
A bulk send writes a batch at once: :func:`outbox_values` builds (and checks) each
row, :func:`enqueue_many` inserts them, skipping dedupe keys already queued.
:func:`withdraw` takes back messages not yet claimed (an invitation revoked).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from operator import itemgetter
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.functions import Count, Min

from engage.clock import utcnow
from engage.errors import InvalidInput, NotFound
from engage.mail.models import Category, OutboxMessage, Status, Topic

#: Transactional mail goes before bulk mail when both are due.
_DEFAULT_PRIORITY = {Category.TRANSACTIONAL: 10, Category.BULK: 0}
_SCALARS = (str, int, float, bool, type(None))
#: Rows per INSERT of :func:`enqueue_many`.
_BATCH = 500
_JSON_COLUMNS = frozenset({"context"})
_ENUM_COLUMNS = frozenset({"category", "status", "topic"})


@dataclass(frozen=True)
class Enqueued:
    message: OutboxMessage
    #: False when a row with the same dedupe key already existed.
    created: bool


async def enqueue(
    template: str,
    *,
    to: str,
    category: Category,
    dedupe_key: str,
    to_name: str = "",
    context: Mapping[str, Any] | None = None,
    recipient: tuple[str, int] | None = None,
    priority: int | None = None,
    auto_submitted: bool = True,
    send_after: datetime | None = None,
    now: datetime | None = None,
    topic: Topic | None = None,
    campaign: str | None = None,
    using_db: BaseDBAsyncClient | None = None,
) -> Enqueued:
    """Add a message to the outbox once per ``dedupe_key``.

    ``context`` holds ids and small scalars only (no bodies, no tokens): the
    template is rendered at send time from the current data. Bulk mail says its
    ``topic`` (what an unsubscribe acts on) and ``campaign`` (the run, for stats).
    """
    row = OutboxMessage(
        **outbox_values(
            template,
            to=to,
            category=category,
            dedupe_key=dedupe_key,
            to_name=to_name,
            context=context,
            recipient=recipient,
            priority=priority,
            auto_submitted=auto_submitted,
            send_after=send_after,
            now=now,
            topic=topic,
            campaign=campaign,
        )
    )
    # INSERT ... ON CONFLICT DO NOTHING: a duplicate neither fails nor aborts the
    # caller's transaction (which a caught IntegrityError would on PostgreSQL).
    await OutboxMessage.bulk_create([row], ignore_conflicts=True, using_db=using_db)
    stored = await OutboxMessage.get(dedupe_key=dedupe_key).using_db(using_db)
    return Enqueued(message=stored, created=stored.message_key == row.message_key)


async def enqueue_many(
    rows: Sequence[Mapping[str, Any]], *, using_db: BaseDBAsyncClient | None = None
) -> None:
    """Add many rows of :func:`outbox_values` with one ``executemany`` per batch; a row
    whose ``dedupe_key`` is already in the outbox is skipped, as with :func:`enqueue`.

    For bulk sends (a chunk of invitations): no model objects are built and nothing
    is read back::

        rows = [outbox_values("invitation", to=..., dedupe_key=f"invitation:{i}", ...) ...]
        await enqueue_many(rows, using_db=conn)
    """
    if not rows:
        return
    conn = using_db or OutboxMessage._choose_db(True)
    columns = tuple(rows[0])
    unknown = set(columns) - set(OutboxMessage._meta.db_fields)
    if unknown:
        raise ValueError(f"not outbox columns: {sorted(unknown)}")
    marks = (
        [f"${n}" for n in range(1, len(columns) + 1)]
        if conn.capabilities.dialect == "postgres"
        else ["?"] * len(columns)
    )
    # Names from the model only (checked above); the values go as parameters.
    names = ", ".join(f'"{column}"' for column in columns)
    sql = (
        f'INSERT INTO "{OutboxMessage._meta.db_table}" ({names}) '  # noqa: S608
        f"VALUES ({', '.join(marks)}) ON CONFLICT DO NOTHING"
    )
    # Only JSON and enum columns need converting: done by position, not per value.
    to_json = [i for i, c in enumerate(columns) if c in _JSON_COLUMNS]
    to_text = [i for i, c in enumerate(columns) if c in _ENUM_COLUMNS]
    pick = itemgetter(*columns)
    values = []
    for row in rows:
        value = list(pick(row))
        for i in to_json:
            value[i] = json.dumps(value[i], separators=(",", ":"))
        for i in to_text:
            if value[i] is not None:  # a transactional row has no topic
                value[i] = str(value[i].value if isinstance(value[i], Enum) else value[i])
        values.append(value)
    for start in range(0, len(values), _BATCH):
        await conn.execute_many(sql, values[start : start + _BATCH])


async def withdraw(
    dedupe_keys: Sequence[str], *, using_db: BaseDBAsyncClient | None = None
) -> set[str]:
    """Take back messages no worker has claimed yet (queued or deferred): their rows
    are deleted, so they are never sent. Returns the dedupe keys withdrawn; a message
    being sent, sent or failed stays as it is.

    The rows are locked first (a worker's claim skips locked rows), so what is
    returned is exactly what will not go out. Call it in the transaction of the change
    that makes the messages pointless (an invitation revoked, an event cancelled).
    """
    pending = [Status.QUEUED, Status.DEFERRED]
    keys = list(dedupe_keys)
    withdrawn: set[str] = set()
    for start in range(0, len(keys), _BATCH):
        found = await (
            OutboxMessage.filter(dedupe_key__in=keys[start : start + _BATCH], status__in=pending)
            .select_for_update()
            .using_db(using_db)
            .values_list("id", "dedupe_key")
        )
        if found:
            ids = [pk for pk, _key in found]
            await OutboxMessage.filter(id__in=ids).using_db(using_db).delete()
            withdrawn.update(str(key) for _pk, key in found)
    return withdrawn


def is_address(to: str) -> bool:
    """Whether :func:`enqueue` accepts ``to`` as an address."""
    return "@" in to and not any(ch in to for ch in "\r\n<> ")


def outbox_values(
    template: str,
    *,
    to: str,
    category: Category,
    dedupe_key: str,
    to_name: str = "",
    context: Mapping[str, Any] | None = None,
    recipient: tuple[str, int] | None = None,
    priority: int | None = None,
    auto_submitted: bool = True,
    send_after: datetime | None = None,
    now: datetime | None = None,
    topic: Topic | None = None,
    campaign: str | None = None,
) -> dict[str, Any]:
    """The checked values of the row :func:`enqueue` writes, by column (for
    :func:`enqueue_many`).

    Raises InvalidInput for an address that is not one, or a context holding more
    than ids, scalars and attachment specs.
    """
    if not is_address(to):
        raise InvalidInput("Not an email address.", fields={"to": to})
    context = dict(context or {})
    for key, value in context.items():
        if not isinstance(value, _SCALARS) and not _is_attachment_list(key, value):
            raise InvalidInput(f"Outbox context holds ids and scalars only; {key!r} is not one.")
    now = now or utcnow()
    return {
        "created_at": now,
        "queued_at": now,
        "template": template,
        "category": category,
        "topic": Topic(topic) if topic is not None else None,
        "campaign": campaign,
        "dedupe_key": dedupe_key,
        "to_address": to.strip(),
        "to_name": to_name,
        "recipient_type": recipient[0] if recipient else None,
        "recipient_id": recipient[1] if recipient else None,
        "context": context,
        "message_key": uuid.uuid4().hex,
        "auto_submitted": auto_submitted,
        "priority": _DEFAULT_PRIORITY[category] if priority is None else priority,
        "status": Status.QUEUED,
        "next_attempt_at": send_after or now,
        "attempts": 0,
    }


def _is_attachment_list(key: str, value: Any) -> bool:
    return (
        key == "attachments"
        and isinstance(value, list)
        and all(
            isinstance(item, dict) and all(isinstance(v, _SCALARS) for v in item.values())
            for item in value
        )
    )


@dataclass(frozen=True)
class QueueStats:
    #: Messages due now (queued or deferred and past their time).
    due: int
    #: How long the oldest due message has waited, in seconds (0 when none).
    oldest_due_age_seconds: float
    failed: int
    dead: int


async def queue_stats(*, now: datetime | None = None) -> QueueStats:
    """One aggregate query (``/healthz`` calls it on every probe)."""
    now = now or utcnow()
    due = Q(status__in=[Status.QUEUED, Status.DEFERRED], next_attempt_at__lte=now)
    rows = await (
        OutboxMessage.annotate(
            due=Count("id", _filter=due),
            oldest=Min("next_attempt_at", _filter=due),
            failed=Count("id", _filter=Q(status=Status.FAILED)),
            dead=Count("id", _filter=Q(status=Status.DEAD)),
        )
        .limit(1)
        .values("due", "oldest", "failed", "dead")
    )
    row = rows[0] if rows else {"due": 0, "oldest": None, "failed": 0, "dead": 0}
    oldest = row["oldest"]
    if isinstance(oldest, str):  # SQLite aggregates come back as text
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    age = max((now - oldest).total_seconds(), 0.0) if oldest else 0.0
    return QueueStats(
        due=row["due"] or 0,
        oldest_due_age_seconds=round(age, 3),
        failed=row["failed"] or 0,
        dead=row["dead"] or 0,
    )


async def list_messages(
    *, statuses: list[Status] | None = None, limit: int = 50
) -> list[OutboxMessage]:
    """Newest first; by status when given (e.g. failed and dead, for a person to look at)."""
    query = OutboxMessage.all()
    if statuses:
        query = query.filter(status__in=statuses)
    return await query.order_by("-id").limit(limit)


async def retry_message(message_id: int, *, now: datetime | None = None) -> OutboxMessage:
    """Put a failed or dead message back in the queue, due now, with a fresh age."""
    now = now or utcnow()
    updated = await OutboxMessage.filter(
        id=message_id, status__in=[Status.FAILED, Status.DEAD]
    ).update(
        status=Status.QUEUED,
        next_attempt_at=now,
        queued_at=now,
        attempts=0,
        lease_owner=None,
        lease_expires_at=None,
    )
    if not updated:
        if await OutboxMessage.exists(id=message_id):
            raise InvalidInput("Only failed or dead messages can be retried.")
        raise NotFound(f"No outbox message {message_id}.")
    return await OutboxMessage.get(id=message_id)


async def retry_all(*, now: datetime | None = None) -> int:
    """Retry every failed and dead message; returns how many."""
    now = now or utcnow()
    return await OutboxMessage.filter(status__in=[Status.FAILED, Status.DEAD]).update(
        status=Status.QUEUED, next_attempt_at=now, queued_at=now, attempts=0
    )
