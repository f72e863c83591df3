"""An issue's figures: its messages by status, the bounces and complaints about them,
the unsubscribes they caused, opens and clicks; nothing of other campaigns."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engage.accounts.models import Role
from engage.errors import PermissionDenied
from engage.mail.models import (
    Bounce,
    BounceKind,
    Category,
    OutboxMessage,
    Status,
    Suppression,
    SuppressionReason,
    SuppressionScope,
    Topic,
)
from engage.mail.outbox import enqueue
from engage.newsletters import services
from engage.newsletters.models import Newsletter, Tracking, TrackingKind

NOW = datetime.now(UTC)


async def _message(campaign: str | None, n: int, status: Status) -> OutboxMessage:
    queued = await enqueue(
        "newsletter",
        to=f"person{n}@example.org",
        category=Category.BULK,
        topic=Topic.NEWSLETTER,
        campaign=campaign,
        dedupe_key=f"{campaign}:{n}",
        context={"newsletter": 1},
    )
    await OutboxMessage.filter(id=queued.message.id).update(status=status)
    return queued.message


async def test_figures_of_an_issue(db, actor_for):
    staff = await actor_for(Role.STAFF)
    issue = await services.create_newsletter(
        staff, {"subject": "S", "body": "B", "filter": {"country": ["KE"]}}
    )
    await Newsletter.filter(id=issue.id).update(skipped={"no_consent": 4, "suppressed": 1})
    mine = f"newsletter:{issue.id}"
    statuses = [
        Status.SENT,
        Status.SENT,
        Status.SENT,
        Status.SENT,
        Status.QUEUED,
        Status.SENDING,
        Status.DEFERRED,
        Status.FAILED,
        Status.DEAD,
        Status.SKIPPED,
    ]
    rows = [await _message(mine, n, status) for n, status in enumerate(statuses)]
    other = await _message("newsletter:999999", 100, Status.SENT)
    await _message(None, 101, Status.SENT)
    for row, kind in ((rows[0], BounceKind.HARD), (rows[0], BounceKind.SOFT)):
        await Bounce.create(received_at=NOW, kind=kind, address_key=row.to_address, message=row)
    await Bounce.create(
        received_at=NOW, kind=BounceKind.SOFT, address_key=rows[1].to_address, message=rows[1]
    )
    await Bounce.create(
        received_at=NOW, kind=BounceKind.COMPLAINT, address_key=rows[2].to_address, message=rows[2]
    )
    await Bounce.create(
        received_at=NOW, kind=BounceKind.HARD, address_key=other.to_address, message=other
    )
    for row, reason in (
        (rows[3], SuppressionReason.UNSUBSCRIBED),
        (rows[2], SuppressionReason.COMPLAINT),
        (other, SuppressionReason.UNSUBSCRIBED),
    ):
        await Suppression.create(
            address_key=row.to_address,
            scope=SuppressionScope.NEWSLETTER,
            reason=reason,
            created_at=NOW,
            message=row,
        )
    for row, kind in (
        (rows[0], TrackingKind.OPEN),
        (rows[0], TrackingKind.OPEN),
        (rows[1], TrackingKind.OPEN),
        (rows[1], TrackingKind.CLICK),
    ):
        await Tracking.create(newsletter_id=issue.id, message=row, kind=kind, at=NOW)

    stats = await services.newsletter_stats(staff, issue.id)

    assert stats == {
        "recipients": 10,
        "delivered": 4,
        "queued": 2,
        "deferred": 1,
        "failed": 2,
        "skipped": 5,
        "skipped_at_send": 1,
        "bounced": 2,
        "complaints": 1,
        "unsubscribed": 1,
        "opens": 2,
        "clicks": 1,
    }
    attache = await actor_for(Role.ATTACHE, countries=["KE"])
    with pytest.raises(PermissionDenied):
        await services.newsletter_stats(attache, issue.id)


async def test_an_issue_not_sent_has_zeros(db, actor_for):
    staff = await actor_for(Role.STAFF)
    issue = await services.create_newsletter(staff, {"subject": "S", "body": "B", "filter": {}})
    stats = await services.newsletter_stats(staff, issue.id)
    assert set(stats.values()) == {0}
