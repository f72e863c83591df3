"""``GET /healthz``: 200 when the database answers, 503 when it does not."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from engage.system.health import check_health
from engage.web.routing import Access, page


@page("/healthz", access=Access.PUBLIC)
async def healthz(request: Request) -> JSONResponse:
    health = await check_health()
    body: dict[str, object] = {
        "status": "ok" if health.ok else "unavailable",
        "database": "ok" if health.database_ok else "unavailable",
    }
    if health.queue is not None:
        body["mail"] = {
            "oldest_due_age_seconds": health.queue.oldest_due_age_seconds,
            "due": health.queue.due,
            "failed": health.queue.failed,
            "dead": health.queue.dead,
        }
    return JSONResponse(
        body, status_code=200 if health.ok else 503, headers={"Cache-Control": "no-store"}
    )
