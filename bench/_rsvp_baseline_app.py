"""The baseline for the ``rsvp_ratio`` benchmark: the least an answer can cost.

A bare Starlette app on Tortoise, on the same database as Engage: ``POST
/answer/{id}`` reads the form, looks the invitation up by primary key and updates
its status and answer time. No token, no CSRF, no capacity rule, no transaction, no
outbox row, no template::

    ENGAGE_DATABASE__URL=sqlite:///tmp/x.sqlite3 \\
        python -m uvicorn --app-dir bench _rsvp_baseline_app:app --port 8002
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

from engage import db
from engage.clock import utcnow
from engage.invitations.models import Invitation
from engage.settings import load_settings

settings = load_settings()


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with db.database(settings, process_wide=True):
        yield


async def answer(request: Request) -> HTMLResponse | PlainTextResponse:
    form = await request.form()
    pk = int(request.path_params["id"])
    invitation = await Invitation.get_or_none(id=pk)
    if invitation is None:
        return PlainTextResponse("not found", status_code=404)
    await Invitation.filter(id=pk).update(
        status=str(form.get("status", "yes")), responded_at=utcnow()
    )
    return HTMLResponse(f"<p>Recorded: {form.get('status', 'yes')}</p>")


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(
    routes=[
        Route("/answer/{id:int}", answer, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ],
    lifespan=lifespan,
)
