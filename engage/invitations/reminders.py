"""Reminders before an event, as its kind's offsets say, each sent once per person.

The scheduler (``engage.worker.scheduler``) calls :func:`due_reminders` every few
seconds; each call enqueues whatever has fallen due since and is not queued yet::

    written = await due_reminders(now)      # outbox rows written by this call

The rules:

- **Which events**: published, not started. Each rule of ``event.reminders``
  (``{"before_minutes": 10080, "to": "unanswered"}``, copied from the kind) is due
  once its send time has passed, until the event starts.
- **When**: a whole number of days before is the same wall-clock time that many
  days earlier *in the event's zone* (the reception at 18:00 Riga time on 2 April
  2026 is reminded at 18:00 Riga time on 26 March, 16:00 UTC: not 7 x 24 h before,
  which the change to summer time on 29 March would make 19:00). Any other offset is
  absolute (``hours_before = 1`` is 60 minutes before). A kind's ``hours_before = 48``
  is normalised to the same minutes as ``days_before = 2`` and is read as days.
  A wall-clock time that does not exist that day (skipped by a change to summer time)
  falls an hour later; a repeated one is its first occurrence.
- **Who**: ``"unanswered"`` is everyone whose invitation is still unanswered (status
  invited), while answers are still taken (not after the RSVP deadline);
  ``"coming"`` is everyone who said yes *or maybe* (maybe: the reminder shows the
  answer and the link to make up their mind). The waitlisted have no seat to be
  reminded of. A reminder is for those already in that state at its send time: a
  person invited, answering or given a seat after it has just had an email with
  everything in it.
- **Once**: the outbox dedupe key ``reminder:{invitation}:{before_minutes}`` makes
  each reminder one row however many times, or in how many processes, this runs
  (a row already queued or sent is skipped before writing; a race ends at the
  unique key).
- **The one eligibility rule**: reminders are bulk mail under the invitations
  consent (``BulkKind.INVITATIONS``), without the suspension override a staff
  member may have given the invitation run.
- **Work in chunks**: invitations are read in id order, a few hundred per short
  transaction, so on SQLite no request waits behind a long write.

The message is the kind's ``templates.reminder`` (``event_reminder`` by default),
rendered at send time from ``{"invitation": id}`` (engage.invitations.emails).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from engage.alumni.addresses import address_fields, deliverable_address
from engage.alumni.eligibility import BulkKind, bulk_eligible
from engage.alumni.models import Alumnus
from engage.clock import utcnow
from engage.events.kinds import ReminderRule
from engage.events.models import Event, EventStatus
from engage.events.timefmt import to_local
from engage.invitations.jobs import templates_for
from engage.invitations.models import Invitation, InvitationStatus
from engage.mail.models import Category, OutboxMessage, Topic
from engage.mail.outbox import enqueue_many, is_address, outbox_values

log = logging.getLogger("engage.reminders")

#: Invitations read (and outbox rows written) per transaction.
CHUNK_SIZE = 500
_DAY = 24 * 60
#: The longest offset a kind may give (90 days), and a day for the clock changes.
_HORIZON = timedelta(days=91)
#: Who each rule's ``to`` names.
AUDIENCES: dict[str, tuple[InvitationStatus, ...]] = {
    "unanswered": (InvitationStatus.INVITED,),
    "coming": (InvitationStatus.YES, InvitationStatus.MAYBE),
}


def reminder_time(starts_at: datetime, timezone: str, before_minutes: int) -> datetime:
    """When a reminder ``before_minutes`` before ``starts_at`` is due (aware UTC).

    ::

        >>> reminder_time(datetime(2026, 4, 2, 15, 0, tzinfo=UTC), "Europe/Riga", 7 * 24 * 60)
        datetime.datetime(2026, 3, 26, 16, 0, tzinfo=datetime.timezone.utc)
    """
    if before_minutes % _DAY:
        return starts_at.astimezone(UTC) - timedelta(minutes=before_minutes)
    local = to_local(starts_at, timezone).replace(tzinfo=None)
    earlier = local - timedelta(days=before_minutes // _DAY)
    # fold=0: a skipped time takes the offset before the change (an hour later on
    # the clock), a repeated time its first occurrence.
    return earlier.replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def reminder_key(invitation_id: int, before_minutes: int) -> str:
    """The outbox dedupe key of one person's reminder."""
    return f"reminder:{invitation_id}:{before_minutes}"


async def due_reminders(now: datetime | None = None, *, chunk_size: int = CHUNK_SIZE) -> int:
    """Enqueue every reminder due at ``now`` not already in the outbox; how many rows
    it wrote (two runs racing each other may both count a row only one of them wrote)."""
    now = now or utcnow()
    chunk_size = max(1, int(chunk_size))
    events = await Event.filter(
        status=EventStatus.PUBLISHED, starts_at__gt=now, starts_at__lte=now + _HORIZON
    ).order_by("starts_at", "id")
    written = 0
    for event in events:
        for rule in _rules(event):
            send_at = reminder_time(event.starts_at, event.timezone, rule.before_minutes)
            if send_at > now:
                continue
            if rule.to == "unanswered" and event.rsvp_deadline and event.rsvp_deadline <= now:
                continue  # answers are closed: nothing left to remind them of
            written += await _remind(event, rule, send_at, now=now, chunk_size=chunk_size)
    return written


def _rules(event: Event) -> list[ReminderRule]:
    rules = []
    for raw in event.reminders or ():
        try:
            rules.append(ReminderRule.model_validate(raw))
        except ValidationError:
            log.warning("event %s has a reminder rule that is not one: %r", event.id, raw)
    return rules


def _in_state_at(rule: ReminderRule, send_at: datetime) -> Q:
    """Those who were already in the rule's state at its send time."""
    if rule.to == "unanswered":
        return Q(invited_at__lte=send_at)
    answered_before = Q(responded_at__isnull=True) | Q(responded_at__lte=send_at)
    seated_before = Q(promoted_at__isnull=True) | Q(promoted_at__lte=send_at)
    return answered_before & seated_before


async def _remind(
    event: Event, rule: ReminderRule, send_at: datetime, *, now: datetime, chunk_size: int
) -> int:
    template = templates_for(event).reminder
    query = Invitation.filter(
        _in_state_at(rule, send_at), event_id=event.id, status__in=list(AUDIENCES[rule.to])
    )
    written = 0
    after = 0
    while True:
        async with in_transaction() as conn:
            batch = (
                await query.filter(id__gt=after)
                .order_by("id")
                .limit(chunk_size)
                .using_db(conn)
                .values(
                    "id",
                    "alumnus_id",
                    "alumnus__given_name",
                    "alumnus__family_name",
                    *address_fields("alumnus__"),
                )
            )
            if not batch:
                return written
            after = int(batch[-1]["id"])
            keys = {int(p["id"]): reminder_key(int(p["id"]), rule.before_minutes) for p in batch}
            queued = set(
                await OutboxMessage.filter(dedupe_key__in=list(keys.values()))
                .using_db(conn)
                .values_list("dedupe_key", flat=True)
            )
            todo = [p for p in batch if keys[int(p["id"])] not in queued]
            eligible = set(
                await Alumnus.filter(
                    bulk_eligible(BulkKind.INVITATIONS),
                    id__in=[int(p["alumnus_id"]) for p in todo] or [0],
                )
                .using_db(conn)
                .values_list("id", flat=True)
            )
            rows = [
                _reminder(template, person, key=keys[int(person["id"])], now=now, event=event)
                for person in todo
                if int(person["alumnus_id"]) in eligible
                and is_address(deliverable_address(person, prefix="alumnus__") or "")
            ]
            await enqueue_many(rows, using_db=conn)
            written += len(rows)
        await asyncio.sleep(0)  # let requests in between chunks


def _reminder(
    template: str, person: dict[str, Any], *, key: str, now: datetime, event: Event
) -> dict[str, Any]:
    return outbox_values(
        template,
        to=deliverable_address(person, prefix="alumnus__") or "",
        to_name=f"{person['alumnus__given_name']} {person['alumnus__family_name']}".strip(),
        category=Category.BULK,
        topic=Topic.INVITATIONS,
        campaign=f"reminder:{event.id}",
        dedupe_key=key,
        recipient=("alumnus", int(person["alumnus_id"])),
        context={"invitation": int(person["id"])},
        now=now,
    )
