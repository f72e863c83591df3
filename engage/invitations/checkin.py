"""At the door: the door list, arrivals, walk-ins and the check-in link of the QR code.

::

    door = await door_list(attache, event.id, q="wanj", limit=50, offset=0)
    door.entries[0].name, door.entries[0].guest_names, door.entries[0].arrived
    door.counts.arrived, door.counts.expected            # 31 of 40 coming
    await mark_arrived(attache, invitation.id)           # time and who, audit-logged
    await undo_arrival(attache, invitation.id)
    await add_walk_in(attache, event.id, alumnus_id=person.id)
    await add_walk_in(attache, event.id, person={"given_name": "Wanjiku",
        "family_name": "Kamau", "country": "KE"}, settings=settings)
    entry = await checkin_by_link(actor, settings, token)   # InvalidCheckin for others
    image = checkin_qr(settings, invitation)             # the confirmation's QR code
    await attendance_counts(event)                       # {"attended": 31, "no_show": 9}

The rules:

- **Who**: attachés of the event's embassy, staff and admins. Another embassy's event
  or invitation answers 404, alumni 403 (``engage.events.services.get_event``).
- **The list**: everyone coming (yes), maybe or on the waiting list (labelled), and
  anyone already marked arrived whatever they answered; never a revoked invitation.
  By family name. The search folds names as the directory does
  (``engage.alumni.names``: "wanj" finds "Wanjiru", "коваленко" finds "Kovalenko"):
  every word must start a name of the invitee, or of one of their named guests.
- **When**: the door opens :data:`DOOR_OPENS_BEFORE` the start of a published event
  and stays open afterwards (attendance may be recorded later from a paper list); a
  draft or a cancelled event answers 409.
- **Arrival** records the time and who marked it, once: marking again (two phones at
  the door) keeps the first. Undoing clears both. Both are audit-logged
  (``invitation.arrived``, ``invitation.arrival_undone``). Guests are not checked in
  one by one: they come with the person who brings them.
- **Walk-ins**: someone at the door who is not on the list. An alumnus of the
  embassy's countries found by name is added with an invitation of source
  ``walk_in``, answer yes, arrived now (one seat, under the event's row lock, so
  the capacity count stays true); someone already invited (not answered, declined)
  is just marked arrived. A person not in the directory is created *pending* (no
  account, consent to invitations only if they gave it at the door), so staff or an
  attaché of their country vet them later (``engage.alumni.identity``), and
  recorded the same way. Undoing a walk-in's arrival takes the walk-in off the list
  (the invitation goes, its seat is freed).
- **The check-in link** (:func:`engage.invitations.links.checkin_url`, in the QR code
  of a "yes" confirmation): opened by a signed-in attaché of the event's embassy or
  staff, it shows the person, their guests and a button to mark them arrived. For
  anyone else, and for a forged, revoked or expired link, :class:`InvalidCheckin`:
  one answer that reveals nothing.
- **Counts**: attended = marked arrived (whatever the answer); no-show = said yes and
  not marked arrived, once the event has started (0 before).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import segno
from tortoise.expressions import Q, Subquery
from tortoise.functions import Count, Sum
from tortoise.transactions import in_transaction

from engage.accounts.actor import Actor, require_role
from engage.accounts.audit import record
from engage.accounts.models import Role
from engage.accounts.users import check_email, email_key
from engage.alumni.audience import AudienceFilter, audience_conditions
from engage.alumni.engagement import record_engagement, withdraw_engagement
from engage.alumni.identity import live_alumni
from engage.alumni.models import Alumnus, EngagementKind, Vetting
from engage.alumni.names import query_tokens, refresh_search_tokens, search_key
from engage.alumni.profiles import clean_text, display_name, parse_bool, parse_id
from engage.alumni.rights import is_erased
from engage.clock import utcnow
from engage.errors import Conflict, InvalidInput, NotFound
from engage.events import services as event_services
from engage.events.models import Event, EventStatus
from engage.i18n import _
from engage.invitations.links import CHECKIN_PURPOSE, checkin_url, link_is_live
from engage.invitations.models import Invitation, InvitationSource, InvitationStatus
from engage.invitations.rsvp import lock_event, promote_waitlist
from engage.mail.render import InlineImage
from engage.places.models import Accreditation, Country
from engage.settings import Settings
from engage.tokens import read_token

__all__ = [
    "DOOR_OPENS_BEFORE",
    "DoorCounts",
    "DoorEntry",
    "DoorList",
    "InvalidCheckin",
    "WalkInCandidate",
    "WalkInResult",
    "WalkInView",
    "add_walk_in",
    "attendance_counts",
    "checkin_arrival",
    "checkin_by_link",
    "checkin_qr",
    "door_closed_reason",
    "door_counts",
    "door_list",
    "mark_arrived",
    "undo_arrival",
    "walk_in_candidates",
    "walk_in_countries",
    "walk_in_view",
]

#: How long before the start the door list takes arrivals.
DOOR_OPENS_BEFORE = timedelta(hours=24)
#: Answers that put a person on the door list (besides having arrived).
DOOR_STATUSES = (InvitationStatus.YES, InvitationStatus.MAYBE, InvitationStatus.WAITLISTED)
#: Where a consent given at the door is recorded (``*_consent_source``).
SOURCE_WALK_IN = "walk_in"
#: The most entries one page of the door list shows.
MAX_PAGE = 200
#: People a walk-in search offers.
CANDIDATES = 20
_NAME_MAX = 100
_QUERY_MAX = 200
#: The fields of the new-person walk-in form.
PERSON_FIELDS = (
    "given_name",
    "family_name",
    "given_name_latin",
    "family_name_latin",
    "country",
    "email",
    "accepts_invitations",
)


class InvalidCheckin(Exception):
    """The check-in link opens nothing for this caller: forged, revoked or expired, or
    the caller is not signed in as an attaché of the event's embassy (nor staff).
    Deliberately one exception for all, so the page cannot tell them apart."""


@dataclass(frozen=True)
class DoorEntry:
    """One line of the door list: an invitation (alumnus and ``arrived_by`` loaded)."""

    invitation: Invitation
    name: str
    #: The guests' names as given, and how many come unnamed.
    guest_names: list[str]
    unnamed_guests: int

    @property
    def arrived(self) -> bool:
        return self.invitation.arrived_at is not None

    @property
    def walk_in(self) -> bool:
        return self.invitation.source == InvitationSource.WALK_IN

    @property
    def status(self) -> str:
        return str(self.invitation.status)


@dataclass(frozen=True)
class DoorCounts:
    #: People who said yes, and the guests they bring.
    expected: int = 0
    expected_guests: int = 0
    #: People marked arrived (whatever they answered), and the guests they brought.
    arrived: int = 0
    arrived_guests: int = 0
    maybe: int = 0
    waitlisted: int = 0


@dataclass(frozen=True)
class DoorList:
    event: Event
    entries: list[DoorEntry]
    #: Entries the search selects, on every page.
    total: int
    counts: DoorCounts
    q: str = ""
    #: Why arrivals cannot be marked now ("" when the door is open).
    closed: str = ""


@dataclass(frozen=True)
class WalkInCandidate:
    """A person of the embassy's countries a walk-in search found."""

    alumnus: Alumnus
    name: str
    #: Their invitation to this event, if any (then they are only marked arrived).
    invitation: Invitation | None = None
    pending: bool = False

    @property
    def arrived(self) -> bool:
        return self.invitation is not None and self.invitation.arrived_at is not None


@dataclass(frozen=True)
class WalkInView:
    event: Event
    closed: str
    q: str
    candidates: list[WalkInCandidate]
    countries: list[Country]


@dataclass(frozen=True)
class WalkInResult:
    invitation: Invitation
    #: True when the person was created at the door (pending), False for a known one.
    created: bool = False
    #: Their invitation existed already: only the arrival was marked.
    existing: bool = False


# --- Scope and timing -------------------------------------------------------------------


async def _event_for(actor: Actor, event_id: object) -> Event:
    """The event (embassy loaded) for an attaché of its embassy or staff; 404 / 403."""
    require_role(actor, Role.ATTACHE)
    return await event_services.get_event(actor, event_id)


async def _invitation_for(
    actor: Actor, invitation_id: object, *, event_id: object = None
) -> tuple[Invitation, Event]:
    """An invitation and its event, in the actor's reach (404 otherwise, also when it
    is not an invitation to ``event_id``)."""
    require_role(actor, Role.ATTACHE)
    pk = parse_id(invitation_id)
    invitation = None if pk is None else await Invitation.get_or_none(id=pk)
    if invitation is None or (
        event_id is not None and parse_id(event_id) != invitation.event_id  # type: ignore[attr-defined]
    ):
        raise NotFound(_("Not found."))
    event = await event_services.get_event(actor, invitation.event_id)  # type: ignore[attr-defined]
    return invitation, event


def door_closed_reason(event: Event, *, now: datetime | None = None) -> str:
    """Why arrivals cannot be marked for ``event`` now, or "" when they can."""
    if event.status == EventStatus.DRAFT:
        return _("This event is a draft: publish it first.")
    if event.status == EventStatus.CANCELLED:
        return _("This event was cancelled.")
    if (now or utcnow()) < event.starts_at - DOOR_OPENS_BEFORE:
        return _("Arrivals can be marked from the day before the event.")
    return ""


def _check_open(event: Event, now: datetime) -> None:
    reason = door_closed_reason(event, now=now)
    if reason:
        raise Conflict(reason)


# --- The list ---------------------------------------------------------------------------


def _on_the_list() -> Q:
    """Coming, maybe or waitlisted; or arrived whatever the answer; never revoked."""
    arrived = Q(
        arrived_at__isnull=False,
        status__in=[InvitationStatus.INVITED, InvitationStatus.NO],
    )
    return Q(Q(status__in=list(DOOR_STATUSES)), arrived, join_type=Q.OR)


def _entry(invitation: Invitation) -> DoorEntry:
    names = [str(n) for n in invitation.guest_names or [] if str(n).strip()]
    return DoorEntry(
        invitation=invitation,
        name=display_name(invitation.alumnus),
        guest_names=names,
        unnamed_guests=max(0, invitation.guests - len(names)),
    )


def _guests_match(names: object, tokens: list[str]) -> bool:
    """Whether every query token starts a name token of one of the guests."""
    if not isinstance(names, list):
        return False
    for name in names:
        have = query_tokens(str(name))
        if all(any(h.startswith(t) for h in have) for t in tokens):
            return True
    return False


async def _search(actor: Actor, event_id: int, q: str) -> Q:
    """Invitations of the event whose invitee, or one of whose guests, ``q`` names."""
    names = audience_conditions(AudienceFilter(q=q), actor=actor)
    people = Alumnus.filter(*names).values("id")
    found = Q(alumnus_id__in=Subquery(people))
    tokens = query_tokens(q)
    if not tokens:
        return found
    # Guests' names live in a JSON list: few per event, folded here.
    with_guests = (
        await Invitation.filter(event_id=event_id, guests__gt=0)
        .filter(_on_the_list())
        .values_list("id", "guest_names")
    )
    guests = [pk for pk, names_ in with_guests if _guests_match(names_, tokens)]
    return Q(found, Q(id__in=guests), join_type=Q.OR) if guests else found


async def door_counts(event_id: int) -> DoorCounts:
    """Who is expected and who has arrived (people and their guests)."""
    rows = (
        await Invitation.filter(event_id=event_id)
        .exclude(status=InvitationStatus.REVOKED)
        .annotate(n=Count("id"), guests=Sum("guests"))
        .group_by("status")
        .values("status", "n", "guests")
    )
    arrived = (
        await Invitation.filter(event_id=event_id, arrived_at__isnull=False)
        .exclude(status=InvitationStatus.REVOKED)
        .annotate(n=Count("id"), guests=Sum("guests"))
        .group_by("status")
        .values("status", "n", "guests")
    )
    people = {str(r["status"]): int(r["n"]) for r in rows}
    guests = {str(r["status"]): int(r["guests"] or 0) for r in rows}
    return DoorCounts(
        expected=people.get(InvitationStatus.YES.value, 0),
        expected_guests=guests.get(InvitationStatus.YES.value, 0),
        arrived=sum(int(r["n"]) for r in arrived),
        arrived_guests=sum(int(r["guests"] or 0) for r in arrived),
        maybe=people.get(InvitationStatus.MAYBE.value, 0),
        waitlisted=people.get(InvitationStatus.WAITLISTED.value, 0),
    )


async def door_list(
    actor: Actor,
    event_id: object,
    *,
    q: str = "",
    limit: int = 50,
    offset: int = 0,
    now: datetime | None = None,
) -> DoorList:
    """The door list of an event, searched by name, a page at a time (see the module doc)."""
    event = await _event_for(actor, event_id)
    q = clean_text(q)[:_QUERY_MAX]
    query = Invitation.filter(event_id=event.id).filter(_on_the_list())
    if q:
        query = query.filter(await _search(actor, event.id, q))
    total = await query.count()
    found = (
        await query.select_related("alumnus", "arrived_by")
        .order_by("alumnus__family_name", "alumnus__given_name", "id")
        .offset(max(0, offset))
        .limit(max(0, min(limit, MAX_PAGE)))
    )
    for invitation in found:
        invitation.event = event
    return DoorList(
        event=event,
        entries=[_entry(i) for i in found],
        total=total,
        counts=await door_counts(event.id),
        q=q,
        closed=door_closed_reason(event, now=now),
    )


async def attendance_counts(event: Event, *, now: datetime | None = None) -> dict[str, int]:
    """``attended`` (marked arrived, whatever the answer) and ``no_show`` (said yes, not
    arrived, once the event has started; 0 before)."""
    live = Invitation.filter(event_id=event.id).exclude(status=InvitationStatus.REVOKED)
    attended = await live.filter(arrived_at__isnull=False).count()
    no_show = 0
    if (now or utcnow()) >= event.starts_at:
        no_show = await Invitation.filter(
            event_id=event.id, status=InvitationStatus.YES, arrived_at__isnull=True
        ).count()
    return {"attended": attended, "no_show": no_show}


# --- Arrivals ---------------------------------------------------------------------------


async def _reload(invitation_id: int, event: Event) -> Invitation:
    invitation = await Invitation.get(id=invitation_id).select_related("alumnus", "arrived_by")
    invitation.event = event
    return invitation


async def mark_arrived(
    actor: Actor,
    invitation_id: object,
    *,
    event_id: object = None,
    now: datetime | None = None,
    ip: str = "",
) -> Invitation:
    """Mark the person arrived now, by ``actor``; already arrived keeps the first mark.

    404 out of reach, 409 for a withdrawn invitation or a door not open. Returns the
    invitation (event, alumnus and ``arrived_by`` loaded).
    """
    invitation, event = await _invitation_for(actor, invitation_id, event_id=event_id)
    now = now or utcnow()
    _check_open(event, now)
    async with in_transaction() as conn:
        marked = (
            await Invitation.filter(id=invitation.id, arrived_at__isnull=True)
            .exclude(status=InvitationStatus.REVOKED)
            .using_db(conn)
            .update(arrived_at=now, arrived_by_id=actor.user.id)
        )
        if marked:
            await record(
                "invitation.arrived",
                actor=actor.user,
                target=("invitation", invitation.id),
                details={"event": event.id},
                ip=ip,
                using_db=conn,
            )
            await _attended(invitation.alumnus_id, event, now, conn)  # type: ignore[attr-defined]
    invitation = await _reload(invitation.id, event)
    if invitation.status == InvitationStatus.REVOKED:
        raise Conflict(_("This invitation was withdrawn: the person is not on the list."))
    return invitation


async def undo_arrival(
    actor: Actor,
    invitation_id: object,
    *,
    event_id: object = None,
    now: datetime | None = None,
    ip: str = "",
) -> Invitation | None:
    """Take back an arrival marked by mistake. A walk-in leaves the list (their
    invitation is deleted, its seat freed): returns None then, else the invitation."""
    invitation, event = await _invitation_for(actor, invitation_id, event_id=event_id)
    now = now or utcnow()
    _check_open(event, now)
    if invitation.arrived_at is None:
        return await _reload(invitation.id, event)
    details: dict[str, Any] = {"event": event.id, "arrived_at": invitation.arrived_at.isoformat()}
    async with in_transaction() as conn:
        if invitation.source == InvitationSource.WALK_IN:
            locked = await lock_event(event.id, conn)
            gone = await Invitation.filter(id=invitation.id).using_db(conn).first()
            if gone is not None:
                seats = 1 + gone.guests if gone.status == InvitationStatus.YES else 0
                await gone.delete(using_db=conn)
                if seats:
                    locked.seats_taken = max(0, locked.seats_taken - seats)
                    await (
                        Event.filter(id=locked.id)
                        .using_db(conn)
                        .update(seats_taken=locked.seats_taken)
                    )
                    if now < locked.starts_at:
                        await promote_waitlist(locked, conn)
                details.update(walk_in=True, alumnus=gone.alumnus_id)  # type: ignore[attr-defined]
                await _not_attended(gone.alumnus_id, event, conn)  # type: ignore[attr-defined]
                await record(
                    "invitation.arrival_undone",
                    actor=actor.user,
                    target=("invitation", invitation.id),
                    details=details,
                    ip=ip,
                    using_db=conn,
                )
            return None
        undone = (
            await Invitation.filter(id=invitation.id, arrived_at__isnull=False)
            .using_db(conn)
            .update(arrived_at=None, arrived_by_id=None)
        )
        if undone:
            await record(
                "invitation.arrival_undone",
                actor=actor.user,
                target=("invitation", invitation.id),
                details=details,
                ip=ip,
                using_db=conn,
            )
            await _not_attended(invitation.alumnus_id, event, conn)  # type: ignore[attr-defined]
    return await _reload(invitation.id, event)


async def _attended(
    alumnus_id: int, event: Event, at: datetime, conn: Any, detail: str = ""
) -> None:
    """Attendance on the person's timeline: contacted and engaged."""
    await record_engagement(
        alumnus_id,
        EngagementKind.ATTENDED,
        at=at,
        ref=("event", event.id),
        detail=detail,
        using_db=conn,
    )


async def _not_attended(alumnus_id: int, event: Event, conn: Any) -> None:
    """An arrival undone: its line goes, and the summary columns it had moved."""
    await withdraw_engagement(
        alumnus_id, EngagementKind.ATTENDED, ref=("event", event.id), using_db=conn
    )


# --- Walk-ins ---------------------------------------------------------------------------


def _accredited(event: Event) -> Subquery:
    return Subquery(Accreditation.filter(embassy_id=event.embassy_id).values("country_id"))  # type: ignore[attr-defined]


async def walk_in_countries(actor: Actor, event_id: object) -> list[Country]:
    """The countries a walk-in may be from: those the event's embassy is accredited to."""
    return await _countries(await _event_for(actor, event_id))


async def _countries(event: Event) -> list[Country]:
    return await Country.filter(code__in=_accredited(event)).order_by("name")


async def walk_in_candidates(
    actor: Actor, event_id: object, q: str, *, limit: int = CANDIDATES
) -> list[WalkInCandidate]:
    """People of the embassy's countries whose names ``q`` matches, with their
    invitation to the event if they have one (pending people too, labelled)."""
    event = await _event_for(actor, event_id)
    return await _candidates(actor, event, q, limit=limit)


async def _candidates(
    actor: Actor, event: Event, q: str, *, limit: int = CANDIDATES
) -> list[WalkInCandidate]:
    q = clean_text(q)[:_QUERY_MAX]
    if not q:
        return []
    names = audience_conditions(AudienceFilter(q=q), actor=actor)
    people = (
        await live_alumni()
        .filter(*names)
        .filter(country_id__in=_accredited(event))
        .order_by("family_name", "given_name", "id")
        .limit(max(1, min(limit, 100)))
    )
    invited = {
        i.alumnus_id: i  # type: ignore[attr-defined]
        for i in await Invitation.filter(event_id=event.id, alumnus_id__in=[p.id for p in people])
    }
    return [
        WalkInCandidate(
            alumnus=p,
            name=display_name(p),
            invitation=invited.get(p.id),
            pending=p.vetting == Vetting.PENDING,
        )
        for p in people
    ]


async def walk_in_view(
    actor: Actor, event_id: object, q: str = "", *, now: datetime | None = None
) -> WalkInView:
    """What the walk-in page shows: the event, whether the door is open, the people a
    search found and the countries a new person may be from."""
    event = await _event_for(actor, event_id)
    return WalkInView(
        event=event,
        closed=door_closed_reason(event, now=now),
        q=clean_text(q)[:_QUERY_MAX],
        candidates=await _candidates(actor, event, q),
        countries=await _countries(event),
    )


async def add_walk_in(
    actor: Actor,
    event_id: object,
    *,
    alumnus_id: object = None,
    person: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
    now: datetime | None = None,
    ip: str = "",
) -> WalkInResult:
    """Record someone at the door who is not on the list, arrived now (module doc).

    Either ``alumnus_id`` (a person of the embassy's countries: 404 otherwise) or
    ``person`` (the new-person form: :data:`PERSON_FIELDS`; InvalidInput names each
    field, Conflict when the address belongs to a profile already).
    """
    event = await _event_for(actor, event_id)
    now = now or utcnow()
    _check_open(event, now)
    if alumnus_id is not None and alumnus_id != "":
        pk = parse_id(alumnus_id)
        found = (
            None
            if pk is None
            else await live_alumni().filter(id=pk, country_id__in=_accredited(event)).first()
        )
        if found is None:
            raise NotFound(_("No such alumni profile."))
        return await _record_walk_in(actor, event, found, created=False, now=now, ip=ip)
    if person is None:
        raise InvalidInput(
            _("Choose a person from the search, or fill in the new person's details."),
            fields={"given_name": _("Required."), "family_name": _("Required.")},
        )
    values = await _check_person(event, person, settings)
    async with in_transaction() as conn:
        alumnus = await Alumnus.create(
            **values,
            search_key=search_key(
                values["given_name"],
                values["family_name"],
                values["given_name_latin"],
                values["family_name_latin"],
            ),
            vetting=Vetting.PENDING,
            invitations_consent_at=now,
            invitations_consent_source=SOURCE_WALK_IN,
            accepts_newsletter=False,
            using_db=conn,
        )
        await refresh_search_tokens([alumnus.id], using_db=conn)
        await record(
            "alumnus.create",
            actor=actor.user,
            target=("alumnus", alumnus.id),
            details={"country": values["country_id"], "walk_in": event.id, "vetting": "pending"},
            ip=ip,
            using_db=conn,
        )
    return await _record_walk_in(actor, event, alumnus, created=True, now=now, ip=ip)


async def _check_person(
    event: Event, data: Mapping[str, Any], settings: Settings | None
) -> dict[str, Any]:
    """The new person's fields, cleaned (InvalidInput names each field wrong)."""
    errors: dict[str, str] = {}
    text = {name: clean_text(data.get(name)) for name in PERSON_FIELDS}
    for name in ("given_name", "family_name", "given_name_latin", "family_name_latin"):
        if len(text[name]) > _NAME_MAX:
            errors[name] = _("At most %(n)s characters.", n=_NAME_MAX)
    for name in ("given_name", "family_name"):
        if not text[name]:
            errors[name] = _("Required.")
    country = text["country"].upper()
    if not country:
        errors["country"] = _("Choose the person's country.")
    elif not await Accreditation.exists(embassy_id=event.embassy_id, country_id=country):  # type: ignore[attr-defined]
        errors["country"] = _("Choose one of the embassy's countries.")
    email: str | None = None
    if text["email"]:
        try:
            email = check_email(text["email"])
        except InvalidInput:
            errors["email"] = _("Enter a valid email address, like name@example.org.")
    try:
        consent = parse_bool(text["accepts_invitations"])
    except ValueError:
        consent = False
    if errors:
        raise InvalidInput(_("Please correct the marked fields."), fields=errors)
    if email is not None:
        if await Alumnus.exists(email_key=email_key(email)):
            message = _("A profile has this address already: search for the person by name.")
            raise Conflict(message, fields={"email": message})
        if settings is not None and await is_erased(email, settings):
            message = _("This person asked for their data to be erased; they cannot be added.")
            raise Conflict(message, fields={"email": message})
    return {
        "given_name": text["given_name"],
        "family_name": text["family_name"],
        "given_name_latin": text["given_name_latin"],
        "family_name_latin": text["family_name_latin"],
        "country_id": country,
        "email": email,
        "email_key": email_key(email) if email else None,
        "accepts_invitations": consent,
    }


async def _record_walk_in(
    actor: Actor, event: Event, alumnus: Alumnus, *, created: bool, now: datetime, ip: str
) -> WalkInResult:
    """The walk-in's invitation (yes, arrived now, one seat), or the arrival of an
    invitation they already have; under the event's row lock."""
    async with in_transaction() as conn:
        locked = await lock_event(event.id, conn)
        existing = (
            await Invitation.filter(event_id=event.id, alumnus_id=alumnus.id).using_db(conn).first()
        )
        if existing is not None:
            if existing.status == InvitationStatus.REVOKED:
                raise Conflict(
                    _("This person's invitation was withdrawn: they cannot be added at the door.")
                )
            if existing.arrived_at is None:
                await (
                    Invitation.filter(id=existing.id)
                    .using_db(conn)
                    .update(arrived_at=now, arrived_by_id=actor.user.id)
                )
                await record(
                    "invitation.arrived",
                    actor=actor.user,
                    target=("invitation", existing.id),
                    details={"event": event.id, "walk_in": True},
                    ip=ip,
                    using_db=conn,
                )
                await _attended(alumnus.id, event, now, conn)
            invitation_id, is_existing = existing.id, True
        else:
            invitation = await Invitation.create(
                event_id=event.id,
                alumnus_id=alumnus.id,
                status=InvitationStatus.YES,
                source=InvitationSource.WALK_IN,
                invited_by=actor.user,
                invited_at=now,
                responded_at=now,
                arrived_at=now,
                arrived_by=actor.user,
                using_db=conn,
            )
            await (
                Event.filter(id=locked.id).using_db(conn).update(seats_taken=locked.seats_taken + 1)
            )
            await record(
                "invitation.walk_in",
                actor=actor.user,
                target=("invitation", invitation.id),
                details={"event": event.id, "alumnus": alumnus.id, "new_person": created},
                ip=ip,
                using_db=conn,
            )
            await _attended(alumnus.id, event, now, conn, detail="walk_in")
            invitation_id, is_existing = invitation.id, False
    return WalkInResult(
        invitation=await _reload(invitation_id, event), created=created, existing=is_existing
    )


# --- The check-in link ------------------------------------------------------------------


async def checkin_by_link(
    actor: Actor | None, settings: Settings, token: str, *, now: datetime | None = None
) -> DoorEntry:
    """The person a check-in link names, for a signed-in attaché of the event's embassy
    or staff; :class:`InvalidCheckin` for anyone else and for any invalid link."""
    if actor is None or not actor.at_least(Role.ATTACHE):
        raise InvalidCheckin
    claim = read_token(settings.app.secret_key, CHECKIN_PURPOSE, token)
    if claim is None:
        raise InvalidCheckin
    invitation = await Invitation.get_or_none(id=claim.id).select_related(
        "event", "event__embassy", "alumnus", "arrived_by"
    )
    if invitation is None or not link_is_live(invitation, claim.version, now=now):
        raise InvalidCheckin
    if not actor.can_act_for_embassy(invitation.event.embassy_id):  # type: ignore[attr-defined]
        raise InvalidCheckin
    return _entry(invitation)


async def checkin_arrival(
    actor: Actor | None,
    settings: Settings,
    token: str,
    *,
    now: datetime | None = None,
    ip: str = "",
) -> DoorEntry:
    """Mark the person of a check-in link arrived (the same checks first)."""
    entry = await checkin_by_link(actor, settings, token, now=now)
    assert actor is not None  # checked above
    invitation = await mark_arrived(actor, entry.invitation.id, now=now, ip=ip)
    return _entry(invitation)


def checkin_qr(settings: Settings, invitation: Invitation) -> InlineImage:
    """The check-in link as a QR code (PNG), for the HTML of a "yes" confirmation:
    ``<img src="cid:{image.cid}">``. Built at send time: nothing of it is stored."""
    buffer = io.BytesIO()
    code = segno.make(checkin_url(settings, invitation), error="m", micro=False)
    code.save(buffer, kind="png", scale=6, border=4)
    return InlineImage(
        cid=f"checkin-{invitation.id}@{settings.mail.domain}",
        filename="check-in.png",
        content_type="image/png",
        data=buffer.getvalue(),
    )
