"""What the RSVP pages show, reached three ways: a personal link, the signed-in
alumnus's own invitations, and an event's reply page (open events need no invitation).

::

    view = await rsvp_by_link(settings, token)          # InvalidLink for every bad link
    view = await answer_by_link(settings, token, form_values)
    views = await my_invitations(actor)
    view = await answer_my_invitation(actor, invitation_id, form_values)
    view = await reply_to_event(actor, event_id, form_values)

A view is the invitation (None for an open event not answered yet), its event with
the embassy, whether answers are still taken, and the waitlist position.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from engage.accounts.actor import Actor
from engage.alumni.models import Alumnus
from engage.clock import utcnow
from engage.errors import NotFound
from engage.events import services as events
from engage.events.calendar import Method, event_ics
from engage.events.models import Event
from engage.events.sender import sender_for
from engage.i18n import _
from engage.invitations.links import invitation_for_token, link_is_live, read_rsvp_token
from engage.invitations.models import Invitation, InvitationStatus
from engage.invitations.rsvp import (
    Answered,
    answer_open_event,
    invitations_of_alumnus,
    record_answer,
)
from engage.invitations.rsvp import waitlist_position as _position
from engage.invitations.rsvp_form import RsvpAnswer, form_values_of, parse_answer
from engage.markdown import render_markdown
from engage.places.models import Embassy
from engage.settings import Settings


class InvalidLink(NotFound):
    """The RSVP link is forged, unknown, revoked or expired: one error for all."""

    def __init__(self) -> None:
        super().__init__(_("This link is not valid."))


@dataclass(frozen=True)
class RsvpView:
    #: None: an open event the person has not answered yet.
    invitation: Invitation | None
    #: With ``embassy`` loaded.
    event: Event
    #: Answers are taken now (published, before the deadline).
    accepting: bool
    #: 1, 2, ... while waitlisted.
    position: int | None

    @property
    def description_html(self) -> str:
        """The event's description, rendered and sanitised."""
        return render_markdown(self.event.description)

    @property
    def status(self) -> str:
        return str(self.invitation.status) if self.invitation else InvitationStatus.INVITED.value

    @property
    def values(self) -> dict[str, str]:
        """The current answer as form values (to prefill the form)."""
        return form_values_of(self.invitation) if self.invitation else {}


async def _view(
    invitation: Invitation | None,
    event: Event,
    *,
    now: datetime | None = None,
    answered: Answered | None = None,
) -> RsvpView:
    if not isinstance(event.embassy, Embassy):  # not loaded yet
        await event.fetch_related("embassy")
    if answered is not None:
        position = answered.position
    else:
        position = await _position(invitation) if invitation else None
    return RsvpView(
        invitation=invitation,
        event=event,
        accepting=events.can_answer(event, now=now or utcnow()),
        position=position,
    )


def _typed(values: Mapping[str, str]) -> Callable[[Event], RsvpAnswer]:
    """The answer typed in the form, read for the invitation's event."""
    fields = dict(values)
    return lambda event: parse_answer(fields, event)


async def _answered(
    invitation: Invitation, values: Mapping[str, str], now: datetime | None
) -> RsvpView:
    """Record the typed answer to ``invitation`` (one of the signed-in person's)."""
    done = await record_answer(invitation.id, _typed(values), now=now)
    return await _view(done.invitation, done.invitation.event, now=now, answered=done)


# --- By personal link -------------------------------------------------------------------


async def _by_link(settings: Settings, token: str, now: datetime | None) -> Invitation:
    invitation = await invitation_for_token(settings, token, now=now)
    if invitation is None:
        raise InvalidLink()
    return invitation


async def rsvp_by_link(settings: Settings, token: str, *, now: datetime | None = None) -> RsvpView:
    invitation = await _by_link(settings, token, now)
    return await _view(invitation, invitation.event, now=now)


async def answer_by_link(
    settings: Settings, token: str, values: Mapping[str, str], *, now: datetime | None = None
) -> RsvpView:
    """Record the answer typed in the form (InvalidLink, InvalidInput, Conflict).

    The link is checked inside the answer's transaction: one trip to the database.
    """
    claim = read_rsvp_token(settings, token)
    if claim is None:
        raise InvalidLink()

    def live(invitation: Invitation) -> None:
        if not link_is_live(invitation, claim.version, now=now):
            raise InvalidLink()

    try:
        done = await record_answer(claim.id, _typed(values), accept=live, now=now)
    except InvalidLink:
        raise
    except NotFound:  # no such invitation
        raise InvalidLink() from None
    return await _view(done.invitation, done.invitation.event, now=now, answered=done)


async def calendar_by_link(settings: Settings, token: str) -> bytes:
    """The event's calendar file (PUBLISH), the invitee as attendee."""
    invitation = await _by_link(settings, token, None)
    await invitation.fetch_related("alumnus", "event__embassy")
    event, person = invitation.event, invitation.alumnus
    sender = await sender_for(event, settings)
    attendee = None
    if person.email:
        attendee = (
            person.preferred_name or f"{person.given_name} {person.family_name}",
            person.email,
        )
    return event_ics(
        event,
        event.embassy,
        method=Method.PUBLISH,
        settings=settings,
        attendee=attendee,
        organizer=(sender["name"], sender["address"]),
    )


# --- The signed-in alumnus ------------------------------------------------------------


async def _alumnus(actor: Actor) -> Alumnus:
    alumnus = await events.alumnus_for_user(actor.user)
    if alumnus is None:
        raise NotFound(_("Not found."))
    return alumnus


async def my_invitations(actor: Actor, *, now: datetime | None = None) -> list[RsvpView]:
    """Every invitation of the signed-in alumnus (none without a profile)."""
    alumnus = await events.alumnus_for_user(actor.user)
    if alumnus is None:
        return []
    return [await _view(i, i.event, now=now) for i in await invitations_of_alumnus(alumnus)]


async def _own(actor: Actor, invitation_id: int) -> Invitation:
    alumnus = await _alumnus(actor)
    invitation = (
        await Invitation.filter(id=invitation_id, alumnus_id=alumnus.id)
        .exclude(status=InvitationStatus.REVOKED)
        .select_related("event", "event__embassy")
        .first()
    )
    if invitation is None:
        raise NotFound(_("Not found."))
    return invitation


async def my_invitation(
    actor: Actor, invitation_id: int, *, now: datetime | None = None
) -> RsvpView:
    """One of the alumnus's own invitations (NotFound for anyone else's)."""
    invitation = await _own(actor, invitation_id)
    return await _view(invitation, invitation.event, now=now)


async def answer_my_invitation(
    actor: Actor, invitation_id: int, values: Mapping[str, str], *, now: datetime | None = None
) -> RsvpView:
    return await _answered(await _own(actor, invitation_id), values, now)


# --- An event's reply page (invited, or open to the person's country) --------------------


async def event_reply(actor: Actor, event_id: int, *, now: datetime | None = None) -> RsvpView:
    """The alumnus's answer to an event they may see (NotFound otherwise)."""
    alumnus = await _alumnus(actor)
    event = (
        await Event.filter(events.visible_to_alumnus_q(alumnus), id=event_id)
        .select_related("embassy")
        .first()
    )
    if event is None:
        raise NotFound(_("Not found."))
    invitation = (
        await Invitation.filter(event_id=event.id, alumnus_id=alumnus.id)
        .exclude(status=InvitationStatus.REVOKED)
        .first()
    )
    return await _view(invitation, event, now=now)


async def reply_to_event(
    actor: Actor, event_id: int, values: Mapping[str, str], *, now: datetime | None = None
) -> RsvpView:
    """Answer an event from its page: the person's invitation, or an open event's."""
    current = await event_reply(actor, event_id, now=now)
    given = parse_answer(dict(values), current.event)
    if current.invitation is not None:
        current.invitation.event = current.event
        return await _answered(current.invitation, values, now)
    done = await answer_open_event(await _alumnus(actor), event_id, given, now=now)
    return await _view(done, done.event, now=now)
