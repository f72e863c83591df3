"""Jinja2 page templates (top-level ``templates/``), with translation built in."""

from __future__ import annotations

from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from engage import i18n
from engage.events.timefmt import format_local_datetime, format_local_time
from engage.resources import resource_dir
from engage.settings import Settings
from engage.web.identity import csrf_token, set_csrf_cookie


def make_templates(settings: Settings) -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(resource_dir("templates")),
        autoescape=jinja2.select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True
    )
    env.globals.update(
        site_name=settings.app.site_name,
        programme_name=settings.programme.name,
        embedded=settings.is_embedded,
    )
    # {{ event.starts_at | local_datetime(event.timezone) }}
    env.filters.update(local_datetime=format_local_datetime, local_time=format_local_time)
    return Jinja2Templates(env=env)


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render page ``name`` with the request's templates."""
    templates: Jinja2Templates = request.app.state.templates
    identity = getattr(request.state, "identity", None)
    page = {
        "lang": i18n.current_language.get(),
        "csrf_token": csrf_token(request),
        "actor": identity.actor if identity is not None and not identity.partial else None,
        **(context or {}),
    }
    response = templates.TemplateResponse(
        request, name, page, status_code=status_code, headers=headers
    )
    set_csrf_cookie(response, request)
    return response
