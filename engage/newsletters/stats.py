"""What became of an issue once sent: a few aggregate queries over its outbox rows
(campaign ``newsletter:<id>``), their bounces and the unsubscribes they caused.

::

    stats = await issue_stats(issue)
    # {"recipients": 812, "delivered": 790, "queued": 0, "deferred": 3, "failed": 2,
    #  "skipped": 14, "skipped_at_send": 3, "bounced": 4, "complaints": 0,
    #  "unsubscribed": 6, "opens": 0, "clicks": 0}

- ``recipients``: outbox rows written (one per person sent to);
- ``delivered``: accepted by the relay (sent); ``queued`` still waiting or being
  sent; ``deferred`` waiting for a retry; ``failed`` refused or given up (failed and
  dead);
- ``skipped``: left out by the eligibility rule when the rows were written;
  ``skipped_at_send``: rows the worker did not send because, by then, the person had
  unsubscribed or was no longer eligible;
- ``bounced``: messages with a bounce report (hard or soft); ``complaints``: marked
  as spam;
- ``unsubscribed``: suppressions caused by one of its messages (an unsubscribe link
  or the mailto address);
- ``opens`` and ``clicks``: messages opened or clicked at least once (recorded only
  when tracking is on, see settings ``newsletters.tracking``).
"""

from __future__ import annotations

from typing import Any

from tortoise.expressions import Q, Subquery
from tortoise.functions import Count

from engage.mail.models import (
    Bounce,
    BounceKind,
    OutboxMessage,
    Status,
    Suppression,
    SuppressionReason,
)
from engage.newsletters.models import Newsletter, Tracking, TrackingKind

_WAITING = (Status.QUEUED, Status.SENDING)
_FAILED = (Status.FAILED, Status.DEAD)
_BOUNCES = (BounceKind.HARD, BounceKind.SOFT)


async def issue_stats(issue: Newsletter) -> dict[str, Any]:
    """The figures of ``issue`` (see the module doc), in four aggregate queries."""
    campaign = f"newsletter:{issue.id}"
    by_status = {
        str(row["status"]): int(row["n"])
        for row in await OutboxMessage.filter(campaign=campaign)
        .group_by("status")
        .annotate(n=Count("id"))
        .values("status", "n")
    }
    messages = Subquery(OutboxMessage.filter(campaign=campaign).values("id"))
    bounces = await (
        Bounce.filter(message_id__in=messages)
        .annotate(
            bounced=Count("message_id", distinct=True, _filter=Q(kind__in=_BOUNCES)),
            complaints=Count("message_id", distinct=True, _filter=Q(kind=BounceKind.COMPLAINT)),
        )
        .limit(1)
        .values("bounced", "complaints")
    )
    bounced = bounces[0] if bounces else {"bounced": 0, "complaints": 0}
    unsubscribed = await Suppression.filter(
        message__campaign=campaign, reason=SuppressionReason.UNSUBSCRIBED
    ).count()
    tracked = {
        str(row["kind"]): int(row["n"])
        for row in await Tracking.filter(newsletter_id=issue.id)
        .group_by("kind")
        .annotate(n=Count("message_id", distinct=True))
        .values("kind", "n")
    }
    return {
        "recipients": sum(by_status.values()),
        "delivered": by_status.get(Status.SENT, 0),
        "queued": sum(by_status.get(s, 0) for s in _WAITING),
        "deferred": by_status.get(Status.DEFERRED, 0),
        "failed": sum(by_status.get(s, 0) for s in _FAILED),
        "skipped": sum(int(n) for n in (issue.skipped or {}).values()),
        "skipped_at_send": by_status.get(Status.SKIPPED, 0),
        "bounced": int(bounced["bounced"] or 0),
        "complaints": int(bounced["complaints"] or 0),
        "unsubscribed": unsubscribed,
        "opens": tracked.get(TrackingKind.OPEN, 0),
        "clicks": tracked.get(TrackingKind.CLICK, 0),
    }
