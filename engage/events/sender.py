"""Who an event's emails come from: the embassy's alumni desk, replies to a person.

A context loader of an event's email returns it as ``"sender"``, and the renderer
sets From and Reply-To (engage.mail.render)::

    @register_context("invitation")
    async def _invitation(row, settings):
        ...
        return {"sender": await sender_for(event, settings), ...}
"""

from __future__ import annotations

import re

from engage.accounts.models import User
from engage.events.models import Event
from engage.places.models import Embassy
from engage.settings import Settings

_NOT_LOCAL_PART = re.compile(r"[^a-z0-9-]+")


async def sender_for(event: Event, settings: Settings) -> dict[str, str]:
    """From: the embassy's alumni desk at ``mail.domain`` (e.g.
    ``alumni-rix@engage.example``); Reply-To: the event's contact, else its creator
    (empty when neither account remains)."""
    embassy = await Embassy.get(id=event.embassy_id)  # type: ignore[attr-defined]
    user_id = event.contact_id or event.created_by_id  # type: ignore[attr-defined]
    person = await User.get_or_none(id=user_id) if user_id else None
    local = _NOT_LOCAL_PART.sub("-", embassy.code.lower()).strip("-") or "desk"
    return {
        "name": embassy.sender_name or f"{embassy.name} alumni desk",
        "address": f"alumni-{local}@{settings.mail.domain}",
        "reply_to": person.email if person is not None else "",
        "reply_to_name": "",
    }
