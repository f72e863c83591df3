"""What the mail queue is doing, in figures: the staff mail page and ``engage mail status``.

::

    overview = await mail_overview()
    overview.counts[Status.SENT], overview.suppressed, overview.in_flight
    campaigns = await list_campaigns(page=1)
    for c in campaigns.rows: c.campaign, c.sent, c.total, c.counts, c.rate_per_minute
    failures = await list_failures(page=1)      # failed, dead, deferred: the reply
    bounces = await list_bounces(page=1)        # each with its address's suppressions

Each figure comes from an aggregate query (GROUP BY in the database), never from a
loop over rows in Python. Who may look is the caller's business: the page is for
staff, the command for whoever runs it on the server.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from tortoise.expressions import Q
from tortoise.functions import Count, Max, Min

from engage.clock import utcnow
from engage.mail.models import (
    Bounce,
    OutboxMessage,
    Status,
    Suppression,
    SuppressionReason,
)

#: The rate is the messages sent per minute over this many last minutes.
RATE_WINDOW_MINUTES = 5
#: Rows per page of each list.
PAGE_SIZE = 25
#: Statuses still to be sent (a campaign with none of them is done).
PENDING = (Status.QUEUED, Status.SENDING, Status.DEFERRED)
#: Statuses a person may send again (``engage.mail.outbox.retry_message``).
RETRYABLE = (Status.FAILED, Status.DEAD)
#: Suppressions a bounce or complaint caused: the ones staff may find false.
BOUNCE_REASONS = (SuppressionReason.HARD_BOUNCE, SuppressionReason.COMPLAINT)

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class MailOverview:
    #: Every status, in the order of :class:`Status`, 0 included.
    counts: dict[Status, int]
    #: Queued or deferred messages whose time has come.
    due: int
    #: Addresses with at least one suppression.
    suppressed: int
    #: Addresses suppressed, by reason (an address may count under two reasons).
    suppressed_by_reason: dict[SuppressionReason, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def in_flight(self) -> bool:
        """Whether mail is going out now (a worker holds some, or some are due)."""
        return self.counts[Status.SENDING] + self.due > 0


@dataclass(frozen=True)
class CampaignProgress:
    #: OutboxMessage.campaign ("invite:12", "message:5", "reminder:7", ...).
    campaign: str
    #: The email template of its messages (the first by name, if several).
    template: str
    counts: dict[Status, int]
    started_at: datetime | None
    last_sent_at: datetime | None
    #: Messages sent in the last :data:`RATE_WINDOW_MINUTES` minutes.
    sent_recently: int
    window_minutes: int = RATE_WINDOW_MINUTES

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def sent(self) -> int:
        return self.counts[Status.SENT]

    @property
    def pending(self) -> int:
        return sum(self.counts[s] for s in PENDING)

    @property
    def done(self) -> bool:
        return self.pending == 0

    @property
    def retrying(self) -> bool:
        """Only deferred messages are left, each waiting for its retry time."""
        return not self.done and self.pending == self.counts[Status.DEFERRED]

    @property
    def rate_per_minute(self) -> float:
        return round(self.sent_recently / self.window_minutes, 1)

    @property
    def minutes_left(self) -> int | None:
        """At the current rate, about how long until the queued rest is sent (None: no
        rate, or only deferred messages left, which wait for their own retry time)."""
        waiting = self.counts[Status.QUEUED] + self.counts[Status.SENDING]
        if not waiting or not self.sent_recently:
            return None
        return max(1, math.ceil(waiting * self.window_minutes / self.sent_recently))


@dataclass(frozen=True)
class BounceRow:
    bounce: Bounce
    #: The address's suppressions caused by bounces or complaints (to lift if false).
    suppressions: list[Suppression] = field(default_factory=list)


def _pages(total: int, page: int, size: int) -> tuple[int, int]:
    """(page, pages): the page asked for, kept within 1..pages."""
    pages = max(1, -(-total // size))
    return min(max(page, 1), pages), pages


def _aware(value: Any) -> datetime | None:
    """An aggregate's datetime (SQLite gives text, sometimes naive) as aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _status_counts(prefix: str = "") -> dict[str, Count]:
    """One conditional COUNT per status, named ``<prefix><status>``."""
    return {f"{prefix}{s.value}": Count("id", _filter=Q(status=s)) for s in Status}


def _counts_of(row: dict[str, Any], prefix: str = "") -> dict[Status, int]:
    return {s: int(row.get(f"{prefix}{s.value}") or 0) for s in Status}


async def mail_overview(*, now: datetime | None = None) -> MailOverview:
    """The queue by status and the suppressed addresses: three aggregate queries."""
    now = now or utcnow()
    due = Q(status__in=[Status.QUEUED, Status.DEFERRED], next_attempt_at__lte=now)
    names = {**_status_counts(), "due": Count("id", _filter=due)}
    rows = await OutboxMessage.annotate(**names).limit(1).values(*names)
    row = rows[0] if rows else {}
    total = await Suppression.annotate(n=Count("address_key", distinct=True)).limit(1).values("n")
    by_reason = await (
        Suppression.annotate(n=Count("address_key", distinct=True))
        .group_by("reason")
        .values("reason", "n")
    )
    found = {SuppressionReason(r["reason"]): int(r["n"]) for r in by_reason}
    return MailOverview(
        counts=_counts_of(row),
        due=int(row.get("due") or 0),
        suppressed=int(total[0]["n"] or 0) if total else 0,
        suppressed_by_reason={reason: found.get(reason, 0) for reason in SuppressionReason},
    )


async def list_campaigns(
    *,
    page: int = 1,
    size: int = PAGE_SIZE,
    now: datetime | None = None,
    window_minutes: int = RATE_WINDOW_MINUTES,
) -> Page[CampaignProgress]:
    """Campaigns, the most recently written first, each with its messages by status
    and its send rate: one GROUP BY campaign query per page (and one COUNT)."""
    now = now or utcnow()
    since = now - timedelta(minutes=window_minutes)
    campaigns = OutboxMessage.filter(campaign__isnull=False)
    total = await campaigns.annotate(n=Count("campaign", distinct=True)).limit(1).values("n")
    number, pages = _pages(int(total[0]["n"] or 0) if total else 0, page, size)
    names = {
        **_status_counts("n_"),
        "recent": Count("id", _filter=Q(status=Status.SENT, sent_at__gte=since)),
        "started": Min("created_at"),
        "last_sent": Max("sent_at"),
        "latest": Max("id"),
        "first_template": Min("template"),
    }
    rows = await (
        campaigns.annotate(**names)
        .group_by("campaign")
        .order_by("-latest", "campaign")
        .offset((number - 1) * size)
        .limit(size)
        .values("campaign", *names)
    )
    return Page(
        rows=[
            CampaignProgress(
                campaign=str(r["campaign"]),
                template=str(r["first_template"] or ""),
                counts=_counts_of(r, "n_"),
                started_at=_aware(r["started"]),
                last_sent_at=_aware(r["last_sent"]),
                sent_recently=int(r["recent"] or 0),
                window_minutes=window_minutes,
            )
            for r in rows
        ],
        total=int(total[0]["n"] or 0) if total else 0,
        page=number,
        pages=pages,
    )


async def list_failures(*, page: int = 1, size: int = PAGE_SIZE) -> Page[OutboxMessage]:
    """Messages that did not go: failed and dead (a person may send them again) and
    deferred (tried again at ``next_attempt_at``), newest first, each with the
    server's reply of its last attempt (``last_error``)."""
    query = OutboxMessage.filter(status__in=[*RETRYABLE, Status.DEFERRED])
    total = await query.count()
    number, pages = _pages(total, page, size)
    rows = await query.order_by("-id").offset((number - 1) * size).limit(size)
    return Page(rows=list(rows), total=total, page=number, pages=pages)


async def list_bounces(*, page: int = 1, size: int = PAGE_SIZE) -> Page[BounceRow]:
    """Bounces and complaints as received, newest first, each with the suppressions
    of its address that a bounce or complaint caused (two queries a page)."""
    query = Bounce.all()
    total = await query.count()
    number, pages = _pages(total, page, size)
    bounces = await query.order_by("-received_at", "-id").offset((number - 1) * size).limit(size)
    held = await _bounce_suppressions([b.address_key for b in bounces])
    return Page(
        rows=[BounceRow(b, held.get(b.address_key, [])) for b in bounces],
        total=total,
        page=number,
        pages=pages,
    )


async def _bounce_suppressions(keys: Sequence[str]) -> dict[str, list[Suppression]]:
    if not keys:
        return {}
    found = await Suppression.filter(
        address_key__in=sorted(set(keys)), reason__in=list(BOUNCE_REASONS)
    ).order_by("scope", "id")
    held: dict[str, list[Suppression]] = {}
    for suppression in found:
        held.setdefault(suppression.address_key, []).append(suppression)
    return held
