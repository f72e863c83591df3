"""Bulk invitation runs: who an audience holds, who of them is invited and why the
others are skipped, and the resumable job that writes the invitations.

::

    audience = InviteAudience.from_json({"segment_id": 4})
    people = await audience_people(audience, actor=attache)   # a QuerySet, their scope
    counts = await classify(people, event, override_suspension=False)
    # {"invite": 812, "already_invited": 40, "no_consent": 3, ...}
    job = await run_invite_job(job.id)             # resumes from the checkpoint
    await resume_invite_jobs()                     # at start-up: every unfinished run

The rules:

- **The audience** is the shared audience filter (``engage.alumni.audience``), a
  saved segment (``engage.alumni.segments``) or people picked by id, always within
  the actor's scope.
- **An event invites alumni of the countries its embassy is accredited to** (today's
  accreditations). Anyone else in the audience is skipped as ``outside_scope``, as
  is a picked id the actor may not see or that names nobody (its existence is not
  revealed).
- **Then** ``already_invited`` (any invitation to the event, a revoked one
  included: inviting again never reopens a revoked link), then each reason of
  ``engage.alumni.eligibility`` in its order. A skipped person counts once, under
  the first reason that applies. The reasons are computed in SQL (one ``CASE``);
  who is invited is decided by ``bulk_eligible`` itself, the one rule.
- **The run** walks the audience in id order, chunk by chunk. Each chunk is one
  short transaction that locks the job row and the event row (as answers do),
  writes the invitations (``INSERT ... ON CONFLICT DO NOTHING`` on the unique
  (event, alumnus): nobody is invited twice) and their outbox rows (plain
  ``executemany``, no model objects: at 10,000 people building them cost more than
  the inserts), and moves the
  checkpoint. Between chunks the run yields, so on SQLite no request waits longer
  than one chunk. Eligibility is read at each chunk: someone who withdrew their
  consent a minute ago is skipped.
- **Interrupted** (a restart), a run resumes from its checkpoint when
  :func:`run_invite_job` is called again; two runners of one job take turns chunk by
  chunk (the job row is locked), never doing a chunk twice. A run whose event was
  cancelled, or that started or its actor lost their scope, stops as failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Case, Q, Subquery, When
from tortoise.functions import Count
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from engage.accounts.actor import Actor, load_actor
from engage.accounts.models import User
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
from engage.alumni.identity import awaiting_verification
from engage.alumni.models import Alumnus, Vetting
from engage.alumni.segments import segment_audience
from engage.clock import utcnow
from engage.errors import Conflict, EngageError, InvalidInput, NotFound
from engage.events.kinds import KindTemplates, get_kind
from engage.events.models import Event, EventStatus
from engage.i18n import _
from engage.invitations.models import (
    Invitation,
    InvitationSource,
    InvitationStatus,
    InviteJob,
    JobStatus,
)
from engage.invitations.rsvp import lock_event
from engage.mail.models import Category, Topic
from engage.mail.outbox import enqueue_many, is_address, outbox_values
from engage.places.models import Accreditation, Country, ProgrammeStatus

#: People handled per chunk (one transaction each).
CHUNK_SIZE = 500
#: At most this many people picked by id in one run.
MAX_PICKED = 10_000
OUTSIDE_SCOPE = "outside_scope"
ALREADY_INVITED = "already_invited"
#: Every reason a person is skipped, in the order they are tested.
SKIP_REASONS: tuple[str, ...] = (OUTSIDE_SCOPE, ALREADY_INVITED, *(r.value for r in Reason))
_INVITE = "invite"
_AUDIENCE_KEYS = ("alumni_ids", "segment_id", "filter")
_MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class InviteAudience:
    """Who to invite: exactly one of picked ids, a saved segment or a filter."""

    alumni_ids: list[int] | None = None
    segment_id: int | None = None
    filter: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InviteAudience:
        """Check and build (``{"alumni_ids": [...]}``, ``{"segment_id": N}`` or
        ``{"filter": {...}}``); InvalidInput names what is wrong."""
        given = [key for key in _AUDIENCE_KEYS if data.get(key) is not None]
        unknown = sorted(set(data) - set(_AUDIENCE_KEYS))
        if unknown:
            raise _invalid(unknown[0], _("Unknown field."))
        if len(given) != 1:
            raise _invalid("audience", _("Give exactly one of alumni_ids, segment_id or filter."))
        key, value = given[0], data[given[0]]
        if key == "alumni_ids":
            if not isinstance(value, list | tuple) or not all(
                type(v) is int and v > 0 for v in value
            ):
                raise _invalid(key, _("A list of alumni ids."))
            ids = sorted(set(value))
            if not ids:
                raise _invalid(key, _("Pick at least one person."))
            if len(ids) > MAX_PICKED:
                raise _invalid(key, _("At most %(n)s people at a time.", n=MAX_PICKED))
            return cls(alumni_ids=ids)
        if key == "segment_id":
            if type(value) is not int or value <= 0:
                raise _invalid(key, _("A segment id."))
            return cls(segment_id=value)
        if not isinstance(value, Mapping):
            raise _invalid(key, _("An audience filter, as for the directory."))
        return cls(filter=filter_from(value).to_json())

    def to_json(self) -> dict[str, Any]:
        """What :attr:`InviteJob.audience` keeps."""
        if self.alumni_ids is not None:
            return {"alumni_ids": list(self.alumni_ids)}
        if self.segment_id is not None:
            return {"segment_id": self.segment_id}
        return {"filter": dict(self.filter or {})}


def _invalid(name: str, message: str) -> InvalidInput:
    return InvalidInput(_("Please correct the marked fields."), fields={name: message})


# --- The audience and its classification ------------------------------------------------


async def audience_people(audience: InviteAudience, *, actor: Actor) -> QuerySet[Alumnus]:
    """Everyone the audience selects in the actor's scope, as one query (unordered).

    Picked ids include merged, erased and pending people in scope (they are then
    skipped with their reason); a filter or segment holds live profiles only.
    Raises NotFound for a segment or embassy out of reach, InvalidInput for a bad
    filter.
    """
    if audience.segment_id is not None:
        return await segment_audience(audience.segment_id, actor=actor)
    if audience.filter is not None:
        flt = filter_from(audience.filter)
        await check_filter(flt, actor=actor)
        return audience_query(flt, actor=actor)
    ids = [pk for pk in audience.alumni_ids or [] if pk <= _MAX_ID]
    query = Alumnus.filter(id__in=ids or [0]).exclude(awaiting_verification())
    if actor.country_codes is not None:
        query = query.filter(country_id__in=sorted(actor.country_codes) or [""])
    return query


def reason_case(event: Event, *, override_suspension: bool, after: int = 0) -> Case:
    """Why each person would be skipped (the first reason that applies), or "invite".

    ``after``: the people it will see have greater ids, so only the invitations of
    those are looked up (an index range), not every invitation to the event: a chunk
    costs the same at the end of a large run as at its start.
    """
    embassy_countries = Accreditation.filter(embassy_id=event.embassy_id).values("country_id")  # type: ignore[attr-defined]
    invited = Invitation.filter(event_id=event.id, alumnus_id__gt=after).values("alumnus_id")
    whens = [
        When(~Q(country_id__in=Subquery(embassy_countries)), then=OUTSIDE_SCOPE),
        When(Q(id__in=Subquery(invited)), then=ALREADY_INVITED),
        When(~Q(vetting=Vetting.CONFIRMED), then=Reason.PENDING.value),
        When(
            Q(Q(merged_into_id__isnull=False), Q(erased_at__isnull=False), join_type=Q.OR),
            then=Reason.GONE.value,
        ),
        When(Q(email_key__isnull=True), then=Reason.NO_EMAIL.value),
        When(Q(accepts_invitations=False), then=Reason.NO_CONSENT.value),
        When(Q(do_not_engage=True), then=Reason.DO_NOT_ENGAGE.value),
        When(Q(status__in=[s.value for s in NO_BULK_STATUSES]), then=Reason.STATUS.value),
    ]
    if not override_suspension:
        active = Country.filter(programme_status=ProgrammeStatus.ACTIVE).values("code")
        whens.append(When(~Q(country_id__in=Subquery(active)), then=Reason.SUSPENDED.value))
    whens.append(When(suppressed_q(BulkKind.INVITATIONS), then=Reason.SUPPRESSED.value))
    return Case(*whens, default=_INVITE)


async def classify(
    people: QuerySet[Alumnus], event: Event, *, override_suspension: bool
) -> dict[str, int]:
    """How many of ``people`` would be invited (``"invite"``) and skipped by reason,
    in one grouped query; every reason is present (0 when none)."""
    rows = (
        await people.annotate(reason=reason_case(event, override_suspension=override_suspension))
        .group_by("reason")
        .annotate(n=Count("id"))
        .values("reason", "n")
    )
    counts = dict.fromkeys((_INVITE, *SKIP_REASONS), 0)
    for row in rows:
        counts[str(row["reason"])] += int(row["n"])
    return counts


# --- The run ----------------------------------------------------------------------------


async def run_invite_job(job_id: int, *, chunk_size: int = CHUNK_SIZE) -> InviteJob:
    """Run (or resume) a job to its end, chunk by chunk; returns it finished.

    A job already done or failed is returned as it is. A run that cannot go on (the
    event cancelled or started, the actor out of scope) ends failed, with the reason
    in ``error``; an unexpected error also marks it failed, then propagates.
    """
    chunk_size = max(1, int(chunk_size))
    job = await InviteJob.get(id=job_id)
    if job.status != JobStatus.RUNNING:
        return job
    try:
        actor = await _job_actor(job)
        audience = InviteAudience.from_json(job.audience)
        people = await audience_people(audience, actor=actor)
        while True:
            if not await _run_chunk(job.id, people, audience, chunk_size=chunk_size):
                break
            await asyncio.sleep(0)  # let requests in between chunks
    except EngageError as exc:
        await _fail(job.id, exc.message)
    except Exception as exc:
        await _fail(job.id, f"{type(exc).__name__}: {exc}")
        raise
    return await InviteJob.get(id=job_id)


async def resume_invite_jobs(*, chunk_size: int = CHUNK_SIZE) -> int:
    """Run every job still marked running to its end (after a restart: call it once
    the app or worker is up); returns how many were taken up.

    A job that a live process is running at the same time is shared chunk by chunk,
    never done twice (see the module doc).
    """
    ids = await (
        InviteJob.filter(status=JobStatus.RUNNING).order_by("id").values_list("id", flat=True)
    )
    for job_id in ids:
        await run_invite_job(int(job_id), chunk_size=chunk_size)
    return len(ids)


async def _job_actor(job: InviteJob) -> Actor:
    user = await User.get_or_none(id=job.created_by_id) if job.created_by_id else None  # type: ignore[attr-defined]
    if user is None or not user.is_active:
        raise NotFound(_("The account that started this run is gone."))
    actor = await load_actor(user)
    event = await Event.get(id=job.event_id)  # type: ignore[attr-defined]
    if not actor.can_act_for_embassy(event.embassy_id):  # type: ignore[attr-defined]
        raise NotFound(_("No such event."))
    return actor


async def _fail(job_id: int, message: str) -> None:
    await InviteJob.filter(id=job_id, status=JobStatus.RUNNING).update(
        status=JobStatus.FAILED, error=message[:2000], finished_at=utcnow()
    )


def check_invitable(event: Event, *, now: datetime) -> None:
    """409 unless people may be invited to ``event`` now: published, not cancelled,
    not started."""
    if event.status == EventStatus.CANCELLED:
        raise Conflict(_("This event was cancelled: nobody can be invited to it."))
    if event.status != EventStatus.PUBLISHED:
        raise Conflict(_("Publish the event before inviting people to it."))
    if event.starts_at <= now:
        raise Conflict(_("This event has started: nobody can be invited to it any more."))


async def _run_chunk(
    job_id: int, people: QuerySet[Alumnus], audience: InviteAudience, *, chunk_size: int
) -> bool:
    """Handle the next chunk after the checkpoint; False when none was left (done)."""
    async with in_transaction() as conn:
        job = await InviteJob.filter(id=job_id).select_for_update().using_db(conn).first()
        if job is None or job.status != JobStatus.RUNNING:
            return False
        event = await lock_event(job.event_id, conn)  # type: ignore[attr-defined]
        now = utcnow()
        check_invitable(event, now=now)
        low = job.checkpoint
        chunk, rows, last, unseen = await _next_chunk(
            people, event, job, audience, chunk_size=chunk_size, conn=conn
        )
        if last is None:
            job.status = JobStatus.DONE
            job.finished_at = now
            await job.save(using_db=conn, update_fields=["status", "finished_at"])
            return False
        skipped = dict(job.skipped or {})
        if unseen:
            skipped[OUTSIDE_SCOPE] = skipped.get(OUTSIDE_SCOPE, 0) + unseen
        invited, reasons = await _invite_rows(
            event, job, chunk, rows, ids=(low, last), now=now, conn=conn
        )
        for reason, n in reasons.items():
            skipped[reason] = skipped.get(reason, 0) + n
        job.checkpoint = last
        job.invited += invited
        job.skipped = skipped
        await job.save(using_db=conn, update_fields=["checkpoint", "invited", "skipped"])
        return True


async def _next_chunk(
    people: QuerySet[Alumnus],
    event: Event,
    job: InviteJob,
    audience: InviteAudience,
    *,
    chunk_size: int,
    conn: BaseDBAsyncClient,
) -> tuple[QuerySet[Alumnus], list[dict[str, Any]], int | None, int]:
    """The next chunk: its query (the audience between two ids, or the picked ids),
    its people with their reason, the last id it covers (None: no more), and how
    many picked ids it covers that name nobody in scope."""
    low = job.checkpoint
    case = reason_case(event, override_suspension=job.override_suspension, after=low)
    fields = ("id", "reason", "given_name", "family_name", "preferred_name", *address_fields())
    if audience.alumni_ids is not None:
        picks = [pk for pk in audience.alumni_ids if pk > low][:chunk_size]
        if not picks:
            return people, [], None, 0
        query = people.filter(id__in=picks)
        rows = await query.annotate(reason=case).using_db(conn).values(*fields)
        return query, rows, picks[-1], len(picks) - len(rows)
    rows = await (
        people.filter(id__gt=low)
        .annotate(reason=case)
        .order_by("id")
        .limit(chunk_size)
        .using_db(conn)
        .values(*fields)
    )
    if not rows:
        return people, [], None, 0
    high = int(rows[-1]["id"])
    return people.filter(id__gt=low, id__lte=high), rows, high, 0


async def _invite_rows(
    event: Event,
    job: InviteJob,
    chunk: QuerySet[Alumnus],
    rows: list[dict[str, Any]],
    *,
    ids: tuple[int, int],
    now: datetime,
    conn: BaseDBAsyncClient,
) -> tuple[int, dict[str, int]]:
    """Invite the chunk's people whose reason is "invite" and who pass
    ``bulk_eligible``, with their outbox rows; (invited, skipped by reason).

    ``chunk`` is the chunk's query, ``ids`` the (low, high] range it covers."""
    skipped: dict[str, int] = {}
    wanted = {int(r["id"]): r for r in rows if r["reason"] == _INVITE}
    for row in rows:
        if row["reason"] != _INVITE:
            skipped[str(row["reason"])] = skipped.get(str(row["reason"]), 0) + 1
    if wanted:
        rule = bulk_eligible(BulkKind.INVITATIONS, override_suspension=job.override_suspension)
        eligible = set(await chunk.filter(rule).using_db(conn).values_list("id", flat=True))
        for pk in sorted(set(wanted) - eligible):
            # The reasons above mirror the rule; should they ever differ, the rule
            # decides and the person's own reason is reported.
            reason = await _reason_of(pk, job.override_suspension, conn)
            skipped[reason] = skipped.get(reason, 0) + 1
            del wanted[pk]
        for pk in [pk for pk, row in wanted.items() if not is_address(_address(row))]:
            skipped[Reason.NO_EMAIL.value] = skipped.get(Reason.NO_EMAIL.value, 0) + 1
            del wanted[pk]
    if not wanted:
        return 0, skipped
    await _insert_invitations(event.id, list(wanted), job.created_by_id, now, conn)  # type: ignore[attr-defined]
    # Read back by range (the unique index), not by a list of 500 ids.
    found = await (
        Invitation.filter(event_id=event.id, alumnus_id__gt=ids[0], alumnus_id__lte=ids[1])
        .using_db(conn)
        .values_list("id", "alumnus_id")
    )
    created = [(inv_id, pk) for inv_id, pk in found if int(pk) in wanted]
    template = templates_for(event).invitation
    await enqueue_many(
        [
            _invitation_mail(template, event.id, int(inv_id), wanted[int(pk)], now=now, job=job)
            for inv_id, pk in created
        ],
        using_db=conn,
    )
    return len(created), skipped


#: What a new invitation holds (the rest is null).
_INVITATION_COLUMNS = (
    "event_id",
    "alumnus_id",
    "status",
    "source",
    "guests",
    "guest_names",
    "answers",
    "token_version",
    "invited_by_id",
    "invited_at",
)


async def _insert_invitations(
    event_id: int,
    alumni: list[int],
    invited_by: int | None,
    now: datetime,
    conn: BaseDBAsyncClient,
) -> None:
    """``INSERT ... ON CONFLICT DO NOTHING`` with one ``executemany``: the unique
    (event, alumnus) skips anyone invited meanwhile. Plain rows, no model objects:
    building 500 of those costs more than the inserts."""
    n = len(_INVITATION_COLUMNS)
    postgres = conn.capabilities.dialect == "postgres"
    marks = [f"${i}" for i in range(1, n + 1)] if postgres else ["?"] * n
    names = ", ".join(f'"{column}"' for column in _INVITATION_COLUMNS)
    sql = (
        f'INSERT INTO "{Invitation._meta.db_table}" ({names}) '  # noqa: S608 (constants only)
        f"VALUES ({', '.join(marks)}) ON CONFLICT DO NOTHING"
    )
    status, source = InvitationStatus.INVITED.value, InvitationSource.INVITED.value
    rows = [[event_id, pk, status, source, 0, "[]", "{}", 1, invited_by, now] for pk in alumni]
    await conn.execute_many(sql, rows)


def _address(person: Mapping[str, Any]) -> str:
    """Where the person's mail goes (a verified secondary once the primary failed)."""
    return deliverable_address(person) or ""


def _invitation_mail(
    template: str,
    event_id: int,
    invitation_id: int,
    person: Mapping[str, Any],
    *,
    now: datetime,
    job: InviteJob,
) -> dict[str, Any]:
    # The send-time check asks the eligibility rule again: with the run's override.
    override = {"override_suspension": True} if job.override_suspension else {}
    return outbox_values(
        template,
        to=_address(person),
        to_name=f"{person['given_name']} {person['family_name']}".strip(),
        category=Category.BULK,
        topic=Topic.INVITATIONS,
        campaign=f"invite:{job.id}",
        dedupe_key=f"invitation:{invitation_id}",
        recipient=("alumnus", int(person["id"])),
        context={
            "invitation": invitation_id,
            "attachments": [
                {
                    "kind": "event_ics",
                    "event": event_id,
                    "method": "REQUEST",
                    "invitation": invitation_id,
                }
            ],
            **override,
        },
        now=now,
    )


async def _reason_of(alumnus_id: int, override_suspension: bool, conn: BaseDBAsyncClient) -> str:
    person = await Alumnus.get(id=alumnus_id).using_db(conn)
    reasons = await _ineligibility(
        person, BulkKind.INVITATIONS, override_suspension=override_suspension
    )
    return reasons[0].value if reasons else Reason.NO_CONSENT.value


def templates_for(event: Event) -> KindTemplates:
    """The email templates of the event's kind (the defaults if the kind file is gone)."""
    try:
        return get_kind(event.kind).templates
    except InvalidInput:
        return KindTemplates()
