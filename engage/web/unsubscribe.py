"""Unsubscribing: the link in every bulk email's List-Unsubscribe header and footer.

::

    POST /unsubscribe/{token}              RFC 8058 one-click: the body
                                           "List-Unsubscribe=One-Click" unsubscribes at
                                           once (no sign-in, cookie or CSRF token);
                                           200 with a short page, never a redirect;
                                           the same answer when repeated
    GET  /unsubscribe/{token}              the preference page: never unsubscribes
                                           (mail scanners open links); the person
                                           ticks the kinds of mail they want
    POST /unsubscribe/{token}/preferences  their choice, or "resubscribe" (CSRF)

The token is the credential (derived, DESIGN.md). A forged or unknown one gets the
same "link not valid" page (404) whatever the reason. Every answer carries
``Referrer-Policy: no-referrer`` and is never stored. The one-click answer is a
page of its own (no site layout): it sets no cookie.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from engage.i18n import N_
from engage.mail.models import SuppressionReason, SuppressionScope, Topic
from engage.mail.suppression import (
    ONE_CLICK,
    TOPICS,
    preferences_by_token,
    set_preferences,
    unsubscribe_by_token,
)
from engage.web.routing import Access, form_data, page
from engage.web.templating import render

HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
#: What of a one-click body is read (it is "List-Unsubscribe=One-Click").
_MAX_BODY = 1024
#: The kinds of mail a person chooses, in words.
TOPIC_NAMES = {
    Topic.NEWSLETTER: N_("Newsletters"),
    Topic.INVITATIONS: N_("Invitations and event mail (reminders, messages to those invited)"),
}
#: What an unsubscribe covered, in words.
SCOPE_NAMES = {
    SuppressionScope.NEWSLETTER: N_("newsletters"),
    SuppressionScope.INVITATIONS: N_("invitations and event mail"),
    SuppressionScope.ALL: N_("all newsletters, invitations and event mail"),
}
#: Why mail to an address is stopped, when the person cannot change it here.
BLOCK_NAMES = {
    SuppressionReason.HARD_BOUNCE: N_("mail to this address could not be delivered"),
    SuppressionReason.COMPLAINT: N_("this address reported our mail as spam"),
    SuppressionReason.MANUAL: N_("programme staff stopped mail to this address"),
}


def _plain(request: Request, name: str, context: dict[str, Any], *, status_code: int) -> Response:
    """A page without the site's layout (and so without its CSRF cookie)."""
    templates = request.app.state.templates
    return templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=HEADERS
    )


def _invalid(request: Request) -> Response:
    return _plain(request, "unsubscribe/invalid.html", {}, status_code=404)


async def _one_click_body(request: Request) -> bool:
    """Whether the POST carries ``List-Unsubscribe=One-Click`` (form-encoded, as RFC
    8058 says, or multipart; a missing content type is read as form-encoded)."""
    kind = request.headers.get("content-type", "")
    if kind.startswith("multipart/form-data"):
        values = [str(v) for v in (await form_data(request)).getlist("List-Unsubscribe")]
    else:
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > _MAX_BODY:  # never more than a short form is read
                break
        text = raw[:_MAX_BODY].decode("utf-8", "replace")
        values = parse_qs(text, keep_blank_values=True).get("List-Unsubscribe", [])
    return f"List-Unsubscribe={values[0]}" == ONE_CLICK if values else False


@page(
    "/unsubscribe/{token}",
    methods=["POST"],
    access=Access.PUBLIC,
    csrf_exempt=True,
    name="unsubscribe_one_click",
)
async def one_click(request: Request) -> Response:
    """RFC 8058: mail programs send this POST when the person clicks "Unsubscribe"."""
    if not await _one_click_body(request):
        return _plain(request, "unsubscribe/not_one_click.html", {}, status_code=400)
    settings = request.app.state.settings
    done = await unsubscribe_by_token(settings, request.path_params["token"])
    if done is None:
        return _invalid(request)
    context = {"scope": SCOPE_NAMES[done.scope], "back": request.url.path}
    return _plain(request, "unsubscribe/done.html", context, status_code=200)


@page("/unsubscribe/{token}", access=Access.PUBLIC, name="unsubscribe")
async def preferences(request: Request) -> Response:
    """The preference page: opening it changes nothing."""
    token = request.path_params["token"]
    found = await preferences_by_token(request.app.state.settings, token)
    if found is None:
        return _invalid(request)
    context = {
        "prefs": found,
        "topics": [(topic, TOPIC_NAMES[topic]) for topic in TOPICS],
        "blocks": [BLOCK_NAMES.get(e.reason, "") for e in found.blocked],
        "masked": masked_address(found.address),
        "token": token,
        "saved": request.query_params.get("saved") == "1",
    }
    return render(request, "unsubscribe/preferences.html", context, headers=HEADERS)


@page(
    "/unsubscribe/{token}/preferences",
    methods=["POST"],
    access=Access.PUBLIC,
    name="unsubscribe_preferences",
)
async def choose(request: Request) -> Response:
    token = request.path_params["token"]
    data = await form_data(request)
    everything = data.get("action") == "resubscribe"
    wanted = {topic: everything or bool(data.get(topic.value)) for topic in TOPICS}
    if await set_preferences(request.app.state.settings, token, wanted) is None:
        return _invalid(request)
    return RedirectResponse(f"/unsubscribe/{token}?saved=1", status_code=303, headers=HEADERS)


def masked_address(address: str) -> str:
    """``amani.wanjiru@example.org`` -> ``a…u@example.org``: enough for the person to
    recognise, not for whoever a forwarded email reaches to read."""
    local, _at, domain = address.partition("@")
    if len(local) <= 2:
        return f"{local[:1]}…@{domain}"
    return f"{local[0]}…{local[-1]}@{domain}"
