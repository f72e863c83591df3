"""The send-time gate: may a claimed row still go out?

Between enqueue and send, people unsubscribe, addresses bounce, consent is
withdrawn, a profile is flagged "do not engage". The worker asks here, before
rendering, and a row that may no longer go is marked skipped with the reason
(``Status.SKIPPED``, ``skip_reason``), never sent:

- the suppression list (``engage.mail.suppression``): bulk mail stops for an entry
  of its topic or of all bulk mail; transactional mail only for a hard bounce;
- then, for bulk mail only, the checks other domains register (the alumni's
  eligibility rule), which the mail package cannot import.

A check answers for a whole claimed batch at once (a few queries, not a few per
message)::

    @register_send_check
    async def _still_eligible(rows: Sequence[OutboxMessage]) -> Mapping[int, str]:
        ...                 # {row id: reason ("no_consent", ...)} for rows that may not go

    reasons = await skip_reasons(rows)      # {row id: reason}; absent: may go
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime

from engage.mail.models import Category, OutboxMessage, Status
from engage.mail.suppression import address_key, entries_for, stops

#: ``check(rows)`` -> the reason each row that may not go is stopped, by row id.
SendCheck = Callable[[Sequence[OutboxMessage]], Awaitable[Mapping[int, str]]]
#: ``skip_reason`` of a bulk row whose address is suppressed for its topic.
SUPPRESSED = "suppressed"
#: ``skip_reason`` of a transactional row to an address that hard-bounced.
HARD_BOUNCE = "hard_bounce"

_CHECKS: list[SendCheck] = []


def register_send_check(check: SendCheck) -> SendCheck:
    """Ask ``check`` about every batch of bulk rows before they are sent (a decorator)."""
    if check not in _CHECKS:
        _CHECKS.append(check)
    return check


async def skip_reasons(rows: Sequence[OutboxMessage]) -> dict[int, str]:
    """Why each of ``rows`` must not be sent now, by row id (a row that may go is
    absent)."""
    reasons: dict[int, str] = {}
    entries = await entries_for(row.to_address for row in rows)
    for row in rows:
        category = Category(row.category)
        found = entries.get(address_key(row.to_address), [])
        if any(stops(e, category=category, topic=row.topic) for e in found):
            reasons[row.id] = SUPPRESSED if category is Category.BULK else HARD_BOUNCE
    bulk = [r for r in rows if r.category == Category.BULK and r.id not in reasons]
    for check in _CHECKS:
        if not bulk:
            break
        for row_id, reason in (await check(bulk)).items():
            reasons[row_id] = reason[:64]
        bulk = [r for r in bulk if r.id not in reasons]
    return reasons


async def skip_reason(row: OutboxMessage) -> str | None:
    """Why ``row`` must not be sent now; None when it may go."""
    return (await skip_reasons([row])).get(row.id)


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
