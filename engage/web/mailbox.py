"""``/admin/mailbox``: the messages the embedded sink received (embedded mode only)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from engage.errors import NotFound
from engage.mail.sink import read_mailbox, read_message
from engage.settings import Settings
from engage.web.guards import require_admin
from engage.web.templating import render

#: The HTML part is shown in a sandboxed frame with no scripts and no network.
_HTML_PART_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


def routes(settings: Settings) -> list[BaseRoute]:
    if not settings.smtp.is_embedded:
        return []
    folder = settings.var_dir / "mailbox"

    async def index(request: Request) -> Response:
        require_admin(request)
        return render(request, "mailbox/index.html", {"messages": read_mailbox(folder)})

    async def show(request: Request) -> Response:
        require_admin(request)
        message = read_message(folder, request.path_params["key"])
        if message is None:
            raise NotFound("No such message.")
        return render(request, "mailbox/message.html", {"message": message})

    async def html_part(request: Request) -> Response:
        require_admin(request)
        message = read_message(folder, request.path_params["key"])
        if message is None or message.html is None:
            raise NotFound("No such message.")
        return HTMLResponse(
            message.html,
            headers={"Content-Security-Policy": _HTML_PART_CSP, "X-Frame-Options": "SAMEORIGIN"},
        )

    return [
        Route("/admin/mailbox", index, methods=["GET"], name="mailbox"),
        Route("/admin/mailbox/{key}", show, methods=["GET"], name="mailbox_message"),
        Route("/admin/mailbox/{key}/html", html_part, methods=["GET"], name="mailbox_html"),
    ]
