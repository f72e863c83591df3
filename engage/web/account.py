"""The signed-in person's own account."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from engage.web.identity import identify
from engage.web.routing import Access, page
from engage.web.templating import render


@page("/account", access=Access.ALUMNUS, name="account")
async def account(request: Request) -> Response:
    identity = await identify(request)
    assert identity.actor is not None
    return render(request, "account/index.html", {"user": identity.actor.user})
