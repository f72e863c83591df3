"""Sending an issue: its audience, who of it is left out and why, and the resumable
run that writes one outbox row per recipient.

::

    audience = NewsletterAudience.from_json({"segment_id": 4})
    people = await audience_people(audience, actor=staff)     # a QuerySet
    counts = await classify(people)         # {"send": 812, "no_consent": 3, ...}
    issue = await run_send(issue.id, owner="worker-1")          # to the end, or paused
    await due_newsletters(now, owner="worker-1")                # the scheduler's job

The rules:

- **The audience** is a saved segment (engage.alumni.segments) or the audience
  filter (engage.alumni.audience), narrowed by the one eligibility rule
  (engage.alumni.eligibility, ``BulkKind.NEWSLETTER``). Who is left out is counted
  by the rule's reasons, computed in SQL (one ``CASE``); who is sent to is decided by
  ``bulk_eligible`` itself.
- **Fixed when the send starts**: the first step of a run writes the audience's
  filter as it is then (a segment's included) and the highest profile id into
  ``Newsletter.audience["fixed"]``. Editing the segment later, or people added
  since, change nothing for this issue. Eligibility is read again at each chunk
  (someone who unsubscribed a minute ago is left out), and once more by the worker
  at send time.
- **The run** walks the fixed audience in id order, chunk by chunk. Each chunk is one
  short transaction that locks the issue's row, writes the chunk's outbox rows
  (``INSERT ... ON CONFLICT DO NOTHING`` on the dedupe key
  ``newsletter:<issue>:<alumnus>``) and moves the checkpoint, so a restart resumes
  where it stopped and nothing is written twice.
- **One runner at a time**: a run first takes the issue's lease (a conditional
  update: nobody holds it, or it expired), and renews it at each chunk; a runner
  whose lease was taken over stops at its next chunk. A second click, a second
  worker or a scheduler tick during the run find the lease held and return. Should
  two ever write at once anyway, the row lock orders their chunks and the dedupe
  key keeps one copy per person.
- **Pause** (``status`` paused) stops the run at its next chunk; resuming sets it
  sending again, and the next runner carries on from the checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Case, Q, Subquery, When
from tortoise.functions import Count
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from engage.accounts.actor import Actor
from engage.accounts.models import Role, User
from engage.alumni.addresses import address_fields, deliverable_address
from engage.alumni.audience import audience_query, check_filter, filter_from
from engage.alumni.eligibility import (
    NO_BULK_STATUSES,
    BulkKind,
    Reason,
    bulk_eligible,
    suppressed_q,
)
from engage.alumni.eligibility import ineligibility as _ineligibility
from engage.alumni.models import Alumnus, Segment, Vetting
from engage.alumni.segments import segment_audience, segment_filter
from engage.clock import utcnow
from engage.errors import EngageError, InvalidInput, NotFound
from engage.i18n import _
from engage.mail.models import Category, Topic
from engage.mail.outbox import enqueue_many, is_address, outbox_values
from engage.newsletters.emails import TEMPLATE, news_start
from engage.newsletters.models import IssueStatus, Newsletter
from engage.places.models import Country, ProgrammeStatus

log = logging.getLogger("engage.newsletters")

#: People handled per chunk (one transaction each).
CHUNK_SIZE = 1000
#: How long a runner holds an issue without writing a chunk before another may take it.
LEASE = timedelta(minutes=2)
#: Every reason a person is left out, in the order they are tested.
SKIP_REASONS: tuple[str, ...] = tuple(r.value for r in Reason)
SEND = "send"
_AUDIENCE_KEYS = ("segment_id", "filter")


@dataclass(frozen=True)
class NewsletterAudience:
    """Who an issue is for: a saved segment or an audience filter (exactly one)."""

    segment_id: int | None = None
    filter: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> NewsletterAudience:
        """Check and build (``{"segment_id": N}`` or ``{"filter": {...}}``; the run's
        ``"fixed"`` record is ignored here). InvalidInput names what is wrong."""
        data = dict(data or {})
        data.pop("fixed", None)
        unknown = sorted(set(data) - set(_AUDIENCE_KEYS))
        if unknown:
            raise _invalid(unknown[0], _("Unknown field."))
        given = [key for key in _AUDIENCE_KEYS if data.get(key) is not None]
        if len(given) != 1:
            raise _invalid("audience", _("Choose a saved segment or a filter."))
        key, value = given[0], data[given[0]]
        if key == "segment_id":
            if type(value) is not int or not 0 < value <= 2**31 - 1:
                raise _invalid(key, _("A segment id."))
            return cls(segment_id=value)
        if not isinstance(value, Mapping):
            raise _invalid(key, _("An audience filter, as for the directory."))
        return cls(filter=filter_from(value).to_json())

    def to_json(self) -> dict[str, Any]:
        """What :attr:`Newsletter.audience` keeps."""
        if self.segment_id is not None:
            return {"segment_id": self.segment_id}
        return {"filter": dict(self.filter or {})}


def _invalid(name: str, message: str) -> InvalidInput:
    return InvalidInput(_("Please correct the marked fields."), fields={name: message})


# --- The audience and who of it is left out ---------------------------------------------


async def audience_people(audience: NewsletterAudience, *, actor: Actor) -> QuerySet[Alumnus]:
    """Everyone the audience selects in the actor's scope (unordered), before the
    eligibility rule. NotFound for a segment or embassy out of reach."""
    if audience.segment_id is not None:
        return await segment_audience(audience.segment_id, actor=actor)
    flt = filter_from(audience.filter or {})
    await check_filter(flt, actor=actor)
    return audience_query(flt, actor=actor)


def reason_case() -> Case:
    """Why each person is left out of a newsletter (the first reason of the rule that
    applies), or :data:`SEND`."""
    active = Country.filter(programme_status=ProgrammeStatus.ACTIVE).values("code")
    return Case(
        When(~Q(vetting=Vetting.CONFIRMED), then=Reason.PENDING.value),
        When(
            Q(Q(merged_into_id__isnull=False), Q(erased_at__isnull=False), join_type=Q.OR),
            then=Reason.GONE.value,
        ),
        When(Q(email_key__isnull=True), then=Reason.NO_EMAIL.value),
        When(Q(accepts_newsletter=False), then=Reason.NO_CONSENT.value),
        When(Q(do_not_engage=True), then=Reason.DO_NOT_ENGAGE.value),
        When(Q(status__in=[s.value for s in NO_BULK_STATUSES]), then=Reason.STATUS.value),
        When(~Q(country_id__in=Subquery(active)), then=Reason.SUSPENDED.value),
        When(suppressed_q(BulkKind.NEWSLETTER), then=Reason.SUPPRESSED.value),
        default=SEND,
    )


async def skipped_by_reason(people: QuerySet[Alumnus]) -> dict[str, int]:
    """How many of ``people`` are left out, by reason (only reasons that apply), in
    one grouped query."""
    rows = (
        await people.annotate(reason=reason_case())
        .group_by("reason")
        .annotate(n=Count("id"))
        .values("reason", "n")
    )
    return {str(r["reason"]): int(r["n"]) for r in rows if r["reason"] != SEND and r["n"]}


def eligible(people: QuerySet[Alumnus]) -> QuerySet[Alumnus]:
    """``people`` narrowed by the eligibility rule for newsletters."""
    return people.filter(bulk_eligible(BulkKind.NEWSLETTER))


# --- The run ----------------------------------------------------------------------------


def runner_name() -> str:
    """A name for a process that runs sends (the lease's owner)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _system_actor() -> Actor:
    """Whom a run acts as: the audience was checked when the send was asked for, by
    staff (whose scope is everyone); the run only evaluates the fixed filter."""
    return Actor(user=User(role=Role.STAFF), embassy_ids=frozenset(), country_codes=None)


async def fix_audience(issue: Newsletter, *, using_db: BaseDBAsyncClient) -> dict[str, Any]:
    """The audience as the send starts: the filter (a segment's, resolved) and the
    highest profile id, kept in ``audience["fixed"]`` (returned; not saved here)."""
    audience = NewsletterAudience.from_json(issue.audience)
    if audience.segment_id is not None:
        segment = await Segment.get_or_none(id=audience.segment_id).select_related("embassy")
        if segment is None:
            raise NotFound(_("The issue's segment no longer exists."))
        flt = segment_filter(segment)
    else:
        flt = filter_from(audience.filter or {})
    until = await (
        Alumnus.all().using_db(using_db).order_by("-id").first().values_list("id", flat=True)
    )
    return {**audience.to_json(), "fixed": {"filter": flt.to_json(), "until": int(until or 0)}}


def fixed_people(issue: Newsletter) -> QuerySet[Alumnus]:
    """The audience fixed when the send started (see the module doc)."""
    fixed = (issue.audience or {}).get("fixed") or {}
    flt = filter_from(fixed.get("filter") or {})
    people = audience_query(flt, actor=_system_actor())
    return people.filter(id__lte=int(fixed.get("until") or 0))


async def run_send(newsletter_id: int, *, owner: str, chunk_size: int = CHUNK_SIZE) -> Newsletter:
    """Write the issue's outbox rows from its checkpoint to the end (or until it is
    paused or its lease lost); returns the issue as it then is.

    Does nothing (returns the issue) unless it is sending and its lease is free,
    expired or already ``owner``'s.
    """
    chunk_size = max(1, int(chunk_size))
    if not await _take_lease(newsletter_id, owner):
        return await Newsletter.get(id=newsletter_id)
    try:
        while True:
            if not await _write_chunk(newsletter_id, owner, chunk_size=chunk_size):
                break
            await asyncio.sleep(0)  # let requests in between chunks
    except EngageError as exc:
        # The audience cannot be resolved (its segment deleted): paused for staff.
        log.warning("newsletter run stopped", extra={"newsletter": newsletter_id, "why": str(exc)})
        await Newsletter.filter(id=newsletter_id, status=IssueStatus.SENDING).update(
            status=IssueStatus.PAUSED, paused_at=utcnow()
        )
    finally:
        await Newsletter.filter(id=newsletter_id, lease_owner=owner).update(
            lease_owner=None, lease_expires_at=None
        )
    return await Newsletter.get(id=newsletter_id)


async def _take_lease(newsletter_id: int, owner: str) -> bool:
    now = utcnow()
    free = Q(lease_owner__isnull=True) | Q(lease_expires_at__lt=now) | Q(lease_owner=owner)
    taken = await Newsletter.filter(free, id=newsletter_id, status=IssueStatus.SENDING).update(
        lease_owner=owner, lease_expires_at=now + LEASE
    )
    return bool(taken)


async def _write_chunk(newsletter_id: int, owner: str, *, chunk_size: int) -> bool:
    """Write the next chunk after the checkpoint; False when the run is over (done,
    paused, or the lease lost)."""
    async with in_transaction() as conn:
        issue = await Newsletter.filter(id=newsletter_id).select_for_update().using_db(conn).first()
        if issue is None or issue.status != IssueStatus.SENDING or issue.lease_owner != owner:
            return False
        now = utcnow()
        if not (issue.audience or {}).get("fixed"):
            await _start(issue, now=now, conn=conn)
        people = fixed_people(issue)
        rows = await (
            people.filter(id__gt=issue.checkpoint)
            .annotate(reason=reason_case())
            .order_by("id")
            .limit(chunk_size)
            .using_db(conn)
            .values("id", "reason", "given_name", "family_name", *address_fields())
        )
        if not rows:
            issue.status = IssueStatus.SENT
            issue.finished_at = now
            issue.lease_owner = None
            issue.lease_expires_at = None
            await issue.save(
                using_db=conn,
                update_fields=["status", "finished_at", "lease_owner", "lease_expires_at"],
            )
            return False
        high = int(rows[-1]["id"])
        chunk = people.filter(id__gt=issue.checkpoint, id__lte=high)
        mail, skipped = await _chunk_rows(issue, chunk, rows, now=now, conn=conn)
        await enqueue_many(mail, using_db=conn)
        total = dict(issue.skipped or {})
        for reason, n in skipped.items():
            total[reason] = total.get(reason, 0) + n
        issue.checkpoint = high
        issue.written += len(mail)
        issue.skipped = total
        issue.lease_expires_at = now + LEASE
        await issue.save(
            using_db=conn, update_fields=["checkpoint", "written", "skipped", "lease_expires_at"]
        )
        return True


async def _start(issue: Newsletter, *, now: datetime, conn: BaseDBAsyncClient) -> None:
    """The run's first step: fix the audience, count it, and fix the news window."""
    issue.audience = await fix_audience(issue, using_db=conn)
    issue.started_at = issue.started_at or now
    issue.total = await eligible(fixed_people(issue)).using_db(conn).count()
    if issue.news_since is None:
        issue.news_since = await news_start(issue)
    await issue.save(using_db=conn, update_fields=["audience", "started_at", "total", "news_since"])


async def _chunk_rows(
    issue: Newsletter,
    chunk: QuerySet[Alumnus],
    rows: list[dict[str, Any]],
    *,
    now: datetime,
    conn: BaseDBAsyncClient,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The chunk's outbox rows (the eligible, with an address) and who was left out."""
    allowed = set(await eligible(chunk).using_db(conn).values_list("id", flat=True))
    mail: list[dict[str, Any]] = []
    skipped: dict[str, int] = {}
    for person in rows:
        pk = int(person["id"])
        address = deliverable_address(person) or ""
        if pk in allowed and is_address(address):
            mail.append(_outbox(issue, person, address, now=now))
            continue
        reason = str(person["reason"])
        if reason == SEND:  # the rule and its reasons should agree: the rule decides
            reason = await _reason_of(pk, conn) if pk not in allowed else Reason.NO_EMAIL.value
        skipped[reason] = skipped.get(reason, 0) + 1
    return mail, skipped


def _outbox(
    issue: Newsletter, person: Mapping[str, Any], address: str, *, now: datetime
) -> dict[str, Any]:
    return outbox_values(
        TEMPLATE,
        to=address,
        to_name=f"{person['given_name']} {person['family_name']}".strip(),
        category=Category.BULK,
        topic=Topic.NEWSLETTER,
        campaign=campaign_of(issue.id),
        dedupe_key=f"newsletter:{issue.id}:{int(person['id'])}",
        recipient=("alumnus", int(person["id"])),
        context={"newsletter": issue.id},
        now=now,
    )


def campaign_of(newsletter_id: int) -> str:
    """The outbox ``campaign`` of an issue's rows."""
    return f"newsletter:{newsletter_id}"


async def _reason_of(alumnus_id: int, conn: BaseDBAsyncClient) -> str:
    person = await Alumnus.get(id=alumnus_id).using_db(conn)
    reasons = await _ineligibility(person, BulkKind.NEWSLETTER)
    return reasons[0].value if reasons else Reason.NO_CONSENT.value


async def due_newsletters(now: datetime, *, owner: str | None = None) -> int:
    """The scheduler's job: start the scheduled issues whose time has come, and run
    every issue left sending without a live runner (a crash, a restart, a send asked
    for from a page); returns how many outbox rows it wrote."""
    owner = owner or runner_name()
    await Newsletter.filter(status=IssueStatus.SCHEDULED, send_at__lte=now).update(
        status=IssueStatus.SENDING
    )
    free = Q(lease_owner__isnull=True) | Q(lease_expires_at__lt=utcnow())
    waiting = await (
        Newsletter.filter(free, status=IssueStatus.SENDING)
        .order_by("id")
        .values_list("id", "written")
    )
    written = 0
    for newsletter_id, before in waiting:
        issue = await run_send(int(newsletter_id), owner=owner)
        written += max(0, issue.written - int(before))
    return written
