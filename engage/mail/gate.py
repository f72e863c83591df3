"""The send-time gate: may a claimed row still go out?

Between enqueue and send, people unsubscribe, addresses bounce, consent is
withdrawn, a profile is flagged "do not engage". The worker asks here, before
rendering, and a row that may no longer go is marked skipped with the reason
(``Status.SKIPPED``, ``skip_reason``), never sent:

- the suppression list (``engage.mail.suppression``): bulk mail stops for an entry
  of its topic or of all bulk mail; transactional mail only for a hard bounce;
- then, for bulk mail only, the checks other domains register (the alumni's
  eligibility rule), which the mail package cannot import::

    @register_send_check
    async def _still_eligible(row: OutboxMessage) -> str | None:
        ...                 # None: may go; else the reason ("no_consent", ...)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from engage.mail.models import Category, OutboxMessage, Status
from engage.mail.suppression import suppression_for

#: ``check(row)`` -> None when the row may go, else why not (a short word).
SendCheck = Callable[[OutboxMessage], Awaitable[str | None]]
#: ``skip_reason`` of a bulk row whose address is suppressed for its topic.
SUPPRESSED = "suppressed"
#: ``skip_reason`` of a transactional row to an address that hard-bounced.
HARD_BOUNCE = "hard_bounce"

_CHECKS: list[SendCheck] = []


def register_send_check(check: SendCheck) -> SendCheck:
    """Ask ``check`` about every bulk row before it is sent (a decorator)."""
    if check not in _CHECKS:
        _CHECKS.append(check)
    return check


async def skip_reason(row: OutboxMessage) -> str | None:
    """Why ``row`` must not be sent now; None when it may go."""
    category = Category(row.category)
    if await suppression_for(row.to_address, category=category, topic=row.topic):
        return SUPPRESSED if category is Category.BULK else HARD_BOUNCE
    if category is not Category.BULK:
        return None
    for check in _CHECKS:
        reason = await check(row)
        if reason:
            return reason[:64]
    return None


async def mark_skipped(row: OutboxMessage, owner: str, *, reason: str, now: datetime) -> bool:
    """Record that the claimed ``row`` was not sent, and why (a conditional update on
    the lease, like every outcome in ``engage.mail.delivery``)."""
    updated = await OutboxMessage.filter(
        id=row.id, lease_owner=owner, status=Status.SENDING
    ).update(
        status=Status.SKIPPED,
        skip_reason=reason[:64],
        last_attempt_at=now,
        lease_owner=None,
        lease_expires_at=None,
    )
    return bool(updated)
