"""Invitation pages for attachés and staff: invite alumni to an event, follow the run,
and the invitations block of the event page.

::

    /events/{id}/invite                  choose the audience (a saved segment, the
                                         directory's filter, or people picked by number),
                                         POST action=preview: who is invited, who is
                                         skipped and why; POST action=send: the run starts
    /events/{id}/invite/{job}            the run's progress (the page reloads itself
                                         until it is done), then its result
    /events/{id}/invite/{job}/resume     POST: go on with a run a restart interrupted
    /events/{id}/invitations.csv         the invitations as CSV (streamed, audit-logged)
    /events/{id}/invitations/{inv}/revoke   POST: the invitation's link dies at once

Who may invite whom, and why people are skipped, is decided by
``engage.invitations.services`` (another embassy's event answers 404, an alumnus
403; only staff may override a suspended programme, audit-logged).

A run of up to :data:`IN_REQUEST` people finishes within the sending request (in
chunks, so other requests go on); a larger one runs as a task of this web process
while its page shows the progress. No JavaScript: the progress page asks the browser
to reload it (a ``Refresh`` header, the HTTP form of ``<meta http-equiv="refresh">``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from engage.accounts.actor import Actor
from engage.accounts.models import Role
from engage.alumni.audience import parse_filter
from engage.alumni.directory import directory_choices
from engage.alumni.eligibility import BulkKind, reason_labels
from engage.alumni.profiles import display_name
from engage.alumni.segments import list_segments
from engage.clock import utcnow
from engage.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from engage.events.models import Event
from engage.events.services import get_event
from engage.events.timefmt import to_local, zone_label
from engage.i18n import N_, _
from engage.invitations.jobs import check_invitable
from engage.invitations.models import Invitation, InvitationStatus, InviteJob, JobStatus
from engage.invitations.services import (
    count_invitations,
    get_invite_job,
    invitation_counts,
    invitations_csv,
    job_skipped,
    list_invitations,
    preview_invitations,
    revoke_invitation,
    run_invite_job,
    start_invite_job,
)
from engage.web.directory import filter_options, filter_values
from engage.web.failures import form_failure, path_id
from engage.web.forms import Form
from engage.web.identity import client_ip
from engage.web.identity import current_actor as _actor
from engage.web.routing import Access, form_data, page
from engage.web.templating import render

log = logging.getLogger(__name__)

#: Runs of up to this many people finish within the sending request.
IN_REQUEST = 1000
#: Seconds between reloads of a running job's page.
REFRESH_SECONDS = 2
#: Invitations listed per page of the event page.
PAGE_SIZE = 50
#: Width in pixels of a full bar of the counts chart.
BAR_WIDTH = 240
#: Runs going on in this process, by job id (kept so the tasks are not collected).
_RUNNING: dict[int, asyncio.Task[object]] = {}

#: Ways to choose who is invited (the ``audience`` radio).
AUDIENCES = {
    "segment": N_("A saved segment"),
    "filter": N_("Everyone matching a filter"),
    "people": N_("People I pick"),
}
#: Why people are skipped, in words (every reason of engage.invitations.jobs).
REASONS = {
    "outside_scope": N_("Outside your scope: not of a country the embassy is accredited to"),
    "already_invited": N_("Already invited"),
    **reason_labels(BulkKind.INVITATIONS),
}
#: An invitation's status, in words.
STATUSES = {
    InvitationStatus.INVITED: N_("Not answered"),
    InvitationStatus.YES: N_("Coming"),
    InvitationStatus.MAYBE: N_("Maybe"),
    InvitationStatus.NO: N_("Not coming"),
    InvitationStatus.WAITLISTED: N_("Waitlisted"),
    InvitationStatus.REVOKED: N_("Revoked"),
}
#: The rows of the counts chart: (key of invitation_counts, label).
COUNT_ROWS = (
    ("invited", N_("Invited")),
    ("yes", N_("Coming")),
    ("maybe", N_("Maybe")),
    ("no", N_("Not coming")),
    ("waitlisted", N_("Waitlisted")),
    ("not_answered", N_("Not answered")),
    ("revoked", N_("Revoked")),
)
#: What ``?invitations=`` may say on the event page.
NOTICES = {"revoked": N_("The invitation is revoked: its link no longer works.")}
_ID_SEPARATORS = re.compile(r"[\s,;]+")


# --- Choosing the audience ----------------------------------------------------------


def _closed(event: Event) -> str:
    """Why nobody can be invited to the event now ("" when they can)."""
    try:
        check_invitable(event, now=utcnow())
    except Conflict as exc:
        return exc.message
    return ""


async def _choices(actor: Actor) -> dict[str, Any]:
    """What the audience form offers: the actor's segments and the directory's filter."""
    choices = await directory_choices(actor=actor)
    return {
        "segments": await list_segments(actor=actor),
        "choices": choices,
        "options": filter_options(choices),
        "audiences": AUDIENCES,
        "may_override": actor.at_least(Role.STAFF),
    }


def _picked(text: str) -> list[int]:
    """Alumni numbers typed one per line (or separated by commas or spaces)."""
    ids = []
    for token in _ID_SEPARATORS.split(text.strip()):
        if not token:
            continue
        digits = token.removeprefix("#")
        if not (digits.isascii() and digits.isdigit() and len(digits) < 19 and int(digits)):
            raise InvalidInput(
                _("Please correct the marked fields."),
                fields={
                    "alumni_ids": _(
                        "“%(token)s” is not an alumni number: type the numbers seen in "
                        "profile addresses (/alumni/1234), one per line.",
                        token=token[:40],
                    )
                },
            )
        ids.append(int(digits))
    return ids


async def _read_audience(request: Request) -> tuple[Form, str, bool]:
    """The form as typed (to show again), the chosen kind of audience, and the
    override box."""
    data = await form_data(request)
    kind = str(data.get("audience", ""))
    values: dict[str, Any] = {
        "audience": kind,
        "segment_id": str(data.get("segment_id", "")).strip(),
        "alumni_ids": str(data.get("alumni_ids", "")).strip(),
        "override_suspension": "on" if data.get("override_suspension") else "",
        **filter_values(data),
    }
    return Form(values=values), kind, bool(data.get("override_suspension"))


async def _audience(request: Request, form: Form, kind: str) -> dict[str, Any]:
    """The audience as the services take it; InvalidInput names the field to correct."""
    if kind == "segment":
        raw = form.get("segment_id")
        if not raw.isdigit():
            raise InvalidInput(
                _("Please correct the marked fields."),
                fields={"segment_id": _("Choose a segment.")},
            )
        return {"segment_id": int(raw)}
    if kind == "filter":
        return {"filter": parse_filter(await form_data(request)).to_json()}
    if kind == "people":
        return {"alumni_ids": _picked(form.get("alumni_ids"))}
    raise InvalidInput(
        _("Please correct the marked fields."),
        fields={"audience": _("Choose who to invite.")},
    )


def _out_of_reach(kind: str, exc: NotFound) -> InvalidInput:
    """A segment or embassy out of the actor's reach, said beside its field."""
    name = "segment_id" if kind == "segment" else "embassy"
    return InvalidInput(_("Please correct the marked fields."), fields={name: exc.message})


def _initial(request: Request, segments: list[Any]) -> Form:
    """The form as first shown: ``?segment=ID`` picks a segment."""
    wanted = request.query_params.get("segment", "")
    if wanted.isdigit():
        return Form(values={"audience": "segment", "segment_id": wanted, **_no_filter()})
    return Form(values={"audience": "segment" if segments else "filter", **_no_filter()})


def _no_filter() -> dict[str, Any]:
    return filter_values(QueryParams())


@page("/events/{id}/invite", access=Access.ATTACHE, methods=["GET", "POST"], name="event_invite")
async def invite_page(request: Request) -> Response:
    actor = await _actor(request)
    event = await get_event(actor, path_id(request, "id"))
    context: dict[str, Any] = {
        "event": event,
        "zone": zone_label(event.timezone),
        "reasons": REASONS,
        "preview": None,
        "closed": _closed(event),
        **await _choices(actor),
    }
    if request.method == "GET":
        form = _initial(request, context["segments"])
        return render(request, "invitations/invite.html", {**context, "form": form})
    form, kind, override = await _read_audience(request)
    sending = (await form_data(request)).get("action") == "send"
    try:
        audience = await _audience(request, form, kind)
        try:
            if sending:
                job = await start_invite_job(
                    actor, event.id, audience, override_suspension=override, ip=client_ip(request)
                )
                await _run(job, wait=job.total <= IN_REQUEST)
                return RedirectResponse(f"/events/{event.id}/invite/{job.id}", status_code=303)
            context["preview"] = await preview_invitations(
                actor, event.id, audience, override_suspension=override
            )
        except NotFound as exc:
            raise _out_of_reach(kind, exc) from None
    except (InvalidInput, Conflict, PermissionDenied) as exc:
        return form_failure(request, "invitations/invite.html", form, exc, context)
    return render(request, "invitations/invite.html", {**context, "form": form})


# --- The run ------------------------------------------------------------------------


@page("/events/{id}/invite/{job_id}", access=Access.ATTACHE, name="invite_job")
async def invite_job(request: Request) -> Response:
    actor = await _actor(request)
    event = await get_event(actor, path_id(request, "id"))
    job = await get_invite_job(actor, event.id, path_id(request, "job_id"))
    running_here = job.id in _RUNNING
    skipped = job_skipped(job)
    context = {
        "event": event,
        "job": job,
        "handled": job.invited + sum(skipped.values()),
        "skipped": {reason: n for reason, n in skipped.items() if n},
        "reasons": REASONS,
        "running_here": running_here,
        "stopped": job.status == JobStatus.RUNNING and not running_here,
        "refresh_seconds": REFRESH_SECONDS,
    }
    response = render(request, "invitations/job.html", context)
    if running_here:
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


@page(
    "/events/{id}/invite/{job_id}/resume",
    access=Access.ATTACHE,
    methods=["POST"],
    name="invite_resume",
)
async def invite_resume(request: Request) -> Response:
    actor = await _actor(request)
    event_id = path_id(request, "id")
    job = await get_invite_job(actor, event_id, path_id(request, "job_id"))
    if job.status == JobStatus.RUNNING:
        handled = job.invited + sum(job_skipped(job).values())
        await _run(job, wait=job.total - handled <= IN_REQUEST)
    return RedirectResponse(f"/events/{event_id}/invite/{job.id}", status_code=303)


async def _run(job: InviteJob, *, wait: bool) -> None:
    """Run the job now (``wait``) or as a task of this process (once at a time)."""
    if job.id in _RUNNING:
        return
    task: asyncio.Task[object] = asyncio.create_task(run_invite_job(job.id))
    _RUNNING[job.id] = task
    task.add_done_callback(lambda done: _finished(job.id, done))
    if wait:
        # Waits without owning the task: a client that goes away does not stop the
        # run half-way, and a failure shows on the job's page.
        await asyncio.wait({task})


def _finished(job_id: int, task: asyncio.Task[object]) -> None:
    _RUNNING.pop(job_id, None)
    if not task.cancelled() and task.exception() is not None:
        log.error("invite job %s failed", job_id, exc_info=task.exception())


# --- On the event page --------------------------------------------------------------


def _answer(value: object, question: dict[str, Any]) -> str:
    if isinstance(value, bool) or question.get("type") == "yes_no":
        if value in (True, "yes"):
            return _("Yes")
        if value in (False, "no"):
            return _("No")
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _row(invitation: Invitation, event: Event, questions: list[dict[str, Any]]) -> dict[str, Any]:
    """One invitation as the list shows it."""
    answers = invitation.answers or {}
    responded = invitation.responded_at
    return {
        "invitation": invitation,
        "alumnus": invitation.alumnus,
        "name": display_name(invitation.alumnus),
        "status": _(STATUSES.get(InvitationStatus(invitation.status), str(invitation.status))),
        "position": getattr(invitation, "waitlist_position", None),
        "guest_names": [str(n) for n in invitation.guest_names or [] if str(n).strip()],
        "answers": [
            (str(q.get("label") or q["id"]), _answer(answers[str(q["id"])], q))
            for q in questions
            if answers.get(str(q["id"])) not in (None, "", [])
        ],
        "responded": to_local(responded, event.timezone).strftime("%Y-%m-%d %H:%M")
        if responded is not None
        else "",
    }


def _bars(counts: dict[str, int]) -> list[dict[str, Any]]:
    """The chart's rows: label, number and bar width (scaled to the largest)."""
    largest = max([counts.get(key, 0) for key, _label in COUNT_ROWS] + [1])
    return [
        {
            "key": key,
            "label": _(label),
            "n": counts.get(key, 0),
            "width": round(BAR_WIDTH * counts.get(key, 0) / largest),
        }
        for key, label in COUNT_ROWS
    ]


def _status_param(request: Request) -> str:
    raw = request.query_params.get("status", "")
    return raw if raw in {s.value for s in InvitationStatus} else ""


def _page_param(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 10_000 else 1


async def invitations_block(request: Request, actor: Actor, event: Event) -> dict[str, Any]:
    """The context of ``templates/events/_invitations.html`` for the event page of an
    attaché or staff member (``?status=`` filters the list, ``?page=`` pages it)."""
    status = _status_param(request)
    number = _page_param(request)
    counts = await invitation_counts(actor, event.id)
    total = await count_invitations(actor, event.id, status=status or None)
    found = await list_invitations(
        actor, event.id, status=status or None, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE
    )
    questions = [q for q in event.questions or [] if isinstance(q, dict) and q.get("id")]
    notice = request.query_params.get("invitations", "")
    capacity = event.capacity
    return {
        "invitations_block": {
            "counts": counts,
            "bars": _bars(counts),
            "bar_width": BAR_WIDTH,
            "seats_width": round(BAR_WIDTH * min(counts["seats_taken"], capacity) / capacity)
            if capacity
            else 0,
            "rows": [_row(i, event, questions) for i in found],
            "total": total,
            "status": status,
            "statuses": STATUSES,
            "page": number,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "zone": zone_label(event.timezone),
            "notice": _(NOTICES[notice]) if notice in NOTICES else "",
            "invitable": not _closed(event),
        }
    }


@page("/events/{id}/invitations.csv", access=Access.ATTACHE, name="invitations_csv")
async def invitations_download(request: Request) -> Response:
    actor = await _actor(request)
    event_id = path_id(request, "id")
    chunks = await invitations_csv(actor, event_id, ip=client_ip(request))
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="event-{event_id}-invitations.csv"'},
    )


@page(
    "/events/{id}/invitations/{inv_id}/revoke",
    access=Access.ATTACHE,
    methods=["POST"],
    name="invitation_revoke",
)
async def invitation_revoke(request: Request) -> Response:
    actor = await _actor(request)
    invitation = await revoke_invitation(
        actor,
        path_id(request, "inv_id"),
        event_id=path_id(request, "id"),
        ip=client_ip(request),
    )
    data = await form_data(request)
    back = ["invitations=revoked"]
    status = str(data.get("status", ""))
    if status in {s.value for s in InvitationStatus}:
        back.append(f"status={status}")
    page_number = str(data.get("page", ""))
    if page_number.isdigit() and 1 < int(page_number) < 10_000:
        back.append(f"page={page_number}")
    event_id = invitation.event_id  # type: ignore[attr-defined]
    return RedirectResponse(f"/events/{event_id}?{'&'.join(back)}#invitations", status_code=303)
