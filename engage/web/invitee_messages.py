"""Pages for writing to an event's invitees (attachés of the event's embassy, staff).

::

    /events/{id}/messages        the messages sent about the event, newest first
    /events/{id}/messages/new    the form: groups (checkboxes), subject, Markdown body;
                                 POST action=preview: how many receive it, the first
                                 names, who is left out and why, the body as it will
                                 look; POST action=send: queued, back to the list

Who may write, to whom and through which rule is decided by
``engage.invitations.messages`` (another embassy's event answers 404, an alumnus
403). Works without JavaScript.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from engage.errors import InvalidInput
from engage.events.services import get_event
from engage.invitations.messages import (
    BODY_MAX,
    GROUPS,
    SUBJECT_MAX,
    count_messages,
    list_messages,
    message_preview,
    send_message,
)
from engage.markdown import render_markdown
from engage.web.failures import form_failure, path_id
from engage.web.forms import Form
from engage.web.identity import client_ip
from engage.web.identity import current_actor as _actor
from engage.web.invitations import REASONS
from engage.web.routing import Access, form_data, page
from engage.web.templating import render

PAGE_SIZE = 20


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 10_000 else 1


@page("/events/{id}/messages", access=Access.ATTACHE, name="event_messages")
async def messages_list(request: Request) -> Response:
    actor = await _actor(request)
    event = await get_event(actor, path_id(request, "id"))
    number = _page_number(request)
    total = await count_messages(actor, event.id)
    found = await list_messages(actor, event.id, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
    sent = request.query_params.get("sent", "")
    context = {
        "event": event,
        "messages": [_shown(m) for m in found],
        "page_number": number,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "sent": next((m for m in found if str(m.id) == sent), None),
        "groups": GROUPS,
        "reasons": REASONS,
    }
    return render(request, "invitee_messages/list.html", context)


def _shown(message: Any) -> dict[str, Any]:
    return {
        "message": message,
        "author": message.created_by,
        # Sanitised by render_markdown (markdown-it safe preset, then nh3).
        "body_html": Markup(render_markdown(message.body)),  # noqa: S704
        "skipped": {reason: n for reason, n in (message.skipped or {}).items() if n},
    }


@page(
    "/events/{id}/messages/new",
    access=Access.ATTACHE,
    methods=["GET", "POST"],
    name="event_message_new",
)
async def message_new(request: Request) -> Response:
    actor = await _actor(request)
    event = await get_event(actor, path_id(request, "id"))
    context: dict[str, Any] = {
        "event": event,
        "groups": GROUPS,
        "reasons": REASONS,
        "preview": None,
        "subject_max": SUBJECT_MAX,
        "body_max": BODY_MAX,
    }
    if request.method == "GET":
        wanted = [g for g in request.query_params.getlist("statuses") if g in GROUPS]
        form = Form(values={"subject": "", "body": ""})
        return render(
            request, "invitee_messages/new.html", {**context, "form": form, "chosen": wanted}
        )
    data = await form_data(request)
    chosen = [str(g) for g in data.getlist("statuses")]
    form = Form(values={name: str(data.get(name, "")).strip() for name in ("subject", "body")})
    context["chosen"] = chosen
    try:
        if data.get("action") == "send":
            message = await send_message(
                actor,
                event.id,
                form.get("subject"),
                form.get("body"),
                chosen,
                ip=client_ip(request),
            )
            return RedirectResponse(
                f"/events/{event.id}/messages?sent={message.id}", status_code=303
            )
        context["preview"] = await message_preview(actor, event.id, chosen)
    except InvalidInput as exc:
        return form_failure(request, "invitee_messages/new.html", form, exc, context)
    # Sanitised by render_markdown (markdown-it safe preset, then nh3).
    context["body_html"] = Markup(render_markdown(form.get("body")))  # noqa: S704
    return render(request, "invitee_messages/new.html", {**context, "form": form})
