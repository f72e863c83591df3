"""Newsletter pages for staff: write an issue, preview it, test it, send or schedule
it, pause and resume it, and follow it.

::

    /newsletters                     the issues, newest first (?status= filters)
    /newsletters/new                 subject, Markdown body, audience (a saved segment or
                                     the directory's filter), generated sections;
                                     POST action=save, or action=preview (saved, then shown)
    /newsletters/{id}/edit           the same form, for a draft or a scheduled issue
    /newsletters/{id}/preview        the HTML and plain-text parts as a recipient will
                                     see them (a sample recipient from the audience), how
                                     many it reaches and who is left out, and why
    /newsletters/{id}/preview.html   the HTML part alone, for the preview's frame
    /newsletters/{id}                status, progress (the page reloads itself while the
                                     issue goes out), figures as bars with the numbers
    /newsletters/{id}/test           POST: one copy to the author
    /newsletters/{id}/send           POST action=now, or action=schedule with send_at
                                     (a date and time in the author's zone)
    /newsletters/{id}/pause|resume|unschedule    POST

Rules live in ``engage.newsletters.services`` (staff only; the eligibility rule;
one copy per person whatever is clicked twice). A send asked for here runs in this
process (in the request when the audience is small, else as a task while the page
shows the progress); the scheduler also takes up any issue left sending, so a
restart loses nothing. Series are in ``engage.web.newsletter_series``, the archive
and tracking links in ``engage.web.newsletter_archive``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from engage.accounts.actor import Actor
from engage.alumni.audience import filter_from, parse_filter
from engage.alumni.directory import directory_choices
from engage.alumni.eligibility import BulkKind, reason_labels
from engage.alumni.segments import list_segments
from engage.errors import Conflict, InvalidInput, NotFound
from engage.events.timefmt import to_local, zone_label
from engage.i18n import N_, _
from engage.newsletters.models import IssueStatus, Newsletter
from engage.newsletters.sending import runner_name
from engage.newsletters.services import (
    AudiencePreview,
    audience_count,
    count_newsletters,
    create_newsletter,
    get_newsletter,
    list_newsletters,
    newsletter_stats,
    pause_newsletter,
    render_preview,
    resume_newsletter,
    run_send,
    sample_recipient,
    send_newsletter,
    send_test,
    unschedule_newsletter,
    update_newsletter,
)
from engage.settings import Settings
from engage.web.directory import describe, filter_options, filter_values
from engage.web.failures import form_failure, path_id
from engage.web.forms import Form
from engage.web.identity import client_ip
from engage.web.identity import current_actor as _actor
from engage.web.routing import Access, form_data, page
from engage.web.templating import render

log = logging.getLogger(__name__)

PAGE_SIZE = 25
#: Seconds between reloads of an issue's page while it goes out.
REFRESH_SECONDS = 3
#: Sends to up to this many people finish within the request that asked.
IN_REQUEST = 1000
#: Width in pixels of a full bar of the figures.
BAR_WIDTH = 240
#: The HTML part is shown in a sandboxed frame: no scripts, styles inline only.
PREVIEW_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; sandbox"
#: Runs going on in this process, by issue id (kept so the tasks are not collected).
_RUNNING: dict[int, asyncio.Task[object]] = {}

STATUSES = {
    IssueStatus.DRAFT: N_("Draft"),
    IssueStatus.SCHEDULED: N_("Scheduled"),
    IssueStatus.SENDING: N_("Sending"),
    IssueStatus.PAUSED: N_("Paused"),
    IssueStatus.SENT: N_("Sent"),
}
AUDIENCES = {
    "segment": N_("A saved segment"),
    "filter": N_("Everyone matching a filter"),
}
SECTIONS = {
    "events": N_("Upcoming events each reader may attend, with their own RSVP link"),
    "news": N_("Alumni news: promotions and new positions since the last issue"),
}
#: Why people are left out, in words (the eligibility rule's reasons).
REASONS = reason_labels(BulkKind.NEWSLETTER)
#: The figures of a sent issue: (key of newsletter_stats, label).
FIGURES = (
    ("recipients", N_("Recipients")),
    ("delivered", N_("Delivered")),
    ("queued", N_("Waiting to be sent")),
    ("deferred", N_("Deferred: tried again later")),
    ("failed", N_("Failed")),
    ("bounced", N_("Bounced")),
    ("complaints", N_("Marked as spam")),
    ("unsubscribed", N_("Unsubscribed after it")),
    ("skipped", N_("Left out by the eligibility rule")),
    ("skipped_at_send", N_("Left out at send time")),
)
TRACKED = (("opens", N_("Opened")), ("clicks", N_("Clicked a link")))
#: What ``?notice=`` may say on an issue's page.
NOTICES = {
    "created": N_("The newsletter was saved as a draft."),
    "saved": N_("Your changes were saved."),
    "test": N_("A test copy is on its way to your address."),
    "sending": N_("The newsletter is going out."),
    "scheduled": N_("The newsletter is scheduled."),
    "unscheduled": N_("The newsletter is a draft again: it will not go out by itself."),
    "paused": N_("Sending is paused. Messages already queued still go."),
    "resumed": N_("Sending goes on where it stopped."),
}
EDITABLE = (IssueStatus.DRAFT, IssueStatus.SCHEDULED)


def _notice(request: Request) -> str:
    key = request.query_params.get("notice", "")
    return _(NOTICES[key]) if key in NOTICES else ""


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


# --- The audience and content form (shared with the series pages) ----------------------


async def form_choices(actor: Actor) -> dict[str, Any]:
    """What the issue form offers: segments, the directory's filter, the sections."""
    choices = await directory_choices(actor=actor)
    return {
        "segments": await list_segments(actor=actor),
        "choices": choices,
        "options": filter_options(choices),
        "audiences": AUDIENCES,
        "sections": SECTIONS,
    }


def content_values(item: Any) -> dict[str, Any]:
    """The form's values for a stored issue or series (its audience included)."""
    audience = dict(item.audience or {})
    values: dict[str, Any] = {
        "subject": item.subject,
        "body": item.body,
        "events_weeks": str(item.events_weeks),
        "sections": list(item.sections or []),
    }
    if audience.get("segment_id") is not None:
        values.update(audience="segment", segment_id=str(audience["segment_id"]))
        values.update(filter_values(QueryParams()))
    else:
        flt = filter_from(audience.get("filter") or {})
        values.update(audience="filter", segment_id="")
        values.update(filter_values(QueryParams(flt.query_items())))
    return values


def blank_content(segments: list[Any]) -> dict[str, Any]:
    return {
        "audience": "segment" if segments else "filter",
        "segment_id": "",
        "subject": "",
        "body": "",
        "events_weeks": "6",
        "sections": ["events", "news"],
        **filter_values(QueryParams()),
    }


async def content_form(request: Request) -> dict[str, Any]:
    """The issue form as typed (to show again)."""
    data = await form_data(request)
    return {
        "audience": str(data.get("audience", "")),
        "segment_id": str(data.get("segment_id", "")).strip(),
        "subject": str(data.get("subject", "")),
        "body": str(data.get("body", "")),
        "events_weeks": str(data.get("events_weeks", "")).strip(),
        "sections": [str(s) for s in data.getlist("sections")],
        **filter_values(data),
    }


async def content_input(request: Request, values: dict[str, Any]) -> dict[str, Any]:
    """The issue form as the services take it; a filter that does not parse raises
    InvalidInput naming its fields."""
    given: dict[str, Any] = {
        "subject": values["subject"],
        "body": values["body"],
        "sections": values["sections"],
        "events_weeks": values["events_weeks"],
    }
    if values["audience"] == "segment":
        raw = values["segment_id"]
        given["segment_id"] = int(raw) if raw.isdigit() and len(raw) < 10 else None
    elif values["audience"] == "filter":
        given["filter"] = parse_filter(await form_data(request)).to_json()
    else:
        given["audience"] = None
    return given


def _beside(exc: NotFound) -> InvalidInput:
    """A segment out of reach (404 from the service), said beside its field."""
    return InvalidInput(_("Please correct the marked fields."), fields={"segment_id": exc.message})


async def audience_words(actor: Actor, audience: dict[str, Any]) -> str:
    """The audience in words: the segment's name, or the filter's criteria."""
    if audience.get("segment_id") is not None:
        for segment in await list_segments(actor=actor):
            if segment.id == audience["segment_id"]:
                return _("The saved segment “%(name)s”", name=segment.name)
        return _("A saved segment that no longer exists")
    fixed = audience.get("fixed") or {}
    flt = filter_from(fixed.get("filter") or audience.get("filter") or {})
    criteria = describe(flt, await directory_choices(actor=actor))
    if not criteria:
        return _("Everyone (no filter)")
    return "; ".join(f"{label}: {value}" for label, value in criteria)


# --- The list -----------------------------------------------------------------------


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 10_000 else 1


@page("/newsletters", access=Access.STAFF, name="newsletters")
async def newsletters(request: Request) -> Response:
    actor = await _actor(request)
    status = request.query_params.get("status", "")
    status = status if status in {s.value for s in IssueStatus} else ""
    number = _page_number(request)
    issues = await list_newsletters(
        actor, status=status or None, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE
    )
    total = await count_newsletters(actor, status=status or None)
    return render(
        request,
        "newsletters/list.html",
        {
            "issues": issues,
            "status": status,
            "statuses": STATUSES,
            "page_number": number,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "total": total,
        },
    )


# --- Writing ------------------------------------------------------------------------


async def _compose(request: Request, issue: Newsletter | None) -> Response:
    actor = await _actor(request)
    context: dict[str, Any] = {"issue": issue, **await form_choices(actor)}
    if request.method == "GET":
        values = content_values(issue) if issue else blank_content(context["segments"])
        return render(request, "newsletters/compose.html", {**context, "form": Form(values=values)})
    form = Form(values=await content_form(request))
    action = (await form_data(request)).get("action")
    try:
        given = await content_input(request, form.values)
        if issue is None:
            issue = await create_newsletter(actor, given, ip=client_ip(request))
        else:
            issue = await update_newsletter(actor, issue.id, given, ip=client_ip(request))
    except NotFound as exc:  # a segment out of reach
        return form_failure(request, "newsletters/compose.html", form, _beside(exc), context)
    except (InvalidInput, Conflict) as exc:
        return form_failure(request, "newsletters/compose.html", form, exc, context)
    notice = "saved" if context["issue"] else "created"
    target = (
        f"/newsletters/{issue.id}/preview" if action == "preview" else f"/newsletters/{issue.id}"
    )
    return RedirectResponse(f"{target}?notice={notice}", status_code=303)


@page("/newsletters/new", access=Access.STAFF, methods=["GET", "POST"], name="newsletter_new")
async def newsletter_new(request: Request) -> Response:
    return await _compose(request, None)


@page(
    "/newsletters/{id}/edit",
    access=Access.STAFF,
    methods=["GET", "POST"],
    name="newsletter_edit",
)
async def newsletter_edit(request: Request) -> Response:
    issue = await get_newsletter(await _actor(request), path_id(request, "id"))
    if issue.status not in EDITABLE:  # it went out meanwhile: its page says so
        return RedirectResponse(f"/newsletters/{issue.id}", status_code=303)
    return await _compose(request, issue)


# --- Preview ------------------------------------------------------------------------


async def _reach(actor: Actor, issue: Newsletter) -> tuple[AudiencePreview | None, str]:
    """Who the issue reaches now, or why that cannot be said (its segment was deleted
    since: the issue's pages still open, saying so)."""
    try:
        return await audience_count(actor, issue), ""
    except (NotFound, InvalidInput) as exc:
        return None, _("The audience cannot be found (%(why)s): edit it.", why=exc.message)


@page("/newsletters/{id}/preview", access=Access.STAFF, name="newsletter_preview")
async def newsletter_preview(request: Request) -> Response:
    actor = await _actor(request)
    issue = await get_newsletter(actor, path_id(request, "id"))
    as_sample = request.query_params.get("as") == "sample"
    counts, unreachable = await _reach(actor, issue)
    recipient = None if as_sample or counts is None else await sample_recipient(actor, issue)
    form = Form()
    preview = None
    try:
        preview = await render_preview(issue, recipient=recipient, settings=_settings(request))
    except InvalidInput as exc:
        form.message, form.errors = exc.message, dict(exc.fields)
    return render(
        request,
        "newsletters/preview.html",
        {
            "issue": issue,
            "preview": preview,
            "counts": counts,
            "unreachable": unreachable,
            "reasons": REASONS,
            "recipient": recipient,
            "as_sample": as_sample,
            "form": form,
            "notice": _notice(request),
            "editable": issue.status in EDITABLE,
        },
        status_code=422 if preview is None else 200,
    )


@page("/newsletters/{id}/preview.html", access=Access.STAFF, name="newsletter_preview_html")
async def newsletter_preview_html(request: Request) -> Response:
    actor = await _actor(request)
    issue = await get_newsletter(actor, path_id(request, "id"))
    as_sample = request.query_params.get("as") == "sample"
    counts, _unreachable = await _reach(actor, issue)
    recipient = None if as_sample or counts is None else await sample_recipient(actor, issue)
    preview = await render_preview(issue, recipient=recipient, settings=_settings(request))
    return HTMLResponse(
        preview.html,
        headers={"Content-Security-Policy": PREVIEW_CSP, "X-Frame-Options": "SAMEORIGIN"},
    )


# --- The issue ----------------------------------------------------------------------


def _bars(stats: dict[str, Any], rows: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    """Rows of the figures chart: label, number and bar width (scaled to the largest)."""
    largest = max([int(stats.get(key, 0)) for key, _label in rows] + [1])
    return [
        {
            "key": key,
            "label": _(label),
            "n": int(stats.get(key, 0)),
            "width": round(BAR_WIDTH * int(stats.get(key, 0)) / largest),
        }
        for key, label in rows
    ]


async def _issue_context(request: Request, actor: Actor, issue: Newsletter) -> dict[str, Any]:
    settings = _settings(request)
    stats = await newsletter_stats(actor, issue.id)
    reach, unreachable = await _reach(actor, issue) if issue.status in EDITABLE else (None, "")
    zone = actor.user.timezone or "UTC"
    send_at = ""
    if issue.status == IssueStatus.SCHEDULED and issue.send_at is not None:
        send_at = to_local(issue.send_at, zone).strftime("%Y-%m-%dT%H:%M")
    rows = FIGURES + (TRACKED if settings.newsletters.tracking else ())
    handled = issue.written + sum(int(n) for n in (issue.skipped or {}).values())
    return {
        "issue": issue,
        "status_label": _(STATUSES[IssueStatus(issue.status)]),
        "audience": await audience_words(actor, issue.audience or {}),
        "reach": reach,
        "unreachable": unreachable,
        "reasons": REASONS,
        "stats": stats,
        "bars": _bars(stats, rows),
        "bar_width": BAR_WIDTH,
        "handled": handled,
        "zone": zone,
        "zone_label": zone_label(zone),
        "form": Form(values={"send_at": send_at}),
        "notice": _notice(request),
        "refresh_seconds": REFRESH_SECONDS,
        "in_flight": _in_flight(issue, stats),
        "tracking": settings.newsletters.tracking,
        "sections": SECTIONS,
    }


def _in_flight(issue: Newsletter, stats: dict[str, Any]) -> bool:
    """Whether the page should reload itself: rows being written, or still queued."""
    if issue.status == IssueStatus.SENDING:
        return True
    return issue.status in (IssueStatus.SENT, IssueStatus.PAUSED) and bool(stats.get("queued"))


@page("/newsletters/{id}", access=Access.STAFF, name="newsletter")
async def newsletter(request: Request) -> Response:
    actor = await _actor(request)
    issue = await get_newsletter(actor, path_id(request, "id"))
    context = await _issue_context(request, actor, issue)
    response = render(request, "newsletters/issue.html", context)
    if context["in_flight"]:
        # The HTTP form of <meta http-equiv="refresh">: no JavaScript needed.
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


def _back(issue_id: int, notice: str) -> RedirectResponse:
    return RedirectResponse(f"/newsletters/{issue_id}?notice={notice}#status", status_code=303)


@page("/newsletters/{id}/test", access=Access.STAFF, methods=["POST"], name="newsletter_test")
async def newsletter_test(request: Request) -> Response:
    actor = await _actor(request)
    issue_id = path_id(request, "id")
    await send_test(actor, issue_id, _settings(request))
    return _back(issue_id, "test")


@page("/newsletters/{id}/send", access=Access.STAFF, methods=["POST"], name="newsletter_send")
async def newsletter_send(request: Request) -> Response:
    actor = await _actor(request)
    issue = await get_newsletter(actor, path_id(request, "id"))
    data = await form_data(request)
    schedule = data.get("action") == "schedule"
    send_at = str(data.get("send_at", "")).strip()
    try:
        if schedule and not send_at:
            message = _("Give the date and time to send it.")
            raise InvalidInput(message, fields={"send_at": message})
        issue = await send_newsletter(
            actor, issue.id, send_at=send_at if schedule else None, ip=client_ip(request)
        )
    except (InvalidInput, Conflict) as exc:
        context = await _issue_context(request, actor, issue)
        form = Form(values={"send_at": send_at})
        return form_failure(request, "newsletters/issue.html", form, exc, context)
    if issue.status == IssueStatus.SENDING:
        await _start_run(actor, issue)
        return _back(issue.id, "sending")
    return _back(issue.id, "scheduled")


@page("/newsletters/{id}/pause", access=Access.STAFF, methods=["POST"], name="newsletter_pause")
async def newsletter_pause(request: Request) -> Response:
    actor = await _actor(request)
    issue = await pause_newsletter(actor, path_id(request, "id"), ip=client_ip(request))
    return _back(issue.id, "paused")


@page("/newsletters/{id}/resume", access=Access.STAFF, methods=["POST"], name="newsletter_resume")
async def newsletter_resume(request: Request) -> Response:
    actor = await _actor(request)
    issue = await resume_newsletter(actor, path_id(request, "id"), ip=client_ip(request))
    await _start_run(actor, issue)
    return _back(issue.id, "resumed")


@page(
    "/newsletters/{id}/unschedule",
    access=Access.STAFF,
    methods=["POST"],
    name="newsletter_unschedule",
)
async def newsletter_unschedule(request: Request) -> Response:
    actor = await _actor(request)
    issue = await unschedule_newsletter(actor, path_id(request, "id"), ip=client_ip(request))
    return _back(issue.id, "unscheduled")


async def _start_run(actor: Actor, issue: Newsletter) -> None:
    """Write the issue's outbox rows from this process: within the request for a small
    audience, else as a task while the page shows the progress (once at a time)."""
    if issue.id in _RUNNING:
        return
    left = (await audience_count(actor, issue)).recipients - issue.written
    task: asyncio.Task[object] = asyncio.create_task(run_send(issue.id, owner=runner_name()))
    _RUNNING[issue.id] = task
    task.add_done_callback(lambda done: _finished(issue.id, done))
    if left <= IN_REQUEST:
        # Waits without owning the task: a client that goes away does not stop it.
        await asyncio.wait({task})


def _finished(issue_id: int, task: asyncio.Task[object]) -> None:
    _RUNNING.pop(issue_id, None)
    if not task.cancelled() and task.exception() is not None:
        log.error("newsletter run %s failed", issue_id, exc_info=task.exception())
