"""The web archive: every issue that went out, readable by anyone signed in.

::

    issues = await archive_issues(actor, limit=20, offset=0)   # latest first
    page = await archived_issue(actor, newsletter_id)          # ArchivedIssue
    page.subject, page.html                                    # for the viewer

An issue is in the archive once its sending has started (so the email's "view in
browser" link works while the run is still going). The page shows the issue's own
text, not the personal sections (events one is invited to, RSVP links): those
stay in each person's email. Placeholders are filled for the viewer when they
have an alumni profile; others (staff) see the fallbacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup

from engage.accounts.actor import Actor
from engage.errors import NotFound
from engage.events.services import alumnus_for_user
from engage.i18n import _
from engage.newsletters.compose import compile_issue
from engage.newsletters.emails import recipient_values
from engage.newsletters.models import IssueStatus, Newsletter

#: Statuses of issues that went out (or are going out).
PUBLISHED = (IssueStatus.SENDING, IssueStatus.PAUSED, IssueStatus.SENT)
PAGE_SIZE = 20


@dataclass(frozen=True)
class ArchivedIssue:
    newsletter: Newsletter
    subject: str
    #: The body rendered from Markdown (sanitised), placeholders filled.
    html: Markup
    #: When it went out (the start of the send).
    sent_at: datetime | None


async def archive_issues(
    actor: Actor, *, limit: int = PAGE_SIZE, offset: int = 0
) -> list[ArchivedIssue]:
    """Issues that went out, latest first (subjects filled for ``actor``; the
    ``html`` of each is left empty: the list does not show it)."""
    issues = (
        await Newsletter.filter(status__in=PUBLISHED, started_at__isnull=False)
        .order_by("-started_at", "-id")
        .offset(max(0, offset))
        .limit(max(1, min(limit, 100)))
    )
    values = await _viewer_values(actor)
    listed = []
    for issue in issues:
        compiled = compile_issue(issue.subject, issue.body)
        subject = compiled.subject_for(compiled.fills(values))
        listed.append(ArchivedIssue(issue, subject, Markup(""), issue.started_at))
    return listed


async def _viewer_values(actor: Actor) -> dict[str, str]:
    """The placeholder values of the viewer's alumni profile (none for others)."""
    person = await alumnus_for_user(actor.user)
    if person is None:
        return {}
    await person.fetch_related("country")
    return await recipient_values(person)


async def count_archive(actor: Actor) -> int:
    return await Newsletter.filter(status__in=PUBLISHED, started_at__isnull=False).count()


async def archived_issue(actor: Actor, newsletter_id: int) -> ArchivedIssue:
    """An issue as its archive page shows it to ``actor`` (404 if it has not gone out)."""
    issue = await Newsletter.get_or_none(
        id=newsletter_id, status__in=PUBLISHED, started_at__isnull=False
    )
    if issue is None:
        raise NotFound(_("Not found."))
    compiled = compile_issue(issue.subject, issue.body)
    fills = compiled.fills(await _viewer_values(actor))
    return ArchivedIssue(
        newsletter=issue,
        subject=compiled.subject_for(fills),
        html=compiled.html_for(fills),
        sent_at=issue.started_at,
    )
