"""Public pages."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from engage.web.routing import Access, page
from engage.web.templating import render


@page("/", access=Access.PUBLIC, name="home")
async def home(request: Request) -> Response:
    return render(request, "home.html")
