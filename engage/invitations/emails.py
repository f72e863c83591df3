"""What the invitation emails need at send time: the event in its zone, the personal
RSVP link, and the sender (the embassy's alumni desk, replies to the attaché).

The outbox row holds only the invitation id (``{"invitation": 12}``); the event, the
name and the link are read and derived here, when the message is rendered, so a
change made after the run started is what people see. Four messages share it:

- ``invitation`` (bulk), ``event_reminder`` (bulk), ``event_changed`` and
  ``event_cancelled`` (transactional notices, engage.invitations.notices). An event
  kind may name other folders for them (``[templates]`` in its TOML file): the
  loaders are registered under those names too, for the kinds known when this
  module is imported (:func:`register_event_emails` adds others).

The templates get ``event`` (title, ``starts_at``/``ends_at`` as UTC instants for the
``local_datetime``/``local_time`` filters, ``timezone``, venue, address, online link,
dress code, the description as sanitised HTML and as text, the embassy, the RSVP
deadline, ``one_day`` when it ends on the day it starts), ``name`` (the preferred
name, else the given name), ``invitation`` (status, guests), ``rsvp_url`` and
``sender``. A revoked invitation renders nothing (a RenderError: the message is not
sent), nor does an invitation, reminder or change notice for a cancelled event.

A row without an invitation id (the template check) renders a sample.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup

from engage.events.kinds import EventKind, KindError, event_kinds
from engage.events.models import Event, EventStatus
from engage.events.sender import sender_for
from engage.events.timefmt import to_local
from engage.invitations.links import rsvp_url
from engage.invitations.models import Invitation, InvitationStatus
from engage.mail.models import OutboxMessage
from engage.mail.render import ContextLoader, RenderError, register_context, shared
from engage.markdown import markdown_to_text, render_markdown
from engage.places.models import Embassy
from engage.settings import Settings

#: The messages that are about an event still on: none goes out once it is cancelled.
_ONLY_WHILE_ON = ("invitation", "event_reminder", "event_changed")
_SAMPLE_START = datetime(2026, 3, 27, 16, 0, tzinfo=UTC)


async def event_email_context(
    row: OutboxMessage, settings: Settings, *, message: str
) -> dict[str, Any]:
    """The variables every invitation email gets (see the module doc).

    ``message`` is the kind of message ("invitation", "event_reminder",
    "event_changed", "event_cancelled"), whatever its template folder is called.
    """
    if "invitation" not in row.context:
        return _sample(settings)
    pk = int(row.context["invitation"])
    invitation = await Invitation.get_or_none(id=pk).select_related("event", "alumnus")
    if invitation is None:
        raise RenderError(f"{row.template}: invitation {pk} no longer exists")
    if invitation.status == InvitationStatus.REVOKED:
        raise RenderError(f"{row.template}: invitation {pk} was revoked")
    event = invitation.event
    if event.status == EventStatus.CANCELLED and message in _ONLY_WHILE_ON:
        raise RenderError(f"{row.template}: event {event.id} was cancelled")
    person = invitation.alumnus
    # The same for every invitee: looked up once every few seconds while a run goes out.
    embassy = await shared(
        ("embassy", event.embassy_id),  # type: ignore[attr-defined]
        lambda: Embassy.get(id=event.embassy_id),  # type: ignore[attr-defined]
    )
    return {
        "sender": await shared(("sender", event.id), lambda: sender_for(event, settings)),
        "name": person.preferred_name or person.given_name,
        "event": _event(event, embassy),
        "invitation": {"status": str(invitation.status), "guests": invitation.guests},
        "rsvp_url": rsvp_url(settings, invitation),
    }


def _event(event: Event, embassy: Embassy) -> dict[str, Any]:
    return {
        "title": event.title,
        "starts_at": event.starts_at,
        "ends_at": event.ends_at,
        "timezone": event.timezone,
        "venue": event.venue,
        "address": event.address,
        "online_url": event.online_url,
        "dress_code": event.dress_code,
        # Sanitised by render_markdown (markdown-it safe preset, then nh3).
        "description_html": Markup(render_markdown(event.description)),  # noqa: S704
        "description_text": markdown_to_text(event.description),
        "embassy": embassy.name,
        "city": embassy.city,
        "rsvp_deadline": event.rsvp_deadline,
        "guests_allowed": event.guests_allowed,
        "guests_named": event.guests_named,
        "cancelled": event.status == EventStatus.CANCELLED,
        "one_day": _same_day(event.starts_at, event.ends_at, event.timezone),
    }


def _same_day(starts: datetime, ends: datetime, tz: str) -> bool:
    return to_local(starts, tz).date() == to_local(ends, tz).date()


def _sample(settings: Settings) -> dict[str, Any]:
    description = "Drinks and a short address by the **ambassador**."
    return {
        "name": "Amani",
        "event": {
            "title": "Spring reception",
            "starts_at": _SAMPLE_START,
            "ends_at": _SAMPLE_START.replace(hour=18),
            "timezone": "Europe/Riga",
            "venue": "The Residence",
            "address": "Elizabetes iela 1, Riga",
            "online_url": "",
            "dress_code": "Business attire",
            "description_html": Markup(render_markdown(description)),  # noqa: S704
            "description_text": markdown_to_text(description),
            "embassy": "Embassy in Riga",
            "city": "Riga",
            "rsvp_deadline": _SAMPLE_START.replace(day=20),
            "guests_allowed": 1,
            "guests_named": True,
            "cancelled": False,
            "one_day": True,
        },
        "invitation": {"status": "yes", "guests": 1},
        "rsvp_url": f"{settings.app.base_url}/rsvp/sample",
    }


#: KindTemplates field -> the message it names.
_MESSAGES = {
    "invitation": "invitation",
    "reminder": "event_reminder",
    "change": "event_changed",
    "cancellation": "event_cancelled",
}


def _loader(message: str) -> ContextLoader:
    async def load(row: OutboxMessage, settings: Settings) -> dict[str, Any]:
        return await event_email_context(row, settings, message=message)

    load.__name__ = f"_{message}_context"
    return load


def register_event_emails(kinds: Iterable[EventKind] = ()) -> None:
    """Register the loaders for the four messages under their default folder names
    and under every folder ``kinds`` name for them (a kind may use its own)."""
    for message in _MESSAGES.values():
        register_context(message)(_loader(message))
    for kind in kinds:
        for field, message in _MESSAGES.items():
            register_context(getattr(kind.templates, field))(_loader(message))


def _register_packaged() -> None:
    try:
        kinds = list(event_kinds().values())
    except KindError:
        kinds = []  # start-up reports the bad file; the default names still work
    register_event_emails(kinds)


_register_packaged()
