"""Inviting alumni to an event, and what the attaché sees and does with the invitations.

::

    audience = InviteAudience.from_json({"filter": {"country": ["KE"]}})
    preview = await preview_invitations(attache, event.id, audience)
    preview.invite, preview.skipped        # 812, {"already_invited": 40, "no_consent": 3, ...}
    job = await invite(attache, event.id, audience)            # start and run to the end
    job = await start_invite_job(staff, event.id, audience, override_suspension=True)
    job = await run_invite_job(job.id)                         # (engage.invitations.jobs)
    await revoke_invitation(attache, invitation.id)            # its link dies at once
    await invitation_counts(attache, event.id)  # {"invited": 852, "yes": 310, ...}
    await list_invitations(attache, event.id, status="waitlisted", limit=50, offset=0)
    chunks = await invitations_csv(attache, event.id)
    async for chunk in chunks: ...

The rules (who is invited and why others are skipped: engage.invitations.jobs):

- **Who**: attachés for the events of their embassies (another embassy's event is
  404), staff and admins for any; alumni 403.
- **When**: only a published event that has not started; a draft, a cancelled or a
  started event answers 409 with what to do.
- **Suspension override**: staff only (403 for an attaché), for one run, and
  audit-logged (``invitations.override_suspension``).
- **Revoking** bumps the invitation's link version (its link stops working at once),
  marks it revoked, withdraws its email if still queued, and, if it held seats, frees
  them under the event's row lock and gives them to the waitlist
  (engage.invitations.rsvp). Audit-logged. A revoked invitation stays revoked:
  inviting the person again skips them as already invited.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.functions import Count, Sum
from tortoise.transactions import in_transaction

from engage.accounts.actor import Actor, require_role
from engage.accounts.audit import record
from engage.accounts.models import Role
from engage.alumni.export import BOM, neutralise
from engage.alumni.profiles import parse_id
from engage.clock import utcnow
from engage.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from engage.events.models import Event
from engage.events.services import get_event
from engage.events.timefmt import to_local
from engage.i18n import _
from engage.invitations.checkin import attendance_counts
from engage.invitations.jobs import (
    CHUNK_SIZE,
    OUTSIDE_SCOPE,
    SKIP_REASONS,
    InviteAudience,
    audience_people,
    check_invitable,
    classify,
    run_invite_job,
)
from engage.invitations.models import (
    Invitation,
    InvitationSource,
    InvitationStatus,
    InviteJob,
    JobStatus,
)
from engage.invitations.rsvp import lock_event, promote_waitlist, waitlist_positions
from engage.mail.outbox import withdraw

__all__ = [
    "InviteAudience",
    "InvitePreview",
    "count_invitations",
    "get_invite_job",
    "invitation_counts",
    "invitations_csv",
    "invite",
    "list_invitations",
    "preview_invitations",
    "revoke_invitation",
    "run_invite_job",
    "start_invite_job",
]

#: Invitations read per chunk of the CSV export.
CSV_CHUNK = 500
#: The CSV's own columns; one column per question of the event follows.
CSV_COLUMNS = (
    "invitation_id",
    "alumnus_id",
    "given_name",
    "family_name",
    "given_name_latin",
    "family_name_latin",
    "email",
    "country",
    "status",
    "guests",
    "guest_names",
    "responded_at",
    "waitlist_position",
    "arrived_at",
    "arrived_by",
    "walk_in",
)


@dataclass(frozen=True)
class InvitePreview:
    """How many people a run would invite, and how many it skips and why (every
    reason of :data:`engage.invitations.jobs.SKIP_REASONS`, 0 when none)."""

    invite: int
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.invite + sum(self.skipped.values())


def _audience(audience: InviteAudience | Mapping[str, Any]) -> InviteAudience:
    if isinstance(audience, InviteAudience):
        return audience
    return InviteAudience.from_json(audience)


async def _event_for(actor: Actor, event_id: object) -> Event:
    """The event, for an attaché (their embassies: else 404), staff or admin (others 403)."""
    require_role(actor, Role.ATTACHE)
    return await get_event(actor, event_id)


def _check_override(actor: Actor, override_suspension: bool) -> None:
    if override_suspension and not actor.at_least(Role.STAFF):
        raise PermissionDenied(_("Only staff may invite alumni of suspended programmes."))


# --- Inviting ---------------------------------------------------------------------------


async def preview_invitations(
    actor: Actor,
    event_id: object,
    audience: InviteAudience | Mapping[str, Any],
    *,
    override_suspension: bool = False,
) -> InvitePreview:
    """Who a run would invite now, and who it would skip by reason (SQL counts)."""
    _check_override(actor, override_suspension)
    event = await _event_for(actor, event_id)
    audience = _audience(audience)
    people = await audience_people(audience, actor=actor)
    counts = await classify(people, event, override_suspension=override_suspension)
    if audience.alumni_ids is not None:
        found = sum(counts.values())
        counts[OUTSIDE_SCOPE] += len(audience.alumni_ids) - found
    invite = counts.pop("invite")
    return InvitePreview(invite=invite, skipped={r: counts[r] for r in SKIP_REASONS})


async def start_invite_job(
    actor: Actor,
    event_id: object,
    audience: InviteAudience | Mapping[str, Any],
    *,
    override_suspension: bool = False,
    ip: str = "",
    now: datetime | None = None,
) -> InviteJob:
    """Check everything a run needs and record it as a job (not run yet: call
    :func:`run_invite_job`, or :func:`invite` for both)."""
    _check_override(actor, override_suspension)
    event = await _event_for(actor, event_id)
    check_invitable(event, now=now or utcnow())
    audience = _audience(audience)
    people = await audience_people(audience, actor=actor)
    total = len(audience.alumni_ids) if audience.alumni_ids is not None else await people.count()
    async with in_transaction() as conn:
        job = await InviteJob.create(
            event_id=event.id,
            created_by=actor.user,
            audience=audience.to_json(),
            override_suspension=override_suspension,
            status=JobStatus.RUNNING,
            total=total,
            using_db=conn,
        )
        if override_suspension:
            await record(
                "invitations.override_suspension",
                actor=actor.user,
                target=("event", event.id),
                details={"job": job.id, "audience": sorted(audience.to_json()), "total": total},
                ip=ip,
                using_db=conn,
            )
    return job


async def invite(
    actor: Actor,
    event_id: object,
    audience: InviteAudience | Mapping[str, Any],
    *,
    override_suspension: bool = False,
    ip: str = "",
    chunk_size: int = CHUNK_SIZE,
) -> InviteJob:
    """Start a run and take it to the end (in chunks); 409 if it could not finish."""
    job = await start_invite_job(
        actor, event_id, audience, override_suspension=override_suspension, ip=ip
    )
    job = await run_invite_job(job.id, chunk_size=chunk_size)
    if job.status == JobStatus.FAILED:
        raise Conflict(job.error or _("The invitations could not all be sent."))
    return job


async def get_invite_job(actor: Actor, event_id: object, job_id: object) -> InviteJob:
    """One run of the event (for its progress page); 404 out of reach."""
    event = await _event_for(actor, event_id)
    pk = parse_id(job_id)
    job = None if pk is None else await InviteJob.get_or_none(id=pk, event_id=event.id)
    if job is None:
        raise NotFound(_("Not found."))
    return job


def job_skipped(job: InviteJob) -> dict[str, int]:
    """The job's skipped counts with every reason present (0 when none)."""
    found = job.skipped or {}
    return {reason: int(found.get(reason, 0)) for reason in SKIP_REASONS}


# --- Revoking ---------------------------------------------------------------------------


async def revoke_invitation(
    actor: Actor,
    invitation_id: object,
    *,
    event_id: object = None,
    ip: str = "",
    now: datetime | None = None,
) -> Invitation:
    """Revoke an invitation: its link stops working, its seats go to the waitlist.

    With ``event_id`` (a page's address), an invitation of another event is not found.
    Revoking a revoked invitation changes nothing. Returns it (event loaded).
    """
    require_role(actor, Role.ATTACHE)
    pk = parse_id(invitation_id)
    found = None if pk is None else await Invitation.get_or_none(id=pk)
    if found is not None and event_id is not None and found.event_id != parse_id(event_id):  # type: ignore[attr-defined]
        found = None
    if found is None:
        raise NotFound(_("Not found."))
    await _event_for(actor, found.event_id)  # type: ignore[attr-defined]
    now = now or utcnow()
    async with in_transaction() as conn:
        event = await lock_event(found.event_id, conn)  # type: ignore[attr-defined]
        invitation = await Invitation.filter(id=found.id).select_for_update().using_db(conn).get()
        if invitation.status != InvitationStatus.REVOKED:
            before = InvitationStatus(invitation.status)
            seats = 1 + invitation.guests if before == InvitationStatus.YES else 0
            invitation.status = InvitationStatus.REVOKED
            invitation.revoked_at = now
            invitation.token_version += 1
            await invitation.save(
                using_db=conn, update_fields=["status", "revoked_at", "token_version"]
            )
            # Not sent yet? Then it never will be.
            await withdraw([f"invitation:{invitation.id}"], using_db=conn)
            if seats:
                event.seats_taken = max(0, event.seats_taken - seats)
                await Event.filter(id=event.id).using_db(conn).update(seats_taken=event.seats_taken)
                await promote_waitlist(event, conn)
            await record(
                "invitation.revoke",
                actor=actor.user,
                target=("invitation", invitation.id),
                details={"event": event.id, "status": before.value, "seats": seats},
                ip=ip,
                using_db=conn,
            )
    invitation.event = event
    return invitation


# --- What the attaché sees --------------------------------------------------------------


async def invitation_counts(actor: Actor, event_id: object) -> dict[str, int]:
    """Counts for the event page: ``invited`` (every invitation not revoked), ``yes``,
    ``no``, ``maybe``, ``waitlisted``, ``not_answered``, ``revoked``, ``guests``
    (brought by those coming), ``seats_taken`` (people coming plus guests), and
    ``attended`` / ``no_show`` (engage.invitations.checkin.attendance_counts)."""
    event = await _event_for(actor, event_id)
    rows = (
        await Invitation.filter(event_id=event.id)
        .group_by("status")
        .annotate(n=Count("id"), guests=Sum("guests"))
        .values("status", "n", "guests")
    )
    by_status = {str(row["status"]): int(row["n"]) for row in rows}
    guests = {str(row["status"]): int(row["guests"] or 0) for row in rows}
    revoked = by_status.get(InvitationStatus.REVOKED.value, 0)
    return {
        "invited": sum(by_status.values()) - revoked,
        "yes": by_status.get(InvitationStatus.YES.value, 0),
        "no": by_status.get(InvitationStatus.NO.value, 0),
        "maybe": by_status.get(InvitationStatus.MAYBE.value, 0),
        "waitlisted": by_status.get(InvitationStatus.WAITLISTED.value, 0),
        "not_answered": by_status.get(InvitationStatus.INVITED.value, 0),
        "revoked": revoked,
        "guests": guests.get(InvitationStatus.YES.value, 0),
        "seats_taken": event.seats_taken,
        **await attendance_counts(event),
    }


def _status(status: InvitationStatus | str | None) -> InvitationStatus | None:
    if status is None or status == "":
        return None
    try:
        return InvitationStatus(status)
    except ValueError:
        raise InvalidInput(
            _("Please correct the marked fields."),
            fields={"status": _("invited, yes, no, maybe, waitlisted or revoked.")},
        ) from None


async def count_invitations(
    actor: Actor, event_id: object, *, status: InvitationStatus | str | None = None
) -> int:
    """How many invitations :func:`list_invitations` pages through."""
    event = await _event_for(actor, event_id)
    query = Invitation.filter(event_id=event.id)
    wanted = _status(status)
    if wanted is not None:
        query = query.filter(status=wanted)
    return await query.count()


async def list_invitations(
    actor: Actor,
    event_id: object,
    *,
    status: InvitationStatus | str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Invitation]:
    """The event's invitations in the order they were made (alumnus loaded), each
    with ``waitlist_position`` (1, 2, ... while waitlisted, else None)."""
    event = await _event_for(actor, event_id)
    query = Invitation.filter(event_id=event.id)
    wanted = _status(status)
    if wanted is not None:
        query = query.filter(status=wanted)
    found = (
        await query.select_related("alumnus")
        .order_by("id")
        .offset(max(0, offset))
        .limit(max(0, min(limit, 500)))
    )
    positions = (
        await waitlist_positions(event.id)
        if any(i.status == InvitationStatus.WAITLISTED for i in found)
        else {}
    )
    for invitation in found:
        invitation.event = event
        invitation.waitlist_position = positions.get(invitation.id)  # type: ignore[attr-defined]
    return found


async def invitations_csv(actor: Actor, event_id: object, *, ip: str = "") -> AsyncIterator[bytes]:
    """The event's invitations as CSV (UTF-8 with a byte-order mark, CRLF, formulas
    neutralised), one column per question after the fixed ones; times in the event's
    zone. Checks scope and audit-logs now; the rows stream from the result::

        chunks = await invitations_csv(attache, event.id)
        return StreamingResponse(chunks, media_type="text/csv")
    """
    event = await _event_for(actor, event_id)
    await record(
        "invitations.export", actor=actor.user, target=("event", event.id), details={}, ip=ip
    )
    return _csv_chunks(event)


async def _csv_chunks(event: Event) -> AsyncIterator[bytes]:
    questions = [q for q in event.questions or [] if isinstance(q, dict) and q.get("id")]
    header = [*CSV_COLUMNS, *(str(q.get("label") or q["id"]) for q in questions)]
    yield (BOM + _csv_text([header])).encode("utf-8")
    positions = await waitlist_positions(event.id)
    after = 0
    while True:
        found = (
            await Invitation.filter(event_id=event.id, id__gt=after)
            .select_related("alumnus", "arrived_by")
            .order_by("id")
            .limit(CSV_CHUNK)
        )
        if not found:
            return
        yield _csv_text(_csv_row(event, i, questions, positions) for i in found).encode("utf-8")
        after = found[-1].id


def _csv_row(
    event: Event,
    invitation: Invitation,
    questions: list[dict[str, Any]],
    positions: dict[int, int],
) -> list[str]:
    person = invitation.alumnus
    answers = invitation.answers or {}
    values: list[object] = [
        invitation.id,
        person.id,
        person.given_name,
        person.family_name,
        person.given_name_latin,
        person.family_name_latin,
        person.email or "",
        person.country_id,  # type: ignore[attr-defined]
        invitation.status,
        invitation.guests,
        "; ".join(str(n) for n in invitation.guest_names or []),
        _local(invitation.responded_at, event.timezone),
        positions.get(invitation.id, ""),
        _local(invitation.arrived_at, event.timezone),
        invitation.arrived_by.email if invitation.arrived_by else "",
        "yes" if invitation.source == InvitationSource.WALK_IN else "no",
        *(_answer(answers.get(str(q["id"]))) for q in questions),
    ]
    return [neutralise(value) for value in values]


def _answer(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


def _local(instant: datetime | None, tz: str) -> str:
    return "" if instant is None else to_local(instant, tz).strftime("%Y-%m-%d %H:%M")


def _csv_text(rows: Any) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()
