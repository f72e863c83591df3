"""``/admin/mail``: the staff mail page. What the queue holds by status, the
suppressed addresses, each campaign's progress and rate, the messages that failed or
wait for a retry (with the server's reply; failed ones may be sent again) and the
bounces (with their raw reason, to lift a suppression a bounce caused by mistake).

::

    /admin/mail                              the page (?campaigns=, ?failed=, ?bounces=: pages)
    /admin/mail/messages/{id}/retry          POST: a failed or dead message, queued again
    /admin/mail/suppressions/{id}/lift       POST: the address may receive mail again (audit-logged)

No JavaScript: while mail is going out the page asks the browser to reload it (a
``Refresh`` header). The figures come from ``engage.mail.stats`` (aggregates in SQL);
the retry is ``engage mail retry``'s, the lift is the suppression service's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from engage.clock import utcnow
from engage.i18n import N_, _
from engage.mail.models import BounceKind, Status, SuppressionReason, SuppressionScope
from engage.mail.outbox import retry_message
from engage.mail.stats import (
    RETRYABLE,
    CampaignProgress,
    list_bounces,
    list_campaigns,
    list_failures,
    mail_overview,
)
from engage.mail.suppression import lift_suppression
from engage.web.failures import path_id
from engage.web.identity import client_ip, current_actor
from engage.web.routing import Access, form_data, page
from engage.web.templating import render

#: Seconds between reloads while mail is going out.
REFRESH_SECONDS = 5
#: Width in pixels of a full bar.
BAR_WIDTH = 240
#: The page number of each list, by query parameter.
LISTS = ("campaigns", "failed", "bounces")

#: Each status in words, and its colour in the bars (readable on the bar's grey).
STATUSES: dict[Status, tuple[str, str]] = {
    Status.QUEUED: (N_("Queued"), "#6b7f99"),
    Status.SENDING: (N_("Sending"), "#1f3a5f"),
    Status.SENT: (N_("Sent"), "#1e6b3a"),
    Status.DEFERRED: (N_("Deferred"), "#9a5b13"),
    Status.FAILED: (N_("Failed"), "#a4262c"),
    Status.DEAD: (N_("Dead"), "#5c1518"),
    Status.SKIPPED: (N_("Skipped"), "#767f8e"),
}
#: What each status means, beside its count.
MEANINGS = {
    Status.QUEUED: N_("waiting for a worker"),
    Status.SENDING: N_("held by a worker now"),
    Status.SENT: N_("accepted by the mail server"),
    Status.DEFERRED: N_("a temporary failure: tried again later"),
    Status.FAILED: N_("refused by the server: sent again only if someone asks"),
    Status.DEAD: N_("temporary failures went on too long: sent again only if someone asks"),
    Status.SKIPPED: N_("not sent: suppressed, or no longer eligible at send time"),
}
REASONS = {
    SuppressionReason.UNSUBSCRIBED: N_("unsubscribed"),
    SuppressionReason.HARD_BOUNCE: N_("hard bounce"),
    SuppressionReason.COMPLAINT: N_("complaint"),
    SuppressionReason.MANUAL: N_("by staff"),
}
SCOPES = {
    SuppressionScope.ALL: N_("all bulk mail"),
    SuppressionScope.INVITATIONS: N_("invitations and event mail"),
    SuppressionScope.NEWSLETTER: N_("newsletters"),
}
BOUNCE_KINDS = {
    BounceKind.HARD: N_("Hard bounce"),
    BounceKind.SOFT: N_("Soft bounce"),
    BounceKind.COMPLAINT: N_("Complaint"),
}
#: Campaigns by the prefix of their key ("invite:12").
CAMPAIGN_KINDS = {
    "invite": N_("Invitations"),
    "message": N_("Message to invitees"),
    "reminder": N_("Reminders"),
    "newsletter": N_("Newsletter"),
}
#: What ``?done=`` may say after an action.
NOTICES = {
    "retried": N_("The message is queued again: a worker sends it shortly."),
    "lifted": N_(
        "The suppression is lifted (recorded in the audit log): the address may receive mail again."
    ),
}


def _page_number(request: Request, name: str) -> int:
    raw = request.query_params.get(name, "1")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 6 else 1


def _nav(numbers: dict[str, int], name: str, number: int, pages: int) -> dict[str, Any]:
    """Links to the previous and next page of list ``name``, keeping the others' pages."""

    def link(n: int) -> str:
        wanted = {**numbers, name: n}
        query = urlencode({k: v for k, v in wanted.items() if v > 1})
        return f"/admin/mail?{query}#{name}" if query else f"/admin/mail#{name}"

    return {
        "page": number,
        "pages": pages,
        "prev": link(number - 1) if number > 1 else "",
        "next": link(number + 1) if number < pages else "",
    }


def _bars(counts: dict[Status, int]) -> list[dict[str, Any]]:
    """The counts chart: a bar per status, scaled to the largest."""
    largest = max([*counts.values(), 1])
    return [
        {
            "key": status.value,
            "label": _(STATUSES[status][0]),
            "meaning": _(MEANINGS[status]),
            "colour": STATUSES[status][1],
            "n": n,
            "width": round(BAR_WIDTH * n / largest),
        }
        for status, n in counts.items()
    ]


def _campaign(c: CampaignProgress) -> dict[str, Any]:
    """A campaign as its row shows it: a bar of its messages by status, stacked."""
    x = 0
    segments = []
    parts = []
    for status, n in c.counts.items():
        if not n:
            continue
        width = round(BAR_WIDTH * n / c.total)
        segments.append({"x": x, "width": width, "colour": STATUSES[status][1]})
        parts.append({"label": _(STATUSES[status][0]), "n": n, "colour": STATUSES[status][1]})
        x += width
    kind = c.campaign.split(":", 1)[0]
    return {
        "c": c,
        "kind": _(CAMPAIGN_KINDS[kind]) if kind in CAMPAIGN_KINDS else "",
        "segments": segments,
        "parts": parts,
    }


def _refresh_target(request: Request) -> str:
    """The page as it is, without the one-time notice (for the ``Refresh`` header)."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k in LISTS]
    return "/admin/mail" + (f"?{urlencode(kept)}" if kept else "")


@page("/admin/mail", access=Access.STAFF, name="mail_admin")
async def mail_page(request: Request) -> Response:
    numbers = {name: _page_number(request, name) for name in LISTS}
    overview = await mail_overview()
    campaigns = await list_campaigns(page=numbers["campaigns"], now=utcnow())
    failed = await list_failures(page=numbers["failed"])
    bounces = await list_bounces(page=numbers["bounces"])
    done = request.query_params.get("done", "")
    context = {
        "overview": overview,
        "bars": _bars(overview.counts),
        "bar_width": BAR_WIDTH,
        "campaigns": campaigns,
        "campaign_rows": [_campaign(c) for c in campaigns.rows],
        "failed": failed,
        "bounces": bounces,
        "nav": {
            "campaigns": _nav(numbers, "campaigns", campaigns.page, campaigns.pages),
            "failed": _nav(numbers, "failed", failed.page, failed.pages),
            "bounces": _nav(numbers, "bounces", bounces.page, bounces.pages),
        },
        "statuses": {status: _(label) for status, (label, _colour) in STATUSES.items()},
        "retryable": RETRYABLE,
        "reasons": {reason: _(label) for reason, label in REASONS.items()},
        "scopes": {scope: _(label) for scope, label in SCOPES.items()},
        "bounce_kinds": {kind: _(label) for kind, label in BOUNCE_KINDS.items()},
        "notice": _(NOTICES[done]) if done in NOTICES else "",
        "refresh_seconds": REFRESH_SECONDS if overview.in_flight else 0,
        "here": _refresh_target(request),
    }
    response = render(request, "mail_admin/index.html", context)
    if overview.in_flight:
        response.headers["Refresh"] = f"{REFRESH_SECONDS}; url={context['here']}"
    return response


async def _back(request: Request, done: str, anchor: str) -> RedirectResponse:
    """To the page the form was on (its list pages), with the notice."""
    data = await form_data(request)
    kept = [(name, str(data.get(name, ""))) for name in LISTS]
    query = [(k, v) for k, v in kept if v.isdigit() and 1 < int(v) < 100_000]
    query.append(("done", done))
    return RedirectResponse(f"/admin/mail?{urlencode(query)}#{anchor}", status_code=303)


@page("/admin/mail/messages/{id}/retry", access=Access.STAFF, methods=["POST"], name="mail_retry")
async def mail_retry(request: Request) -> Response:
    await retry_message(path_id(request, "id"))
    return await _back(request, "retried", "failed")


@page(
    "/admin/mail/suppressions/{id}/lift",
    access=Access.STAFF,
    methods=["POST"],
    name="mail_lift",
)
async def mail_lift(request: Request) -> Response:
    actor = await current_actor(request)
    await lift_suppression(actor, path_id(request, "id"), ip=client_ip(request))
    return await _back(request, "lifted", "bounces")
