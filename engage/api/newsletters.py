"""``/api/v1/newsletters``: newsletter issues for staff (engage.newsletters.services).

::

    GET   /api/v1/newsletters               ``status``, ``page``, ``page_size``
                                            -> {"items", "total", "page", "page_size", "pages"}
    POST  /api/v1/newsletters               {"subject", "body" (Markdown), and "segment_id"
                                            or "filter"; optionally "sections", "events_weeks",
                                            "news_since"} -> 201, a draft
    GET   /api/v1/newsletters/{id}
    PATCH /api/v1/newsletters/{id}          only the fields sent change; drafts and scheduled
                                            issues only (409 once sending)
    POST  /api/v1/newsletters/{id}/send     no body (or {}): now; a paused issue resumes.
                                            {"send_at": "2026-03-02T09:00"}: scheduled at that
                                            wall-clock time in your zone (your account's time
                                            zone), or at the instant given with an offset
    POST  /api/v1/newsletters/{id}/pause    a run being written stops at its next chunk
    GET   /api/v1/newsletters/{id}/stats    recipients, delivered, deferred, bounced,
                                            unsubscribed after it, ...

Staff and admins only. Placeholders (``{{ preferred_name | "colleague" }}``, ``rank``,
``country``, ``embassy``) are checked when an issue is saved and sent: an unknown one
answers 422 naming it. Sending now starts writing the outbox rows once the answer is
sent (the scheduler goes on with any run left unfinished).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse

from engage.alumni.audience import AudienceFilter
from engage.api.endpoint import endpoint
from engage.api.paging import Paged, PageQuery, paged
from engage.events.timefmt import to_local
from engage.newsletters import services
from engage.newsletters.compose import compile_issue
from engage.newsletters.models import IssueStatus, Newsletter
from engage.newsletters.sections import MAX_WEEKS
from engage.newsletters.sending import runner_name
from engage.web.identity import client_ip
from engage.web.identity import current_actor as _actor
from engage.web.routing import Access

_TEXT = (
    "Placeholders: {{ preferred_name }}, {{ rank }}, {{ country }}, {{ embassy }}, each "
    'with an optional fallback: {{ preferred_name | "colleague" }}.'
)


class AudienceOut(BaseModel):
    segment_id: int | None = Field(default=None, description="A saved segment.")
    filter: dict[str, Any] | None = Field(
        default=None, description="The audience filter, as the parameters of GET /api/v1/alumni."
    )


class NewsletterOut(BaseModel):
    id: int
    subject: str
    body: str = Field(description="Markdown, with placeholders, as written.")
    body_html: str = Field(
        description="The body as safe HTML, placeholders showing their fallback (or their "
        "name in brackets)."
    )
    audience: AudienceOut
    sections: list[Literal["events", "news"]] = Field(
        description="Generated per recipient: upcoming events they may attend, alumni news."
    )
    events_weeks: int = Field(description="How far ahead the events section looks.")
    news_since: datetime | None = Field(
        description="The news section covers career changes recorded since then (null: "
        "since the last issue)."
    )
    status: IssueStatus
    send_at: datetime | None = Field(
        description="When it was or will be sent, with the offset of send_timezone."
    )
    send_timezone: str = Field(description="The zone the time was given in.")
    series: int | None = Field(description="The series that made it, if any.")
    created_by: str | None = Field(description="The author's email address.")
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    paused_at: datetime | None
    total: int = Field(description="Recipients when the send started.")
    written: int = Field(description="Messages queued so far (one per recipient).")
    skipped: dict[str, int] = Field(description="People left out by the eligibility rule.")

    @classmethod
    def of(cls, issue: Newsletter) -> NewsletterOut:
        audience = {k: v for k, v in (issue.audience or {}).items() if k != "fixed"}
        compiled = compile_issue(issue.subject, issue.body)
        author = issue.created_by if issue.created_by_id else None  # type: ignore[attr-defined]
        zone = issue.send_timezone or "UTC"
        return cls(
            id=issue.id,
            subject=issue.subject,
            body=issue.body,
            body_html=str(compiled.html_for(compiled.sample_fills())),
            audience=AudienceOut.model_validate(audience),
            sections=[s for s in issue.sections or [] if s in ("events", "news")],
            events_weeks=issue.events_weeks,
            news_since=issue.news_since,
            status=IssueStatus(issue.status),
            send_at=to_local(issue.send_at, zone) if issue.send_at else None,
            send_timezone=zone,
            series=issue.series_id,  # type: ignore[attr-defined]
            created_by=author.email if author is not None else None,
            created_at=issue.created_at,
            updated_at=issue.updated_at,
            started_at=issue.started_at,
            finished_at=issue.finished_at,
            paused_at=issue.paused_at,
            total=issue.total,
            written=issue.written,
            skipped={str(k): int(v) for k, v in (issue.skipped or {}).items()},
        )


class NewsletterPage(Paged):
    items: list[NewsletterOut]


class NewslettersQuery(PageQuery):
    status: IssueStatus | None = None


class _NewsletterFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(default=None, max_length=200, description=_TEXT)
    body: str | None = Field(default=None, description="Markdown. " + _TEXT)
    segment_id: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="A saved segment (GET /api/v1/segments)."
    )
    filter: AudienceFilter | None = Field(
        default=None, description="The audience filter, as the parameters of GET /api/v1/alumni."
    )
    sections: list[Literal["events", "news"]] | None = Field(
        default=None, description="Generated per recipient: upcoming events, alumni news."
    )
    events_weeks: int | None = Field(default=None, ge=1, le=MAX_WEEKS)
    news_since: datetime | None = Field(
        default=None,
        description="The news section covers changes recorded since then (wall-clock time "
        "in your zone, or with an offset; null: since the last issue).",
    )

    def changes(self) -> dict[str, Any]:
        data = self.model_dump(exclude_unset=True)
        if "filter" in data:
            data["filter"] = self.filter.to_json() if self.filter is not None else None
        return data


class NewsletterIn(_NewsletterFields):
    """A new draft: a subject, a body, and the audience (``segment_id`` or ``filter``)."""

    subject: str = Field(max_length=200, description=_TEXT, examples=["Alumni news, March"])
    body: str = Field(
        description="Markdown. " + _TEXT,
        examples=['Dear {{ preferred_name | "colleague" }},\n\nThe news of the month...'],
    )


class NewsletterChanges(_NewsletterFields):
    """Only the fields sent change (a new ``segment_id`` or ``filter`` replaces the
    audience)."""


class SendIn(BaseModel):
    """Nothing (or ``{}``) to send now; ``send_at`` to schedule."""

    model_config = ConfigDict(extra="forbid")

    send_at: datetime | None = Field(
        default=None,
        description="Wall-clock time in your zone without an offset, or an instant with one.",
        examples=["2026-03-02T09:00"],
    )

    @model_validator(mode="before")
    @classmethod
    def _no_body(cls, value: Any) -> Any:
        return {} if value is None else value


class PauseIn(BaseModel):
    """Nothing to give (an empty object, or no body)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_body(cls, value: Any) -> Any:
        return {} if value is None else value


class NewsletterStats(BaseModel):
    recipients: int = Field(description="Messages queued (one per recipient).")
    delivered: int = Field(description="Accepted by the mail relay.")
    queued: int = Field(description="Waiting to be sent, or being sent.")
    deferred: int = Field(description="Waiting for a retry after a temporary failure.")
    failed: int = Field(description="Refused, or given up after retries.")
    skipped: int = Field(description="Left out by the eligibility rule when queued.")
    skipped_at_send: int = Field(description="Not sent: no longer eligible when it was due.")
    bounced: int = Field(description="Messages a bounce report came back for.")
    complaints: int = Field(description="Messages marked as spam.")
    unsubscribed: int = Field(description="Unsubscribes from one of its messages.")
    opens: int = Field(description="Messages opened (only when tracking is on).")
    clicks: int = Field(description="Messages with a link followed (only when tracking is on).")


async def _run_after(issue: Newsletter) -> JSONResponse:
    """The issue as JSON; if it is sending, its run starts once the answer is sent."""
    task = None
    if issue.status == IssueStatus.SENDING:
        task = BackgroundTask(services.run_send, issue.id, owner=runner_name())
    return JSONResponse(NewsletterOut.of(issue).model_dump(mode="json"), background=task)


@endpoint(
    "GET",
    "/newsletters",
    response=NewsletterPage,
    query=NewslettersQuery,
    tag="newsletters",
    access=Access.STAFF,
)
async def list_newsletters(request: Request, query: NewslettersQuery) -> NewsletterPage:
    """Newsletter issues, newest first, a page at a time."""
    actor = await _actor(request)
    total = await services.count_newsletters(actor, status=query.status)
    found = await services.list_newsletters(
        actor,
        status=query.status,
        limit=query.page_size,
        offset=query.offset,
    )
    return NewsletterPage(
        items=[NewsletterOut.of(issue) for issue in found],
        **paged(total, query),
    )


@endpoint(
    "POST",
    "/newsletters",
    response=NewsletterOut,
    body=NewsletterIn,
    status=201,
    tag="newsletters",
    access=Access.STAFF,
)
async def create_newsletter(request: Request, body: NewsletterIn) -> NewsletterOut:
    """Write a newsletter issue (a draft)."""
    issue = await services.create_newsletter(
        await _actor(request), body.changes(), ip=client_ip(request)
    )
    return NewsletterOut.of(issue)


@endpoint(
    "GET", "/newsletters/{id}", response=NewsletterOut, tag="newsletters", access=Access.STAFF
)
async def get_newsletter(request: Request) -> NewsletterOut:
    """One newsletter issue."""
    issue = await services.get_newsletter(await _actor(request), request.path_params["id"])
    return NewsletterOut.of(issue)


@endpoint(
    "PATCH",
    "/newsletters/{id}",
    response=NewsletterOut,
    body=NewsletterChanges,
    tag="newsletters",
    access=Access.STAFF,
    errors=(409,),
)
async def update_newsletter(request: Request, body: NewsletterChanges) -> NewsletterOut:
    """Change some fields of a draft or scheduled issue."""
    issue = await services.update_newsletter(
        await _actor(request), request.path_params["id"], body.changes(), ip=client_ip(request)
    )
    return NewsletterOut.of(issue)


@endpoint(
    "POST",
    "/newsletters/{id}/send",
    response=NewsletterOut,
    body=SendIn,
    tag="newsletters",
    access=Access.STAFF,
    errors=(409,),
)
async def send_newsletter(request: Request, body: SendIn) -> JSONResponse:
    """Send an issue now (or resume it), or schedule it."""
    issue = await services.send_newsletter(
        await _actor(request),
        request.path_params["id"],
        send_at=body.send_at,
        ip=client_ip(request),
    )
    return await _run_after(issue)


@endpoint(
    "POST",
    "/newsletters/{id}/pause",
    response=NewsletterOut,
    body=PauseIn,
    tag="newsletters",
    access=Access.STAFF,
    errors=(409,),
)
async def pause_newsletter(request: Request, body: PauseIn) -> NewsletterOut:
    """Pause an issue being sent."""
    issue = await services.pause_newsletter(
        await _actor(request), request.path_params["id"], ip=client_ip(request)
    )
    return NewsletterOut.of(issue)


@endpoint(
    "GET",
    "/newsletters/{id}/stats",
    response=NewsletterStats,
    tag="newsletters",
    access=Access.STAFF,
)
async def newsletter_stats(request: Request) -> NewsletterStats:
    """What became of an issue: delivered, deferred, bounced, unsubscribed..."""
    stats = await services.newsletter_stats(await _actor(request), request.path_params["id"])
    return NewsletterStats.model_validate(stats)
