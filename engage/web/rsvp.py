"""Answering invitations: the personal RSVP link, "My invitations", an event's reply page.

::

    /rsvp/{token}              GET the event and the form (read-only once answers close);
                               POST the answer, then a confirmation page
    /rsvp/{token}/event.ics    the calendar file for that invitation
    /my/invitations            alumni: every invitation with its answer and the form
    /my/invitations/{id}       POST: answer one's own invitation (anyone else's: 404)
    /events/{id}/reply         alumni: answer an event from its page (open events too)

The link pages need no sign-in (the token is the credential, like a password reset
link) and send ``Referrer-Policy: no-referrer``, so the address never travels on. A
forged, unknown, revoked or expired link gets one page, "This link is not valid",
with the same status (404) and body whatever the reason. The form is protected by
the CSRF cookie like every other form, signed in or not.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from engage.errors import Conflict, InvalidInput
from engage.invitations.rsvp_views import (
    InvalidLink,
    RsvpView,
    answer_by_link,
    answer_my_invitation,
    calendar_by_link,
    event_reply,
    my_invitation,
    my_invitations,
    reply_to_event,
    rsvp_by_link,
)
from engage.web.failures import form_failure, path_id
from engage.web.forms import Form
from engage.web.identity import current_actor
from engage.web.routing import Access, form_data, page
from engage.web.templating import render

#: The link's address is a credential: never sent on as a referrer; and the page
#: holds a person's answer: never stored by a browser or proxy.
NO_REFERRER = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def _context(view: RsvpView, *, action: str, calendar: str, page: bool = True) -> dict[str, Any]:
    """What the templates need; ``page`` for ``rsvp/page.html`` (the description)."""
    context: dict[str, Any] = {
        "view": view,
        "event": view.event,
        "action": action,
        "calendar_url": calendar,
    }
    if page:
        context["description_html"] = Markup(view.description_html)  # noqa: S704 - sanitised
    return context


async def _typed(request: Request) -> Form:
    data = await form_data(request)
    return Form(values={k: str(v).strip() for k, v in data.items() if k != "csrf_token"})


def _invalid(request: Request) -> Response:
    """The one page for every link that is not valid."""
    return render(request, "rsvp/link_invalid.html", status_code=404, headers=NO_REFERRER)


# --- The personal link ------------------------------------------------------------------


@page("/rsvp/{token}", methods=["GET", "POST"], access=Access.PUBLIC, name="rsvp")
async def rsvp(request: Request) -> Response:
    token = request.path_params["token"]
    settings = request.app.state.settings
    here = {"action": request.url.path, "calendar": f"{request.url.path}/event.ics"}
    try:
        if request.method == "GET":
            view = await rsvp_by_link(settings, token)
            context = _context(view, **here)
            return render(
                request,
                "rsvp/page.html",
                {**context, "form": Form(values=view.values)},
                headers=NO_REFERRER,
            )
        form = await _typed(request)
        try:
            view = await answer_by_link(settings, token, form.values)
        except (InvalidInput, Conflict) as exc:
            context = _context(await rsvp_by_link(settings, token), **here)
            response = form_failure(request, "rsvp/page.html", form, exc, context)
            response.headers.update(NO_REFERRER)
            return response
    except InvalidLink:
        return _invalid(request)
    return render(
        request,
        "rsvp/answered.html",
        {**_context(view, **here, page=False), "back": request.url.path},
        headers=NO_REFERRER,
    )


@page("/rsvp/{token}/event.ics", access=Access.PUBLIC, name="rsvp_ics")
async def rsvp_calendar(request: Request) -> Response:
    try:
        body = await calendar_by_link(request.app.state.settings, request.path_params["token"])
    except InvalidLink:
        return _invalid(request)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="event.ics"', **NO_REFERRER},
    )


# --- My invitations ---------------------------------------------------------------------


def _mine(view: RsvpView, *, page: bool = True) -> dict[str, Any]:
    assert view.invitation is not None
    return _context(
        view,
        action=f"/my/invitations/{view.invitation.id}",
        calendar=f"/events/{view.event.id}.ics",
        page=page,
    )


@page("/my/invitations", access=Access.ALUMNUS, name="my_invitations")
async def invitations(request: Request) -> Response:
    views = await my_invitations(await current_actor(request))
    entries = [{**_mine(v, page=False), "form": Form(values=v.values)} for v in views]
    return render(request, "rsvp/mine.html", {"entries": entries})


@page("/my/invitations/{id}", methods=["POST"], access=Access.ALUMNUS, name="my_invitation")
async def answer_invitation(request: Request) -> Response:
    actor = await current_actor(request)
    invitation_id = path_id(request, "id")
    form = await _typed(request)
    try:
        view = await answer_my_invitation(actor, invitation_id, form.values)
    except (InvalidInput, Conflict) as exc:
        context = _mine(await my_invitation(actor, invitation_id))
        return form_failure(request, "rsvp/page.html", form, exc, context)
    context = _mine(view, page=False)
    return render(request, "rsvp/answered.html", {**context, "back": "/my/invitations"})


# --- An event's reply page --------------------------------------------------------------


@page("/events/{id}/reply", methods=["GET", "POST"], access=Access.ALUMNUS, name="event_reply")
async def reply(request: Request) -> Response:
    actor = await current_actor(request)
    event_id = path_id(request, "id")
    here = {"action": request.url.path, "calendar": f"/events/{event_id}.ics"}
    if request.method == "GET":
        view = await event_reply(actor, event_id)
        return render(
            request, "rsvp/page.html", {**_context(view, **here), "form": Form(values=view.values)}
        )
    form = await _typed(request)
    try:
        view = await reply_to_event(actor, event_id, form.values)
    except (InvalidInput, Conflict) as exc:
        context = _context(await event_reply(actor, event_id), **here)
        return form_failure(request, "rsvp/page.html", form, exc, context)
    return render(
        request,
        "rsvp/answered.html",
        {**_context(view, **here, page=False), "back": request.url.path},
    )
