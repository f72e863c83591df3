"""Jinja2 page templates (top-level ``templates/``), with translation built in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jinja2
from starlette.datastructures import URL, URLPath
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
    env.globals["url_for"] = _remembered_url_for()  # Starlette's own walks every route
    return Jinja2Templates(env=env)


def _remembered_url_for() -> Callable[..., URL]:
    """Starlette's ``url_for`` for templates, each route's path worked out once (it
    tries every route of the app in turn: a page calling it thrice paid that thrice)."""
    paths: dict[tuple[int, str, tuple[tuple[str, Any], ...]], tuple[Any, URLPath]] = {}

    @jinja2.pass_context
    def url_for(context: dict[str, Any], name: str, /, **path_params: Any) -> URL:
        request: Request = context["request"]
        provider = request.scope.get("router") or request.scope.get("app")
        key = (id(provider), name, tuple(sorted(path_params.items())))
        try:
            known = paths.get(key)
        except TypeError:  # a parameter that cannot be a key
            known, key = None, None
        if known is not None and known[0] is provider:
            path = known[1]
        else:
            path = provider.url_path_for(name, **path_params)
            if key is not None:
                if len(paths) >= 4096:
                    paths.clear()
                paths[key] = (provider, path)
        return path.make_absolute_url(base_url=request.base_url)

    return url_for


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
