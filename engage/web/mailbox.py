"""``/admin/mailbox``: the messages the embedded sink received (embedded mode only)."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from engage.errors import NotFound
from engage.i18n import _
from engage.mail.sink import read_mailbox, read_message
from engage.settings import Settings
from engage.web.routing import Access, page
from engage.web.templating import render

#: The HTML part is shown in a sandboxed frame with no scripts and no network.
_HTML_PART_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


def _embedded(settings: Settings) -> bool:
    return settings.smtp.is_embedded


def _folder(request: Request) -> Path:
    settings: Settings = request.app.state.settings
    return settings.var_dir / "mailbox"


@page("/admin/mailbox", access=Access.ADMIN, name="mailbox", when=_embedded)
async def mailbox_index(request: Request) -> Response:
    return render(request, "mailbox/index.html", {"messages": read_mailbox(_folder(request))})


@page("/admin/mailbox/{key}", access=Access.ADMIN, name="mailbox_message", when=_embedded)
async def mailbox_message(request: Request) -> Response:
    message = read_message(_folder(request), request.path_params["key"])
    if message is None:
        raise NotFound(_("No such message."))
    return render(request, "mailbox/message.html", {"message": message})


@page("/admin/mailbox/{key}/html", access=Access.ADMIN, name="mailbox_html", when=_embedded)
async def mailbox_html(request: Request) -> Response:
    message = read_message(_folder(request), request.path_params["key"])
    if message is None or message.html is None:
        raise NotFound(_("No such message."))
    return HTMLResponse(
        message.html,
        headers={"Content-Security-Policy": _HTML_PART_CSP, "X-Frame-Options": "SAMEORIGIN"},
    )
