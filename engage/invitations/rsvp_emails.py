"""What the RSVP emails need at send time: ``rsvp_confirmation`` and ``waitlist_promoted``.

The outbox row holds the invitation id and what was answered (status, guests,
waitlist position at the time); the event, the local time with its zone, the RSVP
link (derived here, never stored) and the sender (the embassy's alumni desk,
Reply-To the attaché) are read when the message is rendered; so is, for someone
coming in person, the check-in link and its QR code (an inline image). A row without an
invitation (the template check, a preview) renders a sample.
"""

from __future__ import annotations

from typing import Any

from engage.events.models import Event
from engage.events.sender import sender_for
from engage.events.timefmt import format_local_datetime
from engage.invitations.checkin import checkin_qr
from engage.invitations.links import checkin_url, rsvp_url
from engage.invitations.models import Invitation
from engage.mail.models import OutboxMessage
from engage.mail.render import RenderError, register_context
from engage.settings import Settings


def _event(event: Event) -> dict[str, Any]:
    return {
        "title": event.title,
        "when": format_local_datetime(event.starts_at, event.timezone),
        "venue": event.venue,
        "address": event.address,
        "online_url": event.online_url,
        "dress_code": event.dress_code,
        "embassy": event.embassy.name,
        "cancelled": event.status == "cancelled",
    }


def _answers(invitation: Invitation, event: Event) -> list[dict[str, str]]:
    """The questions answered, in the event's order, with their labels."""
    given = invitation.answers or {}
    return [
        {"label": str(q.get("label", q["id"])), "value": str(given[str(q["id"])])}
        for q in event.questions or []
        if given.get(str(q["id"]))
    ]


def _sample(settings: Settings) -> dict[str, Any]:
    return {
        "event": {
            "title": "Reception for alumni",
            "when": "Friday 27 March 2026, 18:00 Riga time (UTC+2)",
            "venue": "The Residence",
            "address": "1 Example Street, Riga",
            "online_url": "",
            "dress_code": "Business attire",
            "embassy": "Embassy in Riga",
            "cancelled": False,
        },
        "guest_names": [],
        "answers": [],
        "rsvp_url": f"{settings.app.base_url}/rsvp/sample",
        "checkin_url": "",
        "checkin_cid": "",
    }


async def _context(row: OutboxMessage, settings: Settings) -> dict[str, Any]:
    scalars = {
        "status": str(row.context.get("status", "yes")),
        "guests": int(row.context.get("guests", 0)),
        "position": row.context.get("position"),
    }
    if "invitation" not in row.context:
        return {**scalars, **_sample(settings)}
    invitation = await Invitation.get_or_none(id=int(row.context["invitation"])).select_related(
        "event", "event__embassy"
    )
    if invitation is None:
        raise RenderError(f"{row.template}: invitation {row.context['invitation']} is gone")
    event = invitation.event
    return {
        **scalars,
        "event": _event(event),
        "guest_names": list(invitation.guest_names or []),
        "answers": _answers(invitation, event),
        "rsvp_url": rsvp_url(settings, invitation),
        "sender": await sender_for(event, settings),
        **_checkin(settings, invitation, event, scalars["status"]),
    }


def _checkin(
    settings: Settings, invitation: Invitation, event: Event, status: str
) -> dict[str, Any]:
    """Coming to an event in person: the check-in link and its QR code (an inline
    image of the HTML part) for the door (engage.invitations.checkin)."""
    online_only = bool(event.online_url) and not (event.venue or event.address)
    if status != "yes" or online_only or event.status == "cancelled":
        return {"checkin_url": "", "checkin_cid": ""}
    image = checkin_qr(settings, invitation)
    return {
        "checkin_url": checkin_url(settings, invitation),
        "checkin_cid": image.cid,
        "inline_images": [image],
    }


@register_context("rsvp_confirmation")
async def _confirmation(row: OutboxMessage, settings: Settings) -> dict[str, Any]:
    return await _context(row, settings)


@register_context("waitlist_promoted")
async def _promoted(row: OutboxMessage, settings: Settings) -> dict[str, Any]:
    return await _context(row, settings)
