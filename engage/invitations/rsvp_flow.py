"""The RSVP rules as flows of SQL statements (engage.invitations.sql_flow), deciding
answers given at once together: ``engage.invitations.rsvp`` runs them and states the
rules.

Answers to record (one, or many given at once) are one transaction, a :class:`_Ledger`::

    1. their invitations, events (locked: FOR UPDATE on PostgreSQL; on SQLite the
       transaction holds the write lock from its start), embassies and people: one read
    2. each event's waitlist: its length and its head, read once the lock is held
    3. each answer in turn, in memory: the checks (the link, answers open, the answer
       itself), the answer time, the decision (a seat, the waitlist, a refusal, seats
       freed and given down the line), its position, its emails and engagement line
    4. the writes, all at once (statements in engage.invitations.rsvp_sql); each
       invitation only if unchanged since step 1, else the answers run again

Under the lock nobody else changes these events' seats or lines, so step 3 needs the
database only when it reaches past what step 2 read (the rows further down a long
line): it writes what it has, then reads on. On PostgreSQL a transaction is three
round trips and one commit, however many answers it holds; on SQLite the whole runs
in the database's thread.
"""

from __future__ import annotations

import contextvars
import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from engage.alumni.addresses import deliverable_address
from engage.clock import utcnow
from engage.errors import Conflict, InvalidInput, NotFound
from engage.events import services as events
from engage.events.models import Event, EventStatus
from engage.i18n import _
from engage.invitations.models import Invitation, InvitationStatus
from engage.invitations.rsvp_form import RsvpAnswer, clean_answer
from engage.invitations.rsvp_sql import (
    EVERYONE,
    State,
    Writes,
    ahead,
    instant,
    line_read,
    loaded,
    lookup,
)
from engage.invitations.sql_flow import Flow, Outcome, Stale
from engage.mail.models import Category
from engage.mail.outbox import outbox_values


@dataclass(frozen=True)
class Answered:
    #: With ``event`` set (the locked copy, its ``embassy`` loaded), as the answer left it.
    invitation: Invitation
    #: The waitlist position when the answer left the person waiting, else None.
    position: int | None
    #: The people the answer's freed seats went to.
    promoted: tuple[int, ...] = ()


#: Checks an invitation before it is answered (raises NotFound or a subclass).
Accept = Callable[[Invitation], None]
#: The answer, read for the invitation's event (raises InvalidInput).
Given = Callable[[Event], RsvpAnswer]


def refuse_revoked(invitation: Invitation) -> None:
    if invitation.status == InvitationStatus.REVOKED:
        raise NotFound(_("Not found."))


@dataclass(frozen=True)
class Request:
    """An answer to record."""

    invitation_id: int
    given: Given
    accept: Accept = refuse_revoked
    now: datetime | None = None
    #: The caller's context: the checks run in it (its language, for the messages).
    context: contextvars.Context = field(default_factory=contextvars.copy_context)


def answers_flow(requests: list[Request], dialect: str) -> Flow[list[Outcome]]:
    """Record ``requests`` in order, each as if alone: returns each one's outcome,
    (True, :class:`Answered`) or (False, the exception refusing it)."""
    ledger = _Ledger(dialect)
    yield from ledger.load(sorted({request.invitation_id for request in requests}))
    outcomes = []
    for request in requests:
        outcomes.append((yield from ledger.answer(request)))
    yield from ledger.flush()
    return outcomes


def promotion_flow(event: Event, at: datetime, *, dialect: str) -> Flow[list[Invitation]]:
    """Give ``event``'s free seats to its waitlist (the event's row locked by the
    caller); ``event.seats_taken`` is updated on the object too."""
    ledger = _Ledger(dialect)
    ledger.events[event.id] = event
    ledger.seats_read[event.id] = event.seats_taken
    yield from ledger.read_line(event.id, head=_head_for(event, EVERYONE))
    promoted = yield from ledger.promote(event, at)
    yield from ledger.flush()
    return [_promoted(row, event, at) for row in promoted]


# --- The rules ----------------------------------------------------------------------------


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
    when seats were freed (or a waitlisted person now needs fewer), so the line moves.
    A refusal (InvalidInput) changes nothing."""
    before = invitation.status
    held = 1 + invitation.guests if before == InvitationStatus.YES else 0
    need = 1 + given.guests
    seats = event.seats_taken
    move_line = False
    waitlisted_at = invitation.waitlisted_at
    if given.status != "yes":
        status = InvitationStatus(given.status)
        seats -= held
        waitlisted_at = None
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
        waitlisted_at = at
    invitation.status = status
    invitation.guests = given.guests
    invitation.guest_names = given.guest_names
    invitation.answers = given.answers
    invitation.responded_at = at
    invitation.waitlisted_at = waitlisted_at
    event.seats_taken = seats
    room = event.capacity is None or event.capacity - seats >= need
    return move_line or (status == InvitationStatus.WAITLISTED and room)


def _utc(instant: datetime) -> datetime:
    """Times go into the statements in UTC (on SQLite they are compared as text)."""
    if instant.tzinfo is None:
        return instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def _head_for(event: Event, answers: int) -> int:
    """How much of the line to read: enough for the seats ``answers`` may free."""
    if event.capacity is None:
        return EVERYONE
    return min(EVERYONE, max(answers, event.capacity - event.seats_taken) * 2 + 8)


# --- The ledger ---------------------------------------------------------------------------


@dataclass
class _Line:
    """An event's waitlist as the transaction now has it: how many wait, the latest
    time one joined, and its head (in order; ``whole``: everyone)."""

    total: int
    latest: datetime | None
    head: list[dict[str, Any]]
    whole: bool

    def position(self, invitation_id: int) -> int | None:
        for index, row in enumerate(self.head):
            if row["id"] == invitation_id:
                return index + 1
        return None

    def leave(self, invitation_id: int) -> None:
        self.total -= 1
        self.head = [row for row in self.head if row["id"] != invitation_id]


class _Ledger:
    """The state of a transaction recording answers (see the module's docstring)."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.invitations: dict[int, Invitation] = {}
        self.people: dict[int, dict[str, Any]] = {}
        self.events: dict[int, Event] = {}
        #: Each event's seat count as the database has it.
        self.seats_read: dict[int, int] = {}
        self.lines: dict[int, _Line] = {}
        #: Each invitation's state as the database has it (its update's condition).
        self.states: dict[int, State] = {}
        self.writes = Writes()
        self.clock: datetime | None = None

    # --- Reading

    def load(self, ids: list[int]) -> Flow[None]:
        (rows,) = yield [lookup(ids, self.dialect)]
        freeing: dict[int, int] = {}
        for row in rows:
            invitation, event, person = loaded(row, self.events)
            self.events[event.id] = event
            self.invitations[invitation.id] = invitation
            self.people[invitation.id] = person
            self.states[invitation.id] = State.of(invitation)
            self.seats_read[event.id] = event.seats_taken
            # Who may free seats or move in the line: those coming or waiting.
            moves = invitation.status in (InvitationStatus.YES, InvitationStatus.WAITLISTED)
            freeing[event.id] = freeing.get(event.id, 0) + int(moves)
        for event_id, answers in freeing.items():
            head = _head_for(self.events[event_id], answers) if answers else 0
            yield from self.read_line(event_id, head=head)

    def read_line(self, event_id: int, *, head: int) -> Flow[None]:
        (rows,) = yield [line_read(event_id, head)]
        people = [dict(row) for row in rows if row["id"] is not None]
        for row in people:
            row["waitlisted_at"] = instant(row["waitlisted_at"])
        total = int(rows[0]["total"])
        self.lines[event_id] = _Line(total, instant(rows[0]["latest"]), people, total <= head)

    def _reread(self, event_id: int) -> Flow[None]:
        """Past the head of the line: write what is pending, then read further."""
        yield from self.flush()
        head = max(2 * len(self.lines[event_id].head), 64)
        yield from self.read_line(event_id, head=min(head, EVERYONE))

    def _counted(self, invitation: Invitation) -> Flow[int]:
        """A waiting invitation's position, counted in the database."""
        yield from self.flush()
        (rows,) = yield [ahead(invitation)]
        return int(rows[0]["ahead"]) + 1

    # --- Answering

    def answer(self, request: Request) -> Flow[Outcome]:
        try:
            decided = request.context.run(self._decide, request)
        except Exception as exc:
            return False, exc
        invitation, before, move_line, at = decided
        if before is None:  # nothing changed: nothing to write
            position = None
            if invitation.status == InvitationStatus.WAITLISTED:
                position = self.lines[invitation.event.id].position(invitation.id)
                if position is None:
                    position = yield from self._counted(invitation)
            return True, Answered(copy.copy(invitation), position)
        event = invitation.event
        self._mark(invitation)  # whatever is written next carries its row as it now is
        line = self.lines[event.id]
        was, now = before.status == InvitationStatus.WAITLISTED, invitation.status
        position = None
        if was and now != InvitationStatus.WAITLISTED:
            line.leave(invitation.id)
        elif now == InvitationStatus.WAITLISTED and not was:
            position = yield from self._join(line, invitation)
        elif was:
            for row in line.head:
                if row["id"] == invitation.id:
                    row["guests"] = invitation.guests
        promoted: list[dict[str, Any]] = []
        if move_line:
            promoted = yield from self.promote(event, at, answering=invitation)
        if invitation.status == InvitationStatus.WAITLISTED and position is None:
            position = self.lines[event.id].position(invitation.id)
            if position is None:
                position = yield from self._counted(invitation)
        self._record(invitation, at, position)
        return True, Answered(
            copy.copy(invitation), position, tuple(int(row["id"]) for row in promoted)
        )

    def _decide(self, request: Request) -> tuple[Invitation, State | None, bool, datetime]:
        """The checks and the decision, in memory (in the request's context)."""
        invitation = self.invitations.get(request.invitation_id)
        if invitation is None:
            raise NotFound(_("Not found."))
        request.accept(invitation)
        event = invitation.event
        answer = request.given(event)
        at = self._time(request.now)
        if not events.can_answer(event, now=at):
            raise Conflict(_closed_message(event))
        cleaned = clean_answer(event, answer)
        if not _changes(invitation, cleaned):
            return invitation, None, False, at
        before = State.of(invitation)
        move_line = _apply(invitation, cleaned, event, at)
        return invitation, before, move_line, at

    def _time(self, now: datetime | None) -> datetime:
        """The answer time: given, or now, later than the transaction's previous one
        (answers decided one after the other have times in that order)."""
        if now is not None:
            return _utc(now)
        at = utcnow()
        if self.clock is not None and at <= self.clock:
            at = self.clock + timedelta(microseconds=1)
        self.clock = at
        return at

    def _join(self, line: _Line, invitation: Invitation) -> Flow[int | None]:
        """A yes that waits joins the line's end: it knows its position at once."""
        at = invitation.waitlisted_at
        assert at is not None
        if line.latest is not None and at <= line.latest:
            # Given an earlier time than someone already waiting (a caller's ``now``):
            # it goes in among them; the database says where, and the line is read anew.
            self._mark(invitation)
            yield from self.flush()
            yield from self.read_line(invitation.event.id, head=64)
            return None
        line.total += 1
        line.latest = at
        if line.whole:
            person = self.people[invitation.id]
            row = {
                "id": invitation.id,
                "guests": invitation.guests,
                "event_id": invitation.event.id,
                "waitlisted_at": at,
                "alumnus_id": person["id"],
            }
            line.head.append({**person, **row})
        return line.total

    def promote(
        self, event: Event, at: datetime, *, answering: Invitation | None = None
    ) -> Flow[list[dict[str, Any]]]:
        """Give the free seats down the line, each to the first who fits (someone needing
        more than is left is skipped, keeping their place). Returns the people promoted
        (``answering`` learns it from its own answer)."""
        picked: list[dict[str, Any]] = []
        while True:
            free = None if event.capacity is None else event.capacity - event.seats_taken
            if free is not None and free <= 0:
                break
            line = self.lines[event.id]
            for row in list(line.head):
                need = 1 + int(row["guests"])
                if free is not None and need > free:
                    continue
                line.leave(row["id"])
                event.seats_taken += need
                if free is not None:
                    free -= need
                picked.append(row)
                if free is not None and free <= 0:
                    break
            if line.whole or (free is not None and free <= 0):
                break
            # Seats left and the head read is used up: write the promotions so far
            # (they leave the line in the database too), then read further.
            self._promoted_to_write(picked, at, answering)
            yield from self._reread(event.id)
        self._promoted_to_write(picked, at, answering)
        return [row for row in picked if answering is None or row["id"] != answering.id]

    def _promoted_to_write(
        self, picked: list[dict[str, Any]], at: datetime, answering: Invitation | None
    ) -> None:
        for row in picked:
            if row.get("_written"):
                continue
            row["_written"] = True
            invitation = self.invitations.get(int(row["id"]))
            if invitation is not None:
                # Answering in this transaction: its own update carries the seat.
                invitation.status, invitation.promoted_at = InvitationStatus.YES, at
                self._mark(invitation)
            else:
                self.writes.promoted.append((int(row["id"]), at))
            others = answering is None or row["id"] != answering.id
            if others and deliverable_address(row):
                self.writes.outbox.append(_promotion(row, at))

    # --- Writing

    def _mark(self, invitation: Invitation) -> None:
        self.writes.answered[invitation.id] = (self.states[invitation.id], invitation)

    def _record(self, invitation: Invitation, at: datetime, position: int | None) -> None:
        event = invitation.event
        self._mark(invitation)
        person = self.people[invitation.id]
        status = str(invitation.status)
        self.writes.lines.append((int(person["id"]), event.id, status, at))
        if deliverable_address(person) is not None:
            self.writes.outbox.append(_confirmation(invitation, person, position))

    def flush(self) -> Flow[None]:
        """Write what is pending; Stale if an invitation changed since it was read."""
        writes = self.writes
        for event_id, event in self.events.items():
            if event.seats_taken != self.seats_read[event_id]:
                writes.seats[event_id] = event.seats_taken
        if not writes:
            return
        statements, done = writes.statements(self.dialect)
        results = yield statements
        if done(results) != writes.expected():
            raise Stale()
        for invitation_id, (_before, invitation) in writes.answered.items():
            self.states[invitation_id] = State.of(invitation)
        self.seats_read.update(writes.seats)
        self.writes = Writes()


# --- Emails -------------------------------------------------------------------------------


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
        context["attachments"] = [_calendar(invitation.event.id, invitation.id)]
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
