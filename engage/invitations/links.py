"""RSVP links: a personal address per invitation that works without signing in.

The link carries ``engage.tokens.make_token(secret, "rsvp", invitation.id,
invitation.token_version)``; nothing of it is stored. Revoking an invitation bumps
``token_version``, so every link sent before stops working at once::

    url = rsvp_url(settings, invitation)            # in the invitation email
    invitation = await invitation_for_token(settings, token)
    if invitation is None: ...                      # one "not valid" page for every case
    url = checkin_url(settings, invitation)         # the QR code of a "yes" confirmation

A link is not valid when it is forged or malformed, names no invitation, the
invitation was revoked (status or version), the event is not published yet
(a draft), or it has expired: :data:`LINK_LIFETIME_AFTER_END` after the event ended.
A link to a cancelled event stays valid and shows the event as cancelled (read-only),
as does a link after the RSVP deadline: people should see what happened to the
event they were invited to, not an error.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from engage.clock import utcnow
from engage.events.models import EventStatus
from engage.invitations.models import Invitation, InvitationStatus
from engage.settings import Settings
from engage.tokens import TokenClaim, make_token, read_token

PURPOSE = "rsvp"
#: The check-in link's purpose: a token of one purpose never opens the other's page.
CHECKIN_PURPOSE = "checkin"
#: How long after the event's end its RSVP links keep opening (read-only by then).
LINK_LIFETIME_AFTER_END = timedelta(days=30)


def rsvp_token(settings: Settings, invitation: Invitation) -> str:
    return make_token(settings.app.secret_key, PURPOSE, invitation.id, invitation.token_version)


def rsvp_url(settings: Settings, invitation: Invitation) -> str:
    """The absolute address of the invitation's RSVP page."""
    return f"{settings.app.base_url}/rsvp/{rsvp_token(settings, invitation)}"


def read_rsvp_token(settings: Settings, token: str) -> TokenClaim | None:
    """The invitation id and version an RSVP token claims (None: forged or malformed);
    whether the link still opens that invitation is :func:`link_is_live`'s to say."""
    return read_token(settings.app.secret_key, PURPOSE, token)


async def invitation_for_token(
    settings: Settings, token: str, *, now: datetime | None = None
) -> Invitation | None:
    """The invitation a live RSVP link names (its ``event`` and the event's ``embassy``
    loaded), or None.

    None for every kind of invalid link alike, so a page shows one answer for all.
    """
    claim = read_rsvp_token(settings, token)
    if claim is None:
        return None
    invitation = await Invitation.get_or_none(id=claim.id).select_related("event", "event__embassy")
    if invitation is None or not link_is_live(invitation, claim.version, now=now):
        return None
    return invitation


def link_is_live(invitation: Invitation, version: int, *, now: datetime | None = None) -> bool:
    """Whether a link of ``version`` still opens ``invitation`` (its event loaded)."""
    event = invitation.event
    if invitation.status == InvitationStatus.REVOKED or invitation.token_version != version:
        return False
    if event.status == EventStatus.DRAFT:
        return False
    return (now or utcnow()) < event.ends_at + LINK_LIFETIME_AFTER_END


def checkin_token(settings: Settings, invitation: Invitation) -> str:
    """The check-in link's token: same id and version as the RSVP link, another purpose,
    so revoking the invitation kills both (engage.invitations.checkin reads it)."""
    return make_token(
        settings.app.secret_key, CHECKIN_PURPOSE, invitation.id, invitation.token_version
    )


def checkin_url(settings: Settings, invitation: Invitation) -> str:
    """The address in the confirmation's QR code: an attaché of the event's embassy who
    opens it (signed in) sees the person and marks them arrived; anyone else, nothing."""
    return f"{settings.app.base_url}/checkin/{checkin_token(settings, invitation)}"
