"""At the door, on a phone, without JavaScript: the door list, walk-ins, the QR check-in.

::

    /events/{id}/door                       the list: search by name, arrived / coming
    /events/{id}/door/{inv}/arrived         POST: mark arrived, back to the same search
    /events/{id}/door/{inv}/undo            POST: take an arrival back
    /events/{id}/door/walk-in               find a person of the embassy's countries, or
                                            add someone new (pending), marked arrived
    /checkin/{token}                        the QR code's address: the person and a
                                            "Mark arrived" button (POST)

Who may do what is decided by ``engage.invitations.checkin`` (another embassy's event
answers 404). The check-in page answers one "not valid" page (404) to anyone who is
not a signed-in attaché of the event's embassy or staff, whatever the link, so it
reveals nothing; someone not signed in is offered to sign in and come back. Its
address is a credential of sorts: ``Referrer-Policy: no-referrer``, and the access
log leaves the token out (``engage.web.middleware``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from engage.accounts.actor import Actor
from engage.errors import Conflict, InvalidInput
from engage.invitations.checkin import (
    PERSON_FIELDS,
    InvalidCheckin,
    add_walk_in,
    checkin_arrival,
    checkin_by_link,
    door_closed_reason,
    door_list,
    mark_arrived,
    undo_arrival,
    walk_in_view,
)
from engage.web.failures import form_failure, path_id
from engage.web.forms import Form, read_form
from engage.web.identity import client_ip, current_actor, identify
from engage.web.routing import Access, page
from engage.web.templating import render

PAGE_SIZE = 50
NO_REFERRER = {"Referrer-Policy": "no-referrer"}


def _page_number(raw: str) -> int:
    return int(raw) if raw.isdigit() and 0 < int(raw) < 10_000 else 1


def _back(event_id: int, form: Form, anchor: str = "", **done: object) -> str:
    """The door list again, with the same search and page, and what was just done."""
    params: dict[str, object] = {}
    if form.get("q"):
        params["q"] = form.get("q")
    if _page_number(form.get("page")) > 1:
        params["page"] = form.get("page")
    params.update(done)
    query = f"?{urlencode(params)}" if params else ""
    return f"/events/{event_id}/door{query}{anchor}"


async def _list_page(
    request: Request,
    actor: Actor,
    event_id: int,
    *,
    q: str,
    number: int,
    status_code: int = 200,
    error: str = "",
) -> Response:
    listing = await door_list(
        actor, event_id, q=q, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE
    )
    done = {
        key: request.query_params.get(key, "")
        for key in ("arrived", "undone", "removed", "walk_in")
    }
    just = next(
        (e for e in listing.entries if str(e.invitation.id) in (done["arrived"], done["undone"])),
        None,
    )
    context = {
        "listing": listing,
        "event": listing.event,
        "page_number": number,
        "more": listing.total > number * PAGE_SIZE,
        "done": done,
        "just": just,
        "error": error,
    }
    return render(request, "door/list.html", context, status_code=status_code)


@page("/events/{id}/door", access=Access.ATTACHE, name="door")
async def door(request: Request) -> Response:
    actor = await current_actor(request)
    return await _list_page(
        request,
        actor,
        path_id(request, "id"),
        q=request.query_params.get("q", ""),
        number=_page_number(request.query_params.get("page", "1")),
    )


@page(
    "/events/{id}/door/{invitation}/arrived",
    methods=["POST"],
    access=Access.ATTACHE,
    name="door_arrived",
)
async def door_arrived(request: Request) -> Response:
    actor = await current_actor(request)
    event_id, invitation_id = path_id(request, "id"), path_id(request, "invitation")
    form = await read_form(request, "q", "page")
    try:
        await mark_arrived(actor, invitation_id, event_id=event_id, ip=client_ip(request))
    except Conflict as exc:
        number = _page_number(form.get("page"))
        return await _list_page(
            request,
            actor,
            event_id,
            q=form.get("q"),
            number=number,
            status_code=409,
            error=exc.message,
        )
    target = _back(event_id, form, f"#entry-{invitation_id}", arrived=invitation_id)
    return RedirectResponse(target, status_code=303)


@page(
    "/events/{id}/door/{invitation}/undo",
    methods=["POST"],
    access=Access.ATTACHE,
    name="door_undo",
)
async def door_undo(request: Request) -> Response:
    actor = await current_actor(request)
    event_id, invitation_id = path_id(request, "id"), path_id(request, "invitation")
    form = await read_form(request, "q", "page")
    try:
        kept = await undo_arrival(actor, invitation_id, event_id=event_id, ip=client_ip(request))
    except Conflict as exc:
        number = _page_number(form.get("page"))
        return await _list_page(
            request,
            actor,
            event_id,
            q=form.get("q"),
            number=number,
            status_code=409,
            error=exc.message,
        )
    if kept is None:
        return RedirectResponse(_back(event_id, form, removed=1), status_code=303)
    target = _back(event_id, form, f"#entry-{invitation_id}", undone=invitation_id)
    return RedirectResponse(target, status_code=303)


# --- Walk-ins ---------------------------------------------------------------------------


async def _walk_in_context(actor: Actor, event_id: int, q: str) -> dict[str, Any]:
    view = await walk_in_view(actor, event_id, q)
    return {"view": view, "event": view.event}


@page(
    "/events/{id}/door/walk-in",
    methods=["GET", "POST"],
    access=Access.ATTACHE,
    name="door_walk_in",
)
async def door_walk_in(request: Request) -> Response:
    actor = await current_actor(request)
    event_id = path_id(request, "id")
    if request.method == "GET":
        q = request.query_params.get("q", "").strip()
        context = await _walk_in_context(actor, event_id, q)
        return render(request, "door/walk_in.html", {**context, "form": Form()})
    form = await read_form(request, "alumnus", "q", *PERSON_FIELDS)
    settings = request.app.state.settings
    try:
        if form.get("alumnus"):
            result = await add_walk_in(
                actor, event_id, alumnus_id=form.get("alumnus"), ip=client_ip(request)
            )
        else:
            person = {name: form.get(name) for name in PERSON_FIELDS}
            result = await add_walk_in(
                actor, event_id, person=person, settings=settings, ip=client_ip(request)
            )
    except (InvalidInput, Conflict) as exc:
        context = await _walk_in_context(actor, event_id, form.get("q"))
        return form_failure(request, "door/walk_in.html", form, exc, context)
    invitation = result.invitation
    family = invitation.alumnus.family_name
    target = f"/events/{event_id}/door?" + urlencode(
        {"q": family, "arrived": invitation.id, "walk_in": "new" if result.created else "known"}
    )
    return RedirectResponse(f"{target}#entry-{invitation.id}", status_code=303)


# --- The check-in link ------------------------------------------------------------------


async def _signed_in(request: Request) -> Actor | None:
    identity = await identify(request)
    return None if identity.partial else identity.actor


def _invalid(request: Request, actor: Actor | None) -> Response:
    """One page for every link and caller it does not open for."""
    context = {"sign_in": None}
    if actor is None:
        context["sign_in"] = f"/login?next={quote(request.url.path, safe='')}"
    return render(
        request, "door/checkin_invalid.html", context, status_code=404, headers=NO_REFERRER
    )


@page("/checkin/{token}", methods=["GET", "POST"], access=Access.PUBLIC, name="checkin")
async def checkin(request: Request) -> Response:
    actor = await _signed_in(request)
    settings = request.app.state.settings
    token = request.path_params["token"]
    error = ""
    try:
        if request.method == "POST":
            try:
                await checkin_arrival(actor, settings, token, ip=client_ip(request))
            except Conflict as exc:
                error = exc.message
            else:
                return RedirectResponse(
                    f"{request.url.path}?marked=1", status_code=303, headers=NO_REFERRER
                )
        entry = await checkin_by_link(actor, settings, token)
    except InvalidCheckin:
        return _invalid(request, actor)
    event = entry.invitation.event
    context = {
        "entry": entry,
        "event": event,
        "closed": door_closed_reason(event),
        "marked": request.query_params.get("marked") == "1" and entry.arrived,
        "error": error,
    }
    return render(
        request,
        "door/checkin.html",
        context,
        status_code=409 if error else 200,
        headers=NO_REFERRER,
    )
