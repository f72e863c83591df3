"""The one place that turns errors into responses: friendly pages for people,
JSON ``{"error": {"code", "message", "fields"?}}`` under ``/api/``."""

from __future__ import annotations

import logging
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from engage.errors import EngageError, Throttled, Unauthenticated
from engage.i18n import N_, _
from engage.web.templating import render

log = logging.getLogger("engage.web")

_TITLES = {
    400: N_("Bad request"),
    403: N_("Not allowed"),
    404: N_("Page not found"),
    405: N_("Method not allowed"),
    409: N_("Conflict"),
    422: N_("Please check the form"),
    429: N_("Too many requests"),
    500: N_("Something went wrong"),
    503: N_("Temporarily unavailable"),
}
_EXPLANATIONS = {
    403: N_("You do not have permission to see this page."),
    404: N_("The page you asked for does not exist or is not available to you."),
    500: N_("An unexpected error happened on our side. It has been logged; please try again."),
}


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/openapi.json"


def error_json(
    status: int, code: str, message: str, fields: dict[str, str] | None = None
) -> JSONResponse:
    body: dict[str, object] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return JSONResponse({"error": body}, status_code=status)


def _error_page(request: Request, status: int, message: str | None = None) -> Response:
    title = _(_TITLES.get(status, HTTPStatus(status).phrase))
    explanation = message or _(_EXPLANATIONS.get(status, HTTPStatus(status).description))
    template = "errors/error.html"
    return render(
        request,
        template,
        {"status": status, "title": title, "explanation": explanation},
        status_code=status,
    )


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if _wants_json(request):
        code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_")
        response: Response = error_json(exc.status_code, code, str(exc.detail))
    else:
        detail = exc.detail if exc.detail != HTTPStatus(exc.status_code).phrase else None
        response = _error_page(request, exc.status_code, detail)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def engage_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, EngageError)
    if _wants_json(request):
        response: Response = error_json(exc.status_code, exc.code, exc.message, exc.fields)
    else:
        response = _error_page(request, exc.status_code, exc.message)
    if isinstance(exc, Throttled):
        response.headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unauthenticated):
        response.headers["WWW-Authenticate"] = 'Bearer realm="engage"'
    return response


async def server_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    if _wants_json(request):
        return error_json(500, "internal_error", "An unexpected error happened; it was logged.")
    return _error_page(request, 500)
