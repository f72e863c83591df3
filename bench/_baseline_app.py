"""The baseline for the ``healthz`` benchmark: a bare Starlette app, no database.

It answers ``GET /healthz`` with the same JSON body and headers as Engage's health
check on an empty queue, so the difference measured is Engage's own work (the
middleware, the database ping, the queue statistics)::

    python -m uvicorn --app-dir bench _baseline_app:app --port 8001
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

BODY = {
    "status": "ok",
    "database": "ok",
    "mail": {"oldest_due_age_seconds": 0.0, "due": 0, "failed": 0, "dead": 0},
}


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse(BODY, headers={"Cache-Control": "no-store"})


app = Starlette(routes=[Route("/healthz", healthz, methods=["GET"])])
