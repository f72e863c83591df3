"""Messages from the attaché to some of an event's invitees, chosen by where they stand.

::

    preview = await message_preview(attache, event.id, ["coming", "maybe"])
    preview.recipients, preview.names, preview.skipped  # 41, ["Ama Mensah", ...], {...}
    message = await send_message(attache, event.id, "Parking", "Use **gate 2**.", ["coming"])
    await list_messages(attache, event.id)               # newest first

The rules:

- **Who may write**: the attachés of the event's embassy, staff and admins; another
  embassy's event answers 404, alumni 403 (``engage.events.services.get_event``).
- **To whom**: the invitees in any of the chosen groups (:data:`GROUPS`):
  ``not_answered`` (invited, no answer yet), ``coming`` (yes), ``maybe``,
  ``waitlisted``, ``declined`` (no), ``attended`` (marked arrived at the door,
  whatever they had answered) and ``no_show`` (said yes and not marked arrived, once
  the event has started; nobody before). A revoked invitation is never written to.
  Someone in two chosen groups gets one message.
- **The one eligibility rule**: a message to invitees is bulk mail under the
  invitations consent (``engage.alumni.eligibility``, ``BulkKind.INVITATIONS``);
  who is left out is counted by reason, as for invitations.
- **Through the outbox**: one row per recipient (category bulk, dedupe key
  ``message:{message}:{invitation}``, context ``{"message": id, "invitation": id}``),
  written in chunks of a few hundred, each a short transaction that also adds to the
  message's ``recipients`` and ``skipped``, so the row always says what was queued.
  The text is rendered when each email is sent (``emails/invitee_message``,
  engage.invitations.message_emails): From the embassy's alumni desk, Reply-To the
  attaché who wrote it. Sending is audit-logged (``invitations.message``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.expressions import Case, F, Q, Subquery, When
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from engage.accounts.actor import Actor, require_role
from engage.accounts.audit import record
from engage.accounts.models import Role
from engage.alumni.addresses import address_fields, deliverable_address
from engage.alumni.eligibility import (
    NO_BULK_STATUSES,
    BulkKind,
    Reason,
    bulk_eligible,
    suppressed_q,
)
from engage.alumni.eligibility import ineligibility as _ineligibility
from engage.alumni.models import Alumnus, Vetting
from engage.clock import utcnow
from engage.errors import InvalidInput
from engage.events.models import Event
from engage.events.services import get_event
from engage.i18n import N_, _
from engage.invitations.message_emails import TEMPLATE
from engage.invitations.models import Invitation, InvitationStatus, InviteeMessage
from engage.mail.models import Category, Topic
from engage.mail.outbox import enqueue_many, is_address, outbox_values
from engage.places.models import Country, ProgrammeStatus

#: The groups an attaché may write to, and how the form names them.
GROUPS: dict[str, str] = {
    "not_answered": N_("Not answered yet"),
    "coming": N_("Coming"),
    "maybe": N_("Maybe"),
    "waitlisted": N_("On the waitlist"),
    "declined": N_("Declined"),
    "attended": N_("Attended"),
    "no_show": N_("Did not attend"),
}
_BY_STATUS = {
    "not_answered": InvitationStatus.INVITED,
    "coming": InvitationStatus.YES,
    "maybe": InvitationStatus.MAYBE,
    "waitlisted": InvitationStatus.WAITLISTED,
    "declined": InvitationStatus.NO,
}
SUBJECT_MAX = 200
BODY_MAX = 20_000
#: Names shown in a preview.
PREVIEW_NAMES = 50
#: Invitations read (and outbox rows written) per transaction.
CHUNK_SIZE = 500
_SEND = "send"


@dataclass(frozen=True)
class MessagePreview:
    """Who a message would reach: how many, the first names (by family name), and
    how many of the chosen invitees are left out, by reason (only reasons that apply)."""

    recipients: int
    names: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)


def _invalid(name: str, message: str) -> InvalidInput:
    return InvalidInput(_("Please correct the marked fields."), fields={name: message})


def check_groups(groups: Iterable[str]) -> list[str]:
    """The chosen groups, known and in :data:`GROUPS` order (InvalidInput otherwise)."""
    chosen = {str(g) for g in groups}
    unknown = chosen - set(GROUPS)
    if unknown:
        raise _invalid("statuses", _("Unknown group: %(name)s.", name=sorted(unknown)[0]))
    if not chosen:
        raise _invalid("statuses", _("Choose who the message is for."))
    return [g for g in GROUPS if g in chosen]


def _check_text(subject: str, body: str) -> tuple[str, str]:
    subject = " ".join((subject or "").split())
    body = (body or "").strip()
    errors = {}
    if not subject:
        errors["subject"] = _("Give the message a subject.")
    elif len(subject) > SUBJECT_MAX:
        errors["subject"] = _("At most %(n)s characters.", n=SUBJECT_MAX)
    if not body:
        errors["body"] = _("Write the message.")
    elif len(body) > BODY_MAX:
        errors["body"] = _("At most %(n)s characters.", n=BODY_MAX)
    if errors:
        raise InvalidInput(_("Please correct the marked fields."), fields=errors)
    return subject, body


def audience_q(groups: Sequence[str], event: Event, *, now: datetime) -> Q:
    """The event's invitations in any of ``groups`` (a filter on Invitation)."""
    parts = []
    statuses = [_BY_STATUS[g] for g in groups if g in _BY_STATUS]
    if statuses:
        parts.append(Q(status__in=statuses))
    if "attended" in groups:
        parts.append(Q(arrived_at__isnull=False))
    if "no_show" in groups and event.starts_at <= now:
        parts.append(Q(status=InvitationStatus.YES, arrived_at__isnull=True))
    chosen = Q(id__in=[0])  # nobody
    for part in parts:
        chosen |= part
    return Q(chosen, event_id=event.id) & ~Q(status=InvitationStatus.REVOKED)


def _reason_case() -> Case:
    """Why each person is left out (the first reason of the eligibility rule), or "send"."""
    active = Country.filter(programme_status=ProgrammeStatus.ACTIVE).values("code")
    return Case(
        When(~Q(vetting=Vetting.CONFIRMED), then=Reason.PENDING.value),
        When(
            Q(Q(merged_into_id__isnull=False), Q(erased_at__isnull=False), join_type=Q.OR),
            then=Reason.GONE.value,
        ),
        When(Q(email_key__isnull=True), then=Reason.NO_EMAIL.value),
        When(Q(accepts_invitations=False), then=Reason.NO_CONSENT.value),
        When(Q(do_not_engage=True), then=Reason.DO_NOT_ENGAGE.value),
        When(Q(status__in=[s.value for s in NO_BULK_STATUSES]), then=Reason.STATUS.value),
        When(~Q(country_id__in=Subquery(active)), then=Reason.SUSPENDED.value),
        When(suppressed_q(BulkKind.INVITATIONS), then=Reason.SUPPRESSED.value),
        default=_SEND,
    )


async def _event_for(actor: Actor, event_id: object) -> Event:
    require_role(actor, Role.ATTACHE)
    return await get_event(actor, event_id)


async def message_preview(
    actor: Actor, event_id: object, statuses: Iterable[str], *, now: datetime | None = None
) -> MessagePreview:
    """How many would receive a message to ``statuses``, the first names, who is
    left out and why."""
    event = await _event_for(actor, event_id)
    groups = check_groups(statuses)
    now = now or utcnow()
    chosen = Invitation.filter(audience_q(groups, event, now=now)).values("alumnus_id")
    people = Alumnus.filter(id__in=Subquery(chosen))
    rows = (
        await people.annotate(reason=_reason_case())
        .group_by("reason")
        .annotate(n=Count("id"))
        .values("reason", "n")
    )
    skipped = {str(r["reason"]): int(r["n"]) for r in rows if r["reason"] != _SEND}
    eligible = people.filter(bulk_eligible(BulkKind.INVITATIONS))
    recipients = await eligible.count()
    named = await (
        eligible.order_by("family_name", "given_name", "id")
        .limit(PREVIEW_NAMES)
        .values("given_name", "family_name", "preferred_name")
    )
    return MessagePreview(
        recipients=recipients,
        names=[_name(p) for p in named],
        skipped=dict(sorted(skipped.items())),
    )


def _name(person: dict[str, Any]) -> str:
    given = person.get("preferred_name") or person["given_name"]
    return f"{given} {person['family_name']}".strip()


async def send_message(
    actor: Actor,
    event_id: object,
    subject: str,
    body: str,
    statuses: Iterable[str],
    *,
    ip: str = "",
    now: datetime | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> InviteeMessage:
    """Write the message and queue it to every eligible invitee in ``statuses``.

    InvalidInput for an empty subject or body, no group or an unknown one, or when
    nobody would receive it. Returns the message with ``recipients`` and ``skipped``.
    """
    event = await _event_for(actor, event_id)
    groups = check_groups(statuses)
    subject, body = _check_text(subject, body)
    now = now or utcnow()
    query = Invitation.filter(audience_q(groups, event, now=now))
    people = Alumnus.filter(id__in=Subquery(query.values("alumnus_id")))
    if not await people.filter(bulk_eligible(BulkKind.INVITATIONS)).exists():
        raise _invalid("statuses", _("Nobody in these groups can receive the message."))
    message = await InviteeMessage.create(
        event_id=event.id, subject=subject, body=body, statuses=groups, created_by=actor.user
    )
    after = 0
    while True:
        after = await _send_chunk(message, event, query, after, chunk_size=max(1, chunk_size))
        if not after:
            break
        await asyncio.sleep(0)  # let requests in between chunks
    message = await InviteeMessage.get(id=message.id)
    await record(
        "invitations.message",
        actor=actor.user,
        target=("event", event.id),
        details={"message": message.id, "statuses": groups, "recipients": message.recipients},
        ip=ip,
    )
    return message


async def _send_chunk(
    message: InviteeMessage, event: Event, query: Any, after: int, *, chunk_size: int
) -> int:
    """Queue the next chunk of invitations after id ``after``; the last id it covered
    (0: none left)."""
    async with in_transaction() as conn:
        batch = (
            await query.filter(id__gt=after)
            .order_by("id")
            .limit(chunk_size)
            .using_db(conn)
            .values("id", "alumnus_id")
        )
        if not batch:
            return 0
        by_alumnus = {int(r["alumnus_id"]): int(r["id"]) for r in batch}
        people = (
            await Alumnus.filter(id__in=list(by_alumnus))
            .annotate(reason=_reason_case())
            .using_db(conn)
            .values("id", "reason", "given_name", "family_name", *address_fields())
        )
        eligible = set(
            await Alumnus.filter(bulk_eligible(BulkKind.INVITATIONS), id__in=list(by_alumnus))
            .using_db(conn)
            .values_list("id", flat=True)
        )
        skipped: dict[str, int] = {}
        rows = []
        for person in people:
            pk = int(person["id"])
            reason = str(person["reason"])
            if pk in eligible and is_address(deliverable_address(person) or ""):
                rows.append(_outbox(message, by_alumnus[pk], person))
                continue
            if reason == _SEND:  # the rule and its reasons should agree: the rule decides
                reason = await _reason_of(pk, conn)
            skipped[reason] = skipped.get(reason, 0) + 1
        await enqueue_many(rows, using_db=conn)
        stored = await InviteeMessage.get(id=message.id).using_db(conn)
        total = dict(stored.skipped or {})
        for reason, n in skipped.items():
            total[reason] = total.get(reason, 0) + n
        await (
            InviteeMessage.filter(id=message.id)
            .using_db(conn)
            .update(recipients=F("recipients") + len(rows), skipped=total)
        )
        return int(batch[-1]["id"])


async def _reason_of(alumnus_id: int, conn: Any) -> str:
    person = await Alumnus.get(id=alumnus_id).using_db(conn)
    reasons = await _ineligibility(person, BulkKind.INVITATIONS)
    return reasons[0].value if reasons else Reason.NO_EMAIL.value


def _outbox(message: InviteeMessage, invitation_id: int, person: dict[str, Any]) -> dict[str, Any]:
    return outbox_values(
        TEMPLATE,
        to=deliverable_address(person) or "",
        to_name=f"{person['given_name']} {person['family_name']}".strip(),
        category=Category.BULK,
        topic=Topic.INVITATIONS,
        campaign=f"message:{message.id}",
        dedupe_key=f"message:{message.id}:{invitation_id}",
        recipient=("alumnus", int(person["id"])),
        context={"message": message.id, "invitation": invitation_id},
        # A person, not a machine, wrote it: no Auto-Submitted header.
        auto_submitted=False,
    )


async def list_messages(
    actor: Actor, event_id: object, *, limit: int = 50, offset: int = 0
) -> list[InviteeMessage]:
    """The messages sent about the event, newest first (author loaded)."""
    event = await _event_for(actor, event_id)
    return (
        await InviteeMessage.filter(event_id=event.id)
        .select_related("created_by")
        .order_by("-created_at", "-id")
        .offset(max(0, offset))
        .limit(max(0, min(limit, 200)))
    )


async def count_messages(actor: Actor, event_id: object) -> int:
    event = await _event_for(actor, event_id)
    return await InviteeMessage.filter(event_id=event.id).count()
