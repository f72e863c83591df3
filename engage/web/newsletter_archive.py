"""The newsletter archive for everyone signed in, and the tracking links.

::

    /newsletters/archive          the issues that went out, latest first
    /newsletters/archive/{id}     one issue (the email's "view in browser" link)
    /t/o/{token}.gif              the open pixel (public; records only when tracking is on)
    /t/c/{token}?u=...&s=...      a tracked link: a redirect to u, only when s signs it
                                  for this message (404 otherwise: never an open redirect)

What an issue shows, and what is recorded, is decided by
``engage.newsletters.archive`` and ``engage.newsletters.tracking``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from engage.newsletters.archive import PAGE_SIZE, archive_issues, archived_issue, count_archive
from engage.newsletters.tracking import PIXEL, follow_click, record_open
from engage.settings import Settings
from engage.web.failures import path_id
from engage.web.identity import current_actor as _actor
from engage.web.routing import Access, page
from engage.web.templating import render

#: Tracking answers are never stored, and never pass the link on as a referrer.
_PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


@page("/newsletters/archive", access=Access.ALUMNUS, name="newsletter_archive")
async def archive(request: Request) -> Response:
    actor = await _actor(request)
    raw = request.query_params.get("page", "1")
    number = int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 10_000 else 1
    issues = await archive_issues(actor, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
    total = await count_archive(actor)
    return render(
        request,
        "newsletters/archive.html",
        {
            "issues": issues,
            "page_number": number,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "zone": actor.user.timezone or "UTC",
        },
    )


@page("/newsletters/archive/{id}", access=Access.ALUMNUS, name="newsletter_archived")
async def archived(request: Request) -> Response:
    actor = await _actor(request)
    shown = await archived_issue(actor, path_id(request, "id"))
    return render(
        request,
        "newsletters/archived.html",
        {"shown": shown, "zone": actor.user.timezone or "UTC"},
    )


@page("/t/o/{token}.gif", access=Access.PUBLIC, name="track_open")
async def track_open(request: Request) -> Response:
    await record_open(_settings(request), str(request.path_params["token"]))
    return Response(PIXEL, media_type="image/gif", headers=_PRIVATE)


@page("/t/c/{token}", access=Access.PUBLIC, name="track_click")
async def track_click(request: Request) -> Response:
    params = request.query_params
    click = await follow_click(
        _settings(request),
        str(request.path_params["token"]),
        params.get("u", ""),
        params.get("s", ""),
    )
    return RedirectResponse(click.url, status_code=302, headers=_PRIVATE)
