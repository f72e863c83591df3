"""The RSVP rules as flows of SQL statements (engage.invitations.sql_flow): an answer,
and the waitlist moving up. ``engage.invitations.rsvp`` runs them and states the rules.

An answer is one transaction::

    1. the invitation, its event (locked: FOR UPDATE on PostgreSQL; on SQLite the
       transaction holds the write lock from its start), the embassy and the person
    2. the checks (the link, answers open, the answer itself), the answer time, the
       decision: a seat, the waitlist, a refusal, seats freed
    3. only when seats were freed: the head of the waitlist, page by page
    4. when the answer waits: the people waiting before it (its position)
    5. the writes, as one batch: the invitation (only if unchanged since step 1, else
       the flow runs again), the promoted, the seat count, the outbox rows, the
       person's engagement line

On PostgreSQL steps 4 and 5 are one statement, so the event's row lock is held for
two round trips (three when seats were freed) and the commit; on SQLite, for the
statements alone. No model query is built on this path: the statements are fixed
texts (each database keeps them prepared).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from functools import lru_cache
from typing import Any

from tortoise.models import Model

from engage.alumni.addresses import ADDRESS_FIELDS, deliverable_address
from engage.alumni.models import Alumnus, Engagement, EngagementKind
from engage.clock import utcnow
from engage.errors import Conflict, InvalidInput, NotFound
from engage.events import services as events
from engage.events.models import Event, EventStatus
from engage.i18n import _
from engage.invitations.models import Invitation, InvitationStatus
from engage.invitations.rsvp_form import RsvpAnswer, clean_answer
from engage.invitations.sql_flow import Flow, Sql, Stale
from engage.mail.models import Category, OutboxMessage
from engage.mail.outbox import outbox_values
from engage.places.models import Embassy

#: The person's fields an answer needs: names for the email, and where it goes.
PERSON_FIELDS = ("id", "given_name", "family_name", "preferred_name", *ADDRESS_FIELDS)
_WAITLISTED = InvitationStatus.WAITLISTED.value


@dataclass(frozen=True)
class Answered:
    #: With ``event`` set (the locked copy, its ``embassy`` loaded).
    invitation: Invitation
    #: The waitlist position when the answer left the person waiting, else None.
    position: int | None
    #: The people the answer's freed seats went to.
    promoted: tuple[int, ...] = ()


#: Checks an invitation before it is answered (raises NotFound or a subclass).
Accept = Callable[[Invitation], None]
#: The answer, read for the invitation's event (raises InvalidInput).
Given = Callable[[Event], RsvpAnswer]


def _refuse_revoked(invitation: Invitation) -> None:
    if invitation.status == InvitationStatus.REVOKED:
        raise NotFound(_("Not found."))


# --- The answer ---------------------------------------------------------------------------


def answer_flow(
    invitation_id: int,
    given: Given,
    *,
    dialect: str,
    now: datetime | None = None,
    accept: Accept = _refuse_revoked,
) -> Flow[Answered]:
    """Record an answer (see engage.invitations.rsvp for the rules)."""
    (rows,) = yield [Sql(_lookup(dialect), (invitation_id,))]
    if not rows:
        raise NotFound(_("Not found."))
    invitation, event, person = _loaded(rows[0])
    accept(invitation)
    answer = given(event)
    at = _utc(now or utcnow())  # taken under the lock: answer order is decision order
    if not events.can_answer(event, now=at):
        raise Conflict(_closed_message(event))
    cleaned = clean_answer(event, answer)
    before = _State.of(invitation)
    if not _changes(invitation, cleaned):
        if dialect == "postgres":
            # Nothing to write; but the invitation's row was read before the event's
            # lock was held: make sure no answer to it came in between.
            (rows,) = yield [Sql(_STATE, (invitation.id,))]
            if not rows or _State.of_row(rows[0]) != before:
                raise Stale()
        position = None
        if invitation.status == InvitationStatus.WAITLISTED:
            (rows,) = yield [_ahead(invitation, select=True)]
            position = int(rows[0]["ahead"]) + 1
        return Answered(invitation, position)
    seats_before = event.seats_taken
    move_line = _apply(invitation, cleaned, event, at)
    promoted: list[dict[str, Any]] = []
    if move_line:
        promoted = yield from _head_of_line(event, at, answering=invitation)
    waiting = invitation.status == InvitationStatus.WAITLISTED
    writes = _promotion_writes(promoted, at)
    if event.seats_taken != seats_before:
        writes.append(_seats(event))
    writes += _engagement(person["id"], event.id, str(invitation.status), at)
    email = deliverable_address(person) is not None
    position: int | None = None
    if waiting and promoted:
        # Rare (a waitlisted person asking for fewer seats): count once the promoted
        # have left the line, then write the confirmation with that position.
        results = yield [*writes, _update(invitation, before)]
        if not results[-1]:
            raise Stale()
        (rows,) = yield [_ahead(invitation, select=True)]
        position = int(rows[0]["ahead"]) + 1
        if email:
            yield [_outbox([_confirmation(invitation, person, position)])]
    else:
        counted = False
        if waiting and dialect == "postgres":
            # One statement (sql_flow merges the batch): the position counted first
            # (part w0), then read by the outbox row and by the invitation's update.
            writes.insert(0, _ahead(invitation, select=True))
            counted = True
        elif waiting:
            # SQLite runs the flow in its own thread: count, then write.
            (rows,) = yield [_ahead(invitation, select=True)]
            position = int(rows[0]["ahead"]) + 1
        if email:
            confirmation = _confirmation(invitation, person, position)
            writes.append(_outbox([confirmation], counted=counted))
        results = yield [*writes, _update(invitation, before, counted=counted)]
        if not results[-1]:
            raise Stale()
        if counted:
            position = int(results[-1][0]["ahead"]) + 1
    return Answered(invitation, position, tuple(int(row["id"]) for row in promoted))


def _closed_message(event: Event) -> str:
    if event.status == EventStatus.CANCELLED:
        return _("This event has been cancelled.")
    return _("Answers to this invitation are closed.")


def _changes(invitation: Invitation, given: RsvpAnswer) -> bool:
    current = str(invitation.status)
    if current == InvitationStatus.WAITLISTED:
        current = "yes"
    return (
        current != given.status
        or invitation.guests != given.guests
        or list(invitation.guest_names or []) != given.guest_names
        or dict(invitation.answers or {}) != given.answers
    )


def _apply(invitation: Invitation, given: RsvpAnswer, event: Event, at: datetime) -> bool:
    """Decide the answer on the objects (the invitation, ``event.seats_taken``); True
    when seats were freed (or a waitlisted person now needs fewer), so the line moves."""
    before = invitation.status
    held = 1 + invitation.guests if before == InvitationStatus.YES else 0
    need = 1 + given.guests
    seats = event.seats_taken
    move_line = False
    if given.status != "yes":
        status = InvitationStatus(given.status)
        seats -= held
        invitation.waitlisted_at = None
        move_line = held > 0
    elif before == InvitationStatus.YES:
        if event.capacity is not None and seats - held + need > event.capacity:
            free = event.capacity - seats
            raise InvalidInput(
                _("Not enough free seats."),
                fields={
                    "guests": _(
                        "Only %(free)d more seat(s) are free: you can bring at most "
                        "%(most)d guest(s).",
                        free=free,
                        most=invitation.guests + free,
                    )
                },
            )
        status = InvitationStatus.YES
        seats += need - held
        move_line = need < held
    elif before == InvitationStatus.WAITLISTED:
        status = InvitationStatus.WAITLISTED  # keeps its place in the line
        move_line = need < 1 + invitation.guests
    elif event.capacity is None or seats + need <= event.capacity:
        status = InvitationStatus.YES
        seats += need
    else:
        status = InvitationStatus.WAITLISTED
        invitation.waitlisted_at = at
    invitation.status = status
    invitation.guests = given.guests
    invitation.guest_names = given.guest_names
    invitation.answers = given.answers
    invitation.responded_at = at
    event.seats_taken = seats
    room = event.capacity is None or event.capacity - seats >= need
    return move_line or (status == InvitationStatus.WAITLISTED and room)


@dataclass(frozen=True)
class _State:
    """What the answer's decision rests on, to check it is still so when writing."""

    status: str
    guests: int
    token_version: int

    @classmethod
    def of(cls, invitation: Invitation) -> _State:
        return cls(str(invitation.status), invitation.guests, invitation.token_version)

    @classmethod
    def of_row(cls, row: Mapping[str, Any]) -> _State:
        return cls(str(row["status"]), int(row["guests"]), int(row["token_version"]))


_STATE = 'SELECT "status", "guests", "token_version" FROM "invitations_invitation" WHERE "id" = ?'


def _update(invitation: Invitation, before: _State, *, counted: bool = False) -> Sql:
    """The invitation's answer, only if nothing changed it since it was read; returns
    its id (none: stale) and, when ``counted`` (PostgreSQL, the batch's part w0 counted
    them), how many wait before it."""
    returning = ', (SELECT "ahead" FROM w0) AS "ahead"' if counted else ""
    text = (
        'UPDATE "invitations_invitation" SET "status" = ?, "guests" = ?, '  # noqa: S608 - fixed names, values as parameters
        '"guest_names" = ?, "answers" = ?, "responded_at" = ?, "waitlisted_at" = ?, '
        '"promoted_at" = ? WHERE "id" = ? AND "status" = ? AND "guests" = ? '
        f'AND "token_version" = ? RETURNING "id"{returning}'
    )
    values: list[Any] = [
        str(invitation.status),
        invitation.guests,
        _json(invitation.guest_names),
        _json(invitation.answers),
        invitation.responded_at,
        invitation.waitlisted_at,
        invitation.promoted_at,
        invitation.id,
        before.status,
        before.guests,
        before.token_version,
    ]
    return Sql(text, values)


#: Waitlisted invitations of an event before a given one (by waitlisted_at, then id).
_AHEAD = (
    'SELECT count(*) FROM "invitations_invitation" AS "w" WHERE "w"."event_id" = ? '  # noqa: S608 - fixed names, values as parameters
    f'AND "w"."status" = \'{_WAITLISTED}\' AND ("w"."waitlisted_at" < ? '
    'OR ("w"."waitlisted_at" = ? AND "w"."id" < ?))'
)


def _ahead_values(invitation: Invitation) -> list[Any]:
    at = invitation.waitlisted_at
    return [_event_id(invitation), at, at, invitation.id]


def _ahead(invitation: Invitation, *, select: bool = False) -> Sql:
    text = f'SELECT ({_AHEAD}) AS "ahead"' if select else _AHEAD
    return Sql(text, _ahead_values(invitation))


def _seats(event: Event) -> Sql:
    return Sql(
        'UPDATE "events_event" SET "seats_taken" = ? WHERE "id" = ?',
        (event.seats_taken, event.id),
    )


# --- The waitlist moving up ---------------------------------------------------------------


def promotion_flow(event: Event, at: datetime, *, dialect: str) -> Flow[list[Invitation]]:
    """Give ``event``'s free seats to its waitlist (the event's row locked by the
    caller); ``event.seats_taken`` is updated on the object too."""
    promoted = yield from _head_of_line(event, at)
    if promoted:
        writes = _promotion_writes(promoted, at)
        writes.append(_seats(event))
        yield writes
    return [_promoted(row, event, at) for row in promoted]


def _head_of_line(
    event: Event, at: datetime, *, answering: Invitation | None = None
) -> Flow[list[dict[str, Any]]]:
    """The people on the waitlist who get the free seats, in order, each first who
    fits (someone needing more than is left is skipped, keeping their place). Adds
    their seats to ``event.seats_taken``; ``answering`` (written later, in the same
    batch) is read as it now is."""
    free = None if event.capacity is None else event.capacity - event.seats_taken
    if free is not None and free <= 0:
        return []
    self_id = answering.id if answering is not None else 0
    # Only people needing at most ``free`` seats can be picked: read the line a page
    # at a time (one row when one seat freed and nobody brings guests).
    page = 0 if free is None else max(free, 1) * 2
    picked: list[dict[str, Any]] = []
    taken = 0
    offset = 0
    while True:
        (rows,) = yield [_line(event.id, free, self_id, page, offset)]
        for row in rows:
            if row["id"] == self_id:
                assert answering is not None
                if answering.status != InvitationStatus.WAITLISTED:
                    continue  # it just left the line
                row["guests"] = answering.guests
            need = 1 + int(row["guests"])
            if free is not None and need > free - taken:
                continue
            taken += need
            picked.append(row)
            if free is not None and free - taken <= 0:
                break
        full = free is not None and free - taken <= 0
        if full or not page or len(rows) < page:
            break
        offset += page
    event.seats_taken += taken
    if answering is not None and any(row["id"] == self_id for row in picked):
        # The person answering learns it from their own confirmation.
        answering.status, answering.promoted_at = InvitationStatus.YES, at
        picked = [row for row in picked if row["id"] != self_id]
    return picked


def _line(event_id: int, free: int | None, self_id: int, page: int, offset: int) -> Sql:
    people = ", ".join(f'"a"."{name}" AS "{name}"' for name in PERSON_FIELDS[1:])
    fits = ""
    values: list[Any] = [event_id]
    if free is not None:
        fits = ' AND ("i"."guests" < ? OR "i"."id" = ?)'
        values += [free, self_id]
    limit = ""
    if page:
        limit = " LIMIT ? OFFSET ?"
        values += [page, offset]
    text = (
        'SELECT "i"."id" AS "id", "i"."guests" AS "guests", "i"."event_id" AS "event_id", '  # noqa: S608 - fixed names, values as parameters
        f'"a"."id" AS "alumnus_id", '
        f'{people} FROM "invitations_invitation" AS "i" '
        'JOIN "alumni_alumnus" AS "a" ON "a"."id" = "i"."alumnus_id" '
        f'WHERE "i"."event_id" = ? AND "i"."status" = \'{_WAITLISTED}\'{fits} '
        f'ORDER BY "i"."waitlisted_at", "i"."id"{limit}'
    )
    return Sql(text, values)


def _promotion_writes(promoted: list[dict[str, Any]], at: datetime) -> list[Sql]:
    if not promoted:
        return []
    ids = [int(row["id"]) for row in promoted]
    marks = ", ".join("?" * len(ids))
    writes = [
        Sql(
            'UPDATE "invitations_invitation" SET "status" = ?, "promoted_at" = ? '  # noqa: S608 - fixed names, values as parameters
            f'WHERE "id" IN ({marks})',
            [InvitationStatus.YES.value, at, *ids],
        )
    ]
    emails = [row for row in promoted if deliverable_address(row)]
    if emails:
        writes.append(_outbox([_promotion(row, at) for row in emails]))
    return writes


def _promoted(row: Mapping[str, Any], event: Event, at: datetime) -> Invitation:
    invitation = Invitation(
        id=int(row["id"]),
        event_id=event.id,
        alumnus_id=int(row["alumnus_id"]),
        status=InvitationStatus.YES,
        guests=int(row["guests"]),
        promoted_at=at,
        invited_at=at,
    )
    invitation._saved_in_db = True
    return invitation


# --- Emails and the engagement line -------------------------------------------------------


def _name(person: Mapping[str, Any]) -> str:
    return str(person["preferred_name"] or f"{person['given_name']} {person['family_name']}")


def _stamp(instant: datetime | None) -> int:
    return int((instant or utcnow()).timestamp() * 1_000_000)


def _calendar(event_id: int, invitation_id: int) -> dict[str, Any]:
    return {
        "kind": "event_ics",
        "event": event_id,
        "method": "REQUEST",
        "invitation": invitation_id,
    }


def _confirmation(
    invitation: Invitation, person: Mapping[str, Any], position: int | None
) -> dict[str, Any]:
    """The confirmation's outbox row: one per answer given (its time is in the key)."""
    context: dict[str, Any] = {
        "invitation": invitation.id,
        "status": str(invitation.status),
        "guests": invitation.guests,
    }
    if position is not None:
        context["position"] = position
    if invitation.status in (InvitationStatus.YES, InvitationStatus.MAYBE):
        context["attachments"] = [_calendar(_event_id(invitation), invitation.id)]
    return outbox_values(
        "rsvp_confirmation",
        to=deliverable_address(person) or "",
        to_name=_name(person),
        category=Category.TRANSACTIONAL,
        dedupe_key=f"rsvp:{invitation.id}:{_stamp(invitation.responded_at)}",
        context=context,
        recipient=("alumnus", int(person["id"])),
    )


def _promotion(row: Mapping[str, Any], at: datetime) -> dict[str, Any]:
    return outbox_values(
        "waitlist_promoted",
        to=deliverable_address(row) or "",
        to_name=_name(row),
        category=Category.TRANSACTIONAL,
        dedupe_key=f"promoted:{row['id']}:{_stamp(at)}",
        context={
            "invitation": int(row["id"]),
            "guests": int(row["guests"]),
            "attachments": [_calendar(int(row["event_id"]), int(row["id"]))],
        },
        recipient=("alumnus", int(row["alumnus_id"])),
    )


def _outbox(rows: list[dict[str, Any]], *, counted: bool = False) -> Sql:
    """One INSERT of outbox rows (a dedupe key already there is skipped). ``counted``
    (PostgreSQL, the batch's part w0 counted the people waiting before the answer):
    the first row's context gets ``position``."""
    columns = tuple(rows[0])
    names = ", ".join(f'"{column}"' for column in columns)
    context = columns.index("context")
    tuples = []
    values: list[Any] = []
    for index, row in enumerate(rows):
        marks = ["?"] * len(columns)
        if index == 0 and counted:
            marks[context] = (
                "(CAST(? AS jsonb) || jsonb_build_object('position', "
                '(SELECT "ahead" FROM w0) + 1))'
            )
        tuples.append(f"({', '.join(marks)})")
        values += [_db_value(column, row[column]) for column in columns]
    text = (
        f'INSERT INTO "{OutboxMessage._meta.db_table}" ({names}) VALUES {", ".join(tuples)} '  # noqa: S608 - fixed names, values as parameters
        "ON CONFLICT DO NOTHING"
    )
    return Sql(text, values)


def _db_value(column: str, value: Any) -> Any:
    if column == "context":
        return _json(value)
    if isinstance(value, Enum):
        return value.value
    return value


def _engagement(alumnus_id: int, event_id: int, detail: str, at: datetime) -> list[Sql]:
    """The person's timeline line for the answer, and ``last_engaged_at`` moved forward
    (as engage.alumni.engagement.record_engagement writes them)."""
    return [
        Sql(
            f'INSERT INTO "{Engagement._meta.db_table}" '  # noqa: S608 - fixed names, values as parameters
            '("alumnus_id", "kind", "at", "ref_type", "ref_id", "detail") '
            "VALUES (?, ?, ?, ?, ?, ?)",
            (alumnus_id, EngagementKind.ANSWERED.value, at, "event", event_id, detail[:300]),
        ),
        Sql(
            f'UPDATE "{Alumnus._meta.db_table}" SET "last_engaged_at" = ? WHERE "id" = ? '  # noqa: S608 - fixed names, values as parameters
            'AND ("last_engaged_at" IS NULL OR "last_engaged_at" < ?)',
            (at, alumnus_id, at),
        ),
    ]


# --- Reading the rows ---------------------------------------------------------------------


#: The lookup's tables, by alias, with the model that reads their columns.
_TABLES: tuple[tuple[str, type[Model]], ...] = (
    ("i", Invitation),
    ("e", Event),
    ("m", Embassy),
)


@lru_cache(maxsize=2)
def _lookup(dialect: str) -> str:
    columns = [
        f'"{alias}"."{name}" AS "{alias}__{name}"'
        for alias, model in _TABLES
        for name in sorted(model._meta.db_fields)
    ]
    columns += [f'"a"."{name}" AS "a__{name}"' for name in PERSON_FIELDS]
    lock = ' FOR UPDATE OF "e"' if dialect == "postgres" else ""
    return (
        f'SELECT {", ".join(columns)} FROM "invitations_invitation" AS "i" '  # noqa: S608 - fixed names, values as parameters
        'JOIN "events_event" AS "e" ON "e"."id" = "i"."event_id" '
        'JOIN "places_embassy" AS "m" ON "m"."id" = "e"."embassy_id" '
        'JOIN "alumni_alumnus" AS "a" ON "a"."id" = "i"."alumnus_id" '
        f'WHERE "i"."id" = ?{lock}'
    )


def _loaded(row: Mapping[str, Any]) -> tuple[Invitation, Event, dict[str, Any]]:
    parts: dict[str, dict[str, Any]] = {"i": {}, "e": {}, "m": {}, "a": {}}
    for key, value in row.items():
        alias, _sep, name = key.partition("__")
        parts[alias][name] = value
    invitation = Invitation._init_from_db(**parts["i"])
    event = Event._init_from_db(**parts["e"])
    event.embassy = Embassy._init_from_db(**parts["m"])
    invitation.event = event
    return invitation, event, parts["a"]


def _event_id(invitation: Invitation) -> int:
    return int(invitation.event_id)  # type: ignore[attr-defined]


def _utc(instant: datetime) -> datetime:
    """Times go into the statements in UTC (on SQLite they are compared as text)."""
    if instant.tzinfo is None:
        return instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
