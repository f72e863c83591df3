"""The invitations' part of the send-time gate (``engage.mail.gate``).

Bulk mail about an invitation (the invitation itself, reminders, messages to
invitees) that is still queued when the invitation is revoked or the event is
cancelled is skipped with that reason, rather than failing to render.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from engage.events.models import EventStatus
from engage.invitations.models import Invitation, InvitationStatus
from engage.mail.gate import register_send_check
from engage.mail.models import OutboxMessage

REVOKED = "invitation_revoked"
CANCELLED = "event_cancelled"


@register_send_check
async def invitation_still_stands(rows: Sequence[OutboxMessage]) -> Mapping[int, str]:
    wanted: dict[int, list[int]] = {}
    for row in rows:
        invitation_id = (row.context or {}).get("invitation")
        if isinstance(invitation_id, int):
            wanted.setdefault(invitation_id, []).append(row.id)
    if not wanted:
        return {}
    found = await Invitation.filter(id__in=list(wanted)).values_list(
        "id", "status", "event__status"
    )
    reasons: dict[int, str] = {}
    for invitation_id, status, event_status in found:
        reason = None
        if status == InvitationStatus.REVOKED:
            reason = REVOKED
        elif event_status == EventStatus.CANCELLED:
            reason = CANCELLED
        if reason:
            for row_id in wanted[invitation_id]:
                reasons[row_id] = reason
    return reasons
