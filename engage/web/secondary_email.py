"""Confirming a secondary email address from its link (no sign-in needed)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from engage.alumni.secondary import (
    InvalidSecondaryLink,
    check_secondary_link,
    confirm_secondary_email,
)
from engage.clock import utcnow
from engage.web.routing import Access, page
from engage.web.templating import render

#: Token pages never leak their URL to another site.
_NO_REFERRER = {"Referrer-Policy": "no-referrer"}


@page(
    "/profile/secondary-email/{token}",
    methods=["GET", "POST"],
    access=Access.PUBLIC,
    name="secondary_email_verify",
)
async def secondary_email_verify(request: Request) -> Response:
    token = request.path_params["token"]
    settings = request.app.state.settings
    try:
        if request.method == "GET":
            alumnus = await check_secondary_link(token, settings=settings)
            # A button, not the GET itself: mail scanners that open links change nothing.
            return render(
                request,
                "alumni_secondary/confirm.html",
                {"token": token, "address": alumnus.secondary_email},
                headers=_NO_REFERRER,
            )
        alumnus = await confirm_secondary_email(token, settings=settings, now=utcnow())
    except InvalidSecondaryLink:
        return render(request, "auth/link_invalid.html", status_code=404, headers=_NO_REFERRER)
    return render(
        request,
        "alumni_secondary/confirmed.html",
        {"address": alumnus.secondary_email},
        headers=_NO_REFERRER,
    )
