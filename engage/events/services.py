"""Events: creating, editing, publishing and cancelling them, and who sees which.

::

    event = await create_event(attache, {"embassy": "RIX", "kind": "reception",
                                         "title": "Spring reception",
                                         "starts_at": "2026-03-27T18:00"}, settings=settings)
    event = await update_event(attache, event.id, {"venue": "The Residence"})
    event = await publish_event(attache, event.id)
    event = await cancel_event(attache, event.id, reason="Storm warning")
    events = await list_events(attache, when="upcoming")
    event = await get_event(alumnus_actor, event.id)     # 404 unless visible to them

The rules:

- **Who**: an attaché creates and edits events only at the embassies assigned to them
  (creating elsewhere is 403; reading or editing another embassy's event is 404, its
  existence unrevealed); staff and admins at any embassy; alumni only read, and only
  published events visible to them: open events at an embassy accredited to their
  country (confirmed profiles), or events they hold a non-revoked invitation to.
- **Times** are wall-clock times in the embassy's zone (copied to the event at
  creation), stored in UTC; a time that does not exist there (spring forward) is a
  field error, an ambiguous one (fall back) takes the first occurrence.
- **Defaults** come from the event's kind (``events/<kind>.toml``) when it is created;
  the event keeps its own copy (questions may be edited and added per event).
- **Status**: draft -> published -> cancelled (a draft may be cancelled too);
  cancelled is final, and a cancelled event cannot be edited (409).
- **Calendar**: SEQUENCE is raised when the start, end, venue, address or online link
  changes, and on cancellation. Listeners (engage.events.hooks) hear of a published
  event's new time or place, of a cancellation, and of capacity raised or removed, in
  the transaction of the change; the capacity is changed under the event's row lock
  and never below the seats already taken.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import uuid4

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from engage.accounts.actor import Actor, require_role
from engage.accounts.audit import record
from engage.accounts.models import EmbassyAssignment, Role, User
from engage.alumni.models import Alumnus, Vetting
from engage.alumni.profiles import clean_text, parse_id
from engage.clock import utcnow
from engage.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from engage.events.hooks import Change, event_changed
from engage.events.input import EDITABLE, TIME_OR_PLACE, EventInput, clean_fields
from engage.events.kinds import get_kind
from engage.events.models import Event, EventStatus, Visibility
from engage.events.timefmt import to_local
from engage.i18n import _
from engage.places.models import Accreditation, Embassy
from engage.settings import Settings

__all__ = [
    "EventInput",
    "alumnus_for_user",
    "can_answer",
    "cancel_event",
    "count_events",
    "create_event",
    "events_for_alumnus",
    "get_event",
    "kind_defaults",
    "list_events",
    "publish_event",
    "update_event",
    "visible_to_alumnus_q",
]

When = Literal["upcoming", "past", "all"]
#: Where a new event's form starts: two weeks ahead, at this local hour.
_DEFAULT_DAYS_AHEAD = 14
_DEFAULT_HOUR = 18
_REASON_MAX = 1000
#: Loaded with every event a function here returns.
_RELATED = ("embassy", "contact")


def _fix(errors: dict[str, str]) -> InvalidInput:
    return InvalidInput(_("Please correct the marked fields."), fields=errors)


# --- Form defaults ----------------------------------------------------------------------


async def kind_defaults(
    kind: str, embassy: Embassy, *, now: datetime | None = None
) -> dict[str, Any]:
    """What a new event's form starts with: the kind's values, a start two weeks ahead
    at 18:00 in the embassy's zone. Times are naive local datetimes."""
    found = get_kind(kind)
    local = to_local(now or utcnow(), embassy.timezone) + timedelta(days=_DEFAULT_DAYS_AHEAD)
    starts = local.replace(hour=_DEFAULT_HOUR, minute=0, second=0, microsecond=0, tzinfo=None)
    return {
        "embassy": embassy.code,
        "kind": found.slug,
        "title": "",
        "description": "",
        "venue": "",
        "address": "",
        "online_url": "",
        "starts_at": starts,
        "ends_at": starts + timedelta(minutes=found.duration_minutes),
        "timezone": embassy.timezone,
        "capacity": found.capacity,
        "guests_allowed": found.guests_allowed,
        "guests_named": found.guests_named,
        "rsvp_deadline": None,
        "questions": [q.model_dump(mode="json") for q in found.questions],
        "dress_code": found.dress_code,
        "visibility": Visibility(found.visibility),
        "contact": None,
    }


# --- Create and change ------------------------------------------------------------------


async def create_event(
    actor: Actor,
    data: EventInput | Mapping[str, Any],
    *,
    settings: Settings,
    ip: str = "",
    now: datetime | None = None,
) -> Event:
    """A new event (a draft unless ``status`` is "published"), with the kind's
    defaults for what ``data`` leaves out. Returns it with its embassy and contact loaded."""
    require_role(actor, Role.ATTACHE)
    raw = dict(data)
    _refuse_unknown(raw, EDITABLE | {"embassy", "kind", "status"})
    embassy = await _embassy_for(actor, raw.get("embassy"))
    errors: dict[str, str] = {}
    kind_slug = clean_text(raw.get("kind"))
    kind = None
    if not kind_slug:
        errors["kind"] = _("Choose a kind of event.")
    else:
        try:
            kind = get_kind(kind_slug)
        except InvalidInput as exc:
            errors["kind"] = exc.fields.get("kind", exc.message)
    status = _initial_status(raw.get("status"), errors)
    if kind is not None:
        defaults: dict[str, Any] = {
            "capacity": kind.capacity,
            "guests_allowed": kind.guests_allowed,
            "guests_named": kind.guests_named,
            "visibility": kind.visibility,
            "dress_code": kind.dress_code,
            "questions": [q.model_dump(mode="json") for q in kind.questions],
        }
        raw = {**defaults, **raw}
    raw.setdefault("title", "")
    raw.setdefault("starts_at", None)
    values = clean_fields(raw, embassy.timezone, errors)
    if (
        kind is not None
        and values.get("starts_at") is not None
        and values.get("ends_at") is None
        and "ends_at" not in errors
    ):
        values["ends_at"] = values["starts_at"] + timedelta(minutes=kind.duration_minutes)
    _check_times(values, errors)
    contact = await _contact(values.pop("contact", None), embassy.id, errors)
    if errors:
        raise _fix(errors)
    assert kind is not None
    now = now or utcnow()
    async with in_transaction() as conn:
        event = await Event.create(
            embassy=embassy,
            kind=kind.slug,
            timezone=embassy.timezone,
            reminders=[r.model_dump(mode="json") for r in kind.reminders],
            uid=f"{uuid4().hex}@{settings.mail.domain}",
            status=status,
            published_at=now if status is EventStatus.PUBLISHED else None,
            contact=contact,
            created_by=actor.user,
            using_db=conn,
            **values,
        )
        await record(
            "event.create",
            actor=actor.user,
            target=("event", event.id),
            details={"embassy": embassy.code, "kind": kind.slug, "status": str(status)},
            ip=ip,
            using_db=conn,
        )
    return await _reload(event.id)


async def update_event(
    actor: Actor,
    event_id: object,
    changes: EventInput | Mapping[str, Any],
    *,
    ip: str = "",
) -> Event:
    """Change some fields of an event (only the keys given change).

    A new start without a new end keeps the event's length. The embassy and kind are
    fixed at creation; the status changes through :func:`publish_event` and
    :func:`cancel_event`. Returns the event with its embassy and contact loaded.
    """
    event = await _event_to_edit(actor, event_id)
    raw = dict(changes)
    _refuse_unknown(raw, EDITABLE | {"embassy", "kind", "status"})
    errors: dict[str, str] = {}
    if "embassy" in raw and str(raw["embassy"]).upper() != event.embassy.code.upper():
        errors["embassy"] = _("An event stays at the embassy it was created at.")
    if "kind" in raw and raw["kind"] != event.kind:
        errors["kind"] = _("An event keeps the kind it was created as.")
    if "status" in raw and raw["status"] != event.status:
        errors["status"] = _("Publish or cancel the event instead.")
    values = clean_fields(raw, event.timezone, errors)
    if "ends_at" in values and values["ends_at"] is None:
        del values["ends_at"]  # left empty: the event keeps its length
    _check_times(_schedule(values, event), errors)
    contact_given = "contact" in values
    contact = await _contact(values.pop("contact", None), event.embassy_id, errors)  # type: ignore[attr-defined]
    if errors:
        raise _fix(errors)
    if contact_given:
        values["contact_id"] = contact.id if contact else None

    async with in_transaction() as conn:
        locked = await _lock(event.id, conn)
        if locked.status == EventStatus.CANCELLED:
            raise Conflict(_("This event was cancelled: it cannot be changed."))
        # Checked again on the locked row: another edit may have moved the event.
        values.update(_schedule(values, locked))
        _check_times(values, errors)
        if errors:
            raise _fix(errors)
        changed = [name for name, value in values.items() if getattr(locked, name) != value]
        old_capacity = locked.capacity
        if "capacity" in changed:
            new = values["capacity"]
            if new is not None and new < locked.seats_taken:
                raise _fix(
                    {
                        "capacity": _(
                            "%(n)s seats are already taken: the capacity cannot be lower.",
                            n=locked.seats_taken,
                        )
                    }
                )
        for name in changed:
            setattr(locked, name, values[name])
        moved = any(name in TIME_OR_PLACE for name in changed)
        if moved:
            locked.sequence += 1
        if not changed:
            return event
        await locked.save(using_db=conn, update_fields=[*changed, "sequence", "updated_at"])
        await record(
            "event.update",
            actor=actor.user,
            target=("event", locked.id),
            details={"changed": sorted(changed), "sequence": locked.sequence},
            ip=ip,
            using_db=conn,
        )
        if moved and locked.status == EventStatus.PUBLISHED:
            await event_changed(locked, Change.TIME_OR_PLACE, conn)
        if "capacity" in changed and _more_seats(old_capacity, locked.capacity):
            await event_changed(locked, Change.CAPACITY, conn)
    return await _reload(locked.id)


async def publish_event(
    actor: Actor, event_id: object, *, ip: str = "", now: datetime | None = None
) -> Event:
    """Publish a draft (a published event stays as it is; a cancelled one is 409)."""
    event = await _event_to_edit(actor, event_id)
    async with in_transaction() as conn:
        locked = await _lock(event.id, conn)
        if locked.status == EventStatus.CANCELLED:
            raise Conflict(_("This event was cancelled: it cannot be published."))
        if locked.status == EventStatus.DRAFT:
            locked.status = EventStatus.PUBLISHED
            locked.published_at = now or utcnow()
            await locked.save(using_db=conn, update_fields=["status", "published_at", "updated_at"])
            await record(
                "event.publish",
                actor=actor.user,
                target=("event", locked.id),
                details={"embassy": event.embassy.code},
                ip=ip,
                using_db=conn,
            )
    return await _reload(locked.id)


async def cancel_event(
    actor: Actor,
    event_id: object,
    *,
    reason: str = "",
    ip: str = "",
    now: datetime | None = None,
) -> Event:
    """Cancel a draft or published event (final: a second cancel is 409).

    Raises the SEQUENCE and tells the listeners (notices to invitees) in the same
    transaction.
    """
    event = await _event_to_edit(actor, event_id)
    reason = clean_text(reason, multiline=True)
    if len(reason) > _REASON_MAX:
        raise _fix({"reason": _("At most %(n)s characters.", n=_REASON_MAX)})
    async with in_transaction() as conn:
        locked = await _lock(event.id, conn)
        if locked.status == EventStatus.CANCELLED:
            raise Conflict(_("This event is already cancelled."))
        was = locked.status
        locked.status = EventStatus.CANCELLED
        locked.cancelled_at = now or utcnow()
        locked.sequence += 1
        await locked.save(
            using_db=conn, update_fields=["status", "cancelled_at", "sequence", "updated_at"]
        )
        await record(
            "event.cancel",
            actor=actor.user,
            target=("event", locked.id),
            details={"embassy": event.embassy.code, "was": str(was), "reason": reason},
            ip=ip,
            using_db=conn,
        )
        await event_changed(locked, Change.CANCELLED, conn)
    return await _reload(locked.id)


# --- Reading ----------------------------------------------------------------------------


async def get_event(actor: Actor, event_id: object) -> Event:
    """One event (embassy and contact loaded); 404 when it is out of the actor's reach."""
    pk = parse_id(event_id)
    query = await _visible(actor)
    event = None if pk is None else await query.filter(id=pk).select_related(*_RELATED).first()
    if event is None:
        raise NotFound(_("No such event."))
    return event


async def list_events(
    actor: Actor,
    *,
    when: When = "upcoming",
    embassy: str | None = None,
    status: EventStatus | None = None,
    limit: int = 50,
    offset: int = 0,
    now: datetime | None = None,
) -> list[Event]:
    """Events the actor may see (embassy and contact loaded): upcoming ones soonest first (an
    event counts as upcoming until it ends), past and all ones latest first.

    ``embassy`` (a code) narrows to one embassy: 404 for one unknown or, for an
    attaché, not theirs.
    """
    query = await _listing(actor, when=when, embassy=embassy, status=status, now=now)
    order = ("starts_at", "id") if when == "upcoming" else ("-starts_at", "-id")
    return await query.select_related(*_RELATED).order_by(*order).offset(offset).limit(limit)


async def count_events(
    actor: Actor,
    *,
    when: When = "upcoming",
    embassy: str | None = None,
    status: EventStatus | None = None,
    now: datetime | None = None,
) -> int:
    """How many events :func:`list_events` selects in all (for paging)."""
    query = await _listing(actor, when=when, embassy=embassy, status=status, now=now)
    return await query.count()


async def alumnus_for_user(user: User) -> Alumnus | None:
    """The alumni profile an account claimed (not merged, not erased), or None."""
    return await Alumnus.get_or_none(user_id=user.id, merged_into_id=None, erased_at=None)


def visible_to_alumnus_q(alumnus: Alumnus) -> Q:
    """Published events the person may see: those they hold a non-revoked invitation
    to, and (for a confirmed profile) open events at an embassy accredited to their
    country. A self-registered profile nobody vouched for yet sees only invitations."""
    # Imported here: the invitations package builds on this module (and importing it
    # registers its email loaders, some of which call back into this module).
    from engage.invitations.models import Invitation, InvitationStatus

    invited = Q(
        id__in=Subquery(
            Invitation.filter(alumnus_id=alumnus.id)
            .exclude(status=InvitationStatus.REVOKED)
            .values("event_id")
        )
    )
    reach = invited
    if alumnus.vetting == Vetting.CONFIRMED and alumnus.erased_at is None:
        accredited = Accreditation.filter(country_id=alumnus.country_id).values("embassy_id")  # type: ignore[attr-defined]
        reach = Q(visibility=Visibility.OPEN, embassy_id__in=Subquery(accredited)) | invited
    return Q(status=EventStatus.PUBLISHED) & reach


async def events_for_alumnus(
    alumnus: Alumnus, *, when: When = "upcoming", now: datetime | None = None
) -> list[Event]:
    """The events a person sees on their page (embassy and contact loaded)."""
    query = _when(Event.filter(visible_to_alumnus_q(alumnus)), when, now or utcnow())
    order = ("starts_at", "id") if when == "upcoming" else ("-starts_at", "-id")
    return await query.select_related(*_RELATED).order_by(*order)


def can_answer(event: Event, *, now: datetime) -> bool:
    """Answers are taken while the event is published, until the RSVP deadline (or,
    without one, the start)."""
    closes = event.rsvp_deadline or event.starts_at
    return event.status == EventStatus.PUBLISHED and now < closes


# --- Helpers ----------------------------------------------------------------------------


def _refuse_unknown(raw: Mapping[str, Any], known: frozenset[str] | set[str]) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise _fix({name: _("Unknown field.") for name in unknown})


def _initial_status(value: object, errors: dict[str, str]) -> EventStatus:
    if value is None or value == "":
        return EventStatus.DRAFT
    if value in (EventStatus.DRAFT, EventStatus.PUBLISHED):
        return EventStatus(str(value))
    errors["status"] = _("A new event is a draft or published.")
    return EventStatus.DRAFT


def _check_times(values: Mapping[str, Any], errors: dict[str, str]) -> None:
    starts, ends = values.get("starts_at"), values.get("ends_at")
    if starts is not None and ends is not None and ends <= starts and "ends_at" not in errors:
        errors["ends_at"] = _("The end must be after the start.")
    deadline = values.get("rsvp_deadline")
    if starts is not None and deadline is not None and deadline > starts:
        errors.setdefault("rsvp_deadline", _("The RSVP deadline must be before the start."))


def _schedule(values: Mapping[str, Any], event: Event) -> dict[str, Any]:
    """The start, end and deadline after ``values`` apply to ``event``: a new start
    without a new end keeps the length."""
    starts = values.get("starts_at", event.starts_at)
    ends = values.get("ends_at")
    if ends is None:
        ends = (
            event.ends_at
            if "starts_at" not in values
            else starts + (event.ends_at - event.starts_at)
        )
    return {
        "starts_at": starts,
        "ends_at": ends,
        "rsvp_deadline": values.get("rsvp_deadline", event.rsvp_deadline),
    }


def _more_seats(old: int | None, new: int | None) -> bool:
    """The capacity was raised or removed: seats may be free for the waitlist."""
    return old is not None and (new is None or new > old)


async def _embassy_for(actor: Actor, value: object) -> Embassy:
    """The embassy a new event is at: 403 for one the attaché does not work for."""
    if isinstance(value, Embassy):
        embassy: Embassy | None = value
    elif value is None or value == "":
        if len(actor.embassy_ids) != 1:
            raise _fix({"embassy": _("Choose an embassy.")})
        embassy = await Embassy.get_or_none(id=next(iter(actor.embassy_ids)))
    else:
        code = clean_text(value)
        embassy = await Embassy.get_or_none(code__iexact=code) if code else None
    if embassy is None:
        raise _fix({"embassy": _("No such embassy.")})
    if not actor.can_act_for_embassy(embassy.id):
        raise PermissionDenied(_("You may create events only at your own embassies."))
    return embassy


async def _contact(value: object, embassy_id: int, errors: dict[str, str]) -> User | None:
    """The person replies go to: an attaché of the embassy, or staff."""
    if value is None:
        return None
    if isinstance(value, int):
        user = await User.get_or_none(id=value, is_active=True)
    else:
        user = await User.get_or_none(email_key=str(value).strip().lower(), is_active=True)
    if user is not None and user.role in (Role.STAFF, Role.ADMIN):
        return user
    if (
        user is not None
        and user.role == Role.ATTACHE
        and await EmbassyAssignment.exists(user_id=user.id, embassy_id=embassy_id)
    ):
        return user
    errors["contact"] = _("Choose an attaché of this embassy or a staff member.")
    return None


async def _visible(actor: Actor) -> QuerySet[Event]:
    """Every event the actor may read."""
    if actor.at_least(Role.STAFF):
        return Event.all()
    if actor.role == Role.ATTACHE:
        return Event.filter(embassy_id__in=sorted(actor.embassy_ids) or [0])
    alumnus = await alumnus_for_user(actor.user)
    if alumnus is None:
        return Event.filter(id__in=[])
    return Event.filter(visible_to_alumnus_q(alumnus))


async def _listing(
    actor: Actor,
    *,
    when: When,
    embassy: str | None,
    status: EventStatus | None,
    now: datetime | None,
) -> QuerySet[Event]:
    query = _when(await _visible(actor), when, now or utcnow())
    if embassy:
        found = await Embassy.get_or_none(code__iexact=embassy.strip())
        if found is None or (actor.role == Role.ATTACHE and found.id not in actor.embassy_ids):
            raise NotFound(_("No such embassy."))
        query = query.filter(embassy_id=found.id)
    if status is not None:
        query = query.filter(status=status)
    return query


def _when(query: QuerySet[Event], when: When, now: datetime) -> QuerySet[Event]:
    if when == "upcoming":
        return query.filter(ends_at__gte=now)
    if when == "past":
        return query.filter(ends_at__lt=now)
    if when == "all":
        return query
    raise _fix({"when": _("upcoming, past or all.")})


async def _event_to_edit(actor: Actor, event_id: object) -> Event:
    """An event the actor may change: 403 for alumni, 404 out of scope, 409 if cancelled."""
    require_role(actor, Role.ATTACHE)
    event = await get_event(actor, event_id)
    if event.status == EventStatus.CANCELLED:
        raise Conflict(_("This event was cancelled: it cannot be changed."))
    return event


async def _reload(event_id: int) -> Event:
    return await Event.filter(id=event_id).select_related(*_RELATED).get()


async def _lock(event_id: int, conn: BaseDBAsyncClient) -> Event:
    """The event's row, locked until the transaction ends (PostgreSQL; SQLite has one
    writer): RSVP answers change ``seats_taken`` under the same lock."""
    return await Event.filter(id=event_id).select_for_update().using_db(conn).get()
